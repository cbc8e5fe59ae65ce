//! The conversation as plain state: the attention arithmetic behind the heatmap and the tracks
//! on a hand-made capture, and the event pump over the tiny checkpoint (streaming, stop, the
//! history kept and restored, clearing).

use std::sync::Arc;

use keye_model::generate::{
    LayerAttention, MediaGrid, MediaKind, ThinkingMode, TokenAttention, VisionTokenMap,
    VisionTokenRef, frame_totals,
};
use keye_model::video::VideoEncoderKind;
use keye_ui::{Aggregation, AskRequest, ReasoningTrace, ThinkingChoice, TraceDelta};

use super::request::{budget_settings, knob_label, question_for, sampling_settings};
use super::*;
use crate::inference::{self, FrameRef, LoadedModel, MediaFrames, Question};
use crate::video::Video;

/// A finished turn over a two-frame video of 1x2 merged tokens each, whose two generated tokens'
/// layer-0 attention looks at frame 0's right token and at frame 1's left token.
pub(crate) fn captured_turn() -> ConversationTurn {
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
            FrameRef {
                index: 0,
                time: 0.0,
                end: 1.0,
            },
            FrameRef {
                index: 30,
                time: 1.0,
                end: 2.0,
            },
        ],
    }];
    let mut trace = ReasoningTrace::new();
    trace.push_token(0, TraceDelta::new(TracePhase::Answer, "A"));
    trace.push_token(1, TraceDelta::new(TracePhase::Answer, " dog"));
    trace.set_status(TraceStatus::Finished);
    ConversationTurn {
        view: AskTurn {
            question: "Where?".into(),
            thinking: ThinkingChoice::Auto,
            trace,
        },
        attention: Some(TurnAttention {
            vision,
            media,
            tokens,
        }),
    }
}

fn captured_conversation() -> Conversation {
    let mut conversation = Conversation::new(knob_label);
    conversation.turns.push(captured_turn());
    conversation
}

fn selection(steps: std::ops::RangeInclusive<usize>) -> TokenSelection {
    TokenSelection { turn: 0, steps }
}

#[test]
fn the_heat_grid_is_the_selected_tokens_map_on_the_frame_under_the_playhead() {
    let conversation = captured_conversation();
    let controls = HeatmapControls::default();
    let token0 = selection(0..=0);
    assert_eq!(conversation.heat_frame(&token0, 0.5), Some(0));
    let first = conversation
        .heat_grid(&token0, &controls, 0)
        .expect("frame 0");
    assert_eq!((first.rows, first.cols), (1, 2));
    let [left, right] = first.values[..] else {
        panic!("two values: {:?}", first.values);
    };
    assert!(
        (left - 1.0 / 3.0).abs() < 1e-6 && right == 1.0,
        "{left} {right}"
    );
    assert_eq!(conversation.heat_frame(&token0, 1.5), Some(1));
    let second = conversation
        .heat_grid(&token0, &controls, 1)
        .expect("frame 1");
    assert_eq!(second.values, [0.0, 0.0], "token 0 did not look at frame 1");
    // Past the end, the nearest frame.
    assert_eq!(conversation.heat_frame(&token0, 9.0), Some(1));
    // No capture for a turn that does not exist.
    assert_eq!(
        conversation.heat_frame(
            &TokenSelection {
                turn: 3,
                steps: 0..=0
            },
            0.5
        ),
        None
    );
}

