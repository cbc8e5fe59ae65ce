//! Mengzi and search in the caption panel, driven like an annotator: the tiny Mengzi checkpoint
//! configured, a suspect character of a Chinese field fixed by a click and undone by Ctrl+Z;
//! a query typed into the search box whose result jumps to its record and field; "Find
//! similar"; and a folder that is not a Mengzi checkpoint told as such.

use std::sync::Arc;

use egui_kittest::kittest::Queryable;
use keye_model::{
    Device,
    mengzi::{CheckOptions, MengziModel},
};
use keye_ui::captions::{EventField, Field};

use super::*;
use crate::caption_check::check_record;
use crate::caption_search::{SearchIndex, Segmenter};
use crate::session::captions::assist::MengziState;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn mengzi_dir() -> PathBuf {
    fixtures().join("mengzi-bert-tiny")
}

/// The tiny model's weights are random: at ratio 0 every Chinese character is a suspect, so
/// the test knows which ones are shown.
fn every_character() -> CheckOptions {
    CheckOptions {
        ratio: 0.0,
        ..CheckOptions::default()
    }
}

struct Bench {
    session: CaptionSession,
    toasts: Toasts,
}

type AssistHarness = egui_kittest::Harness<'static, Bench>;

/// The caption panel over a copy of the mixed Chinese and English fixture file.
fn harness(mengzi: Option<PathBuf>) -> (tempfile::TempDir, AssistHarness) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::copy(fixtures().join("haic/files/mixed_zh_en.jsonl"), &path).unwrap();
    let mut session = CaptionSession::new();
    let mut toasts = Toasts::default();
    session.open(&path, &mut toasts, || {});
    let deadline = Instant::now() + Duration::from_secs(20);
    while session.file.is_loading() && Instant::now() < deadline {
        session.poll_loading(&mut toasts);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(session.document().is_some(), "{path:?} did not open");
    session.assist.options = every_character();
    if let Some(mengzi) = mengzi {
        session.set_mengzi(Some(mengzi), &mut toasts, || {});
    }
    let harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(700.0, 1400.0))
        .with_step_dt(0.05)
        // Chinese text without a CJK font installed (CI) draws as boxes; the app adds one.
        .allow_missing_glyphs()
        .build_ui_state(
            |ui, bench: &mut Bench| {
                bench.session.tick(ui.ctx(), &mut bench.toasts);
                bench.session.ui(ui, None, &mut bench.toasts);
            },
            Bench { session, toasts },
        );
    (dir, harness)
}

/// Runs frames (in real time: the worker answers off this thread) until `done` holds.
fn run_until(harness: &mut AssistHarness, what: &str, done: impl Fn(&Bench) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(harness.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; toasts: {:?}",
            messages(&harness.state().toasts)
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    harness.run();
}

fn messages(toasts: &Toasts) -> Vec<String> {
    toasts.items().iter().map(|t| t.text.clone()).collect()
}

fn attributes(bench: &Bench, record: usize) -> String {
    let caption = bench
        .session
        .document()
        .unwrap()
        .file()
        .caption(record)
        .unwrap();
    caption.structure().unwrap().people[0].attributes.clone()
}

#[test]
fn a_suggestion_click_replaces_the_suspect_character_and_ctrl_z_restores_it_in_one_step() {
    let (_dir, mut harness) = harness(Some(mengzi_dir()));
    harness.state_mut().session.editor.select(4);
    run_until(&mut harness, "the check of #4", |bench| {
        !bench.session.editor.suspects().is_empty()
    });
    assert_eq!(
        *harness.state().session.assist.model(),
        MengziState::Ready(mengzi_dir())
    );
    let before = attributes(harness.state(), 4);
    assert_eq!(before, "穿红色衣幅的女人");
    // What the model suggests for 幅 (the fifth character, offset 4) in this phrase.
    let model = MengziModel::load(&mengzi_dir(), &Device::Cpu).unwrap();
    let record = harness
        .state()
        .session
        .document()
        .unwrap()
        .file()
        .record(4)
        .unwrap()
        .clone();
    let (suspects, _) = check_record(&model, 4, &record, &every_character()).unwrap();
    let expected = suspects
        .iter()
        .find(|s| s.path == "people[0].attributes" && s.score.char_offset == 4)
        .unwrap()
        .score
        .suggestions[0]
        .character;
    assert_ne!(expected, '幅');

    // The suspect is underlined in the phrase, its suggestions on hover, and shown under the
    // phrase with them as buttons.
    harness.get_by_label("Suspect 幅 at 4").hover();
    // Tooltips wait a moment for the pointer to rest.
    for _ in 0..20 {
        harness.step();
    }
    harness.get_by_label_contains("「幅」 looks unlikely here");
    harness.get_by_label_contains(&format!("the model suggests {expected} ("));
    harness.get_by_label("…红色衣[幅]的女人");
    let steps = harness.state().session.document().unwrap().undo_steps();
    harness
        .get_by_label(&format!("Replace 幅 at 4 with {expected}"))
        .click();
    harness.run();
    let fixed = attributes(harness.state(), 4);
    assert_eq!(fixed, format!("穿红色衣{expected}的女人"));
    let document = harness.state().session.document().unwrap();
    assert_eq!(document.undo_steps(), steps + 1, "one edit");
    assert!(document.is_dirty());
    assert!(
        document.file().caption(4).unwrap().caption.contains(&fixed),
        "the caption text is rendered with the fix"
    );
    // The journal has it (a crash now would keep it).
    let journal = std::fs::read_to_string(haic::document::journal_path(document.file().path()))
        .unwrap_or_default();
    assert!(journal.contains(&fixed), "{journal}");
    // Marks of the old text are not offered for the new one.
    assert!(
        harness
            .query_by_label(&format!("Replace 幅 at 4 with {expected}"))
            .is_none()
    );

    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.run();
    assert_eq!(attributes(harness.state(), 4), before);
    assert_eq!(
        harness.state().session.document().unwrap().undo_steps(),
        steps
    );
    // The restored text is checked again: its suspect comes back.
    run_until(&mut harness, "the check of the restored text", |bench| {
        bench
            .session
            .editor
            .suspects()
            .iter()
            .any(|m| m.text == before && m.char_offset == 4)
    });
    harness.get_by_label(&format!("Replace 幅 at 4 with {expected}"));
    assert!(messages(&harness.state().toasts).is_empty());
}

#[test]
fn typing_a_query_lists_matching_fields_and_a_click_jumps_to_the_record_and_field() {
    let (_dir, mut harness) = harness(None);
    harness.run();
    assert_eq!(harness.state().session.editor.selected(), Some(0));
    harness.get_by_label("Search captions").focus();
    harness.step();
    harness.get_by_label("Search captions").type_text("吉他");
    run_until(&mut harness, "the search results", |bench| {
        !bench.session.search.hits().is_empty()
    });
    let hits = harness.state().session.search.hits().to_vec();
    // Only #4 has 吉他 (#3 says "guitar": words alone do not cross languages); its action
    // holds the word in the fewest characters.
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].record, hits[0].path.as_str()),
        (4, "events[0].action")
    );
    harness.get_by_label("1 records for \"吉他\"");
    harness.get_by_label("#4 events[0].action: 弹吉他").click();
    harness.run();
    let editor = &harness.state().session.editor;
    assert_eq!(editor.selected(), Some(4));
    assert_eq!(editor.located(), Some(Field::Event(0, EventField::Action)));
    // The located field has the keyboard, ready to edit.
    assert!(harness.get_by_label("Event 1 action").is_focused());

    // English words match English records.
    harness.get_by_label("Search captions").focus();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_label("Search captions").type_text("guitar");
    run_until(&mut harness, "the English results", |bench| {
        bench.session.search.hits().first().map(|h| h.record) == Some(3)
    });
    harness.get_by_label_contains("#3 caption: ").click();
    harness.run();
    assert_eq!(harness.state().session.editor.selected(), Some(3));
}

