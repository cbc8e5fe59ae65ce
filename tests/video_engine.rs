//! The video engine against the ffmpeg CLI on generated clips: frame counts, timestamps, keyframes,
//! sizes and decoded pixels across codecs and containers, plus the awkward cases (B-frames, open
//! GOPs, long GOPs, 10-bit, odd sizes, rotation, variable frame rate, non-zero start).

mod support;

use std::path::Path;

use keye_studio::video::{FrameSpec, OutputSize, PixelLayout, Rotation, Video, probe};
use support::{
    Fixtures, ffmpeg_filtered_frames, ffmpeg_rgb_frames, ffprobe_frames, ffprobe_stream,
    pixel_difference,
};

/// Opens `path` and checks the frame index against ffprobe's decoded frames: same count, same pts in
/// presentation order, keyframes where ffprobe sees them.
fn assert_index_matches_ffprobe(path: &Path) -> Video {
    let video = Video::open(path).unwrap_or_else(|e| panic!("{e}"));
    let expected = ffprobe_frames(path);
    let ours: Vec<i64> = video.index().entries().iter().map(|e| e.pts).collect();
    let theirs: Vec<i64> = expected.iter().map(|f| f.pts).collect();
    assert_eq!(ours, theirs, "pts list of {}", path.display());
    assert!(video.info().frame_count.exact);
    assert_eq!(video.info().frame_count.frames, expected.len());
    for (i, frame) in expected.iter().enumerate() {
        if frame.key {
            assert!(
                video.index().entries()[i].keyframe,
                "ffprobe decodes frame {i} of {} as a keyframe",
                path.display()
            );
        }
    }
    video
}

/// Decodes every frame through random access (a shuffled order, so most requests seek) and
/// compares with the ffmpeg CLI's RGB24 output of the same file, exactly.
fn assert_pixels_match_ffmpeg(video: &mut Video) {
    let info = video.info().clone();
    let expected = ffmpeg_rgb_frames(video.path(), info.display_width, info.display_height, &[]);
    assert_eq!(
        expected.len(),
        video.frame_count(),
        "ffmpeg CLI frame count"
    );
    let mut order: Vec<usize> = (0..video.frame_count()).collect();
    fastrand::Rng::with_seed(7).shuffle(&mut order);
    for index in order {
        video.clear_cache();
        let frame = video.frame_index(index, FrameSpec::native_rgb()).unwrap();
        assert_eq!(
            (frame.width, frame.height),
            (info.display_width, info.display_height)
        );
        assert_eq!(frame.index, index);
        assert!(
            frame.pixels[..] == expected[index][..],
            "frame {index} of {} differs from the ffmpeg CLI (max/mean diff {:?})",
            video.path().display(),
            pixel_difference(&frame.pixels, &expected[index])
        );
    }
}

#[test]
fn h264_mp4_with_b_frames_matches_ffprobe_and_ffmpeg() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "h264.mp4",
        "96x64",
        25,
        2.0,
        &[
            "-c:v", "libx264", "-bf", "3", "-g", "12", "-pix_fmt", "yuv420p",
        ],
    );
    let mut video = assert_index_matches_ffprobe(&path);
    let info = video.info().clone();
    assert_eq!(info.codec, "h264");
    assert!(info.container.contains("mp4"));
    assert_eq!((info.coded_width, info.coded_height), (96, 64));
    assert_eq!((info.display_width, info.display_height), (96, 64));
    assert_eq!(info.frame_count.frames, 50);
    assert_eq!(info.keyframes, Some(5));
    assert!(!info.variable_frame_rate);
    assert!(!info.has_audio);
    assert!(
        (info.duration - 2.0).abs() < 1e-9,
        "duration {}",
        info.duration
    );
    assert!((info.measured_frame_rate.unwrap() - 25.0).abs() < 1e-9);
    assert_pixels_match_ffmpeg(&mut video);
}

