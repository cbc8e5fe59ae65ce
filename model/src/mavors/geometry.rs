//! Sizes Mavors resizes frames and images to, and the MiniCPM-V rule that cuts a large image into
//! sub-images. Integer-exact ports of MiniCPM-V's `find_best_resize` / `get_refine_size` /
//! `slice_image` grid choice (Python `round` is round-half-to-even, `int` truncates).

use serde::{Deserialize, Serialize};

use super::error::{MavorsError, Result};

/// One frame (or image, thumbnail or sub-image) as the encoder sees it: resized pixels, its patch grid,
/// and the token grid left after 2x2 pooling (odd sides rounded up: the pooling pads by edge replication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameGeometry {
    pub width: u32,
    pub height: u32,
    pub grid_h: usize,
    pub grid_w: usize,
    pub pooled_h: usize,
    pub pooled_w: usize,
}

impl FrameGeometry {
    /// The geometry of an input that is already `width` x `height` pixels (multiples of `patch_size`).
    pub fn from_resized(width: u32, height: u32, patch_size: u32) -> Self {
        let grid_h = (height / patch_size) as usize;
        let grid_w = (width / patch_size) as usize;
        Self {
            width,
            height,
            grid_h,
            grid_w,
            pooled_h: grid_h.div_ceil(2),
            pooled_w: grid_w.div_ceil(2),
        }
    }

    /// A video frame or thumbnail: aspect ratio kept, about `resolution`^2 pixels (the ViT's pretraining
    /// size), sides multiples of the patch size.
    pub fn for_frame(width: u32, height: u32, resolution: u32, patch_size: u32) -> Result<Self> {
        check_size(width, height)?;
        let (w, h) = find_best_resize(
            f64::from(width),
            f64::from(height),
            resolution,
            patch_size,
            true,
        );
        Ok(Self::from_resized(w, h, patch_size))
    }

    /// LLM tokens this frame or chunk becomes.
    pub fn tokens(&self) -> usize {
        self.pooled_h * self.pooled_w
    }
}

fn check_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(MavorsError::EmptyImage { width, height });
    }
    Ok(())
}

/// MiniCPM-V `ensure_divide`: the nearest multiple of `patch_size`, at least one patch.
fn ensure_divide(length: f64, patch_size: u32) -> u32 {
    let patches = (length / f64::from(patch_size)).round_ties_even();
    // Sizes come from u32 pixel counts, so the product fits in u32 again.
    ((patches as u32) * patch_size).max(patch_size)
}

/// MiniCPM-V `find_best_resize`: keep the aspect ratio, aim at `resolution`^2 pixels when the input is
/// larger (or always, with `allow_upscale`), then snap both sides to the patch size.
fn find_best_resize(
    width: f64,
    height: f64,
    resolution: u32,
    patch_size: u32,
    allow_upscale: bool,
) -> (u32, u32) {
    let resolution = f64::from(resolution);
    let (mut width, mut height) = (width, height);
    if width * height > resolution * resolution || allow_upscale {
        let ratio = width / height;
        height = (resolution / ratio.sqrt()).trunc();
        width = (height * ratio).trunc();
    }
    (
        ensure_divide(width, patch_size),
        ensure_divide(height, patch_size),
    )
}

/// MiniCPM-V grid rule: about `area / resolution^2` slices (one fewer, as many, or one more), and among
/// those the (columns, rows) whose aspect ratio is closest in log scale to the image's. `None` when the
/// image is small enough to go whole. Ties keep the first candidate, as the reference does.
pub fn best_slice_grid(
    width: u32,
    height: u32,
    resolution: u32,
    max_slice_nums: usize,
) -> Result<Option<(usize, usize)>> {
    check_size(width, height)?;
    let (w, h) = (f64::from(width), f64::from(height));
    let log_ratio = (w / h).ln();
    let ratio = w * h / f64::from(resolution).powi(2);
    let multiple = (ratio.ceil() as usize).min(max_slice_nums);
    if multiple <= 1 {
        return Ok(None);
    }
    let mut best = (1, 1);
    let mut min_error = f64::INFINITY;
    for count in [multiple - 1, multiple, multiple + 1] {
        if count == 1 || count > max_slice_nums {
            continue;
        }
        for cols in (1..=count).filter(|m| count % m == 0) {
            let rows = count / cols;
            let error = (log_ratio - (cols as f64 / rows as f64).ln()).abs();
            if error < min_error {
                best = (cols, rows);
                min_error = error;
            }
        }
    }
    Ok(Some(best))
}

/// A sub-image's rectangle inside the refined (resized) image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// How a still image enters Mavors: a thumbnail of the whole image plus, for large images, a grid of
/// sub-images cut from a refined resize. Each becomes one chunk of identical frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSlicing {
    /// The whole image, resized like a video frame.
    pub thumbnail: FrameGeometry,
    /// (columns, rows) of sub-images; `None` for an image that needs no slicing.
    pub grid: Option<(usize, usize)>,
    /// Size the image is resized to before cutting (columns x slice width, rows x slice height).
    pub refined_width: u32,
    pub refined_height: u32,
    /// Sub-image rectangles in the refined image, row by row.
    pub slices: Vec<SliceRect>,
    /// Geometry shared by every sub-image.
    pub slice: Option<FrameGeometry>,
}

impl ImageSlicing {
    /// Plans the thumbnail and sub-images of a `width` x `height` image.
    pub fn plan(
        width: u32,
        height: u32,
        resolution: u32,
        patch_size: u32,
        max_slice_nums: usize,
    ) -> Result<Self> {
        let thumbnail = FrameGeometry::for_frame(width, height, resolution, patch_size)?;
        let Some((cols, rows)) = best_slice_grid(width, height, resolution, max_slice_nums)? else {
            return Ok(Self {
                thumbnail,
                grid: None,
                refined_width: thumbnail.width,
                refined_height: thumbnail.height,
                slices: Vec::new(),
                slice: None,
            });
        };
        // MiniCPM-V `get_refine_size`: snap the image to the grid, then size one cell like a frame.
        let cell_w = f64::from(ensure_divide(f64::from(width), cols as u32)) / cols as f64;
        let cell_h = f64::from(ensure_divide(f64::from(height), rows as u32)) / rows as f64;
        let (slice_w, slice_h) = find_best_resize(cell_w, cell_h, resolution, patch_size, true);
        let slices = (0..rows as u32)
            .flat_map(|row| {
                (0..cols as u32).map(move |col| SliceRect {
                    x: col * slice_w,
                    y: row * slice_h,
                    width: slice_w,
                    height: slice_h,
                })
            })
            .collect();
        Ok(Self {
            thumbnail,
            grid: Some((cols, rows)),
            refined_width: slice_w * cols as u32,
            refined_height: slice_h * rows as u32,
            slices,
            slice: Some(FrameGeometry::from_resized(slice_w, slice_h, patch_size)),
        })
    }

    /// Chunks this image becomes (thumbnail first).
    pub fn chunk_count(&self) -> usize {
        1 + self.slices.len()
    }
}
