//! Evidence for an answer a researcher can trust: which vision tokens and which frames the answer
//! depended on.
//!
//! - [`maps`]: attention maps over the vision tokens for one answer token or the whole answer,
//!   aggregated three ways (raw attention, rollout across layers, gradient-weighted attention),
//!   with attention sinks ([`sinks`]) masked out and the rest renormalised.
//! - [`deletion`]: the deletion test: the answer's log-probability with each frame's vision tokens
//!   removed from the prompt, and the Spearman agreement between the attention ranking of frames
//!   and the deletion ranking (the answer's faithfulness figure).
//!
//! Everything works on an [`AnswerContext`]: the prompt's embeddings (vision rows scattered in)
//! followed by the answer's tokens, with their M-RoPE positions, so the answer is scored by
//! teacher forcing exactly as it was generated.

pub mod deletion;
pub mod maps;
pub mod sinks;

use std::collections::BTreeSet;

use candle_core::{D, DType, Tensor};
use serde::Serialize;

use crate::{
    error::{Error, Result},
    generate::PreparedPrompt,
    keye::KeyeModel,
    media::VisionTokenMap,
};

pub use deletion::{DeletionTest, FrameDrop, deletion_test, spearman};
pub use maps::{AttentionMaps, HeadReduce, Method, Target};

/// One frame of one media item (a sampled frame for Keye-VL, a chunk for Mavors, the single frame
/// of an image), as the prompt's vision-token map numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FrameId {
    pub media: usize,
    pub frame: usize,
}

/// A prompt and the answer the model gave to it, ready to be scored again.
#[derive(Debug, Clone)]
pub struct AnswerContext {
    /// (1, L, hidden): the prompt's embeddings, then the answer's tokens but the last (each row
    /// predicts the next token, so the last answer token is only ever predicted).
    pub(crate) embeds: Tensor,
    /// M-RoPE positions of the `L` rows, as generation gave them.
    pub(crate) positions: [Vec<i64>; 3],
    pub(crate) prompt_len: usize,
    pub(crate) answer: Vec<u32>,
    pub(crate) vision: VisionTokenMap,
}

impl AnswerContext {
    /// Encodes the prompt's vision inputs once and appends `answer` (the generated tokens to
    /// explain, without a stop token).
    pub fn new(model: &KeyeModel, prompt: &PreparedPrompt, answer: &[u32]) -> Result<Self> {
        if answer.is_empty() {
            return Err(Error::Input("there is no answer to explain".into()));
        }
        if prompt.vision.is_empty() {
            return Err(Error::Input(
                "evidence needs a prompt with images or videos".into(),
            ));
        }
        let (prompt_embeds, rope) = model.embed_prompt(&prompt.inputs)?;
        let prompt_len = prompt.inputs.input_ids.len();
        if prompt.vision.positions.last() == Some(&(prompt_len - 1)) {
            return Err(Error::Input(
                "the prompt ends with a vision token; nothing text-side predicts the answer".into(),
            ));
        }
        let mut positions = rope.positions;
        let fed = &answer[..answer.len() - 1];
        for i in 0..fed.len() {
            // What decoding gave token i: its cache position plus the prompt's rope delta.
            let p = (prompt_len + i) as i64 + rope.rope_delta;
            positions.iter_mut().for_each(|axis| axis.push(p));
        }
        let embeds = if fed.is_empty() {
            prompt_embeds
        } else {
            let answer_embeds = model.embed_tokens(fed)?.to_dtype(prompt_embeds.dtype())?;
            Tensor::cat(&[&prompt_embeds, &answer_embeds], 1)?
        };
        Ok(Self {
            embeds,
            positions,
            prompt_len,
            answer: answer.to_vec(),
            vision: prompt.vision.clone(),
        })
    }

    pub fn vision(&self) -> &VisionTokenMap {
        &self.vision
    }

    pub fn answer(&self) -> &[u32] {
        &self.answer
    }

    /// Rows of the sequence (prompt plus answer but its last token).
    pub fn len(&self) -> usize {
        self.positions[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every frame of the prompt's media that has vision tokens, in prompt order.
    pub fn frames(&self) -> Vec<FrameId> {
        let set: BTreeSet<FrameId> = self
            .vision
            .refs
            .iter()
            .map(|r| FrameId {
                media: r.media,
                frame: r.frame,
            })
            .collect();
        set.into_iter().collect()
    }

    /// Sequence rows whose output predicts answer token `step`.
    pub(crate) fn predicting_row(&self, step: usize) -> usize {
        self.prompt_len - 1 + step
    }
}

/// Summed log-probability of `answer` under the logits of `hidden` (1, n, hidden) final-normed
/// rows, row `i` predicting `answer[i]`, as a scalar f32 tensor (differentiable when `hidden`
/// tracks a gradient).
pub(crate) fn answer_log_prob(
    model: &KeyeModel,
    hidden: &Tensor,
    answer: &[u32],
) -> Result<Tensor> {
    let n = hidden.dim(1)?;
    if n != answer.len() {
        return Err(Error::Input(format!(
            "{n} rows for {} answer tokens",
            answer.len()
        )));
    }
    let logits = model.logits(hidden)?.squeeze(0)?.to_dtype(DType::F32)?;
    let vocab = logits.dim(1)?;
    let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let mut one_hot = vec![0f32; n * vocab];
    for (i, &id) in answer.iter().enumerate() {
        one_hot[i * vocab + id as usize] = 1.0;
    }
    let one_hot = Tensor::from_vec(one_hot, (n, vocab), logits.device())?;
    Ok((log_probs * one_hot)?.sum_all()?)
}
