//! Loading and saving caption files: byte-exact round trips, minimal rewrites of edited records,
//! every class of malformed input, atomic saves with a backup, and format conversion.

use std::{fs, path::PathBuf};

use haic::{CaptionFile, FieldNames, Format, ProblemKind, Record, TextState, save::backup_path};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/haic/files"
    ))
    .join(name)
}

fn load_bytes(name: &str, bytes: &[u8]) -> CaptionFile {
    CaptionFile::from_bytes(name, bytes.to_vec(), &FieldNames::default())
}

fn kinds(file: &CaptionFile) -> Vec<(Option<usize>, ProblemKind)> {
    file.problems()
        .iter()
        .map(|problem| (problem.record, problem.kind.clone()))
        .collect()
}

#[test]
fn fixture_files_load_and_come_back_byte_identical() {
    for name in ["captions.json", "qa.jsonl"] {
        let path = fixture(name);
        let original = fs::read(&path).expect("fixture");
        let file = CaptionFile::load(&path, &FieldNames::default()).expect("load");
        assert!(file.problems().is_empty(), "{name}: {:?}", file.problems());
        assert_eq!(
            file.to_bytes(file.format(), false).expect("bytes"),
            original,
            "{name}"
        );
    }
}

#[test]
fn records_carry_fields_structure_and_free_text() {
    let file = CaptionFile::load(fixture("captions.json"), &FieldNames::default()).expect("load");
    assert_eq!(file.format(), Format::JsonArray);
    assert_eq!(file.len(), 3);
    let first = file.caption(0).expect("caption");
    assert_eq!(first.video.as_deref(), Some("clips/0001.mp4"));
    assert_eq!(first.duration, Some(8.5));
    assert!(first.had_structure_fields);
    let structure = first.structure().expect("structured");
    assert_eq!(
        structure.people[0].hair.as_deref(),
        Some("high black ponytail")
    );
    assert_eq!(structure.people[0].extra["source"], "draft");
    assert_eq!(
        structure.events[1].who,
        ["P2"],
        "a single id string is accepted"
    );
    assert_eq!(structure.events[1].start, Some(2.25));
    let parsed = file
        .caption(1)
        .expect("caption")
        .structure()
        .expect("parsed from text");
    assert_eq!(parsed.events.len(), 2);
    assert!(matches!(
        file.caption(2).expect("caption").state,
        TextState::Free { .. }
    ));
    assert_eq!(file.line_of(1), Some(18));
}

#[test]
fn an_edit_rewrites_only_the_changed_values_of_that_record() {
    let path = fixture("captions.json");
    let original = fs::read_to_string(&path).expect("fixture");
    let mut file = CaptionFile::load(&path, &FieldNames::default()).expect("load");
    let mut caption = file.caption(1).expect("caption").clone();
    caption.caption =
        "There is one person in the video. The person is the boy in a blue hoodie.".into();
    caption.state = TextState::Structured(haic::text::parse(&caption.caption).expect("parses"));
    file.set_caption(1, caption).expect("edit");
    let saved =
        String::from_utf8(file.to_bytes(Format::JsonArray, false).expect("bytes")).expect("utf8");
    let expected = original.replace(
        r#""There is one person in the video. The person is the boy in a blue hoodie.\n\nThe boy in a blue hoodie jumps, then waves.""#,
        r#""There is one person in the video. The person is the boy in a blue hoodie.""#,
    );
    assert_ne!(expected, original);
    assert_eq!(
        saved, expected,
        "only the caption value changed; the 0.50 literal and key order stay"
    );
}

