//! Keye-VL-1.5 SlowFast video planning, as keye-vl-utils 1.5.2 `fetch_video` does it.
//!
//! 1. Sampling: `min(int(total / video_fps * fps), max_frames)` frames at
//!    `linspace(0, total - 1, n).round()`, timestamps `i / video_fps` (float32).
//! 2. Labels: frames resized (torch uint8 antialiased bilinear) to at most 256 tokens, converted
//!    to OpenCV HSV, cut into 28x28 patches; a frame whose fraction of patches with cosine
//!    similarity > 0.7 to the last slow frame is below 0.9 starts a new slow frame.
//! 3. Budget: a binary search for the per-slow-frame token bound under `video_total_pixels`,
//!    then the slow size and the fast size (30 % of the slow tokens, at least 48).

use image::RgbImage;

use super::plan::{FrameLabel, PlannedFrame, SamplingPlan};
use super::smart_resize::smart_resize_f64;
use super::{FetchImageOptions, IMAGE_FACTOR, PreprocessError, SmartResizeVariant, hsv, torch};

const TOKEN_PIXELS: u64 = (IMAGE_FACTOR * IMAGE_FACTOR) as u64;
/// Fewest pixels per video frame (48 tokens).
pub const VIDEO_MIN_PIXELS: u64 = 48 * TOKEN_PIXELS;
/// Most pixels per video frame (768 tokens).
pub const VIDEO_MAX_PIXELS: u64 = 768 * TOKEN_PIXELS;
/// Pixel budget of a whole video (65536 tokens).
pub const VIDEO_TOTAL_PIXELS: u64 = 65536 * TOKEN_PIXELS;
/// Default sampling rate in frames per second.
pub const FPS: f64 = 2.0;
/// A fast frame gets this share of a slow frame's tokens.
pub const FAST_TOKEN_RATIO: f64 = 0.3;
/// Below this fraction of similar patches a frame becomes a new slow frame.
pub const MIN_FRAME_SIMILARITY: f64 = 0.9;
/// Frames are compared at no more than this many pixels (256 tokens).
const SIMILARITY_MAX_PIXELS: u64 = 256 * TOKEN_PIXELS;
/// A patch is similar when its cosine similarity exceeds this (compared in float32).
const PATCH_SIMILARITY: f32 = 0.7;

/// A 1.5 video frame's role: slow frames get the full token budget, fast frames about 30 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FrameKind {
    Slow,
    Fast,
}

impl FrameKind {
    /// The reference's `frame_types` value: 0 = slow, 1 = fast.
    pub fn type_id(self) -> i64 {
        match self {
            FrameKind::Slow => 0,
            FrameKind::Fast => 1,
        }
    }
}

/// The keys of a keye-vl-utils video message (`ele`); `None` means the package default.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlowFastOptions {
    /// `fps`: sampling rate; for a list of frames also their rate, which enables timestamps.
    pub fps: Option<f64>,
    pub min_pixels: Option<u64>,
    pub max_pixels: Option<u64>,
    pub max_frames: Option<u64>,
    pub video_total_pixels: Option<u64>,
    pub min_frame_similarity: Option<f64>,
    /// `resized_height`/`resized_width`, only used when frames are given as a list.
    pub resized_hw: Option<(u32, u32)>,
}

impl SlowFastOptions {
    fn min_pixels_raw(&self) -> u64 {
        self.min_pixels.unwrap_or(VIDEO_MIN_PIXELS)
    }

    fn total_pixels(&self) -> u64 {
        self.video_total_pixels.unwrap_or(VIDEO_TOTAL_PIXELS)
    }

    fn threshold(&self) -> f64 {
        self.min_frame_similarity.unwrap_or(MIN_FRAME_SIMILARITY)
    }

    /// How `fetch_image(is_video=True)` resizes each frame of a frame list.
    pub fn fetch_options(&self) -> FetchImageOptions {
        FetchImageOptions {
            min_pixels: self.min_pixels_raw(),
            max_pixels: self.max_pixels.unwrap_or(VIDEO_MAX_PIXELS),
            resized_hw: self.resized_hw,
            ..FetchImageOptions::video_frames_v1_5()
        }
    }

    fn check(&self) -> Result<(), PreprocessError> {
        if self.fps.is_some_and(|f| !(f > 0.0 && f.is_finite())) {
            return Err(PreprocessError::InvalidOption(format!(
                "fps must be a positive number, got {:?}",
                self.fps
            )));
        }
        if self.min_pixels == Some(0) {
            return Err(PreprocessError::InvalidOption(
                "min_pixels must be positive".into(),
            ));
        }
        Ok(())
    }

