//! The caption editor driven like an annotator drives it: the people's details, the playhead
//! buttons, undo/redo by button and keys, validation messages, the record filter, and a model
//! draft accepted piece by piece. Its actions are applied to a real `haic::Document` over a file
//! in a temporary folder, as the app does (`caption_bench`). Typing is in `caption_typing.rs`.

mod caption_bench;

use caption_bench::{Bench, bench_harness, select_record};
use egui::{Event, Key, Modifiers, PointerButton, Pos2, Vec2};
use egui_kittest::{Harness, kittest::Queryable};
use haic::{Command, Edit, PersonField, Record, text};
use keye_ui::captions::{EventField, Field};
use keye_ui::{
    CaptionAction, CaptionSegment, DraftAvailability, PlayerState, SegmentEdge, Timebase, Timeline,
};

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
