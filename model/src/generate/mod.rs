//! Streaming generation on the Keye-VL runtime: prefill, then one token at a time through the KV
//! cache, with sampling, UTF-8-safe text deltas, the incremental phase parser, timing, attention
//! capture and cancellation at any token. [`generate`] runs on the calling thread and reports
//! through a callback (the app runs it on its ask worker); [`greedy`] runs the same decode loop
//! keeping what the golden checks compare.

pub mod attention;
pub mod phase;
pub mod prompt;
pub mod sampling;
pub mod stream;

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Instant,
};

use candle_core::{DType, Tensor};
use serde::Serialize;

pub use attention::{AttentionCapture, CaptureSpec, LayerAttention, TokenAttention, frame_totals};
pub use phase::{Phase, PhaseEvent, PhaseParser};
pub use prompt::{
    MediaGrid, MediaKind, PreparedPrompt, PromptMedia, ThinkingMode, VisionTokenMap,
    VisionTokenRef, prepare_prompt,
};
pub use sampling::{Sampler, SamplingParams};
pub use stream::TextDeltas;

use crate::{
    error::{Error, Result},
    keye::{
        AttentionRecorder, DecodeState, ForwardOutput, KeyeInputs, KeyeModel, KvCache, Prefill,
    },
    tokenizer::KeyeTokenizer,
};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: PreparedPrompt,
    pub sampling: SamplingParams,
    /// Attention capture, when wanted.
    pub capture: Option<CaptureSpec>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// A stop id was generated (it is the last of `tokens`, its text not streamed).
    StopToken {
        id: u32,
    },
    MaxNewTokens,
    Cancelled,
}

/// Measured speed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    pub prompt_tokens: usize,
    pub prefill_ms: f64,
    /// Single-token decoder steps after the prefill.
    pub decode_steps: usize,
    pub decode_ms: f64,
    /// decode_steps per second of decode time (0 when nothing was decoded).
    pub tokens_per_s: f64,
}

/// The end of a successful generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationSummary {
    pub tokens: Vec<u32>,
    /// All streamed text (the concatenation of the text deltas).
    pub text: String,
    pub stop: StopReason,
    pub timing: Timing,
    /// Last `\boxed{}` or `<answer>` content, as the official eval code takes it.
    pub final_answer: Option<String>,
}

/// One streamed event, in order. Serialized with an `event` tag for `ask --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum GenerationEvent {
    /// The prompt is in the cache.
    Prefilled {
        prompt_tokens: usize,
        prefill_ms: f64,
    },
    /// A generated token id (stop ids included).
    Token {
        step: usize,
        id: u32,
    },
    /// The phase changes before the next text.
    Phase {
        phase: Phase,
    },
    /// New text of one phase.
    Text {
        phase: Phase,
        delta: String,
    },
    /// A `\boxed{…}` closed.
    Boxed {
        content: String,
    },
    /// Captured attention of the token just generated.
    Attention(Box<TokenAttention>),
    Done(GenerationSummary),
    Error {
        message: String,
    },
}

/// Output of [`generate`]: the summary (also sent as `Done`) and the capture, if asked for.
#[derive(Debug, Clone)]
pub struct GenerationOutput {
    pub summary: GenerationSummary,
    pub attention: Option<AttentionCapture>,
}

/// Runs one generation on this thread. `emit` sees every event except `Done` / `Error` (the
/// caller has the result); `cancel` is checked between prompt chunks and before every token.
pub fn generate(
    model: &KeyeModel,
    tokenizer: &KeyeTokenizer,
    request: &GenerationRequest,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(GenerationEvent),
) -> Result<GenerationOutput> {
    request.sampling.validate().map_err(Error::Input)?;
    let capture = request
        .capture
        .clone()
        .map(|spec| (spec, &request.prompt.vision));
    let run = decode(
        model,
        tokenizer,
        &request.prompt.inputs,
        &request.sampling,
        capture,
        Keep::Lean,
        cancel,
        emit,
    )?;
    Ok(run.output)
}

/// Result of [`greedy`].
#[derive(Debug, Clone)]
pub struct Greedy {
    /// Every position and intermediate of the prompt's forward pass.
    pub prefill: ForwardOutput,
    pub tokens: Vec<u32>,
    /// Raw logits (vocab) at each step; step 0 is the prefill's last position.
    pub step_logits: Vec<Vec<f32>>,
}

/// Greedy decoding of exactly `max_new_tokens` tokens (no stop ids) through the decode loop
/// [`generate`] runs, keeping what the golden checks compare: the prompt's full forward output
/// and the raw logits of every step.
pub fn greedy(
    model: &KeyeModel,
    tokenizer: &KeyeTokenizer,
    inputs: &KeyeInputs,
    max_new_tokens: usize,
) -> Result<Greedy> {
    let params = SamplingParams {
        max_new_tokens,
        stop_ids: Vec::new(),
        ..SamplingParams::greedy(model.config())
    };
    let run = decode(
        model,
        tokenizer,
        inputs,
        &params,
        None,
        Keep::Everything,
        &AtomicBool::new(false),
        &mut |_| {},
    )?;
    Ok(Greedy {
        prefill: run
            .prefill
            .ok_or_else(|| Error::Input("the prefill was not kept".into()))?,
        tokens: run.output.summary.tokens,
        step_logits: run.step_logits,
    })
}

/// What a decode run keeps beyond its output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Only what generating needs (the prefill's last position).
    Lean,
    /// The prefill's every position and intermediate, and each step's raw logits.
    Everything,
}

struct DecodeRun {
    output: GenerationOutput,
    prefill: Option<ForwardOutput>,
    step_logits: Vec<Vec<f32>>,
}

