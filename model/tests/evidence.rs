//! Evidence on the tiny Keye-VL-1.5 checkpoint with three images in one prompt (each image is one
//! "frame" of the deletion test): the teacher-forced score equals the generation's own logits,
//! gradient-weighted attention's gradient matches finite differences, and the deletion test
//! changes the answer's log-probability only through the frame it removes.

use std::{path::PathBuf, sync::atomic::AtomicBool};

use candle_core::{DType, Tensor};
use image::RgbImage;
use keye_model::{
    Error, KeyeModel, KeyeTokenizer, LoadOptions,
    chat::ChatMessage,
    evidence::{
        AnswerContext, FrameId, HeadReduce, Method, Target,
        deletion::{Prefix, log_prob_without},
        deletion_test,
        maps::{AttentionMaps, explicit_pass, perturbed_log_prob},
    },
    generate::{PreparedPrompt, PromptMedia, ThinkingMode, greedy, prepare_prompt},
    preprocess::ImageProcessorConfig,
};

fn model_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/models/keye-1.5-tiny"
    ))
}

struct Setup {
    model: KeyeModel,
    tokenizer: KeyeTokenizer,
    processor: ImageProcessorConfig,
}

fn setup() -> Setup {
    let dir = model_dir();
    let model = KeyeModel::load(&dir, LoadOptions::default()).unwrap();
    let tokenizer = KeyeTokenizer::from_dir(&dir, model.config()).unwrap();
    let processor = ImageProcessorConfig::from_file(&dir.join("preprocessor_config.json")).unwrap();
    Setup {
        model,
        tokenizer,
        processor,
    }
}

/// A 56x56 image with a pattern that depends on `seed`.
fn picture(seed: u32) -> RgbImage {
    RgbImage::from_fn(56, 56, |x, y| {
        let v = (x * 7 + y * 13 + seed * 71) % 256;
        image::Rgb([
            v as u8,
            ((v + seed * 40) % 256) as u8,
            ((x + seed * 9) % 256) as u8,
        ])
    })
}

fn prompt(s: &Setup, seeds: [u32; 3]) -> PreparedPrompt {
    let messages: Vec<ChatMessage> = serde_json::from_str(
        r#"[{"role":"user","content":[{"type":"image"},{"type":"image"},{"type":"image"},
            {"type":"text","text":"Which picture is brightest?"}]}]"#,
    )
    .unwrap();
    prepare_prompt(
        &s.model,
        &s.tokenizer,
        &s.processor,
        &messages,
        seeds
            .into_iter()
            .map(|i| PromptMedia::Image(picture(i)))
            .collect(),
        ThinkingMode::NoThink,
    )
    .unwrap()
}

/// The prompt and the 5 tokens greedy decoding gives, with the raw logits of each step.
fn answered(s: &Setup, seeds: [u32; 3]) -> (PreparedPrompt, Vec<u32>, Vec<Vec<f32>>) {
    let prompt = prompt(s, seeds);
    let run = greedy(&s.model, &s.tokenizer, &prompt.inputs, 5).unwrap();
    (prompt, run.tokens, run.step_logits)
}

fn log_softmax_at(logits: &[f32], id: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits[id as usize] as f64 - max - sum.ln()
}

#[test]
fn the_answer_is_scored_as_it_was_generated_by_the_cached_and_the_explicit_decoder() {
    let s = setup();
    let (prompt, answer, step_logits) = answered(&s, [1, 2, 3]);
    let expected: f64 = answer
        .iter()
        .zip(&step_logits)
        .map(|(&id, logits)| log_softmax_at(logits, id))
        .sum();
    let context = AnswerContext::new(&s.model, &prompt, &answer).unwrap();
    assert_eq!(context.frames().len(), 3);
    let prefix = Prefix::new(&s.model, &context).unwrap();
    let cached = log_prob_without(&s.model, &context, &prefix, None).unwrap();
    assert!((cached - expected).abs() < 1e-4, "{cached} vs {expected}");
    let zeros: Vec<Tensor> = (0..2)
        .map(|_| {
            Tensor::zeros(
                (4, context.len(), context.len()),
                DType::F32,
                s.model.device(),
            )
        })
        .collect::<candle_core::Result<_>>()
        .unwrap();
    let explicit = perturbed_log_prob(&s.model, &context, Target::Answer, &zeros).unwrap();
    assert!(
        (explicit - expected).abs() < 1e-4,
        "{explicit} vs {expected}"
    );
}

