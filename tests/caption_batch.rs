//! `keye-studio caption` as a user runs it over a folder with one broken video, with the tiny
//! Keye-VL-1.5 checkpoint loaded locally and through `keye-studio serve`'s API: every good video
//! gets a record with its caption, the broken one a record with its error, the output is a HAIC
//! caption file, and a second run skips everything already there.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use keye_studio::{
    inference::LoadedModel,
    serve::{ServeOptions, Server},
};
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn tiny_model_dir() -> PathBuf {
    repo("tests/fixtures/models/keye-1.5-tiny")
}

/// A folder with two good videos (one in a subfolder), a broken one and a file that is no video.
fn video_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(videos.join("more")).unwrap();
    std::fs::copy(repo("assets/sample-16x9.mp4"), videos.join("wide.mp4")).unwrap();
    std::fs::copy(repo("assets/sample-9x16.mp4"), videos.join("more/tall.mp4")).unwrap();
    std::fs::write(videos.join("broken.mp4"), b"this is not a video at all").unwrap();
    std::fs::write(videos.join("notes.txt"), b"not a video either").unwrap();
    dir
}

/// Runs `keye-studio caption` in `dir`; success, stderr.
fn caption(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .current_dir(dir)
        .arg("caption")
        .args(args)
        .args([
            "--max-new-tokens",
            "6",
            "--max-frames",
            "2",
            "--max-pixels",
            "50000",
        ])
        .output()
        .expect("run keye-studio");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// The records of one run: good videos captioned, the broken one with its error.
fn check_records(out: &Path) {
    let mut records = records(out);
    records.sort_by_key(|r| r["video"].as_str().unwrap().to_owned());
    let videos: Vec<&str> = records
        .iter()
        .map(|r| r["video"].as_str().unwrap())
        .collect();
    assert_eq!(
        videos,
        [
            "videos/broken.mp4",
            "videos/more/tall.mp4",
            "videos/wide.mp4"
        ]
    );
    let error = records[0]["error"].as_str().unwrap();
    assert!(
        error.contains("broken.mp4") && error.contains("not a video file"),
        "{error}"
    );
    for good in &records[1..] {
        assert!(good.get("error").is_none(), "{good}");
        assert!(
            !good["caption"].as_str().unwrap().trim().is_empty(),
            "{good}"
        );
    }
    // The output is a HAIC caption file: every line is a caption record.
    let file = haic::CaptionFile::load(out, &haic::FieldNames::default()).unwrap();
    assert!(file.problems().is_empty(), "{:?}", file.problems());
    assert_eq!(file.len(), 3);
}

#[test]
fn a_folder_with_one_broken_video_is_captioned_and_a_second_run_skips_it_all() {
    let dir = video_folder();
    let model = tiny_model_dir();
    let args = [
        "videos",
        "--out",
        "captions.jsonl",
        "--model",
        model.to_str().unwrap(),
    ];
    let (ok, stderr) = caption(dir.path(), &args);
    assert!(!ok, "one video failed, so the run says so: {stderr}");
    assert!(stderr.contains("captioned 2, failed 1"), "{stderr}");
    let out = dir.path().join("captions.jsonl");
    check_records(&out);

    let before = std::fs::read(&out).unwrap();
    let (ok, stderr) = caption(dir.path(), &args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("all 3 videos are already in"), "{stderr}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "nothing is written again"
    );
}

#[test]
fn an_interrupted_run_resumes_and_failed_videos_can_be_retried() {
    let dir = video_folder();
    let model = tiny_model_dir();
    let out = dir.path().join("captions.jsonl");
    // A run killed while writing its second record: one whole line and a cut one.
    std::fs::write(
        &out,
        "{\"video\":\"videos/wide.mp4\",\"caption\":\"There is one person.\"}\n{\"video\":\"videos/more/ta",
    )
    .unwrap();
    let args = [
        "videos",
        "--out",
        "captions.jsonl",
        "--model",
        model.to_str().unwrap(),
    ];
    let (_, stderr) = caption(dir.path(), &args);
    assert!(
        stderr.contains("removing an unfinished last line"),
        "{stderr}"
    );
    assert!(
        stderr.contains("captioned 1, failed 1, skipped 1"),
        "{stderr}"
    );
    let kept = &records(&out)[0];
    assert_eq!(
        kept["caption"], "There is one person.",
        "the done record is kept"
    );
    check_records(&out);

    let (_, stderr) = caption(
        dir.path(),
        &[
            "videos",
            "--out",
            "captions.jsonl",
            "--model",
            model.to_str().unwrap(),
            "--retry-failed",
        ],
    );
    assert!(
        stderr.contains("captioned 0, failed 1, skipped 2"),
        "{stderr}"
    );
    assert_eq!(records(&out).len(), 4, "the retry is appended");
}

#[test]
fn a_server_captions_with_concurrent_requests_and_a_full_queue_is_waited_for() {
    let dir = video_folder();
    let model =
        Arc::new(LoadedModel::load(&tiny_model_dir(), Default::default(), None, None).unwrap());
    // One place in the queue for three requests at once: the third is refused with 429 and
    // waits for a place instead of failing.
    let options = ServeOptions {
        queue: 1,
        ..ServeOptions::new("tiny")
    };
    let server = Server::start(model, "127.0.0.1:0".parse().unwrap(), options).unwrap();
    let url = format!("http://{}", server.local_addr());
    let args = [
        "videos",
        "--out",
        "captions.jsonl",
        "--server",
        &url,
        "--jobs",
        "3",
    ];
    let (ok, stderr) = caption(dir.path(), &args);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("captioned 2, failed 1"), "{stderr}");
    let out = dir.path().join("captions.jsonl");
    check_records(&out);
    let (ok, stderr) = caption(dir.path(), &args);
    assert!(
        ok && stderr.contains("all 3 videos are already in"),
        "{stderr}"
    );

    // --jobs needs a server; a local model answers one video at a time.
    let model = tiny_model_dir();
    let (ok, stderr) = caption(
        dir.path(),
        &[
            "videos",
            "--out",
            "x.jsonl",
            "--model",
            model.to_str().unwrap(),
            "--jobs",
            "2",
        ],
    );
    assert!(
        !ok && stderr.contains("--jobs 2 needs --server"),
        "{stderr}"
    );
}
