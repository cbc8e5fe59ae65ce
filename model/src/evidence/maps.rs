//! Attention maps over the vision tokens for one answer token or the whole answer, from one
//! explicit forward pass of the decoder (every layer's probabilities materialised):
//! - raw attention of a layer (or the mean of all), heads by mean, max or one head;
//! - attention rollout (Abnar & Zuidema): the target row carried down through every layer's
//!   head-mean attention with the residual path, `r <- r (A/2 + I/2)`, so attention that reaches
//!   the video through earlier text tokens counts too;
//! - gradient-weighted attention: the gradient of the target's log-probability with respect to
//!   each layer's attention probabilities times those probabilities, positive part (where the
//!   attention raised the answer), summed over the target rows, head mean, layer mean. The
//!   gradient comes from candle's autograd: a zero `Var` is added to each layer's probabilities
//!   and the log-probability is differentiated with respect to it.
//!
//! Attention sinks ([`super::sinks`]) are found per layer from the same pass and, by default,
//! masked out of every map.

use candle_core::{DType, Tensor, Var};

use crate::keye::ExplicitForward;
use serde::Serialize;

use super::{AnswerContext, answer_log_prob, sinks};
use crate::{
    error::{Error, Result},
    keye::KeyeModel,
};

/// The most attention probabilities (heads x rows x rows x layers) an explicit pass may hold, in
/// f32 values: 1 GiB. Past it the prompt needs fewer frames or pixels.
const MAX_EXPLICIT_PROBABILITIES: usize = 1 << 28;

/// How the heads of a layer are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadReduce {
    Mean,
    Max,
    Head(usize),
}

/// How a map is made. [`Method::description`] is the one line the UI shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// Raw attention of `layer` (every layer's mean when `None`).
    Raw {
        layer: Option<usize>,
        heads: HeadReduce,
    },
    Rollout,
    Gradient,
}

impl Method {
    /// The three aggregations with their defaults, in the order the UI offers them.
    pub const ALL: [Method; 3] = [
        Method::Raw {
            layer: None,
            heads: HeadReduce::Mean,
        },
        Method::Rollout,
        Method::Gradient,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Raw { .. } => "raw attention",
            Method::Rollout => "attention rollout",
            Method::Gradient => "gradient-weighted attention",
        }
    }

    /// One line on what the map means.
    pub fn description(self) -> &'static str {
        match self {
            Method::Raw { .. } => {
                "where the answer's query looked: softmax weights on each vision token"
            }
            Method::Rollout => {
                "attention carried down through every layer: counts looking at the video via \
                 earlier tokens"
            }
            Method::Gradient => {
                "attention times its gradient on the answer's log-probability, positive part: \
                 where looking raised the answer"
            }
        }
    }
}

/// Which answer tokens a map explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One answer token (its index in the answer).
    Step(usize),
    /// Every answer token (the gradient is that of the whole answer's log-probability, the
    /// quantity the deletion test measures).
    Answer,
}

/// The maps of one target, computed once; [`AttentionMaps::map`] reads any of them.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionMaps {
    pub target: Target,
    /// `raw[layer][head][v]`: attention on vision token `v`, mean over the target rows.
    pub raw: Vec<Vec<Vec<f32>>>,
    pub rollout: Vec<f32>,
    /// Mean over layers; `None` when the gradient was not asked for.
    pub gradient: Option<Vec<f32>>,
    /// Vision-token indices (map order) found to be sinks in each layer.
    pub sinks: Vec<Vec<usize>>,
    /// For each answer token, the share of its attention (head and layer mean) on vision tokens.
    pub vision_share: Vec<f32>,
}

