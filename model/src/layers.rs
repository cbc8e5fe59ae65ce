//! Building blocks whose fast path is one of candle's fused kernels, which have no backward pass:
//! each uses the fused kernel for inference and the same computation written in plain,
//! differentiable ops when a gradient is being tracked (training the demo models), so there is
//! one forward for both.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

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
}