    /// `smart_nframes` of keye-vl-utils 1.5.2.
    fn nframes(&self, total_frames: usize, video_fps: f64) -> usize {
        let fps = self.fps.unwrap_or(FPS).min(video_fps);
        let cap = (self.total_pixels() as f64 / self.min_pixels_raw() as f64) as u64;
        let max_frames = self.max_frames.unwrap_or(cap).min(cap);
        let by_fps = (total_frames as f64 / video_fps * fps) as u64;
        by_fps.min(max_frames) as usize
    }
}

/// Which frames of the source a 1.5 video uses, and their timestamps in seconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlowFastSampling {
    pub indices: Vec<usize>,
    /// `None` for a frame list given without `fps`: the prompt then carries no numbers.
    pub timestamps: Option<Vec<f32>>,
}

fn sample(
    n_source: usize,
    rate_for_count: f64,
    timestamp_rate: Option<f64>,
    opts: &SlowFastOptions,
) -> Result<SlowFastSampling, PreprocessError> {
    opts.check()?;
    let n = opts.nframes(n_source, rate_for_count);
    let indices: Vec<usize> = torch::linspace_round(0.0, n_source as f64 - 1.0, n)
        .into_iter()
        .map(|i| i.clamp(0, n_source.saturating_sub(1) as i64) as usize)
        .collect();
    let timestamps = timestamp_rate.map(|rate| {
        indices
            .iter()
            .map(|&i| ((1.0 / rate) * i as f64) as f32)
            .collect()
    });
    Ok(SlowFastSampling {
        indices,
        timestamps,
    })
}

/// Sampling of a decoded video file (keye-vl-utils' decord path): `total_frames` at `video_fps`.
pub fn sample_slowfast_video(
    total_frames: usize,
    video_fps: f64,
    opts: &SlowFastOptions,
) -> Result<SlowFastSampling, PreprocessError> {
    if !(video_fps > 0.0 && video_fps.is_finite()) {
        return Err(PreprocessError::InvalidOption(format!(
            "video fps must be a positive number, got {video_fps}"
        )));
    }
    sample(total_frames, video_fps, Some(video_fps), opts)
}

/// Sampling of a video given as a list of `n_frames` images: counted at `fps` (default 2), with
/// timestamps only when `fps` is given. The frames themselves go through
/// [`super::fetch_image`] with [`SlowFastOptions::fetch_options`] first.
pub fn sample_slowfast_frame_list(
    n_frames: usize,
    opts: &SlowFastOptions,
) -> Result<SlowFastSampling, PreprocessError> {
    sample(n_frames, opts.fps.unwrap_or(FPS), opts.fps, opts)
}

fn frame_size(frames: &[RgbImage]) -> Result<(u32, u32), PreprocessError> {
    let first = frames.first().ok_or(PreprocessError::NoFrames)?;
    for (index, f) in frames.iter().enumerate() {
        if f.dimensions() != first.dimensions() {
            return Err(PreprocessError::FrameSizeMismatch {
                index,
                height: first.height(),
                width: first.width(),
                got_h: f.height(),
                got_w: f.width(),
            });
        }
    }
    Ok((first.height(), first.width()))
}

/// `get_frame_sim`: the fraction of 28x28 HSV patches whose cosine similarity exceeds 0.7, over
/// patches that are not black in both frames, as float32 (NaN when every patch is black in both,
/// which never starts a slow frame). `a` and `b` are HSV, HWC, `height` x `width`, both
/// multiples of 28.
pub fn frame_similarity(
    a: &[u8],
    b: &[u8],
    height: usize,
    width: usize,
) -> Result<f32, PreprocessError> {
    const P: usize = IMAGE_FACTOR as usize;
    const EPSILON: f64 = 1e-8;
    let expected = height * width * 3;
    if a.len() != expected
        || b.len() != expected
        || !height.is_multiple_of(P)
        || !width.is_multiple_of(P)
    {
        return Err(PreprocessError::InvalidOption(format!(
            "frame similarity needs two {height}x{width} HSV frames with sides multiple of {P}, \
             got {} and {} bytes",
            a.len(),
            b.len()
        )));
    }
    let (mut similar, mut counted) = (0u32, 0u32);
    for py in 0..height / P {
        for px in 0..width / P {
            let (mut dot, mut na, mut nb) = (0u64, 0u64, 0u64);
            for y in py * P..(py + 1) * P {
                let row = (y * width + px * P) * 3;
                for i in row..row + P * 3 {
                    let (x, z) = (a[i] as u64, b[i] as u64);
                    dot += x * z;
                    na += x * x;
                    nb += z * z;
                }
            }
            let (na, nb) = ((na as f64).sqrt() + EPSILON, (nb as f64).sqrt() + EPSILON);
            if na < 0.01 && nb < 0.01 {
                continue;
            }
            counted += 1;
            if ((dot as f64 / (na * nb)) as f32) > PATCH_SIMILARITY {
                similar += 1;
            }
        }
    }
    Ok(similar as f32 / counted as f32)
}

