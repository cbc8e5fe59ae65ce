//! `keye-studio golden-check` as a user runs it: every shipped Keye-VL case folder passes with exit
//! 0, and a copy of a case with one logit nudged by 1e-3 fails with a non-zero exit.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn golden_check(dir: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .arg("golden-check")
        .arg(dir)
        .output()
        .expect("run keye-studio");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn every_shipped_case_passes() {
    for case in [
        "keye-preview-image",
        "keye-preview-video",
        "keye-preview-two-images",
        "keye-1.5-image-video",
    ] {
        let (ok, text) = golden_check(&fixtures().join(case));
        assert!(ok, "{case}:\n{text}");
        assert!(text.trim_end().ends_with("PASS"), "{case}:\n{text}");
        assert!(
            text.contains("logits") && text.contains("generated_ids"),
            "{case}:\n{text}"
        );
    }
}

/// Adds `delta` to the first element of `tensor` in a safetensors file, in place.
fn nudge_first_f32(path: &Path, tensor: &str, delta: f32) {
    let mut bytes = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header[tensor]["dtype"], "F32");
    let begin = header[tensor]["data_offsets"][0].as_u64().unwrap() as usize + 8 + header_len;
    let value = f32::from_le_bytes(bytes[begin..begin + 4].try_into().unwrap()) + delta;
    bytes[begin..begin + 4].copy_from_slice(&value.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_perturbed_case_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let models = tmp.path().join("models").join("keye-preview-tiny");
    for (from, to) in [
        (fixtures().join("keye-preview-image"), &case),
        (fixtures().join("models").join("keye-preview-tiny"), &models),
    ] {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    // Make the copies writable (the fixtures may be read-only).
    let outputs = case.join("outputs.safetensors");
    let mut perms = std::fs::metadata(&outputs).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&outputs, perms).unwrap();

    let (ok, text) = golden_check(&case);
    assert!(ok, "the unmodified copy must pass:\n{text}");
    nudge_first_f32(&outputs, "logits", 1e-3);
    let (ok, text) = golden_check(&case);
    assert!(!ok, "a nudged logit must fail:\n{text}");
    assert!(text.trim_end().ends_with("FAIL"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("logits") && l.contains("FAIL")),
        "{text}"
    );
}

#[test]
fn the_mengzi_case_passes_and_fails_when_a_hidden_state_is_nudged() {
    let (ok, text) = golden_check(&fixtures().join("mengzi-bert-tiny"));
    assert!(ok, "{text}");
    assert!(text.trim_end().ends_with("PASS"), "{text}");
    for tensor in [
        "input_ids",
        "last_hidden_state",
        "mean_pooled",
        "mlm_logits_masked_sentence",
        "pair_last_hidden_state",
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(tensor) && l.ends_with("ok")),
            "{tensor}:\n{text}"
        );
    }
    assert!(!text.contains("generated text"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures().join("mengzi-bert-tiny")).unwrap() {
        let path = entry.unwrap().path();
        let copy = tmp.path().join(path.file_name().unwrap());
        std::fs::write(&copy, std::fs::read(&path).unwrap()).unwrap();
    }
    nudge_first_f32(
        &tmp.path().join("outputs.safetensors"),
        "last_hidden_state",
        1e-3,
    );
    let (ok, text) = golden_check(tmp.path());
    assert!(!ok, "a nudged hidden state must fail:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("last_hidden_state") && l.ends_with("FAIL")),
        "{text}"
    );
}
