//! Bad input gets a typed error naming the file and the problem, never a panic or a hang; a partly
//! broken file gives what decodes plus warnings.

mod support;

use keye_studio::video::{FrameSpec, Video, VideoError, probe};
use support::{Fixtures, ffmpeg_rgb_frames};

fn open_error(path: &std::path::Path) -> VideoError {
    match Video::open(path) {
        Ok(_) => panic!("{} opened but should not", path.display()),
        Err(error) => {
            assert_eq!(error.path(), path, "the error names the file");
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "message names the file: {error}"
            );
            // probe reports the same problem.
            let probed = probe(path).expect_err("probe fails too");
            assert_eq!(probed.to_string(), error.to_string());
            error
        }
    }
}

#[test]
fn missing_empty_and_garbage_files_are_named_errors() {
    let fixtures = Fixtures::new();
    let missing = fixtures.path("nope.mp4");
    assert!(matches!(open_error(&missing), VideoError::NotFound { .. }));

    let empty = fixtures.bytes("empty.mp4", b"");
    assert!(matches!(open_error(&empty), VideoError::Empty { .. }));

    let mut rng = fastrand::Rng::with_seed(3);
    let noise: Vec<u8> = (0..64 * 1024).map(|_| rng.u8(..)).collect();
    let garbage = fixtures.bytes("garbage.mp4", &noise);
    let error = open_error(&garbage);
    assert!(matches!(error, VideoError::Unrecognized { .. }), "{error}");

    let text = fixtures.bytes(
        "notes.mkv",
        "just some text, not a video\n".repeat(100).as_bytes(),
    );
    assert!(matches!(open_error(&text), VideoError::Unrecognized { .. }));

    let directory = fixtures.path("");
    assert!(matches!(open_error(&directory), VideoError::Io { .. }));
}

#[test]
fn an_mp4_without_its_moov_atom_is_reported_as_damaged() {
    let fixtures = Fixtures::new();
    // Without faststart the moov atom is written last, so cutting the file loses it, as when a
    // recording is interrupted.
    let full = fixtures.testsrc(
        "recording.mp4",
        "64x48",
        25,
        2.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let cut = fixtures.truncated(&full, "interrupted.mp4", 0.7);
    let error = open_error(&cut);
    assert!(matches!(error, VideoError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("moov"), "{error}");
}

#[test]
fn audio_only_and_unknown_codecs_are_refused_with_the_reason() {
    let fixtures = Fixtures::new();
    let audio = fixtures.ffmpeg(
        "voice.m4a",
        &["-f", "lavfi", "-i", "sine=f=440:d=1", "-c:a", "aac"],
    );
    let error = open_error(&audio);
    assert!(matches!(error, VideoError::NotAVideo { .. }), "{error}");
    assert!(error.to_string().contains("audio aac"), "{error}");

    // An AVI whose FourCC no decoder knows: take an MJPEG AVI and rename its codec tag.
    let mjpeg = fixtures.testsrc(
        "mjpeg.avi",
        "64x48",
        10,
        0.5,
        &["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"],
    );
    let mut bytes = std::fs::read(&mjpeg).unwrap();
    let header = bytes.len().min(4096);
    let mut renamed = 0;
    for start in 0..header - 4 {
        if &bytes[start..start + 4] == b"MJPG" {
            bytes[start..start + 4].copy_from_slice(b"QZXW");
            renamed += 1;
        }
    }
    assert!(renamed > 0, "fixture has an MJPG tag");
    let unknown = fixtures.bytes("unknown-codec.avi", &bytes);
    let error = open_error(&unknown);
    assert!(
        matches!(error, VideoError::UnsupportedCodec { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("QZXW"), "{error}");
}

#[test]
fn a_truncated_stream_yields_the_frames_that_survive_with_a_warning() {
    let fixtures = Fixtures::new();
    let full = fixtures.testsrc(
        "full.mkv",
        "64x48",
        25,
        2.0,
        &["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p"],
    );
    let cut = fixtures.truncated(&full, "cut.mkv", 0.5);
    let mut video = Video::open(&cut).expect("a cut Matroska file still opens");
    let count = video.frame_count();
    assert!(count > 5 && count < 50, "{count} frames survive");
    assert!(
        !video.warnings().is_empty(),
        "the cut is reported: header declares 2 s, the stream ends early"
    );
    // Every surviving frame decodes, and matches what the ffmpeg CLI gets from the cut file,
    // except possibly the last one, whose packet was cut in half.
    let expected = ffmpeg_rgb_frames(&cut, 64, 48, &[]);
    let comparable = count.min(expected.len()).saturating_sub(1);
    for (index, expected) in expected.iter().enumerate().take(comparable) {
        let frame = video.frame_index(index, FrameSpec::native_rgb()).unwrap();
        assert!(frame.pixels[..] == expected[..], "frame {index}");
    }
    // Out of range is a typed error, not a panic.
    let error = video
        .frame_index(count, FrameSpec::native_rgb())
        .unwrap_err();
    assert!(
        matches!(error, VideoError::IndexOutOfRange { .. }),
        "{error}"
    );
}

#[test]
fn a_faststart_mp4_cut_short_keeps_its_readable_frames() {
    let fixtures = Fixtures::new();
    let full = fixtures.testsrc(
        "faststart.mp4",
        "64x48",
        25,
        2.0,
        &[
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ],
    );
    let cut = fixtures.truncated(&full, "faststart-cut.mp4", 0.6);
    let mut video = Video::open(&cut).expect("the index survives at the front");
    let info = video.info().clone();
    assert!(
        info.frame_count.frames < 50,
        "{} frames",
        info.frame_count.frames
    );
    assert!(!info.warnings.is_empty(), "truncation is reported");
    let frame = video.frame_index(0, FrameSpec::native_rgb()).unwrap();
    assert_eq!(frame.index, 0);
}

#[test]
fn garbage_in_the_middle_of_a_stream_does_not_stop_decoding() {
    let fixtures = Fixtures::new();
    let clean = fixtures.testsrc(
        "clean.avi",
        "64x48",
        25,
        2.0,
        &["-c:v", "mpeg4", "-g", "10", "-q:v", "4"],
    );
    let mut bytes = std::fs::read(&clean).unwrap();
    let middle = bytes.len() / 2;
    let mut rng = fastrand::Rng::with_seed(11);
    for byte in &mut bytes[middle..middle + 600] {
        *byte = rng.u8(..);
    }
    let damaged = fixtures.bytes("damaged.avi", &bytes);
    let mut video = Video::open(&damaged).expect("a damaged AVI still opens");
    let count = video.frame_count();
    assert!(count >= 40, "{count} frames remain readable");
    let mut decoded = 0;
    for index in 0..count {
        match video.frame_index(index, FrameSpec::native_rgb()) {
            Ok(frame) => {
                assert_eq!(frame.index, index);
                decoded += 1;
            }
            Err(error) => assert!(matches!(error, VideoError::Decode { .. }), "{error}"),
        }
    }
    assert!(decoded >= 40, "{decoded} of {count} decoded");
}
