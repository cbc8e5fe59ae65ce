//! Evidence for an answer, as a background job: the question's prompt prepared as an ask
//! prepares it, the answer generated (or given), then the attention maps of every aggregation
//! (sinks masked and raw), their per-frame totals, and, when asked, the deletion test and each
//! aggregation's faithfulness figure (Spearman agreement of its frame ranking with the deletion
//! ranking). Events go over a channel; the CLI prints them and the GUI polls them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use crossbeam_channel::{Receiver, Sender};
use keye_model::{
    evidence::{
        AnswerContext, AttentionMaps, DeletionTest, FrameId, Method, Target, deletion_test,
        spearman,
    },
    generate::{GenerationRequest, StopReason, VisionTokenMap, frame_totals, generate},
};
use serde::Serialize;

use crate::inference::{InferenceError, LoadedModel, MediaFrames, Question, prepare_question};

/// What to explain.
#[derive(Debug, Clone)]
pub struct EvidenceRequest {
    /// The question as it was asked (media, text, thinking, sampling for generating the answer).
    pub question: Question,
    /// The answer's tokens, without a stop token; `None` generates it first with the question's
    /// sampling.
    pub answer: Option<Vec<u32>>,
    /// Which answer tokens the maps explain.
    pub target: Target,
    /// Run the deletion test (one decoder pass per frame).
    pub deletion: bool,
}

/// One frame's attention under one aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameAttention {
    pub frame: FrameId,
    /// Seconds from the video's first frame where the frame (or chunk) starts; 0 for an image.
    pub time: f64,
    /// The map's total on the frame's tokens, sinks masked.
    pub attention: f64,
    /// The same without masking.
    pub attention_raw: f64,
}

/// One aggregation's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodEvidence {
    pub method: Method,
    pub name: &'static str,
    pub description: &'static str,
    /// Over the vision tokens (map order), sinks masked and the rest renormalised.
    pub map: Vec<f32>,
    /// Over the vision tokens, as computed.
    pub map_raw: Vec<f32>,
    pub frames: Vec<FrameAttention>,
    /// Spearman agreement of the frame ranking (sinks masked) with the deletion ranking.
    pub faithfulness: Option<f64>,
    /// The same for the raw map.
    pub faithfulness_raw: Option<f64>,
}

impl MethodEvidence {
    /// Frames by falling attention (sinks masked).
    pub fn ranking(&self) -> Vec<FrameAttention> {
        let mut sorted = self.frames.clone();
        sorted.sort_by(|a, b| b.attention.total_cmp(&a.attention));
        sorted
    }
}

/// Everything the job found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub answer: String,
    pub answer_tokens: Vec<u32>,
    pub target: Target,
    pub vision: VisionTokenMap,
    pub media: Vec<MediaFrames>,
    /// Vision tokens (map order) found to be sinks in any layer: what the frame marks.
    pub sinks: Vec<usize>,
    pub sinks_per_layer: Vec<Vec<usize>>,
    /// For each answer token, the share of its attention on vision tokens.
    pub vision_share: Vec<f32>,
    /// The three aggregations with their defaults ([`Method::ALL`]).
    pub methods: Vec<MethodEvidence>,
    pub deletion: Option<DeletionTest>,
    /// Every map (each layer's heads too), for other choices of layer and heads. Not written
    /// out: for a real checkpoint it is layers x heads x vision tokens.
    #[serde(skip)]
    pub maps: AttentionMaps,
}

impl Evidence {
    pub fn method(&self, method: Method) -> Option<&MethodEvidence> {
        self.methods.iter().find(|m| m.method == method)
    }

    /// `method`'s result, for any layer and heads of raw attention (computed from the kept maps
    /// when it is not one of the defaults). A layer or head that does not exist is an error.
    pub fn evidence_for(&self, method: Method) -> Result<MethodEvidence, InferenceError> {
        match self.method(method) {
            Some(found) => Ok(found.clone()),
            None => method_evidence(
                &self.vision,
                &self.maps,
                method,
                &self.media,
                self.deletion.as_ref(),
            ),
        }
    }

    /// Where `frame` starts on its source (0 when unknown).
    pub fn time_of(&self, frame: FrameId) -> f64 {
        frame_time(&self.media, frame)
    }
}

fn frame_time(media: &[MediaFrames], frame: FrameId) -> f64 {
    media
        .get(frame.media)
        .and_then(|m| m.frames.get(frame.frame))
        .map_or(0.0, |f| f.time)
}

/// Everything the job reports, in order.
#[derive(Debug, Clone)]
pub enum EvidenceEvent {
    Preparing {
        stage: String,
        done: usize,
        total: usize,
    },
    /// The answer being explained.
    Answered {
        text: String,
        tokens: usize,
    },
    /// The maps are computed; the deletion test (if asked) starts.
    Mapped,
    /// Deletion runs done of total (the baseline counts as one).
    Testing {
        done: usize,
        total: usize,
    },
    Done(Box<Evidence>),
    Failed(String),
    Cancelled,
}

/// An evidence job on a worker thread.
#[derive(Debug)]
pub struct EvidenceHandle {
    pub events: Receiver<EvidenceEvent>,
    cancel: Arc<AtomicBool>,
    thread: JoinHandle<Result<Evidence, InferenceError>>,
}

