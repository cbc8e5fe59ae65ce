//! Videos for every encoder, in two steps so that only the frames an encoder uses are decoded:
//! [`VideoPlan::new`] decides from the frame timestamps alone which frames to decode and when they
//! sit; [`VideoPlan::prepare`] turns those decoded frames into what the decoder sees (placeholder
//! expansion, vision inputs, and the span of the video each temporal step covers).
//!
//! The three encoders:
//! - `keye`: Keye-VL-8B-Preview, keye-vl-utils 1.0 sampling, one ViT block per video;
//! - `keye15`: Keye-VL-1.5 SlowFast, keye-vl-utils 1.5.2 sampling, slow and fast frames;
//! - `mavors`: Mavors chunks. Each chunk becomes one rope block of one temporal step whose merged
//!   grid is the pooled grid, so the decoder places a chunk like a single frame; with the 1.5
//!   tokenizer each chunk is announced by `<|frame|>` and its start time, as SlowFast frames are.

use std::collections::HashMap;

use candle_core::Tensor;
use image::RgbImage;
use serde::Serialize;

use crate::{
    chat::{FramePlaceholder, VideoPlaceholder},
    config::{KeyeConfig, KeyeVariant},
    error::{Error, Result},
    keye::{Grid, RopeBlock},
    mavors::{ChunkPlan, FrameGeometry, Mavors, MavorsConfig, VideoEncoder, frame_patches},
    media::{MediaGrid, MediaKind},
    preprocess::{
        self, FrameKind, ImageProcessorConfig, Patches, PreviewVideoOptions, PreviewVideoPlan,
        SlowFastOptions, SlowFastSampling, plan_preview_video, plan_slowfast,
        resize_bicubic_antialias_torch, sample_slowfast_video,
    },
};

/// Which encoder turns a video into decoder tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoEncoderKind {
    /// Keye-VL-8B-Preview: uniformly sampled frames, one ViT block per video.
    Keye,
    /// Keye-VL-1.5: SlowFast frames, one ViT block per frame.
    Keye15,
    /// Mavors chunks of F frames.
    Mavors,
}

impl VideoEncoderKind {
    /// The name the CLI and the GUI use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Keye => "keye",
            Self::Keye15 => "keye15",
            Self::Mavors => "mavors",
        }
    }

    /// The encoder a checkpoint uses: Mavors when its config has a `mavors_config` section,
    /// else the Keye-VL variant's own path.
    pub fn for_model(config: &KeyeConfig, encoder: &VideoEncoder) -> Self {
        match (encoder, config.variant) {
            (VideoEncoder::Mavors(_), _) => Self::Mavors,
            (VideoEncoder::Keye, KeyeVariant::Preview) => Self::Keye,
            (VideoEncoder::Keye, KeyeVariant::V1_5) => Self::Keye15,
        }
    }
}

/// What planning needs to know about a video before decoding any pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoTimeline {
    /// Presentation time (seconds) of every frame in presentation order, on whatever timeline the
    /// caller wants the plan on (the video's own, with its start offset, is what the CLI prints).
    pub frame_times: Vec<f64>,
    /// Where the last frame stops being shown, on the same timeline.
    pub end: f64,
    /// Average frame rate, as decord reports it to keye-vl-utils.
    pub fps: f64,
    /// Displayed size (rotation applied).
    pub width: u32,
    pub height: u32,
}

impl VideoTimeline {
    fn check(&self) -> Result<()> {
        if self.frame_times.is_empty() {
            return Err(Error::Input("the video has no frames".into()));
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(Error::Input(format!(
                "the video's frame rate must be positive, got {}",
                self.fps
            )));
        }
        if self.width == 0 || self.height == 0 {
            return Err(Error::Input(format!(
                "the video has an empty frame size {}x{}",
                self.width, self.height
            )));
        }
        Ok(())
    }

    /// Where frame `index` stops: the next frame's time, or the end.
    fn frame_end(&self, index: usize) -> f64 {
        self.frame_times.get(index + 1).copied().unwrap_or(self.end)
    }
}

/// Knobs of the three planners; `Default` is the Keye-VL-8B family (patch 14, 2x2 merge, a 27x27
/// learned position grid) with each package's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoPlanSettings {
    pub patch_size: u32,
    pub merge_size: u32,
    /// The ViT's pretraining side: the Mavors frame size.
    pub image_size: u32,
    pub preview: PreviewVideoOptions,
    pub slowfast: SlowFastOptions,
    pub mavors: MavorsConfig,
}

