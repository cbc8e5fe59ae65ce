//! Y'CbCr 4:2:0 frames for GPU colour conversion: the planes come in the source's own matrix and
//! range, tagged on the frame, and converting them with `YuvColor::to_rgb` (the formula
//! `shaders/frame.wgsl` runs) gives, pixel by pixel on a structured pattern, the colours swscale
//! gives, for BT.601, BT.709 and full-range sources, odd sizes and rotated video.

mod support;

use std::path::Path;
use std::process::Command;

use keye_studio::video::{
    FrameSpec, OutputSize, PixelLayout, Video, VideoFrame, YuvColor, YuvMatrix,
};
use support::Fixtures;

fn frame(path: &Path, size: OutputSize, layout: PixelLayout) -> VideoFrame {
    let mut video = Video::open(path).unwrap();
    video.frame_index(0, FrameSpec { size, layout }).unwrap()
}

/// Every pixel of the YUV frame converted on the CPU (`to_rgb`, each 2x2 block of luma pixels
/// with its one chroma sample), as 0..=255 RGB24.
fn cpu_rgb(yuv: &VideoFrame) -> Vec<f32> {
    let [y, u, v] = yuv.yuv_planes().expect("a yuv420p frame");
    let color = yuv.yuv.expect("yuv frames say how to read them");
    let (w, h) = (yuv.width as usize, yuv.height as usize);
    let cw = yuv.chroma_size().0 as usize;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * cw + col / 2;
            let converted = color.to_rgb(y[row * w + col], u[c], v[c]);
            rgb.extend(converted.map(|value| value * 255.0));
        }
    }
    rgb
}

/// Largest difference (levels) between the CPU conversion and an RGB24 image.
fn max_difference(cpu: &[f32], rgb: &[u8]) -> f32 {
    assert_eq!(cpu.len(), rgb.len());
    cpu.iter()
        .zip(rgb)
        .map(|(a, &b)| (a - f32::from(b)).abs())
        .fold(0.0, f32::max)
}

/// The ffmpeg CLI's conversion of the frame's own samples, each chroma sample spread over its
/// 2x2 luma block first (a 4:4:4 image, so swscale converts pixel by pixel), read with the
/// matrix and range named here rather than the frame's tags.
fn swscale_pointwise(fixtures: &Fixtures, yuv: &VideoFrame, matrix: &str, range: &str) -> Vec<u8> {
    let [y, u, v] = yuv.yuv_planes().unwrap();
    let (w, h) = (yuv.width as usize, yuv.height as usize);
    let cw = yuv.chroma_size().0 as usize;
    let spread = |plane: &[u8]| -> Vec<u8> {
        (0..h * w)
            .map(|i| plane[(i / w / 2) * cw + (i % w) / 2])
            .collect()
    };
    let yuv444 = [y.to_vec(), spread(u), spread(v)].concat();
    let input = fixtures.bytes("planes.yuv444p", &yuv444);
    let size = format!("{w}x{h}");
    let filter =
        format!("scale=in_color_matrix={matrix}:in_range={range}:flags=accurate_rnd,format=rgb24");
    let output = Command::new("ffmpeg")
        .args([
            "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", "yuv444p", "-s",
        ])
        .arg(&size)
        .arg("-i")
        .arg(&input)
        .args(["-vf", &filter, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn testsrc_clip(fixtures: &Fixtures, name: &str, args: &[&str]) -> std::path::PathBuf {
    // Colour bars, gradients and text: flipped rows, swapped planes or chroma from the wrong
    // block all change many pixels.
    let source = "testsrc2=s=64x48:d=0.2,format=rgb24";
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
    let cases = [
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
            "bt601",
            "tv",
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
            "bt709",
            "tv",
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
            "bt709",
            "pc",
        ),
    ];
    for (name, size, args, expected, matrix, range) in cases {
        let path = testsrc_clip(&fixtures, name, &args);
        let yuv = frame(&path, size, PixelLayout::Yuv420p);
        let rgb = frame(&path, size, PixelLayout::Rgb24);
        assert_eq!(yuv.yuv, Some(expected), "{name}");
        let (w, h) = (yuv.width as usize, yuv.height as usize);
        let (cw, ch) = yuv.chroma_size();
        assert_eq!(yuv.pixels.len(), w * h + 2 * (cw * ch) as usize, "{name}");
        let cpu = cpu_rgb(&yuv);
        // The formula against swscale's, sample for sample, with the file's matrix and range:
        // rounding only (swscale's fixed point and its 8-bit output).
        let pointwise = swscale_pointwise(&fixtures, &yuv, matrix, range);
        let diff = max_difference(&cpu, &pointwise);
        assert!(
            diff <= 1.5,
            "{name}: {diff} levels from swscale's conversion of the samples"
        );
        if size == OutputSize::Native {
            // And against the decoder's own RGB output, every pixel: at the native size swscale
            // also gives each 2x2 block its chroma sample, with table arithmetic (measured: at
            // most 2.9 levels from exact on this pattern).
            let diff = max_difference(&cpu, &rgb.pixels);
            assert!(diff <= 3.0, "{name}: {diff} levels from the RGB frame");
        }
    }
}

#[test]
fn the_comparison_sees_flipped_rows_swapped_planes_and_shifted_chroma() {
    let fixtures = Fixtures::new();
    let args = [
        "-pix_fmt",
        "yuv420p",
        "-colorspace",
        "smpte170m",
        "-color_range",
        "tv",
    ];
    let path = testsrc_clip(&fixtures, "bt601.mp4", &args);
    let yuv = frame(&path, OutputSize::Native, PixelLayout::Yuv420p);
    let rgb = frame(&path, OutputSize::Native, PixelLayout::Rgb24);
    assert!(max_difference(&cpu_rgb(&yuv), &rgb.pixels) <= 3.0);
    let with_planes = |planes: Vec<u8>| VideoFrame {
        pixels: planes.into(),
        ..yuv.clone()
    };
    let [y, u, v] = yuv.yuv_planes().unwrap();
    let upside_down: Vec<u8> = y.chunks(64).rev().flatten().copied().collect();
    let flipped = with_planes([upside_down, u.to_vec(), v.to_vec()].concat());
    assert!(max_difference(&cpu_rgb(&flipped), &rgb.pixels) > 50.0);
    let swapped = with_planes([y, v, u].concat());
    assert!(max_difference(&cpu_rgb(&swapped), &rgb.pixels) > 50.0);
    // Chroma one sample to the right, as a wrong siting or stride would read it.
    let shifted: Vec<u8> = [u, v]
        .iter()
        .flat_map(|plane| {
            plane
                .chunks(32)
                .flat_map(|row| [&row[1..], &row[31..]].concat())
        })
        .collect();
    let shifted = with_planes([y.to_vec(), shifted].concat());
    assert!(max_difference(&cpu_rgb(&shifted), &rgb.pixels) > 30.0);
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
    let diff = max_difference(&cpu_rgb(&yuv), &rgb.pixels);
    assert!(diff <= 3.0, "max difference {diff} levels");
}
