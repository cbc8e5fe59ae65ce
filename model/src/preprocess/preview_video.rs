//! Keye-VL-8B-Preview video sampling (keye-vl-utils 1.0) and its frame resize.
//!
//! A decoded video keeps an even number of frames between `min_frames` and `max_frames` at the
//! requested fps, taken at `linspace(start, end, n).round()`; every frame is resized to one size
//! whose pixel count shares `total_pixels` among the frames, with torchvision's antialiased
//! bicubic on float32, rounded back to uint8. A list of frames instead goes through
//! `fetch_image` and is padded to an even length with its last frame.

use image::RgbImage;

use super::plan::{FrameLabel, PlannedFrame, SamplingPlan};
use super::smart_resize::smart_resize_f64;
use super::{
    FetchImageOptions, IMAGE_FACTOR, PreprocessError, SmartResizeVariant, fetch_image, torch,
};

const TOKEN_PIXELS: f64 = (IMAGE_FACTOR * IMAGE_FACTOR) as f64;
const FRAME_FACTOR: u64 = 2;
const FPS: f64 = 2.0;
const FPS_MIN_FRAMES: f64 = 4.0;
const FPS_MAX_FRAMES: f64 = 768.0;
const VIDEO_MIN_PIXELS: f64 = 128.0 * TOKEN_PIXELS;
const VIDEO_MAX_PIXELS: f64 = 768.0 * TOKEN_PIXELS;
/// `int(128000 * 28 * 28 * 0.9)`, the package default without the `VIDEO_MAX_PIXELS` env var.
const VIDEO_TOTAL_PIXELS: f64 = 90_316_800.0;

/// The keys of a keye-vl-utils 1.0 video message; `None` means the package default.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreviewVideoOptions {
    pub fps: Option<f64>,
    /// A fixed frame count (rounded to even); excludes `fps`.
    pub nframes: Option<u64>,
    pub min_frames: Option<f64>,
    pub max_frames: Option<f64>,
    pub min_pixels: Option<f64>,
    pub max_pixels: Option<f64>,
    pub total_pixels: Option<f64>,
    pub resized_hw: Option<(u32, u32)>,
    /// Seconds; the clip starts at the first frame at or after it.
    pub video_start: Option<f64>,
    /// Seconds; the clip ends at the last frame at or before it.
    pub video_end: Option<f64>,
}

/// The sampling and frame size keye-vl-utils 1.0 picks for a decoded video.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreviewVideoPlan {
    pub indices: Vec<usize>,
    /// `nframes / clip_frames * video_fps`; the processor's `fps` for this video.
    pub sample_fps: f64,
    pub video_fps: f64,
    /// `(height, width)` every frame is resized to.
    pub resized_hw: (u32, u32),
}

fn invalid(msg: String) -> PreprocessError {
    PreprocessError::InvalidOption(msg)
}

/// Python's `round(x / 2) * 2` on a frame count.
fn round2(x: f64) -> f64 {
    (x / FRAME_FACTOR as f64).round_ties_even() * FRAME_FACTOR as f64
}

/// keye-vl-utils' uniform rule (`smart_nframes` with `fps`): how many frames a clip of `total`
/// frames at `video_fps` gets when sampled at `fps`: `total / video_fps * fps`, raised to
/// `min_frames` rounded up to a multiple of `factor`, capped by `max_frames` and by `total`, then
/// rounded down to a multiple of `factor` (Keye-VL's is 2). The one implementation of the rule:
/// the model's Preview sampling and the app's `frames --fps` both count with it.
pub fn uniform_frame_count(
    total: usize,
    video_fps: f64,
    fps: f64,
    min_frames: f64,
    max_frames: f64,
    factor: usize,
) -> usize {
    let factor = factor.max(1) as f64;
    let ceil = |x: f64| (x / factor).ceil() * factor;
    let floor = |x: f64| (x / factor).floor() * factor;
    let total = total as f64;
    let wanted = total / video_fps * fps;
    floor(
        wanted
            .max(ceil(min_frames))
            .min(floor(max_frames))
            .min(total),
    )
    .max(0.0) as usize
}

/// The frames the uniform rule takes from the clip `start..=end`: `n` indices at
/// `torch.linspace(start, end, n).round()`, as keye-vl-utils samples them.
pub fn uniform_frame_indices(start: usize, end: usize, n: usize) -> Vec<usize> {
    torch::linspace_round(start as f64, end as f64, n)
        .into_iter()
        .map(|i| i.clamp(start as i64, end as i64) as usize)
        .collect()
}