#[test]
fn the_tracks_show_the_sampled_frames_and_the_selection_attention_mass() {
    let conversation = captured_conversation();
    let mut controls = HeatmapControls::default();
    let both = selection(0..=1);
    let mut tracks = ModelTracks::default();
    conversation.fill_tracks(Some(&both), &controls, &mut tracks);
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
    controls.aggregation = Aggregation::Max;
    conversation.fill_tracks(Some(&both), &controls, &mut tracks);
    let mass: Vec<f32> = tracks.attention_mass.iter().map(|v| v.value).collect();
    assert!(
        (mass[0] - 0.4).abs() < 1e-6 && (mass[1] - 0.8).abs() < 1e-6,
        "{mass:?}"
    );
    // Without a focus the structure stays and the attention track empties.
    conversation.fill_tracks(None, &controls, &mut tracks);
    assert_eq!(tracks.sampled_frames, [0.0, 1.0]);
    assert!(tracks.attention_mass.is_empty());
    // An empty conversation empties every track.
    Conversation::new(knob_label).fill_tracks(None, &controls, &mut tracks);
    assert!(tracks.sampled_frames.is_empty() && tracks.tokens_per_frame.is_empty());
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

/// The question the panel's defaults ask of the tiny model about `video`.
fn question(model: &LoadedModel, video: &Path, text: &str, max_new_tokens: usize) -> Question {
    let mut request = AskRequest {
        question: text.into(),
        thinking: ThinkingChoice::NoThink,
        sampling: sampling_settings(&model.runtime.sampling),
        budget: budget_settings(model.default_budget()),
    };
    request.sampling.max_new_tokens = max_new_tokens;
    let indexed = Video::open(video).expect("the video opens").indexed();
    question_for(&request, model, &indexed, Vec::new(), [0, 1], false).expect("a question")
}

/// The real path: the tiny checkpoint, the sample video, the event pump into the turn, the
/// history written when the turn ends and read back by the next run.
#[test]
fn asking_the_tiny_model_streams_every_token_into_the_turn_and_keeps_it() {
    let (model, video) = tiny_model_and_video();
    let data = tempfile::tempdir().unwrap();
    let file = history_file(data.path(), &video);
    let (mut conversation, problem) = Conversation::restore(file.clone(), &video, knob_label);
    assert_eq!(problem, None);
    assert!(conversation.turns().is_empty());
    let asked = question(&model, &video, "What moves?", 12);
    let handle = inference::spawn_ask(Arc::clone(&model), asked);
    assert_eq!(
        conversation.start("What moves?".into(), ThinkingChoice::NoThink, handle),
        0
    );
    assert!(conversation.is_running());
    let mut seen = 0;
    let end = conversation
        .wait(&mut |_| seen += 1)
        .expect("the turn ends");
    assert!(!conversation.is_running());
    assert_eq!(end.status, TraceStatus::Finished);
    assert_eq!(end.failure, None);
    assert_eq!(end.save_problem, None);
    let output = end.output.expect("the worker's output");
    assert!(seen > 0, "the observer saw the events");

    // The same question straight through inference: every character arrived, in order.
    let direct = inference::spawn_ask(
        Arc::clone(&model),
        Question {
            capture: None,
            thinking: ThinkingMode::NoThink,
            ..question(&model, &video, "What moves?", 12)
        },
    )
    .join()
    .expect("direct ask");
    let turn = &conversation.turns()[0];
    let streamed: String = turn
        .view
        .trace
        .sections()
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(streamed, direct.summary.text);
    assert_eq!(streamed, output.summary.text);
    let timing = turn.view.trace.timing().expect("timing");
    assert_eq!(timing.generated_tokens, direct.summary.timing.decode_steps);
    assert!(timing.prompt_tokens > 0);

    // Every token with text has its step, and its attention was captured.
    let attention = conversation.attention(0).expect("capture");
    for section in turn.view.trace.sections() {
        for piece in &section.pieces {
            let step = piece.step.expect("streamed text has its step");
            assert!(attention.tokens.contains_key(&step), "step {step}");
        }
    }
    assert_eq!(conversation.history().len(), 1);
    assert_eq!(
        conversation.history()[0].answer,
        turn.view.trace.text(TracePhase::Answer)
    );

    // The next run restores the text (not the token steps, not the capture).
    let (restored, problem) = Conversation::restore(file.clone(), &video, knob_label);
    assert_eq!(problem, None);
    assert_eq!(restored.turns().len(), 1);
    let back = &restored.turns()[0].view;
    assert_eq!(back.question, turn.view.question);
    assert_eq!(back.thinking, turn.view.thinking);
    assert_eq!(back.trace.status(), turn.view.trace.status());
    assert_eq!(back.trace.timing(), turn.view.trace.timing());
    assert_eq!(
        back.trace.text(TracePhase::Answer),
        turn.view.trace.text(TracePhase::Answer)
    );
    assert!(restored.attention(0).is_none());

    // Clearing forgets the turns and writes the empty history.
    assert_eq!(conversation.clear(), None);
    assert!(conversation.turns().is_empty());
    let (restored, _) = Conversation::restore(file, &video, knob_label);
    assert!(restored.turns().is_empty());
}

#[test]
fn stop_ends_the_turn_as_stopped_without_a_failure() {
    let (model, video) = tiny_model_and_video();
    let mut conversation = Conversation::new(knob_label);
    let handle = inference::spawn_ask(
        Arc::clone(&model),
        question(&model, &video, "What moves?", 2000),
    );
    conversation.start("What moves?".into(), ThinkingChoice::NoThink, handle);
    conversation.stop();
    let end = conversation.wait(&mut |_| {}).expect("the turn ends");
    assert_eq!(end.status, TraceStatus::Stopped);
    assert_eq!(end.failure, None);
    assert_eq!(
        *conversation.turns()[0].view.trace.status(),
        TraceStatus::Stopped
    );
    assert!(!conversation.is_running(), "asking again is possible");
    assert!(
        conversation.history().is_empty(),
        "a stopped turn is not history"
    );
}

#[test]
fn a_question_that_cannot_be_sent_is_a_failed_turn_and_not_history() {
    let mut conversation = Conversation::new(knob_label);
    conversation.fail_to_start(
        "Why?".into(),
        ThinkingChoice::Think,
        "no model is loaded".into(),
    );
    let turn = &conversation.turns()[0];
    assert_eq!(turn.view.question, "Why?");
    assert_eq!(
        *turn.view.trace.status(),
        TraceStatus::Failed("no model is loaded".into())
    );
    assert!(!conversation.is_running());
    assert!(conversation.history().is_empty());
    assert_eq!(
        conversation.wait(&mut |_| {}).map(|e| e.turn),
        None,
        "nothing runs"
    );
}

#[test]
fn no_capture_layers_means_no_capture_and_untouched_knobs_are_the_models() {
    let (model, video) = tiny_model_and_video();
    let request = AskRequest {
        question: "What moves?".into(),
        thinking: ThinkingChoice::Auto,
        sampling: sampling_settings(&model.runtime.sampling),
        budget: budget_settings(model.default_budget()),
    };
    let indexed = Video::open(&video).unwrap().indexed();
    let asked = question_for(&request, &model, &indexed, Vec::new(), [], true).unwrap();
    assert_eq!(asked.capture, None);
    assert_eq!(asked.media, std::slice::from_ref(&video));
    assert!(
        asked.indexed[0].same(&indexed),
        "the worker reads the same index"
    );
    assert_eq!(asked.budget, model.default_budget());
    // Layers the decoder does not have are left out.
    let asked = question_for(&request, &model, &indexed, Vec::new(), [1, 7], true).unwrap();
    assert_eq!(asked.capture.map(|c| c.layers), Some(vec![1]));
}
