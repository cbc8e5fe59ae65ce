//! `shaders/frame.wgsl` on a real GPU device (lavapipe on CI): frames of a structured pattern
//! (lavfi `testsrc2`: colour bars, gradients, text) decoded as Y'CbCr planes, uploaded and drawn by
//! the app's frame pipeline into an offscreen texture, read back, and compared pixel by pixel with
//! the ffmpeg CLI's conversion of the same file, for BT.601, BT.709 and full-range video.

#[path = "support/gpu.rs"]
mod gpu;
mod support;

use std::path::{Path, PathBuf};

use eframe::wgpu;
use keye_studio::gui::frame_view::{FramePipeline, FramePixels};
use keye_studio::video::{FrameSpec, OutputSize, PixelLayout, Video, VideoFrame};
use support::{Fixtures, ffmpeg_filtered_frames};

/// Draws `pixels` with the frame pipeline into an RGBA texture of their size and reads it back.
fn render(device: &wgpu::Device, queue: &wgpu::Queue, pixels: &FramePixels) -> Vec<u8> {
    let pipeline = FramePipeline::new(device, gpu::TARGET_FORMAT);
    let textures = pipeline
        .upload(device, queue, None, pixels)
        .expect("planes of the announced sizes");
    gpu::render_offscreen(device, queue, (pixels.width, pixels.height), |pass| {
        pipeline.draw(pass, &textures)
    })
}

fn decode_yuv(path: &Path) -> VideoFrame {
    let mut video = Video::open(path).unwrap();
    video
        .frame_index(
            0,
            FrameSpec {
                size: OutputSize::Native,
                layout: PixelLayout::Yuv420p,
            },
        )
        .unwrap()
}

/// The shader samples each chroma plane bilinearly at the luma pixel's centre, which puts 4:2:0
/// chroma samples between luma pixels, as swscale assumes by default; this is swscale doing the
/// same (bilinear chroma at full resolution, exact rounding), with the matrix and range the
/// file is tagged with. Planar output: swscale's packed RGB24 writer does not honour
/// `full_chroma_int` the same way (55 levels off exact bilinear chroma on this pattern; planar
/// 8-bit is within 0.51).
const SWSCALE_BILINEAR_CHROMA: &str =
    "scale=flags=bilinear+full_chroma_int+full_chroma_inp+accurate_rnd,format=gbrp";

/// swscale's conversion of the file's first frame through `filter` (ending in planar gbrp), as
/// RGB24.
fn swscale_rgb(path: &Path, filter: &str) -> Vec<u8> {
    let (w, h) = (64, 48);
    let planes = &ffmpeg_filtered_frames(path, filter, "gbrp", w * h * 3)[0];
    let (g, rest) = planes.split_at(w * h);
    let (b, r) = rest.split_at(w * h);
    (0..w * h).flat_map(|i| [r[i], g[i], b[i]]).collect()
}

/// Largest difference (levels) between a drawn RGBA image and an RGB24 one; alpha must be 255.
fn max_difference(drawn: &[u8], expected: &[u8]) -> u8 {
    assert_eq!(drawn.len() / 4, expected.len() / 3);
    let mut max = 0u8;
    for (pixel, want) in drawn.chunks_exact(4).zip(expected.chunks_exact(3)) {
        assert_eq!(pixel[3], 255);
        for k in 0..3 {
            max = max.max(pixel[k].abs_diff(want[k]));
        }
    }
    max
}

fn testsrc_clip(
    fixtures: &Fixtures,
    name: &str,
    pix_fmt: &str,
    space: &str,
    range: &str,
) -> PathBuf {
    fixtures.ffmpeg(
        name,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48:d=0.2,format=rgb24",
            "-c:v",
            "libx264",
            "-pix_fmt",
            pix_fmt,
            "-colorspace",
            space,
            "-color_range",
            range,
        ],
    )
}

#[test]
fn the_frame_shader_reproduces_swscale_rgb() {
    let (device, queue) = gpu::gpu();
    let fixtures = Fixtures::new();
    for (name, pix_fmt, space, range) in [
        ("bt601.mp4", "yuv420p", "smpte170m", "tv"),
        ("bt709.mp4", "yuv420p", "bt709", "tv"),
        ("full.mp4", "yuvj420p", "bt709", "pc"),
    ] {
        let path = testsrc_clip(&fixtures, name, pix_fmt, space, range);
        let yuv = decode_yuv(&path);
        let pixels = FramePixels::from_frame(&yuv, 1).expect("a yuv420p frame");
        let drawn = render(&device, &queue, &pixels);
        let expected = swscale_rgb(&path, SWSCALE_BILINEAR_CHROMA);
        // Against exact arithmetic, swscale's output is within 0.51 levels on this pattern and
        // lavapipe's within 2.48 (its texture filtering keeps fewer bits), so 3 levels; a flip,
        // a plane swap or another chroma siting costs 20 to 100+ (see the next test).
        let diff = max_difference(&drawn, &expected);
        assert!(
            diff <= 3,
            "{name}: the shader differs from swscale by {diff} levels"
        );
    }
}

#[test]
fn the_comparison_sees_flipped_rows_swapped_planes_and_other_chroma_siting() {
    let (device, queue) = gpu::gpu();
    let fixtures = Fixtures::new();
    let path = testsrc_clip(&fixtures, "bt601.mp4", "yuv420p", "smpte170m", "tv");
    let pixels = FramePixels::from_frame(&decode_yuv(&path), 1).unwrap();
    let drawn = render(&device, &queue, &pixels);
    let expected = &swscale_rgb(&path, SWSCALE_BILINEAR_CHROMA);
    assert!(max_difference(&drawn, expected) <= 3);

    let upside_down: Vec<u8> = drawn.chunks(64 * 4).rev().flatten().copied().collect();
    assert!(max_difference(&upside_down, expected) > 50);

    let (y, chroma) = pixels.planes.split_at(64 * 48);
    let (cb, cr) = chroma.split_at(chroma.len() / 2);
    let swapped = FramePixels {
        planes: [y, cr, cb].concat().into(),
        ..pixels.clone()
    };
    assert!(max_difference(&render(&device, &queue, &swapped), expected) > 50);

    // H.264's other common siting (chroma with the even luma columns) moves colour edges by
    // half a pixel: visible at this pattern's bars.
    let left_sited = &swscale_rgb(
        &path,
        "scale=flags=bilinear+full_chroma_int+full_chroma_inp+accurate_rnd:in_h_chr_pos=0,format=gbrp",
    );
    assert!(max_difference(&drawn, left_sited) > 20);
}