impl AttentionMaps {
    /// One explicit pass (and, with `gradient`, one backward pass) over `context`.
    pub fn compute(
        model: &KeyeModel,
        context: &AnswerContext,
        target: Target,
        gradient: bool,
    ) -> Result<Self> {
        let rows = target_rows(context, target)?;
        let cfg = &model.config().text;
        let (heads, layers, len) = (
            cfg.num_attention_heads,
            cfg.num_hidden_layers,
            context.len(),
        );
        if heads * len * len * layers > MAX_EXPLICIT_PROBABILITIES {
            return Err(Error::Input(format!(
                "the prompt is too long ({len} tokens) for attribution maps, which hold every \
                 layer's full attention; sample fewer frames (--max-frames) or fewer pixels"
            )));
        }
        let device = model.device();
        let (pass, grads) = explicit_pass(model, context, target, gradient)?;
        let columns = Tensor::new(
            context
                .vision
                .positions
                .iter()
                .map(|&p| p as u32)
                .collect::<Vec<_>>(),
            device,
        )?;
        let row_index = Tensor::new(rows.iter().map(|&r| r as u32).collect::<Vec<_>>(), device)?;
        let vision_of = |t: &Tensor| -> Result<Tensor> {
            // (heads, S, S) -> target rows, vision columns: (heads, R, V)
            Ok(t.index_select(&row_index, 1)?.index_select(&columns, 2)?)
        };

        let mut raw = Vec::with_capacity(layers);
        let mut sinks = Vec::with_capacity(layers);
        let last_vision = *context.vision.positions.last().unwrap_or(&0);
        let queries: Vec<u32> = (last_vision + 1..len).map(|r| r as u32).collect();
        let queries = Tensor::new(queries, device)?;
        for (probs, norms) in pass.probs.iter().zip(&pass.norms) {
            raw.push(vision_of(probs)?.mean(1)?.to_vec2::<f32>()?);
            let text_rows = probs
                .index_select(&queries, 1)?
                .index_select(&columns, 2)?
                .mean(0)?
                .to_vec2::<f32>()?;
            let mut found = sinks::attention_sinks(&text_rows);
            let norms = norms.index_select(&columns, 0)?.to_vec1::<f32>()?;
            found.extend(sinks::norm_sinks(&norms));
            found.sort_unstable();
            found.dedup();
            sinks.push(found);
        }

        // Rollout from the target rows down through every layer.
        let mut carried = one_hot_rows(&rows, len, device)?;
        let residual = (Tensor::eye(len, DType::F32, device)? * 0.5)?;
        for probs in pass.probs.iter().rev() {
            let mixed = ((probs.mean(0)? * 0.5)? + &residual)?;
            carried = carried.matmul(&mixed)?;
        }
        let rollout = carried
            .index_select(&columns, 1)?
            .mean(0)?
            .to_vec1::<f32>()?;

        let gradient = match grads {
            Some(grads) => {
                let mut total: Option<Tensor> = None;
                for (grad, probs) in grads.iter().zip(&pass.probs) {
                    let relevance = (grad * probs)?.relu()?;
                    let layer = vision_of(&relevance)?.sum(1)?.mean(0)?;
                    total = Some(match total {
                        Some(t) => (t + layer)?,
                        None => layer,
                    });
                }
                let total =
                    total.ok_or_else(|| Error::Input("the decoder has no layers".into()))?;
                Some((total / layers as f64)?.to_vec1::<f32>()?)
            }
            None => None,
        };

        // Vision share of each answer token's row, head and layer mean.
        let answer_rows: Vec<u32> = (0..context.answer.len())
            .map(|s| context.predicting_row(s) as u32)
            .collect();
        let answer_rows = Tensor::new(answer_rows, device)?;
        let mut share_sum: Option<Tensor> = None;
        for probs in &pass.probs {
            let s = probs
                .index_select(&answer_rows, 1)?
                .index_select(&columns, 2)?
                .sum(2)?
                .mean(0)?;
            share_sum = Some(match share_sum {
                Some(t) => (t + s)?,
                None => s,
            });
        }
        let vision_share = match share_sum {
            Some(t) => (t / layers as f64)?.to_vec1::<f32>()?,
            None => Vec::new(),
        };

        Ok(Self {
            target,
            raw,
            rollout,
            gradient,
            sinks,
            vision_share,
        })
    }

