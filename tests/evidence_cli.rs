//! `keye-studio evidence` as a user runs it on the demo model and a demo-world video: the text
//! report has both rankings over the same frames and a faithfulness figure per aggregation;
//! `--json` holds the maps, the sinks, the deletion test and the figures; a missing file is named.

use std::{path::PathBuf, process::Command};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(args)
        .output()
        .expect("run keye-studio");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A demo-world video written by `demo-data`.
fn demo_video(dir: &std::path::Path) -> PathBuf {
    let out = dir.join("data");
    let (ok, _, stderr) = run(&[
        "demo-data",
        "--seed",
        "3",
        "--count",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    out.join("0000.mp4")
}

#[test]
fn evidence_ranks_the_frames_by_attention_and_by_deletion_and_reports_their_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let video = demo_video(dir.path());
    let model = repo("assets/models/keye-demo");
    let args = [
        video.to_str().unwrap(),
        "What colour is the circle?",
        "--model",
        model.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = run(&[&["evidence"], &args[..], &["--json"]].concat());
    assert!(ok, "{stderr}");
    let found: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let frames = found["media"][0]["frames"].as_array().unwrap().len();
    assert!(frames >= 2, "{frames} frames");
    let deletion = found["deletion"]["frames"].as_array().unwrap();
    assert_eq!(deletion.len(), frames);
    let baseline = found["deletion"]["baseline"].as_f64().unwrap();
    assert!(baseline < 0.0 && baseline.is_finite());
    for d in deletion {
        let drop = d["drop"].as_f64().unwrap();
        let log_prob = d["log_prob"].as_f64().unwrap();
        assert!((baseline - log_prob - drop).abs() < 1e-9);
    }
    let methods = found["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "raw attention",
            "attention rollout",
            "gradient-weighted attention"
        ]
    );
    let tokens = found["vision"]["positions"].as_array().unwrap().len();
    for m in methods {
        assert_eq!(m["map"].as_array().unwrap().len(), tokens);
        assert_eq!(m["frames"].as_array().unwrap().len(), frames);
        let figure = m["faithfulness"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&figure), "{figure}");
    }
    assert_eq!(
        found["vision_share"].as_array().unwrap().len(),
        found["answer_tokens"].as_array().unwrap().len()
    );

    // A chosen layer of raw attention comes after the three defaults, with its own map.
    let (ok, stdout, stderr) = run(&[
        &["evidence"],
        &args[..],
        &["--json", "--method", "raw", "--layer", "0"],
    ]
    .concat());
    assert!(ok, "{stderr}");
    let layer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let layer_methods = layer["methods"].as_array().unwrap();
    assert_eq!(layer_methods.len(), 4, "the defaults and the chosen layer");
    assert_eq!(layer_methods[3]["method"]["layer"], 0);
    assert_eq!(layer_methods[3]["map"].as_array().unwrap().len(), tokens);
    assert_ne!(
        layer_methods[3]["map_raw"], layer_methods[0]["map_raw"],
        "layer 0 alone is not the mean of every layer"
    );

    let (ok, text, stderr) = run(&[&["evidence"], &args[..]].concat());
    assert!(ok, "{stderr}");
    assert!(text.starts_with("answer: "), "{text}");
    for heading in [
        "attention ranking (gradient-weighted attention",
        "deletion ranking",
        "faithfulness (Spearman",
    ] {
        assert!(text.contains(heading), "{heading} missing:\n{text}");
    }
    // Both rankings list every frame once.
    assert_eq!(text.matches(" at ").count(), 2 * frames, "{text}");
}

#[test]
fn a_missing_video_is_named() {
    let model = repo("assets/models/keye-demo");
    let (ok, _, stderr) = run(&[
        "evidence",
        "/no/such/video.mp4",
        "What happens?",
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("/no/such/video.mp4: no such file"),
        "{stderr}"
    );
}

#[test]
fn a_layer_is_raw_attentions_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let video = demo_video(dir.path());
    let model = repo("assets/models/keye-demo");
    let base = [
        "evidence",
        video.to_str().unwrap(),
        "What colour is the circle?",
        "--model",
        model.to_str().unwrap(),
    ];
    let (ok, _, stderr) = run(&[&base[..], &["--layer", "1"]].concat());
    assert!(!ok);
    assert!(stderr.contains("add --method raw"), "{stderr}");
    let (ok, _, stderr) = run(&[&base[..], &["--method", "raw", "--layer", "9"]].concat());
    assert!(!ok);
    assert!(stderr.contains("layer 9 does not exist"), "{stderr}");
    let (ok, text, stderr) = run(&[
        &base[..],
        &["--method", "raw", "--layer", "3", "--heads", "max"],
    ]
    .concat());
    assert!(ok, "{stderr}");
    assert!(text.contains("attention ranking (raw attention"), "{text}");
}