#[test]
fn codec_and_container_matrix_matches_ffprobe_and_ffmpeg() {
    let fixtures = Fixtures::new();
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "hevc.mkv",
            "hevc",
            &[
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:keyint=10:bframes=2",
                "-pix_fmt",
                "yuv420p",
            ],
        ),
        (
            "hevc.mp4",
            "hevc",
            &[
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:keyint=8:bframes=3",
                "-tag:v",
                "hvc1",
                "-pix_fmt",
                "yuv420p",
            ],
        ),
        (
            "vp9.webm",
            "vp9",
            &[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "good",
                "-cpu-used",
                "8",
                "-g",
                "10",
                "-pix_fmt",
                "yuv420p",
            ],
        ),
        (
            "mpeg4.avi",
            "mpeg4",
            &["-c:v", "mpeg4", "-g", "10", "-q:v", "4"],
        ),
        (
            "mjpeg.mov",
            "mjpeg",
            &["-c:v", "mjpeg", "-q:v", "4", "-pix_fmt", "yuvj420p"],
        ),
        (
            "h264.mov",
            "h264",
            &[
                "-c:v", "libx264", "-bf", "2", "-g", "8", "-pix_fmt", "yuv420p",
            ],
        ),
    ];
    for (name, codec, args) in cases {
        let path = fixtures.testsrc(name, "80x48", 24, 1.0, args);
        let mut video = assert_index_matches_ffprobe(&path);
        assert_eq!(video.info().codec, codec, "{name}");
        assert_eq!(video.frame_count(), 24, "{name}");
        assert_eq!(
            (video.info().display_width, video.info().display_height),
            (80, 48)
        );
        assert_pixels_match_ffmpeg(&mut video);
    }
}

