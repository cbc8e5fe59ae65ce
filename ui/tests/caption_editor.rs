//! The caption editor driven like an annotator drives it: typing into fields, the playhead
//! buttons, undo/redo by button and keys, validation messages, the record filter, and a model
//! draft accepted piece by piece. Its actions are applied to a real `haic::Document` over a file
//! in a temporary folder, as the app does.
//!
//! Time in the harness is egui's: every frame (each queued input event is one) moves it on by
//! [`STEP`] seconds, so `wait` lets time pass the way an annotator pausing lets it.

use egui::{Event, Key, Modifiers, PointerButton, Pos2, Vec2};
use egui_kittest::{
    Harness,
    kittest::{NodeT, Queryable},
};
use haic::{Command, Document, Edit, FieldNames, PersonField, Record, Structure, text};
use keye_ui::captions::{EventField, Field};
use keye_ui::{
    CaptionAction, CaptionEditor, CaptionSegment, DraftAvailability, EditorEnv, PlayerState,
    SegmentEdge, Timebase, Timeline,
};

/// Record 0 is valid and timed, record 1 names a person nobody declared, record 2 is empty.
const FILE: &str = r#"{"video": "clips/a.mp4", "duration": 8.0, "people": [{"id": "P1", "attributes": "the young woman in a white crop top"}, {"id": "P2", "attributes": "the old man in a grey suit"}], "events": [{"who": ["P1"], "action": "walks toward", "with": ["P2"], "start": 0.5, "end": 2.0}, {"who": ["P2"], "action": "nods", "start": 2.5, "end": 3.0}], "caption": ""}
{"video": "clips/b.mp4", "people": [{"id": "P1", "attributes": "the boy in a red cap"}], "events": [{"who": ["P1"], "action": "jumps"}, {"who": ["P3"], "action": "claps"}], "caption": ""}
{"video": "clips/c.mp4", "caption": ""}
"#;

struct Bench {
    editor: CaptionEditor,
    document: Document,
    playhead: Option<f64>,
    draft: DraftAvailability,
    /// Every action the panel emitted, in order.
    log: Vec<CaptionAction>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn caption(&self, record: usize) -> haic::CaptionRecord {
        self.document
            .file()
            .caption(record)
            .expect("a caption record")
            .clone()
    }

    fn structure(&self, record: usize) -> Structure {
        self.caption(record)
            .structure()
            .cloned()
            .expect("a structured record")
    }

