//! The deletion test: which frames the answer depended on, measured rather than read off
//! attention. For each frame (a sampled frame, a Mavors chunk, an image) the prompt runs again
//! with that frame's vision tokens removed and the answer the model gave is scored by teacher
//! forcing; the drop in its log-probability is the frame's evidence.
//!
//! Removing a frame drops its rows and their positions; every other token keeps the M-RoPE
//! position it had (the frames after it keep their times, the text keeps its place), so the only
//! change the decoder sees is that those keys are gone. The prompt's text before the first
//! vision token is the same in every run: it goes through the decoder once and each run continues
//! a copy of its KV cache.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::Tensor;
use serde::Serialize;

use super::{AnswerContext, FrameId, answer_log_prob};
use crate::{
    error::{Error, Result},
    keye::{KeyeModel, KvCache},
};

/// One frame's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameDrop {
    pub frame: FrameId,
    /// The answer's log-probability without the frame.
    pub log_prob: f64,
    /// How much the answer's log-probability fell without it (negative: it rose).
    pub drop: f64,
}

/// Every frame's result, in frame order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeletionTest {
    /// The answer's log-probability with every frame.
    pub baseline: f64,
    pub frames: Vec<FrameDrop>,
}

impl DeletionTest {
    /// Frames by falling drop (the frame the answer needed most first).
    pub fn ranking(&self) -> Vec<FrameDrop> {
        let mut sorted = self.frames.clone();
        sorted.sort_by(|a, b| b.drop.total_cmp(&a.drop));
        sorted
    }
}

/// The prompt's text before its first vision token, already through the decoder.
pub struct Prefix {
    cache: KvCache,
    len: usize,
}

impl Prefix {
    /// Runs the rows before the first vision token once.
    pub fn new(model: &KeyeModel, context: &AnswerContext) -> Result<Self> {
        let len = context.vision.positions.first().copied().unwrap_or(0);
        let mut cache = KvCache::with_capacity(len);
        if len > 0 {
            let positions = context
                .positions
                .each_ref()
                .map(|axis| axis[..len].to_vec());
            model.decode_embeds(
                &context.embeds.narrow(1, 0, len)?,
                &positions,
                &mut cache,
                None,
            )?;
        }
        Ok(Self { cache, len })
    }
}

/// The answer's log-probability with `without`'s vision tokens removed (every frame kept when
/// `None`), continuing `prefix`. A frame the prompt does not contain is an error.
pub fn log_prob_without(
    model: &KeyeModel,
    context: &AnswerContext,
    prefix: &Prefix,
    without: Option<FrameId>,
) -> Result<f64> {
    let removed: Vec<usize> = match without {
        None => Vec::new(),
        Some(frame) => {
            let rows: Vec<usize> = context
                .vision
                .refs
                .iter()
                .zip(&context.vision.positions)
                .filter(|(r, _)| r.media == frame.media && r.frame == frame.frame)
                .map(|(_, &p)| p)
                .collect();
            if rows.is_empty() {
                return Err(Error::Input(format!(
                    "frame {} of media {} is not in the prompt (it has {} frames in {} media)",
                    frame.frame,
                    frame.media,
                    context.frames().len(),
                    context.vision.media.len()
                )));
            }
            rows
        }
    };
    let len = context.len();
    let kept: Vec<u32> = (prefix.len..len)
        .filter(|p| removed.binary_search(p).is_err())
        .map(|p| p as u32)
        .collect();
    let index = Tensor::new(kept.as_slice(), context.embeds.device())?;
    let embeds = context.embeds.index_select(&index, 1)?;
    let positions = context
        .positions
        .each_ref()
        .map(|axis| kept.iter().map(|&p| axis[p as usize]).collect());
    let mut cache = prefix.cache.fork(kept.len())?;
    let hidden = model.decode_embeds(&embeds, &positions, &mut cache, None)?;
    // The last rows predict the answer: removed rows are vision tokens, all before them.
    let n = context.answer.len();
    let rows = hidden.narrow(1, kept.len() - n, n)?;
    Ok(f64::from(
        answer_log_prob(model, &rows, &context.answer)?.to_scalar::<f32>()?,
    ))
}

/// Runs the deletion test over every frame of the prompt; `progress(done, total)` after the
/// baseline and each frame; `cancel` is checked before each run.
pub fn deletion_test(
    model: &KeyeModel,
    context: &AnswerContext,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DeletionTest> {
    let frames = context.frames();
    let total = frames.len() + 1;
    progress(0, total);
    let prefix = Prefix::new(model, context)?;
    let baseline = log_prob_without(model, context, &prefix, None)?;
    progress(1, total);
    let mut results = Vec::with_capacity(frames.len());
    for (i, frame) in frames.into_iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let log_prob = log_prob_without(model, context, &prefix, Some(frame))?;
        results.push(FrameDrop {
            frame,
            log_prob,
            drop: baseline - log_prob,
        });
        progress(i + 2, total);
    }
    Ok(DeletionTest {
        baseline,
        frames: results,
    })
}

/// Ranks (1-based) with ties sharing their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = mean;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation of two paired lists: the faithfulness figure when `a` is each
/// frame's attention and `b` its deletion drop. `None` when fewer than two pairs or either list
/// is constant (no ranking to agree with).
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - mean) * (y - mean);
        va += (x - mean).powi(2);
        vb += (y - mean).powi(2);
    }
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_is_one_for_the_same_order_and_minus_one_for_the_reverse() {
        let a = [0.1, 0.5, 0.3, 0.9];
        assert!((spearman(&a, &[1.0, 5.0, 3.0, 9.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[9.0, 1.0, 3.0, 0.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&a, &[1.0; 4]), None);
        assert_eq!(spearman(&a[..1], &[1.0]), None);
    }

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }
}
