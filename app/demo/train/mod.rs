//! `train-demo`: trains the demo model with candle on the CPU through the very `KeyeModel`
//! forward the app runs (weights in a `VarMap` under the real tensor names), on examples rendered
//! in memory for the model's own video plan. Deterministic for a seed: the tokenizer, the
//! initial weights and every example come from it. Each checkpoint is a complete Hugging Face
//! folder, evaluated through the app's ask path, with its `metrics.json`; the run can be
//! cancelled and resumed from its last checkpoint.

pub mod curriculum;
pub mod example;
pub mod heads;
pub mod judge;
pub mod params;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use anyhow::Context as _;
use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use keye_model::{
    KeyeConfig, KeyeModel, KeyeTokenizer,
    generate::ThinkingMode,
    keye::{AttentionRecorder, DecodeState, KvCache, Prefill},
    mavors::{Mavors, MavorsWeights, VideoEncoder},
    preprocess::{ImageProcessorConfig, SlowFastOptions, sample_slowfast_video},
    video::{VideoEncoderKind, VideoPlanSettings},
};
use serde::{Deserialize, Serialize};

use self::{
    example::{Context, Example, build},
    heads::{CellTally, Heads, dense_loss},
    params::{
        AdamW, accumulate, clipped_step, initialise, load_state, merge_gradients, on_workers,
        save_model, save_state,
    },
};
use super::{
    eval::{EvalOptions, EvalReport, evaluate},
    model_files::{DemoSizes, write_configs},
    questions::all_questions,
    questions::trace,
    render::YuvRoundTrip,
    teach::reply,
    tokenizer::{train_tokenizer, write_tokenizer_files},
    world::{Scene, WorldSpec},
};
use crate::inference::{LoadedModel, Placement};

/// Learned tokens of the tokenizer (the 256 bytes included).
const TOKENIZER_VOCAB: usize = 512;
/// Scenes whose text trains the tokenizer.
const TOKENIZER_SCENES: usize = 1500;
/// Files of a checkpoint folder besides the weights.
const MODEL_FILES: [&str; 5] = [
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
];

/// Which video encoder the trained checkpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoder {
    Keye15,
    Mavors,
}

/// A training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainOptions {
    pub out: PathBuf,
    pub encoder: Encoder,
    pub steps: usize,
    pub seed: u64,
    /// Start from this checkpoint (the Mavors encoder initialised from its Keye tower).
    pub from: Option<PathBuf>,
    /// Examples per optimizer step.
    pub batch: usize,
    pub checkpoint_every: usize,
    /// Videos of the evaluation at each checkpoint.
    pub eval_videos: usize,
    pub learning_rate: f64,
    /// Threads building and back-propagating a step's examples side by side.
    #[serde(default = "one")]
    pub workers: usize,
    /// The curriculum stage the run starts at (0: still frames; 2: everything, for fine-tunes).
    #[serde(default)]
    pub first_stage: usize,
    /// Every example from the binding drill instead of the curriculum.
    #[serde(default)]
    pub binding_drill: bool,
    /// A fifth of each curriculum stage's examples are contrast conversations.
    #[serde(default)]
    pub contrast: bool,
}

/// What the run reports as it goes.
#[derive(Clone, Debug)]
pub enum TrainEvent {
    Started {
        step: usize,
        steps: usize,
        parameters: usize,
    },
    Step {
        step: usize,
        loss: f64,
        parts: [f64; 3],
        /// What the video rows handed to the decoder tell of the actors (the `rows` head).
        cells: CellTally,
        tokens_per_second: f64,
        stage: usize,
    },
    Evaluating {
        step: usize,
    },
    Checkpoint {
        step: usize,
        dir: PathBuf,
        report: Box<EvalReport>,
    },
}

fn one() -> usize {
    1
}

/// What one worker computed for its share of a step's examples.
#[derive(Default)]
struct StepPart {
    grads: HashMap<String, Tensor>,
    parts: [f64; 3],
    cells: CellTally,
    tokens: usize,
}

