//! Keye-VL preprocessing, exactly as the reference Python computes it.
//!
//! Every integer the model sees (sizes, grids, frame choices) and every pixel value comes out of
//! a chain of Python libraries: keye-vl-utils (`smart_resize`, Pillow resize, frame sampling,
//! SlowFast selection with OpenCV HSV and torch's antialiased resize) and the HF image processor
//! (a second `smart_resize` + Pillow resize, rescale, normalize, patchify). Each kernel here
//! reproduces its reference bit for bit, so a prompt built in Rust has the same tokens, grids and
//! pixel values as the reference: there is no tolerance to hide a wrong frame choice behind.
//!
//! No decoding happens here: the app decodes and hands over [`image::RgbImage`] frames.

mod config;
mod hsv;
mod pillow;
mod plan;
mod preview_video;
mod slowfast;
mod smart_resize;
mod torch;

use std::path::PathBuf;

use image::RgbImage;

pub use config::ImageProcessorConfig;
pub use hsv::{rgb_to_hsv, rgb_to_hsv_image};
pub use pillow::resize_bicubic as resize_bicubic_pillow;
pub use plan::{FrameLabel, PlannedFrame, SamplingPlan};
pub use preview_video::{
    PreviewVideoOptions, PreviewVideoPlan, fetch_preview_frame_list, plan_preview_video,
    resize_bicubic_antialias_torch, uniform_frame_count, uniform_frame_indices,
};
pub use slowfast::{
    FAST_TOKEN_RATIO, FrameKind, MIN_FRAME_SIMILARITY, SlowFastBudget, SlowFastOptions,
    SlowFastPlan, SlowFastSampling, VIDEO_MAX_PIXELS, VIDEO_MIN_PIXELS, VIDEO_TOTAL_PIXELS,
    frame_similarity, merge_frame_grids, plan_slowfast, sample_slowfast_frame_list,
    sample_slowfast_video, slowfast_frame_kinds, slowfast_sizes,
};
pub use smart_resize::{MAX_ASPECT_RATIO, SmartResizeVariant, smart_resize};
pub use torch::{linspace_round, resize_bilinear_antialias as resize_bilinear_antialias_torch};

/// `IMAGE_FACTOR` of keye-vl-utils: patch 14 x merge 2.
pub const IMAGE_FACTOR: u32 = 28;

/// Why preprocessing refused an input. Messages follow the reference where it has one.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("absolute aspect ratio must be smaller than 200, got {ratio:?}")]
    AspectRatio { ratio: f64 },
    #[error("cannot resize a {height}x{width} image with factor {factor}: a side is zero")]
    ZeroSize {
        height: u32,
        width: u32,
        factor: u32,
    },
    #[error("resizing {height}x{width} gives a side too large to represent")]
    SizeOverflow { height: u32, width: u32 },
    #[error("cannot resize {}x{} to {}x{}: height and width must be > 0", from.0, from.1, to.0, to.1)]
    EmptyResize { from: (u32, u32), to: (u32, u32) },
    #[error("resized size {height}x{width} is not a multiple of patch {patch} x merge {merge}")]
    NotPatchAligned {
        height: u32,
        width: u32,
        patch: u32,
        merge: u32,
    },
    #[error(
        "frame {index} is {got_h}x{got_w} but frame 0 is {height}x{width}: frames of one video must share a size"
    )]
    FrameSizeMismatch {
        index: usize,
        height: u32,
        width: u32,
        got_h: u32,
        got_w: u32,
    },
    #[error("{frames} frames but {kinds} slow/fast labels")]
    KindsMismatch { frames: usize, kinds: usize },
    #[error("a video needs at least one frame")]
    NoFrames,
    #[error("nframes should in interval [{min}, {total}], but got {got}.")]
    FrameCount { min: u64, total: u64, got: u64 },
    #[error("invalid video option: {0}")]
    InvalidOption(String),
    // Causes are printed in the message and not exposed as `source()` (no repeats in a chain).
    #[error("cannot read preprocessor config {}: {cause}", path.display())]
    ConfigRead {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("preprocessor config {} is not valid: {cause}", path.display())]
    ConfigParse {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("preprocessor config {}: {problem}", path.display())]
    ConfigInvalid { path: PathBuf, problem: String },
}

/// Patches in the reference layout: `(N, 3, patch, patch)` row-major f32, `N = t * h * w`,
/// frame by frame and raster order inside each frame (no 2x2 pre-permutation).
#[derive(Debug, Clone, PartialEq)]
pub struct Patches {
    pub pixel_values: Vec<f32>,
    /// `[t, h, w]` in patches.
    pub grid_thw: [usize; 3],
}

