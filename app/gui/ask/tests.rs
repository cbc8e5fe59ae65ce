//! The ask controller's wiring and drawing: the overlay it uploads for the focused tokens, the
//! answer selected when a turn ends, stop, and the ask controls with the pointer (the budget
//! knobs, the estimate and its refusal, the capture choice). The conversation's own state is
//! tested in `session::conversation`.

use std::time::Instant;

use keye_model::generate::{CaptureSpec, ThinkingMode};
use keye_ui::ThinkingChoice;

use super::*;
use crate::session::conversation::tests::captured_turn;

/// A controller whose conversation holds one finished turn with a capture.
fn controller_with_capture() -> AskController {
    let mut controller = AskController {
        data_dir: None,
        ..AskController::default()
    };
    controller.conversation = Conversation::from_turns(vec![captured_turn()], knob_label);
    controller
}

#[test]
fn the_overlay_is_the_selected_tokens_map_on_the_frame_under_the_playhead() {
    let mut controller = controller_with_capture();
    assert!(controller.overlay(0.5).is_none(), "nothing selected");
    controller.panel.select(Some(TokenSelection {
        turn: 0,
        steps: 0..=0,
    }));
    let first = controller.overlay(0.5).expect("map of token 0 on frame 0");
    assert_eq!((first.grid.rows, first.grid.cols), (1, 2));
    let again = controller.overlay(0.7).expect("same frame");
    assert_eq!(
        again.generation, first.generation,
        "unchanged: no new upload"
    );
    let second = controller.overlay(1.5).expect("frame 1");
    assert_ne!(second.generation, first.generation);
    assert_eq!(
        second.grid.values,
        [0.0, 0.0],
        "token 0 did not look at frame 1"
    );
    controller.heatmap.visible = false;
    assert!(controller.overlay(1.5).is_none(), "hidden");
}

#[test]
fn the_tracks_refill_when_the_selection_changes() {
    let mut controller = controller_with_capture();
    let mut tracks = ModelTracks::default();
    controller.update_tracks(&mut tracks);
    assert_eq!(tracks.sampled_frames, [0.0, 1.0]);
    assert!(tracks.attention_mass.is_empty(), "nothing selected");
    controller.panel.select(Some(TokenSelection {
        turn: 0,
        steps: 0..=1,
    }));
    controller.update_tracks(&mut tracks);
    assert_eq!(tracks.attention_mass.len(), 2);
    assert_eq!(tracks.most_attended(), Some(1.0));
}

fn tiny_model_and_video() -> (Arc<LoadedModel>, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = Arc::new(
        LoadedModel::load(
            &root.join("tests/fixtures/models/keye-1.5-tiny"),
            Default::default(),
            None,
            None,
        )
        .expect("tiny checkpoint"),
    );
    (model, root.join("assets/sample-16x9.mp4"))
}

/// A controller on `video` with the model ready, keeping no history file (the test must not
/// write into the developer's data folder).
fn ready_controller(model: &Arc<LoadedModel>, video: &Path) -> AskController {
    let mut controller = AskController {
        data_dir: None,
        ..AskController::default()
    };
    controller.set_video(Some(video), &mut Toasts::default());
    let indexed = crate::video::Video::open(video)
        .expect("the video opens")
        .indexed();
    controller.set_indexed(Some(&indexed));
    controller.update_availability(Some(model), None, false, true);
    controller
}

/// Polls like the UI does until the ask ends.
fn poll_until_done(controller: &mut AskController, toasts: &mut Toasts) {
    let ctx = egui::Context::default();
    let started = Instant::now();
    while controller.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no end in 2 min"
        );
        controller.poll(&ctx, toasts);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The real path through the controller: the panel's Ask, the pump, the answer selected and its