/// `calculate_video_frame_range`: first frame, last frame, frame count of the clip.
fn frame_range(
    opts: &PreviewVideoOptions,
    total: usize,
    video_fps: f64,
) -> Result<(usize, usize, usize), PreprocessError> {
    if !(video_fps > 0.0 && video_fps.is_finite()) {
        return Err(invalid("video_fps must be a positive number".into()));
    }
    if total == 0 {
        return Err(invalid("total_frames must be a positive integer".into()));
    }
    if opts.video_start.is_none() && opts.video_end.is_none() {
        return Ok((0, total - 1, total));
    }
    let max_duration = total as f64 / video_fps;
    let start = opts.video_start.map_or(0, |s| {
        (s.clamp(0.0, max_duration) * video_fps).ceil() as usize
    });
    let end = opts.video_end.map_or(total - 1, |e| {
        ((e.clamp(0.0, max_duration) * video_fps).floor() as usize).min(total - 1)
    });
    if start >= end {
        return Err(invalid(format!(
            "invalid time range: start frame {start} is not before end frame {end}"
        )));
    }
    Ok((start, end, end - start + 1))
}

/// `smart_nframes` of keye-vl-utils 1.0.
fn nframes(
    opts: &PreviewVideoOptions,
    total: usize,
    video_fps: f64,
) -> Result<u64, PreprocessError> {
    let total_f = total as f64;
    let n = match (opts.nframes, opts.fps) {
        (Some(_), Some(_)) => return Err(invalid("Only accept either `fps` or `nframes`".into())),
        (Some(n), None) => round2(n as f64),
        (None, fps) => uniform_frame_count(
            total,
            video_fps,
            fps.unwrap_or(FPS),
            opts.min_frames.unwrap_or(FPS_MIN_FRAMES),
            opts.max_frames.unwrap_or(FPS_MAX_FRAMES.min(total_f)),
            FRAME_FACTOR as usize,
        ) as f64,
    };
    if !(FRAME_FACTOR as f64 <= n && n <= total_f) {
        return Err(PreprocessError::FrameCount {
            min: FRAME_FACTOR,
            total: total as u64,
            got: n.max(0.0) as u64,
        });
    }
    Ok(n as u64)
}

/// Plans a decoded Preview video of `total_frames` frames at `video_fps`, each `frame_hw`
/// (height, width): which frames to decode and the size to resize them to.
pub fn plan_preview_video(
    total_frames: usize,
    video_fps: f64,
    frame_hw: (u32, u32),
    opts: &PreviewVideoOptions,
) -> Result<PreviewVideoPlan, PreprocessError> {
    let (start, end, clip_frames) = frame_range(opts, total_frames, video_fps)?;
    let n = nframes(opts, clip_frames, video_fps)?;
    let indices = uniform_frame_indices(start, end, n as usize);
    let sample_fps = n as f64 / (clip_frames as f64).max(1e-6) * video_fps;
    let min_pixels = opts.min_pixels.unwrap_or(VIDEO_MIN_PIXELS);
    let total_pixels = opts.total_pixels.unwrap_or(VIDEO_TOTAL_PIXELS);
    let cap = VIDEO_MAX_PIXELS
        .min(total_pixels / n as f64 * FRAME_FACTOR as f64)
        .max((min_pixels * 1.05).trunc());
    let max_pixels = opts.max_pixels.unwrap_or(cap).min(cap);
    let variant = SmartResizeVariant::KeyeVlUtils;
    let resized_hw = match opts.resized_hw {
        Some((h, w)) => {
            let defaults = FetchImageOptions::images_v1_0().default_image_limits;
            smart_resize_f64(
                h,
                w,
                IMAGE_FACTOR,
                defaults.0 as f64,
                defaults.1 as f64,
                variant,
            )?
        }
        None => smart_resize_f64(
            frame_hw.0,
            frame_hw.1,
            IMAGE_FACTOR,
            min_pixels,
            max_pixels,
            variant,
        )?,
    };
    Ok(PreviewVideoPlan {
        indices,
        sample_fps,
        video_fps,
        resized_hw,
    })
}

impl PreviewVideoPlan {
    /// `second_per_grid_t` of the processor: temporal patch 1 over the sampled fps.
    pub fn second_per_grid_t(&self) -> f64 {
        1.0 / self.sample_fps
    }

    /// What the UI draws: every frame uniform, at its source time.
    pub fn sampling_plan(&self, patch_size: u32, merge_size: u32) -> SamplingPlan {
        let p = patch_size.max(1);
        let grid = [
            1,
            (self.resized_hw.0 / p) as usize,
            (self.resized_hw.1 / p) as usize,
        ];
        let tokens = grid[1] * grid[2] / (merge_size.max(1) as usize).pow(2);
        let frames = self
            .indices
            .iter()
            .map(|&i| PlannedFrame {
                source_index: i,
                timestamp_s: Some(i as f64 / self.video_fps),
                label: FrameLabel::Uniform,
                grid_thw: grid,
                tokens,
            })
            .collect();
        SamplingPlan {
            frames,
            sample_fps: Some(self.sample_fps),
        }
    }
}

