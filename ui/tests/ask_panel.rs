//! The ask panel as a person uses it: typing a question and pressing Enter (or Shift+Enter for a
//! new line), picking the thinking mode, sampling and visual-token budget, seeing the estimate
//! (and a refusal) before sending, watching the streamed reasoning and answer land in their own
//! sections, stopping. The conversation itself is the app's (its session's tests cover how
//! events become turns); here a bench keeps the turns as the session would.

use egui::{Key, Modifiers, Vec2, accesskit::Role};
use egui_kittest::{Harness, kittest::Queryable};
use keye_ui::{
    AskAction, AskAvailability, AskPanel, AskTurn, BudgetSettings, ConversationView, EstimateView,
    NO_MODEL_HINT, PromptCost, ReasoningTrace, ThinkingChoice, TraceDelta, TracePhase, TraceStatus,
    ask::is_streaming,
};

/// The panel, the actions it returned, and the conversation (each Ask opens a streaming turn,
/// as the app's session does).
type State = (AskPanel, Vec<AskAction>, Vec<AskTurn>);

fn ask_harness(ready: bool) -> Harness<'static, State> {
    let mut panel = AskPanel::new();
    if ready {
        panel.set_availability(AskAvailability::Ready);
    }
    Harness::builder()
        .with_size(Vec2::new(420.0, 700.0))
        .build_ui_state(
            |ui, (panel, actions, turns): &mut State| {
                if let Some(action) = panel.ui(ui, ConversationView::new(turns)) {
                    match &action {
                        AskAction::Ask(request) => turns.push(AskTurn {
                            question: request.question.clone(),
                            thinking: request.thinking,
                            trace: ReasoningTrace::new(),
                        }),
                        AskAction::ClearHistory => turns.clear(),
                        AskAction::Stop => {}
                    }
                    actions.push(action);
                }
            },
            (panel, Vec::new(), Vec::new()),
        )
}

fn question_box<'a>(harness: &'a Harness<'static, State>) -> egui_kittest::Node<'a> {
    harness.get_by_role(Role::MultilineTextInput)
}

#[test]
fn without_a_model_the_panel_says_how_to_get_one_and_does_not_ask() {
    let mut harness = ask_harness(false);
    harness.run();
    harness.get_by_label(NO_MODEL_HINT);
    question_box(&harness).click();
    harness.run();
    question_box(&harness).type_text("What happens?");
    harness.key_press(Key::Enter);
    harness.run();
    assert!(
        harness.state().1.is_empty(),
        "nothing is asked without a model"
    );
    assert!(harness.state().2.is_empty());
}

#[test]
fn enter_sends_the_question_and_shift_enter_starts_a_new_line() {
    let mut harness = ask_harness(true);
    harness.run();
    question_box(&harness).click();
    harness.run();
    question_box(&harness).type_text("How many people");
    harness.key_press_modifiers(Modifiers::SHIFT, Key::Enter);
    harness.run();
    question_box(&harness).type_text("are there?");
    harness.run();
    assert_eq!(harness.state().0.question, "How many people\nare there?");
    assert!(harness.state().1.is_empty(), "Shift+Enter does not send");

    harness.key_press(Key::Enter);
    harness.run();
    let (panel, actions, turns) = harness.state();
    let [AskAction::Ask(request)] = actions.as_slice() else {
        panic!("expected one Ask, got {actions:?}");
    };
    assert_eq!(request.question, "How many people\nare there?");
    assert_eq!(request.thinking, ThinkingChoice::Auto);
    assert!(panel.question.is_empty(), "the box empties once sent");
    assert!(is_streaming(turns));
    harness.run();
    harness.get_by_label("How many people\nare there?");
    // While a turn streams, Enter does not send another question.
    question_box(&harness).click();
    harness.run();
    question_box(&harness).type_text("And dogs?");
    harness.key_press(Key::Enter);
    harness.run();
    assert_eq!(harness.state().1.len(), 1, "one Ask while streaming");
}

