//! What the next question will cost, worked out on a worker before it is sent: the prompt's
//! tokens and the peak memory on the loaded model ([`LoadedModel::estimate_question`] opens the
//! video's frame index, so it never runs on the UI thread), and the refusal when the budget or
//! free memory would not hold it. Recomputed when the model, video, budget, answer length or the
//! question's length class change, a moment after the last change (not while a knob is dragged).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use eframe::egui;
use keye_model::budget::{Knob, VisualBudget};
use keye_ui::{BudgetSettings, EstimateView, PromptCost};

use crate::inference::LoadedModel;

/// How long the inputs must stay unchanged before an estimate starts.
const SETTLE: Duration = Duration::from_millis(250);
/// Characters of question text per length class: typing re-estimates every few words.
const CHARS_PER_CLASS: usize = 32;

/// Everything an estimate depends on; a change starts a new one.
#[derive(Clone, Debug, PartialEq)]
struct EstimateKey {
    /// The loaded model's identity (a reload is another model).
    model: usize,
    video: PathBuf,
    budget: BudgetSettings,
    max_new_tokens: usize,
    /// Earlier turns and the question box's length class.
    text_class: (usize, usize),
}

/// What the controller hands in every frame (cheap to gather).
pub struct Inputs<'a> {
    pub model: Option<&'a Arc<LoadedModel>>,
    pub video: Option<&'a Path>,
    pub budget: BudgetSettings,
    pub max_new_tokens: usize,
    /// Earlier turns that go into the prompt, and the question box's length in characters.
    pub turns: usize,
    pub question_chars: usize,
}

type Outcome = Result<PromptCost, String>;

#[derive(Default)]
pub struct Estimator {
    /// The inputs wanted now, and when they last changed.
    wanted: Option<(EstimateKey, Instant)>,
    running: Option<(EstimateKey, Receiver<Outcome>)>,
    /// The inputs the view's result is for.
    shown_for: Option<EstimateKey>,
    pub view: EstimateView,
}

impl Estimator {
    /// Follows the inputs and collects a finished estimate; cheap when nothing changed.
    /// `prompt_text` (earlier turns and the question, as the prompt holds them) is only built
    /// when an estimate starts. Without a model or a video there is nothing to estimate.
    pub fn update(
        &mut self,
        ctx: &egui::Context,
        inputs: Inputs<'_>,
        prompt_text: impl FnOnce() -> String,
    ) {
        let (Some(model), Some(video)) = (inputs.model, inputs.video) else {
            *self = Self::default();
            return;
        };
        let key = EstimateKey {
            model: Arc::as_ptr(model) as usize,
            video: video.to_path_buf(),
            budget: inputs.budget,
            max_new_tokens: inputs.max_new_tokens,
            text_class: (inputs.turns, inputs.question_chars / CHARS_PER_CLASS),
        };
        if self.wanted.as_ref().map(|(k, _)| k) != Some(&key) {
            self.wanted = Some((key.clone(), Instant::now()));
        }
        self.collect();
        let Some((wanted, changed)) = &self.wanted else {
            return;
        };
        self.view.computing = self.shown_for.as_ref() != Some(wanted);
        if !self.view.computing {
            return;
        }
        let settled = changed.elapsed() >= SETTLE;
        if self.running.is_none() && settled {
            let (sender, outcome) = crossbeam_channel::bounded(1);
            let (model, wake) = (Arc::clone(model), ctx.clone());
            let job = wanted.clone();
            let question = prompt_text();
            std::thread::spawn(move || {
                let _ = sender.send(estimate(&model, &job, &question));
                wake.request_repaint();
            });
            self.running = Some((wanted.clone(), outcome));
        }
        // Wake to start once the inputs settle; the worker wakes the UI when it is done.
        if !settled {
            ctx.request_repaint_after(SETTLE);
        }
    }