#[test]
fn find_similar_lists_the_nearest_records_reranked_by_mengzi_and_they_jump_too() {
    let (_dir, mut harness) = harness(Some(mengzi_dir()));
    run_until(&mut harness, "Mengzi", |bench| {
        matches!(bench.session.assist.model(), MengziState::Ready(_))
    });
    harness.state_mut().session.editor.select(1);
    harness.run();
    harness.get_by_label("Find similar to #1").click();
    run_until(&mut harness, "the similar records", |bench| {
        !bench.session.search.hits().is_empty()
    });
    // The same ranking as `captions search --similar-to 1 --mengzi` gives.
    let document = harness.state().session.document().unwrap();
    let index = SearchIndex::new(document.file(), Arc::new(Segmenter::new()));
    let model = MengziModel::load(&mengzi_dir(), &Device::Cpu).unwrap();
    let expected: Vec<(usize, String)> = index
        .similar(1, 20, Some(&model))
        .unwrap()
        .into_iter()
        .map(|hit| (hit.record, hit.path))
        .collect();
    let listed: Vec<(usize, String)> = harness
        .state()
        .session
        .search
        .hits()
        .iter()
        .map(|hit| (hit.record, hit.path.clone()))
        .collect();
    assert_eq!(listed, expected);
    let records: Vec<usize> = listed.iter().map(|(record, _)| *record).collect();
    assert!(!records.contains(&1), "not the record itself: {records:?}");
    assert!(
        records.contains(&5),
        "#5 also rides a horse (骑马): {records:?}"
    );
    assert!(
        harness.state().session.search.hits()[0]
            .why
            .contains("Mengzi similarity"),
        "re-ranked by the model"
    );
    harness.get_by_label_contains("records nearest to #1");
    let path = &listed[records.iter().position(|&r| r == 5).unwrap()].1;
    harness
        .get_by_label_contains(&format!("#5 {path}: "))
        .click();
    harness.run();
    assert_eq!(harness.state().session.editor.selected(), Some(5));
}

#[test]
fn a_folder_that_is_not_a_mengzi_checkpoint_is_refused_with_a_clear_message() {
    let keye = fixtures().join("models/keye-preview-tiny");
    let (_dir, mut harness) = harness(Some(keye.clone()));
    run_until(&mut harness, "the refusal", |bench| {
        matches!(bench.session.assist.model(), MengziState::Failed(..))
    });
    let toasts = messages(&harness.state().toasts);
    assert_eq!(toasts.len(), 1, "{toasts:?}");
    assert!(
        toasts[0].contains(&keye.display().to_string()) && toasts[0].contains("config.json"),
        "{toasts:?}"
    );
    assert!(toasts[0].contains("Mengzi BERT checkpoint"), "{toasts:?}");
    harness.get_by_label_contains("Mengzi not loaded:");
    // Not remembered, and no check runs.
    assert_eq!(harness.state().session.mengzi_dir(), None);
    assert!(harness.state().session.editor.suspects().is_empty());
}
