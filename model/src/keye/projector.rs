//! `mlp_AR`: the 2x2 patch merge (raster order, sub-patches TL, TR, BL, BR) and a GELU MLP into the
//! LM width. The Preview normalises each patch before the merge; 1.5 normalises the merged vector.

use candle_core::{Module, Result, Tensor};

use super::vision::Grid;
use crate::{
    config::{KeyeConfig, KeyeVariant},
    layers::{LayerNorm, Linear, Weights, layer_norm},
};

/// Where a Keye-VL checkpoint keeps the projector's weights.
pub(crate) const WEIGHT_PREFIX: &str = "mlp_AR";

/// LayerNorm eps of `mlp_AR.pre_norm` (the reference's nn.LayerNorm default).
const PRE_NORM_EPS: f64 = 1e-5;

#[derive(Debug, Clone)]
pub struct Projector {
    pre_norm: LayerNorm,
    linear_1: Linear,
    linear_2: Linear,
    variant: KeyeVariant,
    merge: usize,
}

impl Projector {
    pub fn new(cfg: &KeyeConfig, w: Weights) -> Result<Self> {
        let d = cfg.vision.hidden_size;
        let merge = cfg.vision.spatial_merge_size;
        let merged = d * merge * merge;
        let norm = match cfg.variant {
            KeyeVariant::Preview => d,
            KeyeVariant::V1_5 => merged,
        };
        Ok(Self {
            pre_norm: layer_norm(norm, PRE_NORM_EPS, w.vb().pp("pre_norm"))?,
            linear_1: w.pp("linear_1").linear(merged, merged, true)?,
            linear_2: w
                .pp("linear_2")
                .linear(merged, cfg.text.hidden_size, true)?,
            variant: cfg.variant,
            merge,
        })
    }

    /// ViT output (N, d) for `grids` (in order) -> one LM-width row per merged token (N/4, text d).
    pub fn forward(&self, features: &Tensor, grids: &[Grid]) -> Result<Tensor> {
        let features = match self.variant {
            KeyeVariant::Preview => self.pre_norm.forward(features)?,
            KeyeVariant::V1_5 => features.clone(),
        };
        let d = features.dim(1)?;
        let m = self.merge;
        let mut merged = Vec::with_capacity(grids.len());
        let mut start = 0;
        for &[t, h, w] in grids {
            if h % m != 0 || w % m != 0 {
                candle_core::bail!(
                    "grid {:?} is not divisible by the merge size {m}",
                    [t, h, w]
                );
            }
            let n = t * h * w;
            // (t, h/m, m, w/m, m, d) -> (t, h/m, w/m, m, m, d) -> (t*h/m*w/m, m*m*d)
            let block = features
                .narrow(0, start, n)?
                .reshape((t * h / m, m, w / m, m, d))?
                .permute((0, 2, 1, 3, 4))?
                .reshape((t * (h / m) * (w / m), m * m * d))?;
            merged.push(block);
            start += n;
        }
        let xs = Tensor::cat(&merged, 0)?;
        let xs = match self.variant {
            KeyeVariant::Preview => xs,
            KeyeVariant::V1_5 => self.pre_norm.forward(&xs)?,
        };
        let xs = self.linear_1.forward(&xs)?.gelu_erf()?;
        self.linear_2.forward(&xs)
    }
}
