//! Review status and comment threads: kept in the file as the `review` extension field (records)
//! and a `comments` array (events), through save and load and through the journal after a crash.

use std::fs;

use haic::{
    CaptionFile, Command, Comment, Document, Edit, FieldNames, ReviewStatus, document::journal_path,
};

const CAPTIONS: &str = r#"{"video":"a.mp4","caption":"There is one person in the video. The person is the man in a hat.\n\nThe man in a hat waves.","people":[{"id":"P1","attributes":"the man in a hat"}],"events":[{"who":["P1"],"action":"waves","start":1.0,"end":2.5}]}
{"video":"b.mp4","caption":"free words",  "review": {"status": "flagged", "comments": [{"author": "ana", "text": "no people count"}], "tool": "kept"}}
"#;

fn comment(author: &str, text: &str) -> Comment {
    Comment {
        author: author.into(),
        text: text.into(),
        at: Some("2026-12-06T03:00:00Z".into()),
    }
}

fn review_edits() -> Vec<Command> {
    vec![
        Command {
            record: 0,
            edit: Edit::SetStatus {
                status: ReviewStatus::Done,
            },
        },
        Command {
            record: 0,
            edit: Edit::AddComment {
                event: None,
                comment: comment("lee", "check the start of the wave"),
            },
        },
        Command {
            record: 0,
            edit: Edit::AddComment {
                event: Some(0),
                comment: comment("lee", "starts at 0.9 s?"),
            },
        },
        Command {
            record: 1,
            edit: Edit::SetStatus {
                status: ReviewStatus::Approved,
            },
        },
    ]
}

/// The test file in a temporary folder, opened, with [`review_edits`] applied and not saved.
fn reviewed_document() -> (tempfile::TempDir, std::path::PathBuf, Document) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("captions.jsonl");
    fs::write(&path, CAPTIONS).expect("write");
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    for command in review_edits() {
        document.apply(command).expect("edit");
    }
    (dir, path, document)
}

fn assert_reviewed(file: &CaptionFile) {
    let first = file.caption(0).expect("record 0");
    assert_eq!(first.review.status, ReviewStatus::Done);
    assert_eq!(
        first.review.comments,
        [comment("lee", "check the start of the wave")]
    );
    let event = &first.structure().expect("structured").events[0];
    assert_eq!(event.comments, [comment("lee", "starts at 0.9 s?")]);
    assert!(
        first.caption.ends_with("The man in a hat waves."),
        "review notes leave the caption text alone: {}",
        first.caption
    );
    let second = file.caption(1).expect("record 1");
    assert_eq!(second.review.status, ReviewStatus::Approved);
    assert_eq!(
        second.review.comments[0].text, "no people count",
        "the thread of a free-text record is kept"
    );
    assert_eq!(second.review.extra["tool"], "kept");
}

#[test]
fn a_file_with_review_notes_loads_and_saves_byte_for_byte() {
    let file = CaptionFile::from_bytes("r.jsonl", CAPTIONS.into(), &FieldNames::default());
    assert!(file.problems().is_empty(), "{:?}", file.problems());
    assert_eq!(file.caption(0).unwrap().review.status, ReviewStatus::Todo);
    assert_eq!(
        file.caption(1).unwrap().review.status,
        ReviewStatus::Flagged
    );
    let bytes = file
        .to_bytes(haic::Format::JsonLines, false)
        .expect("bytes");
    assert_eq!(String::from_utf8(bytes).unwrap(), CAPTIONS);
}

#[test]
fn status_and_comments_round_trip_through_save_and_load() {
    let (_dir, path, mut document) = reviewed_document();
    assert_reviewed(document.file());
    document.save().expect("save");
    let saved = fs::read_to_string(&path).expect("read");
    let second_line = saved.lines().nth(1).expect("line 2");
    assert_eq!(
        second_line,
        r#"{"video":"b.mp4","caption":"free words",  "review": {"status":"approved","comments":[{"author":"ana","text":"no people count"}],"tool":"kept"}}"#,
        "only the review value is rewritten"
    );
    let reloaded = CaptionFile::load(&path, &FieldNames::default()).expect("reload");
    assert_reviewed(&reloaded);

    // Each review edit is one undo step, undone in order.
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("reopen");
    document
        .apply(Command {
            record: 0,
            edit: Edit::RemoveComment {
                event: Some(0),
                index: 0,
            },
        })
        .expect("remove");
    assert!(
        document
            .file()
            .caption(0)
            .unwrap()
            .structure()
            .unwrap()
            .events[0]
            .comments
            .is_empty()
    );
    assert!(document.undo().expect("undo"));
    assert_reviewed(document.file());
}

#[test]
fn review_edits_survive_a_crash_through_the_journal() {
    let (_dir, path, document) = reviewed_document();
    // The process dies without saving or running any destructor.
    std::mem::forget(document);
    assert!(journal_path(&path).exists());
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        CAPTIONS,
        "nothing saved"
    );
    let (recovered, recovery) = Document::open(&path, &FieldNames::default()).expect("recover");
    assert_eq!(recovery.replayed, 4);
    assert_reviewed(recovered.file());
}

#[test]
fn bad_review_values_are_named_and_bad_edits_refused() {
    let file = CaptionFile::from_bytes(
        "bad.jsonl",
        br#"{"caption":"x","review":"ok"}
{"caption":"x","review":{"status":"finished"}}
"#
        .to_vec(),
        &FieldNames::default(),
    );
    let messages: Vec<String> = file.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("review") && messages[0].contains("a string"),
        "{messages:?}"
    );
    assert!(messages[1].contains("finished"), "{messages:?}");

    let mut document = Document::new(CaptionFile::from_bytes(
        "c.jsonl",
        CAPTIONS.into(),
        &FieldNames::default(),
    ));
    let error = document
        .apply(Command {
            record: 0,
            edit: Edit::RemoveComment {
                event: None,
                index: 0,
            },
        })
        .expect_err("no comment 0");
    assert!(error.to_string().contains("no comment 0"), "{error}");
}