impl Patches {
    /// Number of patch rows (`t * h * w`).
    pub fn num_patches(&self) -> usize {
        self.grid_thw.iter().product()
    }
}

/// keye-vl-utils `fetch_image` settings. The constructors give each package version's defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FetchImageOptions {
    pub factor: u32,
    pub min_pixels: u64,
    pub max_pixels: u64,
    /// `resized_height`/`resized_width` of the message: the image goes to
    /// `smart_resize(h, w, factor)` with the package's default image limits
    /// (`default_image_limits`), not `min_pixels`/`max_pixels`.
    pub resized_hw: Option<(u32, u32)>,
    /// The package's `MIN_PIXELS`/`MAX_PIXELS`, used with `resized_hw`.
    pub default_image_limits: (u64, u64),
}

impl FetchImageOptions {
    /// keye-vl-utils 1.5.2 images: 4..20480 tokens.
    pub fn images_v1_5() -> Self {
        let limits = (4 * 28 * 28, 20480 * 28 * 28);
        Self {
            factor: IMAGE_FACTOR,
            min_pixels: limits.0,
            max_pixels: limits.1,
            resized_hw: None,
            default_image_limits: limits,
        }
    }

    /// keye-vl-utils 1.0.0 (the Preview's): 4..16384 tokens.
    pub fn images_v1_0() -> Self {
        let limits = (4 * 28 * 28, 16384 * 28 * 28);
        Self {
            min_pixels: limits.0,
            max_pixels: limits.1,
            default_image_limits: limits,
            ..Self::images_v1_5()
        }
    }

    /// keye-vl-utils 1.5.2 frames given as a list of images (`is_video=True`): 48..768 tokens.
    pub fn video_frames_v1_5() -> Self {
        Self {
            min_pixels: slowfast::VIDEO_MIN_PIXELS,
            max_pixels: slowfast::VIDEO_MAX_PIXELS,
            ..Self::images_v1_5()
        }
    }

    /// The size `fetch_image` resizes an `height` x `width` image to.
    pub fn target_size(&self, height: u32, width: u32) -> Result<(u32, u32), PreprocessError> {
        let v = SmartResizeVariant::KeyeVlUtils;
        match self.resized_hw {
            Some((h, w)) => {
                let (min, max) = self.default_image_limits;
                smart_resize(h, w, self.factor, min, max, v)
            }
            None => smart_resize(
                height,
                width,
                self.factor,
                self.min_pixels,
                self.max_pixels,
                v,
            ),
        }
    }
}

/// keye-vl-utils `fetch_image` on an already decoded RGB image: its own `smart_resize` limits,
/// then Pillow's default (BICUBIC) resize.
pub fn fetch_image(
    image: &RgbImage,
    opts: &FetchImageOptions,
) -> Result<RgbImage, PreprocessError> {
    let (h, w) = opts.target_size(image.height(), image.width())?;
    pillow::resize_bicubic(image, w, h)
}

/// The HF processor's resize: `smart_resize` with the config's limits (processor variant) and
/// Pillow BICUBIC, a copy when the size already fits.
fn processor_resize(
    image: &RgbImage,
    cfg: &ImageProcessorConfig,
) -> Result<RgbImage, PreprocessError> {
    let (h, w) = smart_resize(
        image.height(),
        image.width(),
        cfg.patch_size * cfg.merge_size,
        cfg.min_pixels,
        cfg.max_pixels,
        SmartResizeVariant::Processor,
    )?;
    pillow::resize_bicubic(image, w, h)
}

/// The HF processor on one image: resize, rescale, normalize, patchify.
pub fn preprocess_image(
    image: &RgbImage,
    cfg: &ImageProcessorConfig,
) -> Result<Patches, PreprocessError> {
    let resized = processor_resize(image, cfg)?;
    patchify(&[resized], cfg, Normalization::RescaleThenNormalize)
}

/// Preview video: the processor on sampled frames (each resized like an image, which is a copy
/// when keye-vl-utils already sized them), one [`Patches`] with `t` = number of frames.
pub fn preprocess_video_preview(
    frames: &[RgbImage],
    cfg: &ImageProcessorConfig,
) -> Result<Patches, PreprocessError> {
    let resized = frames
        .iter()
        .map(|f| processor_resize(f, cfg))
        .collect::<Result<Vec<_>, _>>()?;
    patchify(&resized, cfg, Normalization::RescaleThenNormalize)
}