/// `extract_slow_fast_frames`: frame 0 is slow; a later frame is slow when its similarity to the
/// last slow frame is below `min_frame_similarity` (default 0.9).
pub fn slowfast_frame_kinds(
    frames: &[RgbImage],
    opts: &SlowFastOptions,
) -> Result<Vec<FrameKind>, PreprocessError> {
    let (h, w) = frame_size(frames)?;
    let (rh, rw) = smart_resize_f64(
        h,
        w,
        IMAGE_FACTOR,
        VIDEO_MIN_PIXELS as f64,
        SIMILARITY_MAX_PIXELS as f64,
        SmartResizeVariant::KeyeVlUtils,
    )?;
    let hsv = frames
        .iter()
        .map(|f| {
            Ok(hsv::rgb_to_hsv_image(
                torch::resize_bilinear_antialias(f, rw, rh)?.as_raw(),
            ))
        })
        .collect::<Result<Vec<_>, PreprocessError>>()?;
    let threshold = opts.threshold();
    let mut kinds = vec![FrameKind::Slow];
    let mut last_slow = 0;
    for i in 1..hsv.len() {
        let sim = frame_similarity(&hsv[last_slow], &hsv[i], rh as usize, rw as usize)?;
        if (sim as f64) < threshold {
            kinds.push(FrameKind::Slow);
            last_slow = i;
        } else {
            kinds.push(FrameKind::Fast);
        }
    }
    Ok(kinds)
}

/// The token-budget search and the resulting slow and fast frame sizes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlowFastBudget {
    /// The searched per-slow-frame token bound (the first value over budget, or the upper end).
    pub tokens_per_slow_frame_bound: f64,
    pub slow_max_pixels: f64,
    pub fast_max_pixels: u64,
    /// `(height, width)` of slow frames.
    pub slow_hw: (u32, u32),
    /// `(height, width)` of fast frames.
    pub fast_hw: (u32, u32),
}

/// The budget search of `fetch_video` for `slow_frames` + `fast_frames` frames of
/// `height` x `width`.
pub fn slowfast_sizes(
    slow_frames: u64,
    fast_frames: u64,
    height: u32,
    width: u32,
    opts: &SlowFastOptions,
) -> Result<SlowFastBudget, PreprocessError> {
    opts.check()?;
    let tp = TOKEN_PIXELS as f64;
    let min_pixels = opts.min_pixels_raw().max(VIDEO_MIN_PIXELS);
    let min_tokens = min_pixels / TOKEN_PIXELS;
    let budget = opts.total_pixels() as u128;
    let estimate = |tokens: u64| -> u128 {
        let fast_tokens = ((FAST_TOKEN_RATIO * tokens as f64) as u64).max(min_tokens);
        (slow_frames as u128 * tokens as u128 + fast_frames as u128 * fast_tokens as u128)
            * TOKEN_PIXELS as u128
    };
    let mut left = min_pixels as f64 / tp;
    let mut right = opts.max_pixels.unwrap_or(VIDEO_MAX_PIXELS) as f64 / tp;
    while left < right {
        let mid = (left + right) as u64 / 2;
        if estimate(mid) > budget {
            right = mid as f64;
        } else {
            left = (mid + 1) as f64;
        }
    }
    let slow_max_pixels = left * tp;
    let variant = SmartResizeVariant::KeyeVlUtils;
    let slow_hw = smart_resize_f64(
        height,
        width,
        IMAGE_FACTOR,
        min_pixels as f64,
        slow_max_pixels,
        variant,
    )?;
    let slow_tokens = slow_hw.0 as f64 * slow_hw.1 as f64 / tp;
    let fast_max_pixels =
        ((slow_tokens * FAST_TOKEN_RATIO) as u64 * TOKEN_PIXELS).max(VIDEO_MIN_PIXELS);
    let fast_hw = smart_resize_f64(
        height,
        width,
        IMAGE_FACTOR,
        min_pixels as f64,
        fast_max_pixels as f64,
        variant,
    )?;
    Ok(SlowFastBudget {
        tokens_per_slow_frame_bound: left,
        slow_max_pixels,
        fast_max_pixels,
        slow_hw,
        fast_hw,
    })
}

