//! `eval demo --evidence`: the evidence maps and the deletion test checked against the demo
//! world's ground truth. For every grounded question of fresh videos it runs the evidence job
//! (the answer greedy, every aggregation's map, the deletion test) and reports
//! - for each aggregation, with and without sink masking, the hit ratio on the named actor (the
//!   share of the map on cells overlapping the actor's box over those cells' share of all cells;
//!   1 is chance), as `eval demo` reports it for raw attention;
//! - for questions about an event (a motion, a turn, a touch, an order of actions), how often the
//!   top frame of the deletion test (and of each aggregation) is a frame where the event happens,
//!   against the share of such frames (chance);
//! - each aggregation's mean faithfulness (Spearman agreement with the deletion ranking).

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use keye_model::{
    evidence::{FrameId, Method, Target},
    generate::SamplingParams,
};
use serde::Serialize;

use super::{
    eval::{EvalOptions, eval_questions, for_each_question, hit_ratio},
    questions::{Kind, Question},
    teach::{self, matches},
    world::{Action, Scene},
};
use crate::{
    evidence::{Evidence, EvidenceRequest, spawn_evidence},
    inference::{LoadedModel, MediaFrames, Question as Ask},
};

/// One question's evidence checked against the ground truth.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceOutcome {
    pub video: String,
    pub kind: Kind,
    pub question: String,
    pub reply: String,
    pub correct: bool,
    /// `[method][masked, raw]` hit ratios (methods in [`Method::ALL`] order).
    pub hit_ratios: Vec<[Option<f64>; 2]>,
    /// Per method, the faithfulness figure (sinks masked).
    pub faithfulness: Vec<Option<f64>>,
    /// Frames (sampled-frame indices) where the asked-about event happens; empty when the question
    /// is not about an event.
    pub event_frames: Vec<usize>,
    pub frames: usize,
    pub deletion_top_frame: Option<usize>,
    /// Per method, its top frame (sinks masked).
    pub attention_top_frames: Vec<Option<usize>>,
    pub sinks: usize,
}

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct MethodSummary {
    pub name: &'static str,
    pub hit_ratio_masked: Option<f64>,
    pub hit_ratio_raw: Option<f64>,
    /// Share of event questions whose top frame (sinks masked) is an event frame.
    pub top_frame_on_event: Option<f64>,
    pub faithfulness: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvidenceReport {
    pub model: String,
    pub options: EvalOptions,
    pub methods: Vec<MethodSummary>,
    /// Share of event questions whose deletion top frame is an event frame.
    pub deletion_top_frame_on_event: Option<f64>,
    /// Mean share of event frames among the sampled frames (what a random pick hits).
    pub chance_on_event: Option<f64>,
    pub event_questions: usize,
    pub questions: usize,
    pub mean_sinks: f64,
    pub outcomes: Vec<EvidenceOutcome>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn figure(v: Option<f64>, signed: bool) -> String {
    match v {
        Some(v) if signed => format!("{v:+.3}"),
        Some(v) => format!("{v:.3}"),
        None => "-".into(),
    }
}

impl EvidenceReport {
    /// A markdown table (it goes into the README as printed).
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| aggregation | hit ratio, sinks masked | hit ratio, raw | top frame on the event | faithfulness |\n\
             |---|---|---|---|---|\n",
        );
        for m in &self.methods {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                m.name,
                figure(m.hit_ratio_masked, false),
                figure(m.hit_ratio_raw, false),
                figure(m.top_frame_on_event, false),
                figure(m.faithfulness, true),
            ));
        }
        out.push_str(&format!(
            "| deletion test | | | {} | |\n| chance | 1 | 1 | {} | 0 |\n",
            figure(self.deletion_top_frame_on_event, false),
            figure(self.chance_on_event, false),
        ));
        out.push_str(&format!(
            "\n{} grounded questions ({} about an event); {:.1} sink tokens per answer on average\n",
            self.questions, self.event_questions, self.mean_sinks
        ));
        out
    }
}

/// Time spans of the event a question asks about: the named actors' actions for questions about
/// when things happen, the turn for "what colour does it turn"; none for still attributes.
pub fn event_spans(scene: &Scene, question: &Question) -> Vec<(f64, f64)> {
    let actions = question
        .named
        .iter()
        .flat_map(|&a| scene.actors[a].actions.iter());
    match question.kind {
        kind if kind.needs_moments() => actions
            .filter(|t| t.action != Action::StayStill)
            .map(|t| (t.start, t.end))
            .collect(),
        Kind::Colour => actions
            .filter(|t| matches!(t.action, Action::Turn { .. }))
            .map(|t| (t.start, t.end))
            .collect(),
        _ => Vec::new(),
    }
}