/// map and tracks ready.
#[test]
fn asking_the_tiny_model_selects_the_answer_and_shows_its_map() {
    let (model, video) = tiny_model_and_video();
    let mut toasts = Toasts::default();
    let mut controller = ready_controller(&model, &video);
    controller.panel.sampling.max_new_tokens = 12;
    controller.panel.thinking = ThinkingChoice::NoThink;
    assert!(controller.ask_now("What moves?", Some(&model), &mut toasts));
    assert!(controller.is_running());
    assert!(
        !controller.ask_now("And then?", Some(&model), &mut toasts),
        "one question at a time"
    );
    poll_until_done(&mut controller, &mut toasts);
    assert!(toasts.items().is_empty(), "{:?}", toasts.items());
    let turn = &controller.conversation.turns()[0];
    assert_eq!(*turn.view.trace.status(), TraceStatus::Finished);
    // Each captured step's share of attention on the video is drawn under the trace.
    let captured = turn.attention.as_ref().map_or(0, |a| a.tokens.len());
    assert!(captured > 0);
    assert_eq!(turn.view.trace.vision_share().len(), captured);
    assert!(
        turn.view
            .trace
            .vision_share()
            .iter()
            .all(|s| (0.0..=1.0001).contains(s))
    );
    assert_eq!(
        controller.panel.selection().map(|s| s.steps.clone()),
        turn.view.trace.steps_of(TracePhase::Answer),
        "the answer is selected"
    );
    assert!(
        controller.overlay(0.0).is_some(),
        "a map on the first frame"
    );
    let mut tracks = ModelTracks::default();
    controller.update_tracks(&mut tracks);
    assert!(!tracks.sampled_frames.is_empty());
    assert_eq!(tracks.attention_mass.len(), tracks.sampled_frames.len());
    assert!(tracks.most_attended().is_some());
}

#[test]
fn stop_ends_the_turn_as_stopped_without_an_error() {
    let (model, video) = tiny_model_and_video();
    let mut toasts = Toasts::default();
    let mut controller = ready_controller(&model, &video);
    assert!(controller.ask_now("What moves?", Some(&model), &mut toasts));
    controller.handle(AskAction::Stop, Some(&model), &mut toasts);
    poll_until_done(&mut controller, &mut toasts);
    assert!(toasts.items().is_empty(), "{:?}", toasts.items());
    let status = controller.conversation.turns()[0]
        .view
        .trace
        .status()
        .clone();
    assert_eq!(status, TraceStatus::Stopped);
    assert_eq!(*controller.panel.availability(), AskAvailability::Ready);
    assert!(!controller.is_running(), "asking again is possible");
}

/// The ask controls as the app draws them each frame, over the tiny model and the sample video.
type Bench = (AskController, Arc<LoadedModel>, Toasts);

fn controls_harness(
    model: Arc<LoadedModel>,
    video: &Path,
) -> egui_kittest::Harness<'static, Bench> {
    let controller = ready_controller(&model, video);
    egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(460.0, 1000.0))
        .build_ui_state(
            |ui, (controller, model, toasts): &mut Bench| {
                controller.update_availability(Some(model), None, false, true);
                controller.poll(ui.ctx(), toasts);
                controller.controls_ui(ui, Some(model), toasts, 900.0);
            },
            (controller, model, Toasts::default()),
        )
}

