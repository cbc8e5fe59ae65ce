//! `keye-studio captions ...` driven as a user would: real binary, real files, exit codes and output.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/haic/files")
        .join(name)
}

fn captions(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .arg("captions")
        .args(args)
        .output()
        .expect("run keye-studio")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

const TIMED: &str = r#"{"video": "clips/0001.mp4", "duration": 8.5, "people": [{"id": "P1", "attributes": "the young woman in a white crop top"}, {"id": "P2", "attributes": "the old man in a grey suit"}], "events": [{"who": ["P1"], "action": "walks toward", "with": ["P2"], "start": 0.5, "end": 2.0}, {"who": ["P2"], "action": "nods", "start": 62.25, "end": 63.0}, {"who": ["P1"], "action": "smiles"}], "caption": "There are two people in the video. The first person is the young woman in a white crop top. The second person is the old man in a grey suit.\n\nThe young woman in a white crop top walks toward the old man in a grey suit. The old man in a grey suit nods. The young woman in a white crop top smiles."}
"#;

#[test]
fn validate_reports_findings_with_place_and_fails() {
    let output = captions(&[
        "validate",
        arg(&fixture("qa.jsonl")),
        arg(&fixture("captions.json")),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("qa.jsonl:3: record 2: error[bad-answer] answer:"),
        "{out}"
    );
    assert!(out.contains("error[duplicate-options] options[3]"), "{out}");
    assert!(
        out.contains("captions.json:19: record 2: warning[free-text] caption:"),
        "{out}"
    );
    assert!(
        stderr(&output).contains("3 error(s), 2 warning(s) in 2 file(s)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_json_report_and_a_clean_file_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = dir.path().join("clean.jsonl");
    fs::write(
        &clean,
        TIMED.replace("62.25, \"end\": 63.0", "2.25, \"end\": 3.0"),
    )
    .expect("write");
    let output = captions(&["validate", "--json", arg(&clean)]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json report");
    assert_eq!(report["errors"], 0);
    assert_eq!(report["files"][0]["records"], 1);

    let output = captions(&["validate", "--json", arg(&fixture("qa.jsonl"))]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json report");
    let codes: Vec<&str> = report["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| finding["rule"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["duplicate-options", "bad-answer", "bad-category"]);
    assert_eq!(report["files"][0]["findings"][0]["line"], 3);
}

#[test]
fn validate_names_file_line_and_problem_of_broken_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.jsonl");
    fs::write(
        &broken,
        "{\"caption\": \"free\"}\n{\"caption\": \"a\", \"caption\": \"b\"}\n{\"caption\": \n",
    )
    .expect("write");
    let output = captions(&["validate", "--video-field", "clip", arg(&broken)]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains("broken.jsonl:2:18: record 1: duplicate key \"caption\""),
        "{out}"
    );
    assert!(
        out.contains("broken.jsonl:3:12: record 2: truncated JSON"),
        "{out}"
    );

    let missing = captions(&["validate", arg(&dir.path().join("nope.json"))]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).starts_with("error: ") && stderr(&missing).contains("nope.json"));
}

#[test]
fn fmt_rewrites_only_non_canonical_captions_atomically_with_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("captions.json");
    let original = fs::read_to_string(fixture("captions.json")).expect("fixture");
    fs::write(&path, &original).expect("write");
    let check = captions(&["fmt", "--check", arg(&path)]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("captions.json:2: record 0: not in canonical form"),
        "{}",
        stdout(&check)
    );
    assert_eq!(fs::read_to_string(&path).expect("unchanged"), original);

    let output = captions(&["fmt", arg(&path)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("1 caption(s) rewritten"));
    let formatted = fs::read_to_string(&path).expect("formatted");
    let canonical = "There are two people in the video. The first person is the young woman in a white crop top. The second person is the old man in a grey suit.\\n\\nThe young woman in a white crop top walks toward the old man in a grey suit. The old man in a grey suit nods.";
    assert_eq!(
        formatted,
        original.replace(
            "\"There are two people in the video.\"",
            &format!("\"{canonical}\"")
        )
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("captions.json.bak")).expect("backup"),
        original
    );
    assert_eq!(
        captions(&["fmt", "--check", arg(&path)]).status.code(),
        Some(0)
    );
}

#[test]
fn export_writes_subtitles_of_timed_events_and_questions_as_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("timed.jsonl");
    fs::write(&path, TIMED).expect("write");
    let vtt = captions(&["export", arg(&path), "--to", "vtt"]);
    assert!(vtt.status.success(), "{}", stderr(&vtt));
    assert_eq!(
        stdout(&vtt),
        "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nThe young woman in a white crop top walks toward the old man in a grey suit.\n\n00:01:02.250 --> 00:01:03.000\nThe old man in a grey suit nods.\n\n"
    );
    assert!(stderr(&vtt).contains("1 event(s) without start and end left out"));
    let out = dir.path().join("timed.srt");
    let srt = captions(&[
        "export",
        arg(&path),
        "--to",
        "srt",
        "--out",
        arg(&out),
        "--record",
        "0",
    ]);
    assert!(srt.status.success(), "{}", stderr(&srt));
    let srt = fs::read_to_string(&out).expect("srt");
    assert!(
        srt.starts_with("1\n00:00:00,500 --> 00:00:02,000\nThe young woman"),
        "{srt}"
    );
    assert!(
        srt.contains("\n2\n00:01:02,250 --> 00:01:03,000\n"),
        "{srt}"
    );

    let csv = captions(&["export", arg(&fixture("qa.jsonl")), "--to", "csv"]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    let csv = stdout(&csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "record,video,question,A,B,C,D,answer,category,more_options"
    );
    assert_eq!(
        lines[2],
        "1,v1,How many people clap?,one,two,three,four,B,Count,"
    );
    assert_eq!(lines.len(), 4);

    let none = captions(&[
        "export",
        arg(&fixture("captions.json")),
        "--to",
        "vtt",
        "--video",
        "clips/9.mp4",
    ]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("no caption for video"));
}

#[test]
fn convert_round_trips_between_json_and_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = fs::read(fixture("captions.json")).expect("fixture");
    let same = dir.path().join("same.json");
    let output = captions(&[
        "convert",
        arg(&fixture("captions.json")),
        "--out",
        arg(&same),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fs::read(&same).expect("same"),
        original,
        "same format: byte for byte"
    );

    let lines = dir.path().join("c.jsonl");
    assert!(
        captions(&["convert", arg(&same), "--out", arg(&lines)])
            .status
            .success()
    );
    let text = fs::read_to_string(&lines).expect("jsonl");
    assert_eq!(text.lines().count(), 3);
    assert!(text.contains(r#""id":12345678901234567890,"#) && text.contains(r#""ratio": 0.50}"#));
    let back = dir.path().join("back.txt");
    assert!(
        captions(&["convert", arg(&lines), "--out", arg(&back), "--to", "json"])
            .status
            .success()
    );
    let back = fs::read_to_string(&back).expect("json");
    assert!(back.starts_with("[\n{\"id\":12345678901234567890,"));
    let again = dir.path().join("again.jsonl");
    assert!(
        captions(&[
            "convert",
            arg(&dir.path().join("back.txt")),
            "--out",
            arg(&again)
        ])
        .status
        .success()
    );
    assert_eq!(fs::read_to_string(&again).expect("again"), text);
}

#[test]
fn stats_summarises_captions_and_questions() {
    let output = captions(&["stats", "--json", arg(&fixture("captions.json"))]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stats: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(stats["captions"], 3);
    assert_eq!(stats["free_text_captions"], 1);
    assert_eq!(stats["people"], 3);
    assert_eq!(stats["events"], 4);
    assert_eq!(stats["timed_events"], 2);
    let output = captions(&["stats", arg(&fixture("qa.jsonl"))]);
    let out = stdout(&output);
    assert!(out.contains("questions:          3"), "{out}");
    assert!(out.contains("category \"Count\": 1"), "{out}");
}
