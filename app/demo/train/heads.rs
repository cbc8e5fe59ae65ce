//! The training-only heads (`aux.*`, never shipped): linear classifiers of the dense targets on
//! the ViT patches, on the video rows entering the decoder and on the decoder's last hidden
//! state at the vision tokens, so the vision side learns colour, shape, size and motion from
//! the generator's ground truth within minutes, and the decoder has them to read.

use candle_core::{D, Module, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

use super::example::{COLOUR_CLASSES, CellLabels, MOTION_CLASSES, SHAPE_CLASSES, SIZE_CLASSES};

/// Logit columns of the token heads, in this order: colour, shape, motion, size.
const GROUPS: [usize; 4] = [COLOUR_CLASSES, SHAPE_CLASSES, MOTION_CLASSES, SIZE_CLASSES];

pub struct Heads {
    /// On ViT patches (Keye's own tower only): colour and shape.
    pub patch: Linear,
    /// On the video rows the decoder receives (projector or Mavors output).
    pub rows: Linear,
    /// On the decoder's final hidden state at the vision positions.
    pub hidden: Linear,
}

impl Heads {
    pub fn new(
        vision_hidden: usize,
        text_hidden: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let all: usize = GROUPS.iter().sum();
        Ok(Self {
            patch: linear(
                vision_hidden,
                COLOUR_CLASSES + SHAPE_CLASSES,
                vb.pp("patch"),
            )?,
            rows: linear(text_hidden, all, vb.pp("rows"))?,
            hidden: linear(text_hidden, all, vb.pp("hidden"))?,
        })
    }
}

/// Mean cross-entropy of `logits` (N, C) against `labels` (-1 ignored); zero without labels.
fn masked_ce(logits: &Tensor, labels: &[i64]) -> candle_core::Result<Tensor> {
    let device = logits.device();
    let n = labels.iter().filter(|&&l| l >= 0).count();
    if n == 0 {
        return Tensor::zeros((), logits.dtype(), device);
    }
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let index: Vec<u32> = labels.iter().map(|&l| l.max(0) as u32).collect();
    let mask: Vec<f32> = labels
        .iter()
        .map(|&l| if l >= 0 { 1.0 } else { 0.0 })
        .collect();
    let picked = log_probs
        .gather(&Tensor::new(index, device)?.unsqueeze(1)?, 1)?
        .squeeze(1)?;
    let mask = Tensor::new(mask, device)?;
    (picked * mask)?.sum_all()?.neg()? / n as f64
}

/// The summed group losses of `head` on `features` (N, d) with `labels` of N cells; `groups`
/// says how many of colour, shape, motion, size the head predicts.
pub fn dense_loss(
    head: &Linear,
    features: &Tensor,
    labels: &CellLabels,
    groups: usize,
) -> candle_core::Result<Tensor> {
    let logits = head.forward(features)?;
    let columns = [&labels.colour, &labels.shape, &labels.motion, &labels.size];
    let mut start = 0;
    let mut total = Tensor::zeros((), logits.dtype(), logits.device())?;
    for (&width, labels) in GROUPS.iter().zip(columns).take(groups) {
        total = (total + masked_ce(&logits.narrow(1, start, width)?, labels)?)?;
        start += width;
    }
    Ok(total)
}
