//! `eval demo`: fresh generated videos for a seed, written as MP4 files and asked about through
//! the app's own path (`inference::spawn_ask`: decoding the planned frames, the prompt, greedy
//! generation with attention capture). Reports accuracy per question kind and the attention hit
//! ratio: for the answer's content tokens, the share of their attention over the vision tokens
//! (last decoder layer, mean of heads, combined as the GUI combines selected tokens) that falls on
//! cells overlapping the named actor's box, divided by those cells' share of all vision cells
//! (1 is chance).

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use keye_model::generate::{
    CaptureSpec, GenerationEvent, Phase, SamplingParams, ThinkingMode, VisionTokenMap,
};
use keye_ui::{Aggregation, aggregate};
use serde::Serialize;

use super::{
    dataset::{scenes, video_name},
    encode::write_video,
    questions::{Kind, Question, all_questions},
    teach::{self, matches},
    world::{Scene, cell_region, overlaps},
};
use crate::inference::{AskEvent, LoadedModel, MediaFrames, Question as Ask, spawn_ask};

/// What to evaluate.
#[derive(Clone, Debug, Serialize)]
pub struct EvalOptions {
    pub count: usize,
    pub seed: u64,
    pub thinking: ThinkingMode,
    /// Also ask for HAIC descriptions (long answers; exact match is reported).
    pub describe: bool,
    pub max_new_tokens: usize,
}

/// One question's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub video: String,
    pub kind: Kind,
    pub question: String,
    pub expected: String,
    pub reply: String,
    pub correct: bool,
    /// Actors in the video: with two or more, an answer must find the one the question names.
    pub actors: usize,
    /// For answers that name one actor: the attention hit ratio of the answer's content tokens.
    pub hit_ratio: Option<f64>,
    /// For answers that name one actor: whether, on most sampled frames showing the actor, the
    /// brightest cell of the frame's heatmap (as the GUI scales each frame) lies on the actor.
    pub peak_on_actor: Option<bool>,
    /// For descriptions: whether the answer reads as a HAIC caption (haic's parser).
    pub parses_as_haic: Option<bool>,
    pub prompt_tokens: usize,
    /// From asking to the last token, decoding and preparing the video included.
    pub latency_ms: f64,
}

/// Accuracy and mean hit ratio of one kind.
#[derive(Clone, Debug, Serialize)]
pub struct KindSummary {
    pub kind: Kind,
    pub questions: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// Accuracy on the questions about videos with two or more actors, where answering about
    /// whichever actor stands out is right only by chance (`None` when there are none).
    pub crowded_accuracy: Option<f64>,
    pub crowded_questions: usize,
    pub hit_ratio: Option<f64>,
    pub hit_questions: usize,
    /// Share of the answers right whose heatmap peaks on the named actor (`peak_on_actor`).
    pub peak_on_actor: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub options: EvalOptions,
    pub kinds: Vec<KindSummary>,
    pub accuracy: f64,
    pub mean_latency_ms: f64,
    pub outcomes: Vec<Outcome>,
}

impl EvalReport {
    pub fn kind(&self, kind: Kind) -> Option<&KindSummary> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// A table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<12} {:>9} {:>9} {:>14} {:>10} {:>14}\n",
            "kind", "questions", "accuracy", "2+ actors", "hit ratio", "peak on actor"
        );
        for k in &self.kinds {
            let ratio = k
                .hit_ratio
                .map_or_else(|| "-".to_string(), |r| format!("{r:.2}"));
            let peak = k
                .peak_on_actor
                .map_or_else(|| "-".to_string(), |r| format!("{r:.2}"));
            let crowded = k.crowded_accuracy.map_or_else(
                || "-".to_string(),
                |a| format!("{a:.3} of {}", k.crowded_questions),
            );
            out.push_str(&format!(
                "{:<12} {:>9} {:>9.3} {:>14} {:>10} {:>14}\n",
                k.kind.name(),
                k.questions,
                k.accuracy,
                crowded,
                ratio,
                peak
            ));
        }
        let described: Vec<bool> = self
            .outcomes
            .iter()
            .filter_map(|o| o.parses_as_haic)
            .collect();
        if !described.is_empty() {
            out.push_str(&format!(
                "descriptions that parse as HAIC captions: {} of {}\n",
                described.iter().filter(|&&ok| ok).count(),
                described.len()
            ));
        }
        out.push_str(&format!(
            "{:<12} {:>9} {:>9.3}\nmean latency {:.0} ms per question (decode, prepare, generate)\n",
            "all",
            self.outcomes.len(),
            self.accuracy,
            self.mean_latency_ms
        ));
        out
    }
}

