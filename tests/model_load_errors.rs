//! Broken checkpoint folders, as `keye-studio ask` reports them: one line on stderr that names
//! the folder or file and the problem once (no cause repeated down the error chain), and for a
//! damaged safetensors file the tensor whose entry is wrong.

use std::{path::Path, process::Command};

fn tiny_model() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/keye-1.5-tiny")
}

/// A copy of the tiny 1.5 checkpoint in `dir`, without the files named in `skip`.
fn copy_model(dir: &Path, skip: &[&str]) {
    for entry in std::fs::read_dir(tiny_model()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !skip.iter().any(|s| name == *s) {
            std::fs::copy(entry.path(), dir.join(&name)).unwrap();
        }
    }
}

/// Runs `ask` on the sample video with `--model dir`; returns stderr, which must be one line.
fn ask_fails(dir: &Path) -> String {
    let video = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-16x9.mp4");
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(["ask", video.to_str().unwrap(), "What happens?", "--model"])
        .arg(dir)
        .output()
        .expect("run keye-studio");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

/// The safetensors header as JSON and the data section, split.
fn split_safetensors(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + len]).unwrap(),
        bytes[8 + len..].to_vec(),
    )
}

fn join_safetensors(header: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap();
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn a_missing_or_empty_folder_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let message = ask_fails(&dir.path().join("nowhere"));
    assert!(message.ends_with("nowhere: no such folder"), "{message}");
    let message = ask_fails(dir.path());
    assert!(message.contains(": the folder is empty;"), "{message}");
}

#[test]
fn a_missing_file_is_named_once_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    copy_model(dir.path(), &["config.json"]);
    let message = ask_fails(dir.path());
    assert!(message.contains("config.json: cannot read:"), "{message}");
    assert_eq!(
        message.to_lowercase().matches("no such file").count(),
        1,
        "{message}"
    );

    let dir = tempfile::tempdir().unwrap();
    copy_model(dir.path(), &["preprocessor_config.json"]);
    let message = ask_fails(dir.path());
    assert!(message.contains("preprocessor_config.json"), "{message}");
    assert_eq!(
        message.to_lowercase().matches("no such file").count(),
        1,
        "{message}"
    );
}

#[test]
fn a_header_dtype_that_disagrees_with_the_data_names_the_tensor_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_model(dir.path(), &["model.safetensors"]);
    let bytes = std::fs::read(tiny_model().join("model.safetensors")).unwrap();
    let (mut header, data) = split_safetensors(&bytes);
    let name = "model.layers.0.mlp.up_proj.weight";
    header[name]["dtype"] = "BF16".into();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, join_safetensors(&header, &data)).unwrap();
    let message = ask_fails(dir.path());
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("tensor {name}: dtype BF16 and shape")),
        "{message}"
    );
}

#[test]
fn an_entry_removed_with_its_data_left_in_place_names_both_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    copy_model(dir.path(), &["model.safetensors"]);
    let bytes = std::fs::read(tiny_model().join("model.safetensors")).unwrap();
    let (mut header, data) = split_safetensors(&bytes);
    // Remove an entry from the middle of the data section.
    let mut by_offset: Vec<(u64, String)> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(name, info)| (info["data_offsets"][0].as_u64().unwrap(), name.clone()))
        .collect();
    by_offset.sort();
    let (before, removed, after) = (&by_offset[4].1, &by_offset[5].1, &by_offset[6].1);
    header.as_object_mut().unwrap().remove(removed);
    std::fs::write(
        dir.path().join("model.safetensors"),
        join_safetensors(&header, &data),
    )
    .unwrap();
    let message = ask_fails(dir.path());
    assert!(
        message.contains(&format!(
            "between tensor {before} and tensor {after} belong to no tensor"
        )),
        "{message}"
    );
}
