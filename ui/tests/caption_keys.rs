//! Captioning with the keyboard alone while the video plays: events are started, ended, split,
//! merged and nudged with keys, each key one undo step; the selected event loops without leaving
//! it; records are marked done, flagged and walked in review; the shortcut sheet and the command
//! palette list every command with its key. Driven by kittest over a real `haic::Document` and a
//! running `PlayerState` (`caption_bench`).

mod caption_bench;

use caption_bench::{Bench, FPS, STEP, bench_harness, player, select_record, wait};
use egui::{Key, Modifiers};
use egui_kittest::{Harness, kittest::Queryable};
use haic::{Event, ReviewStatus};

fn playing_from(seconds: f64) -> Harness<'static, Bench> {
    let mut harness = bench_harness();
    let mut running = player();
    running.seek(seconds);
    running.play();
    harness.state_mut().player = Some(running);
    harness.run();
    harness
}

fn playhead(harness: &Harness<'_, Bench>) -> f64 {
    harness.state().playhead.expect("a playhead")
}

fn events(harness: &Harness<'_, Bench>) -> Vec<Event> {
    harness.state().structure(0).events
}

fn press(harness: &mut Harness<'_, Bench>, key: Key) {
    harness.key_press(key);
    harness.run();
}

fn press_with(harness: &mut Harness<'_, Bench>, modifiers: Modifiers, key: Key) {
    harness.key_press_modifiers(modifiers, key);
    harness.run();
}

/// Whether `time` is what the playhead was at a key press that came after `before`, allowing
/// for the frames a press takes to go through while the video runs.
fn near_press(time: Option<f64>, before: f64) -> bool {
    let time = time.expect("a time");
    time >= before && time <= before + 8.0 * f64::from(STEP)
}

#[test]
fn events_are_made_timed_split_and_merged_from_the_keyboard_while_the_video_plays() {
    let mut harness = playing_from(4.0);
    assert!(harness.state().player.as_ref().unwrap().is_playing());
    let before_start = playhead(&harness);

    // I starts an event of the first person at the playhead and gives its action field the keys.
    press(&mut harness, Key::I);
    let started = events(&harness);
    assert_eq!(started.len(), 3);
    assert_eq!(started[2].who, ["P1"]);
    assert!(near_press(started[2].start, before_start), "{started:?}");
    harness
        .get_by_label("Event 3 action")
        .type_text("sits down");
    harness.key_press(Key::Escape);
    harness.run();
    assert_eq!(events(&harness)[2].action, "sits down");

    // O ends it where the video has got to.
    wait(&mut harness, 1.0);
    let before_end = playhead(&harness);
    press(&mut harness, Key::O);
    let ended = events(&harness);
    assert!(near_press(ended[2].end, before_end), "{ended:?}");
    let (start, end) = (ended[2].start.unwrap(), ended[2].end.unwrap());
    assert!(harness.state().player.as_ref().unwrap().is_playing());

    // O left its end selected: Ctrl+Left jumps to its start, Ctrl+Right back to its end, and
    // Ctrl+Left to the start again; the video plays on from there, and S splits the event where
    // it plays.
    press_with(&mut harness, Modifiers::COMMAND, Key::ArrowLeft);
    assert!(
        (playhead(&harness) - start).abs() < 0.3,
        "at the start edge"
    );
    press_with(&mut harness, Modifiers::COMMAND, Key::ArrowRight);
    assert!((playhead(&harness) - end).abs() < 0.3, "at the end edge");
    press_with(&mut harness, Modifiers::COMMAND, Key::ArrowLeft);
    assert!(
        (playhead(&harness) - start).abs() < 0.3,
        "back at the start edge"
    );
    wait(&mut harness, 0.3);
    let before_split = playhead(&harness);
    press(&mut harness, Key::S);
    let split = events(&harness);
    assert_eq!(split.len(), 4, "{split:?}");
    assert_eq!(
        (split[2].action.as_str(), split[3].action.as_str()),
        ("sits down", "sits down")
    );
    assert_eq!(split[2].start, Some(start));
    assert_eq!(split[3].end, Some(end));
    assert!(near_press(split[2].end, before_split), "{split:?}");
    assert_eq!(split[2].end, split[3].start);

    // M joins the halves again.
    press(&mut harness, Key::M);
    let merged = events(&harness);
    assert_eq!(merged.len(), 3);
    assert_eq!((merged[2].start, merged[2].end), (Some(start), Some(end)));

    // Each key was one step: undo walks back merge, split, end, the typing and the start.
    let undo = |harness: &mut Harness<'_, Bench>| {
        press_with(harness, Modifiers::COMMAND, Key::Z);
        events(harness)
    };
    assert_eq!(undo(&mut harness).len(), 4, "merge undone");
    let after = undo(&mut harness);
    assert_eq!((after.len(), after[2].end), (3, Some(end)), "split undone");
    assert_eq!(undo(&mut harness)[2].end, None, "end undone");
    assert_eq!(undo(&mut harness)[2].action, "", "typing undone");
    assert_eq!(undo(&mut harness).len(), 2, "start undone");
}

