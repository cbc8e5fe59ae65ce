//! Mavors inputs from pixels: frames resized to the plan's size, images cut into a thumbnail and the
//! MiniCPM-V sub-images, all in Keye-VL's normalised raster patch layout.

use candle_core::{Device, IndexOp, Tensor};
use image::{Rgb, RgbImage};
use keye_model::mavors::{FrameGeometry, ImageSlicing, frame_patches, image_patches};
use keye_model::preprocess::ImageProcessorConfig;

/// Keye-VL's real processor normalisation: (x / 255 - 0.5) / 0.5.
fn processor() -> ImageProcessorConfig {
    ImageProcessorConfig {
        image_mean: [0.5; 3],
        image_std: [0.5; 3],
        ..ImageProcessorConfig::default()
    }
}

fn channel_means(patches: &Tensor) -> Vec<f32> {
    patches
        .mean_keepdim(0)
        .unwrap()
        .mean_keepdim(2)
        .unwrap()
        .mean_keepdim(3)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn frames_become_raster_patches_at_the_planned_size() {
    // A tiny tower's resolution (56) keeps the test fast: 320x180 -> 70x42 pixels, 3 x 5 patches.
    let geometry = FrameGeometry::for_frame(320, 180, 56, 14).unwrap();
    assert_eq!((geometry.grid_h, geometry.grid_w), (3, 5));
    let red = RgbImage::from_pixel(320, 180, Rgb([255, 0, 0]));
    let grey = RgbImage::from_pixel(160, 90, Rgb([51, 51, 51]));
    let patches = frame_patches(&[red, grey], &geometry, &processor(), &Device::Cpu).unwrap();
    assert_eq!(patches.dims(), [2 * 15, 3, 14, 14]);
    let red = channel_means(&patches.narrow(0, 0, 15).unwrap());
    let grey = channel_means(&patches.narrow(0, 15, 15).unwrap());
    for (got, want) in red.iter().zip([1.0, -1.0, -1.0]) {
        assert!((got - want).abs() < 1e-5, "{red:?}");
    }
    assert!(grey.iter().all(|v| (v + 0.6).abs() < 1e-5), "{grey:?}");
}

#[test]
fn images_are_a_thumbnail_then_sub_images_row_by_row() {
    // Left third black, right two thirds white: with a 3 x 2 grid the first column of sub-images is
    // black and the others white. Resolution 56 with at most 6 slices: 56x56 sub-images of 4 x 4.
    let image = RgbImage::from_fn(600, 400, |x, _| {
        if x < 200 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let slicing = ImageSlicing::plan(600, 400, 56, 14, 6).unwrap();
    assert_eq!(slicing.grid, Some((3, 2)));
    assert_eq!((slicing.refined_width, slicing.refined_height), (168, 112));
    let inputs = image_patches(&image, &slicing, &processor(), &Device::Cpu).unwrap();
    assert_eq!(inputs.len(), 7);
    let thumbnail = slicing.thumbnail;
    assert_eq!(
        (inputs[0].1, inputs[0].2),
        (thumbnail.grid_h, thumbnail.grid_w)
    );
    let slice = slicing.slice.unwrap();
    for (index, (patches, grid_h, grid_w)) in inputs.iter().enumerate().skip(1) {
        assert_eq!((*grid_h, *grid_w), (slice.grid_h, slice.grid_w));
        assert_eq!(patches.dim(0).unwrap(), grid_h * grid_w);
        let column = (index - 1) % 3;
        // Away from the black/white edge, where bicubic rings.
        let inner = patches.i(grid_w / 2).unwrap();
        let value = inner.mean_all().unwrap().to_scalar::<f32>().unwrap();
        let want = if column == 0 { -1.0 } else { 1.0 };
        assert!((value - want).abs() < 1e-5, "sub-image {index}: {value}");
    }
}
