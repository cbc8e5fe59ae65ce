//! The evidence inspector as a researcher uses it: the aggregation picker names each map with a
//! line on what it means, the sink toggle and the picker report a change, "Test frames" starts
//! the deletion test and turns into progress with Cancel, a frame of the sorted list seeks; the
//! timeline's evidence track jumps to the frame the answer needed most; the trace draws each
//! step's vision share under it.

use egui::Vec2;
use egui_kittest::{Harness, kittest::Queryable};
use keye_ui::{
    AggregationInfo, EvidenceAction, EvidenceControls, EvidenceRow, EvidenceView, FrameValue,
    ModelTracks, PlayerState, ReasoningTrace, Timebase, Timeline, TraceDelta, TracePhase,
    TraceStatus,
};

struct State {
    controls: EvidenceControls,
    view: EvidenceView,
    actions: Vec<EvidenceAction>,
}

fn view() -> EvidenceView {
    let info = |name: &str, description: &str| AggregationInfo {
        name: name.into(),
        description: description.into(),
    };
    EvidenceView {
        aggregations: vec![
            info("raw attention", "where the answer's query looked"),
            info(
                "attention rollout",
                "attention carried down through every layer",
            ),
            info(
                "gradient-weighted attention",
                "where looking raised the answer",
            ),
        ],
        target: Some("token 2".into()),
        layers: 2,
        heads: 3,
        sinks: 3,
        has_maps: true,
        can_test: true,
        progress: None,
        rows: vec![
            EvidenceRow {
                label: "frame 12 at 1.50 s".into(),
                time: 1.5,
                drop: 0.8,
                attention: 0.4,
            },
            EvidenceRow {
                label: "frame 0 at 0.00 s".into(),
                time: 0.0,
                drop: 0.1,
                attention: 0.2,
            },
        ],
        faithfulness: Some(0.5),
        status: None,
    }
}

fn harness() -> Harness<'static, State> {
    Harness::builder()
        .with_size(Vec2::new(480.0, 520.0))
        .build_ui_state(
            |ui, state: &mut State| {
                if let Some(action) = state.controls.ui(ui, &state.view) {
                    state.actions.push(action);
                }
            },
            State {
                controls: EvidenceControls::default(),
                view: view(),
                actions: Vec::new(),
            },
        )
}

#[test]
fn the_picker_names_each_aggregation_and_the_sink_toggle_switches_to_the_raw_map() {
    let mut harness = harness();
    harness.run();
    // Each aggregation has its line on what it means.
    harness.get_by_label("attention carried down through every layer");
    harness.get_by_label("where looking raised the answer");
    assert_eq!(harness.state().controls.aggregation, 2);
    harness.get_by_label("attention rollout").click();
    harness.run();
    assert_eq!(harness.state().controls.aggregation, 1);
    assert_eq!(harness.state().actions, [EvidenceAction::Changed]);

    assert!(harness.state().controls.mask_sinks);
    harness
        .get_by_label("Mask attention sinks (3 found)")
        .click();
    harness.run();
    assert!(!harness.state().controls.mask_sinks);
    assert_eq!(harness.state().actions.len(), 2);
    harness.get_by_label_contains("Faithfulness +0.50");
    harness.get_by_label("Maps of token 2");
}

#[test]
fn raw_attention_offers_its_layer_and_heads() {
    let mut harness = harness();
    harness.run();
    assert!(
        harness.query_by_label("Layer").is_none(),
        "only for raw attention"
    );
    harness.get_by_label("raw attention").click();
    harness.run();
    harness.get_by_label("Layer").click();
    harness.run();
    harness.get_by_label("layer 1").click();
    harness.run();
    harness.get_by_label("Heads").click();
    harness.run();
    harness.get_by_label("max of heads").click();
    harness.run();
    let controls = &harness.state().controls;
    assert_eq!(controls.aggregation, 0);
    assert_eq!(controls.raw_layer, Some(1));
    assert_eq!(controls.raw_heads, keye_ui::RawHeads::Max);
    assert!(
        harness
            .state()
            .actions
            .iter()
            .all(|a| *a == EvidenceAction::Changed)
    );
}

#[test]
fn test_frames_runs_with_progress_and_cancel_and_a_listed_frame_seeks() {
    let mut harness = harness();
    harness.run();
    harness.get_by_label("Test frames").click();
    harness.run();
    assert_eq!(harness.state().actions, [EvidenceAction::TestFrames]);

    harness.state_mut().view.progress = Some((2, 5));
    harness.run();
    assert!(harness.query_by_label("Test frames").is_none());
    harness.get_by_label("Cancel").click();
    harness.run();
    assert_eq!(harness.state().actions[1], EvidenceAction::Cancel);

    harness.state_mut().view.progress = None;
    harness.run();
    harness.get_by_label("frame 12 at 1.50 s").click();
    harness.run();
    assert_eq!(harness.state().actions[2], EvidenceAction::Seek(1.5));

    // Without a finished local answer the button does nothing.
    harness.state_mut().view.can_test = false;
    harness.run();
    harness.get_by_label("Test frames").click();
    harness.run();
    assert_eq!(harness.state().actions.len(), 3);
}

#[test]
fn clicking_the_evidence_track_jumps_to_the_frame_the_answer_needed_most() {
    let player = PlayerState::new(Timebase {
        fps: 10.0,
        frame_count: 200,
    });
    let mut timeline = Timeline::new(20.0);
    timeline.tracks = ModelTracks {
        attention_mass: vec![FrameValue {
            time: 3.0,
            value: 0.9,
        }],
        evidence: vec![
            FrameValue {
                time: 2.0,
                value: -0.3,
            },
            FrameValue {
                time: 9.5,
                value: 1.2,
            },
            FrameValue {
                time: 16.0,
                value: 0.2,
            },
        ],
        ..ModelTracks::default()
    };
    let mut harness = Harness::builder()
        .with_size(Vec2::new(900.0, 400.0))
        .build_ui_state(
            |ui, (timeline, player): &mut (Timeline, PlayerState)| timeline.ui(ui, player),
            (timeline, player),
        );
    harness.run();
    harness.get_by_label("Evidence").click();
    harness.run();
    assert_eq!(harness.state().1.position(), 9.5);
    harness.get_by_label("Attention").click();
    harness.run();
    assert_eq!(harness.state().1.position(), 3.0);
}

#[test]
fn the_trace_draws_each_steps_vision_share_under_it() {
    let mut trace = ReasoningTrace::new();
    for (step, text) in ["The", " red", " square"].into_iter().enumerate() {
        trace.push_token(step, TraceDelta::new(TracePhase::Answer, text));
    }
    trace.set_status(TraceStatus::Finished);
    let mut harness = Harness::builder()
        .with_size(Vec2::new(400.0, 200.0))
        .build_ui_state(|ui, trace: &mut ReasoningTrace| trace.ui(ui), trace);
    harness.run();
    assert!(
        harness
            .query_by_label("vision share per step (attention on the video)")
            .is_none()
    );
    harness.state_mut().set_vision_share(vec![0.6, 0.3, 0.05]);
    harness.run();
    harness.get_by_label("vision share per step (attention on the video)");
}