#[test]
fn ten_bit_and_odd_sizes_decode_exactly() {
    let fixtures = Fixtures::new();
    let ten_bit = fixtures.testsrc(
        "h264-10bit.mkv",
        "64x48",
        20,
        1.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-g", "10"],
    );
    let mut video = assert_index_matches_ffprobe(&ten_bit);
    assert_eq!(video.info().bit_depth, 10);
    assert_eq!(video.info().pixel_format, "yuv420p10le");
    assert_pixels_match_ffmpeg(&mut video);

    let odd = fixtures.testsrc(
        "odd.webm",
        "66x48",
        20,
        1.0,
        &[
            "-vf",
            "scale=65:47",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let mut video = assert_index_matches_ffprobe(&odd);
    assert_eq!(
        (video.info().display_width, video.info().display_height),
        (65, 47)
    );
    assert_pixels_match_ffmpeg(&mut video);
}

#[test]
fn portrait_720x1280_keeps_its_orientation() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "portrait.mp4",
        "720x1280",
        10,
        0.3,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let mut video = assert_index_matches_ffprobe(&path);
    assert_eq!(
        (video.info().display_width, video.info().display_height),
        (720, 1280)
    );
    assert_eq!(video.info().rotation, Rotation::None);
    assert_pixels_match_ffmpeg(&mut video);
    let small = video.frame_index(1, FrameSpec::fit_rgb(90, 90)).unwrap();
    assert_eq!((small.width, small.height), (51, 90));
}

#[test]
fn rotation_90_is_applied_like_the_ffmpeg_cli_autorotate() {
    let fixtures = Fixtures::new();
    let plain = fixtures.testsrc(
        "unrotated.mp4",
        "96x64",
        10,
        1.0,
        &["-c:v", "libx264", "-g", "5", "-pix_fmt", "yuv420p"],
    );
    // FFmpeg 5.1 turns a `rotate` tag into a display matrix when remuxing (phones write the same).
    let source = plain.to_str().unwrap();
    let path = fixtures.ffmpeg(
        "rotated.mp4",
        &["-i", source, "-c", "copy", "-metadata:s:v:0", "rotate=90"],
    );
    let stream = ffprobe_stream(&path);
    let ffprobe_rotation = stream["side_data_list"][0]["rotation"].as_i64();
    assert_eq!(
        ffprobe_rotation,
        Some(90),
        "fixture carries a display matrix"
    );

    let mut video = assert_index_matches_ffprobe(&path);
    let info = probe(&path).unwrap();
    // ffprobe's 90 is counter-clockwise; the CLI's autorotate turns the picture 270 clockwise.
    assert_eq!(info.rotation, Rotation::Clockwise270);
    assert_eq!((info.coded_width, info.coded_height), (96, 64));
    assert_eq!((info.display_width, info.display_height), (64, 96));

    // The CLI rotates the YUV picture before converting and we rotate after, so chroma is
    // interpolated along different axes: compare loosely with the autorotated output (a wrong
    // direction differs by far more) ...
    let rotated = ffmpeg_rgb_frames(&path, 64, 96, &[]);
    // ... and exactly with the unrotated output turned the way the display matrix says.
    let unrotated = ffmpeg_rgb_frames(&path, 96, 64, &["-noautorotate"]);
    for index in [0, 3, 7, 9] {
        let frame = video.frame_index(index, FrameSpec::native_rgb()).unwrap();
        assert_eq!((frame.width, frame.height), (64, 96));
        let (_, mean) = pixel_difference(&frame.pixels, &rotated[index]);
        assert!(
            mean < 2.0,
            "frame {index}: mean difference {mean} to the CLI's rotation"
        );
        let turned = image::imageops::rotate270(
            &image::RgbImage::from_raw(96, 64, unrotated[index].clone()).unwrap(),
        );
        assert!(
            frame.pixels[..] == turned.as_raw()[..],
            "frame {index} rotated exactly"
        );
    }
}

#[test]
fn open_gop_and_long_gop_give_every_frame_exactly() {
    let fixtures = Fixtures::new();
    let open_gop = fixtures.testsrc(
        "open-gop.mkv",
        "64x48",
        25,
        2.0,
        &[
            "-c:v",
            "libx264",
            "-bf",
            "3",
            "-x264-params",
            "open-gop=1:keyint=10:min-keyint=10:scenecut=0",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let mut video = assert_index_matches_ffprobe(&open_gop);
    assert_pixels_match_ffmpeg(&mut video);

    let long_gop = fixtures.testsrc(
        "long-gop.mp4",
        "64x48",
        25,
        6.0,
        &[
            "-c:v", "libx264", "-bf", "3", "-g", "300", "-pix_fmt", "yuv420p",
        ],
    );
    let mut video = assert_index_matches_ffprobe(&long_gop);
    assert_eq!(video.info().keyframes, Some(1));
    assert_eq!(video.info().max_gop_length, Some(150));
    assert_pixels_match_ffmpeg(&mut video);
}

#[test]
fn stepping_backwards_through_a_gop_reuses_the_cache() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "steps.mp4",
        "64x48",
        25,
        2.0,
        &[
            "-c:v", "libx264", "-bf", "2", "-g", "50", "-pix_fmt", "yuv420p",
        ],
    );
    let mut video = Video::open(&path).unwrap();
    let expected = ffmpeg_rgb_frames(&path, 64, 48, &[]);
    video.frame_index(40, FrameSpec::native_rgb()).unwrap();
    let (cached, bytes) = video.cache_usage();
    assert_eq!(
        cached, 41,
        "the forward decode from the keyframe kept frames 0..=40"
    );
    assert!(bytes > 0);
    for index in (0..40).rev() {
        let frame = video.frame_index(index, FrameSpec::native_rgb()).unwrap();
        assert!(frame.pixels[..] == expected[index][..], "frame {index}");
    }
    assert_eq!(video.cache_usage().0, 41, "no re-decode was needed");
}

#[test]
fn a_small_cache_stays_within_its_byte_budget() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "budget.mp4",
        "64x48",
        25,
        1.0,
        &["-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"],
    );
    let options = keye_studio::video::VideoOptions {
        cache_bytes: 40_000,
        ..Default::default()
    };
    let mut video = Video::open_with(&path, options).unwrap();
    let expected = ffmpeg_rgb_frames(&path, 64, 48, &[]);
    for index in [24, 3, 17, 0, 24] {
        let frame = video.frame_index(index, FrameSpec::native_rgb()).unwrap();
        assert!(frame.pixels[..] == expected[index][..], "frame {index}");
        assert!(
            video.cache_usage().1 <= 40_000,
            "cache {:?}",
            video.cache_usage()
        );
    }
}

#[test]
fn frame_at_shows_the_last_frame_at_or_before_the_time_with_vfr_and_start_offsets() {
    let fixtures = Fixtures::new();
    // Frames 0..10 every 40 ms, then every 100 ms: variable frame rate; timestamps start at 10 s.
    let path = fixtures.vfr_with_start_offset("vfr.mkv", "64x48", &["-g", "8"]);
    let mut video = assert_index_matches_ffprobe(&path);
    let info = video.info().clone();
    assert!(info.variable_frame_rate);
    assert!(
        (info.start_time - 10.0).abs() < 0.002,
        "start {}",
        info.start_time
    );
    assert_eq!(info.time_base, (1, 1000));
    assert_eq!(info.first_pts, Some(10_000));
    // Relative times: frame 10 is at 0.4 s, frame 12 at 0.6 s.
    let expected = ffmpeg_rgb_frames(&path, 64, 48, &[]);
    let cases = [
        (0.0, 0),
        (0.039, 0),
        (0.04, 1),
        (0.399, 9),
        (0.4, 10),
        (0.65, 12),
        (-1.0, 0),
        (1e9, info.frame_count.frames - 1),
    ];
    for (time, index) in cases {
        let frame = video.frame_at(time, FrameSpec::native_rgb()).unwrap();
        assert_eq!(frame.index, index, "frame at {time} s");
        assert_eq!(
            frame.pts,
            10_000 + (video.time_of(index).unwrap() * 1000.0).round() as i64
        );
        assert!(
            frame.pixels[..] == expected[index][..],
            "pixels of frame {index}"
        );
    }
    assert!((video.time_of(12).unwrap() - 0.6).abs() < 1e-9);
    assert!(video.frame_at(f64::NAN, FrameSpec::native_rgb()).is_err());
}