/// 1.5: each frame resized with torch's uint8 antialiased bilinear to the slow or fast size,
/// then `(x - mean/rescale) / (std/rescale)` in float32 (the fused rescale+normalize of the
/// reference's torch path) and patchified; one [`Patches`] per frame (`t = 1`).
pub fn preprocess_video_slowfast(
    frames: &[RgbImage],
    kinds: &[FrameKind],
    slow_hw: (u32, u32),
    fast_hw: (u32, u32),
    cfg: &ImageProcessorConfig,
) -> Result<Vec<Patches>, PreprocessError> {
    if frames.len() != kinds.len() {
        return Err(PreprocessError::KindsMismatch {
            frames: frames.len(),
            kinds: kinds.len(),
        });
    }
    frames
        .iter()
        .zip(kinds)
        .map(|(frame, kind)| {
            let (h, w) = match kind {
                FrameKind::Slow => slow_hw,
                FrameKind::Fast => fast_hw,
            };
            let resized = torch::resize_bilinear_antialias(frame, w, h)?;
            patchify(&[resized], cfg, Normalization::Fused)
        })
        .collect()
}

/// The two ways the references turn uint8 into normalized float32; they differ in the last bit.
#[derive(Clone, Copy)]
enum Normalization {
    /// numpy processor: `f32(x * (1/255) in f64)`, then `(x - mean) / std` in f32.
    RescaleThenNormalize,
    /// torch fast path: `(x - mean/r) / (std/r)` in f32 with `r` the rescale factor.
    Fused,
}

/// Rescale, normalize and cut same-sized frames into `(N, 3, p, p)` patches in raster order.
fn patchify(
    frames: &[RgbImage],
    cfg: &ImageProcessorConfig,
    norm: Normalization,
) -> Result<Patches, PreprocessError> {
    let first = frames.first().ok_or(PreprocessError::NoFrames)?;
    let (w, h) = first.dimensions();
    let (p, m) = (cfg.patch_size, cfg.merge_size);
    if h == 0 || w == 0 || h % (p * m) != 0 || w % (p * m) != 0 {
        return Err(PreprocessError::NotPatchAligned {
            height: h,
            width: w,
            patch: p,
            merge: m,
        });
    }
    let table: Vec<[f32; 3]> = (0..=255u8)
        .map(|v| {
            std::array::from_fn(|c| match norm {
                Normalization::RescaleThenNormalize => {
                    let x = (v as f64 * cfg.rescale_factor) as f32;
                    (x - cfg.image_mean[c]) / cfg.image_std[c]
                }
                Normalization::Fused => {
                    let inverse = 1.0 / cfg.rescale_factor;
                    let mean = (cfg.image_mean[c] as f64 * inverse) as f32;
                    let std = (cfg.image_std[c] as f64 * inverse) as f32;
                    (v as f32 - mean) / std
                }
            })
        })
        .collect();
    let (p, gh, gw) = (
        p as usize,
        (h / cfg.patch_size) as usize,
        (w / cfg.patch_size) as usize,
    );
    let w = w as usize;
    let mut out = Vec::with_capacity(frames.len() * gh * gw * 3 * p * p);
    for (index, frame) in frames.iter().enumerate() {
        if frame.dimensions() != first.dimensions() {
            return Err(PreprocessError::FrameSizeMismatch {
                index,
                height: h,
                width: w as u32,
                got_h: frame.height(),
                got_w: frame.width(),
            });
        }
        let raw = frame.as_raw();
        for gy in 0..gh {
            for gx in 0..gw {
                for c in 0..3 {
                    for py in 0..p {
                        let row = (gy * p + py) * w + gx * p;
                        out.extend((0..p).map(|px| table[raw[(row + px) * 3 + c] as usize][c]));
                    }
                }
            }
        }
    }
    Ok(Patches {
        pixel_values: out,
        grid_thw: [frames.len(), gh, gw],
    })
}

/// The one check every resizer makes first: both sizes must be non-empty.
fn check_resize(src: &RgbImage, width: u32, height: u32) -> Result<(), PreprocessError> {
    let (in_w, in_h) = src.dimensions();
    if width == 0 || height == 0 || in_w == 0 || in_h == 0 {
        return Err(PreprocessError::EmptyResize {
            from: (in_h, in_w),
            to: (height, width),
        });
    }
    Ok(())
}