    /// Takes a finished estimate: shown even when the inputs changed since (with the spinner
    /// saying a newer one is coming), so the panel never goes blank while a knob moves.
    fn collect(&mut self) {
        let Some((key, outcome)) = &self.running else {
            return;
        };
        let result = match outcome.try_recv() {
            Ok(result) => result,
            Err(crossbeam_channel::TryRecvError::Empty) => return,
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                Err("the estimate worker stopped".to_owned())
            }
        };
        self.shown_for = Some(key.clone());
        self.running = None;
        match result {
            Ok(cost) => {
                self.view.cost = Some(cost);
                self.view.error = None;
            }
            Err(error) => {
                self.view.cost = None;
                self.view.error = Some(error);
            }
        }
    }
}

fn estimate(model: &LoadedModel, key: &EstimateKey, question: &str) -> Outcome {
    let (prompt, memory, refusal) = model
        .estimate_question(
            &key.video,
            question,
            &visual_budget(&key.budget),
            key.max_new_tokens,
        )
        .map_err(|e| e.to_string())?;
    Ok(PromptCost {
        prompt_tokens: prompt.shape.prompt_tokens,
        visual_tokens: prompt.visual.tokens,
        exact: prompt.visual.exact,
        steps: prompt.visual.steps,
        peak_bytes: memory.peak,
        weights_bytes: memory.weights,
        kv_cache_bytes: memory.kv_cache,
        vision_bytes: memory.vision,
        decoder_bytes: memory.decoder,
        refusal: refusal.map(|refusal| refusal.describe(&knob_label)),
    })
}

/// The panel's budget in the model crate's terms.
pub fn visual_budget(budget: &BudgetSettings) -> VisualBudget {
    VisualBudget {
        max_frames: budget.max_frames,
        fps: budget.fps,
        max_pixels: budget.max_pixels,
        max_visual_tokens: budget.max_visual_tokens,
    }
}

/// A model budget as the panel shows it.
pub fn budget_settings(budget: VisualBudget) -> BudgetSettings {
    BudgetSettings {
        max_frames: budget.max_frames,
        fps: budget.fps,
        max_pixels: budget.max_pixels,
        max_visual_tokens: budget.max_visual_tokens,
    }
}

/// What the ask settings call each budget knob.
pub fn knob_label(knob: Knob) -> String {
    match knob {
        Knob::Fps => "Frames per second",
        Knob::MaxFrames => "Max frames",
        Knob::MaxPixels => "Max pixels per frame",
        Knob::MaxVisualTokens => "Max visual tokens",
        Knob::MaxNewTokens => "Max new tokens (Sampling)",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_panel_knobs_instead_of_flags() {
        use keye_model::budget::{MemoryEstimate, Refusal};
        let over = Refusal::OverBudget {
            tokens: 9,
            limit: 1,
        };
        let memory = Refusal::OutOfMemory {
            estimate: MemoryEstimate {
                weights: 0,
                kv_cache: 1 << 30,
                vision: 0,
                decoder: 0,
                kernel_copies: 0,
                peak: 1 << 30,
            },
            free: 1 << 20,
        };
        for (refusal, wanted) in [
            (
                &over,
                &[
                    "(Frames per second, Max frames)",
                    "(Max pixels per frame)",
                    "raise Max visual tokens",
                ][..],
            ),
            (&memory, &["lower Max new tokens (Sampling)"][..]),
        ] {
            let text = refusal.describe(&knob_label);
            assert!(!text.contains("--"), "{text}");
            for knob in wanted {
                assert!(text.contains(knob), "{knob}: {text}");
            }
            // The command line's words stay the default.
            assert!(refusal.to_string().contains("--"));
        }
    }

    #[test]
    fn budgets_convert_both_ways_unchanged() {
        let budget = VisualBudget {
            max_frames: Some(40),
            fps: Some(1.5),
            max_pixels: None,
            max_visual_tokens: 4096,
        };
        assert_eq!(visual_budget(&budget_settings(budget)), budget);
    }
}
