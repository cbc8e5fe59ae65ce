//! Token selection drives the heatmap: hovering a token previews its map, clicking pins it,
//! Shift+click extends to a range that the chosen aggregation combines; the controls pick layer,
//! head and aggregation among what was captured.

use egui::{Modifiers, Vec2};
use egui_kittest::{Harness, kittest::Queryable};
use keye_ui::{
    Aggregation, AskAvailability, AskPanel, AskTurn, CapturedLayers, ConversationView, HeadChoice,
    HeatmapControls, ReasoningTrace, ThinkingChoice, TokenSelection, TraceDelta, TracePhase,
    TraceStatus, aggregate,
};

/// The panel, the controls, per-step attention rows (as the app keeps them for the last turn)
/// and the map the app would draw for the current focus.
struct State {
    panel: AskPanel,
    /// The conversation, as the app's session keeps it.
    turns: Vec<AskTurn>,
    controls: HeatmapControls,
    rows: Vec<Vec<f32>>,
    shown: Option<Vec<f32>>,
    jumps: usize,
}

fn heatmap_harness() -> Harness<'static, State> {
    let mut panel = AskPanel::new();
    panel.set_availability(AskAvailability::Ready);
    panel.question = "Where is the dog?".into();
    let Some(keye_ui::AskAction::Ask(request)) = panel.submit(false) else {
        panic!("asks");
    };
    let mut trace = ReasoningTrace::new();
    for (step, (phase, text)) in [
        (TracePhase::Thinking, "Looking"),
        (TracePhase::Answer, "Left"),
        (TracePhase::Answer, " corner"),
    ]
    .into_iter()
    .enumerate()
    {
        trace.push_token(step, TraceDelta::new(phase, text));
    }
    trace.set_status(TraceStatus::Finished);
    let state = State {
        panel,
        turns: vec![AskTurn {
            question: request.question,
            thinking: ThinkingChoice::Auto,
            trace,
        }],
        controls: HeatmapControls::default(),
        rows: vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.0, 0.0, 1.0],
        ],
        shown: None,
        jumps: 0,
    };
    Harness::builder()
        .with_size(Vec2::new(420.0, 600.0))
        .build_ui_state(
            |ui, state: &mut State| {
                state.panel.ui(ui, ConversationView::new(&state.turns));
                let focus = state.panel.focus();
                let captured = CapturedLayers {
                    layers: vec![0, 2],
                    heads: Some(4),
                };
                let label = focus.as_ref().map(|f| format!("{:?}", f.steps));
                let response = state.controls.ui(ui, &captured, label.as_deref());
                state.jumps += usize::from(response.jump);
                state.shown = focus.and_then(|f| {
                    aggregate(
                        f.steps.map(|s| state.rows[s].as_slice()),
                        state.controls.aggregation,
                    )
                });
            },
            state,
        )
}

#[test]
fn hovering_a_token_previews_its_map_and_clicking_pins_it() {
    let mut harness = heatmap_harness();
    harness.run();
    assert_eq!(harness.state().shown, None);
    harness.get_by_label("Left").hover();
    harness.run();
    assert_eq!(harness.state().shown.as_deref(), Some(&[0.0, 1.0, 0.0][..]));
    assert_eq!(
        harness.state().panel.selection(),
        None,
        "hover only previews"
    );

    harness.get_by_label(" corner").click();
    harness.run();
    harness.remove_cursor();
    harness.run();
    assert_eq!(
        harness.state().panel.selection(),
        Some(&TokenSelection {
            turn: 0,
            steps: 2..=2
        })
    );
    assert_eq!(harness.state().shown.as_deref(), Some(&[0.0, 0.0, 1.0][..]));

    harness.get_by_label("Jump to most attended frame").click();
    harness.run();
    assert_eq!(harness.state().jumps, 1);
}

#[test]
fn shift_click_selects_a_range_that_mean_or_max_combines() {
    let mut harness = heatmap_harness();
    harness.run();
    harness.get_by_label("Looking").click();
    harness.run();
    harness
        .get_by_label("Left")
        .click_modifiers(Modifiers::SHIFT);
    harness.run();
    harness.remove_cursor();
    harness.run();
    assert_eq!(
        harness.state().panel.selection().map(|s| s.steps.clone()),
        Some(0..=1)
    );
    assert_eq!(harness.state().shown.as_deref(), Some(&[0.5, 0.5, 0.0][..]));
    harness.get_by_label("max").click();
    harness.run();
    assert_eq!(harness.state().controls.aggregation, Aggregation::Max);
    assert_eq!(harness.state().shown.as_deref(), Some(&[1.0, 1.0, 0.0][..]));
}

/// The n-th combo box (layer, head).
fn combo<'a>(harness: &'a Harness<'static, State>, index: usize) -> egui_kittest::Node<'a> {
    harness
        .get_all_by_role(egui::accesskit::Role::ComboBox)
        .nth(index)
        .expect("combo box")
}

#[test]
fn dragging_across_tokens_selects_the_range() {
    let mut harness = heatmap_harness();
    harness.run();
    let from = harness.get_by_label("Looking").rect().center();
    let to = harness.get_by_label(" corner").rect().center();
    harness.hover_at(from);
    harness.run();
    harness.drag_at(from);
    harness.run();
    harness.hover_at(to);
    harness.run();
    harness.drop_at(to);
    harness.run();
    harness.remove_cursor();
    harness.run();
    assert_eq!(
        harness.state().panel.selection().map(|s| s.steps.clone()),
        Some(0..=2)
    );
}

#[test]
fn layer_and_head_are_chosen_among_the_captured_ones() {
    let mut harness = heatmap_harness();
    harness.run();
    combo(&harness, 0).click();
    harness.run();
    harness.get_by_label("layer 0").click();
    harness.run();
    assert_eq!(harness.state().controls.layer, Some(0));
    combo(&harness, 1).click();
    harness.run();
    harness.get_by_label("head 3").click();
    harness.run();
    assert_eq!(harness.state().controls.head, HeadChoice::Head(3));
}
