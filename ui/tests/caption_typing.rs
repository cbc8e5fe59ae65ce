//! Typing into the caption editor's fields as an annotator types: the text reaches the document
//! and its journal without leaving the field, one undo step per burst of typing, and undo, the
//! field's own undo and Ctrl+S stay coherent with it. Driven by kittest over a real
//! `haic::Document` (`caption_bench`).

mod caption_bench;

use caption_bench::{Bench, bench_harness, select_record, wait};
use egui::{Key, Modifiers};
use egui_kittest::{
    Harness,
    kittest::{NodeT, Queryable},
};
use haic::{Command, Edit};
use keye_ui::CaptionAction;

#[test]
fn typed_attributes_reach_the_document_and_its_journal_while_the_field_keeps_focus() {
    let mut harness = bench_harness();
    harness.run();
    harness.get_by_label("P1 attributes").focus();
    harness.step();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness
        .get_by_label("P1 attributes")
        .type_text("the tall woman");
    harness.step();
    assert!(harness.state().editor.has_unsent_typing());
    // The next frame (a quarter second on) shows it in the toolbar.
    harness.step();
    // Typed but not sent yet: the panel already counts it as an unsaved edit that can be undone.
    assert!(harness.state().edits().is_empty());
    harness.get_by_label_contains("unsaved changes");
    assert!(!harness.get_by_label("Undo").accesskit_node().is_disabled());
    // Within a second, without leaving the field, the text is in the document and its journal.
    wait(&mut harness, 0.8);
    assert!(harness.get_by_label("P1 attributes").is_focused());
    let set = |attributes: &str| Command {
        record: 0,
        edit: Edit::SetAttributes {
            id: "P1".into(),
            attributes: attributes.into(),
        },
    };
    assert_eq!(harness.state().typed(), [(set("the tall woman"), true)]);
    assert_eq!(
        harness.state().structure(0).people[0].attributes,
        "the tall woman"
    );
    assert!(
        harness.state().journal().contains("the tall woman"),
        "{}",
        harness.state().journal()
    );
    assert!(harness.state().document.is_dirty());

    // A second burst after the pause, ended by Enter, is an undo step of its own.
    harness.key_press(Key::End);
    harness.get_by_label("P1 attributes").type_text(" in red");
    harness.key_press(Key::Enter);
    harness.run();
    wait(&mut harness, 0.1);
    assert_eq!(
        harness.state().edits().last(),
        Some(&set("the tall woman in red"))
    );
    assert!(!harness.get_by_label("P1 attributes").is_focused());
    harness.get_by_label("Undo").click();
    harness.run();
    assert_eq!(
        harness.state().structure(0).people[0].attributes,
        "the tall woman"
    );
    harness.get_by_label("Undo").click();
    harness.run();
    assert_eq!(
        harness.state().structure(0).people[0].attributes,
        "the young woman in a white crop top"
    );
    assert!(!harness.state().document.is_dirty());
}

#[test]
fn fast_typing_reaches_the_journal_within_a_second_and_is_one_undo_step() {
    let mut harness = bench_harness();
    harness.run();
    harness.get_by_label("Event 2 action").focus();
    harness.step();
    harness.key_press(Key::End);
    // A key every 0.3 s for 1.5 s: typing never pauses long enough to end the burst.
    for key in ["s", "l", "o", "w", "l", "y"] {
        harness.get_by_label("Event 2 action").type_text(key);
        for _ in 0..6 {
            harness.step();
        }
    }
    let journal = harness.state().journal();
    assert!(
        journal.contains("nodsslow"),
        "sent within a second: {journal}"
    );
    assert!(
        harness.state().typed().iter().all(|(_, ends)| !ends),
        "the burst is still open: {:?}",
        harness.state().typed()
    );
    wait(&mut harness, 0.8);
    let action =
        |harness: &Harness<'_, Bench>| harness.state().structure(0).events[1].action.clone();
    assert_eq!(action(&harness), "nodsslowly");
    assert_eq!(
        harness.state().typed().last().map(|(_, ends)| *ends),
        Some(true)
    );
    // One undo takes the whole burst away (the field still has the keyboard and follows).
    harness.get_by_label("Undo").click();
    harness.run();
    assert_eq!(action(&harness), "nods");
    assert_eq!(
        harness.get_by_label("Event 2 action").value().as_deref(),
        Some("nods")
    );
    assert!(!harness.state().document.can_undo());
}