/// Everything keye-vl-utils 1.5.2 decides about one video: the processor kwargs (sizes,
/// timestamps, frame types) plus the sampled source indices.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlowFastPlan {
    pub sampling: SlowFastSampling,
    pub kinds: Vec<FrameKind>,
    /// Size of the sampled frames the plan was made from.
    pub frame_hw: (u32, u32),
    pub budget: SlowFastBudget,
}

/// Plans a 1.5 video from its sampled frames (decoded at `sampling.indices`, or, for a frame
/// list, already passed through `fetch_image`).
pub fn plan_slowfast(
    frames: &[RgbImage],
    sampling: SlowFastSampling,
    opts: &SlowFastOptions,
) -> Result<SlowFastPlan, PreprocessError> {
    if frames.len() != sampling.indices.len() {
        return Err(PreprocessError::InvalidOption(format!(
            "{} frames given for {} sampled indices",
            frames.len(),
            sampling.indices.len()
        )));
    }
    let frame_hw = frame_size(frames)?;
    let kinds = slowfast_frame_kinds(frames, opts)?;
    let fast = kinds.iter().filter(|k| **k == FrameKind::Fast).count() as u64;
    let budget = slowfast_sizes(
        kinds.len() as u64 - fast,
        fast,
        frame_hw.0,
        frame_hw.1,
        opts,
    )?;
    Ok(SlowFastPlan {
        sampling,
        kinds,
        frame_hw,
        budget,
    })
}

impl SlowFastPlan {
    /// `(height, width)` a frame of this kind is resized to.
    pub fn size_of(&self, kind: FrameKind) -> (u32, u32) {
        match kind {
            FrameKind::Slow => self.budget.slow_hw,
            FrameKind::Fast => self.budget.fast_hw,
        }
    }

    /// The `[1, h, w]` patch grid of every frame, in frame order (what the ViT sees).
    pub fn per_frame_grids(&self, patch_size: u32) -> Vec<[usize; 3]> {
        let p = patch_size.max(1);
        self.kinds
            .iter()
            .map(|&k| {
                let (h, w) = self.size_of(k);
                [1, (h / p) as usize, (w / p) as usize]
            })
            .collect()
    }

    /// The processor's `video_grid_thw`.
    pub fn merged_grids(&self, patch_size: u32) -> Vec<[usize; 3]> {
        merge_frame_grids(&self.per_frame_grids(patch_size))
    }

    /// What the UI draws for this video.
    pub fn sampling_plan(&self, patch_size: u32, merge_size: u32) -> SamplingPlan {
        let grids = self.per_frame_grids(patch_size);
        let frames = self
            .kinds
            .iter()
            .zip(grids)
            .zip(&self.sampling.indices)
            .enumerate()
            .map(|(i, ((&kind, grid), &source_index))| PlannedFrame {
                source_index,
                timestamp_s: self
                    .sampling
                    .timestamps
                    .as_ref()
                    .and_then(|t| t.get(i))
                    .map(|&t| t as f64),
                label: match kind {
                    FrameKind::Slow => FrameLabel::Slow,
                    FrameKind::Fast => FrameLabel::Fast,
                },
                grid_thw: grid,
                tokens: grid.iter().product::<usize>() / (merge_size.max(1) as usize).pow(2),
            })
            .collect();
        SamplingPlan {
            frames,
            sample_fps: None,
        }
    }
}

/// The 1.5 processor's `merge_thw`: runs of equal consecutive `[t, h, w]` frame grids become one
/// `[sum of t, h, w]`.
pub fn merge_frame_grids(frames: &[[usize; 3]]) -> Vec<[usize; 3]> {
    let mut merged: Vec<[usize; 3]> = Vec::new();
    for &[t, h, w] in frames {
        match merged.last_mut() {
            Some(last) if last[1] == h && last[2] == w => last[0] += t,
            _ => merged.push([t, h, w]),
        }
    }
    merged
}