/// What the training folder keeps to resume.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    options: TrainOptions,
    step: usize,
    seconds: f64,
}

/// The seed of example `index` of optimizer step `step`.
fn example_seed(seed: u64, step: usize, index: usize) -> u64 {
    let mut h = seed ^ 0x2545_F491_4F6C_DD1D;
    h = h.wrapping_add((step as u64) << 20 | index as u64);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Texts the tokenizer learns from: every question in every mode with its reply, as the chat
/// template writes them.
fn tokenizer_corpus(seed: u64) -> Vec<String> {
    let mut texts = vec![
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n".to_string(),
        "<|im_start|>user\n".to_string(),
        "<|im_start|>assistant\n".to_string(),
        crate::caption_draft::draft_prompt(),
    ];
    for i in 0..TOKENIZER_SCENES {
        let scene = Scene::generate(example_seed(seed, usize::MAX, i), &WorldSpec::full());
        let shown: Vec<f64> = sample_slowfast_video(
            scene.frames,
            f64::from(scene.fps),
            &SlowFastOptions::default(),
        )
        .ok()
        .and_then(|s| s.timestamps)
        .map(|t| t.into_iter().map(f64::from).collect())
        .unwrap_or_default();
        let timestamps: String = shown.iter().map(|t| format!("<|frame|>{t:.1}")).collect();
        texts.push(timestamps);
        for q in all_questions(&scene) {
            for mode in [
                ThinkingMode::NoThink,
                ThinkingMode::Think,
                ThinkingMode::Auto,
            ] {
                let r = reply(&q, &trace(&scene, &q, &shown), mode);
                texts.push(format!(
                    "<|im_start|>user\n{}{}<|im_end|>\n<|im_start|>assistant\n{}<|im_end|>\n",
                    q.question,
                    mode.marker(),
                    r.text
                ));
            }
        }
    }
    texts
}

/// The model being trained and what building examples needs.
struct Trainee {
    varmap: VarMap,
    model: KeyeModel,
    mavors: Option<Mavors>,
    heads: Heads,
    tokenizer: KeyeTokenizer,
    processor: ImageProcessorConfig,
    settings: VideoPlanSettings,
    encoder: VideoEncoderKind,
    config: KeyeConfig,
}

impl Trainee {
    fn load(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let config_path = dir.join("config.json");
        let config = KeyeConfig::from_file(&config_path)?;
        let video_encoder = VideoEncoder::from_config_file(&config_path)?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let mut model = KeyeModel::new(&config, vb.clone())?;
        // A training forward has no KV cache to reach back to: the whole prompt in one pass.
        model.set_prefill_chunk(usize::MAX);
        let mavors = match &video_encoder {
            VideoEncoder::Mavors(cfg) => Some(Mavors::new(
                cfg,
                &config.vision,
                config.text.hidden_size,
                vb.clone(),
            )?),
            VideoEncoder::Keye => None,
        };
        let heads = Heads::new(
            config.vision.hidden_size,
            config.text.hidden_size,
            vb.pp("aux"),
        )?;
        Ok(Self {
            tokenizer: KeyeTokenizer::from_dir(dir, &config)?,
            processor: ImageProcessorConfig::from_file(&dir.join("preprocessor_config.json"))?,
            settings: VideoPlanSettings::for_model(&config, &video_encoder),
            encoder: VideoEncoderKind::for_model(&config, &video_encoder),
            varmap,
            model,
            mavors,
            heads,
            config,
        })
    }

    fn context<'a>(&'a self, device: &'a Device) -> Context<'a> {
        Context {
            model: &self.model,
            mavors: self.mavors.as_ref(),
            tokenizer: &self.tokenizer,
            processor: &self.processor,
            settings: &self.settings,
            encoder: self.encoder,
            device,
        }
    }

    /// The example's loss: next-token cross-entropy on the replies (weighted), the dense heads,
    /// and for probes the attention of the last row on the named actor. Also returns the parts
    /// (text, dense, attention) and the `rows` head's tally.
    fn loss(&self, example: &Example) -> anyhow::Result<(Tensor, [f64; 3], CellTally)> {
        let last_layer = self.config.text.num_hidden_layers - 1;
        let mut state = DecodeState {
            cache: KvCache::default(),
            rope_delta: 0,
        };
        let mut recorder = example.attention.as_ref().map(|_| AttentionRecorder {
            layers: vec![last_layer],
            recorded: Vec::new(),
        });
        let output = self.model.prefill(
            &example.inputs,
            &mut state,
            Prefill {
                recorder: recorder.as_mut(),
                ..Prefill::default()
            },
        )?;
        let device = output.hidden.device().clone();
        let hidden = output.hidden.squeeze(0)?;

        let positions: Vec<u32> = example.targets.iter().map(|t| t.0 as u32).collect();
        let wanted: Vec<u32> = example.targets.iter().map(|t| t.1).collect();
        let weights: Vec<f32> = example.targets.iter().map(|t| t.2).collect();
        let weight_sum: f32 = weights.iter().sum();
        let rows = hidden.index_select(&Tensor::new(positions, &device)?, 0)?;
        let log_probs = candle_nn::ops::log_softmax(&self.model.logits(&rows)?, D::Minus1)?;
        let picked = log_probs
            .gather(&Tensor::new(wanted, &device)?.unsqueeze(1)?, 1)?
            .squeeze(1)?;
        let text = ((picked * Tensor::new(weights, &device)?)?
            .sum_all()?
            .neg()?
            / f64::from(weight_sum.max(1.0)))?;

        let vision_positions: Vec<u32> =
            example.vision.positions.iter().map(|&p| p as u32).collect();
        let vision_positions = Tensor::new(vision_positions, &device)?;
        let at_vision = hidden.index_select(&vision_positions, 0)?;
        let mut dense = dense_loss(&self.heads.hidden.forward(&at_vision)?, &example.tokens, 4)?;
        let video_rows = match (&output.videos, &example.encoded) {
            (Some(encoding), _) => Some(encoding.projected.clone()),
            (None, Some(encoded)) => Some(encoded.clone()),
            (None, None) => None,
        };
        let mut cells = CellTally::default();
        if let Some(rows) = video_rows {
            let logits = self.heads.rows.forward(&rows)?;
            dense = (dense + dense_loss(&logits, &example.tokens, 4)?)?;
            cells.add(&logits, &example.tokens)?;
        }
        if let (Some(encoding), Some(labels)) = (&output.videos, &example.patches) {
            let patch = dense_loss(
                &self.heads.patch.forward(&encoding.vit.last_hidden)?,
                labels,
                2,
            )?;
            dense = (dense + patch)?;
        }

        let mut attention = Tensor::zeros((), DType::F32, &device)?;
        if let (Some(mask), Some(recorder)) = (&example.attention, &recorder)
            && let Some((_, probs)) = recorder.recorded.first()
        {
            let keys = *probs.dims().last().unwrap_or(&0);
            let probs = probs.reshape(((), keys))?;
            let on_vision = probs.index_select(&vision_positions, 1)?.mean(0)?;
            let frames: Vec<usize> = example.vision.refs.iter().map(|r| r.frame).collect();
            let on_actor = on_vision.mul(&Tensor::new(mask.as_slice(), &device)?)?;
            let hit = (on_actor.sum_all()? / on_vision.sum_all()?)?;
            attention = (hit + 1e-6)?.log()?.neg()?;
            if let Some(per_frame) = per_frame_share_loss(&on_vision, &on_actor, mask, &frames)? {
                attention = (attention + per_frame)?;
            }
        }
        let total = (&text + (&dense * 0.3)? + (&attention * 0.5)?)?;
        let scalar = |t: &Tensor| -> anyhow::Result<f64> { Ok(f64::from(t.to_scalar::<f32>()?)) };
        let parts = [scalar(&text)?, scalar(&dense)?, scalar(&attention)?];
        Ok((total, parts, cells))
    }
}

/// Mean over the frames where the named actor has cells of -log(that frame's attention share on
/// the actor). The GUI scales each frame's heatmap to its own brightest cell, so a frame the
/// answer barely looks at still shows a peak; the whole-video share alone leaves that peak free
/// to sit anywhere. `None` when no frame has actor cells.
fn per_frame_share_loss(
    on_vision: &Tensor,
    on_actor: &Tensor,
    mask: &[f32],
    frames: &[usize],
) -> candle_core::Result<Option<Tensor>> {
    let count = frames.iter().max().map_or(0, |&f| f + 1);
    let with_actor: Vec<u32> = (0..count)
        .filter(|&f| frames.iter().zip(mask).any(|(&g, &m)| g == f && m > 0.0))
        .map(|f| f as u32)
        .collect();
    if with_actor.is_empty() {
        return Ok(None);
    }
    let device = on_vision.device();
    let mut one_hot = vec![0f32; frames.len() * count];
    for (i, &f) in frames.iter().enumerate() {
        one_hot[i * count + f] = 1.0;
    }
    let one_hot = Tensor::from_vec(one_hot, (frames.len(), count), device)?;
    let per_frame = |t: &Tensor| t.unsqueeze(0)?.matmul(&one_hot)?.squeeze(0);
    let keep = Tensor::new(with_actor, device)?;
    let mass = per_frame(on_vision)?.index_select(&keep, 0)?;
    let hit = per_frame(on_actor)?.index_select(&keep, 0)?;
    let share = (hit / (mass + 1e-12)?)?;
    Ok(Some((share + 1e-6)?.log()?.neg()?.mean_all()?))
}

/// Learning rate at `step` of `steps`: linear warm-up over the first 3 %, cosine to a tenth.
fn learning_rate(peak: f64, step: usize, steps: usize) -> f64 {
    let warmup = (steps as f64 * 0.03).max(1.0);
    let s = step as f64;
    if s < warmup {
        return peak * (s + 1.0) / warmup;
    }
    let progress = ((s - warmup) / (steps as f64 - warmup).max(1.0)).min(1.0);
    peak * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

/// Creates the checkpoint folder's tokenizer and configs (trained tokenizer, or the `from`
/// checkpoint's so its weights keep their token ids).
fn prepare_folder(options: &TrainOptions) -> anyhow::Result<()> {
    let out = &options.out;
    std::fs::create_dir_all(out.join("training"))
        .with_context(|| format!("{}: cannot create the folder", out.display()))?;
    let mavors = options.encoder == Encoder::Mavors;
    let tokenizer = match &options.from {
        Some(from) => {
            for file in ["tokenizer.json", "tokenizer_config.json"] {
                std::fs::copy(from.join(file), out.join(file))
                    .with_context(|| format!("{}: cannot copy {file}", from.display()))?;
            }
            tokenizers::Tokenizer::from_file(out.join("tokenizer.json"))
                .map_err(|e| anyhow::anyhow!("{}: {e}", out.join("tokenizer.json").display()))?
        }
        None => {
            let tokenizer = train_tokenizer(&tokenizer_corpus(options.seed), TOKENIZER_VOCAB)?;
            write_tokenizer_files(&tokenizer, out)?;
            tokenizer
        }
    };
    write_configs(out, &DemoSizes::default(), &tokenizer, mavors).map_err(anyhow::Error::msg)
}

/// Copies the `from` checkpoint's weights into the matching variables, and, when a Mavors run
/// starts from a Keye checkpoint, initialises the Mavors IVE from its Keye tower (the 2-D patch
/// kernel inflated over the chunk's frames), the projector from its folded `mlp_AR`, and the IFA
/// as the identity.
fn start_from(trainee: &Trainee, from: &Path, out: &Path, device: &Device) -> anyhow::Result<()> {
    let path = from.join("model.safetensors");
    let tensors = candle_core::safetensors::load(&path, device)
        .with_context(|| format!("{}: cannot read the weights", path.display()))?;
    let mut data = trainee
        .varmap
        .data()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (name, tensor) in &tensors {
        if let Some(var) = data.get_mut(name) {
            var.set(tensor)?;
        }
    }
    // A Mavors checkpoint brings its own trained encoder; only a Keye one needs it inflated.
    let has_mavors = tensors.keys().any(|name| name.contains(".ive."));
    if let VideoEncoder::Mavors(cfg) = VideoEncoder::from_config_file(&out.join("config.json"))?
        && !has_mavors
    {
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let weights = MavorsWeights::from_keye(
            &vb,
            &cfg,
            &trainee.config.vision,
            trainee.config.text.hidden_size,
        )?;
        for (name, tensor) in weights.tensors() {
            if (name.contains(".ive.") || name.contains(".projector."))
                && let Some(var) = data.get_mut(name)
            {
                var.set(tensor)?;
            }
        }
        // The IFA starts as the identity (its residual branches' outputs zero), so on the first
        // step the decoder reads the rows of the Keye model it grew from; its other weights keep
        // the run's seeded values, so the run stays deterministic.
        for (name, var) in data.iter_mut() {
            if name.contains(".ifa.") && (name.contains("out_proj.") || name.contains("fc2.")) {
                var.set(&var.zeros_like()?)?;
            }
        }
    }
    Ok(())
}

/// Runs (or resumes) training; returns the last checkpoint's evaluation.
pub fn train(
    options: &TrainOptions,
    on_event: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> anyhow::Result<Option<EvalReport>> {
    let device = Device::Cpu;
    let out = &options.out;
    let state_path = out.join("training/state.json");
    let resumed: Option<State> = if state_path.is_file() {
        let text = std::fs::read_to_string(&state_path)?;
        Some(serde_json::from_str(&text).with_context(|| format!("{}", state_path.display()))?)
    } else {
        prepare_folder(options)?;
        None
    };
    let trainee = Trainee::load(out, &device)?;
    let mut optimizer = AdamW::new(&trainee.varmap)?;
    let (mut step, mut seconds) = (0, 0.0);
    match &resumed {
        Some(state) => {
            load_state(
                &mut optimizer,
                &out.join("training/state.safetensors"),
                &device,
            )?;
            optimizer.steps = state.step;
            (step, seconds) = (state.step, state.seconds);
        }
        None => {
            initialise(
                &trainee.varmap,
                options.seed,
                trainee.config.text.num_hidden_layers,
            )?;
            if let Some(from) = &options.from {
                start_from(&trainee, from, out, &device)?;
            }
        }
    }
    let parameters = params::sorted_vars(&trainee.varmap)
        .iter()
        .filter(|(n, _)| !n.starts_with(params::AUX_PREFIX))
        .map(|(_, v)| v.elem_count())
        .sum();
    on_event(TrainEvent::Started {
        step,
        steps: options.steps,
        parameters,
    });
    let ctx = trainee.context(&device);
    let mut last_report = None;
    while step < options.steps {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        let progress = step as f64 / options.steps as f64;
        // Examples of a step run on a few worker threads (each its own graph); their gradients
        // are summed in worker order, so a run is the same for a given worker count.
        let workers = options.workers.clamp(1, options.batch);
        let (ctx, trainee_ref, vars) = (&ctx, &trainee, optimizer.vars());
        let results = on_workers(workers, |worker| {
            let mut yuv = YuvRoundTrip::new();
            let mut part = StepPart::default();
            for index in (worker..options.batch).step_by(workers) {
                let recipe = if options.binding_drill {
                    curriculum::binding_drill()
                } else {
                    curriculum::recipe(progress, options.first_stage, index, options.contrast)
                };
                let seed = example_seed(options.seed, step, index);
                let example = build(ctx, &mut yuv, seed, &recipe)?;
                part.tokens += example.inputs.input_ids.len();
                let (loss, parts, cells) = trainee_ref.loss(&example)?;
                part.cells.merge(&cells);
                accumulate(&mut part.grads, vars, &loss.backward()?)?;
                for (s, p) in part.parts.iter_mut().zip(parts) {
                    *s += p;
                }
            }
            Ok(part)
        })?;
        let mut sums: HashMap<String, Tensor> = HashMap::new();
        let (mut parts_sum, mut tokens, mut cells) = ([0.0; 3], 0usize, CellTally::default());
        for part in results {
            merge_gradients(&mut sums, part.grads)?;
            tokens += part.tokens;
            cells.merge(&part.cells);
            for (s, p) in parts_sum.iter_mut().zip(part.parts) {
                *s += p;
            }
        }
        let loss_sum = parts_sum[0] + 0.3 * parts_sum[1] + 0.5 * parts_sum[2];
        let batch = options.batch as f64;
        let lr = learning_rate(options.learning_rate, step, options.steps);
        clipped_step(&mut optimizer, &sums, batch, lr)?;
        step += 1;
        let elapsed = started.elapsed().as_secs_f64();
        seconds += elapsed;
        on_event(TrainEvent::Step {
            step,
            loss: loss_sum / batch,
            parts: parts_sum.map(|p| p / batch),
            cells,
            tokens_per_second: tokens as f64 / elapsed.max(1e-9),
            stage: curriculum::stage(progress, options.first_stage).0,
        });
        if step % options.checkpoint_every == 0 || step == options.steps {
            let state = State {
                options: options.clone(),
                step,
                seconds,
            };
            last_report = Some(checkpoint(&trainee, &optimizer, &state, on_event, cancel)?);
        }
    }
    if cancel.load(Ordering::Relaxed) && step % options.checkpoint_every != 0 {
        let state = State {
            options: options.clone(),
            step,
            seconds,
        };
        save_training_state(&optimizer, &state)?;
    }
    Ok(last_report)
}

fn save_training_state(optimizer: &AdamW, state: &State) -> anyhow::Result<()> {
    let dir = state.options.out.join("training");
    save_state(optimizer, &dir.join("state.safetensors"))?;
    let path = dir.join("state.json");
    std::fs::write(&path, serde_json::to_string_pretty(state)?)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// Saves a checkpoint folder, evaluates it through the app's ask path, writes its metrics, makes
/// it the run's current model (the files at the top of the output folder) and saves the state.
fn checkpoint(
    trainee: &Trainee,
    optimizer: &AdamW,
    state: &State,
    on_event: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> anyhow::Result<EvalReport> {
    let out = &state.options.out;
    let dir = out.join(format!("checkpoints/step-{:06}", state.step));
    std::fs::create_dir_all(&dir)?;
    for file in MODEL_FILES {
        std::fs::copy(out.join(file), dir.join(file))
            .with_context(|| format!("{}: cannot copy {file}", out.display()))?;
    }
    save_model(&trainee.varmap, &dir.join("model.safetensors"))?;
    on_event(TrainEvent::Evaluating { step: state.step });
    let model = Arc::new(LoadedModel::load(&dir, Placement::default(), None, None)?);
    let options = EvalOptions {
        count: state.options.eval_videos,
        seed: state.options.seed ^ 0xE7A1,
        thinking: ThinkingMode::NoThink,
        describe: false,
        max_new_tokens: 24,
    };
    let report = evaluate(
        &model,
        &out.join("training/eval-videos"),
        &options,
        &mut |_, _| {},
        cancel,
    )?;
    let metrics = serde_json::json!({
        "step": state.step,
        "training_seconds": state.seconds,
        "evaluation": {
            "videos": options.count,
            "seed": options.seed,
            "thinking": options.thinking,
            "accuracy": report.accuracy,
            "kinds": report.kinds,
            "mean_latency_ms": report.mean_latency_ms,
        },
    });
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    std::fs::copy(dir.join("model.safetensors"), out.join("model.safetensors"))?;
    std::fs::copy(dir.join("metrics.json"), out.join("metrics.json"))?;
    save_training_state(optimizer, state)?;
    on_event(TrainEvent::Checkpoint {
        step: state.step,
        dir,
        report: Box::new(report.clone()),
    });
    Ok(report)
}

#[cfg(test)]
mod tests;