#[test]
fn mpegts_with_its_default_start_offset_maps_times_relative_to_the_first_frame() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "stream.ts",
        "64x48",
        25,
        1.0,
        &[
            "-c:v", "libx264", "-bf", "2", "-g", "10", "-pix_fmt", "yuv420p",
        ],
    );
    let mut video = assert_index_matches_ffprobe(&path);
    let info = video.info().clone();
    assert!(
        info.start_time > 1.0,
        "MPEG-TS starts at 1.4 s, got {}",
        info.start_time
    );
    let frame = video.frame_at(0.5, FrameSpec::native_rgb()).unwrap();
    assert_eq!(frame.index, 12);
    assert!((frame.time - 0.48).abs() < 1e-9);
    assert_pixels_match_ffmpeg(&mut video);
}

#[test]
fn output_sizes_and_layouts() {
    let fixtures = Fixtures::new();
    let path = fixtures.testsrc(
        "sizes.mp4",
        "96x64",
        10,
        0.5,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let mut video = Video::open(&path).unwrap();
    let rgba = video
        .frame_index(
            2,
            FrameSpec {
                size: OutputSize::Exact {
                    width: 32,
                    height: 20,
                },
                layout: PixelLayout::Rgba32,
            },
        )
        .unwrap();
    assert_eq!(
        (rgba.width, rgba.height, rgba.pixels.len()),
        (32, 20, 32 * 20 * 4)
    );
    assert!(rgba.pixels.chunks_exact(4).all(|p| p[3] == 255));
    // The ffmpeg CLI's scale filter with the same flags (bicubic) converts and scales in one
    // swscale pass, as we do: identical bytes.
    let cli_rgba =
        &ffmpeg_filtered_frames(&path, "scale=32:20:flags=bicubic", "rgba", 32 * 20 * 4)[2];
    assert!(
        rgba.pixels[..] == cli_rgba[..],
        "RGBA 32x20 vs ffmpeg -vf scale (max/mean diff {:?})",
        pixel_difference(&rgba.pixels, cli_rgba)
    );
    let rgb = video
        .frame_index(
            2,
            FrameSpec {
                size: OutputSize::Exact {
                    width: 32,
                    height: 20,
                },
                layout: PixelLayout::Rgb24,
            },
        )
        .unwrap();
    // swscale's packed RGBA and RGB24 writers round the same scaled YUV slightly differently
    // (seen: at most 3 levels), so the layouts agree closely rather than bit for bit.
    let rgba_as_rgb: Vec<u8> = rgba
        .pixels
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let (max, mean) = pixel_difference(&rgba_as_rgb, &rgb.pixels);
    assert!(
        max <= 4 && mean < 1.0,
        "RGBA vs RGB24: max {max}, mean {mean}"
    );
    let cli_rgb =
        &ffmpeg_filtered_frames(&path, "scale=32:20:flags=bicubic", "rgb24", 32 * 20 * 3)[2];
    assert!(
        rgb.pixels[..] == cli_rgb[..],
        "RGB24 32x20 vs ffmpeg -vf scale (max/mean diff {:?})",
        pixel_difference(&rgb.pixels, cli_rgb)
    );
    let fitted = video.frame_index(2, FrameSpec::fit_rgb(48, 48)).unwrap();
    assert_eq!((fitted.width, fitted.height), (48, 32));
    assert_eq!(fitted.row_bytes(), 48 * 3);
    let cli_fitted =
        &ffmpeg_filtered_frames(&path, "scale=48:32:flags=bicubic", "rgb24", 48 * 32 * 3)[2];
    assert!(
        fitted.pixels[..] == cli_fitted[..],
        "fitted 48x32 vs ffmpeg -vf scale (max/mean diff {:?})",
        pixel_difference(&fitted.pixels, cli_fitted)
    );
}
