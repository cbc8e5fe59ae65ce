//! Y'CbCr 4:2:0 frames for GPU colour conversion: the planes come in the source's own matrix and
//! range, tagged on the frame, and converting them with `YuvColor::to_rgb` (the formula
//! `shaders/frame.wgsl` runs) gives the colours swscale's RGB output has, for BT.601, BT.709 and
//! full-range sources, odd sizes and rotated video.

mod support;

use std::path::Path;

use keye_studio::video::{
    FrameSpec, OutputSize, PixelLayout, Video, VideoFrame, YuvColor, YuvMatrix,
};
use support::Fixtures;

fn frame(path: &Path, size: OutputSize, layout: PixelLayout) -> VideoFrame {
    let mut video = Video::open(path).unwrap();
    video.frame_index(0, FrameSpec { size, layout }).unwrap()
}

/// Max difference (0..=255 levels) between the RGB frame and the YUV frame converted on the CPU,
/// away from the borders where chroma interpolation differs.
fn max_difference(rgb: &VideoFrame, yuv: &VideoFrame) -> f32 {
    let [y, u, v] = yuv.yuv_planes().expect("a yuv420p frame");
    let color = yuv.yuv.expect("yuv frames say how to read them");
    let (w, h) = (yuv.width as usize, yuv.height as usize);
    let cw = yuv.chroma_size().0 as usize;
    let mut max = 0f32;
    for row in 2..h - 2 {
        for col in 2..w - 2 {
            let c = (row / 2) * cw + col / 2;
            let converted = color.to_rgb(y[row * w + col], u[c], v[c]);
            for (k, value) in converted.iter().enumerate() {
                let expected = f32::from(rgb.pixels[(row * w + col) * 3 + k]);
                max = max.max((value * 255.0 - expected).abs());
            }
        }
    }
    max
}

fn flat_colour_clip(fixtures: &Fixtures, name: &str, args: &[&str]) -> std::path::PathBuf {
    let source = "color=c=0x3366cc:s=64x48:d=0.2,format=rgb24";
    let mut all = vec!["-f", "lavfi", "-i", source, "-c:v", "libx264"];
    all.extend_from_slice(args);
    fixtures.ffmpeg(name, &all)
}

#[test]
fn planes_and_tags_reproduce_swscale_rgb() {
    let fixtures = Fixtures::new();
    // The odd case is scaled to 65x49 on the way out (H.264 4:2:0 itself needs even sides).
    let odd = OutputSize::Exact {
        width: 65,
        height: 49,
    };
    let cases: [(&str, OutputSize, Vec<&str>, YuvColor); 3] = [
        (
            "bt601.mp4",
            OutputSize::Native,
            vec![
                "-pix_fmt",
                "yuv420p",
                "-colorspace",
                "smpte170m",
                "-color_range",
                "tv",
            ],
            YuvColor {
                matrix: YuvMatrix::Bt601,
                full_range: false,
            },
        ),
        (
            "bt709-odd.mp4",
            odd,
            vec![
                "-pix_fmt",
                "yuv420p",
                "-colorspace",
                "bt709",
                "-color_range",
                "tv",
            ],
            YuvColor {
                matrix: YuvMatrix::Bt709,
                full_range: false,
            },
        ),
        (
            "full-range.mp4",
            OutputSize::Native,
            vec![
                "-pix_fmt",
                "yuvj420p",
                "-colorspace",
                "bt709",
                "-color_range",
                "pc",
            ],
            YuvColor {
                matrix: YuvMatrix::Bt709,
                full_range: true,
            },
        ),
    ];
    for (name, size, args, expected) in cases {
        let path = flat_colour_clip(&fixtures, name, &args);
        let yuv = frame(&path, size, PixelLayout::Yuv420p);
        let rgb = frame(&path, size, PixelLayout::Rgb24);
        assert_eq!(yuv.yuv, Some(expected), "{name}");
        let (w, h) = (yuv.width as usize, yuv.height as usize);
        let (cw, ch) = yuv.chroma_size();
        assert_eq!(yuv.pixels.len(), w * h + 2 * (cw * ch) as usize, "{name}");
        let diff = max_difference(&rgb, &yuv);
        assert!(diff <= 2.5, "{name}: max difference {diff} levels");
    }
}

#[test]
fn rotated_video_turns_every_plane() {
    let fixtures = Fixtures::new();
    // Left half red, right half blue, so a quarter turn is visible in both luma and chroma.
    let source = fixtures.ffmpeg(
        "halves.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=32x48:d=0.2[a];color=c=blue:s=32x48:d=0.2[b];[a][b]hstack",
            "-filter_complex_threads",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let rotated = fixtures.ffmpeg(
        "halves-rotated.mp4",
        &[
            "-i",
            source.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    let yuv = frame(&rotated, OutputSize::Native, PixelLayout::Yuv420p);
    let rgb = frame(&rotated, OutputSize::Native, PixelLayout::Rgb24);
    assert_eq!((yuv.width, yuv.height), (48, 64), "display orientation");
    assert_eq!((rgb.width, rgb.height), (48, 64));
    let diff = max_difference(&rgb, &yuv);
    assert!(diff <= 3.0, "max difference {diff} levels");
}
