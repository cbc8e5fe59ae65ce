//! The golden-case runner shared by `keye-studio golden-check` and the tests: rebuild a case's
//! prompt and vision inputs with our own template, tokenizer and preprocessing, run the model,
//! and compare every tensor the case stores (exact on integers, 1e-4 on floats).

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use serde::Deserialize;

use crate::{
    chat::{
        ChatMessage, ContentPart, FramePlaceholder, MessageContent, VideoPlaceholder,
        expand_placeholders, render_chat,
    },
    checkpoint::LoadOptions,
    config::KeyeVariant,
    error::{Error, Result},
    keye::{Grid, KeyeInputs, KeyeModel, VisionBatch},
    preprocess::{self, FrameKind, ImageProcessorConfig, Patches, SlowFastOptions},
    tokenizer::KeyeTokenizer,
};

/// Allowed max |difference| on float tensors (hidden states, logits, pixel values).
pub const FLOAT_TOLERANCE: f64 = 1e-4;

/// Greedy steps when the case does not say.
const DEFAULT_NEW_TOKENS: usize = 8;

/// The parts of `meta.json` the runner uses.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldenMeta {
    #[serde(default)]
    pub case: Option<String>,
    /// Checkpoint folder, relative to the case folder.
    pub model_dir: PathBuf,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub prompt_after_chat_template: Option<String>,
    /// Preview: seconds per temporal grid step of each video (1/fps).
    #[serde(default)]
    pub second_per_grid_ts: Option<Vec<f32>>,
    /// Frame rate of a video given as frames; 1.5 uses it for sampling and timestamps when the
    /// case states no `video_processor_kwargs`.
    #[serde(default)]
    pub fps: Option<f64>,
    /// 1.5: the keye-vl-utils processor kwargs of the (single) video.
    #[serde(default)]
    pub video_processor_kwargs: Option<SlowFastKwargs>,
    #[serde(default)]
    pub generated_ids: Option<Vec<u32>>,
}

/// keye-vl-utils 1.5 output for one video: frame labels, timestamps, slow and fast sizes.
#[derive(Debug, Clone, Deserialize)]
pub struct SlowFastKwargs {
    /// 0 = slow, 1 = fast, per frame.
    pub frame_types: Vec<u8>,
    #[serde(default)]
    pub timestamps: Option<Vec<f64>>,
    pub height: u32,
    pub width: u32,
    pub fast_height: u32,
    pub fast_width: u32,
}

/// One compared tensor.
#[derive(Debug, Clone)]
pub struct TensorCheck {
    pub name: String,
    /// Max |ours - reference|; None when the shapes differ.
    pub max_abs_diff: Option<f64>,
    pub tolerance: f64,
    pub expected_shape: Vec<usize>,
    pub actual_shape: Vec<usize>,
}

impl TensorCheck {
    pub fn passed(&self) -> bool {
        self.max_abs_diff.is_some_and(|d| d <= self.tolerance)
    }
}

/// Outcome of one golden case.
#[derive(Debug, Clone)]
pub struct GoldenReport {
    pub case: String,
    /// Our chat template output equals the case's `prompt_after_chat_template` (when given).
    pub prompt_matches: Option<bool>,
    pub checks: Vec<TensorCheck>,
    /// Case tensors that are inputs to preprocessing (raw uint8 images / frames).
    pub inputs_used: Vec<String>,
    /// Case tensors with no counterpart here; they fail the case so nothing goes unchecked.
    pub unmatched: Vec<String>,
    /// Generated text, for the log.
    pub generated_text: String,
}

impl GoldenReport {
    pub fn passed(&self) -> bool {
        self.prompt_matches != Some(false)
            && self.unmatched.is_empty()
            && !self.checks.is_empty()
            && self.checks.iter().all(TensorCheck::passed)
    }
}