#[test]
fn timing_a_text_only_caption_adds_people_and_events_fields() {
    let mut file = load_bytes("a.jsonl", b"{\"video\":\"v\",\"caption\":\"There is one person in the video. The person is the man in a hat.\\n\\nThe man in a hat waves.\",\"n\":1.10}\n{\"caption\":\"x\"}\n");
    let mut caption = file.caption(0).expect("caption").clone();
    let TextState::Structured(structure) = &mut caption.state else {
        panic!("structured")
    };
    structure.events[0].start = Some(1.0);
    structure.events[0].end = Some(2.5);
    file.set_caption(0, caption).expect("edit");
    let bytes =
        String::from_utf8(file.to_bytes(Format::JsonLines, false).expect("bytes")).expect("utf8");
    let mut lines = bytes.lines();
    let first = lines.next().expect("first line");
    assert!(first.ends_with(r#""n":1.10,"people":[{"id":"P1","attributes":"the man in a hat"}],"events":[{"who":["P1"],"action":"waves","start":1.0,"end":2.5}]}"#), "{first}");
    assert_eq!(lines.next(), Some(r#"{"caption":"x"}"#));
    let reloaded = load_bytes("a.jsonl", bytes.as_bytes());
    assert_eq!(
        reloaded
            .caption(0)
            .expect("caption")
            .structure()
            .expect("s")
            .events[0]
            .end,
        Some(2.5)
    );
}

#[test]
fn bom_and_crlf_are_accepted_and_kept() {
    let bytes = b"\xEF\xBB\xBF{\"caption\":\"a\"}\r\n{\"caption\":\"b\"}\r\n";
    let file = load_bytes("x.jsonl", bytes);
    assert!(file.problems().is_empty(), "{:?}", file.problems());
    assert_eq!(file.len(), 2);
    assert_eq!(
        file.to_bytes(Format::JsonLines, false).expect("bytes"),
        bytes
    );
}

#[test]
fn truncated_json_keeps_the_complete_records_and_refuses_to_save() {
    let file = load_bytes(
        "t.json",
        b"[\n{\"caption\": \"a\"},\n{\"caption\": \"b\"},\n{\"caption\": \"c",
    );
    assert_eq!(file.records().count(), 2);
    let problems = file.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].kind, ProblemKind::FileTruncated);
    assert_eq!((problems[0].record, problems[0].line), (Some(2), 4));
    assert!(
        problems[0].to_string().starts_with("t.json:4:"),
        "{}",
        problems[0]
    );
    let error = file
        .to_bytes(Format::JsonArray, false)
        .expect_err("structure broken");
    assert!(error.to_string().contains("t.json"), "{error}");
}

#[test]
fn invalid_utf8_is_reported_for_its_record_only() {
    let file = load_bytes(
        "u.jsonl",
        b"{\"caption\":\"ok\"}\n{\"caption\":\"bad \xFF byte\"}\n{\"caption\":\"ok too\"}\n",
    );
    assert_eq!(kinds(&file), [(Some(1), ProblemKind::InvalidUtf8)]);
    assert_eq!(
        (file.problems()[0].line, file.problems()[0].column),
        (2, 17)
    );
    assert_eq!(file.records().count(), 2);
    let bytes = file
        .to_bytes(Format::JsonLines, false)
        .expect("intact structure saves");
    assert!(
        bytes.windows(1).any(|window| window == b"\xFF"),
        "the bad record is kept verbatim"
    );
}

#[test]
fn wrong_types_are_named_with_field_and_type() {
    let file = load_bytes(
        "w.jsonl",
        br#"{"caption": 5}
{"caption":"x","people":{"id":"P1"}}
{"caption":"x","events":[{"who":["P1"]}]}
{"question":"q?","options":"A B C D","answer":"A","category":"Count"}
[1, 2]
{"video":"only"}
{"caption":"fine"}
"#,
    );
    let kinds = kinds(&file);
    assert_eq!(kinds.len(), 6);
    assert_eq!(
        kinds[0],
        (
            Some(0),
            ProblemKind::WrongType {
                field: "caption".into(),
                expected: "a string".into(),
                found: "a number".into()
            }
        )
    );
    for index in [1, 3] {
        assert_eq!(kinds[index].0, Some(index));
        assert!(
            matches!(kinds[index].1, ProblemKind::WrongType { .. }),
            "{:?}",
            kinds[index]
        );
    }
    // An item of a list is named by its path (tests/messages.rs pins every message).
    assert_eq!(
        kinds[2],
        (
            Some(2),
            ProblemKind::InvalidItem {
                path: "events[0].action".into(),
                problem: "is missing".into()
            }
        )
    );
    assert!(matches!(&kinds[4].1, ProblemKind::NotARecord(message) if message.contains("array")));
    assert!(matches!(&kinds[5].1, ProblemKind::NotARecord(message) if message.contains("neither")));
    assert_eq!(
        file.records().map(|(index, _)| index).collect::<Vec<_>>(),
        [6]
    );
}

#[test]
fn duplicate_keys_are_errors_not_silently_merged() {
    let file = load_bytes(
        "d.json",
        br#"[{"caption": "a", "caption": "b"}, {"caption": "c", "people": [{"id": "P1", "attributes": "x", "id": "P2"}]}, {"caption": "ok"}]"#,
    );
    assert_eq!(
        kinds(&file),
        [
            (Some(0), ProblemKind::DuplicateKey("caption".into())),
            (Some(1), ProblemKind::DuplicateKey("id".into()))
        ]
    );
    assert_eq!(file.problems()[0].column, 19);
    assert_eq!(file.records().count(), 1);
}

#[test]
fn syntax_errors_skip_one_record_and_recover() {
    let file = load_bytes(
        "s.json",
        b"[{\"caption\": \"a\",}, {\"caption\": \"b\"} {\"caption\": \"c\"}, {\"caption\": 01}]  x",
    );
    let kinds = kinds(&file);
    assert!(
        matches!(kinds[0], (Some(0), ProblemKind::Syntax(_))),
        "{kinds:?}"
    );
    assert!(
        matches!(&kinds[1], (None, ProblemKind::Syntax(message)) if message.contains("expected ','"))
    );
    assert!(
        matches!(kinds[2], (Some(3), ProblemKind::Syntax(_))),
        "{kinds:?}"
    );
    assert!(
        matches!(&kinds[3], (None, ProblemKind::Syntax(message)) if message.contains("after the closing"))
    );
    assert_eq!(
        file.records().map(|(index, _)| index).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn a_file_that_is_not_json_at_all_is_one_unreadable_record() {
    for (name, bytes) in [
        ("n.json", &b"caption: hello\n"[..]),
        ("s.json", b"\"hello\""),
        ("s.jsonl", b"\"hello\"\n"),
        ("n.jsonl", b"42"),
    ] {
        let file = load_bytes(name, bytes);
        assert_eq!(file.len(), 1, "{name}");
        assert!(file.record(0).is_none(), "{name}");
        assert!(
            matches!(kinds(&file)[..], [(Some(0), ProblemKind::NotARecord(_))]),
            "{name}: {:?}",
            kinds(&file)
        );
        // Saved in its own format it comes back as it is; converting it is refused, and with
        // drop_bad there is nothing left.
        assert_eq!(
            file.to_bytes(file.format(), false).expect("verbatim"),
            bytes
        );
        let other = match file.format() {
            Format::JsonLines => Format::JsonArray,
            _ => Format::JsonLines,
        };
        let error = file
            .to_bytes(other, false)
            .expect_err("refused")
            .to_string();
        assert!(
            error.starts_with(&format!("{name}:1:1: record 0: ")),
            "{error}"
        );
        assert!(file.to_bytes(other, true).is_ok());
    }
}

#[test]
fn saving_is_atomic_keeps_a_backup_and_leaves_no_temporaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.json");
    let original = fs::read(fixture("captions.json")).expect("fixture");
    fs::write(&path, &original).expect("write");
    let mut file = CaptionFile::load(&path, &FieldNames::default()).expect("load");
    let mut caption = file.caption(2).expect("caption").clone();
    caption.caption = "Edited free text.".into();
    file.set_caption(2, caption).expect("edit");
    file.save().expect("save");
    assert!(!file.is_modified(), "saved state is the loaded state");
    assert_eq!(fs::read(backup_path(&path)).expect("backup"), original);
    let saved = fs::read_to_string(&path).expect("saved");
    assert!(saved.contains(r#""caption": "Edited free text.""#));
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names.len(), 2, "only the file and its backup: {names:?}");
}

#[test]
fn conversion_keeps_every_record_text_and_number_literal() {
    let file = CaptionFile::load(fixture("captions.json"), &FieldNames::default()).expect("load");
    let lines =
        String::from_utf8(file.to_bytes(Format::JsonLines, false).expect("jsonl")).expect("utf8");
    assert_eq!(lines.lines().count(), 3);
    assert!(lines.contains(r#""id":12345678901234567890"#) && lines.contains(r#""score":1.0e-3"#));
    let back = load_bytes("back.jsonl", lines.as_bytes());
    let array = back.to_bytes(Format::JsonArray, false).expect("json");
    let again = load_bytes("again.json", &array);
    assert!(again.problems().is_empty());
    for index in 0..3 {
        assert_eq!(again.record(index), file.record(index), "record {index}");
    }
    assert_eq!(
        again.to_bytes(Format::JsonLines, false).expect("jsonl"),
        lines.as_bytes()
    );
}

#[test]
fn conversion_refuses_bad_records_unless_told_to_drop_them() {
    let file = load_bytes(
        "b.jsonl",
        b"{\"caption\":\"a\"}\n{\"caption\":\n{\"caption\":\"c\"}\n",
    );
    let error = file
        .to_bytes(Format::JsonArray, false)
        .expect_err("bad record");
    assert!(
        error
            .to_string()
            .starts_with("b.jsonl:2:12: record 1: truncated JSON"),
        "{error}"
    );
    let dropped = file.to_bytes(Format::JsonArray, true).expect("dropped");
    assert_eq!(
        dropped,
        b"[\n{\"caption\":\"a\"},\n{\"caption\":\"c\"}\n]\n"
    );
}

#[test]
fn single_object_files_and_configurable_field_names() {
    let fields = FieldNames {
        video: "video_path".into(),
        caption: "description".into(),
        ..FieldNames::default()
    };
    let file = CaptionFile::from_bytes(
        "one.json",
        b"{\n  \"video_path\": \"a.mp4\",\n  \"description\": \"free words\"\n}\n".to_vec(),
        &fields,
    );
    assert_eq!(file.format(), Format::JsonObject);
    let Some(Record::Caption(caption)) = file.record(0) else {
        panic!("caption")
    };
    assert_eq!(
        (caption.video.as_deref(), caption.caption.as_str()),
        (Some("a.mp4"), "free words")
    );
}

#[test]
fn large_loads_report_progress_and_can_be_cancelled() {
    use std::ops::ControlFlow;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.jsonl");
    let line =
        "{\"caption\":\"There is one person in the video. The person is the man in a hat.\"}\n";
    fs::write(&path, line.repeat(120_000)).expect("write");
    let mut updates = Vec::new();
    let file = CaptionFile::load_with_progress(
        &path,
        &FieldNames::default(),
        &mut |phase, done, total| {
            updates.push((phase, done, total));
            ControlFlow::Continue(())
        },
    )
    .expect("load");
    assert_eq!(file.len(), 120_000);
    assert!(updates.len() > 3, "{updates:?}");
    assert!(
        updates
            .windows(2)
            .all(|pair| pair[0].0 != pair[1].0 || pair[0].1 <= pair[1].1)
    );
    assert_eq!(
        updates.last().map(|update| update.1),
        updates.last().map(|update| update.2)
    );
    let cancelled =
        CaptionFile::load_with_progress(&path, &FieldNames::default(), &mut |_, _, _| {
            ControlFlow::Break(())
        });
    assert!(matches!(cancelled, Err(haic::Error::Cancelled { .. })));
}

#[test]
fn objects_keyed_by_video_are_files_of_records() {
    let text = "{\n  \"a.mp4\": \"There is one person in the video. The person is the chef.\\n\\nThe chef tastes the soup.\",\n  \"b.mp4\": {\"caption\": \"free words\", \"n\": 1.50},\n  \"c.mp4\": {\"video\": \"own.mp4\", \"caption\": \"x\"}\n}\n";
    let mut file = load_bytes("map.json", text.as_bytes());
    assert_eq!(file.format(), Format::JsonMap);
    assert!(file.problems().is_empty(), "{:?}", file.problems());
    let videos: Vec<Option<&str>> = (0..3)
        .map(|index| file.caption(index).expect("caption").video.as_deref())
        .collect();
    assert_eq!(videos, [Some("a.mp4"), Some("b.mp4"), Some("own.mp4")]);
    assert!(file.caption(0).expect("caption").structure().is_some());
    assert_eq!(
        file.to_bytes(Format::JsonMap, false).expect("same"),
        text.as_bytes()
    );

    let lines =
        String::from_utf8(file.to_bytes(Format::JsonLines, false).expect("jsonl")).expect("utf8");
    let lines: Vec<&str> = lines.lines().collect();
    assert!(
        lines[0].starts_with(r#"{"video":"a.mp4","caption":"There is one"#),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        r#"{"video":"b.mp4","caption": "free words", "n": 1.50}"#
    );
    assert_eq!(lines[2], r#"{"video": "own.mp4", "caption": "x"}"#);

    let mut caption = file.caption(0).expect("caption").clone();
    caption.caption = "Edited.".into();
    file.set_caption(0, caption.clone())
        .expect("edit a bare string");
    let edited =
        String::from_utf8(file.to_bytes(Format::JsonMap, false).expect("map")).expect("utf8");
    assert!(
        edited.starts_with("{\n  \"a.mp4\": \"Edited.\",\n  \"b.mp4\""),
        "{edited}"
    );
    let TextState::Structured(mut structure) = file
        .caption(1)
        .map(|_| caption.state.clone())
        .expect("state")
    else {
        panic!("structured")
    };
    structure.events[0].start = Some(1.0);
    caption.state = TextState::Structured(structure);
    let error = file
        .set_caption(0, caption)
        .expect_err("timings do not fit in a string");
    assert!(error.to_string().contains("bare caption string"), "{error}");

    let record = load_bytes(
        "one.json",
        br#"{"video": "v", "note": {"a": 1}, "caption": "c"}"#,
    );
    assert_eq!(
        record.format(),
        Format::JsonObject,
        "an object with record fields is one record"
    );
}