/// The decode loop: prefill the prompt, then choose a token, stream it, and run the decoder one
/// step for it, until a stop id, `max_new_tokens` or `cancel`.
#[allow(clippy::too_many_arguments)]
fn decode(
    model: &KeyeModel,
    tokenizer: &KeyeTokenizer,
    inputs: &KeyeInputs,
    params: &SamplingParams,
    capture: Option<(CaptureSpec, &VisionTokenMap)>,
    keep: Keep,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(GenerationEvent),
) -> Result<DecodeRun> {
    let mut capturer = capture
        .map(|(spec, vision)| {
            attention::Capturer::new(
                spec,
                vision,
                model.config().text.num_hidden_layers,
                model.device(),
            )
        })
        .transpose()?;
    let mut recorder = capturer.as_ref().map(|c| AttentionRecorder {
        layers: c.capture.spec.layers.clone(),
        recorded: Vec::new(),
    });
    let s = inputs.input_ids.len();
    // Sized for the whole generation up front: decoding never reallocates the cache.
    let mut state = DecodeState {
        cache: KvCache::with_capacity(s + params.max_new_tokens),
        rope_delta: 0,
    };
    let started = Instant::now();
    let prefill = model.prefill(
        inputs,
        &mut state,
        Prefill {
            recorder: recorder.as_mut(),
            cancel: Some(cancel),
            lean: keep == Keep::Lean,
        },
    );
    let prefill = match prefill {
        Err(Error::Cancelled) => {
            return Ok(DecodeRun {
                output: cancelled_before_generating(s, ms(started)),
                prefill: None,
                step_logits: Vec::new(),
            });
        }
        other => other?,
    };
    let mut logits = last_logits(model, &prefill.hidden)?;
    let prefill = (keep == Keep::Everything).then_some(prefill);
    let prefill_ms = ms(started);
    emit(GenerationEvent::Prefilled {
        prompt_tokens: s,
        prefill_ms,
    });

    let mut sampler = Sampler::new(params.clone());
    let mut history = inputs.input_ids.clone();
    let mut tokens = Vec::new();
    let mut step_logits = Vec::new();
    let mut deltas = TextDeltas::new(tokenizer);
    let mut parser = PhaseParser::new();
    let mut text = String::new();
    let mut decode_ms = 0.0;
    let mut decode_steps = 0;
    let mut stop = StopReason::MaxNewTokens;
    for step in 0..params.max_new_tokens {
        if cancel.load(Ordering::Relaxed) {
            stop = StopReason::Cancelled;
            break;
        }
        if keep == Keep::Everything {
            step_logits.push(logits.clone());
        }
        let token = sampler.sample(&mut logits, &history)?;
        history.push(token);
        tokens.push(token);
        if let (Some(capturer), Some(recorder)) = (&mut capturer, &recorder) {
            let captured = capturer.record(step, token, &recorder.recorded)?;
            emit(GenerationEvent::Attention(Box::new(captured.clone())));
        }
        emit(GenerationEvent::Token { step, id: token });
        if params.stop_ids.contains(&token) {
            stop = StopReason::StopToken { id: token };
            break;
        }
        let delta = deltas.push(token)?;
        text.push_str(&delta);
        emit_phase_events(emit, parser.push(&delta));
        if step + 1 == params.max_new_tokens {
            break;
        }
        let t = Instant::now();
        logits = model
            .decode_step_recording(token, &mut state, recorder.as_mut())?
            .to_vec1::<f32>()?;
        decode_ms += ms(t);
        decode_steps += 1;
    }
    let delta = deltas.finish()?;
    text.push_str(&delta);
    let mut events = parser.push(&delta);
    events.extend(parser.finish());
    emit_phase_events(emit, events);
    let output = GenerationOutput {
        summary: GenerationSummary {
            tokens,
            text,
            stop,
            timing: Timing {
                prompt_tokens: s,
                prefill_ms,
                decode_steps,
                decode_ms,
                tokens_per_s: if decode_ms > 0.0 {
                    decode_steps as f64 / (decode_ms / 1000.0)
                } else {
                    0.0
                },
            },
            final_answer: parser.final_answer().map(str::to_string),
        },
        attention: capturer.map(|c| c.capture),
    };
    Ok(DecodeRun {
        output,
        prefill,
        step_logits,
    })
}

/// The output of a generation cancelled during its prefill: no tokens, stopped as cancelled.
fn cancelled_before_generating(prompt_tokens: usize, prefill_ms: f64) -> GenerationOutput {
    GenerationOutput {
        summary: GenerationSummary {
            tokens: Vec::new(),
            text: String::new(),
            stop: StopReason::Cancelled,
            timing: Timing {
                prompt_tokens,
                prefill_ms,
                decode_steps: 0,
                decode_ms: 0.0,
                tokens_per_s: 0.0,
            },
            final_answer: None,
        },
        attention: None,
    }
}

fn emit_phase_events(emit: &mut dyn FnMut(GenerationEvent), events: Vec<PhaseEvent>) {
    for event in events {
        emit(match event {
            PhaseEvent::Phase { phase } => GenerationEvent::Phase { phase },
            PhaseEvent::Text { phase, text } => GenerationEvent::Text { phase, delta: text },
            PhaseEvent::Boxed { content } => GenerationEvent::Boxed { content },
        });
    }
}

/// Logits (vocab) in f32 of the last position of a (1, S, hidden) hidden state.
fn last_logits(model: &KeyeModel, hidden: &Tensor) -> Result<Vec<f32>> {
    let last = hidden.dim(1)?.saturating_sub(1);
    Ok(model
        .logits(&hidden.narrow(1, last, 1)?)?
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