/// Every tensor of a golden case folder's inputs.safetensors and outputs.safetensors, on the CPU
/// (the Keye and Mengzi cases store them alike).
pub(crate) fn read_case_tensors(dir: &Path) -> Result<BTreeMap<String, Tensor>> {
    let mut tensors = BTreeMap::new();
    for file in ["inputs.safetensors", "outputs.safetensors"] {
        let path = dir.join(file);
        let loaded = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| {
            Error::CorruptSafetensors {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        tensors.extend(loaded);
    }
    Ok(tensors)
}

/// A golden case folder: meta.json, inputs.safetensors, outputs.safetensors.
#[derive(Debug)]
pub struct GoldenCase {
    pub dir: PathBuf,
    pub meta: GoldenMeta,
    /// All stored tensors by name (inputs and outputs together), on the CPU.
    pub tensors: BTreeMap<String, Tensor>,
}

impl GoldenCase {
    pub fn open(dir: &Path) -> Result<Self> {
        let meta: GoldenMeta = crate::error::read_json(&dir.join("meta.json"))?;
        let tensors = read_case_tensors(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            tensors,
        })
    }

    fn golden_error(&self, message: impl Into<String>) -> Error {
        Error::Golden {
            path: self.dir.clone(),
            message: message.into(),
        }
    }

    /// The `count` raw uint8 inputs named `{prefix}…{suffix}`, in name order (image_a, image_b).
    fn raw_inputs(
        &self,
        prefix: &str,
        suffix: &str,
        count: usize,
    ) -> Result<Vec<(&String, &Tensor)>> {
        let found: Vec<_> = self
            .tensors
            .iter()
            .filter(|(name, _)| name.starts_with(prefix) && name.ends_with(suffix))
            .collect();
        if found.len() != count {
            return Err(self.golden_error(format!(
                "the messages have {count} {prefix}(s) but inputs.safetensors has {} tensors named \
                 {prefix}*{suffix}",
                found.len()
            )));
        }
        Ok(found)
    }

    /// An (H, W, 3) uint8 tensor as an RGB image.
    fn rgb_image(&self, name: &str, tensor: &Tensor) -> Result<RgbImage> {
        let bad = || {
            self.golden_error(format!(
                "{name} must be (H, W, 3) uint8, got {:?} {:?}",
                tensor.dtype(),
                tensor.dims()
            ))
        };
        let &[h, w, 3] = tensor.dims() else {
            return Err(bad());
        };
        if tensor.dtype() != DType::U8 {
            return Err(bad());
        }
        let data = tensor.flatten_all()?.to_vec1::<u8>()?;
        RgbImage::from_raw(w as u32, h as u32, data).ok_or_else(bad)
    }

    /// A (T, H, W, 3) uint8 tensor as frames.
    fn rgb_frames(&self, name: &str, tensor: &Tensor) -> Result<Vec<RgbImage>> {
        let frames = tensor.dims().first().copied().unwrap_or(0);
        (0..frames)
            .map(|i| self.rgb_image(name, &tensor.get(i)?))
            .collect()
    }

    /// The 1.5 video as the processor receives it. Frame types, sizes and timestamps come from the
    /// case's `video_processor_kwargs` when it states them (the frames then go to the processor
    /// as they are); otherwise keye-vl-utils 1.5.2's own frame-list path decides them.
    fn slowfast_input(&self, frames: Vec<RgbImage>) -> Result<SlowFastInput> {
        if let Some(k) = &self.meta.video_processor_kwargs {
            if k.frame_types.len() != frames.len() {
                return Err(self.golden_error(format!(
                    "video_processor_kwargs has {} frame types for {} frames",
                    k.frame_types.len(),
                    frames.len()
                )));
            }
            let kinds = k
                .frame_types
                .iter()
                .map(|&t| {
                    if t == 0 {
                        FrameKind::Slow
                    } else {
                        FrameKind::Fast
                    }
                })
                .collect();
            return Ok(SlowFastInput {
                frames,
                kinds,
                slow_hw: (k.height, k.width),
                fast_hw: (k.fast_height, k.fast_width),
                timestamps: k.timestamps.clone(),
            });
        }
        let options = SlowFastOptions {
            fps: self.meta.fps,
            ..SlowFastOptions::default()
        };
        let fetched = frames
            .iter()
            .map(|f| preprocess::fetch_image(f, &options.fetch_options()))
            .collect::<Result<Vec<_>, _>>()?;
        let sampling = preprocess::sample_slowfast_frame_list(fetched.len(), &options)?;
        let sampled: Vec<RgbImage> = sampling
            .indices
            .iter()
            .map(|&i| fetched[i].clone())
            .collect();
        let plan = preprocess::plan_slowfast(&sampled, sampling, &options)?;
        Ok(SlowFastInput {
            frames: sampled,
            kinds: plan.kinds,
            slow_hw: plan.budget.slow_hw,
            fast_hw: plan.budget.fast_hw,
            timestamps: plan
                .sampling
                .timestamps
                .map(|t| t.into_iter().map(f64::from).collect()),
        })
    }

    /// The checkpoint folder the case runs.
    pub fn model_dir(&self) -> PathBuf {
        self.dir.join(&self.meta.model_dir)
    }

    /// Loads the case's model, rebuilds its inputs, runs it and compares everything.
    pub fn run(&self, options: LoadOptions) -> Result<GoldenReport> {
        let model_dir = self.model_dir();
        let model = KeyeModel::load(&model_dir, options)?;
        let tokenizer = KeyeTokenizer::from_dir(&model_dir, model.config())?;
        let processor =
            ImageProcessorConfig::from_file(&model_dir.join("preprocessor_config.json"))?;
        self.run_with(&model, &tokenizer, &processor)
    }

    /// As `run`, with an already loaded model, tokenizer and image processor settings.
    pub fn run_with(
        &self,
        model: &KeyeModel,
        tokenizer: &KeyeTokenizer,
        processor: &ImageProcessorConfig,
    ) -> Result<GoldenReport> {
        let cfg = model.config();
        let merge = cfg.vision.spatial_merge_size;
        let prompt = render_chat(&self.meta.messages, tokenizer.tokens(), true);
        let prompt_matches = self
            .meta
            .prompt_after_chat_template
            .as_ref()
            .map(|p| *p == prompt);

        let (n_images, n_videos) = count_vision_parts(&self.meta.messages);
        let mut produced: HashMap<&'static str, Tensor> = HashMap::new();
        let device = Device::Cpu;
        let mut inputs_used = Vec::new();

        // Images: the raw uint8 images through the processor, one ViT block each.
        let images = if n_images > 0 {
            let raw = self.raw_inputs("image", "_uint8_hwc", n_images)?;
            let mut patches = Vec::with_capacity(raw.len());
            for (name, tensor) in raw {
                inputs_used.push(name.clone());
                patches.push(preprocess::preprocess_image(
                    &self.rgb_image(name, tensor)?,
                    processor,
                )?);
            }
            let grids: Vec<Grid> = patches.iter().map(|p| p.grid_thw).collect();
            let pixel_values = patches_tensor(&patches, processor, &device)?;
            produced.insert("pixel_values", pixel_values.clone());
            produced.insert("image_grid_thw", grid_tensor(&grids, &device)?);
            Some(VisionBatch::images(pixel_values, grids))
        } else {
            None
        };
        if n_videos > 1 {
            return Err(self.golden_error("cases with more than one video are not supported"));
        }
        let mut video_placeholders = Vec::new();
        let videos = if n_videos == 1 {
            let (name, tensor) = self.raw_inputs("video", "_uint8_thwc", 1)?[0];
            inputs_used.push(name.clone());
            let frames = self.rgb_frames(name, tensor)?;
            let batch = match cfg.variant {
                KeyeVariant::Preview => {
                    let patches = preprocess::preprocess_video_preview(&frames, processor)?;
                    let [t, h, w] = patches.grid_thw;
                    // The processor's default without an fps is one second per frame.
                    let seconds = self
                        .meta
                        .second_per_grid_ts
                        .as_ref()
                        .and_then(|s| s.first().copied())
                        .unwrap_or(1.0);
                    video_placeholders.push(VideoPlaceholder::Tokens(t * h * w / (merge * merge)));
                    let pixel_values =
                        patches_tensor(std::slice::from_ref(&patches), processor, &device)?;
                    produced.insert("video_grid_thw", grid_tensor(&[patches.grid_thw], &device)?);
                    produced.insert("second_per_grid_ts", Tensor::new(&[seconds], &device)?);
                    produced.insert("pixel_values_videos", pixel_values.clone());
                    VisionBatch::preview_videos(pixel_values, vec![(patches.grid_thw, seconds)])
                }
                KeyeVariant::V1_5 => {
                    let plan = self.slowfast_input(frames)?;
                    let patches = preprocess::preprocess_video_slowfast(
                        &plan.frames,
                        &plan.kinds,
                        plan.slow_hw,
                        plan.fast_hw,
                        processor,
                    )?;
                    let per_frame: Vec<Grid> = patches.iter().map(|p| p.grid_thw).collect();
                    video_placeholders.push(VideoPlaceholder::SlowFast(
                        per_frame
                            .iter()
                            .zip(&plan.kinds)
                            .enumerate()
                            .map(|(i, ([_, h, w], kind))| FramePlaceholder {
                                timestamp: plan.timestamps.as_ref().and_then(|t| t.get(i).copied()),
                                fast: *kind == FrameKind::Fast,
                                tokens: h * w / (merge * merge),
                            })
                            .collect(),
                    ));
                    let pixel_values = patches_tensor(&patches, processor, &device)?;
                    produced.insert("pixel_values_videos", pixel_values.clone());
                    produced.insert(
                        "video_grid_thw",
                        grid_tensor(&preprocess::merge_frame_grids(&per_frame), &device)?,
                    );
                    produced.insert(
                        "video_grid_thw_per_frame",
                        grid_tensor(&per_frame, &device)?,
                    );
                    produced.insert(
                        "num_frames",
                        Tensor::new(&[per_frame.len() as i64], &device)?,
                    );
                    let types: Vec<i64> = plan.kinds.iter().map(|k| k.type_id()).collect();
                    produced.insert("frame_types", Tensor::new(types.as_slice(), &device)?);
                    if let Some(ts) = &plan.timestamps {
                        produced.insert("timestamps", Tensor::new(ts.as_slice(), &device)?);
                    }
                    let frames: Vec<(usize, usize)> =
                        per_frame.iter().map(|&[_, h, w]| (h, w)).collect();
                    VisionBatch::slowfast_frames(pixel_values, &frames)
                }
            };
            Some(batch)
        } else {
            None
        };

        let image_tokens: Vec<usize> = images
            .as_ref()
            .map(|b| {
                b.blocks
                    .iter()
                    .map(|b| b.grid.iter().product::<usize>() / (merge * merge))
                    .collect()
            })
            .unwrap_or_default();
        let expanded = expand_placeholders(
            &prompt,
            tokenizer.tokens(),
            tokenizer.tokens().slowfast.as_ref(),
            &image_tokens,
            &video_placeholders,
        )?;
        let input_ids = tokenizer.encode(&expanded)?;
        let s = input_ids.len();
        let ids_i64: Vec<i64> = input_ids.iter().map(|&i| i as i64).collect();
        produced.insert("input_ids", Tensor::from_vec(ids_i64, (1, s), &device)?);
        produced.insert("attention_mask", Tensor::ones((1, s), DType::I64, &device)?);

        let new_tokens = self
            .meta
            .generated_ids
            .as_ref()
            .map_or(DEFAULT_NEW_TOKENS, Vec::len);
        let inputs = KeyeInputs {
            input_ids,
            images,
            videos,
            encoded_videos: None,
        };
        let greedy = crate::generate::greedy(model, tokenizer, &inputs, new_tokens)?;
        let out = &greedy.prefill;
        if let Some(enc) = &out.images {
            produced.insert("image_vit_embeddings", enc.vit.embeddings.clone());
            produced.insert("image_vit_last_hidden", enc.vit.last_hidden.clone());
            produced.insert("image_projector_out", enc.projected.clone());
        }
        if let Some(enc) = &out.videos {
            produced.insert("video_vit_embeddings", enc.vit.embeddings.clone());
            produced.insert("video_vit_last_hidden", enc.vit.last_hidden.clone());
            produced.insert("video_projector_out", enc.projected.clone());
        }
        produced.insert("inputs_embeds", out.inputs_embeds.clone());
        produced.insert("lm_last_hidden", out.hidden.clone());
        produced.insert("logits", model.logits(&out.hidden)?);
        let positions: Vec<i64> = out.rope.positions.iter().flatten().copied().collect();
        produced.insert(
            "position_ids",
            Tensor::from_vec(positions, (3, 1, s), &device)?,
        );
        produced.insert(
            "rope_deltas",
            Tensor::new(&[[out.rope.rope_delta]], &device)?,
        );
        let generated: Vec<i64> = greedy.tokens.iter().map(|&t| t as i64).collect();
        produced.insert("generated_ids", Tensor::new(generated.as_slice(), &device)?);
        let vocab = greedy.step_logits.first().map_or(0, Vec::len);
        produced.insert(
            "generated_step_logits",
            Tensor::from_vec(
                greedy.step_logits.concat(),
                (greedy.step_logits.len(), vocab),
                &device,
            )?,
        );

        let mut checks = Vec::new();
        let mut unmatched = Vec::new();
        for (name, expected) in &self.tensors {
            if inputs_used.contains(name) {
                continue;
            }
            match produced.get(name.as_str()) {
                Some(actual) => checks.push(compare(name, expected, actual)?),
                None => unmatched.push(name.clone()),
            }
        }
        Ok(GoldenReport {
            case: self
                .meta
                .case
                .clone()
                .unwrap_or_else(|| self.dir.display().to_string()),
            prompt_matches,
            checks,
            inputs_used,
            unmatched,
            generated_text: tokenizer.decode(&greedy.tokens)?,
        })
    }
}

/// A 1.5 video ready for the processor.
struct SlowFastInput {
    frames: Vec<RgbImage>,
    kinds: Vec<FrameKind>,
    slow_hw: (u32, u32),
    fast_hw: (u32, u32),
    timestamps: Option<Vec<f64>>,
}

/// Patches of several images / frames as one (N, 3, p, p) tensor.
fn patches_tensor(
    patches: &[Patches],
    processor: &ImageProcessorConfig,
    device: &Device,
) -> Result<Tensor> {
    let p = processor.patch_size as usize;
    let n: usize = patches.iter().map(Patches::num_patches).sum();
    let data: Vec<f32> = patches
        .iter()
        .flat_map(|x| x.pixel_values.iter().copied())
        .collect();
    Ok(Tensor::from_vec(data, (n, 3, p, p), device)?)
}

fn count_vision_parts(messages: &[ChatMessage]) -> (usize, usize) {
    let mut counts = (0, 0);
    for message in messages {
        if let MessageContent::Parts(parts) = &message.content {
            for part in parts {
                match part {
                    ContentPart::Image => counts.0 += 1,
                    ContentPart::Video => counts.1 += 1,
                    ContentPart::Text { .. } => {}
                }
            }
        }
    }
    counts
}

fn grid_tensor(grids: &[Grid], device: &Device) -> Result<Tensor> {
    let flat: Vec<i64> = grids.iter().flatten().map(|&v| v as i64).collect();
    Ok(Tensor::from_vec(flat, (grids.len(), 3), device)?)
}

/// Max |actual - expected| with integers exact and floats within [`FLOAT_TOLERANCE`].
pub(crate) fn compare(name: &str, expected: &Tensor, actual: &Tensor) -> Result<TensorCheck> {
    let integer = !expected.dtype().is_float();
    let tolerance = if integer { 0.0 } else { FLOAT_TOLERANCE };
    let expected_shape = expected.dims().to_vec();
    let actual_shape = actual.dims().to_vec();
    let max_abs_diff = if expected_shape == actual_shape {
        let values = |t: &Tensor| -> Result<Vec<f64>> {
            Ok(t.to_device(&Device::Cpu)?
                .to_dtype(DType::F64)?
                .flatten_all()?
                .to_vec1()?)
        };
        Some(max_abs_diff(&values(expected)?, &values(actual)?))
    } else {
        None
    };
    Ok(TensorCheck {
        name: name.to_string(),
        max_abs_diff,
        tolerance,
        expected_shape,
        actual_shape,
    })
}

/// Max |a - b| over paired values; infinite when any value on either side is NaN or infinite,
/// or when the lengths differ, so a tolerance check on it fails. (`f32::max` and candle's `max`
/// both skip a NaN that is not the first value; a reference never holds one.)
pub fn max_abs_diff<T: Copy + Into<f64>>(a: &[T], b: &[T]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x.into(), y.into()))
        .try_fold(0.0f64, |max, (x, y): (f64, f64)| {
            (x.is_finite() && y.is_finite()).then(|| max.max((x - y).abs()))
        })
        .unwrap_or(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits shaped like a case's (1, S, V), with one value changed at (row, column).
    fn logits_with(row: usize, column: usize, value: f32) -> (Tensor, Tensor) {
        let (s, v) = (5, 7);
        let data: Vec<f32> = (0..s * v).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
        let reference = Tensor::from_vec(data.clone(), (1, s, v), &Device::Cpu).unwrap();
        let mut changed = data;
        changed[row * v + column] = value;
        let ours = Tensor::from_vec(changed, (1, s, v), &Device::Cpu).unwrap();
        (reference, ours)
    }

    #[test]
    fn a_nan_in_a_later_logits_row_fails_the_comparison() {
        let (reference, ours) = logits_with(3, 4, f32::NAN);
        // What the comparison used to rely on: candle's max folds with `<` and skips this NaN.
        let skipped = (&ours - &reference)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(skipped.is_finite() && skipped <= FLOAT_TOLERANCE as f32);

        let check = compare("logits", &reference, &ours).unwrap();
        assert_eq!(check.max_abs_diff, Some(f64::INFINITY));
        assert!(!check.passed());
        // A NaN or infinity planted in the reference fails too.
        for planted in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let (reference, ours) = logits_with(2, 6, planted);
            assert!(!compare("logits", &ours, &reference).unwrap().passed());
        }
        // Unchanged logits pass, so the failures above come from the planted value alone.
        let same = compare("logits", &reference, &reference).unwrap();
        assert_eq!(same.max_abs_diff, Some(0.0));
        assert!(same.passed());
    }

    #[test]
    fn max_abs_diff_is_infinite_for_any_non_finite_value_or_length_mismatch() {
        assert_eq!(max_abs_diff(&[1.0f32, 2.0], &[1.5, 1.0]), 1.0);
        assert_eq!(max_abs_diff::<f32>(&[], &[]), 0.0);
        assert_eq!(
            max_abs_diff(&[0.0f32, 1.0, f32::NAN], &[0.0; 3]),
            f64::INFINITY
        );
        assert_eq!(
            max_abs_diff(&[0.0f32; 3], &[0.0, f32::INFINITY, 0.0]),
            f64::INFINITY
        );
        assert_eq!(max_abs_diff(&[0.0f32; 2], &[0.0; 3]), f64::INFINITY);
    }
}
