//! Streaming generation on the tiny golden Preview model: greedy equals the golden ids, seeded
//! sampling replays, cancellation stops at the token asked (the app's ask worker streaming it
//! over a channel is tested in `tests/ask_video.rs`), the streamed text is the decoded text,
//! and attention capture equals an explicit full-attention computation done here from the weights.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
};

use candle_core::{D, DType, Device, Tensor};
use keye_model::{
    KeyeModel, KeyeTokenizer, LoadOptions,
    chat::ChatMessage,
    generate::{
        CaptureSpec, GenerationEvent, GenerationRequest, Phase, PreparedPrompt, PromptMedia,
        SamplingParams, StopReason, TextDeltas, ThinkingMode, VisionTokenRef, generate,
        prepare_prompt,
    },
    keye::{DecodeState, KvCache},
    preprocess::ImageProcessorConfig,
};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures"))
}

struct Setup {
    model: KeyeModel,
    tokenizer: KeyeTokenizer,
    processor: ImageProcessorConfig,
}

fn setup() -> Setup {
    let dir = fixtures().join("models/keye-preview-tiny");
    let model = KeyeModel::load(&dir, LoadOptions::default()).unwrap();
    let tokenizer = KeyeTokenizer::from_dir(&dir, model.config()).unwrap();
    let processor = ImageProcessorConfig::from_file(&dir.join("preprocessor_config.json")).unwrap();
    Setup {
        model,
        tokenizer,
        processor,
    }
}

/// The golden case's image prompt, written without the marker and given `/think` as the mode.
fn image_prompt(s: &Setup) -> PreparedPrompt {
    let messages: Vec<ChatMessage> = serde_json::from_str(
        r#"[{"role":"user","content":[{"type":"image"},{"type":"text","text":"Describe this image."}]}]"#,
    )
    .unwrap();
    let image = image::open(fixtures().join("keye-preview-image/image.png"))
        .unwrap()
        .to_rgb8();
    prepare_prompt(
        &s.model,
        &s.tokenizer,
        &s.processor,
        &messages,
        vec![PromptMedia::Image(image)],
        ThinkingMode::Think,
    )
    .unwrap()
}

fn golden_generated_ids() -> Vec<u32> {
    let path = fixtures().join("keye-preview-image/outputs.safetensors");
    let tensors = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    tensors["generated_ids"]
        .to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|id| id as u32)
        .collect()
}

fn sampling(s: &Setup, temperature: f32, max_new_tokens: usize) -> SamplingParams {
    SamplingParams {
        temperature,
        max_new_tokens,
        stop_ids: vec![],
        ..SamplingParams::greedy(s.model.config())
    }
}

fn run(
    s: &Setup,
    request: &GenerationRequest,
) -> (keye_model::generate::GenerationOutput, Vec<GenerationEvent>) {
    let mut events = Vec::new();
    let output = generate(
        &s.model,
        &s.tokenizer,
        request,
        &AtomicBool::new(false),
        &mut |e| events.push(e),
    )
    .unwrap();
    (output, events)
}

