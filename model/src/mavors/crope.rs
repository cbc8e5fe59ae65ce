//! Chunk-level rotary position embedding (C-RoPE, Mavors Eq. 4): every token of a chunk gets its chunk's
//! rotary position, so tokens of one chunk have zero relative rotation and tokens of different chunks
//! rotate by the difference of their chunk positions.

use candle_core::{Device, Tensor};

use super::error::{MavorsError, Result};

/// Inverse frequencies of a standard (rotate-half) RoPE over one attention head.
#[derive(Debug, Clone)]
pub struct ChunkRotary {
    inv_freq: Vec<f64>,
}

impl ChunkRotary {
    pub fn new(head_dim: usize, theta: f64) -> Result<Self> {
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(MavorsError::InvalidConfig(format!(
                "C-RoPE needs an even, non-zero head dimension, got {head_dim}"
            )));
        }
        let inv_freq = (0..head_dim / 2)
            .map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64))
            .collect();
        Ok(Self { inv_freq })
    }

    /// `(cos, sin)`, each `(chunks x tokens_per_chunk, head_dim / 2)` in the layout of
    /// `candle_nn::rotary_emb::rope`, for chunks at `positions` holding `tokens_per_chunk` tokens each.
    pub fn cos_sin(
        &self,
        positions: &[u32],
        tokens_per_chunk: usize,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let angles: Vec<f32> = positions
            .iter()
            .flat_map(|&position| {
                // Angles in f64 so large chunk positions keep their precision.
                let row: Vec<f32> = self
                    .inv_freq
                    .iter()
                    .map(|f| (f64::from(position) * f) as f32)
                    .collect();
                std::iter::repeat_n(row, tokens_per_chunk).flatten()
            })
            .collect();
        let angles = Tensor::from_vec(angles, (positions.len() * tokens_per_chunk, half), device)?;
        Ok((angles.cos()?, angles.sin()?))
    }
}
