//! The demo world on disk: `demo-data` is deterministic for a seed, its captions and QA validate
//! with the haic crate, and the app decodes a generated video into the very frames and sampling
//! plan the trainer renders in memory (so training sees what the app will feed the model).

use std::{path::Path, process::Command, sync::atomic::AtomicBool};

use keye_model::{
    mavors::MavorsConfig,
    video::{VideoEncoderKind, VideoPlan, VideoPlanSettings, VideoTimeline},
};
use keye_studio::{
    demo::{
        dataset::scenes, encode::write_video, model_files::mavors_section, render::YuvRoundTrip,
        render::render,
    },
    inference::{DecodedPlan, decode_planned},
};

fn demo_data(seed: u64, count: usize, out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(["demo-data", "--seed", &seed.to_string(), "--count"])
        .arg(count.to_string())
        .arg("--out")
        .arg(out)
        .status()
        .expect("run keye-studio demo-data");
    assert!(status.success());
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

#[test]
fn demo_data_is_the_same_for_a_seed_and_its_captions_and_qa_validate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    demo_data(11, 4, &a);
    demo_data(11, 4, &b);
    demo_data(12, 4, &c);
    let first = files(&a);
    assert_eq!(
        first.len(),
        4 + 3,
        "{:?}",
        first.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(first, files(&b), "same seed, same bytes");
    assert_ne!(first, files(&c), "another seed, other videos");

    for name in ["captions.jsonl", "qa.jsonl"] {
        let file = haic::CaptionFile::load(a.join(name), &haic::FieldNames::default()).unwrap();
        assert!(file.problems().is_empty(), "{name}: {:?}", file.problems());
        assert!(!file.is_empty());
        let findings = haic::validate::validate_file(&file, &|_| None);
        assert!(findings.is_empty(), "{name}: {findings:?}");
    }
    let questions = std::fs::read_to_string(a.join("questions.jsonl")).unwrap();
    for line in questions.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let frames = record["boxes"].as_object().unwrap();
        assert!(!frames.is_empty(), "{line}");
        for boxes in frames.values() {
            let visible = boxes.as_array().unwrap().iter().filter(|b| !b.is_null());
            for b in visible {
                let b: Vec<u64> = serde_json::from_value(b.clone()).unwrap();
                assert!(b[0] < b[2] && b[1] < b[3], "{line}");
                assert!(b[2] <= record["width"].as_u64().unwrap());
                assert!(b[3] <= record["height"].as_u64().unwrap());
            }
        }
    }
}

#[test]
fn the_app_decodes_the_frames_and_plan_that_training_renders() {
    let dir = tempfile::tempdir().unwrap();
    let mavors: MavorsConfig = serde_json::from_value(mavors_section()).unwrap();
    let settings = VideoPlanSettings {
        image_size: 112,
        mavors,
        ..VideoPlanSettings::default()
    };
    let mut yuv = YuvRoundTrip::new();
    for (index, scene) in scenes(5, 3).iter().enumerate() {
        let path = dir.path().join(format!("{index}.mp4"));
        write_video(scene, &path).unwrap();
        let timeline = VideoTimeline {
            frame_times: scene.frame_times(),
            end: scene.duration(),
            fps: f64::from(scene.fps),
            width: scene.width,
            height: scene.height,
        };
        for kind in [VideoEncoderKind::Keye15, VideoEncoderKind::Mavors] {
            let planned = VideoPlan::new(kind, &timeline, &settings).unwrap();
            let DecodedPlan {
                timeline: decoded_timeline,
                plan,
                frames,
                ..
            } = decode_planned(
                &path,
                &[],
                kind,
                &settings,
                &AtomicBool::new(false),
                &mut |_, _, _| {},
            )
            .unwrap();
            assert_eq!(plan, planned, "{kind:?} plan of video {index}");
            assert_eq!(decoded_timeline.frame_times.len(), scene.frames);
            for (a, b) in decoded_timeline
                .frame_times
                .iter()
                .zip(&timeline.frame_times)
            {
                assert!((a - b).abs() < 1e-6, "frame time {a} vs {b}");
            }
            for (frame, decoded) in plan.frames_to_decode().into_iter().zip(&frames) {
                let rendered = yuv
                    .apply(&render(scene, scene.frame_time(frame)).image)
                    .unwrap();
                let diff: f64 = rendered
                    .as_raw()
                    .iter()
                    .zip(decoded.as_raw())
                    .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
                    .sum::<f64>()
                    / rendered.as_raw().len() as f64;
                assert!(
                    diff < 2.0,
                    "video {index} frame {frame}: mean difference {diff}"
                );
            }
        }
    }
}