impl Default for VideoPlanSettings {
    fn default() -> Self {
        Self {
            patch_size: 14,
            merge_size: 2,
            image_size: 378,
            preview: PreviewVideoOptions::default(),
            slowfast: SlowFastOptions::default(),
            mavors: MavorsConfig::default(),
        }
    }
}

impl VideoPlanSettings {
    /// The settings a loaded checkpoint implies.
    pub fn for_model(config: &KeyeConfig, encoder: &VideoEncoder) -> Self {
        Self {
            patch_size: config.vision.patch_size as u32,
            merge_size: config.vision.spatial_merge_size as u32,
            image_size: config.vision.image_size as u32,
            mavors: match encoder {
                VideoEncoder::Mavors(mavors) => mavors.clone(),
                VideoEncoder::Keye => MavorsConfig::default(),
            },
            ..Self::default()
        }
    }
}

/// Which frames an encoder samples, decided before decoding.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoPlan {
    Preview(PreviewVideoPlan),
    /// Which frames; slow or fast is decided from their pixels in [`VideoPlan::prepare`].
    SlowFast(SlowFastSampling),
    Mavors(ChunkPlan),
}

/// One temporal step of the decoder's view of a video: a sampled frame (Keye encoders) or a chunk
/// (Mavors), with the part of the video it stands for. Plain data for the CLI and the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanChunk {
    pub index: usize,
    /// Seconds on the plan's timeline: this step's first frame up to the next step's.
    pub start: f64,
    pub end: f64,
    pub frame_indices: Vec<usize>,
    pub timestamps: Vec<f64>,
    /// Mavors: the chunk was filled up by repeating its last frame.
    pub padded: bool,
}

impl VideoPlan {
    pub fn new(
        kind: VideoEncoderKind,
        timeline: &VideoTimeline,
        settings: &VideoPlanSettings,
    ) -> Result<Self> {
        timeline.check()?;
        let frames = timeline.frame_times.len();
        Ok(match kind {
            VideoEncoderKind::Keye => Self::Preview(plan_preview_video(
                frames,
                timeline.fps,
                (timeline.height, timeline.width),
                &settings.preview,
            )?),
            VideoEncoderKind::Keye15 => {
                let sampling = sample_slowfast_video(frames, timeline.fps, &settings.slowfast)?;
                if sampling.indices.is_empty() {
                    return Err(Error::Input(format!(
                        "the video is too short for SlowFast sampling: {frames} frames at {:.3} \
                         fps give no sample",
                        timeline.fps
                    )));
                }
                Self::SlowFast(sampling)
            }
            VideoEncoderKind::Mavors => {
                let geometry = FrameGeometry::for_frame(
                    timeline.width,
                    timeline.height,
                    settings.image_size,
                    settings.patch_size,
                )?;
                Self::Mavors(ChunkPlan::new(
                    &timeline.frame_times,
                    timeline.end,
                    geometry,
                    &settings.mavors,
                )?)
            }
        })
    }

    /// Visual tokens and vision-tower patches the plan gives, worked out before any frame is
    /// decoded. Exact for the Preview and Mavors; for SlowFast, whose slow/fast split depends on
    /// the pixels, an upper bound: every frame counts as slow at the size an all-slow video gets
    /// (fast frames only lower the total, which the processor's budget search caps either way).
    pub fn visual_estimate(
        &self,
        timeline: &VideoTimeline,
        settings: &VideoPlanSettings,
    ) -> Result<VisualEstimate> {
        let patch = settings.patch_size as usize;
        let merge = (settings.merge_size * settings.merge_size) as usize;
        Ok(match self {
            Self::Preview(plan) => {
                let (h, w) = plan.resized_hw;
                let per_frame = (h as usize / patch) * (w as usize / patch);
                let patches = per_frame * plan.indices.len();
                VisualEstimate {
                    tokens: patches / merge,
                    patches,
                    largest_block: patches,
                    steps: plan.indices.len(),
                    exact: true,
                }
            }
            Self::SlowFast(sampling) => {
                let n = sampling.indices.len();
                let budget = preprocess::slowfast_sizes(
                    n as u64,
                    0,
                    timeline.height,
                    timeline.width,
                    &settings.slowfast,
                )?;
                let (h, w) = budget.slow_hw;
                let per_frame = (h as usize / patch) * (w as usize / patch);
                VisualEstimate {
                    tokens: per_frame / merge * n,
                    patches: per_frame * n,
                    largest_block: per_frame,
                    steps: n,
                    exact: false,
                }
            }
            Self::Mavors(plan) => {
                let cells = plan.frame.grid_h * plan.frame.grid_w;
                VisualEstimate {
                    tokens: plan.total_tokens(),
                    patches: cells * plan.chunks.len(),
                    largest_block: cells,
                    steps: plan.chunks.len(),
                    exact: true,
                }
            }
        })
    }

