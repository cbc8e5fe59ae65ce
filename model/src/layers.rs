//! Building blocks shared by every module:
//! - the weights a model is built from ([`Weights`]: dense tensors by name, plus the linear
//!   layers' matrices that were quantized while loading) and the [`Linear`] layer that runs
//!   either kind;
//! - norms and rope whose fast path is one of candle's fused kernels, which have no backward
//!   pass: each uses the fused kernel for inference and the same computation in plain,
//!   differentiable ops when a gradient is being tracked (training the demo models), so there is
//!   one forward for both.

use std::{collections::HashMap, sync::Arc};

use candle_core::{
    DType, Module, Result, Tensor,
    quantized::{QMatMul, QTensor},
};
use candle_nn::VarBuilder;

/// Linear-layer weight matrices quantized while loading, by full tensor name.
pub type QuantizedWeights = HashMap<String, Arc<QTensor>>;

/// What a model is built from: a VarBuilder of dense tensors and the quantized matrices, looked up
/// by the same full names.
#[derive(Clone)]
pub struct Weights<'a> {
    vb: VarBuilder<'a>,
    quantized: Arc<QuantizedWeights>,
}

impl<'a> Weights<'a> {
    /// Dense weights only.
    pub fn dense(vb: VarBuilder<'a>) -> Self {
        Self {
            vb,
            quantized: Arc::default(),
        }
    }

    /// Dense tensors from `vb`, and `quantized` matrices for the linear layers they name.
    pub fn with_quantized(vb: VarBuilder<'a>, quantized: QuantizedWeights) -> Self {
        Self {
            vb,
            quantized: Arc::new(quantized),
        }
    }

    pub fn pp<S: ToString>(&self, s: S) -> Self {
        Self {
            vb: self.vb.pp(s),
            quantized: self.quantized.clone(),
        }
    }

    /// The dense tensors at this prefix.
    pub fn vb(&self) -> &VarBuilder<'a> {
        &self.vb
    }

    /// The linear layer at this prefix (`weight` (out, in), `bias` when asked): quantized when a
    /// quantized matrix was loaded for it, dense otherwise. Fresh weights (a VarMap being built
    /// for training) get candle_nn's `linear` initialisation: Kaiming-normal weights and biases
    /// uniform in +-1/sqrt(in).
    pub fn linear(&self, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let bias_init = candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let bias = bias
            .then(|| self.vb.get_with_hints(out_dim, "bias", bias_init))
            .transpose()?;
        let name = format!("{}.weight", self.vb.prefix());
        if let Some(weight) = self.quantized.get(&name) {
            if weight.shape().dims() != [out_dim, in_dim] {
                candle_core::bail!(
                    "quantized {name} has shape {:?}, expected [{out_dim}, {in_dim}]",
                    weight.shape().dims()
                );
            }
            return Ok(Linear::Quantized {
                weight: QMatMul::from_arc(weight.clone())?,
                bias,
            });
        }
        let weight = self.vb.get_with_hints(
            (out_dim, in_dim),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        Ok(Linear::Dense(candle_nn::Linear::new(weight, bias)))
    }
}

impl<'a> From<VarBuilder<'a>> for Weights<'a> {
    fn from(vb: VarBuilder<'a>) -> Self {
        Self::dense(vb)
    }
}

/// A linear layer `x W^T + b` whose weight is a dense tensor or a quantized matrix.
#[derive(Debug, Clone)]
pub enum Linear {
    Dense(candle_nn::Linear),
    /// Runs in f32 (what candle's quantized kernels take) and returns the input's dtype.
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
}

impl Linear {
    /// A dense layer from its tensors.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self::Dense(candle_nn::Linear::new(weight, bias))
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(linear) => linear.forward(xs),
            Self::Quantized { weight, bias } => {
                let dtype = xs.dtype();
                let ys = weight.forward(&xs.to_dtype(DType::F32)?.contiguous()?)?;
                let ys = match bias {
                    Some(bias) => ys.broadcast_add(&bias.to_dtype(DType::F32)?)?,
                    None => ys,
                };
                ys.to_dtype(dtype)
            }
        }
    }
}

/// Whether any of `tensors` carries a gradient graph (a training forward).
fn tracking(tensors: &[&Tensor]) -> bool {
    tensors.iter().any(|t| t.track_op())
}

/// LayerNorm over the last dimension, with weight and bias.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    fused: candle_nn::LayerNorm,
}