/// Sampled frames (or chunks) of `media` whose time span meets one of `spans`.
fn frames_meeting(media: &MediaFrames, spans: &[(f64, f64)]) -> Vec<usize> {
    media
        .frames
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            spans
                .iter()
                .any(|&(start, end)| start < f.end && end >= f.time)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Runs the evidence job on every grounded question of `options`' videos (written into `dir`).
pub fn evaluate_evidence(
    model: &Arc<LoadedModel>,
    dir: &Path,
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> anyhow::Result<EvidenceReport> {
    let grounded = |scene: &Scene| -> Vec<Question> {
        eval_questions(scene, false)
            .into_iter()
            .filter(|q| teach::grounded(q.kind) && !q.named.is_empty())
            .collect()
    };
    let outcomes = for_each_question(
        dir,
        options,
        grounded,
        progress,
        cancel,
        |scene, path, name, question| {
            let evidence = explain(model, path, question, options, cancel)?;
            Ok(outcome(scene, name, question, &evidence))
        },
    )?;
    Ok(summarise(model, options, outcomes))
}

fn explain(
    model: &Arc<LoadedModel>,
    path: &Path,
    question: &Question,
    options: &EvalOptions,
    cancel: &AtomicBool,
) -> anyhow::Result<Evidence> {
    let config = model.runtime.model.config();
    let handle = spawn_evidence(
        Arc::clone(model),
        EvidenceRequest {
            question: Ask {
                media: vec![path.to_path_buf()],
                history: Vec::new(),
                text: question.question.clone(),
                system: None,
                thinking: options.thinking,
                sampling: SamplingParams {
                    max_new_tokens: options.max_new_tokens,
                    ..SamplingParams::greedy(config)
                },
                capture: None,
                budget: model.default_budget(),
                indexed: Vec::new(),
            },
            answer: None,
            target: Target::Answer,
            deletion: true,
        },
    );
    // Drain the events (progress within one question is not shown); cancel passes through.
    for _ in handle.events.iter() {
        if cancel.load(Ordering::Relaxed) {
            handle.cancel();
        }
    }
    Ok(handle.join()?)
}

fn outcome(
    scene: &Scene,
    video: &str,
    question: &Question,
    evidence: &Evidence,
) -> EvidenceOutcome {
    let media = &evidence.media[0];
    let actor = question.named[0];
    let hit_ratios = evidence
        .methods
        .iter()
        .map(|m| {
            [&m.map, &m.map_raw].map(|map| hit_ratio(scene, &evidence.vision, media, actor, map))
        })
        .collect();
    let top = |frames: Vec<(FrameId, f64)>| {
        frames
            .into_iter()
            .filter(|(f, _)| f.media == 0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(f, _)| f.frame)
    };
    EvidenceOutcome {
        video: video.to_string(),
        kind: question.kind,
        question: question.question.clone(),
        correct: matches(&evidence.answer, &question.answer),
        reply: evidence.answer.clone(),
        hit_ratios,
        faithfulness: evidence.methods.iter().map(|m| m.faithfulness).collect(),
        event_frames: frames_meeting(media, &event_spans(scene, question)),
        frames: media.frames.len(),
        deletion_top_frame: evidence
            .deletion
            .as_ref()
            .and_then(|d| top(d.frames.iter().map(|f| (f.frame, f.drop)).collect())),
        attention_top_frames: evidence
            .methods
            .iter()
            .map(|m| top(m.frames.iter().map(|f| (f.frame, f.attention)).collect()))
            .collect(),
        sinks: evidence.sinks.len(),
    }
}

fn summarise(
    model: &LoadedModel,
    options: &EvalOptions,
    outcomes: Vec<EvidenceOutcome>,
) -> EvidenceReport {
    let events: Vec<&EvidenceOutcome> = outcomes
        .iter()
        .filter(|o| !o.event_frames.is_empty())
        .collect();
    let on_event = |pick: &dyn Fn(&EvidenceOutcome) -> Option<usize>| {
        mean(events.iter().map(|o| {
            let hit = pick(o).is_some_and(|f| o.event_frames.contains(&f));
            if hit { 1.0 } else { 0.0 }
        }))
    };
    let methods = Method::ALL
        .iter()
        .enumerate()
        .map(|(i, method)| MethodSummary {
            name: method.name(),
            hit_ratio_masked: mean(outcomes.iter().filter_map(|o| o.hit_ratios[i][0])),
            hit_ratio_raw: mean(outcomes.iter().filter_map(|o| o.hit_ratios[i][1])),
            top_frame_on_event: on_event(&|o| o.attention_top_frames[i]),
            faithfulness: mean(outcomes.iter().filter_map(|o| o.faithfulness[i])),
        })
        .collect();
    EvidenceReport {
        model: model.runtime.dir.display().to_string(),
        options: options.clone(),
        methods,
        deletion_top_frame_on_event: on_event(&|o| o.deletion_top_frame),
        chance_on_event: mean(
            events
                .iter()
                .map(|o| o.event_frames.len() as f64 / o.frames.max(1) as f64),
        ),
        event_questions: events.len(),
        questions: outcomes.len(),
        mean_sinks: mean(outcomes.iter().map(|o| o.sinks as f64)).unwrap_or(0.0),
        outcomes,
    }
}
