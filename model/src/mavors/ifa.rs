//! Inter-chunk feature aggregator (IFA): pre-LN transformer layers at the ViT width whose attention is
//! causal across chunks and rotated by C-RoPE, followed by the MLP projector into the LLM width.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

use super::crope::ChunkRotary;
use super::error::{MavorsError, Result};
use crate::attention::{AttentionBlocks, Visibility, attention};
use crate::config::VisionConfig;
use crate::keye::vision::FeedForward;
use crate::layers::{LayerNorm, Weights, layer_norm, rope};

/// Epsilon of the projector's LayerNorm, as in Keye-VL's projector.
const PROJECTOR_NORM_EPS: f64 = 1e-5;

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    num_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(hidden: usize, num_heads: usize, vb: VarBuilder) -> Result<Self> {
        if num_heads == 0 || !hidden.is_multiple_of(num_heads) {
            return Err(MavorsError::InvalidConfig(format!(
                "IFA width {hidden} does not split into {num_heads} heads"
            )));
        }
        Ok(Self {
            q_proj: linear(hidden, hidden, vb.pp("q_proj"))?,
            k_proj: linear(hidden, hidden, vb.pp("k_proj"))?,
            v_proj: linear(hidden, hidden, vb.pp("v_proj"))?,
            out_proj: linear(hidden, hidden, vb.pp("out_proj"))?,
            num_heads,
            head_dim: hidden / num_heads,
        })
    }

    /// `xs`: `(n, hidden)` in chunks of `tokens_per_chunk`; `cos`/`sin`: `(n, head_dim / 2)`.
    /// Causal across chunks, computed block-wise.
    fn forward(
        &self,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        tokens_per_chunk: usize,
    ) -> Result<Tensor> {
        let (n, hidden) = xs.dims2()?;
        let heads = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((1, n, self.num_heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = rope(&heads(self.q_proj.forward(xs)?)?, cos, sin)?;
        let k = rope(&heads(self.k_proj.forward(xs)?)?, cos, sin)?;
        let v = heads(self.v_proj.forward(xs)?)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let visibility = Visibility::ChunkCausal {
            size: tokens_per_chunk,
        };
        let out = attention(&q, &k, &v, scale, visibility, AttentionBlocks::default())?
            .transpose(1, 2)?
            .reshape((n, hidden))?;
        Ok(self.out_proj.forward(&out)?)
    }
}

/// One pre-LN transformer layer; names follow the ViT's (`layer_norm1`, `self_attn.*`, `mlp.fc1`, ...).
#[derive(Debug, Clone)]
struct AggregatorLayer {
    layer_norm1: LayerNorm,
    self_attn: Attention,
    feed_forward: FeedForward,
}

impl AggregatorLayer {
    fn new(vision: &VisionConfig, vb: VarBuilder) -> Result<Self> {
        let hidden = vision.hidden_size;
        Ok(Self {
            layer_norm1: layer_norm(hidden, vision.layer_norm_eps, vb.pp("layer_norm1"))?,
            self_attn: Attention::new(hidden, vision.num_attention_heads, vb.pp("self_attn"))?,
            feed_forward: FeedForward::new(vision, Weights::dense(vb))?,
        })
    }

    fn forward(
        &self,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        tokens_per_chunk: usize,
    ) -> Result<Tensor> {
        let attended =
            self.self_attn
                .forward(&self.layer_norm1.forward(xs)?, cos, sin, tokens_per_chunk)?;
        Ok(self.feed_forward.forward_residual(&(xs + attended)?)?)
    }
}

/// The IFA: `ifa_layers` causal pre-LN layers with C-RoPE (weights under `mavors.ifa.layers.{i}`).
#[derive(Debug, Clone)]
pub struct InterChunkAggregator {
    layers: Vec<AggregatorLayer>,
    rotary: ChunkRotary,
}

impl InterChunkAggregator {
    pub fn new(
        vision: &VisionConfig,
        layers: usize,
        rope_theta: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let rotary = ChunkRotary::new(vision.head_dim(), rope_theta)?;
        let layers = (0..layers)
            .map(|i| AggregatorLayer::new(vision, vb.pp(format!("layers.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self { layers, rotary })
    }

    /// `chunks`: `(num_chunks, tokens_per_chunk, hidden)` pooled IVE features in chunk order;
    /// `positions`: one C-RoPE position per chunk. Returns the same shape.
    pub fn forward(&self, chunks: &Tensor, positions: &[u32]) -> Result<Tensor> {
        let (num_chunks, tokens_per_chunk, hidden) = chunks.dims3()?;
        if positions.len() != num_chunks {
            return Err(MavorsError::BadInput(format!(
                "{} chunk positions for {num_chunks} chunks",
                positions.len()
            )));
        }
        let device = chunks.device();
        let (cos, sin) = self.rotary.cos_sin(positions, tokens_per_chunk, device)?;
        let (cos, sin) = (cos.to_dtype(chunks.dtype())?, sin.to_dtype(chunks.dtype())?);
        let mut xs = chunks.reshape((num_chunks * tokens_per_chunk, hidden))?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &cos, &sin, tokens_per_chunk)?;
        }
        Ok(xs.reshape((num_chunks, tokens_per_chunk, hidden))?)
    }
}

/// MLP from the ViT width into the LLM width (`mavors.projector.*`): LayerNorm, Linear, GELU (erf),
/// Linear, like Keye-VL's projector but over one pooled token instead of a 2x2 merge.
#[derive(Debug, Clone)]
pub struct Projector {
    pre_norm: LayerNorm,
    linear_1: Linear,
    linear_2: Linear,
}

impl Projector {
    pub fn new(input: usize, hidden: usize, output: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            pre_norm: layer_norm(input, PROJECTOR_NORM_EPS, vb.pp("pre_norm"))?,
            linear_1: linear(input, hidden, vb.pp("linear_1"))?,
            linear_2: linear(hidden, output, vb.pp("linear_2"))?,
        })
    }
}

impl Module for Projector {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let xs = self
            .linear_1
            .forward(&self.pre_norm.forward(xs)?)?
            .gelu_erf()?;
        self.linear_2.forward(&xs)
    }
}