#[test]
fn edges_are_nudged_by_a_frame_or_100_ms_and_set_to_the_playhead() {
    let mut harness = bench_harness();
    harness.state_mut().player = Some(player());
    harness.run();
    // From the start of the video the next edge is event 1's start (0.5 s).
    press_with(&mut harness, Modifiers::COMMAND, Key::ArrowRight);
    assert_eq!(playhead(&harness), 0.5);
    press(&mut harness, Key::Period);
    assert!((events(&harness)[0].start.unwrap() - (0.5 + 1.0 / FPS)).abs() < 1e-9);
    press_with(&mut harness, Modifiers::SHIFT, Key::Period);
    assert!((events(&harness)[0].start.unwrap() - (0.6 + 1.0 / FPS)).abs() < 1e-9);
    press(&mut harness, Key::Comma);
    assert!((events(&harness)[0].start.unwrap() - 0.6).abs() < 1e-9);
    // E selects the end; T puts it on the playhead (the picture followed the last nudge).
    press(&mut harness, Key::E);
    harness.state_mut().player.as_mut().unwrap().seek(1.8);
    harness.run();
    press(&mut harness, Key::T);
    assert_eq!(events(&harness)[0].end, Some(1.8));
    assert_eq!(
        events(&harness)[0].start.map(|s| (s * 1e6).round()),
        Some(600_000.0)
    );
}

#[test]
fn a_looped_event_plays_round_and_round_within_its_span() {
    let mut harness = bench_harness();
    harness.state_mut().player = Some(player());
    harness.run();
    press_with(&mut harness, Modifiers::COMMAND, Key::ArrowRight);
    press(&mut harness, Key::R);
    let player_state = harness.state().player.clone().unwrap();
    assert!(player_state.is_playing());
    assert_eq!(
        player_state.span().map(|s| (s.start, s.end)),
        Some((0.5, 2.0))
    );
    let mut seen = Vec::new();
    for _ in 0..80 {
        harness.step();
        seen.push(playhead(&harness));
    }
    assert!(
        seen.iter().all(|&t| (0.5..2.0).contains(&t)),
        "left the event: {seen:?}"
    );
    assert!(
        seen.windows(2).any(|pair| pair[1] < pair[0]),
        "went round at least once in 4 s of a 1.5 s event"
    );
    // R again lets the video run on.
    press(&mut harness, Key::R);
    assert_eq!(harness.state().player.as_ref().unwrap().span(), None);

    // B plays the 500 ms before the event and stops at its start.
    press(&mut harness, Key::B);
    wait(&mut harness, 1.0);
    let stopped = harness.state().player.clone().unwrap();
    assert!(!stopped.is_playing());
    assert_eq!(stopped.position(), 0.5);

    // Speeds step from the keyboard, down to 0.1x and up to 4x.
    for _ in 0..10 {
        press(&mut harness, Key::Minus);
    }
    assert_eq!(harness.state().player.as_ref().unwrap().speed(), 0.1);
    for _ in 0..10 {
        press(&mut harness, Key::Equals);
    }
    assert_eq!(harness.state().player.as_ref().unwrap().speed(), 4.0);
}

#[test]
fn records_are_marked_done_flagged_and_walked_in_review() {
    let mut harness = bench_harness();
    harness.run();
    assert_eq!(harness.state().editor.selected(), Some(0));
    // D marks the record done and moves on to the next open one.
    press(&mut harness, Key::D);
    assert_eq!(harness.state().caption(0).review.status, ReviewStatus::Done);
    assert_eq!(harness.state().editor.selected(), Some(1));
    // F flags record 1; from record 0, G goes to it.
    press(&mut harness, Key::F);
    assert_eq!(
        harness.state().caption(1).review.status,
        ReviewStatus::Flagged
    );
    select_record(&mut harness, 0);
    press(&mut harness, Key::G);
    assert_eq!(harness.state().editor.selected(), Some(1));
    // Review mode lists only the flagged record.
    harness.get_by_label("Review flagged").click();
    harness.run();
    harness.get_by_label_contains("1 of 3 records");
    // A comment on the record goes into the file with its author.
    harness.get_by_label("Review comments (0)").click();
    harness.run();
    harness.get_by_label("Comment on the record").focus();
    harness.step();
    harness
        .get_by_label("Comment on the record")
        .type_text("the jump starts earlier");
    harness.step();
    harness.get_by_label("Add").click();
    harness.run();
    let review = harness.state().caption(1).review;
    assert_eq!(review.comments.len(), 1);
    assert_eq!(review.comments[0].author, "lee");
    assert_eq!(review.comments[0].text, "the jump starts earlier");
    // Each is one undo step: the comment goes first.
    press_with(&mut harness, Modifiers::COMMAND, Key::Z);
    assert!(harness.state().caption(1).review.comments.is_empty());
    assert_eq!(
        harness.state().caption(1).review.status,
        ReviewStatus::Flagged
    );
}

#[test]
fn the_sheet_and_the_palette_list_every_command_with_its_key() {
    let mut harness = bench_harness();
    harness.state_mut().player = Some(player());
    harness.run();
    press(&mut harness, Key::Questionmark);
    harness.get_by_label("Split the event at the playhead");
    harness.get_by_label("Loop the event (again: stop looping)");
    press(&mut harness, Key::Questionmark);
    assert!(
        harness
            .query_by_label("Split the event at the playhead")
            .is_none()
    );

    press_with(&mut harness, Modifiers::COMMAND | Modifiers::SHIFT, Key::P);
    harness.get_by_label("Find a command").type_text("loop");
    harness.run();
    harness.get_by_label_contains("Loop the event (again: stop looping)");
    assert!(harness.query_by_label_contains("Split the event").is_none());
    // With no event selected, the event under the playhead (none at 0 s) is asked for.
    harness.get_by_label_contains("Loop the event").click();
    harness.run();
    harness.get_by_label_contains("select an event first");
    assert!(
        harness.query_by_label("Find a command").is_none(),
        "the palette closed"
    );
}