/// Steps frames (the estimate's worker runs meanwhile) until `done` holds.
fn step_until(
    harness: &mut egui_kittest::Harness<'static, Bench>,
    what: &str,
    done: impl Fn(&Bench) -> bool,
) {
    let started = Instant::now();
    while !done(harness.state()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no {what} in a minute"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
}

fn estimated(bench: &Bench) -> bool {
    let estimate = &bench.0.panel.estimate;
    estimate.cost.is_some() && !estimate.computing
}

fn ask_button_enabled(harness: &egui_kittest::Harness<'static, Bench>) -> bool {
    use egui_kittest::kittest::{NodeT, Queryable};
    !harness.get_by_label("Ask").accesskit_node().is_disabled()
}

/// The sample video gives the tiny model thousands of visual tokens: under a ceiling of 64 the
/// estimate refuses the question, names the knob, and Ask does nothing until the knob is turned.
#[test]
fn over_a_tiny_budget_the_refusal_shows_and_the_question_is_not_sent() {
    use egui_kittest::kittest::Queryable;
    let (model, video) = tiny_model_and_video();
    let mut harness = controls_harness(model, &video);
    harness.step();
    step_until(&mut harness, "first estimate", estimated);
    harness.get_by_label_contains("prompt tokens");
    assert!(harness.state().0.panel.estimate.refusal().is_none());

    harness.get_by_label("Visual-token budget").click();
    harness.step();
    harness
        .get_by_label("Max visual tokens")
        .set_value_accesskit(64.0);
    harness.step();
    assert_eq!(harness.state().0.panel.budget.max_visual_tokens, 64);
    step_until(&mut harness, "refusal", |bench| {
        estimated(bench) && bench.0.panel.estimate.refusal().is_some()
    });
    let refusal = harness
        .state()
        .0
        .panel
        .estimate
        .refusal()
        .unwrap()
        .to_owned();
    assert!(refusal.contains("over the budget of 64"), "{refusal}");
    assert!(
        refusal.contains("Max visual tokens") && !refusal.contains("--"),
        "{refusal}"
    );
    harness.get_by_label(&refusal);

    let question = harness.get_by_role(egui::accesskit::Role::MultilineTextInput);
    question.click();
    harness.step();
    harness
        .get_by_role(egui::accesskit::Role::MultilineTextInput)
        .type_text("What moves?");
    harness.step();
    assert!(
        !ask_button_enabled(&harness),
        "Ask is disabled under a refusal"
    );
    harness.key_press(egui::Key::Enter);
    harness.get_by_label("Ask").click();
    harness.step();
    assert!(
        harness.state().0.conversation.turns().is_empty(),
        "nothing was sent"
    );
    assert!(!harness.state().0.is_running());

    // Raising the ceiling lifts the refusal and the same question goes out.
    harness
        .get_by_label("Max visual tokens")
        .set_value_accesskit(65536.0);
    step_until(&mut harness, "refusal lifted", |bench| {
        estimated(bench) && bench.0.panel.estimate.refusal().is_none()
    });
    assert!(ask_button_enabled(&harness));
    harness.get_by_label("Ask").click();
    harness.step();
    let (controller, model, toasts) = harness.state_mut();
    assert!(controller.is_running(), "the question went out");
    controller.handle(AskAction::Stop, Some(model), toasts);
    poll_until_done(controller, toasts);
}

/// Budget knobs and the capture choice, set with the pointer, are what the question carries.
#[test]
fn the_budget_knobs_and_the_capture_layers_reach_the_question() {
    use egui_kittest::kittest::Queryable;
    let (model, video) = tiny_model_and_video();
    let mut harness = controls_harness(Arc::clone(&model), &video);
    harness.step();
    harness.get_by_label("Visual-token budget").click();
    harness.step();
    for knob in ["Max frames", "Frames per second", "Max pixels per frame"] {
        harness.get_by_label(knob).click();
        harness.step();
    }
    let spins: Vec<_> = harness
        .get_all_by_role(egui::accesskit::Role::SpinButton)
        .collect();
    assert_eq!(spins.len(), 4, "frames, fps, pixels, visual tokens");
    spins[0].set_value_accesskit(3.0);
    spins[1].set_value_accesskit(1.0);
    spins[2].set_value_accesskit(50_176.0);
    spins[3].set_value_accesskit(5000.0);
    harness.step();

    // Capture: the tiny decoder has two layers, both captured by default; keep only layer 1
    // and each head.
    harness.get_by_label("Attention heatmap").click();
    harness.step();
    harness.get_by_label("all 2 layers").click();
    harness.run_steps(2);
    harness.get_by_label("layer 0").click();
    harness.step();
    harness.key_press(egui::Key::Escape);
    harness.step();
    harness
        .get_by_label("Capture each head (next question; more memory)")
        .click();
    harness.step();
    step_until(&mut harness, "estimate", estimated);
    let tokens = harness
        .state()
        .0
        .panel
        .estimate
        .cost
        .as_ref()
        .unwrap()
        .visual_tokens;
    // 4 bytes x tokens x 1 layer x (mean + 4 heads).
    let cost = format!(
        "{} per generated token: 4 B × {tokens} vision tokens × 1 layers, (1 mean + 4 heads)",
        keye_ui::model_panel::format_bytes(4 * tokens as u64 * 5)
    );
    harness.get_by_label(&cost);

    let controller = &harness.state().0;
    let request = controller.panel.request("What moves?".into());
    let question = controller
        .question_for(&request, &model)
        .expect("a question");
    let budget = question.budget;
    assert_eq!(budget.max_frames, Some(3));
    assert_eq!(budget.fps, Some(1.0));
    assert_eq!(budget.max_pixels, Some(50_176));
    assert_eq!(budget.max_visual_tokens, 5000);
    assert_eq!(
        question.capture,
        Some(CaptureSpec {
            layers: vec![1],
            per_head: true,
        })
    );
}

/// A connected server answers the panel's question as the local model does with the same
/// settings; nothing is captured, so the heatmap says it needs a local model.
#[test]
fn asking_through_a_server_streams_what_a_local_ask_streams() {
    use crate::gui::server::{Connection, tests::tiny_server};
    use crate::remote::RemoteServer;
    use crate::serve::ServeOptions;
    let (model, server) = tiny_server(ServeOptions::new("tiny"));
    let url = format!("http://{}", server.local_addr());
    let connection = Connection {
        server: RemoteServer::new(&url, None).unwrap(),
        url,
        model: "tiny".into(),
    };
    let video = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-16x9.mp4");
    let mut controller = AskController {
        data_dir: None,
        ..AskController::default()
    };
    controller.set_video(Some(&video), &mut Toasts::default());
    controller.update_availability(None, Some(&connection), false, true);
    assert_eq!(*controller.panel.availability(), AskAvailability::Ready);
    controller.panel.sampling.max_new_tokens = 8;
    controller.panel.thinking = ThinkingChoice::NoThink;
    // Few, small frames keep the tiny model quick.
    controller.panel.budget.max_frames = Some(2);
    controller.panel.budget.max_pixels = Some(50_000);
    let mut toasts = Toasts::default();
    assert!(controller.ask_now("What moves?", None, &mut toasts));
    poll_until_done(&mut controller, &mut toasts);
    assert!(toasts.items().is_empty(), "{:?}", toasts.items());
    // The server's events went through the same conversation pump as a local ask's.
    let turn = &controller.conversation.turns()[0].view;
    assert_eq!(*turn.trace.status(), TraceStatus::Finished);
    let streamed: String = turn
        .trace
        .sections()
        .iter()
        .map(|s| s.text.as_str())
        .collect();

    let mut sampling = model.runtime.sampling.clone();
    sampling.max_new_tokens = 8;
    let local = inference::spawn_ask(
        Arc::clone(&model),
        Question {
            media: vec![video],
            history: Vec::new(),
            text: "What moves?".into(),
            system: None,
            thinking: ThinkingMode::NoThink,
            sampling,
            capture: None,
            budget: keye_model::budget::VisualBudget {
                max_frames: Some(2),
                max_pixels: Some(50_000),
                ..model.default_budget()
            },
            indexed: Vec::new(),
        },
    )
    .join()
    .expect("local ask");
    assert_eq!(streamed, local.summary.text);
    assert!(turn.trace.timing().expect("timing").prompt_tokens > 0);
    // Every streamed piece keeps its token step, as locally; no map exists.
    for section in turn.trace.sections() {
        assert!(section.pieces.iter().all(|piece| piece.step.is_some()));
    }
    assert!(controller.overlay(0.0).is_none());

    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(460.0, 1000.0))
        .build_ui_state(
            |ui, (controller, toasts): &mut (AskController, Toasts)| {
                controller.controls_ui(ui, None, toasts, 900.0);
            },
            (controller, toasts),
        );
    harness.step();
    use egui_kittest::kittest::Queryable;
    harness.get_by_label("Attention heatmap").click();
    harness.step();
    harness.get_by_label(keye_ui::REMOTE_ATTENTION_NOTE);
}

