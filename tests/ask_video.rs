//! Asking about videos through the app's streaming API (`inference::spawn_load` + `spawn_ask`)
//! with every video encoder: Keye-VL-1.5 SlowFast, the Preview's uniform frames, and Mavors on a
//! tiny Keye-VL + Mavors checkpoint made here (Mavors initialised from the Keye tower as the paper
//! describes, saved as a `mavors.*` shard next to the Keye weights).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use keye_model::KeyeConfig;
use keye_model::generate::{GenerationEvent, MediaKind, SamplingParams, ThinkingMode};
use keye_model::mavors::{MavorsConfig, MavorsWeights};
use keye_studio::inference::{
    AskEvent, LoadEvent, LoadedModel, MediaFrames, Question, spawn_ask, spawn_load,
};
use support::Fixtures;

fn tiny_model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

fn load(dir: PathBuf) -> Arc<LoadedModel> {
    let handle = spawn_load(dir, Default::default());
    let mut progressed = false;
    for event in handle.events.iter() {
        match event {
            LoadEvent::Progress { done, total, .. } => {
                assert!(done <= total);
                progressed = true;
            }
            LoadEvent::Loaded(model) => {
                assert!(progressed, "loading reports progress");
                return model;
            }
            other => panic!("loading failed: {other:?}"),
        }
    }
    panic!("the loader ended without an outcome")
}

/// What one ask streamed.
struct Asked {
    prepared: Option<(keye_model::generate::VisionTokenMap, Vec<MediaFrames>)>,
    prompt_tokens: usize,
    tokens: Vec<u32>,
    text: String,
    /// The finished generation's timing (prompt length, decoder steps).
    timing: Option<keye_model::generate::Timing>,
    done: bool,
}

fn ask(model: Arc<LoadedModel>, video: &Path, max_new_tokens: usize) -> Asked {
    let sampling = SamplingParams {
        max_new_tokens,
        stop_ids: vec![],
        ..SamplingParams::greedy(model.runtime.model.config())
    };
    let budget = model.default_budget();
    // Read from an index made beforehand, as the GUI hands over its player's: the answers
    // below are checked against references that open the file themselves.
    let indexed = keye_studio::video::Video::open(video)
        .expect("the video opens")
        .indexed();
    let handle = spawn_ask(
        model,
        Question {
            media: vec![video.to_path_buf()],
            history: vec![],
            text: "What happens in this video?".into(),
            system: None,
            thinking: ThinkingMode::NoThink,
            sampling,
            capture: None,
            budget,
            indexed: vec![indexed],
        },
    );
    let mut asked = Asked {
        prepared: None,
        prompt_tokens: 0,
        tokens: vec![],
        text: String::new(),
        timing: None,
        done: false,
    };
    for event in handle.events.iter() {
        match event {
            AskEvent::Preparing { done, total, .. } => assert!(done <= total),
            AskEvent::Prepared {
                vision,
                media,
                prompt_tokens,
            } => {
                assert!(asked.prepared.is_none() && asked.tokens.is_empty());
                asked.prepared = Some((vision, media));
                asked.prompt_tokens = prompt_tokens;
            }
            AskEvent::Generation(GenerationEvent::Token { id, .. }) => asked.tokens.push(id),
            AskEvent::Generation(GenerationEvent::Text { delta, .. }) => {
                asked.text.push_str(&delta)
            }
            AskEvent::Generation(GenerationEvent::Done(summary)) => {
                assert_eq!(summary.tokens, asked.tokens);
                assert_eq!(summary.text, asked.text);
                asked.timing = Some(summary.timing);
                asked.done = true;
            }
            AskEvent::Generation(GenerationEvent::Error { message })
            | AskEvent::Failed(message) => {
                panic!("ask failed: {message}")
            }
            AskEvent::Refused(refusal) => panic!("ask refused: {refusal}"),
            AskEvent::Generation(_) => {}
        }
    }
    handle.join().expect("the ask succeeds");
    asked
}

fn short_clip(fixtures: &Fixtures, seconds: f64) -> PathBuf {
    fixtures.testsrc(
        "clip.mp4",
        "112x84",
        10,
        seconds,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    )
}