    /// The map of `method` over the vision tokens (map order), with the sinks of the layers it
    /// reads masked out and the rest renormalised when `mask_sinks`.
    pub fn map(&self, method: Method, mask_sinks: bool) -> Result<Vec<f32>> {
        let layers = self.raw.len();
        match method {
            Method::Raw { layer, heads } => {
                let chosen: Vec<usize> = match layer {
                    Some(l) if l < layers => vec![l],
                    Some(l) => {
                        return Err(Error::Input(format!(
                            "layer {l} does not exist (the decoder has {layers})"
                        )));
                    }
                    None => (0..layers).collect(),
                };
                let mut sum = vec![0f32; self.raw.first().map_or(0, |l| l[0].len())];
                for &l in &chosen {
                    let mut m = reduce_heads(&self.raw[l], heads)?;
                    if mask_sinks {
                        // Each layer's own sinks, before layers are averaged.
                        m = sinks::mask_sinks(&m, &self.sinks[l]);
                    }
                    sum.iter_mut().zip(&m).for_each(|(s, v)| *s += v);
                }
                let n = chosen.len().max(1) as f32;
                Ok(sum.into_iter().map(|s| s / n).collect())
            }
            // Maps that combine every layer lose every layer's sinks.
            Method::Rollout | Method::Gradient => {
                let map = match method {
                    Method::Rollout => self.rollout.clone(),
                    _ => self.gradient.clone().ok_or_else(|| {
                        Error::Input("gradient-weighted attention was not computed".into())
                    })?,
                };
                Ok(if mask_sinks {
                    sinks::mask_sinks(&map, &self.all_sinks())
                } else {
                    map
                })
            }
        }
    }