/// The questions evaluation asks about a scene.
pub fn eval_questions(scene: &Scene, describe: bool) -> Vec<Question> {
    all_questions(scene)
        .into_iter()
        .filter(|q| describe || q.kind != Kind::Describe)
        .collect()
}

/// Writes the evaluation videos of `options` into `dir` (skipping ones already there) and asks
/// every question; `progress(done, total)` after each question.
pub fn evaluate(
    model: &Arc<LoadedModel>,
    dir: &Path,
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> anyhow::Result<EvalReport> {
    let outcomes = for_each_question(
        dir,
        options,
        |scene| eval_questions(scene, options.describe),
        progress,
        cancel,
        |scene, path, name, question| ask_one(model, scene, path, name, question, options),
    )?;
    Ok(report(model, options, outcomes))
}

/// Writes the videos of `options` into `dir` (skipping ones already there) and runs `ask` on
/// each question `select` picks from a scene, in order; `progress(done, total)` before each
/// question and at the end, and a cancel stops between questions.
pub(super) fn for_each_question<T>(
    dir: &Path,
    options: &EvalOptions,
    select: impl Fn(&Scene) -> Vec<Question>,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
    mut ask: impl FnMut(&Scene, &Path, &str, &Question) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    std::fs::create_dir_all(dir)?;
    let scenes = scenes(options.seed, options.count);
    let total: usize = scenes.iter().map(|scene| select(scene).len()).sum();
    let mut outcomes = Vec::with_capacity(total);
    for (index, scene) in scenes.iter().enumerate() {
        let name = video_name(index);
        let path = dir.join(&name);
        if !path.is_file() {
            write_video(scene, &path)?;
        }
        for question in select(scene) {
            if cancel.load(Ordering::Relaxed) {
                anyhow::bail!("cancelled");
            }
            progress(outcomes.len(), total);
            outcomes.push(ask(scene, &path, &name, &question)?);
        }
    }
    progress(total, total);
    Ok(outcomes)
}

fn report(model: &LoadedModel, options: &EvalOptions, outcomes: Vec<Outcome>) -> EvalReport {
    let correct = outcomes.iter().filter(|o| o.correct).count();
    EvalReport {
        model: model.runtime.dir.display().to_string(),
        options: options.clone(),
        kinds: summarise(&outcomes),
        accuracy: correct as f64 / outcomes.len().max(1) as f64,
        mean_latency_ms: outcomes.iter().map(|o| o.latency_ms).sum::<f64>()
            / outcomes.len().max(1) as f64,
        outcomes,
    }
}

/// The per-kind figures of `outcomes`, in kind order.
fn summarise(outcomes: &[Outcome]) -> Vec<KindSummary> {
    let mut by_kind: BTreeMap<Kind, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_kind.entry(o.kind).or_default().push(o);
    }
    by_kind
        .into_iter()
        .map(|(kind, list)| {
            let correct = list.iter().filter(|o| o.correct).count();
            let crowded: Vec<bool> = list
                .iter()
                .filter(|o| o.actors >= 2)
                .map(|o| o.correct)
                .collect();
            let ratios: Vec<f64> = list.iter().filter_map(|o| o.hit_ratio).collect();
            let peaks: Vec<bool> = list
                .iter()
                .filter(|o| o.correct)
                .filter_map(|o| o.peak_on_actor)
                .collect();
            KindSummary {
                kind,
                questions: list.len(),
                correct,
                accuracy: correct as f64 / list.len().max(1) as f64,
                crowded_accuracy: (!crowded.is_empty())
                    .then(|| crowded.iter().filter(|&&c| c).count() as f64 / crowded.len() as f64),
                crowded_questions: crowded.len(),
                hit_ratio: (!ratios.is_empty())
                    .then(|| ratios.iter().sum::<f64>() / ratios.len() as f64),
                hit_questions: ratios.len(),
                peak_on_actor: (!peaks.is_empty())
                    .then(|| peaks.iter().filter(|&&p| p).count() as f64 / peaks.len() as f64),
            }
        })
        .collect()
}

