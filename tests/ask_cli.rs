//! `keye-studio ask` as a user runs it on the tiny golden Preview model and the golden image:
//! `--json` writes one event per line (the greedy tokens are the golden ones), `--attention`
//! writes the maps and their index, and bad input fails with a message naming the file.

use std::{path::PathBuf, process::Command};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn ask(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .arg("ask")
        .args(args)
        .output()
        .expect("run keye-studio");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The JSON header of a safetensors file (8-byte little-endian length, then the JSON).
fn safetensors_header(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

#[test]
fn json_events_one_per_line_with_golden_tokens_and_attention_file() {
    let model = fixtures().join("models/keye-preview-tiny");
    let image = fixtures().join("keye-preview-image/image.png");
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("maps.safetensors");
    let (ok, stdout, stderr) = ask(&[
        image.to_str().unwrap(),
        "Describe this image.",
        "--model",
        model.to_str().unwrap(),
        "--think",
        "--json",
        "--temperature",
        "0",
        "--max-new-tokens",
        "8",
        "--attention",
        maps.to_str().unwrap(),
        "--attention-layers",
        "0,1",
    ]);
    assert!(ok, "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(events[0]["event"], "prefilled");
    assert_eq!(events[0]["prompt_tokens"], 52);
    // The golden run's greedy ids: [198, 198, 198, 1002 (<|im_end|>, EOS), ...]; EOS stops it.
    let tokens: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "token")
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(tokens, [198, 198, 198, 1002]);
    let text: String = events
        .iter()
        .filter(|e| e["event"] == "text")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "\n\n\n");
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "text")
            .all(|e| e["phase"] == "answer")
    );
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(
        done["stop"],
        serde_json::json!({"reason": "stop_token", "id": 1002})
    );
    assert_eq!(done["text"], "\n\n\n");
    assert!(done["timing"]["prefill_ms"].as_f64().unwrap() > 0.0);

    let header = safetensors_header(&maps);
    assert_eq!(header["layer0.mean"]["shape"], serde_json::json!([4, 20]));
    assert_eq!(header["layer1.mean"]["shape"], serde_json::json!([4, 20]));
    assert_eq!(
        header["layer1.frame_totals"]["shape"],
        serde_json::json!([4, 1])
    );
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("maps.json")).unwrap())
            .unwrap();
    assert_eq!(index["media"][0]["kind"], "image");
    assert_eq!(index["media"][0]["frames"], serde_json::json!([[4, 5]]));
    assert_eq!(index["layers"], serde_json::json!([0, 1]));
}

#[test]
fn terminal_mode_prints_the_answer_and_bad_media_names_the_file() {
    let model = fixtures().join("models/keye-preview-tiny");
    let image = fixtures().join("keye-preview-image/image.png");
    let (ok, stdout, stderr) = ask(&[
        image.to_str().unwrap(),
        "Describe this image.",
        "--model",
        model.to_str().unwrap(),
        "--think",
        "--max-new-tokens",
        "3",
    ]);
    assert!(ok, "{stderr}");
    // Three golden newline tokens, then the final line break.
    assert_eq!(stdout, "\n\n\n\n");
    assert!(stderr.contains("52 prompt tokens, prefill"), "{stderr}");

    let missing = fixtures().join("no-such-image.png");
    let (ok, _, stderr) = ask(&[
        missing.to_str().unwrap(),
        "q",
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("no-such-image.png"), "{stderr}");
}

#[test]
fn a_video_with_the_1_5_model_streams_json_and_maps_attention_to_its_frames() {
    let model = fixtures().join("models/keye-1.5-tiny");
    let video = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/sample-16x9.mp4"
    ));
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("maps.safetensors");
    let (ok, stdout, stderr) = ask(&[
        video.to_str().unwrap(),
        "What happens in this video?",
        "--model",
        model.to_str().unwrap(),
        "--json",
        "--no-think",
        "--temperature",
        "0",
        "--max-new-tokens",
        "3",
        "--attention",
        maps.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "prefilled");
    assert_eq!(events.last().unwrap()["event"], "done");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(maps.with_extension("json")).unwrap())
            .unwrap();
    // 8 s at 2 fps: 16 SlowFast frames, each a frame of the one video in the index.
    let media = index["media"].as_array().expect("index lists the media");
    assert_eq!(media.len(), 1);
    assert_eq!(media[0]["kind"], "video");
    assert_eq!(media[0]["frames"].as_array().unwrap().len(), 16);
}

#[test]
fn vision_attention_saves_each_layer_over_the_frames_patch_grid() {
    let model = fixtures().join("models/keye-1.5-tiny");
    let image = fixtures().join("keye-preview-image/image.png");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vision.safetensors");
    let run = |layers: &str| {
        Command::new(env!("CARGO_BIN_EXE_keye-studio"))
            .args(["vision-attention"])
            .arg(&image)
            .arg("--model")
            .arg(&model)
            .args(["--layers", layers, "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };
    let ok = run("0,1");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
            .unwrap();
    let (rows, cols) = (
        index["grid"][0].as_u64().unwrap(),
        index["grid"][1].as_u64().unwrap(),
    );
    let header = safetensors_header(&out);
    for layer in ["layer.0", "layer.1"] {
        assert_eq!(
            header[layer]["shape"],
            serde_json::json!([index["heads"], rows * cols, rows * cols]),
            "{layer}"
        );
    }
    let bad = run("99");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--layers 99"));
}