fn streamed_text(events: &[GenerationEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            GenerationEvent::Text { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn think_mode_renders_the_golden_prompt_and_greedy_equals_the_golden_ids() {
    let s = setup();
    let prompt = image_prompt(&s);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("keye-preview-image/meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(prompt.text, meta["prompt_after_chat_template"]);
    let golden_ids: Vec<u32> = serde_json::from_value(meta["input_ids"].clone()).unwrap();
    assert_eq!(prompt.inputs.input_ids, golden_ids);

    let request = GenerationRequest {
        prompt,
        sampling: sampling(&s, 0.0, 8),
        capture: None,
    };
    let (output, events) = run(&s, &request);
    let golden = golden_generated_ids();
    assert_eq!(output.summary.tokens, golden);
    assert_eq!(output.summary.stop, StopReason::MaxNewTokens);
    assert_eq!(output.summary.timing.decode_steps, 7);
    let ids: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            GenerationEvent::Token { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, golden);
    // Every generated character is streamed exactly once.
    assert_eq!(streamed_text(&events), output.summary.text);
    assert_eq!(output.summary.text, s.tokenizer.decode(&golden).unwrap());
    assert!(matches!(
        events[0],
        GenerationEvent::Prefilled {
            prompt_tokens: 52,
            ..
        }
    ));
}

#[test]
fn generation_stops_at_a_stop_id_without_streaming_its_text() {
    let s = setup();
    let mut params = sampling(&s, 0.0, 8);
    params.stop_ids = s.model.config().tokens.eos.clone();
    let golden = golden_generated_ids();
    let eos_at = golden
        .iter()
        .position(|id| params.stop_ids.contains(id))
        .expect("the golden run emits EOS");
    let request = GenerationRequest {
        prompt: image_prompt(&s),
        sampling: params,
        capture: None,
    };
    let (output, events) = run(&s, &request);
    assert_eq!(output.summary.tokens, golden[..=eos_at]);
    assert_eq!(
        output.summary.stop,
        StopReason::StopToken { id: golden[eos_at] }
    );
    assert_eq!(
        streamed_text(&events),
        s.tokenizer.decode(&golden[..eos_at]).unwrap()
    );
}

#[test]
fn seeded_sampling_replays_and_other_seeds_differ() {
    let s = setup();
    let request = |seed| {
        let mut params = sampling(&s, 1.5, 12);
        params.seed = seed;
        params.top_k = Some(200);
        params.top_p = 0.98;
        params.repetition_penalty = 1.1;
        GenerationRequest {
            prompt: image_prompt(&s),
            sampling: params,
            capture: None,
        }
    };
    let a = run(&s, &request(11)).0.summary.tokens;
    assert_eq!(a, run(&s, &request(11)).0.summary.tokens);
    assert_ne!(a, run(&s, &request(12)).0.summary.tokens);
}

#[test]
fn cancelling_stops_before_the_next_token() {
    let s = setup();
    let request = GenerationRequest {
        prompt: image_prompt(&s),
        sampling: sampling(&s, 0.0, 50),
        capture: None,
    };
    let cancel = AtomicBool::new(false);
    let output = generate(&s.model, &s.tokenizer, &request, &cancel, &mut |e| {
        if matches!(e, GenerationEvent::Token { step: 2, .. }) {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert_eq!(output.summary.stop, StopReason::Cancelled);
    assert_eq!(output.summary.tokens.len(), 3);
}

#[test]
fn text_deltas_never_split_a_character() {
    let s = setup();
    let text = "naïve 你好 🙂 <think>x</think>";
    let ids = s.tokenizer.encode(text).unwrap();
    let mut deltas = TextDeltas::new(&s.tokenizer);
    let mut out = String::new();
    let mut held_back = false;
    for &id in &ids {
        let delta = deltas.push(id).unwrap();
        assert!(!delta.contains('\u{FFFD}'), "{delta:?}");
        held_back |= delta.is_empty();
        out.push_str(&delta);
    }
    assert_eq!(deltas.finish().unwrap(), "");
    assert_eq!(out, s.tokenizer.decode(&ids).unwrap());
    assert_eq!(out, text);
    assert!(
        held_back,
        "byte-level BPE should split some character over tokens"
    );

    // A stream cut inside a character gives the held bytes back when it ends.
    let emoji = s.tokenizer.encode("🙂").unwrap();
    assert!(emoji.len() > 1, "the emoji spans several tokens: {emoji:?}");
    let mut deltas = TextDeltas::new(&s.tokenizer);
    let cut = &emoji[..emoji.len() - 1];
    let streamed: String = cut.iter().map(|&id| deltas.push(id).unwrap()).collect();
    assert_eq!(streamed, "");
    assert_eq!(deltas.finish().unwrap(), s.tokenizer.decode(cut).unwrap());
}

/// RMSNorm over the last axis.
fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Tensor {
    let var = x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    x.broadcast_div(&(var + eps).unwrap().sqrt().unwrap())
        .unwrap()
        .broadcast_mul(weight)
        .unwrap()
}

/// Rotate-half rotary embedding with per-position angles (S, head_dim / 2).
fn rotate(x: &Tensor, angles: &Tensor) -> Tensor {
    let half = x.dim(D::Minus1).unwrap() / 2;
    let cos = Tensor::cat(&[&angles.cos().unwrap(), &angles.cos().unwrap()], 1).unwrap();
    let sin = Tensor::cat(&[&angles.sin().unwrap(), &angles.sin().unwrap()], 1).unwrap();
    let x1 = x.narrow(D::Minus1, 0, half).unwrap();
    let x2 = x.narrow(D::Minus1, half, half).unwrap();
    let rotated = Tensor::cat(&[&x2.neg().unwrap(), &x1], D::Minus1).unwrap();
    (x.broadcast_mul(&cos).unwrap() + rotated.broadcast_mul(&sin).unwrap()).unwrap()
}

#[test]
fn captured_layer0_attention_equals_an_explicit_full_attention() {
    let s = setup();
    let prompt = image_prompt(&s);
    let steps = 5;
    let request = GenerationRequest {
        prompt: prompt.clone(),
        sampling: sampling(&s, 0.0, steps),
        capture: Some(CaptureSpec {
            layers: vec![0, 1],
            per_head: true,
        }),
    };
    let (output, events) = run(&s, &request);
    let capture = output.attention.expect("capture");
    assert_eq!(output.summary.tokens, golden_generated_ids()[..steps]);
    assert_eq!(capture.tokens.len(), steps);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, GenerationEvent::Attention(_)))
            .count(),
        steps
    );

    // The golden image is 4 x 5 merged tokens right after <|vision_start|> at position 15.
    let vision = &capture.vision;
    assert_eq!(vision.media[0].frames, vec![(4, 5)]);
    assert_eq!(vision.positions, (16..36).collect::<Vec<_>>());
    assert_eq!(
        vision.refs[7],
        VisionTokenRef {
            media: 0,
            frame: 0,
            row: 1,
            col: 2
        }
    );

    // Explicit layer-0 attention over the prompt plus the generated tokens, from the weights.
    let cfg = s.model.config().text.clone();
    let weights = candle_core::safetensors::load(
        fixtures().join("models/keye-preview-tiny/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let w = |name: &str| weights[&format!("model.layers.0.{name}")].clone();
    let mut state = DecodeState {
        cache: KvCache::default(),
        rope_delta: 0,
    };
    let prefill = s.model.forward(&prompt.inputs, &mut state).unwrap();
    let n_prompt = prompt.inputs.input_ids.len();
    let fed: Vec<u32> = output.summary.tokens[..steps - 1].to_vec();
    let fed_embeds = weights["model.embed_tokens.weight"]
        .index_select(&Tensor::new(fed.as_slice(), &Device::Cpu).unwrap(), 0)
        .unwrap();
    let x = Tensor::cat(
        &[&prefill.inputs_embeds.squeeze(0).unwrap(), &fed_embeds],
        0,
    )
    .unwrap();
    let total = x.dim(0).unwrap();
    let mut positions = prefill.rope.positions.clone();
    for axis in positions.iter_mut() {
        axis.extend((n_prompt..total).map(|i| i as i64 + prefill.rope.rope_delta));
    }
    let hd = cfg.head_dim;
    let inv_freq: Vec<f32> = (0..hd / 2)
        .map(|i| 1.0 / (cfg.rope_theta as f32).powf((2 * i) as f32 / hd as f32))
        .collect();
    let mut angles = Vec::new();
    let [t_pos, h_pos, w_pos] = &positions;
    for ((&t, &h), &w) in t_pos.iter().zip(h_pos).zip(w_pos) {
        let mut j = 0;
        for (p, &len) in [t, h, w].into_iter().zip(&cfg.mrope_section) {
            for f in &inv_freq[j..j + len] {
                angles.push(p as f32 * f);
            }
            j += len;
        }
    }
    let angles = Tensor::from_vec(angles, (total, hd / 2), &Device::Cpu).unwrap();
    let h = rms_norm(&x, &w("input_layernorm.weight"), cfg.rms_norm_eps);
    let heads = |proj: &str, norm: &str, n: usize| {
        let t = h
            .matmul(&w(proj).t().unwrap())
            .unwrap()
            .reshape((total, n, hd))
            .unwrap()
            .transpose(0, 1)
            .unwrap()
            .contiguous()
            .unwrap();
        rotate(&rms_norm(&t, &w(norm), cfg.rms_norm_eps), &angles)
    };
    let q = heads(
        "self_attn.q_proj.weight",
        "self_attn.q_norm.weight",
        cfg.num_attention_heads,
    );
    let k = heads(
        "self_attn.k_proj.weight",
        "self_attn.k_norm.weight",
        cfg.num_key_value_heads,
    );
    let groups = cfg.num_attention_heads / cfg.num_key_value_heads;
    let k: Vec<Tensor> = (0..cfg.num_attention_heads)
        .map(|head| k.get(head / groups).unwrap())
        .collect();
    let k = Tensor::stack(&k, 0).unwrap();
    let scores = (q.matmul(&k.transpose(1, 2).unwrap()).unwrap() / (hd as f64).sqrt()).unwrap();
    let mask: Vec<f32> = (0..total)
        .flat_map(|i| (0..total).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, (total, total), &Device::Cpu).unwrap();
    let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask).unwrap()).unwrap();
    let columns = Tensor::new(
        vision
            .positions
            .iter()
            .map(|&p| p as u32)
            .collect::<Vec<_>>(),
        &Device::Cpu,
    )
    .unwrap();

    for (step, token) in capture.tokens.iter().enumerate() {
        let row = probs
            .narrow(1, n_prompt - 1 + step, 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .contiguous()
            .unwrap();
        let expected = row.index_select(&columns, 1).unwrap();
        let expected_mean = expected.mean(0).unwrap().to_vec1::<f32>().unwrap();
        let layer0 = &token.layers[0];
        assert_eq!(layer0.layer, 0);
        for (a, b) in layer0.mean.iter().zip(&expected_mean) {
            assert!((a - b).abs() < 1e-5, "step {step}: {a} vs {b}");
        }
        // Per-head rows sum to the softmax mass the full row puts on vision tokens.
        let mass = expected.sum(1).unwrap().to_vec1::<f32>().unwrap();
        for (head, row) in layer0.per_head.as_ref().unwrap().iter().enumerate() {
            let sum: f32 = row.iter().sum();
            assert!((sum - mass[head]).abs() < 1e-5, "{sum} vs {}", mass[head]);
        }
        // Layer 1: rows are probabilities, the mean is the mean of the heads, totals add up.
        let layer1 = &token.layers[1];
        let heads = layer1.per_head.as_ref().unwrap();
        for (i, m) in layer1.mean.iter().enumerate() {
            let avg = heads.iter().map(|h| h[i]).sum::<f32>() / heads.len() as f32;
            assert!((avg - m).abs() < 1e-6);
        }
        let sum: f32 = layer1.mean.iter().sum();
        assert!(sum > 0.0 && sum <= 1.0 + 1e-6);
        assert!((layer1.frame_totals[0][0] - sum).abs() < 1e-5);
    }
    // Capture does not change what is generated; the phase of this trace is the answer.
    let (plain, plain_events) = run(
        &s,
        &GenerationRequest {
            capture: None,
            ..request
        },
    );
    assert_eq!(plain.summary.tokens, output.summary.tokens);
    assert!(plain_events.iter().all(|e| !matches!(
        e,
        GenerationEvent::Text {
            phase: Phase::Thinking | Phase::Analysis,
            ..
        }
    )));
}

#[test]
fn capture_saves_safetensors_and_a_json_index() {
    let s = setup();
    let request = GenerationRequest {
        prompt: image_prompt(&s),
        sampling: sampling(&s, 0.0, 3),
        capture: Some(CaptureSpec {
            layers: vec![1],
            per_head: false,
        }),
    };
    let capture = run(&s, &request).0.attention.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attention.safetensors");
    let index_path = capture.save(&path).unwrap();
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    assert_eq!(tensors["layer1.mean"].dims(), [3, 20]);
    assert_eq!(tensors["layer1.frame_totals"].dims(), [3, 1]);
    assert!(!tensors.contains_key("layer1.per_head"));
    let means = tensors["layer1.mean"].to_dtype(DType::F32).unwrap();
    assert_eq!(
        means.get(2).unwrap().to_vec1::<f32>().unwrap(),
        capture.tokens[2].layers[0].mean
    );
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index_path).unwrap()).unwrap();
    assert_eq!(index["media"][0]["frames"], serde_json::json!([[4, 5]]));
    assert_eq!(index["media"][0]["frame_offsets"], serde_json::json!([0]));
    assert_eq!(index["vision_tokens"], 20);

    let bad = GenerationRequest {
        capture: Some(CaptureSpec {
            layers: vec![7],
            per_head: false,
        }),
        ..request
    };
    let error = generate(
        &s.model,
        &s.tokenizer,
        &bad,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(error.to_string().contains("layer 7"), "{error}");
}