/// Greedy decoding that stops at the model's end ids, capturing the last decoder layer.
pub fn greedy(model: &LoadedModel, max_new_tokens: usize) -> (SamplingParams, CaptureSpec) {
    let config = model.runtime.model.config();
    let sampling = SamplingParams {
        max_new_tokens,
        ..SamplingParams::greedy(config)
    };
    let last = config.text.num_hidden_layers.saturating_sub(1);
    (
        sampling,
        CaptureSpec {
            layers: vec![last],
            per_head: false,
        },
    )
}

fn ask_one(
    model: &Arc<LoadedModel>,
    scene: &Scene,
    path: &Path,
    name: &str,
    question: &Question,
    options: &EvalOptions,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let (sampling, capture) = greedy(model, options.max_new_tokens);
    let handle = spawn_ask(
        Arc::clone(model),
        Ask {
            media: vec![path.to_path_buf()],
            history: Vec::new(),
            text: question.question.clone(),
            system: None,
            thinking: options.thinking,
            sampling,
            capture: Some(capture),
            budget: model.default_budget(),
            indexed: Vec::new(),
        },
    );
    let mut prepared: Option<(VisionTokenMap, Vec<MediaFrames>)> = None;
    // The phase and text of each generated step, in order.
    let mut steps: BTreeMap<usize, (Phase, String)> = BTreeMap::new();
    let mut current = 0;
    for event in handle.events.iter() {
        match event {
            AskEvent::Prepared { vision, media, .. } => prepared = Some((vision, media)),
            AskEvent::Generation(GenerationEvent::Token { step, .. }) => current = step,
            AskEvent::Generation(GenerationEvent::Text { phase, delta }) => {
                let entry = steps.entry(current).or_insert((phase, String::new()));
                entry.0 = phase;
                entry.1.push_str(&delta);
            }
            _ => {}
        }
    }
    let output = handle.join()?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let reply = output.summary.text.clone();
    let grounding = match (&prepared, &output.attention) {
        (Some((vision, media)), Some(capture)) if teach::grounded(question.kind) => {
            let content: Vec<usize> = steps
                .iter()
                .filter(|(_, (phase, text))| *phase == Phase::Answer && is_content(text))
                .map(|(&step, _)| step)
                .collect();
            let rows = capture
                .tokens
                .iter()
                .filter(|t| content.contains(&t.step))
                .filter_map(|t| t.layers.last().map(|l| l.mean.as_slice()));
            aggregate(rows, Aggregation::Mean).map(|row| {
                let actor = question.named[0];
                (
                    hit_ratio(scene, vision, &media[0], actor, &row),
                    peaks_on_actor(scene, vision, &media[0], actor, &row),
                )
            })
        }
        _ => None,
    };
    let (hit_ratio, peak_on_actor) = grounding.unwrap_or((None, None));
    Ok(Outcome {
        video: name.to_string(),
        kind: question.kind,
        question: question.question.clone(),
        expected: question.answer.clone(),
        correct: matches(&reply, &question.answer),
        actors: scene.actors.len(),
        parses_as_haic: (question.kind == Kind::Describe).then(|| parses_as_haic(&reply)),
        reply,
        hit_ratio,
        peak_on_actor,
        prompt_tokens: output.summary.timing.prompt_tokens,
        latency_ms,
    })
}

/// Whether a describe reply reads as a HAIC caption, as the caption editor's "Draft with model"
/// reads it (the answer part used for matching drops the final full stop, which the form needs).
fn parses_as_haic(reply: &str) -> bool {
    crate::caption_draft::parse_draft_answer(reply).is_ok()
}

/// Whether a token's text is a content word (not filler, punctuation or white space).
fn is_content(text: &str) -> bool {
    let word = text.trim().to_lowercase();
    !word.is_empty()
        && word.chars().any(char::is_alphanumeric)
        && !["the", "a", "an"].contains(&word.as_str())
}

/// The source frames a decoder step covers: its own frame for Keye's encoders, every frame of the
/// chunk for Mavors.
pub fn step_frames(scene: &Scene, media: &MediaFrames, step: usize) -> Vec<usize> {
    let Some(frame) = media.frames.get(step) else {
        return Vec::new();
    };
    match media.encoder {
        Some(keye_model::video::VideoEncoderKind::Mavors) => (0..scene.frames)
            .filter(|&i| {
                let t = scene.frame_time(i);
                t >= frame.time - 1e-9 && t < frame.end - 1e-9
            })
            .chain([frame.index])
            .collect(),
        _ => vec![frame.index],
    }
}

