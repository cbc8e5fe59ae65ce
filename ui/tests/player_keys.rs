//! Keyboard control of the player, pressed the way a person would.

use egui::{Key, Modifiers};
use egui_kittest::{Harness, kittest::Queryable};
use keye_ui::{Direction, PlayerState, Timebase, TransportBar};

/// 10 s at 25 fps, paused at the start.
fn player_harness() -> Harness<'static, PlayerState> {
    let player = PlayerState::new(Timebase {
        fps: 25.0,
        frame_count: 250,
    });
    Harness::new_ui_state(
        |ui, player: &mut PlayerState| TransportBar::default().ui(ui, player),
        player,
    )
}

#[test]
fn arrows_step_one_frame_and_shift_arrows_one_second() {
    let mut harness = player_harness();
    harness.key_press(Key::ArrowRight);
    harness.run();
    assert_eq!(harness.state().frame(), 1);
    harness.key_press_modifiers(Modifiers::SHIFT, Key::ArrowRight);
    harness.run();
    assert_eq!(harness.state().frame(), 26);
    harness.key_press(Key::ArrowLeft);
    harness.run();
    assert_eq!(harness.state().frame(), 25);
    harness.key_press_modifiers(Modifiers::SHIFT, Key::ArrowLeft);
    harness.key_press_modifiers(Modifiers::SHIFT, Key::ArrowLeft);
    harness.run();
    assert_eq!(
        harness.state().frame(),
        0,
        "stepping back stops at the first frame"
    );
}

#[test]
fn space_toggles_and_jkl_shuttle() {
    let mut harness = player_harness();
    harness.key_press(Key::Space);
    harness.run();
    assert!(harness.state().is_playing());
    harness.key_press(Key::Space);
    harness.run();
    assert!(!harness.state().is_playing());

    harness.key_press(Key::L);
    harness.run();
    let player = harness.state();
    assert!(player.is_playing());
    assert_eq!(
        (player.direction(), player.speed()),
        (Direction::Forward, 1.0)
    );
    harness.key_press(Key::L);
    harness.key_press(Key::L);
    harness.key_press(Key::L);
    harness.run();
    assert_eq!(
        harness.state().speed(),
        4.0,
        "L speeds up by doubling, capped at 4x"
    );

    harness.key_press(Key::J);
    harness.run();
    let player = harness.state();
    assert_eq!(
        (player.direction(), player.speed()),
        (Direction::Backward, 1.0)
    );
    harness.key_press(Key::J);
    harness.run();
    assert_eq!(harness.state().speed(), 2.0);

    harness.key_press(Key::K);
    harness.run();
    assert!(!harness.state().is_playing());
}

#[test]
fn home_end_and_in_out_marks() {
    let mut harness = player_harness();
    harness.key_press(Key::End);
    harness.run();
    assert_eq!(harness.state().frame(), 249, "End shows the last frame");
    harness.key_press(Key::Home);
    harness.run();
    assert_eq!(harness.state().position(), 0.0);

    harness.state_mut().seek_frame(50);
    harness.key_press(Key::OpenBracket);
    harness.run();
    harness.state_mut().seek_frame(100);
    harness.key_press(Key::CloseBracket);
    harness.run();
    assert_eq!(harness.state().in_mark(), Some(2.0));
    assert_eq!(harness.state().out_mark(), Some(4.0));
}

#[test]
fn transport_buttons_do_what_the_keys_do() {
    let mut harness = player_harness();
    harness.get_by_label("Next frame").click();
    harness.run();
    assert_eq!(harness.state().frame(), 1);
    harness.get_by_label("Play").click();
    harness.run();
    assert!(harness.state().is_playing());
    harness.get_by_label("Pause").click();
    harness.run();
    assert!(!harness.state().is_playing());
}

#[test]
fn typing_in_a_text_field_does_not_move_the_video() {
    let player = PlayerState::new(Timebase {
        fps: 25.0,
        frame_count: 250,
    });
    let mut harness = Harness::new_ui_state(
        |ui, (player, question): &mut (PlayerState, String)| {
            TransportBar::default().ui(ui, player);
            let label = ui.label("Question");
            ui.text_edit_singleline(question).labelled_by(label.id);
        },
        (player, String::new()),
    );
    harness.get_by_label("Question").focus();
    harness.run();
    harness.key_press(Key::Space);
    harness.key_press(Key::ArrowRight);
    harness.run();
    assert!(!harness.state().0.is_playing());
    assert_eq!(harness.state().0.frame(), 0);
}

