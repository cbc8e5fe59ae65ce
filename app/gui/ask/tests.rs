//! The ask controller over captured attention and over the tiny checkpoint: overlays, tracks,
//! streaming, stop, the visual-token budget, the estimate and its refusal, and the capture choice.

use keye_model::generate::TokenAttention;
use keye_model::video::VideoEncoderKind;
use keye_ui::{AskTurn, ReasoningTrace};

use super::*;
use crate::inference::MediaFrames;

/// A two-frame video of 1x2 merged tokens each, and two generated tokens whose layer-0
/// attention looks at frame 0's right token and at frame 1's left token.
fn controller_with_capture() -> AskController {
    use keye_model::generate::{
        LayerAttention, MediaGrid, MediaKind, VisionTokenMap, VisionTokenRef,
    };
    let vision = VisionTokenMap {
        media: vec![MediaGrid {
            kind: MediaKind::Video,
            frames: vec![(1, 2), (1, 2)],
        }],
        positions: vec![5, 6, 7, 8],
        refs: (0..4)
            .map(|i| VisionTokenRef {
                media: 0,
                frame: i / 2,
                row: 0,
                col: i % 2,
            })
            .collect(),
    };
    let token = |step: usize, mean: Vec<f32>| {
        let frame_totals = frame_totals(&vision, &mean);
        (
            step,
            TokenAttention {
                step,
                token: 1,
                layers: vec![LayerAttention {
                    layer: 0,
                    mean,
                    per_head: None,
                    frame_totals,
                }],
            },
        )
    };
    let tokens = BTreeMap::from([
        token(0, vec![0.1, 0.3, 0.0, 0.0]),
        token(1, vec![0.0, 0.0, 0.6, 0.2]),
    ]);
    let media = vec![MediaFrames {
        path: PathBuf::from("clip.mp4"),
        encoder: Some(VideoEncoderKind::Keye15),
        frames: vec![
            inference::FrameRef {
                index: 0,
                time: 0.0,
                end: 1.0,
            },
            inference::FrameRef {
                index: 30,
                time: 1.0,
                end: 2.0,
            },
        ],
    }];
    let mut controller = AskController::default();
    let mut trace = ReasoningTrace::new();
    trace.push_token(0, TraceDelta::new(TracePhase::Answer, "A"));
    trace.push_token(1, TraceDelta::new(TracePhase::Answer, " dog"));
    trace.set_status(TraceStatus::Finished);
    controller.panel.set_turns(vec![AskTurn {
        question: "Where?".into(),
        thinking: ThinkingChoice::Auto,
        trace,
    }]);
    controller.attention = vec![Some(TurnAttention {
        vision,
        media,
        tokens,
    })];
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
    let [left, right] = first.grid.values[..] else {
        panic!("two values: {:?}", first.grid.values);
    };
    assert!(
        (left - 1.0 / 3.0).abs() < 1e-6 && right == 1.0,
        "{left} {right}"
    );
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
    // Past the end, the nearest frame.
    assert_eq!(
        controller.overlay(9.0).map(|o| o.grid.values.clone()),
        Some(second.grid.values.to_vec())
    );
}

#[test]
fn the_tracks_show_the_sampled_frames_and_the_selection_attention_mass() {
    let mut controller = controller_with_capture();
    controller.panel.select(Some(TokenSelection {
        turn: 0,
        steps: 0..=1,
    }));
    let mut tracks = ModelTracks::default();
    controller.update_tracks(&mut tracks);
    assert_eq!(tracks.sampled_frames, [0.0, 1.0]);
    let tokens: Vec<f32> = tracks.tokens_per_frame.iter().map(|v| v.value).collect();
    assert_eq!(tokens, [2.0, 2.0]);
    let mass: Vec<f32> = tracks.attention_mass.iter().map(|v| v.value).collect();
    // Mean of the two tokens: frame 0 gets (0.4 + 0) / 2, frame 1 (0 + 0.8) / 2.
    assert!(
        (mass[0] - 0.2).abs() < 1e-6 && (mass[1] - 0.4).abs() < 1e-6,
        "{mass:?}"
    );
    assert_eq!(tracks.most_attended(), Some(1.0));
    controller.heatmap.aggregation = keye_ui::Aggregation::Max;
    controller.update_tracks(&mut tracks);
    let mass: Vec<f32> = tracks.attention_mass.iter().map(|v| v.value).collect();
    assert!(
        (mass[0] - 0.4).abs() < 1e-6 && (mass[1] - 0.8).abs() < 1e-6,
        "{mass:?}"
    );
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
        video: Some((video.to_path_buf(), None)),
        ..AskController::default()
    };
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

/// The real path: the tiny checkpoint, the sample video, the panel's Ask, the event pump.
#[test]
fn asking_the_tiny_model_streams_every_token_into_the_panel() {
    let (model, video) = tiny_model_and_video();
    let mut toasts = Toasts::default();
    let mut controller = ready_controller(&model, &video);
    controller.panel.sampling.max_new_tokens = 12;
    controller.panel.thinking = ThinkingChoice::NoThink;
    assert!(controller.ask_now("What moves?", Some(&model), &mut toasts));
    assert!(controller.is_running());
    poll_until_done(&mut controller, &mut toasts);
    assert!(toasts.items().is_empty(), "{:?}", toasts.items());
    let turn = &controller.panel.turns()[0];
    assert_eq!(*turn.trace.status(), TraceStatus::Finished);

    // The same question straight through inference: every character arrived, in order.
    let mut sampling = model.runtime.sampling.clone();
    sampling.max_new_tokens = 12;
    let direct = inference::spawn_ask(
        Arc::clone(&model),
        Question {
            media: vec![video],
            history: Vec::new(),
            text: "What moves?".into(),
            system: None,
            thinking: ThinkingMode::NoThink,
            sampling,
            capture: None,
            budget: model.default_budget(),
        },
    )
    .join()
    .expect("direct ask");
    let streamed: String = turn
        .trace
        .sections()
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(streamed, direct.summary.text);
    let timing = turn.trace.timing().expect("timing");
    assert_eq!(timing.generated_tokens, direct.summary.timing.decode_steps);
    assert!(timing.prompt_tokens > 0);

    // Every token with text is selectable and its attention was captured.
    let attention = controller.turn_attention(0).expect("capture");
    for section in turn.trace.sections() {
        for piece in &section.pieces {
            let step = piece.step.expect("streamed text has its step");
            assert!(attention.tokens.contains_key(&step), "step {step}");
        }
    }
    assert!(
        controller.panel.selection().is_some(),
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
    let status = controller.panel.turns()[0].trace.status().clone();
    assert_eq!(status, TraceStatus::Stopped);
    assert_eq!(*controller.panel.availability(), AskAvailability::Ready);
    assert!(!controller.panel.is_running(), "asking again is possible");
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
        harness.state().0.panel.turns().is_empty(),
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
        .question_for(request, &model, 0)
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

#[test]
fn no_capture_layers_means_no_capture() {
    let (model, video) = tiny_model_and_video();
    let mut controller = ready_controller(&model, &video);
    controller.capture.layers.clear();
    let request = controller.panel.request("What moves?".into());
    let question = controller
        .question_for(request, &model, 0)
        .expect("a question");
    assert_eq!(question.capture, None);
    assert_eq!(
        question.budget,
        model.default_budget(),
        "untouched knobs are the model's defaults"
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
        video: Some((video.clone(), None)),
        ..AskController::default()
    };
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
    let turn = &controller.panel.turns()[0];
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