/// Share of `row` (attention over the vision tokens, map order) on cells overlapping `actor`'s
/// box in their frame, over those cells' share of all cells. `None` when the actor is never on a
/// cell or the row has no mass.
pub fn hit_ratio(
    scene: &Scene,
    vision: &VisionTokenMap,
    media: &MediaFrames,
    actor: usize,
    row: &[f32],
) -> Option<f64> {
    let total: f64 = row.iter().map(|&w| f64::from(w)).sum();
    if total <= 0.0 || row.len() != vision.len() {
        return None;
    }
    let (mut hit, mut cells) = (0.0, 0usize);
    for (r, &w) in vision.refs.iter().zip(row) {
        let (rows, cols) = vision.media[r.media].frames[r.frame];
        let region = cell_region(r.row, r.col, rows, cols, scene.width, scene.height);
        let on = step_frames(scene, media, r.frame).into_iter().any(|f| {
            scene
                .box_at_frame(actor, f)
                .is_some_and(|b| overlaps(region, b))
        });
        if on {
            hit += f64::from(w);
            cells += 1;
        }
    }
    (cells > 0).then(|| (hit / total) / (cells as f64 / vision.len() as f64))
}

/// Whether the brightest cell of `row` (attention over the vision tokens, map order) is on
/// `actor` on more than half of the first media's sampled frames that show it. "On" is the hit
/// ratio's test, the cell overlapping the actor's box, here at the step's first source frame (for
/// Mavors a chunk's first frame; the hit ratio takes any frame of the chunk). The GUI scales each
/// frame's map to its own brightest cell, and the cells an actor straddles draw nearly equal
/// attention, so asking for the cell's centre inside the box would pick among them by chance.
/// `None` when no sampled frame shows the actor.
pub fn peaks_on_actor(
    scene: &Scene,
    vision: &VisionTokenMap,
    media: &MediaFrames,
    actor: usize,
    row: &[f32],
) -> Option<bool> {
    if row.len() != vision.len() {
        return None;
    }
    let (mut on, mut shown) = (0usize, 0usize);
    for (frame, &(rows, cols)) in vision.media.first()?.frames.iter().enumerate() {
        let Some(actor_box) = media
            .frames
            .get(frame)
            .and_then(|source| scene.box_at_frame(actor, source.index))
        else {
            continue;
        };
        let brightest = vision
            .refs
            .iter()
            .zip(row)
            .filter(|(r, _)| r.media == 0 && r.frame == frame)
            .max_by(|a, b| a.1.total_cmp(b.1));
        let Some((cell, _)) = brightest else { continue };
        shown += 1;
        let region = cell_region(cell.row, cell.col, rows, cols, scene.width, scene.height);
        if overlaps(region, actor_box) {
            on += 1;
        }
    }
    (shown > 0).then_some(on * 2 > shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keye_model::generate::{MediaGrid, MediaKind};

    use crate::inference::FrameRef;

    fn outcome(video: &str, kind: Kind, actors: usize, correct: bool) -> Outcome {
        Outcome {
            video: video.into(),
            kind,
            question: String::new(),
            expected: String::new(),
            reply: String::new(),
            correct,
            actors,
            hit_ratio: None,
            peak_on_actor: None,
            parses_as_haic: None,
            prompt_tokens: 0,
            latency_ms: 0.0,
        }
    }

    /// A model that answers about whichever actor stands out is right on one-actor videos and
    /// by chance on the others; the crowded figure shows it where the overall one hides it.
    #[test]
    fn crowded_accuracy_counts_only_videos_with_two_actors_or_more() {
        let outcomes = [
            outcome("a", Kind::Colour, 1, true),
            outcome("a", Kind::Colour, 1, true),
            outcome("b", Kind::Colour, 3, true),
            outcome("b", Kind::Colour, 3, false),
            outcome("b", Kind::Colour, 3, false),
            outcome("b", Kind::Shape, 3, false),
            outcome("a", Kind::Count, 1, true),
        ];
        let kinds = summarise(&outcomes);
        let colour = kinds.iter().find(|k| k.kind == Kind::Colour).unwrap();
        assert_eq!((colour.correct, colour.questions), (3, 5));
        assert_eq!(colour.crowded_questions, 3);
        assert_eq!(colour.crowded_accuracy, Some(1.0 / 3.0));
        let shape = kinds.iter().find(|k| k.kind == Kind::Shape).unwrap();
        assert_eq!(shape.crowded_accuracy, Some(0.0));
        let count = kinds.iter().find(|k| k.kind == Kind::Count).unwrap();
        assert_eq!((count.crowded_accuracy, count.crowded_questions), (None, 0));
    }

    /// Two sampled frames of a 4 x 4 grid over the showcase scene, at source frames 0 and 20.
    fn two_frames(scene: &Scene) -> (VisionTokenMap, MediaFrames) {
        let refs: Vec<_> = (0..2)
            .flat_map(|frame| {
                (0..16).map(move |cell| keye_model::media::VisionTokenRef {
                    media: 0,
                    frame,
                    row: cell / 4,
                    col: cell % 4,
                })
            })
            .collect();
        let vision = VisionTokenMap {
            media: vec![MediaGrid {
                kind: MediaKind::Video,
                frames: vec![(4, 4), (4, 4)],
            }],
            positions: (0..refs.len()).collect(),
            refs,
        };
        let frame = |index: usize| FrameRef {
            index,
            time: scene.frame_time(index),
            end: scene.frame_time(index + 1),
        };
        let media = MediaFrames {
            path: "showcase.mp4".into(),
            encoder: None,
            frames: vec![frame(0), frame(20)],
        };
        (vision, media)
    }

    /// The cell of the 4 x 4 grid that holds `actor`'s box centre at `frame`, and one that is
    /// nowhere near it.
    fn on_and_off(scene: &Scene, actor: usize, frame: usize) -> (usize, usize) {
        let [x0, y0, x1, y1] = scene.box_at_frame(actor, frame).unwrap();
        let col = (f64::from(x0 + x1) / 2.0 / f64::from(scene.width) * 4.0) as usize;
        let row = (f64::from(y0 + y1) / 2.0 / f64::from(scene.height) * 4.0) as usize;
        let far = (if row < 2 { 3 } else { 0 }) * 4 + if col < 2 { 3 } else { 0 };
        assert!(!overlaps(
            cell_region(far / 4, far % 4, 4, 4, scene.width, scene.height),
            [x0, y0, x1, y1]
        ));
        (row * 4 + col, far)
    }

    #[test]
    fn a_description_in_the_caption_form_parses_in_every_thinking_mode() {
        let describe = all_questions(&Scene::showcase())
            .into_iter()
            .find(|q| q.kind == Kind::Describe)
            .unwrap();
        for mode in [
            ThinkingMode::NoThink,
            ThinkingMode::Think,
            ThinkingMode::Auto,
        ] {
            let reply = teach::reply(&describe, "At 0.5 s the red square is at the left.", mode);
            assert!(parses_as_haic(&reply.text), "{mode:?}: {}", reply.text);
        }
        assert!(!parses_as_haic("A red square moves."));
    }

    #[test]
    fn the_peak_counts_on_the_actor_where_the_brightest_cell_overlaps_it_on_most_frames() {
        let scene = Scene::showcase();
        let (vision, media) = two_frames(&scene);
        let (on_0, off_0) = on_and_off(&scene, 0, 0);
        let (on_20, off_20) = on_and_off(&scene, 0, 20);
        let row = |peaks: [usize; 2]| {
            let mut row = vec![0.01f32; 32];
            row[peaks[0]] = 0.5;
            row[16 + peaks[1]] = 0.2;
            row
        };
        let peaks = |p| peaks_on_actor(&scene, &vision, &media, 0, &row(p));
        assert_eq!(peaks([on_0, on_20]), Some(true));
        // One frame of two is not most of them, however bright that frame is.
        assert_eq!(peaks([on_0, off_20]), Some(false));
        assert_eq!(peaks([off_0, off_20]), Some(false));
        // Frames are matched to their own source frame: the square has moved by frame 20.
        assert_ne!(on_0, on_20, "the showcase square moves right");
        assert_eq!(peaks([on_20, on_0]), Some(false));
        // A row that is not this prompt's gives no verdict.
        assert_eq!(peaks_on_actor(&scene, &vision, &media, 0, &[0.1; 3]), None);
    }
}