#[test]
fn thinking_mode_and_sampling_controls_shape_the_request() {
    let mut harness = ask_harness(true);
    harness.run();
    harness.get_by_label("no think").click();
    harness.get_by_label("Sampling").click();
    harness.run();
    let spin = harness
        .get_all_by_role(Role::SpinButton)
        .collect::<Vec<_>>();
    assert_eq!(
        spin.len(),
        6,
        "temperature, top-k, top-p, penalty, max tokens, seed"
    );
    spin[0].set_value_accesskit(0.7);
    spin[1].set_value_accesskit(20.0);
    spin[2].set_value_accesskit(0.9);
    spin[3].set_value_accesskit(1.1);
    spin[4].set_value_accesskit(64.0);
    spin[5].set_value_accesskit(7.0);
    harness.run();
    question_box(&harness).click();
    harness.run();
    question_box(&harness).type_text("Describe the scene.");
    harness.run();
    harness.get_by_label("Ask").click();
    harness.run();
    let [AskAction::Ask(request)] = harness.state().1.as_slice() else {
        panic!("expected one Ask, got {:?}", harness.state().1);
    };
    assert_eq!(request.question, "Describe the scene.");
    assert_eq!(request.thinking, ThinkingChoice::NoThink);
    let s = &request.sampling;
    assert!((s.temperature - 0.7).abs() < 1e-6, "{s:?}");
    assert_eq!((s.top_k, s.max_new_tokens, s.seed), (20, 64, 7));
    assert!((s.top_p - 0.9).abs() < 1e-6 && (s.repetition_penalty - 1.1).abs() < 1e-6);
}

/// Starts a turn as the user would and returns the harness with it streaming.
fn asked(question: &str) -> Harness<'static, State> {
    let mut harness = ask_harness(true);
    harness.state_mut().0.question = question.to_owned();
    harness.run();
    harness.get_by_label("Ask").click();
    harness.run();
    harness.state_mut().1.clear();
    harness
}

#[test]
fn streamed_tokens_land_in_reasoning_and_answer_sections_in_order() {
    let mut harness = asked("Who enters?");
    let stream = [
        (TracePhase::Thinking, "<think>"),
        (TracePhase::Thinking, "A man"),
        (TracePhase::Thinking, " walks in"),
        (TracePhase::Thinking, "</think>"),
        (TracePhase::Answer, "A"),
        (TracePhase::Answer, " man"),
        (TracePhase::Answer, " enters."),
    ];
    for (step, (phase, text)) in stream.into_iter().enumerate() {
        harness.state_mut().2[0]
            .trace
            .push_token(step, TraceDelta::new(phase, text));
        harness.run();
    }
    // While streaming, the live section says so.
    harness.get_by_label("Answer …");
    harness.state_mut().2[0]
        .trace
        .set_status(TraceStatus::Finished);
    harness.run();
    harness.get_by_label("Thinking");
    harness.get_by_label("Answer");
    for (_, text) in stream {
        harness.get_by_label(text);
    }
    let trace = &harness.state().2[0].trace;
    assert_eq!(
        trace.text(TracePhase::Thinking),
        "<think>A man walks in</think>"
    );
    assert_eq!(trace.text(TracePhase::Answer), "A man enters.");
    let phases: Vec<_> = trace.sections().iter().map(|s| s.phase).collect();
    assert_eq!(phases, [TracePhase::Thinking, TracePhase::Answer]);
    assert!(!is_streaming(&harness.state().2));
}