/// The Preview path for a video given as a list of frames: each frame through `fetch_image`,
/// the list padded to an even length with its last frame; returns the frames and the fps the
/// processor gets (`fps` or 2).
pub fn fetch_preview_frame_list(
    frames: &[RgbImage],
    opts: &FetchImageOptions,
    fps: Option<f64>,
) -> Result<(Vec<RgbImage>, f64), PreprocessError> {
    let mut out = frames
        .iter()
        .map(|f| fetch_image(f, opts))
        .collect::<Result<Vec<_>, _>>()?;
    let last = out.last().cloned().ok_or(PreprocessError::NoFrames)?;
    while out.len() % FRAME_FACTOR as usize != 0 {
        out.push(last.clone());
    }
    Ok((out, fps.unwrap_or(FPS)))
}

/// torch's float32 Keys cubic for antialiased resize (`HelperInterpCubic::aa_filter`, a = -0.5).
fn cubic_f32(x: f32) -> f32 {
    const A: f32 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

/// One axis of torch's float32 antialiased weights (`_compute_indices_min_size_weights_aa`
/// with `scalar_t = float`), mixing float and double where the C++ does.
fn cubic_axis(in_size: usize, out_size: usize) -> (Vec<usize>, Vec<Vec<f32>>) {
    let scale = in_size as f32 / out_size as f32;
    let support = if scale >= 1.0 {
        (2.0 * scale as f64) as f32
    } else {
        2.0
    };
    let taps = support.ceil() as usize * 2 + 1;
    let invscale = if scale >= 1.0 {
        (1.0 / scale as f64) as f32
    } else {
        1.0
    };
    let mut first = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for i in 0..out_size {
        let center = (scale as f64 * (i as f64 + 0.5)) as f32;
        let xmin = (((center - support) as f64 + 0.5) as i64).max(0);
        let xsize = ((((center + support) as f64 + 0.5) as i64).min(in_size as i64) - xmin)
            .clamp(0, taps as i64) as usize;
        let mut w: Vec<f32> = (0..xsize)
            .map(|j| {
                let x = (((j as i64 + xmin) as f32 - center) as f64 + 0.5) * invscale as f64;
                cubic_f32(x as f32)
            })
            .collect();
        let total: f32 = w.iter().fold(0.0, |acc, v| acc + v);
        if total != 0.0 {
            w.iter_mut().for_each(|v| *v /= total);
        }
        first.push(xmin as usize);
        weights.push(w);
    }
    (first, weights)
}

/// torchvision `F.resize(uint8 frames, [h, w], BICUBIC, antialias=True)` as keye-vl-utils 1.0
/// runs it on decoded Preview videos: float32 horizontal then vertical pass, clamp to 0..=255,
/// round half to even, back to uint8.
pub fn resize_bicubic_antialias_torch(
    src: &RgbImage,
    width: u32,
    height: u32,
) -> Result<RgbImage, PreprocessError> {
    super::check_resize(src, width, height)?;
    let (in_w, in_h) = src.dimensions();
    if (in_w, in_h) == (width, height) {
        return Ok(src.clone());
    }
    let (in_w, in_h, out_w, out_h) = (
        in_w as usize,
        in_h as usize,
        width as usize,
        height as usize,
    );
    let mut data: Vec<f32> = src.as_raw().iter().map(|&v| v as f32).collect();
    if out_w != in_w {
        let (first, weights) = cubic_axis(in_w, out_w);
        let mut out = vec![0f32; in_h * out_w * 3];
        for y in 0..in_h {
            for x in 0..out_w {
                for c in 0..3 {
                    let px = |j: usize| data[(y * in_w + first[x] + j) * 3 + c];
                    let k = &weights[x];
                    // Starting from 0.0 is bit-identical to torch starting from the first product.
                    let acc = k
                        .iter()
                        .enumerate()
                        .fold(0.0, |acc, (j, w)| acc + px(j) * w);
                    out[(y * out_w + x) * 3 + c] = acc;
                }
            }
        }
        data = out;
    }
    if out_h != in_h {
        let (first, weights) = cubic_axis(in_h, out_h);
        let mut out = vec![0f32; out_h * out_w * 3];
        for y in 0..out_h {
            let k = &weights[y];
            for x in 0..out_w {
                for c in 0..3 {
                    let px = |j: usize| data[((first[y] + j) * out_w + x) * 3 + c];
                    let acc = k
                        .iter()
                        .enumerate()
                        .fold(0.0, |acc, (j, w)| acc + px(j) * w);
                    out[(y * out_w + x) * 3 + c] = acc;
                }
            }
        }
        data = out;
    }
    let bytes = data
        .iter()
        .map(|v| v.clamp(0.0, 255.0).round_ties_even() as u8)
        .collect();
    RgbImage::from_raw(width, height, bytes).ok_or(PreprocessError::EmptyResize {
        from: (in_h as u32, in_w as u32),
        to: (height, width),
    })
}
