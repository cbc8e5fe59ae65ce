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

/// The exact inputs of the issue that reported messages contradicting themselves and a convert
/// that exited 0 while leaving out what it said it kept.
#[test]
fn a_lone_surrogate_escape_is_called_an_invalid_escape_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.jsonl");
    fs::write(
        &path,
        "{\"video\": \"a.mp4\", \"caption\": \"bad \\udc00 surrogate\"}\n",
    )
    .expect("write");
    let output = captions(&["validate", arg(&path)]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        format!(
            "{}:1:36: record 0: JSON syntax error: invalid escape \\udc00: a low surrogate without a high surrogate escape (\\ud800 to \\udbff) before it\n",
            path.display()
        )
    );
}

#[test]
fn convert_never_exits_0_leaving_out_a_top_level_that_is_not_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content, holds) in [
        (
            "s.json",
            "\"hello\"",
            "the file holds a string, not caption records",
        ),
        (
            "n.json",
            "42\n",
            "the file holds a number, not caption records",
        ),
        (
            "s.jsonl",
            "\"hello\"\n",
            "the record is a string, not an object",
        ),
        ("n.jsonl", "42", "the record is a number, not an object"),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, content).expect("write");
        let other = if name.ends_with(".jsonl") {
            "json"
        } else {
            "jsonl"
        };
        let out = dir.path().join(format!("{name}.out.{other}"));
        let output = captions(&["convert", arg(&path), "--out", arg(&out)]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        let expected = format!("error: {}:1:1: record 0: {holds}", path.display());
        assert!(
            stderr(&output).starts_with(&expected),
            "{name}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).ends_with(
                "; not converted: fix the file, or pass --drop-bad to leave out what cannot be read\n"
            ),
            "{name}: {}",
            stderr(&output)
        );
        assert_eq!(stderr(&output).lines().count(), 1, "one line");
        assert!(!out.exists(), "{name}: nothing written");

        // Asked to leave it out, it says so; nothing claims it was kept.
        let dropped = captions(&["convert", arg(&path), "--out", arg(&out), "--drop-bad"]);
        assert!(dropped.status.success(), "{}", stderr(&dropped));
        let first = stderr(&dropped)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            first.contains(holds) && first.ends_with(" (left out)"),
            "{}",
            stderr(&dropped)
        );
        assert!(
            stderr(&dropped).ends_with(": 0 record(s) written, 1 unreadable record(s) left out\n"),
            "{}",
            stderr(&dropped)
        );
        assert!(!stderr(&dropped).contains("kept"), "{}", stderr(&dropped));

        // In its own format it is copied as it is, and said to be.
        let same = dir.path().join(format!("{name}.same.{}", &name[2..]));
        let copied = captions(&["convert", arg(&path), "--out", arg(&same)]);
        assert!(copied.status.success(), "{}", stderr(&copied));
        assert_eq!(fs::read_to_string(&same).expect("copy"), content, "{name}");
        let first = stderr(&copied)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            first.contains(holds) && first.ends_with(" (copied as it is)"),
            "{}",
            stderr(&copied)
        );
    }
}

#[cfg(unix)]
#[test]
fn converted_exported_and_formatted_files_keep_the_source_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("captions.json");
    fs::copy(fixture("captions.json"), &path).expect("copy");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
    let lines = dir.path().join("c.jsonl");
    assert!(
        captions(&["convert", arg(&path), "--out", arg(&lines)])
            .status
            .success()
    );
    assert_eq!(mode(&lines), 0o640);
    let timed = dir.path().join("timed.jsonl");
    fs::write(&timed, TIMED).expect("write");
    fs::set_permissions(&timed, fs::Permissions::from_mode(0o604)).expect("chmod");
    let vtt = dir.path().join("timed.vtt");
    let export = captions(&["export", arg(&timed), "--to", "vtt", "--out", arg(&vtt)]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(mode(&vtt), 0o604);
    assert!(captions(&["fmt", arg(&path)]).status.success());
    assert_eq!(mode(&path), 0o640, "the rewritten file");
    assert_eq!(
        mode(&dir.path().join("captions.json.bak")),
        0o640,
        "its backup"
    );
}

