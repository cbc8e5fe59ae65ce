//! The check and search state without a window: a check is asked once the text settles, an
//! answer about an older text is dropped, and the search index follows the edits.

use std::path::PathBuf;

use haic::{Command, Edit, FieldNames};

use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn wait_for<T>(what: &str, mut poll: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = poll() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A copy of the mixed Chinese and English fixture in `dir`, opened for editing.
fn open_mixed_fixture(dir: &std::path::Path) -> Document {
    let path = dir.join("captions.jsonl");
    std::fs::copy(fixtures().join("haic/files/mixed_zh_en.jsonl"), &path).unwrap();
    Document::open(&path, &FieldNames::default()).unwrap().0
}

/// The fixture's record 4 plays the guitar (吉他); this makes it play the piano (钢琴).
fn play_piano_in_record_4(document: &mut Document) {
    document
        .apply(Command {
            record: 4,
            edit: Edit::SetAction {
                index: 0,
                action: "弹钢琴".into(),
            },
        })
        .unwrap();
}

#[test]
fn a_check_waits_for_the_text_to_settle_and_an_answer_about_an_older_text_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut document = open_mixed_fixture(dir.path());
    let mut toasts = Toasts::default();
    let mut assist = CaptionAssist::new();
    assist.options.ratio = 0.0;
    assist.set_model(
        Some(fixtures().join("mengzi-bert-tiny")),
        &mut toasts,
        || {},
    );
    let t0 = Instant::now();
    wait_for("the model", || {
        assist.tick(Some(&document), Some(4), t0, &mut toasts);
        matches!(assist.model(), MengziState::Ready(_)).then_some(())
    });
    assert_eq!(
        assist.wake_in(t0),
        Some(CHECK_SETTLE),
        "not checked before it settles"
    );
    assert_eq!(assist.take_marks(), None);

    // Settled: the check of version v is asked. An edit comes before its answer.
    let t1 = t0 + CHECK_SETTLE;
    assist.tick(Some(&document), Some(4), t1, &mut toasts);
    assert_eq!(assist.wake_in(t1), None, "asked");
    play_piano_in_record_4(&mut document);
    // The worker answers in order: once the search is answered, so is the older check.
    assist.search(&document, "吉他".into(), || {});
    let results = wait_for("the search", || {
        assist.tick(Some(&document), Some(4), t1, &mut toasts);
        assist.take_results()
    });
    assert_eq!(
        assist.take_marks(),
        None,
        "the answer about the older text is dropped"
    );
    // The index was rebuilt from the edited file: 吉他 is gone from #4.
    assert_eq!(results.unwrap().heading, "No record matches \"吉他\"");

    // The edited text settles and is checked.
    let t2 = t1 + CHECK_SETTLE;
    let marks = wait_for("the check of the edited text", || {
        assist.tick(Some(&document), Some(4), t2, &mut toasts);
        assist.take_marks()
    });
    let actions: Vec<&SuspectMark> = marks
        .iter()
        .filter(|m| m.target == haic::TextField::Action { index: 0 })
        .collect();
    assert_eq!(
        actions.iter().map(|m| m.character).collect::<String>(),
        "弹钢琴"
    );
    assert!(actions.iter().all(|m| m.text == "弹钢琴"));
    // Each suggestion carries the one edit that puts it in place.
    let fix = &actions[1].suggestions[0];
    assert_eq!(
        fix.fix,
        Command {
            record: 4,
            edit: Edit::SetAction {
                index: 0,
                action: format!("弹{}琴", fix.character),
            },
        }
    );
    // Another record: the suspects of #4 are no longer shown.
    assist.tick(Some(&document), Some(0), t2, &mut toasts);
    assert_eq!(assist.take_marks(), Some(Vec::new()));
    assert!(toasts.items().is_empty());
}

/// Once the index is built, a search after an edit sends the worker only the edited record,
/// and finds what the edit wrote and no longer what it replaced.
#[test]
fn after_an_edit_the_index_takes_the_edited_record_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut document = open_mixed_fixture(dir.path());
    let mut toasts = Toasts::default();
    let mut assist = CaptionAssist::new();
    let now = Instant::now();
    let mut search = |assist: &mut CaptionAssist, document: &Document, words: &str| {
        assist.search(document, words.into(), || {});
        wait_for("the search", || {
            assist.tick(Some(document), None, now, &mut toasts);
            assist.take_results()
        })
        .unwrap()
    };
    let found = search(&mut assist, &document, "吉他");
    assert!(
        found.hits.iter().any(|hit| hit.record == 4),
        "{}",
        found.heading
    );
    let built = document.version();
    play_piano_in_record_4(&mut document);
    assert_eq!(
        document.changed_since(built),
        vec![4],
        "what the update sends"
    );
    let found = search(&mut assist, &document, "钢琴");
    assert_eq!(
        found.hits.iter().map(|hit| hit.record).collect::<Vec<_>>(),
        vec![4]
    );
    let found = search(&mut assist, &document, "吉他");
    assert!(
        found.hits.iter().all(|hit| hit.record != 4),
        "{}",
        found.heading
    );
}