impl LayerNorm {
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Self {
        Self {
            fused: candle_nn::LayerNorm::new(weight.clone(), bias.clone(), eps),
            weight,
            bias,
            eps,
        }
    }
}

/// `weight` and `bias` of a LayerNorm of `size` under `vb`.
pub fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    let weight = vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?;
    let bias = vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?;
    Ok(LayerNorm::new(weight, bias, eps))
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if tracking(&[xs, &self.weight, &self.bias]) {
            candle_nn::ops::layer_norm_slow(xs, &self.weight, &self.bias, self.eps as f32)
        } else {
            self.fused.forward(xs)
        }
    }
}

/// RMSNorm over the last dimension (Qwen3's norms).
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
    fused: candle_nn::RmsNorm,
}

/// The `weight` of an RMSNorm of `size` under `vb`.
pub fn rms_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<RmsNorm> {
    let weight = vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?;
    Ok(RmsNorm {
        fused: candle_nn::RmsNorm::new(weight.clone(), eps),
        weight,
        eps,
    })
}

impl Module for RmsNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if tracking(&[xs, &self.weight]) {
            candle_nn::ops::rms_norm_slow(xs, &self.weight, self.eps as f32)
        } else {
            self.fused.forward(xs)
        }
    }
}

/// Rotary embedding of `xs` (b, heads, S, d) in the rotate-half layout, `cos`/`sin` (S, d/2).
pub fn rope(xs: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    if tracking(&[xs, cos, sin]) {
        candle_nn::rotary_emb::rope_slow(xs, cos, sin)
    } else {
        candle_nn::rotary_emb::rope(xs, cos, sin)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;

    /// Largest absolute difference; NaN when any element is not finite.
    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let diff: Vec<f32> = (a - b).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        diff.iter().map(|d| d.abs()).fold(0.0, |m, d| {
            if d.is_finite() && m.is_finite() {
                m.max(d)
            } else {
                f32::NAN
            }
        })
    }

    #[test]
    fn the_differentiable_forms_equal_the_fused_kernels_and_carry_gradients() {
        let device = Device::Cpu;
        let xs = Tensor::randn(0f32, 1.0, (1, 2, 5, 8), &device).unwrap();
        let weight = Tensor::randn(1f32, 0.1, 8, &device).unwrap();
        let bias = Tensor::randn(0f32, 0.1, 8, &device).unwrap();
        let angles = Tensor::randn(0f32, 1.0, (5, 4), &device).unwrap();
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());

        let tracked = Var::from_tensor(&xs).unwrap();
        let ln = LayerNorm::new(weight.clone(), bias, 1e-6);
        let rms = RmsNorm {
            fused: candle_nn::RmsNorm::new(weight.clone(), 1e-6),
            weight,
            eps: 1e-6,
        };
        let pairs = [
            (
                ln.forward(&xs).unwrap(),
                ln.forward(tracked.as_tensor()).unwrap(),
            ),
            (
                rms.forward(&xs).unwrap(),
                rms.forward(tracked.as_tensor()).unwrap(),
            ),
            (
                rope(&xs, &cos, &sin).unwrap(),
                rope(tracked.as_tensor(), &cos, &sin).unwrap(),
            ),
        ];
        for (fused, slow) in pairs {
            assert!(max_diff(&fused, &slow) < 1e-5);
            let grads = slow.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let grad = grads
                .get(tracked.as_tensor())
                .expect("a gradient for the input");
            assert_eq!(grad.dims(), xs.dims());
            assert_eq!(grad.dtype(), DType::F32);
        }
    }

    #[test]
    fn fresh_linear_layers_get_candle_nn_initialisation_not_zeros() {
        let map = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &candle_core::Device::Cpu);
        let layer = Weights::dense(vb).pp("fc").linear(64, 32, true).unwrap();
        let Linear::Dense(dense) = layer else {
            panic!("a dense layer");
        };
        let weights: Vec<f32> = dense.weight().flatten_all().unwrap().to_vec1().unwrap();
        let bias: Vec<f32> = dense.bias().unwrap().to_vec1().unwrap();
        let spread = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32;
        // Kaiming normal: variance 2/fan_in (relu gain) = 1/32; biases within 1/8.
        assert!(
            (spread(&weights) * 32.0 - 1.0).abs() < 0.3,
            "{}",
            spread(&weights)
        );
        assert!(bias.iter().all(|b| b.abs() <= 0.125) && spread(&bias) > 0.0);
    }
}