    /// The edits the panel asked for: commands, and the text of fields sent as it was typed.
    fn edits(&self) -> Vec<Command> {
        self.log
            .iter()
            .filter_map(|action| match action {
                CaptionAction::Edit(command) | CaptionAction::Typing { command, .. } => {
                    Some(command.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// What typing sent, and whether each send closed its burst.
    fn typed(&self) -> Vec<(Command, bool)> {
        self.log
            .iter()
            .filter_map(|action| match action {
                CaptionAction::Typing {
                    command,
                    burst_ends,
                } => Some((command.clone(), *burst_ends)),
                _ => None,
            })
            .collect()
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(haic::document::journal_path(&self.path)).unwrap_or_default()
    }
}

fn bench_harness() -> Harness<'static, Bench> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).expect("write the caption file");
    let (document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    let bench = Bench {
        editor: CaptionEditor::new(),
        document,
        playhead: Some(1.25),
        draft: DraftAvailability::default(),
        log: Vec::new(),
        path,
        _dir: dir,
    };
    Harness::builder()
        .with_size(Vec2::new(700.0, 900.0))
        .with_step_dt(STEP)
        .build_ui_state(
            |ui, bench: &mut Bench| {
                let env = EditorEnv {
                    playhead: bench.playhead,
                    video_name: Some("a.mp4"),
                    video_duration: Some(8.0),
                    draft: bench.draft.clone(),
                };
                let actions = bench.editor.ui(ui, &bench.document, &env);
                for action in actions {
                    bench.log.push(action.clone());
                    match action {
                        CaptionAction::Edit(command) => {
                            bench.document.apply(command).expect("the command applies")
                        }
                        CaptionAction::Typing {
                            command,
                            burst_ends,
                        } => bench
                            .document
                            .apply_typing(command, burst_ends)
                            .expect("the typing applies"),
                        CaptionAction::Undo => {
                            bench.document.undo().expect("undo");
                        }
                        CaptionAction::Redo => {
                            bench.document.redo().expect("redo");
                        }
                        CaptionAction::Save => {
                            bench.document.save().expect("save");
                        }
                        CaptionAction::Draft { .. } => {}
                    }
                }
                let changed = bench.document.drain_changes();
                bench.editor.records_changed(changed.into_iter().filter_map(
                    |change| match change {
                        haic::Change::Record { record } => Some(record),
                        haic::Change::Saved => None,
                    },
                ));
            },
            bench,
        )
}

/// Seconds of egui time per frame: short enough that a few queued key events stay well inside
/// the typing pause (`keye_ui::captions::typing::BURST_PAUSE`).
const STEP: f32 = 0.05;

/// Lets `seconds` pass without input, then runs the frames the panel asks for to show what it
/// did.
fn wait(harness: &mut Harness<'_, Bench>, seconds: f32) {
    for _ in 0..(seconds / STEP).ceil() as usize {
        harness.step();
    }
    harness.run();
}

fn select_record(harness: &mut Harness<'_, Bench>, number: usize) {
    harness
        .get_by_label_contains(&format!("#{number} clips/"))
        .click();
    harness.run();
    assert_eq!(harness.state().editor.selected(), Some(number));
}

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

#[test]
fn person_details_are_edited_in_a_collapsible_section_one_command_per_field() {
    let mut harness = bench_harness();
    harness.run();
    assert!(
        harness.query_by_label("P2 hair").is_none(),
        "details start folded away"
    );
    harness.get_by_label("P2 details").click();
    harness.run();
    harness.get_by_label("P2 hair").focus();
    harness.run();
    harness
        .get_by_label("P2 hair")
        .type_text("  grey, thinning ");
    harness.step();
    // Enter before the pause: one send, trimmed.
    harness.key_press(Key::Enter);
    harness.run();
    let set_hair = |value: Option<&str>| Command {
        record: 0,
        edit: Edit::SetPersonField {
            id: "P2".into(),
            field: PersonField::Hair,
            value: value.map(str::to_owned),
        },
    };
    assert_eq!(harness.state().edits(), [set_hair(Some("grey, thinning"))]);
    let man = harness.state().structure(0).people[1].clone();
    assert_eq!(man.hair.as_deref(), Some("grey, thinning"));
    assert_eq!(
        man.attributes, "the old man in a grey suit",
        "the phrase is untouched"
    );
    harness.get_by_label("P2 details (1 set)");

    // Emptying the field removes it from the record.
    harness.get_by_label("P2 hair").focus();
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.key_press(Key::Backspace);
    harness.step();
    harness.key_press(Key::Enter);
    harness.run();
    assert_eq!(harness.state().edits().last(), Some(&set_hair(None)));
    assert_eq!(harness.state().structure(0).people[1].hair, None);

    harness.get_by_label("Undo").click();
    harness.run();
    assert_eq!(
        harness.state().structure(0).people[1].hair.as_deref(),
        Some("grey, thinning"),
        "undo brings the value back"
    );
    harness.get_by_label("P2 details (1 set)");
    assert_eq!(
        harness.get_by_label("P2 hair").value().as_deref(),
        Some("grey, thinning"),
        "the field shows the undone value"
    );
}

#[test]
fn set_start_from_playhead_sets_the_event_start() {
    let mut harness = bench_harness();
    harness.run();
    harness
        .get_by_label("Set event 2 start from playhead")
        .click();
    harness.run();
    assert_eq!(
        harness.state().edits(),
        [Command {
            record: 0,
            edit: Edit::SetTimes {
                index: 1,
                start: Some(1.25),
                end: Some(3.0)
            }
        }]
    );
    // Before event 1's start (0.5)? No: 1.25 is after it, so the order stays chronological.
    assert!(
        harness
            .query_by_label_contains("[not-chronological]")
            .is_none()
    );
}

#[test]
fn sort_events_by_start_is_offered_when_events_are_out_of_order_and_is_one_undo() {
    let mut harness = bench_harness();
    harness.run();
    assert!(
        harness.query_by_label("Sort events by start").is_none(),
        "record 0 is in order: nothing to sort"
    );
    // Event 1 ("walks toward", 0.5 s) set to start at 5 s now starts after event 2 ("nods", 2.5 s).
    harness.state_mut().playhead = Some(5.0);
    harness.run();
    harness
        .get_by_label("Set event 1 start from playhead")
        .click();
    harness.run();
    harness.get_by_label_contains("[not-chronological]");
    let before = harness.state().structure(0).events;
    harness.get_by_label("Sort events by start").click();
    harness.run();
    assert_eq!(
        harness.state().edits().last(),
        Some(&Command {
            record: 0,
            edit: Edit::SortEventsByStart
        })
    );
    let actions: Vec<_> = harness
        .state()
        .structure(0)
        .events
        .iter()
        .map(|event| (event.action.clone(), event.start))
        .collect();
    assert_eq!(
        actions,
        [
            ("nods".to_owned(), Some(2.5)),
            ("walks toward".to_owned(), Some(5.0))
        ]
    );
    assert!(
        harness
            .query_by_label_contains("[not-chronological]")
            .is_none()
    );
    assert!(
        harness.query_by_label("Sort events by start").is_none(),
        "the button goes once the order is right"
    );
    harness.get_by_label("Undo").click();
    harness.run();
    assert_eq!(
        harness.state().structure(0).events,
        before,
        "one undo restores the order"
    );
    harness.get_by_label("Sort events by start");
}

#[test]
fn undo_and_redo_by_buttons_and_keys() {
    let mut harness = bench_harness();
    harness.run();
    let start = |harness: &Harness<'_, Bench>| harness.state().structure(0).events[0].start;
    harness
        .get_by_label("Set event 1 start from playhead")
        .click();
    harness.run();
    assert_eq!(start(&harness), Some(1.25));

    harness.get_by_label("Undo").click();
    harness.run();
    assert_eq!(start(&harness), Some(0.5));
    assert!(
        !harness.state().document.is_dirty(),
        "back at the saved state"
    );
    harness.get_by_label("Redo").click();
    harness.run();
    assert_eq!(start(&harness), Some(1.25));

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run();
    assert_eq!(start(&harness), Some(0.5), "Ctrl+Z undoes");
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    harness.run();
    assert_eq!(start(&harness), Some(1.25), "Ctrl+Shift+Z redoes");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Y);
    harness.run();
    assert_eq!(start(&harness), Some(1.25), "Ctrl+Y redoes");

    harness.get_by_label("Filter records").focus();
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run();
    assert_eq!(
        start(&harness),
        Some(1.25),
        "Ctrl+Z in a text field is the field's own undo"
    );

    harness.key_press_modifiers(Modifiers::COMMAND, Key::S);
    harness.run();
    assert!(harness.state().log.contains(&CaptionAction::Save));
    assert!(!harness.state().document.is_dirty());
    harness.get_by_label("saved");
}

#[test]
fn only_invalid_filter_and_clicking_a_message_locates_the_field() {
    let mut harness = bench_harness();
    harness.run();
    harness.get_by_label("only invalid").click();
    harness.run();
    assert!(harness.query_by_label_contains("#0 clips/a.mp4").is_none());
    assert!(harness.query_by_label_contains("#2 clips/c.mp4").is_none());
    select_record(&mut harness, 1);
    harness.get_by_label_contains("(!) #1 clips/b.mp4");

    let message = harness.get_by_label_contains("[unknown-person] events[1].who[0]");
    message.click();
    harness.run();
    let editor = &harness.state().editor;
    assert_eq!(editor.selected(), Some(1));
    assert_eq!(editor.located(), Some(Field::Event(1, EventField::Who)));
}

#[test]
fn filter_by_text_keeps_matching_records() {
    let mut harness = bench_harness();
    harness.run();
    harness.get_by_label("Filter records").focus();
    harness.get_by_label("Filter records").type_text("b.mp4");
    harness.run();
    assert!(harness.query_by_label_contains("#0 clips/a.mp4").is_none());
    harness.get_by_label_contains("#1 clips/b.mp4");
    assert!(harness.query_by_label_contains("#2 clips/c.mp4").is_none());
    harness.get_by_label_contains("1 of 3 records");

    // Records that keep only people and events are found by their rendered text too.
    harness.state_mut().editor.filter = "grey suit".into();
    harness.run();
    harness.get_by_label_contains("#0 clips/a.mp4");
    assert!(harness.query_by_label_contains("#1 clips/b.mp4").is_none());

    harness.state_mut().editor.filter.clear();
    harness.state_mut().editor.only_open_video = true;
    harness.run();
    harness.get_by_label_contains("#0 clips/a.mp4");
    assert!(harness.query_by_label_contains("#1 clips/b.mp4").is_none());
}

const DRAFT: &str = "There are two people in the video. The first person is the man in a red shirt. \
The second person is the woman in a blue dress.\n\n\
The man in a red shirt waves to the woman in a blue dress. The woman in a blue dress nods. \
The man in a red shirt sits down.";

#[test]
fn draft_with_model_needs_a_model_and_asks_for_the_selected_record() {
    let mut harness = bench_harness();
    harness.run();
    select_record(&mut harness, 2);
    harness.get_by_label("Draft with model").click();
    harness.run();
    assert!(
        !harness
            .state()
            .log
            .contains(&CaptionAction::Draft { record: 2 }),
        "disabled without a model"
    );
    harness.state_mut().draft = DraftAvailability::Ready;
    harness.run();
    harness.get_by_label("Draft with model").click();
    harness.run();
    assert!(
        harness
            .state()
            .log
            .contains(&CaptionAction::Draft { record: 2 })
    );
}

#[test]
fn draft_pieces_are_accepted_one_by_one_rejected_or_all_at_once() {
    let mut harness = bench_harness();
    harness.run();
    select_record(&mut harness, 2);
    let draft = text::parse(DRAFT).expect("the draft follows the format");
    harness.state_mut().editor.show_draft(2, draft);
    harness.run();

    harness.get_by_label("Accept person 2").click();
    harness.run();
    let structure = harness.state().structure(2);
    assert_eq!(structure.people.len(), 1);
    assert_eq!(structure.people[0].attributes, "the woman in a blue dress");
    assert!(structure.events.is_empty());

    harness.get_by_label("Reject event 1").click();
    harness.run();
    assert_eq!(harness.state().structure(2).events.len(), 0);

    harness.get_by_label("Accept all").click();
    harness.run();
    let structure = harness.state().structure(2);
    let attributes: Vec<_> = structure
        .people
        .iter()
        .map(|p| p.attributes.as_str())
        .collect();
    assert_eq!(
        attributes,
        ["the woman in a blue dress", "the man in a red shirt"]
    );
    let actions: Vec<_> = structure.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["nods", "sits down"],
        "the rejected wave is not taken"
    );
    // The woman accepted first is P2 (the draft's id); the man keeps P1.
    assert_eq!(structure.events[0].who, ["P2"]);
    assert_eq!(structure.events[1].who, ["P1"]);
    let Record::Caption(caption) = harness.state().document.file().record(2).unwrap() else {
        panic!("record 2 is a caption");
    };
    assert!(
        caption
            .caption
            .starts_with("There are two people in the video.")
    );
    assert!(harness.query_by_label("Accept event 2").is_none());
}

#[test]
fn dragging_a_caption_segment_edge_on_the_timeline_reports_the_new_time() {
    let player = PlayerState::new(Timebase {
        fps: 10.0,
        frame_count: 200,
    });
    let mut timeline = Timeline::new(20.0);
    timeline.tracks.caption_events = vec![CaptionSegment {
        start: 4.0,
        end: 8.0,
        label: "waves".into(),
        event: 3,
    }];
    let mut harness = Harness::builder()
        .with_size(Vec2::new(900.0, 360.0))
        .build_ui_state(
            |ui, (timeline, player): &mut (Timeline, PlayerState)| timeline.ui(ui, player),
            (timeline, player),
        );
    harness.run();
    let row = harness.get_by_label("Caption events").rect();
    // The plot starts after the 120-point label column and spans 20 s.
    let plot_left = row.left() + 120.0;
    let x_of = |time: f32| plot_left + time / 20.0 * (row.right() - plot_left);
    let y = row.center().y;
    harness.hover_at(Pos2::new(x_of(8.0), y));
    harness.drag_at(Pos2::new(x_of(8.0), y));
    harness.step();
    for time in [9.0, 10.0, 11.0] {
        harness.hover_at(Pos2::new(x_of(time), y));
        harness.step();
    }
    assert!(
        (harness.state().0.tracks.caption_events[0].end - 11.0).abs() < 0.05,
        "the segment follows the pointer while dragging"
    );
    harness.event(Event::PointerButton {
        pos: Pos2::new(x_of(11.0), y),
        button: PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::default(),
    });
    harness.run();
    let drags = harness.state_mut().0.take_caption_drags();
    assert_eq!(drags.len(), 1, "{drags:?}");
    assert_eq!((drags[0].event, drags[0].edge), (3, SegmentEdge::End));
    assert!((drags[0].time - 11.0).abs() < 0.05, "{drags:?}");
    assert_eq!(
        harness.state().1.position(),
        0.0,
        "an edge drag does not seek"
    );
}