#[test]
fn undo_right_after_typing_takes_the_typing_back() {
    let mut harness = bench_harness();
    harness.run();
    harness.get_by_label("Event 1 action").focus();
    harness.step();
    harness.key_press(Key::End);
    harness.get_by_label("Event 1 action").type_text(" slowly");
    harness.step();
    // Clicked before the pause: the typed text goes to the document first, then is undone.
    harness.get_by_label("Undo").click();
    harness.run();
    wait(&mut harness, 0.8);
    assert_eq!(
        harness.state().structure(0).events[0].action,
        "walks toward"
    );
    assert_eq!(
        harness.get_by_label("Event 1 action").value().as_deref(),
        Some("walks toward")
    );
    assert!(!harness.state().document.is_dirty());
    assert!(harness.state().document.can_redo(), "and can be redone");
    harness.get_by_label("Redo").click();
    harness.run();
    assert_eq!(
        harness.state().structure(0).events[0].action,
        "walks toward slowly"
    );
}

#[test]
fn the_field_own_undo_takes_the_document_along() {
    let mut harness = bench_harness();
    harness.run();
    let action =
        |harness: &Harness<'_, Bench>| harness.state().structure(0).events[0].action.clone();
    let shown = |harness: &Harness<'_, Bench>| {
        harness
            .get_by_label("Event 1 action")
            .value()
            .unwrap_or_default()
    };
    harness.get_by_label("Event 1 action").focus();
    harness.step();
    harness.key_press(Key::End);
    // Typed and undone in the field before the pause: nothing reaches the document.
    harness.get_by_label("Event 1 action").type_text(" fast");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    wait(&mut harness, 0.8);
    assert_eq!(shown(&harness), "walks toward");
    assert_eq!(action(&harness), "walks toward");
    assert!(!harness.state().document.is_dirty() && !harness.state().document.can_undo());

    // After the pause the typing is an undo step; the field's undo is then an edit of its own,
    // and the document shows what the field shows.
    harness.get_by_label("Event 1 action").type_text(" fast");
    wait(&mut harness, 0.8);
    assert_eq!(action(&harness), "walks toward fast");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    wait(&mut harness, 0.8);
    assert_eq!(shown(&harness), "walks toward");
    assert_eq!(action(&harness), "walks toward");
    assert!(harness.get_by_label("Event 1 action").is_focused());
    // Leaving the field, Ctrl+Z is the document's undo again: it steps back through both.
    harness.key_press(Key::Escape);
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run();
    assert_eq!(action(&harness), "walks toward fast");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run();
    assert_eq!(action(&harness), "walks toward");
    assert!(!harness.state().document.can_undo());
}

#[test]
fn ctrl_s_in_a_field_saves_what_it_holds() {
    let mut harness = bench_harness();
    harness.run();
    harness.get_by_label("P2 attributes").focus();
    harness.step();
    harness.key_press(Key::End);
    harness
        .get_by_label("P2 attributes")
        .type_text(" with a cane");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::S);
    harness.run();
    let log = &harness.state().log;
    let save = log
        .iter()
        .position(|action| *action == CaptionAction::Save)
        .expect("saved");
    assert!(
        matches!(
            &log[save - 1],
            CaptionAction::Typing {
                burst_ends: true,
                ..
            }
        ),
        "the typed text goes first: {log:?}"
    );
    let saved = std::fs::read_to_string(&harness.state().path).expect("saved file");
    assert!(
        saved.contains("the old man in a grey suit with a cane"),
        "{saved}"
    );
    assert!(!harness.state().document.is_dirty());
    harness.get_by_label("saved");
    assert!(harness.get_by_label("P2 attributes").is_focused());
}

#[test]
fn free_text_keeps_its_field_while_it_turns_into_the_format() {
    let mut harness = bench_harness();
    harness.run();
    select_record(&mut harness, 2);
    harness.get_by_label("Caption text").focus();
    harness.step();
    harness
        .get_by_label("Caption text")
        .type_text("There is one person in the video. The person is the girl.\n\nThe girl waves.");
    wait(&mut harness, 0.8);
    // The text follows the format now, but the field stays while it has the keyboard.
    let caption = harness.state().caption(2);
    assert_eq!(
        caption.structure().map(|structure| structure.events.len()),
        Some(1)
    );
    assert!(harness.get_by_label("Caption text").is_focused());
    harness.get_by_label_contains("Follows the HAIC form: 1 people, 1 events");
    harness.key_press(Key::Escape);
    harness.run();
    wait(&mut harness, 0.1);
    // Left, the record shows its person and event to edit.
    assert!(
        harness
            .query_by_label_contains("Follows the HAIC form")
            .is_none()
    );
    assert_eq!(
        harness.get_by_label("P1 attributes").value().as_deref(),
        Some("the girl")
    );
    assert_eq!(
        harness.get_by_label("Event 1 action").value().as_deref(),
        Some("waves")
    );
}