#[test]
fn keye_1_5_answers_about_a_video_with_slowfast_frames() {
    let fixtures = Fixtures::new();
    let video = short_clip(&fixtures, 3.0);
    let model = load(tiny_model("keye-1.5-tiny"));
    assert_eq!(model.runtime.video_encoder.name(), "keye15");
    let asked = ask(model.clone(), &video, 6);
    assert!(asked.done);
    assert_eq!(asked.tokens.len(), 6);
    let (vision, media) = asked.prepared.unwrap();
    // 3 s at 2 fps: 6 sampled frames at linspace(0, 29, 6).round().
    assert_eq!(vision.media.len(), 1);
    assert_eq!(vision.media[0].kind, MediaKind::Video);
    assert_eq!(vision.media[0].frames.len(), 6);
    let frames: Vec<usize> = media[0].frames.iter().map(|f| f.index).collect();
    assert_eq!(frames, vec![0, 6, 12, 17, 23, 29]);
    assert!((media[0].frames[1].time - 0.6).abs() < 1e-6);
    assert_eq!(vision.len(), vision.media[0].tokens());
    // Greedy is reproducible through the same API.
    assert_eq!(ask(model, &video, 6).tokens, asked.tokens);
}

#[test]
fn keye_preview_answers_about_a_video_with_uniform_frames() {
    let fixtures = Fixtures::new();
    let video = short_clip(&fixtures, 2.0);
    let dir = tiny_model("keye-preview-tiny");
    let model = load(dir.clone());
    assert_eq!(model.runtime.video_encoder.name(), "keye");
    let asked = ask(model.clone(), &video, 8);
    assert!(asked.done);
    let (vision, media) = asked.prepared.as_ref().unwrap();
    assert_eq!(vision.media[0].frames.len(), 4, "2 s at 2 fps");
    // torch.linspace(0, 19, 4).round(): keye-vl-utils 1.0's frames of the 20.
    let frames: Vec<usize> = media[0].frames.iter().map(|f| f.index).collect();
    assert_eq!(frames, [0, 6, 13, 19]);

    // The same answer rebuilt without the app's decoder, planner or generation loop.
    let (prompt_tokens, tokens) = preview_reference(&dir, &video, &frames, 8);
    assert_eq!(asked.prompt_tokens, prompt_tokens);
    assert_eq!(
        asked.tokens, tokens,
        "the greedy tokens of the reference path"
    );
    let timing = asked.timing.unwrap();
    assert_eq!(timing.prompt_tokens, prompt_tokens);
    assert_eq!(
        timing.decode_steps, 7,
        "one prefill, then a step per further token"
    );
    assert_eq!(
        ask(model, &video, 8).tokens,
        asked.tokens,
        "greedy is reproducible"
    );
    // Eight tokens tell the frames apart (with neighbouring frames the tiny model's answer
    // changes from the sixth token on), so other frames would fail the comparison above.
    let (_, other_frames) = preview_reference(&dir, &video, &[1, 7, 12, 18], 8);
    assert_ne!(other_frames, tokens);
}

/// Prompt length and greedy tokens for the Preview question about `video`, built the way the
/// golden cases are checked: the ffmpeg CLI's frames at `indices`, resized as torchvision does,
/// the Preview processor, the chat template with the video placeholder expanded, and the model's
/// plain greedy loop.
fn preview_reference(
    dir: &Path,
    video: &Path,
    indices: &[usize],
    new_tokens: usize,
) -> (usize, Vec<u32>) {
    use keye_model::chat::{
        ChatMessage, ContentPart, MessageContent, VideoPlaceholder, expand_placeholders,
        render_chat,
    };
    use keye_model::keye::{KeyeInputs, VisionBatch};
    use keye_model::preprocess::{
        ImageProcessorConfig, preprocess_video_preview, resize_bicubic_antialias_torch,
    };
    use keye_model::{KeyeModel, KeyeTokenizer, LoadOptions};

    let model = KeyeModel::load(dir, LoadOptions::default()).unwrap();
    let tokenizer = KeyeTokenizer::from_dir(dir, model.config()).unwrap();
    let processor = ImageProcessorConfig::from_file(&dir.join("preprocessor_config.json")).unwrap();
    let decoded = support::ffmpeg_rgb_frames(video, 112, 84, &[]);
    assert_eq!(decoded.len(), 20);
    // 112x84 is below the 128-token minimum per frame: smart_resize scales it up to 392x280.
    let frames: Vec<image::RgbImage> = indices
        .iter()
        .map(|&i| {
            let frame = image::RgbImage::from_raw(112, 84, decoded[i].clone()).unwrap();
            resize_bicubic_antialias_torch(&frame, 392, 280).unwrap()
        })
        .collect();
    let patches = preprocess_video_preview(&frames, &processor).unwrap();
    let p = processor.patch_size as usize;
    let pixel_values = candle_core::Tensor::from_vec(
        patches.pixel_values.clone(),
        (patches.num_patches(), 3, p, p),
        &Device::Cpu,
    )
    .unwrap();
    // 4 frames sampled from 20 at 10 fps: 2 frames a second, 0.5 s per temporal step.
    let videos = VisionBatch::preview_videos(pixel_values, vec![(patches.grid_thw, 0.5)]);

    let mut messages = vec![ChatMessage {
        role: "user".into(),
        content: MessageContent::Parts(vec![
            ContentPart::Video,
            ContentPart::Text {
                text: "What happens in this video?".into(),
            },
        ]),
    }];
    ThinkingMode::NoThink.apply(&mut messages).unwrap();
    let prompt = render_chat(&messages, tokenizer.tokens(), true);
    let merge = model.config().vision.spatial_merge_size;
    let video_tokens = patches.grid_thw.iter().product::<usize>() / (merge * merge);
    let expanded = expand_placeholders(
        &prompt,
        tokenizer.tokens(),
        None,
        &[],
        &[VideoPlaceholder::Tokens(video_tokens)],
    )
    .unwrap();
    let input_ids = tokenizer.encode(&expanded).unwrap();
    let inputs = KeyeInputs {
        input_ids: input_ids.clone(),
        images: None,
        videos: Some(videos),
        encoded_videos: None,
    };
    let greedy = keye_model::generate::greedy(&model, &tokenizer, &inputs, new_tokens).unwrap();
    (input_ids.len(), greedy.tokens)
}

