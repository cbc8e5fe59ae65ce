//! The editing session: commands, undo/redo, dirty flag, change notifications, and recovery of
//! every edit from the journal after the editing process is killed with SIGKILL.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Command as Process, Stdio},
    thread,
    time::Duration,
};

use haic::{
    Change, Command, Document, Edit, Event, FieldNames, Person, PersonField, document::journal_path,
};

const CAPTIONS: &str = r#"[
  {"video": "a.mp4", "caption": "There are two people in the video. The first person is the woman in a red coat. The second person is the man with a cane.\n\nThe woman in a red coat waves to the man with a cane. The man with a cane nods.", "keep": 1.50},
  {"video": "b.mp4", "caption": "free words", "keep": 2}
]
"#;

fn write_captions(dir: &Path) -> PathBuf {
    let path = dir.join("captions.json");
    fs::write(&path, CAPTIONS).expect("write");
    path
}

fn command(edit: Edit) -> Command {
    Command { record: 0, edit }
}

/// The edits the crash test's child makes before it is killed.
fn crash_edits() -> Vec<Command> {
    vec![
        command(Edit::AddPerson {
            person: Person::new("P3", "the girl in a yellow dress"),
            at: None,
        }),
        command(Edit::AddEvent {
            event: Event::new(&["P3"], "runs to").with(&["P1"]).timed(2.0, 3.0),
            at: 2,
        }),
        command(Edit::SetAction {
            index: 1,
            action: "nods slowly".into(),
        }),
        command(Edit::SetTimes {
            index: 0,
            start: Some(0.0),
            end: Some(1.0),
        }),
        command(Edit::RemoveEvent { index: 1 }),
    ]
}

fn caption(document: &Document) -> String {
    document.file().caption(0).expect("caption").caption.clone()
}

#[test]
fn edits_rerender_the_text_and_undo_redo_move_the_dirty_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, recovery) = Document::open(&path, &FieldNames::default()).expect("open");
    assert_eq!(recovery.replayed, 0);
    let original = caption(&document);
    assert!(!document.is_dirty() && !document.can_undo());

    document
        .apply(command(Edit::SetAttributes {
            id: "P2".into(),
            attributes: "the old man with a wooden cane".into(),
        }))
        .expect("edit");
    assert!(document.is_dirty());
    assert!(
        caption(&document).ends_with("The old man with a wooden cane nods."),
        "{}",
        caption(&document)
    );
    document
        .apply(command(Edit::MergeEvents { index: 0 }))
        .expect_err("different subjects");
    document
        .apply(command(Edit::SplitEvent {
            index: 1,
            first: "nods".into(),
            second: "smiles".into(),
            at: None,
        }))
        .expect("split");
    assert!(caption(&document).ends_with("wooden cane nods, then smiles."));
    document
        .apply(command(Edit::MergeEvents { index: 1 }))
        .expect("merge");
    assert!(caption(&document).ends_with("wooden cane nods and smiles."));
    assert_eq!(
        document.drain_changes(),
        vec![Change::Record { record: 0 }; 3]
    );
    let version = document.version();

    assert!(
        document.undo().expect("undo")
            && document.undo().expect("undo")
            && document.undo().expect("undo")
    );
    assert!(!document.undo().expect("nothing left"));
    assert_eq!(caption(&document), original);
    assert!(!document.is_dirty(), "undone back to the saved state");
    assert!(document.version() > version);
    assert!(document.redo().expect("redo"));
    assert!(document.is_dirty());
    document.save().expect("save");
    assert!(!document.is_dirty());
    assert_eq!(document.drain_changes().last(), Some(&Change::Saved));
    assert!(!journal_path(&path).exists(), "a save clears the journal");
    let saved = fs::read_to_string(&path).expect("saved");
    assert!(saved.contains("the old man with a wooden cane") && saved.contains(r#""keep": 1.50}"#));
    assert!(
        saved.ends_with("\"keep\": 2}\n]\n"),
        "the second record is untouched"
    );
}

#[test]
fn free_text_captions_refuse_structure_edits_until_their_text_follows_the_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    let free = Command {
        record: 1,
        edit: Edit::RemoveEvent { index: 0 },
    };
    let error = document.apply(free).expect_err("free text");
    assert!(error.to_string().contains("free text"), "{error}");
    assert!(
        !document.is_dirty() && !journal_path(&path).exists(),
        "refused edits are not journaled"
    );
    let text =
        "There is one person in the video. The person is the chef.\n\nThe chef tastes the soup.";
    document
        .apply(Command {
            record: 1,
            edit: Edit::SetText { text: text.into() },
        })
        .expect("set text");
    let structure = document
        .file()
        .caption(1)
        .expect("caption")
        .structure()
        .expect("parsed")
        .clone();
    assert_eq!(structure.events[0].action, "tastes the soup");
    document
        .apply(Command {
            record: 1,
            edit: Edit::RemovePerson { id: "P1".into() },
        })
        .expect("remove person");
    let after = document
        .file()
        .caption(1)
        .expect("caption")
        .structure()
        .expect("structured")
        .clone();
    assert!(
        after.people.is_empty() && after.events.is_empty(),
        "events without a subject go too"
    );
}