/// Every file of the mutation corpus (`tests/fixtures/haic/mutations`) through `convert` to the
/// other format: the exit status is 0 or 1, never a panic; a refusal is one line naming the
/// file and a line in it; and exit 0 means every record is in the output.
#[test]
fn convert_replays_the_mutation_corpus_without_panics_or_silent_loss() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/haic/mutations");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<PathBuf> = fs::read_dir(&folder)
        .expect("corpus")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "json" || ext == "jsonl")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 250);
    // Process start-up dominates: a few threads at a time keep this test short.
    let outcomes: Vec<bool> = std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(files.len().div_ceil(4))
            .map(|chunk| {
                let dir = dir.path();
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|path| replay_convert(path, dir))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("worker"))
            .collect()
    });
    let refused = outcomes.iter().filter(|&&refused| refused).count();
    let converted = outcomes.len() - refused;
    assert!(
        refused >= 100 && converted >= 30,
        "{refused} refused, {converted} converted"
    );
}

/// Converts one corpus file to the other format and checks the outcome: `Some(true)` when it was
/// refused, `Some(false)` when it was converted, `None` when it was copied as it is.
fn replay_convert(path: &Path, dir: &Path) -> Option<bool> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let other = if name.ends_with(".jsonl") {
        "json"
    } else {
        "jsonl"
    };
    let out = dir.join(format!("{name}.{other}"));
    let output = captions(&["convert", arg(path), "--out", arg(&out)]);
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{name}: {err}");
    match output.status.code() {
        Some(0) => {
            let input =
                haic::CaptionFile::load(path, &haic::FieldNames::default()).expect("input loads");
            let written = fs::read(&out).expect("written");
            // Content that reads as the other format already is copied as it is.
            if written == fs::read(path).expect("read") {
                return None;
            }
            let written =
                haic::CaptionFile::from_bytes(&out, written, &haic::FieldNames::default());
            assert!(
                written.problems().is_empty(),
                "{name}: {:?}",
                written.problems()
            );
            assert_eq!(written.len(), input.len(), "{name}: every record written");
            Some(false)
        }
        Some(1) => {
            let lines = fs::read(path).expect("read").split(|&b| b == b'\n').count();
            let prefix = format!("error: {}:", path.display());
            let rest = err
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{name}: {err}"));
            let line: usize = rest
                .split(':')
                .next()
                .and_then(|line| line.parse().ok())
                .unwrap_or_else(|| panic!("{name}: no line in {err}"));
            assert!((1..=lines).contains(&line), "{name}: {err}");
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(!out.exists(), "{name}: refused but written");
            Some(true)
        }
        code => panic!("{name}: exit {code:?}: {err}"),
    }
}

#[test]
fn agree_reports_iou_kappa_and_the_event_one_annotator_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    fs::write(&a, TIMED).expect("write a");
    // B times the walk one second later ([1.5, 3.0] against [0.5, 2.0]: IoU 0.5 / 2.5 = 0.2) and
    // leaves out the nod.
    let other = TIMED
        .replace(r#""start": 0.5, "end": 2.0"#, r#""start": 1.5, "end": 3.0"#)
        .replace(
            r#", {"who": ["P2"], "action": "nods", "start": 62.25, "end": 63.0}"#,
            "",
        );
    fs::write(&b, other).expect("write b");
    let output = captions(&["agree", arg(&a), arg(&b)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("temporal IoU        0.200"), "{text}");
    assert!(
        text.contains("Events only in A:\n  clips/0001.mp4 record 0 event 1 [62.25-63.00 s]: nods"),
        "{text}"
    );
    assert!(
        text.contains("IoU 0.20  A clips/0001.mp4 record 0 event 0"),
        "{text}"
    );

    let output = captions(&["agree", arg(&a), arg(&a), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["kappa"], 1.0);
    assert_eq!(report["mean_iou"], 1.0);
    assert_eq!(report["unmatched_share"], 0.0);
    assert_eq!(report["matched"].as_array().map(Vec::len), Some(3));

    let output = captions(&["agree", arg(&a), "missing.jsonl"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("missing.jsonl"),
        "{}",
        stderr(&output)
    );
}