#[test]
fn playing_advances_with_speed_and_stops_at_the_end() {
    let mut player = PlayerState::new(Timebase {
        fps: 25.0,
        frame_count: 250,
    });
    player.play();
    player.set_speed(2.0);
    player.advance(1.0);
    assert_eq!(player.frame(), 50);
    player.advance(100.0);
    assert!(!player.is_playing());
    assert_eq!(player.frame(), 249);
}

/// On a variable-frame-rate stream the player follows the frames' own start times: arrows step
/// from frame start to frame start, the frame under the playhead is the last one started, and End
/// reaches the last frame even where a constant rate would stop short of it.
#[test]
fn arrows_follow_the_frame_starts_of_a_variable_rate_stream() {
    let starts: std::sync::Arc<[f64]> = [0.0, 0.1, 0.2, 0.6, 0.7, 1.5].into();
    // 6 frames over 1.6 s: a constant rate would put frame 5 at 1.33 s.
    let player = PlayerState::with_frame_starts(
        Timebase {
            fps: 6.0 / 1.6,
            frame_count: 6,
        },
        starts,
    );
    let mut harness = Harness::new_ui_state(
        |ui, player: &mut PlayerState| TransportBar::default().ui(ui, player),
        player,
    );
    for (frame, start) in [(1, 0.1), (2, 0.2), (3, 0.6)] {
        harness.key_press(Key::ArrowRight);
        harness.run();
        assert_eq!(harness.state().frame(), frame);
        assert!((harness.state().position() - start).abs() < 1e-9);
    }
    harness.state_mut().seek(1.0);
    assert_eq!(harness.state().frame(), 4, "0.7 s started, 1.5 s not yet");
    assert_eq!(harness.state().frame_at(-1.0), 0);
    harness.key_press(Key::End);
    harness.run();
    assert_eq!(harness.state().frame(), 5);
    assert_eq!(harness.state().position(), 1.5);
    harness.key_press(Key::ArrowLeft);
    harness.run();
    assert_eq!(harness.state().frame(), 4);
    assert_eq!(harness.state().position(), 0.7);
}

#[test]
fn nine_and_zero_set_the_volume_and_ctrl_m_mutes() {
    let mut harness = player_harness();
    for _ in 0..3 {
        harness.key_press(Key::Num9);
    }
    harness.run();
    assert!((harness.state().volume() - 0.7).abs() < 1e-6);
    harness.key_press(Key::Num0);
    harness.run();
    assert!((harness.state().volume() - 0.8).abs() < 1e-6);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::M);
    harness.run();
    assert!(harness.state().muted());
    // A volume change unmutes, as on every player; the volume stays between silent and full.
    for _ in 0..15 {
        harness.key_press(Key::Num0);
    }
    harness.run();
    assert!(!harness.state().muted());
    assert_eq!(harness.state().volume(), 1.0);
    harness.get_by_label("Mute").click();
    harness.run();
    assert!(harness.state().muted());
    harness.get_by_label("Unmute").click();
    harness.run();
    assert!(!harness.state().muted());
}

/// While sound plays the playhead is put where the sound is; it stays inside the span being
/// played and leaves a paused or reversing player alone.
#[test]
fn the_playhead_follows_the_audio_clock_only_while_playing_forward() {
    let mut player = PlayerState::new(Timebase {
        fps: 25.0,
        frame_count: 250,
    });
    player.follow_clock(3.0);
    assert_eq!(player.position(), 0.0, "paused: the clock is ignored");
    player.play();
    player.follow_clock(3.0);
    assert_eq!(player.position(), 3.0);
    player.follow_clock(99.0);
    assert_eq!(player.position(), player.last_frame_start());
    player.play_span(keye_ui::PlaySpan {
        start: 2.0,
        end: 2.5,
        looping: true,
    });
    player.follow_clock(2.7);
    assert_eq!(player.position(), 2.5, "held to the looped span");
    player.shuttle(Direction::Backward);
    player.follow_clock(1.0);
    assert_eq!(player.position(), 2.5, "reversing: no sound, no clock");
}