/// Set in the child process [`every_edit_survives_kill_9`] starts: the caption file to edit.
const CRASH_CHILD: &str = "HAIC_CRASH_CHILD";

/// The child's part of [`every_edit_survives_kill_9`]: applies the crash edits, says so with a
/// marker file, and waits to be killed. The parent runs this test binary again with only that
/// test selected and [`CRASH_CHILD`] set; this never returns.
fn crash_child(path: &str) -> ! {
    let (mut document, _) = Document::open(path, &FieldNames::default()).expect("child open");
    for edit in crash_edits() {
        document.apply(edit).expect("child edit");
    }
    document.undo().expect("child undo");
    document.redo().expect("child redo");
    document.undo().expect("child undo");
    fs::write(format!("{path}.ready"), b"ready").expect("marker");
    loop {
        thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn every_edit_survives_kill_9() {
    if let Ok(path) = std::env::var(CRASH_CHILD) {
        crash_child(&path);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let mut child = Process::new(std::env::current_exe().expect("test binary"))
        .args([
            "every_edit_survives_kill_9",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let marker = PathBuf::from(format!("{}.ready", path.display()));
    while !marker.exists() {
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("child exited early: {status}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert_eq!(
        fs::read_to_string(&path).expect("file"),
        CAPTIONS,
        "nothing was saved"
    );

    // The same edits on a copy elsewhere give the expected result: five edits, the last undone.
    let other = tempfile::tempdir().expect("tempdir");
    let (mut expected, _) =
        Document::open(write_captions(other.path()), &FieldNames::default()).expect("copy");
    let edits = crash_edits();
    let count = edits.len();
    for edit in edits.into_iter().take(count - 1) {
        expected.apply(edit).expect("edit");
    }
    let expected_caption = expected.file().caption(0).expect("caption").clone();
    // A torn last line, as a kill in the middle of a write leaves it, is ignored.
    let mut journal = fs::OpenOptions::new()
        .append(true)
        .open(journal_path(&path))
        .expect("journal");
    journal.write_all(b"{\"apply\":{\"rec").expect("torn line");
    drop(journal);

    let (mut recovered, recovery) = Document::open(&path, &FieldNames::default()).expect("recover");
    assert_eq!(recovery.replayed, count + 3);
    assert!(recovered.is_dirty());
    assert_eq!(
        recovered.file().caption(0).expect("caption"),
        &expected_caption
    );
    assert!(
        caption(&recovered).contains("The girl in a yellow dress runs to the woman in a red coat.")
    );
    assert!(
        recovered.redo().expect("redo survives too"),
        "the undone edit can be redone"
    );
    recovered.undo().expect("undo");
    recovered.save().expect("save");
    assert!(!journal_path(&path).exists());
    let (reopened, recovery) = Document::open(&path, &FieldNames::default()).expect("reopen");
    assert_eq!(recovery.replayed, 0);
    assert_eq!(
        reopened.file().caption(0).expect("caption").caption,
        expected_caption.caption
    );
    let timed = reopened
        .file()
        .caption(0)
        .expect("caption")
        .structure()
        .expect("s")
        .events[0]
        .end;
    assert_eq!(timed, Some(1.0), "timings are saved as event fields");
}

#[test]
fn a_journal_for_another_version_of_the_file_is_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    document
        .apply(command(Edit::RemoveEvent { index: 1 }))
        .expect("edit");
    drop(document);
    fs::write(&path, CAPTIONS.replace("1.50", "1.5")).expect("changed elsewhere");
    let (document, recovery) = Document::open(&path, &FieldNames::default()).expect("open");
    assert_eq!(recovery.replayed, 0);
    let stale = recovery.stale_journal.expect("moved aside");
    assert!(stale.exists() && !journal_path(&path).exists());
    assert!(!document.is_dirty());
}

fn structure(document: &Document) -> haic::Structure {
    document
        .file()
        .caption(0)
        .expect("caption")
        .structure()
        .cloned()
        .expect("structured")
}

#[test]
fn person_fields_are_edited_undone_journaled_and_saved_beside_the_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    let text = caption(&document);
    let set = |field, value: Option<&str>| {
        command(Edit::SetPersonField {
            id: "P2".into(),
            field,
            value: value.map(str::to_owned),
        })
    };
    document
        .apply(set(PersonField::Hair, Some("grey")))
        .expect("edit");
    document
        .apply(set(PersonField::Shoes, Some("brown loafers")))
        .expect("edit");
    document
        .apply(command(Edit::SetPersonField {
            id: "P9".into(),
            field: PersonField::Age,
            value: None,
        }))
        .expect_err("no such person");
    let man = &structure(&document).people[1];
    assert_eq!(man.detail(PersonField::Hair), Some("grey"));
    assert_eq!(man.shoes.as_deref(), Some("brown loafers"));
    assert_eq!(caption(&document), text, "the caption text does not change");
    assert!(document.is_dirty());

    assert!(document.undo().expect("undo"));
    assert_eq!(structure(&document).people[1].shoes, None);
    assert!(document.redo().expect("redo"));
    document
        .apply(set(PersonField::Hair, None))
        .expect("clear the hair");
    drop(document);

    // The journal brings every edit back, the clearing included.
    let (mut document, recovery) = Document::open(&path, &FieldNames::default()).expect("open");
    assert_eq!(recovery.replayed, 5);
    let man = &structure(&document).people[1];
    assert_eq!(
        (man.hair.as_deref(), man.shoes.as_deref()),
        (None, Some("brown loafers"))
    );
    document.save().expect("save");
    let saved = fs::read_to_string(&path).expect("saved");
    assert!(
        saved.contains(r#""attributes":"the man with a cane","shoes":"brown loafers"}"#),
        "{saved}"
    );
    assert!(
        !saved.contains("\"hair\""),
        "a cleared field is not written: {saved}"
    );
    let (document, _) = Document::open(&path, &FieldNames::default()).expect("reopen");
    assert_eq!(
        structure(&document).people[1].shoes.as_deref(),
        Some("brown loafers")
    );
}

#[test]
fn sorting_events_by_start_is_one_undoable_step_that_keeps_untimed_events_last_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    // Events: 0 "waves to" untimed, 1 "nods" at 4 s, 2 "sits" untimed, 3 "stands" at 1 s,
    // 4 "smiles" at 4 s (after "nods": equal starts keep their order).
    for (at, action, start) in [
        (2, "sits", None),
        (3, "stands", Some(1.0)),
        (4, "smiles", Some(4.0)),
    ] {
        let mut event = Event::new(&["P2"], action);
        event.start = start;
        document
            .apply(command(Edit::AddEvent { event, at }))
            .expect("add");
    }
    document
        .apply(command(Edit::SetTimes {
            index: 1,
            start: Some(4.0),
            end: None,
        }))
        .expect("time");
    let before = structure(&document).events;
    document
        .apply(command(Edit::SortEventsByStart))
        .expect("sort");
    let actions = |document: &Document| -> Vec<String> {
        structure(document)
            .events
            .iter()
            .map(|event| event.action.clone())
            .collect()
    };
    assert_eq!(
        actions(&document),
        ["stands", "nods", "smiles", "waves to", "sits"]
    );
    assert!(
        caption(&document).contains("stands, then"),
        "the text is rendered in the new order: {}",
        caption(&document)
    );
    assert!(document.undo().expect("undo"));
    assert_eq!(
        structure(&document).events,
        before,
        "one undo restores the order"
    );
    assert!(document.redo().expect("redo"));
    drop(document);
    let (document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    assert_eq!(
        actions(&document),
        ["stands", "nods", "smiles", "waves to", "sits"],
        "the sort is journaled"
    );
}

fn action_of(document: &Document, index: usize) -> String {
    structure(document).events[index].action.clone()
}

fn typed(action: &str) -> Command {
    command(Edit::SetAction {
        index: 1,
        action: action.into(),
    })
}

#[test]
fn a_burst_of_typing_is_journaled_as_typed_and_undone_in_one_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    document
        .apply_typing(typed("nods s"), false)
        .expect("typing");
    let journal = fs::read_to_string(journal_path(&path)).expect("journaled at once");
    assert!(journal.contains("nods s"), "{journal}");
    assert!(document.is_dirty() && document.can_undo());
    document
        .apply_typing(typed("nods slowly"), false)
        .expect("typing");
    document
        .apply_typing(typed("nods slowly"), true)
        .expect("the pause ends the burst");
    assert!(
        caption(&document).ends_with("The man with a cane nods slowly."),
        "{}",
        caption(&document)
    );
    // A second burst in the same field is a step of its own.
    document
        .apply_typing(typed("nods slowly and smiles"), true)
        .expect("typing");
    assert!(document.undo().expect("undo"));
    assert_eq!(action_of(&document, 1), "nods slowly");
    assert!(document.undo().expect("undo"));
    assert_eq!(action_of(&document, 1), "nods", "one undo per burst");
    assert!(!document.is_dirty());
    assert!(document.redo().expect("redo"));
    assert_eq!(action_of(&document, 1), "nods slowly");

    // An edit of another kind closes a burst too.
    document
        .apply_typing(typed("nods slowly, then"), false)
        .expect("typing");
    document
        .apply(command(Edit::SetTimes {
            index: 1,
            start: Some(2.0),
            end: None,
        }))
        .expect("time");
    document
        .apply_typing(typed("nods slowly, then sits"), false)
        .expect("typing");
    assert!(document.undo().expect("undo"));
    assert_eq!(action_of(&document, 1), "nods slowly, then");
    assert!(document.undo().expect("undo"));
    assert!(document.undo().expect("undo"));
    assert_eq!(action_of(&document, 1), "nods slowly");

    // The crash: everything typed, and the undo history, come back from the journal.
    document
        .apply_typing(typed("nods slowly twice"), false)
        .expect("typing");
    let before_crash = document.file().caption(0).expect("caption").clone();
    drop(document);
    let (mut recovered, recovery) = Document::open(&path, &FieldNames::default()).expect("open");
    assert!(recovery.replayed > 0);
    assert_eq!(recovered.file().caption(0).expect("caption"), &before_crash);
    assert!(recovered.undo().expect("undo"));
    assert_eq!(action_of(&recovered, 1), "nods slowly");
    assert!(recovered.undo().expect("undo"));
    assert_eq!(action_of(&recovered, 1), "nods");
    assert!(
        !recovered.undo().expect("nothing left"),
        "the replay made the same steps"
    );
}

#[test]
fn typing_back_to_where_the_burst_began_leaves_nothing_to_undo_or_save() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    document
        .apply_typing(typed("nodsx"), false)
        .expect("typing");
    assert!(document.is_dirty());
    document.apply_typing(typed("nods"), false).expect("typing");
    assert!(!document.is_dirty() && !document.can_undo());
    // Sending the same text again changes nothing and journals nothing more.
    let journal = fs::read(journal_path(&path)).expect("journal");
    document.apply_typing(typed("nods"), true).expect("typing");
    assert_eq!(fs::read(journal_path(&path)).expect("journal"), journal);
    document
        .apply_typing(command(Edit::RemoveEvent { index: 0 }), true)
        .expect_err("not typing");
}

#[test]
fn saving_with_nothing_changed_writes_nothing_and_keeps_the_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let backup = haic::save::backup_path(&path);
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    assert!(!document.save().expect("save"), "nothing to save");
    assert!(!backup.exists(), "no backup of an unchanged file");
    document.apply(typed("nods twice")).expect("edit");
    assert!(document.save().expect("save"));
    let saved = fs::read(&path).expect("saved");
    assert_eq!(fs::read(&backup).expect("backup"), CAPTIONS.as_bytes());

    assert!(!document.save().expect("save"), "nothing changed since");
    // Edits that cancel out are nothing to save either; their journal goes.
    document.apply(typed("nods thrice")).expect("edit");
    document.apply(typed("nods twice")).expect("edit");
    assert!(document.is_dirty(), "two steps away from the saved state");
    assert!(!document.save().expect("save"), "the same bytes");
    assert!(!document.is_dirty());
    assert!(!journal_path(&path).exists());
    assert_eq!(fs::read(&path).expect("file"), saved);
    assert_eq!(
        fs::read(&backup).expect("backup"),
        CAPTIONS.as_bytes(),
        "the backup still holds the version before the last real save"
    );
}

#[cfg(unix)]
#[test]
fn saved_files_backups_and_converted_files_keep_the_source_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    document.apply(typed("nods twice")).expect("edit");
    assert!(document.save().expect("save"));
    assert_eq!(mode(&path), 0o640, "the saved file");
    assert_eq!(mode(&haic::save::backup_path(&path)), 0o640, "its backup");

    let converted = dir.path().join("converted.jsonl");
    document
        .file()
        .save_as(&converted, haic::Format::JsonLines, false)
        .expect("convert");
    assert_eq!(
        mode(&converted),
        0o640,
        "a converted file takes the source's"
    );
    fs::set_permissions(&converted, fs::Permissions::from_mode(0o600)).expect("chmod");
    document
        .file()
        .save_as(&converted, haic::Format::JsonLines, false)
        .expect("convert again");
    assert_eq!(mode(&converted), 0o600, "an existing file keeps its own");
}

/// A view holding data derived from the records (the editor's search index) asks which records
/// changed since the version it was built from, and gets those only: edits, undos and redos.
#[test]
fn changed_since_names_the_records_changed_after_a_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_captions(dir.path());
    let (mut document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    assert!(document.changed_since(0).is_empty());
    document
        .apply(command(Edit::SetAction {
            index: 1,
            action: "nods slowly".into(),
        }))
        .expect("edit");
    let built = document.version();
    assert_eq!(document.changed_since(0), vec![0]);
    assert!(document.changed_since(built).is_empty(), "nothing since");
    document
        .apply(Command {
            record: 1,
            edit: Edit::SetText {
                text: "other free words".into(),
            },
        })
        .expect("edit");
    assert_eq!(document.changed_since(built), vec![1]);
    document.undo().expect("undo");
    document.undo().expect("undo");
    assert_eq!(
        document.changed_since(built),
        vec![0, 1],
        "undoing changes both again"
    );
}
