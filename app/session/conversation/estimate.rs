//! What the next question will cost, worked out on a worker before it is sent: the prompt's
//! tokens and the peak memory on the loaded model (planned on the open video's frame index, the
//! player's, without reading the file), and the refusal when the budget or free memory would not hold it.
//! Recomputed when the model, video, budget, answer length or the question's length class
//! change, a moment after the last change (not while a knob is dragged).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use keye_ui::{BudgetSettings, EstimateView, PromptCost};

use super::request::{knob_label, visual_budget};
use crate::inference::LoadedModel;
use crate::video::IndexedVideo;

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

/// What the app hands in every frame (cheap to gather).
pub struct Inputs<'a> {
    pub model: Option<&'a Arc<LoadedModel>>,
    pub video: Option<&'a IndexedVideo>,
    pub budget: BudgetSettings,
    pub max_new_tokens: usize,
    /// Earlier turns that go into the prompt, and the question box's length in characters.
    pub turns: usize,
    pub question_chars: usize,
}

type Outcome = Result<PromptCost, String>;

#[derive(Default)]
pub struct Estimator {
    /// The inputs wanted now (with the video they name), and when they last changed.
    wanted: Option<(EstimateKey, Instant)>,
    running: Option<(EstimateKey, Receiver<Outcome>)>,
    /// The inputs the view's result is for.
    shown_for: Option<EstimateKey>,
    pub view: EstimateView,
}

impl Estimator {
    /// Follows the inputs and collects a finished estimate; cheap when nothing changed.
    /// `prompt_text` (earlier turns and the question, as the prompt holds them) is only built
    /// when an estimate starts; `wake` is called when a worker finishes. Without a model or a
    /// video there is nothing to estimate. Returns when to look again for the inputs to settle.
    pub fn update(
        &mut self,
        inputs: Inputs<'_>,
        prompt_text: impl FnOnce() -> String,
        wake: impl Fn() + Send + 'static,
    ) -> Option<Duration> {
        let (Some(model), Some(video)) = (inputs.model, inputs.video) else {
            *self = Self::default();
            return None;
        };
        let key = EstimateKey {
            model: Arc::as_ptr(model) as usize,
            video: video.path().to_path_buf(),
            budget: inputs.budget,
            max_new_tokens: inputs.max_new_tokens,
            text_class: (inputs.turns, inputs.question_chars / CHARS_PER_CLASS),
        };
        if self.wanted.as_ref().map(|(k, _)| k) != Some(&key) {
            self.wanted = Some((key.clone(), Instant::now()));
        }
        self.collect();
        let Some((wanted, changed)) = &self.wanted else {
            return None;
        };
        self.view.computing = self.shown_for.as_ref() != Some(wanted);
        if !self.view.computing {
            return None;
        }
        let settled = changed.elapsed() >= SETTLE;
        if self.running.is_none() && settled {
            let (sender, outcome) = crossbeam_channel::bounded(1);
            let (model, video) = (Arc::clone(model), video.clone());
            let job = wanted.clone();
            let question = prompt_text();
            std::thread::spawn(move || {
                let _ = sender.send(estimate(&model, &video, &job, &question));
                wake();
            });
            self.running = Some((wanted.clone(), outcome));
        }
        // Look again once the inputs settle; the worker wakes the app when it is done.
        (!settled).then_some(SETTLE)
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

fn estimate(
    model: &LoadedModel,
    video: &IndexedVideo,
    key: &EstimateKey,
    question: &str,
) -> Outcome {
    let (prompt, memory, refusal) = model
        .estimate_question(
            video,
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