    /// Sinks of any layer (map order, sorted): what maps combining layers mask and the frame
    /// shows as marked.
    pub fn all_sinks(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self.sinks.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

fn reduce_heads(heads: &[Vec<f32>], reduce: HeadReduce) -> Result<Vec<f32>> {
    let tokens = heads.first().map_or(0, Vec::len);
    Ok(match reduce {
        HeadReduce::Head(h) => heads
            .get(h)
            .cloned()
            .ok_or_else(|| Error::Input(format!("head {h} does not exist ({})", heads.len())))?,
        HeadReduce::Mean => (0..tokens)
            .map(|v| heads.iter().map(|h| h[v]).sum::<f32>() / heads.len() as f32)
            .collect(),
        HeadReduce::Max => (0..tokens)
            .map(|v| heads.iter().map(|h| h[v]).fold(0.0, f32::max))
            .collect(),
    })
}

/// Sequence rows whose outputs predict the target's tokens.
fn target_rows(context: &AnswerContext, target: Target) -> Result<Vec<usize>> {
    let n = context.answer.len();
    match target {
        Target::Step(s) if s < n => Ok(vec![context.predicting_row(s)]),
        Target::Step(s) => Err(Error::Input(format!(
            "answer token {s} does not exist (the answer has {n})"
        ))),
        Target::Answer => Ok((0..n).map(|s| context.predicting_row(s)).collect()),
    }
}

/// (rows, len) with a one in each row's own column.
fn one_hot_rows(rows: &[usize], len: usize, device: &candle_core::Device) -> Result<Tensor> {
    let mut data = vec![0f32; rows.len() * len];
    for (i, &r) in rows.iter().enumerate() {
        data[i * len + r] = 1.0;
    }
    Ok(Tensor::from_vec(data, (rows.len(), len), device)?)
}

/// One explicit pass over `context`; with `gradient`, also the gradient of the target's
/// log-probability with respect to each layer's attention probabilities (heads, S, S), taken by
/// adding a zero `Var` to them and differentiating.
pub fn explicit_pass(
    model: &KeyeModel,
    context: &AnswerContext,
    target: Target,
    gradient: bool,
) -> Result<(ExplicitForward, Option<Vec<Tensor>>)> {
    let cfg = &model.config().text;
    let (heads, layers, len) = (
        cfg.num_attention_heads,
        cfg.num_hidden_layers,
        context.len(),
    );
    if !gradient {
        return Ok((
            model.forward_explicit(&context.embeds, &context.positions, None)?,
            None,
        ));
    }
    let probes = (0..layers)
        .map(|_| Var::zeros((heads, len, len), DType::F32, model.device()))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let tensors: Vec<Tensor> = probes.iter().map(|v| v.as_tensor().clone()).collect();
    let pass = model.forward_explicit(&context.embeds, &context.positions, Some(&tensors))?;
    let grads = target_log_prob(model, context, &pass.hidden, target)?.backward()?;
    let grads = probes
        .iter()
        .map(|var| match grads.get(var.as_tensor()) {
            Some(g) => Ok(g.clone()),
            // A layer the target cannot reach has no gradient: zero.
            None => Ok(var.as_tensor().zeros_like()?),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((pass, Some(grads)))
}

/// The target's log-probability with `probes[l]` added to layer `l`'s attention probabilities
/// (a finite-difference check of [`explicit_pass`]'s gradient).
pub fn perturbed_log_prob(
    model: &KeyeModel,
    context: &AnswerContext,
    target: Target,
    probes: &[Tensor],
) -> Result<f64> {
    let pass = model.forward_explicit(&context.embeds, &context.positions, Some(probes))?;
    Ok(f64::from(
        target_log_prob(model, context, &pass.hidden, target)?.to_scalar::<f32>()?,
    ))
}

/// The log-probability of the target's tokens (scalar), from the explicit pass' hidden states.
pub(crate) fn target_log_prob(
    model: &KeyeModel,
    context: &AnswerContext,
    hidden: &Tensor,
    target: Target,
) -> Result<Tensor> {
    match target {
        Target::Step(s) => answer_log_prob(
            model,
            &hidden.narrow(1, context.predicting_row(s), 1)?,
            &context.answer[s..=s],
        ),
        Target::Answer => answer_log_prob(
            model,
            &hidden.narrow(1, context.predicting_row(0), context.answer.len())?,
            &context.answer,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{
        LoadOptions,
        chat::ChatMessage,
        generate::{PromptMedia, ThinkingMode, greedy, prepare_prompt},
        preprocess::ImageProcessorConfig,
        tokenizer::KeyeTokenizer,
    };

    /// The tiny 1.5 checkpoint made to carry a sink: one vision token's embedding is scaled 200x
    /// (the massive activation sinks have), so every layer sees an outlying norm there.
    #[test]
    fn a_vision_token_with_a_massive_activation_is_masked_and_the_map_renormalised() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/models/keye-1.5-tiny");
        let model = KeyeModel::load(&dir, LoadOptions::default()).unwrap();
        let tokenizer = KeyeTokenizer::from_dir(&dir, model.config()).unwrap();
        let processor =
            ImageProcessorConfig::from_file(&dir.join("preprocessor_config.json")).unwrap();
        let messages: Vec<ChatMessage> = serde_json::from_str(
            r#"[{"role":"user","content":[{"type":"image"},{"type":"text","text":"What is it?"}]}]"#,
        )
        .unwrap();
        let image = image::RgbImage::from_fn(112, 56, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let prompt = prepare_prompt(
            &model,
            &tokenizer,
            &processor,
            &messages,
            vec![PromptMedia::Image(image)],
            ThinkingMode::NoThink,
        )
        .unwrap();
        let answer = greedy(&model, &tokenizer, &prompt.inputs, 3)
            .unwrap()
            .tokens;
        let mut context = AnswerContext::new(&model, &prompt, &answer).unwrap();
        let clean = AttentionMaps::compute(&model, &context, Target::Answer, false).unwrap();
        assert!(clean.all_sinks().is_empty(), "{:?}", clean.sinks);

        let sink = 3;
        let row = context.vision.positions[sink];
        let len = context.len();
        let scale: Vec<f32> = (0..len)
            .map(|i| if i == row { 200.0 } else { 1.0 })
            .collect();
        let scale = Tensor::from_vec(scale, (1, len, 1), model.device()).unwrap();
        context.embeds = context.embeds.broadcast_mul(&scale).unwrap();
        let maps = AttentionMaps::compute(&model, &context, Target::Answer, false).unwrap();
        assert!(
            maps.sinks.iter().all(|layer| layer == &vec![sink]),
            "{:?}",
            maps.sinks
        );
        let method = Method::Raw {
            layer: Some(1),
            heads: HeadReduce::Mean,
        };
        let raw = maps.map(method, false).unwrap();
        let masked = maps.map(method, true).unwrap();
        assert!(raw[sink] > 0.0);
        assert_eq!(masked[sink], 0.0);
        let (a, b): (f32, f32) = (raw.iter().sum(), masked.iter().sum());
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        let others = |m: &[f32], i: usize| m[i] / m[(i + 1) % m.len()];
        assert!((others(&raw, 0) - others(&masked, 0)).abs() < 1e-4);
    }
}
