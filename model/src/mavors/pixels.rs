//! Decoded frames and still images to Mavors input patches, with the Keye-VL preprocessing (Pillow
//! bicubic resize, rescale and normalise, raster patches): frames go to the plan's frame size, images
//! to a thumbnail plus the sub-images of the MiniCPM-V grid.

use candle_core::{Device, Tensor};
use image::RgbImage;

use super::error::Result;
use super::geometry::{FrameGeometry, ImageSlicing};
use crate::preprocess::{ImageProcessorConfig, preprocess_video_preview, resize_bicubic_pillow};

/// The checkpoint's processor settings for inputs already at their Mavors size: patches without the
/// 2x2-merge alignment, and pixel limits that keep the size as it is.
fn unmerged(processor: &ImageProcessorConfig) -> ImageProcessorConfig {
    ImageProcessorConfig {
        merge_size: 1,
        min_pixels: 0,
        max_pixels: u64::MAX,
        ..processor.clone()
    }
}

/// Resizes `images` to `geometry` and cuts them into `(n x grid_h x grid_w, 3, patch, patch)` patches,
/// image after image, raster order inside each. For a video, `images` are the decoded frames of the
/// plan's chunks in order (F per chunk, padding repeats included), ready for
/// [`super::Mavors::encode_video`].
pub fn frame_patches(
    images: &[RgbImage],
    geometry: &FrameGeometry,
    processor: &ImageProcessorConfig,
    device: &Device,
) -> Result<Tensor> {
    let resized = images
        .iter()
        .map(|image| resize_bicubic_pillow(image, geometry.width, geometry.height))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let patches = preprocess_video_preview(&resized, &unmerged(processor))?;
    let p = processor.patch_size as usize;
    let n = patches.num_patches();
    Ok(Tensor::from_vec(
        patches.pixel_values,
        (n, 3, p, p),
        device,
    )?)
}

/// The inputs of a still image for [`super::Mavors::encode_images`]: the thumbnail, then each
/// sub-image row by row, each as `(patches, grid_h, grid_w)`.
pub fn image_patches(
    image: &RgbImage,
    slicing: &ImageSlicing,
    processor: &ImageProcessorConfig,
    device: &Device,
) -> Result<Vec<(Tensor, usize, usize)>> {
    let thumbnail = &slicing.thumbnail;
    let mut inputs = vec![(
        frame_patches(std::slice::from_ref(image), thumbnail, processor, device)?,
        thumbnail.grid_h,
        thumbnail.grid_w,
    )];
    if let Some(slice) = &slicing.slice {
        let refined = resize_bicubic_pillow(image, slicing.refined_width, slicing.refined_height)?;
        for rect in &slicing.slices {
            let cut = image::imageops::crop_imm(&refined, rect.x, rect.y, rect.width, rect.height)
                .to_image();
            inputs.push((
                frame_patches(&[cut], slice, processor, device)?,
                slice.grid_h,
                slice.grid_w,
            ));
        }
    }
    Ok(inputs)
}
