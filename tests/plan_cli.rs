//! `keye-studio plan`: the sampling and chunk plan of each encoder, on the video's own timeline
//! (start offsets and variable frame rates kept), checked against ffprobe's timestamps.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Fixtures, ffprobe_frames, ffprobe_stream};

fn plan(video: &Path, encoder: &str, model: Option<&Path>) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keye-studio"));
    command
        .args(["plan", "--json", "--encoder", encoder])
        .arg(video);
    if let Some(model) = model {
        command.arg("--model").arg(model);
    }
    let output = command.output().expect("run keye-studio plan");
    assert!(
        output.status.success(),
        "plan failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("plan --json prints JSON")
}

/// A checkpoint config (the tiny 1.5 model's) with a `mavors_config` section.
fn mavors_model(fixtures: &Fixtures, mavors: Value) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models/keye-1.5-tiny/config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
    config["mavors_config"] = mavors;
    let dir = fixtures.path("model");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn indices(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn mavors_chunks_sit_on_the_videos_own_timeline_with_vfr_and_a_start_offset() {
    let fixtures = Fixtures::new();
    let video = fixtures.vfr_with_start_offset("vfr.mkv", "96x64", &[]);
    let model = mavors_model(
        &fixtures,
        serde_json::json!({"chunk_frames": 4, "sample_fps": 10.0}),
    );
    let out = plan(&video, "mavors", Some(&model));
    let time_base = ffprobe_stream(&video)["time_base"]
        .as_str()
        .unwrap()
        .to_owned();
    let (num, den) = time_base.split_once('/').unwrap();
    let tick = num.parse::<f64>().unwrap() / den.parse::<f64>().unwrap();
    let pts: Vec<f64> = ffprobe_frames(&video)
        .iter()
        .map(|f| f.pts as f64 * tick)
        .collect();
    let chunks = out["chunks"].as_array().unwrap();

    // 10 fps from the first frame (10.0 s) to the end of the last (11.8 s plus its duration).
    let end = out["end"].as_f64().unwrap();
    assert!((out["start"].as_f64().unwrap() - 10.0).abs() < 1e-3);
    assert!(end > 11.8 && end <= 11.9 + 1e-6, "end {end}");
    let end_of_video = end;
    let sampled = ((end - 10.0) * 10.0 - 1e-9).ceil() as usize;
    assert_eq!(out["sampled_frames"], sampled);
    assert_eq!(
        chunks.len(),
        sampled.div_ceil(4),
        "ceil(samples / F) chunks"
    );
    assert_eq!(out["accelerated"], false);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk["index"], i);
        let start = chunk["start"].as_f64().unwrap();
        assert!(
            (start - (10.0 + 0.4 * i as f64)).abs() < 1e-6,
            "chunk {i} starts at {start}"
        );
        let frames = indices(&chunk["frame_indices"]);
        assert_eq!(frames.len(), 4);
        // Each sample shows the frame on screen at its time; timestamps are that frame's pts.
        let real = if chunk["padded"] == true {
            sampled % 4
        } else {
            4
        };
        let timestamps = floats(&chunk["timestamps"]);
        for (k, (&frame, &ts)) in frames.iter().zip(&timestamps).enumerate().take(real) {
            assert!((ts - pts[frame]).abs() < 1e-3, "chunk {i} frame {k}");
            let sample_time = start + 0.1 * k as f64;
            assert!(pts[frame] <= sample_time + 1e-6);
            assert!(
                pts.get(frame + 1)
                    .is_none_or(|&next| next > sample_time + 1e-6)
            );
        }
        // Chunks tile the video.
        let end = chunk["end"].as_f64().unwrap();
        let next = chunks
            .get(i + 1)
            .map_or(end_of_video, |c| c["start"].as_f64().unwrap());
        assert!((end - next).abs() < 1e-6);
        assert_eq!(
            chunk["padded"],
            i + 1 == chunks.len() && !sampled.is_multiple_of(4)
        );
    }
    // Dense start (25 fps): samples skip frames; sparse end (10 fps): one sample per frame.
    assert_eq!(indices(&chunks[0]["frame_indices"]), vec![0, 2, 5, 7]);
}

#[test]
fn mavors_pads_the_last_chunk_and_accelerates_long_videos_keeping_timestamps() {
    let fixtures = Fixtures::new();
    let video = fixtures.testsrc(
        "six-seconds.mp4",
        "64x48",
        10,
        6.0,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    // 2 fps over 6 s: 12 samples in chunks of 5 -> 3 chunks, the last padded with 3 repeats.
    let padded = plan(
        &video,
        "mavors",
        Some(&mavors_model(
            &fixtures,
            serde_json::json!({"chunk_frames": 5}),
        )),
    );
    let chunks = padded["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2]["padded"], true);
    let last = indices(&chunks[2]["frame_indices"]);
    assert_eq!(&last[2..], &[last[1], last[1], last[1]]);

    // A budget of 2 chunks of 2 frames: 12 samples drop to 4, spread over the whole video.
    let fast = plan(
        &video,
        "mavors",
        Some(&mavors_model(
            &Fixtures::new(),
            serde_json::json!({"chunk_frames": 2, "max_chunks": 2}),
        )),
    );
    assert_eq!(fast["accelerated"], true);
    let chunks = fast["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 2);
    let times: Vec<f64> = chunks
        .iter()
        .flat_map(|c| floats(&c["timestamps"]))
        .collect();
    assert_eq!(
        times,
        vec![0.0, 1.5, 3.0, 4.5],
        "original timestamps of the kept samples"
    );
    // C-RoPE positions follow the original timeline: chunk 1 starts at sample 6 = chunk 3 of 2.
    assert_eq!(fast["positions"], serde_json::json!([0, 3]));
}

#[test]
fn keye_encoders_sample_frames_as_keye_vl_utils_does() {
    let video = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-16x9.mp4");
    // 240 frames at 30 fps: 8 s at 2 fps is 16 frames at linspace(0, 239, 16).round().
    let expected: Vec<usize> = (0..16)
        .map(|i| (i as f64 * 239.0 / 15.0).round_ties_even() as usize)
        .collect();
    for encoder in ["keye", "keye15"] {
        let out = plan(&video, encoder, None);
        let chunks = out["chunks"].as_array().unwrap();
        let frames: Vec<usize> = chunks
            .iter()
            .flat_map(|c| indices(&c["frame_indices"]))
            .collect();
        assert_eq!(frames, expected, "{encoder}");
        assert_eq!(out["decoded_frames"], 16);
        for c in chunks {
            let start = c["start"].as_f64().unwrap();
            let frame = indices(&c["frame_indices"])[0];
            assert!((start - frame as f64 / 30.0).abs() < 1e-6);
        }
    }
}

#[test]
fn plan_of_a_file_that_is_not_a_video_names_the_file() {
    let fixtures = Fixtures::new();
    let garbage = fixtures.bytes("garbage.mp4", b"not a video at all");
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(["plan", "--encoder", "mavors"])
        .arg(&garbage)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("garbage.mp4"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