    /// The frames to decode, sorted, each once.
    pub fn frames_to_decode(&self) -> Vec<usize> {
        let mut indices: Vec<usize> = match self {
            Self::Preview(plan) => plan.indices.clone(),
            Self::SlowFast(sampling) => sampling.indices.clone(),
            Self::Mavors(plan) => plan
                .chunks
                .iter()
                .flat_map(|c| c.frame_indices.iter().copied())
                .collect(),
        };
        indices.sort_unstable();
        indices.dedup();
        indices
    }

    /// The decoder's temporal steps on `timeline`.
    pub fn chunks(&self, timeline: &VideoTimeline) -> Vec<PlanChunk> {
        let frame_steps = |indices: &[usize]| -> Vec<PlanChunk> {
            indices
                .iter()
                .enumerate()
                .map(|(i, &frame)| {
                    let start = timeline.frame_times[frame];
                    let end = indices
                        .get(i + 1)
                        .map_or(timeline.end, |&next| timeline.frame_times[next])
                        .max(timeline.frame_end(frame).min(timeline.end));
                    PlanChunk {
                        index: i,
                        start,
                        end,
                        frame_indices: vec![frame],
                        timestamps: vec![start],
                        padded: false,
                    }
                })
                .collect()
        };
        match self {
            Self::Preview(plan) => frame_steps(&plan.indices),
            Self::SlowFast(sampling) => frame_steps(&sampling.indices),
            Self::Mavors(plan) => plan
                .chunks
                .iter()
                .map(|c| PlanChunk {
                    index: c.index,
                    start: c.start,
                    end: c.end,
                    frame_indices: c.frame_indices.clone(),
                    timestamps: c.timestamps.clone(),
                    padded: c.padded,
                })
                .collect(),
        }
    }