/// A copy of the tiny 1.5 checkpoint with a `mavors_config` and its Mavors weights initialised
/// from the Keye tower, in a second shard listed by a safetensors index.
fn tiny_mavors_checkpoint(fixtures: &Fixtures, mavors: &MavorsConfig) -> PathBuf {
    let source = tiny_model("keye-1.5-tiny");
    let dir = fixtures.path("keye-mavors-tiny");
    std::fs::create_dir_all(&dir).unwrap();
    for file in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
    ] {
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.join("config.json")).unwrap())
            .unwrap();
    config["mavors_config"] = serde_json::to_value(mavors).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let keye = KeyeConfig::from_file(&dir.join("config.json")).unwrap();
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let names: Vec<String> = tensors.keys().cloned().collect();
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let weights =
        MavorsWeights::from_keye(&vb, mavors, &keye.vision, keye.text.hidden_size).unwrap();
    weights.save(&dir.join("mavors.safetensors")).unwrap();

    let mut weight_map: HashMap<String, &str> = names
        .into_iter()
        .map(|n| (n, "model.safetensors"))
        .collect();
    weight_map.extend(
        weights
            .tensors()
            .keys()
            .map(|n| (n.clone(), "mavors.safetensors")),
    );
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    dir
}

#[test]
fn keye_with_mavors_answers_about_a_video_in_chunks_through_the_same_api() {
    let fixtures = Fixtures::new();
    let mavors = MavorsConfig {
        chunk_frames: 4,
        ..MavorsConfig::default()
    };
    let dir = tiny_mavors_checkpoint(&fixtures, &mavors);
    let video = short_clip(&fixtures, 5.0);
    let model = load(dir);
    assert_eq!(model.runtime.video_encoder.name(), "mavors");
    assert!(model.runtime.mavors.is_some());

    let asked = ask(model.clone(), &video, 5);
    assert!(asked.done);
    assert_eq!(asked.tokens.len(), 5);
    let (vision, media) = asked.prepared.unwrap();
    // 5 s at 2 fps: 10 samples in chunks of 4 -> 3 chunks (the last padded), one decoder step each.
    let chunks = &media[0].frames;
    assert_eq!(vision.media[0].frames.len(), 3);
    assert_eq!(chunks.len(), 3);
    assert_eq!(
        chunks.iter().map(|c| (c.time, c.end)).collect::<Vec<_>>(),
        vec![(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    );
    // 112x84 frames resized to about 56x56 pixels: a 4x4 patch grid pooled 2x2 to 2x2 tokens.
    let (rows, cols) = vision.media[0].frames[0];
    assert_eq!(vision.len(), 3 * rows * cols);
    assert_eq!(
        ask(model, &video, 5).tokens,
        asked.tokens,
        "greedy is reproducible"
    );
}

#[test]
fn loading_a_broken_checkpoint_fails_with_the_file_named_and_cancel_stops_loading() {
    let fixtures = Fixtures::new();
    let dir = fixtures.path("truncated");
    std::fs::create_dir_all(&dir).unwrap();
    let source = tiny_model("keye-1.5-tiny");
    for file in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    let weights = std::fs::read(source.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &weights[..weights.len() / 2]).unwrap();
    let outcome = spawn_load(dir.clone(), Default::default())
        .events
        .iter()
        .find(|e| !matches!(e, LoadEvent::Progress { .. }));
    match outcome {
        Some(LoadEvent::Failed(message)) => {
            assert!(message.contains("model.safetensors"), "{message}");
            assert!(message.contains("truncated"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }

    // A raised cancel flag stops loading at the first check, with its own error.
    let cancelled = LoadedModel::load(
        &tiny_model("keye-1.5-tiny"),
        Default::default(),
        None,
        Some(Arc::new(std::sync::atomic::AtomicBool::new(true))),
    );
    assert!(
        matches!(
            cancelled,
            Err(keye_studio::inference::InferenceError::Model(
                keye_model::Error::Cancelled
            ))
        ),
        "{cancelled:?}"
    );
}

#[test]
fn asking_about_a_file_that_is_not_a_video_names_it() {
    let fixtures = Fixtures::new();
    let garbage = fixtures.bytes("broken.mp4", b"definitely not a video");
    let model = load(tiny_model("keye-1.5-tiny"));
    let handle = spawn_ask(
        model.clone(),
        Question {
            media: vec![garbage],
            history: vec![],
            text: "What happens?".into(),
            system: None,
            thinking: ThinkingMode::Auto,
            sampling: model.runtime.sampling.clone(),
            capture: None,
            budget: model.default_budget(),
            indexed: vec![],
        },
    );
    let failed = handle.events.iter().find_map(|e| match e {
        AskEvent::Failed(message) => Some(message),
        _ => None,
    });
    let message = failed.expect("the ask fails");
    assert!(message.contains("broken.mp4"), "{message}");
    assert!(handle.join().is_err());
}

/// The app's ask worker, the one worker generation runs on: it streams the model's events over
/// its channel in order and stops mid-stream when cancelled, with the tokens the uncancelled
/// greedy run gives up to where it stopped.
#[test]
fn the_ask_worker_streams_over_its_channel_and_cancels_mid_stream() {
    let model = load(tiny_model("keye-preview-tiny"));
    let image =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keye-preview-image/image.png");
    let question = |max_new_tokens| Question {
        media: vec![image.clone()],
        history: vec![],
        text: "Describe this image.".into(),
        system: None,
        thinking: ThinkingMode::Think,
        sampling: SamplingParams {
            max_new_tokens,
            stop_ids: vec![],
            ..SamplingParams::greedy(model.runtime.model.config())
        },
        capture: None,
        budget: model.default_budget(),
        indexed: vec![],
    };
    let greedy = spawn_ask(model.clone(), question(40))
        .join()
        .expect("the short run")
        .summary
        .tokens;
    let handle = spawn_ask(model.clone(), question(2000));
    let mut seen = Vec::new();
    // How many tokens the worker can have produced before it saw the flag: the two received,
    // those already queued when the flag went up, and the one it may be sampling.
    let mut at_most = None;
    for event in handle.events.iter() {
        let AskEvent::Generation(event) = event else {
            continue;
        };
        if matches!(event, GenerationEvent::Token { step: 1, .. }) {
            handle.cancel();
            at_most = Some(2 + handle.events.len() + 1);
        }
        let done = matches!(
            event,
            GenerationEvent::Done(_) | GenerationEvent::Error { .. }
        );
        seen.push(event);
        if done {
            break;
        }
    }
    let Some(GenerationEvent::Done(summary)) = seen.last() else {
        panic!("no Done event: {:?}", seen.last());
    };
    assert_eq!(summary.stop, keye_model::generate::StopReason::Cancelled);
    // The worker runs ahead of this thread, so the exact count is the tokens it streamed; it
    // stopped at the first step after the flag, far before the 2000 asked.
    let streamed: Vec<u32> = seen
        .iter()
        .filter_map(|e| match e {
            GenerationEvent::Token { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(summary.tokens, streamed);
    let at_most = at_most.expect("token 1 was streamed");
    assert!(
        (2..=at_most).contains(&summary.tokens.len()),
        "{} tokens, at most {at_most} expected",
        summary.tokens.len()
    );
    let common = summary.tokens.len().min(greedy.len());
    assert_eq!(summary.tokens[..common], greedy[..common]);
    let text: String = seen
        .iter()
        .filter_map(|e| match e {
            GenerationEvent::Text { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, summary.text);
    let output = handle.join().expect("the cancelled run");
    assert_eq!(&output.summary, summary);
}