impl EvidenceHandle {
    /// Stops before the next frame is decoded, token generated or deletion run.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Waits for the worker.
    pub fn join(self) -> Result<Evidence, InferenceError> {
        self.thread.join().map_err(|_| {
            InferenceError::Model(keye_model::Error::Input(
                "the evidence worker panicked".into(),
            ))
        })?
    }
}

/// Explains an answer with `model` on a worker thread.
pub fn spawn_evidence(model: Arc<LoadedModel>, request: EvidenceRequest) -> EvidenceHandle {
    let (sender, events) = crossbeam_channel::unbounded();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let thread = std::thread::spawn(move || {
        let result = explain(&model, &request, &flag, &sender);
        let _ = sender.send(match &result {
            Ok(evidence) => EvidenceEvent::Done(Box::new(evidence.clone())),
            Err(
                InferenceError::Cancelled | InferenceError::Model(keye_model::Error::Cancelled),
            ) => EvidenceEvent::Cancelled,
            Err(error) => EvidenceEvent::Failed(error.to_string()),
        });
        result
    });
    EvidenceHandle {
        events,
        cancel,
        thread,
    }
}

fn explain(
    model: &LoadedModel,
    request: &EvidenceRequest,
    cancel: &AtomicBool,
    events: &Sender<EvidenceEvent>,
) -> Result<Evidence, InferenceError> {
    let (prompt, media) = prepare_question(
        model,
        &request.question,
        cancel,
        &mut |stage, done, total| {
            let _ = events.send(EvidenceEvent::Preparing {
                stage: stage.to_owned(),
                done,
                total,
            });
        },
    )?;
    let runtime = &model.runtime;
    let answer = match &request.answer {
        Some(tokens) => tokens.clone(),
        None => {
            let output = generate(
                &runtime.model,
                &runtime.tokenizer,
                &GenerationRequest {
                    prompt: prompt.clone(),
                    sampling: request.question.sampling.clone(),
                    capture: None,
                },
                cancel,
                &mut |_| {},
            )?;
            let mut tokens = output.summary.tokens;
            match output.summary.stop {
                StopReason::Cancelled => return Err(InferenceError::Cancelled),
                StopReason::StopToken { .. } => {
                    tokens.pop();
                }
                StopReason::MaxNewTokens => {}
            }
            tokens
        }
    };
    let text = runtime.tokenizer.decode(&answer)?;
    let _ = events.send(EvidenceEvent::Answered {
        text: text.clone(),
        tokens: answer.len(),
    });
    if cancel.load(Ordering::Relaxed) {
        return Err(InferenceError::Cancelled);
    }
    let context = AnswerContext::new(&runtime.model, &prompt, &answer)?;
    let maps = AttentionMaps::compute(&runtime.model, &context, request.target, true)?;
    let _ = events.send(EvidenceEvent::Mapped);
    let deletion = if request.deletion {
        Some(deletion_test(
            &runtime.model,
            &context,
            cancel,
            &mut |done, total| {
                let _ = events.send(EvidenceEvent::Testing { done, total });
            },
        )?)
    } else {
        None
    };
    let methods = Method::ALL
        .into_iter()
        .map(|method| method_evidence(&prompt.vision, &maps, method, &media, deletion.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Evidence {
        answer: text,
        answer_tokens: answer,
        target: request.target,
        vision: prompt.vision,
        media,
        sinks: maps.all_sinks(),
        sinks_per_layer: maps.sinks.clone(),
        vision_share: maps.vision_share.clone(),
        methods,
        deletion,
        maps,
    })
}

fn method_evidence(
    vision: &VisionTokenMap,
    maps: &AttentionMaps,
    method: Method,
    media: &[MediaFrames],
    deletion: Option<&DeletionTest>,
) -> Result<MethodEvidence, InferenceError> {
    let map = maps.map(method, true)?;
    let map_raw = maps.map(method, false)?;
    let masked = frame_totals(vision, &map);
    let raw = frame_totals(vision, &map_raw);
    let mut frames = Vec::new();
    for (m, (masked, raw)) in masked.iter().zip(&raw).enumerate() {
        for (f, (&attention, &attention_raw)) in masked.iter().zip(raw).enumerate() {
            let frame = FrameId { media: m, frame: f };
            frames.push(FrameAttention {
                frame,
                time: frame_time(media, frame),
                attention: f64::from(attention),
                attention_raw: f64::from(attention_raw),
            });
        }
    }
    // Pairs each tested frame's drop with its attention.
    let agreement = |value: fn(&FrameAttention) -> f64| {
        deletion.and_then(|d| {
            let (values, drops): (Vec<f64>, Vec<f64>) = d
                .frames
                .iter()
                .filter_map(|drop| {
                    let f = frames.iter().find(|f| f.frame == drop.frame)?;
                    Some((value(f), drop.drop))
                })
                .unzip();
            spearman(&values, &drops)
        })
    };
    Ok(MethodEvidence {
        method,
        name: method.name(),
        description: method.description(),
        faithfulness: agreement(|f| f.attention),
        faithfulness_raw: agreement(|f| f.attention_raw),
        map,
        map_raw,
        frames,
    })
}