    /// Builds the decoder's view of the video from the decoded frames (`frames[i]` is frame
    /// `i` of [`VideoPlan::frames_to_decode`]). `mavors` is needed for a Mavors plan only.
    pub fn prepare(
        &self,
        timeline: &VideoTimeline,
        frames: &[RgbImage],
        settings: &VideoPlanSettings,
        processor: &ImageProcessorConfig,
        mavors: Option<&Mavors>,
        device: &candle_core::Device,
    ) -> Result<PreparedVideo> {
        let wanted = self.frames_to_decode();
        if frames.len() != wanted.len() {
            return Err(Error::Input(format!(
                "{} decoded frames given for the {} the plan samples",
                frames.len(),
                wanted.len()
            )));
        }
        let by_index: HashMap<usize, &RgbImage> = wanted.iter().copied().zip(frames).collect();
        let pick = |indices: &[usize]| -> Vec<RgbImage> {
            indices.iter().map(|i| by_index[i].clone()).collect()
        };
        let merge = settings.merge_size as usize;
        let steps = self.chunks(timeline);
        let spans = steps
            .iter()
            .map(|s| FrameSpan {
                frame: s.frame_indices[0],
                start: s.start,
                end: s.end,
            })
            .collect();
        match self {
            Self::Preview(plan) => {
                let (h, w) = plan.resized_hw;
                let resized = pick(&plan.indices)
                    .iter()
                    .map(|f| resize_bicubic_antialias_torch(f, w, h))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let patches = preprocess::preprocess_video_preview(&resized, processor)?;
                let [t, gh, gw] = patches.grid_thw;
                let seconds = plan.second_per_grid_t() as f32;
                Ok(PreparedVideo {
                    placeholder: VideoPlaceholder::Tokens(t * gh * gw / (merge * merge)),
                    grid: MediaGrid {
                        kind: MediaKind::Video,
                        frames: vec![(gh / merge, gw / merge); t],
                    },
                    spans,
                    vision: VideoVision::Pixels {
                        blocks: vec![RopeBlock {
                            grid: patches.grid_thw,
                            second_per_grid_t: seconds,
                        }],
                        patches: vec![patches],
                    },
                })
            }
            Self::SlowFast(sampling) => {
                let sampled = pick(&sampling.indices);
                let plan = plan_slowfast(&sampled, sampling.clone(), &settings.slowfast)?;
                let patches = preprocess::preprocess_video_slowfast(
                    &sampled,
                    &plan.kinds,
                    plan.budget.slow_hw,
                    plan.budget.fast_hw,
                    processor,
                )?;
                let grids: Vec<Grid> = patches.iter().map(|p| p.grid_thw).collect();
                let placeholder = VideoPlaceholder::SlowFast(
                    grids
                        .iter()
                        .zip(&plan.kinds)
                        .enumerate()
                        .map(|(i, (&[_, h, w], kind))| FramePlaceholder {
                            timestamp: sampling
                                .timestamps
                                .as_ref()
                                .and_then(|t| t.get(i))
                                .map(|&t| f64::from(t)),
                            fast: *kind == FrameKind::Fast,
                            tokens: h * w / (merge * merge),
                        })
                        .collect(),
                );
                Ok(PreparedVideo {
                    placeholder,
                    grid: MediaGrid {
                        kind: MediaKind::Video,
                        frames: grids
                            .iter()
                            .map(|&[_, h, w]| (h / merge, w / merge))
                            .collect(),
                    },
                    spans,
                    vision: VideoVision::Pixels {
                        blocks: grids
                            .iter()
                            .map(|&grid| RopeBlock {
                                grid,
                                second_per_grid_t: 0.0,
                            })
                            .collect(),
                        patches,
                    },
                })
            }
            Self::Mavors(plan) => {
                let mavors = mavors.ok_or_else(|| {
                    Error::Input("a Mavors plan needs the model's Mavors encoder".into())
                })?;
                let chunk_frames: Vec<RgbImage> = plan
                    .chunks
                    .iter()
                    .flat_map(|c| pick(&c.frame_indices))
                    .collect();
                let geometry = &plan.frame;
                let patches = frame_patches(&chunk_frames, geometry, processor, device)?;
                let encoded = mavors.encode_video(
                    &patches,
                    &plan.positions(),
                    geometry.grid_h,
                    geometry.grid_w,
                )?;
                let (rows, cols) = (geometry.pooled_h, geometry.pooled_w);
                let origin = timeline.frame_times[0];
                // Announced like SlowFast slow frames; the prompt builder falls back to bare
                // tokens for a tokenizer without frame markers (the Preview's).
                let placeholder = VideoPlaceholder::SlowFast(
                    plan.chunks
                        .iter()
                        .map(|c| FramePlaceholder {
                            timestamp: Some(c.start - origin),
                            fast: false,
                            tokens: rows * cols,
                        })
                        .collect(),
                );
                Ok(PreparedVideo {
                    placeholder,
                    grid: MediaGrid {
                        kind: MediaKind::Video,
                        frames: vec![(rows, cols); plan.chunks.len()],
                    },
                    spans,
                    vision: VideoVision::Encoded {
                        tokens: encoded.tokens,
                        blocks: vec![
                            RopeBlock {
                                grid: [1, rows * merge, cols * merge],
                                second_per_grid_t: 0.0,
                            };
                            plan.chunks.len()
                        ],
                    },
                })
            }
        }
    }
}

/// What a video plan will cost the model, known before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VisualEstimate {
    /// Visual tokens in the prompt.
    pub tokens: usize,
    /// Patches the vision tower encodes, and the most in one attention block.
    pub patches: usize,
    pub largest_block: usize,
    /// Temporal steps (sampled frames or chunks).
    pub steps: usize,
    /// False when the count is an upper bound (SlowFast before its pixels are seen).
    pub exact: bool,
}

/// The part of the video one temporal step of the decoder's view stands for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameSpan {
    /// The first decoded frame of the step.
    pub frame: usize,
    pub start: f64,
    pub end: f64,
}

/// Vision input of one video, ready for [`crate::keye::KeyeInputs`].
#[derive(Debug, Clone)]
pub enum VideoVision {
    /// For Keye's tower: patches and their rope blocks (one per video or per frame).
    Pixels {
        patches: Vec<Patches>,
        blocks: Vec<RopeBlock>,
    },
    /// Already in the decoder's width (Mavors): `(tokens, hidden)` and one block per chunk.
    Encoded {
        tokens: Tensor,
        blocks: Vec<RopeBlock>,
    },
}

/// One video as the decoder will see it.
#[derive(Debug, Clone)]
pub struct PreparedVideo {
    /// How the chat template's `<|video_pad|>` of this video expands.
    pub placeholder: VideoPlaceholder,
    /// Merged-token grid of every temporal step (for mapping attention back).
    pub grid: MediaGrid,
    /// `spans[i]` is the part of the video temporal step `i` of `grid` covers.
    pub spans: Vec<FrameSpan>,
    pub vision: VideoVision,
}