#[test]
fn stop_is_offered_while_streaming_and_keeps_what_arrived() {
    let mut harness = asked("Count the cars.");
    harness.state_mut().2[0]
        .trace
        .push_token(0, TraceDelta::new(TracePhase::Thinking, "One red"));
    harness.run();
    assert!(
        harness.query_by_label("Clear").is_some(),
        "Clear is shown (disabled while streaming)"
    );
    harness.get_by_label("Stop").click();
    harness.run();
    assert_eq!(harness.state().1, [AskAction::Stop]);
    harness.state_mut().2[0]
        .trace
        .set_status(TraceStatus::Stopped);
    harness.run();
    harness.get_by_label("One red");
    harness.get_by_label("stopped; the text above is what arrived before Stop");
    // Stopped, the conversation can be cleared.
    harness.get_by_label("Clear").click();
    harness.run();
    assert_eq!(
        harness.state().1,
        [AskAction::Stop, AskAction::ClearHistory]
    );
    harness.get_by_label("No questions yet.");
}

#[test]
fn budget_knobs_shape_the_request_and_model_defaults_restore_them() {
    let mut harness = ask_harness(true);
    harness.state_mut().0.budget_defaults = BudgetSettings {
        max_visual_tokens: 8192,
        ..BudgetSettings::default()
    };
    harness.state_mut().0.budget = harness.state().0.budget_defaults;
    harness.run();
    harness.get_by_label("Visual-token budget").click();
    harness.run();
    assert!(
        harness.query_by_label("Model defaults").is_some(),
        "offered, disabled, while the knobs are the defaults"
    );
    harness.get_by_label("Max frames").click();
    harness.get_by_label("Max pixels per frame").click();
    harness.run();
    let spin = harness
        .get_all_by_role(Role::SpinButton)
        .collect::<Vec<_>>();
    assert_eq!(
        spin.len(),
        3,
        "frames, pixels, visual tokens (fps left to the encoder)"
    );
    spin[0].set_value_accesskit(24.0);
    spin[1].set_value_accesskit(100_352.0);
    spin[2].set_value_accesskit(4096.0);
    harness.run();
    harness.get_by_label("≤ 128 tokens a frame");
    harness.state_mut().0.question = "What happens?".into();
    harness.run();
    harness.get_by_label("Ask").click();
    harness.run();
    let [AskAction::Ask(request)] = harness.state().1.as_slice() else {
        panic!("expected one Ask, got {:?}", harness.state().1);
    };
    assert_eq!(
        request.budget,
        BudgetSettings {
            max_frames: Some(24),
            fps: None,
            max_pixels: Some(100_352),
            max_visual_tokens: 4096,
        }
    );
    harness.get_by_label("Model defaults").click();
    harness.run();
    assert_eq!(harness.state().0.budget, harness.state().0.budget_defaults);
}

#[test]
fn the_estimate_shows_before_sending_and_a_refusal_keeps_the_question() {
    let mut harness = ask_harness(true);
    let cost = PromptCost {
        prompt_tokens: 12_480,
        visual_tokens: 12_288,
        exact: true,
        steps: 48,
        peak_bytes: 3 << 30,
        weights_bytes: 1 << 30,
        kv_cache_bytes: 1 << 30,
        vision_bytes: 1 << 29,
        decoder_bytes: 1 << 29,
        refusal: None,
    };
    harness.state_mut().0.estimate = EstimateView {
        cost: Some(cost.clone()),
        computing: false,
        error: None,
    };
    harness.state_mut().0.question = "What happens?".into();
    harness.run();
    harness
        .get_by_label("≈ 12,480 prompt tokens (12,288 visual, 48 frames) · peak memory ≈ 3.0 GiB");

    let refusal = "the media give 12288 visual tokens, over the budget of 4096: sample fewer \
                   frames (Frames per second, Max frames)";
    harness.state_mut().0.estimate.cost = Some(PromptCost {
        refusal: Some(refusal.into()),
        ..cost
    });
    harness.run();
    harness.get_by_label(refusal);
    harness.get_by_label("Ask").click();
    question_box(&harness).click();
    harness.run();
    harness.key_press(Key::Enter);
    harness.run();
    let (panel, actions, turns) = harness.state();
    assert!(actions.is_empty(), "refused: {actions:?}");
    assert_eq!(
        panel.question, "What happens?",
        "the question stays in the box"
    );
    assert!(turns.is_empty());
}
