//! Scrubbing by clicking and dragging on the scrubber, and zooming and panning the timeline.

use egui::{Event, PointerButton, Pos2, Vec2};
use egui_kittest::{Harness, kittest::Queryable};
use keye_ui::{FrameValue, ModelTracks, PlayerState, Timebase, Timeline};

type State = (Timeline, PlayerState);

/// A 20 s video at 10 fps on an 900 x 360 timeline.
fn timeline_harness() -> Harness<'static, State> {
    let player = PlayerState::new(Timebase {
        fps: 10.0,
        frame_count: 200,
    });
    let timeline = Timeline::new(20.0);
    Harness::builder()
        .with_size(Vec2::new(900.0, 360.0))
        .build_ui_state(
            |ui, (timeline, player): &mut State| timeline.ui(ui, player),
            (timeline, player),
        )
}

/// Lets go of the primary button where the pointer is, leaving the pointer there.
fn release_at(harness: &Harness<'_, State>, pos: Pos2) {
    harness.event(Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed: false,
        modifiers: Default::default(),
    });
}

/// Presses and lets go of the primary button at `point`, as a click does.
fn click_at(harness: &mut Harness<'_, State>, point: Pos2) {
    harness.hover_at(point);
    harness.drag_at(point);
    release_at(harness, point);
    harness.run();
}

/// The point at `fraction` of the scrubber's width, vertically centred.
fn scrubber_point(harness: &Harness<'_, State>, fraction: f32) -> Pos2 {
    let rect = harness.get_by_label("Scrubber").rect();
    Pos2::new(rect.left() + fraction * rect.width(), rect.center().y)
}

#[test]
fn clicking_the_scrubber_seeks_there() {
    let mut harness = timeline_harness();
    harness.run();
    let point = scrubber_point(&harness, 0.25);
    click_at(&mut harness, point);
    let position = harness.state().1.position();
    assert!(
        (position - 5.0).abs() < 0.05,
        "clicked a quarter of 20 s, got {position}"
    );
}

#[test]
fn dragging_the_scrubber_follows_the_pointer() {
    let mut harness = timeline_harness();
    harness.run();
    let start = scrubber_point(&harness, 0.1);
    harness.hover_at(start);
    harness.drag_at(start);
    harness.step();
    for fraction in [0.3, 0.5, 0.75] {
        harness.hover_at(scrubber_point(&harness, fraction));
        harness.step();
        harness.step();
        let expected = 20.0 * fraction as f64;
        let position = harness.state().1.position();
        assert!(
            (position - expected).abs() < 0.05,
            "at {fraction} expected {expected}, got {position}"
        );
    }
    release_at(&harness, scrubber_point(&harness, 0.75));
    harness.run();
    assert!((harness.state().1.position() - 15.0).abs() < 0.05);
    assert!(!harness.state().1.is_playing(), "scrubbing pauses playback");
}

#[test]
fn zoom_buttons_and_pinch_zoom_then_right_drag_pans() {
    let mut harness = timeline_harness();
    harness.state_mut().1.seek(10.0);
    harness.run();
    harness.get_by_label("Zoom in").click();
    harness.run();
    let view = harness.state().0.view;
    assert_eq!(
        (view.start(), view.end()),
        (5.0, 15.0),
        "zoomed 2x around the playhead"
    );

    // Pinch (or Ctrl+scroll) zooms around the pointer: the time under it stays put.
    let point = scrubber_point(&harness, 0.25);
    harness.hover_at(point);
    harness.run();
    harness.event(Event::Zoom(2.0));
    harness.run();
    let view = harness.state().0.view;
    assert!((view.span() - 5.0).abs() < 1e-6, "span {}", view.span());
    assert!(
        (view.start() - 6.25).abs() < 0.01,
        "7.5 s stays a quarter in: start {}",
        view.start()
    );

    // Dragging with the right button 25 % of the width to the left shows later time.
    let rect = harness.get_by_label("Scrubber").rect();
    let from = Pos2::new(rect.center().x, rect.center().y);
    let to = from - Vec2::new(rect.width() * 0.25, 0.0);
    harness.event(Event::PointerButton {
        pos: from,
        button: PointerButton::Secondary,
        pressed: true,
        modifiers: Default::default(),
    });
    harness.step();
    harness.hover_at(from - Vec2::new(10.0, 0.0));
    harness.step();
    harness.hover_at(to);
    harness.step();
    harness.event(Event::PointerButton {
        pos: to,
        button: PointerButton::Secondary,
        pressed: false,
        modifiers: Default::default(),
    });
    harness.run();
    let view = harness.state().0.view;
    assert!(
        (view.start() - 7.5).abs() < 0.08,
        "panned by 1.25 s: start {}",
        view.start()
    );
    assert!((view.span() - 5.0).abs() < 1e-6, "panning keeps the zoom");
    assert_eq!(harness.state().1.position(), 10.0, "panning does not seek");

    harness.get_by_label("Fit").click();
    harness.run();
    let view = harness.state().0.view;
    assert_eq!((view.start(), view.end()), (0.0, 20.0));
}

#[test]
fn clicking_the_attention_track_jumps_to_the_most_attended_frame() {
    let mut harness = timeline_harness();
    harness.state_mut().0.tracks = ModelTracks {
        attention_mass: vec![
            FrameValue {
                time: 2.0,
                value: 0.1,
            },
            FrameValue {
                time: 12.5,
                value: 0.8,
            },
            FrameValue {
                time: 16.0,
                value: 0.1,
            },
        ],
        ..ModelTracks::default()
    };
    harness.run();
    harness.get_by_label("Attention").click();
    harness.run();
    assert_eq!(harness.state().1.position(), 12.5);
}

/// The sound track draws the waveform the app hands in, and a click on it seeks there, as on
/// the other tracks: annotators find a sound by its shape and jump to it.
#[test]
fn clicking_the_sound_track_seeks_there() {
    let mut harness = timeline_harness();
    // 20 s of sound, loud from 10 s to 12 s.
    let bins = (0..2000)
        .map(|bin| {
            if (1000..1200).contains(&bin) {
                [-0.8, 0.8]
            } else {
                [-0.01, 0.01]
            }
        })
        .collect();
    harness.state_mut().0.waveform =
        keye_ui::WaveformTrack::Ready(std::sync::Arc::new(keye_ui::WaveformPeaks::new(100, bins)));
    harness.run();
    let track = harness.get_by_label("Sound").rect();
    let plot_left = harness.get_by_label("Scrubber").rect().left();
    let point = Pos2::new(
        plot_left + 0.5 * (track.right() - plot_left),
        track.center().y,
    );
    click_at(&mut harness, point);
    let position = harness.state().1.position();
    assert!(
        (position - 10.0).abs() < 0.05,
        "clicked the middle of 20 s, got {position}"
    );
}