#[test]
fn the_gradient_with_respect_to_attention_matches_finite_differences() {
    let s = setup();
    let (prompt, answer, _) = answered(&s, [1, 2, 3]);
    let context = AnswerContext::new(&s.model, &prompt, &answer).unwrap();
    let len = context.len();
    let target = Target::Step(2);
    let (pass, grads) = explicit_pass(&s.model, &context, target, true).unwrap();
    let grads = grads.unwrap();
    let vision = &context.vision().positions;
    // The target's query row, on vision keys and on text keys, in both layers and several heads.
    let row = prompt.inputs.input_ids.len() - 1 + 2;
    let mut checked = 0;
    for (layer, grad) in grads.iter().enumerate() {
        let grad = grad.to_vec3::<f32>().unwrap();
        for head in [0, 3] {
            for &col in [vision[0], vision[5], row - 1, row].iter() {
                let g = f64::from(grad[head][row][col]);
                let eps = 1e-2;
                let probe = |sign: f64| {
                    let mut data = vec![0f32; 4 * len * len];
                    data[head * len * len + row * len + col] = (sign * eps) as f32;
                    let bump = Tensor::from_vec(data, (4, len, len), s.model.device()).unwrap();
                    let probes: Vec<Tensor> = (0..2)
                        .map(|l| {
                            if l == layer {
                                bump.clone()
                            } else {
                                bump.zeros_like().unwrap()
                            }
                        })
                        .collect();
                    perturbed_log_prob(&s.model, &context, target, &probes).unwrap()
                };
                let finite = (probe(1.0) - probe(-1.0)) / (2.0 * eps);
                assert!(
                    (g - finite).abs() < 2e-3 + 0.02 * finite.abs(),
                    "layer {layer} head {head} key {col}: autograd {g} vs finite difference {finite}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16);
    // And the gradient-weighted map is the positive part of gradient x attention on the row.
    let maps = AttentionMaps::compute(&s.model, &context, target, true).unwrap();
    let map = maps.map(Method::Gradient, false).unwrap();
    let probs: Vec<Vec<Vec<Vec<f32>>>> = pass.probs.iter().map(|p| p.to_vec3().unwrap()).collect();
    let grads: Vec<Vec<Vec<Vec<f32>>>> = explicit_pass(&s.model, &context, target, true)
        .unwrap()
        .1
        .unwrap()
        .iter()
        .map(|g| g.to_vec3().unwrap())
        .collect();
    for (v, &col) in vision.iter().enumerate() {
        let mut expected = 0.0;
        for layer in 0..2 {
            for head in 0..4 {
                expected += (grads[layer][head][row][col] * probs[layer][head][row][col]).max(0.0);
            }
        }
        expected /= 8.0;
        assert!(
            (map[v] - expected).abs() < 1e-6,
            "token {v}: {} vs {expected}",
            map[v]
        );
    }
}

#[test]
fn deleting_a_frame_changes_the_answer_only_through_that_frame() {
    let s = setup();
    let (prompt, answer, _) = answered(&s, [1, 2, 3]);
    // The same prompt and answer with the third picture replaced.
    let other = self::prompt(&s, [1, 2, 9]);
    let a = AnswerContext::new(&s.model, &prompt, &answer).unwrap();
    let b = AnswerContext::new(&s.model, &other, &answer).unwrap();
    let score = |context: &AnswerContext, frame: Option<FrameId>| {
        let prefix = Prefix::new(&s.model, context).unwrap();
        log_prob_without(&s.model, context, &prefix, frame).unwrap()
    };
    let third = FrameId { media: 2, frame: 0 };
    let first = FrameId { media: 0, frame: 0 };
    assert!((score(&a, None) - score(&b, None)).abs() > 1e-4);
    assert!((score(&a, Some(third)) - score(&b, Some(third))).abs() < 1e-5);
    assert!((score(&a, Some(first)) - score(&b, Some(first))).abs() > 1e-4);

    let mut seen = Vec::new();
    let test = deletion_test(&s.model, &a, &AtomicBool::new(false), &mut |done, total| {
        seen.push((done, total))
    })
    .unwrap();
    assert_eq!(seen.first(), Some(&(0, 4)));
    assert_eq!(seen.last(), Some(&(4, 4)));
    assert_eq!(test.frames.len(), 3);
    assert!((test.baseline - score(&a, None)).abs() < 1e-6);
    assert!((test.frames[2].log_prob - score(&a, Some(third))).abs() < 1e-6);
    assert!((test.frames[2].drop - (test.baseline - test.frames[2].log_prob)).abs() < 1e-12);
    assert!(matches!(
        deletion_test(&s.model, &a, &AtomicBool::new(true), &mut |_, _| {}),
        Err(Error::Cancelled)
    ));
}

#[test]
fn removing_a_frame_the_prompt_does_not_contain_is_an_error_not_a_zero() {
    let s = setup();
    let (prompt, answer, _) = answered(&s, [1, 2, 3]);
    let context = AnswerContext::new(&s.model, &prompt, &answer).unwrap();
    let prefix = Prefix::new(&s.model, &context).unwrap();
    for missing in [
        FrameId { media: 3, frame: 0 },
        FrameId { media: 0, frame: 1 },
    ] {
        let error = log_prob_without(&s.model, &context, &prefix, Some(missing)).unwrap_err();
        assert!(
            error.to_string().contains("is not in the prompt"),
            "{error}"
        );
    }
}

#[test]
fn maps_cover_every_vision_token_and_name_bad_layers_and_heads() {
    let s = setup();
    let (prompt, answer, _) = answered(&s, [1, 2, 3]);
    let context = AnswerContext::new(&s.model, &prompt, &answer).unwrap();
    let maps = AttentionMaps::compute(&s.model, &context, Target::Answer, false).unwrap();
    let tokens = context.vision().len();
    for method in [
        Method::Raw {
            layer: Some(1),
            heads: HeadReduce::Max,
        },
        Method::Raw {
            layer: None,
            heads: HeadReduce::Head(2),
        },
        Method::Rollout,
    ] {
        for mask in [false, true] {
            let map = maps.map(method, mask).unwrap();
            assert_eq!(map.len(), tokens);
            assert!(map.iter().all(|w| w.is_finite() && *w >= 0.0), "{method:?}");
        }
    }
    assert!(maps.map(Method::Gradient, true).is_err());
    assert!(
        maps.map(
            Method::Raw {
                layer: Some(2),
                heads: HeadReduce::Mean
            },
            false
        )
        .is_err()
    );
    assert_eq!(maps.vision_share.len(), answer.len());
    assert!(maps.vision_share.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(matches!(
        AttentionMaps::compute(&s.model, &context, Target::Step(9), false),
        Err(Error::Input(_))
    ));
}