/// "Test frames" as a researcher uses it after an answer: the Evidence section names the
/// aggregations, the deletion test runs with progress to its end, the frames are listed by drop,
/// the timeline's evidence track fills, the chosen map goes on the frame and the trace gets each
/// step's vision share.
#[test]
fn test_frames_after_an_answer_fills_the_list_the_track_the_map_and_the_vision_share() {
    use egui_kittest::kittest::Queryable;
    let (model, video) = tiny_model_and_video();
    let mut harness = controls_harness(model.clone(), &video);
    {
        let (controller, model, toasts) = harness.state_mut();
        controller.panel.sampling.max_new_tokens = 4;
        controller.panel.thinking = ThinkingChoice::NoThink;
        // Few tokens: the explicit pass holds every layer's full attention.
        controller.panel.budget.max_frames = Some(2);
        controller.panel.budget.max_pixels = Some(28 * 28 * 4);
        assert!(controller.ask_now("What moves?", Some(model), toasts));
    }
    step_until(&mut harness, "the answer", |bench| !bench.0.is_running());
    harness
        .get_by_label("Evidence: which frames mattered")
        .click();
    harness.step();
    harness.get_by_label_contains("where looking raised the answer");
    harness.get_by_label("Test frames").click();
    harness.step();
    assert!(harness.state().0.evidence.is_running());
    step_until(&mut harness, "the deletion test", |bench| {
        !bench.0.evidence.is_running()
    });
    let (controller, _, toasts) = harness.state_mut();
    assert!(toasts.items().is_empty(), "{:?}", toasts.items());
    let view = controller
        .evidence
        .view(Some(0), &controller.evidence_controls, true);
    assert!(view.status.is_none(), "{:?}", view.status);
    // The whole answer was selected when the turn ended, so its maps are the answer's.
    assert_eq!(view.target.as_deref(), Some("the whole answer"));
    assert!(!view.rows.is_empty());
    assert!(view.rows.windows(2).all(|w| w[0].drop >= w[1].drop));
    let mut tracks = ModelTracks::default();
    controller.update_tracks(&mut tracks);
    assert_eq!(tracks.evidence.len(), tracks.sampled_frames.len());
    assert!(tracks.most_evident().is_some());
    let overlay = controller
        .overlay(0.0)
        .expect("the evidence map on the first frame");
    let evidence = controller.evidence.result_for(0).unwrap();
    let (rows, cols) = evidence.vision.media[0].frames[0];
    assert_eq!((overlay.grid.rows, overlay.grid.cols), (rows, cols));
    let shares = controller.conversation.turns()[0]
        .view
        .trace
        .vision_share()
        .to_vec();
    assert_eq!(shares.len(), evidence.answer_tokens.len());
    assert!(shares.iter().all(|s| (0.0..=1.0).contains(s)));
    harness.step();
    harness.get_by_label_contains("Faithfulness");

    // Raw attention of one layer's strongest head, and a layer the model does not have.
    let controller = &mut harness.state_mut().0;
    controller.evidence_controls.aggregation = 0;
    controller.evidence_controls.raw_layer = Some(1);
    controller.evidence_controls.raw_heads = keye_ui::RawHeads::Max;
    let raw = controller
        .evidence
        .view(Some(0), &controller.evidence_controls, true);
    assert!(raw.status.is_none(), "{:?}", raw.status);
    assert_eq!((raw.layers, raw.heads), (2, 4));
    assert!(controller.overlay(0.0).is_some());
    controller.evidence_controls.raw_layer = Some(9);
    let missing = controller
        .evidence
        .view(Some(0), &controller.evidence_controls, true);
    assert!(
        missing
            .status
            .as_deref()
            .is_some_and(|s| s.contains("layer 9")),
        "{:?}",
        missing.status
    );

    // One token selected: "Test frames" explains that token.
    controller.panel.select(Some(TokenSelection {
        turn: 0,
        steps: 1..=1,
    }));
    let request = controller.evidence_request(0, &model).unwrap();
    assert_eq!(request.target, keye_model::evidence::Target::Step(1));
    assert!(request.answer.is_some_and(|a| a.len() > 1));
}
