//! "Draft with model": the loaded model describes the open video in HAIC form for an empty
//! record; the answer is parsed here and handed to the editor, which shows it as a diff.

use std::path::Path;
use std::sync::Arc;

use haic::Structure;
use keye_model::generate::{GenerationEvent, Phase as TextPhase, ThinkingMode};
use keye_ui::{DraftAvailability, Toasts};

use super::CaptionFile;
// The prompt and the reading of the answer are shared with `keye-studio caption`.
pub(super) use crate::caption_draft::{DRAFT_MAX_NEW_TOKENS, draft_prompt, parse_draft_answer};
use crate::inference::{AskEvent, AskHandle, LoadedModel, Question, spawn_ask};

/// Why "Draft with model" is off until a model is loaded in the app.
pub const NO_DRAFT_MODEL: &str = "Drafting needs a loaded Keye-VL model: open a checkpoint folder \
     (Model > Open checkpoint folder…, or start with --model DIR)";

/// A model writing a HAIC draft of the open video for one record.
pub(super) struct DraftJob {
    record: usize,
    handle: AskHandle,
    answer: String,
}

/// A finished draft: the record it is for and the caption the model wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub record: usize,
    pub structure: Structure,
}

impl CaptionFile {
    /// The model "Draft with model" asks (`None` when none is loaded: the button says how to
    /// load one).
    pub fn set_model(&mut self, model: Option<Arc<LoadedModel>>) {
        self.model = model;
    }

    /// Whether a draft is being written.
    pub fn is_drafting(&self) -> bool {
        self.draft_job.is_some()
    }

    /// Stops the draft being written (nothing is shown).
    pub fn stop_draft(&mut self) {
        if let Some(job) = self.draft_job.take() {
            job.handle.cancel();
        }
    }

    /// Whether "Draft with model" can run, with `video` the open video.
    pub fn draft_availability(&self, video: Option<&Path>) -> DraftAvailability {
        if self.draft_job.is_some() {
            DraftAvailability::Running
        } else if self.model.is_none() {
            DraftAvailability::Unavailable(NO_DRAFT_MODEL.to_owned())
        } else if video.is_none() {
            DraftAvailability::Unavailable(
                "Open the record's video first: the model describes the open video".to_owned(),
            )
        } else {
            DraftAvailability::Ready
        }
    }

    /// Asks the model for a HAIC description of `video`, for `record`.
    pub fn start_draft(&mut self, record: usize, video: &Path, toasts: &mut Toasts) {
        let Some(model) = &self.model else {
            toasts.error(NO_DRAFT_MODEL);
            return;
        };
        let mut sampling = model.runtime.sampling.clone();
        sampling.max_new_tokens = sampling.max_new_tokens.min(self.draft_max_new_tokens);
        let question = Question {
            media: vec![video.to_path_buf()],
            history: Vec::new(),
            text: draft_prompt(),
            system: None,
            thinking: ThinkingMode::NoThink,
            sampling,
            capture: None,
            budget: model.default_budget(),
            indexed: Vec::new(),
        };
        self.draft_job = Some(DraftJob {
            record,
            handle: spawn_ask(Arc::clone(model), question),
            answer: String::new(),
        });
    }

    /// Collects the draft's answer; when it is done, parses it. Returns the draft to show, once;
    /// a failure or an answer that does not parse is told instead.
    pub fn poll_draft(&mut self, toasts: &mut Toasts) -> Option<Draft> {
        let job = self.draft_job.as_mut()?;
        let mut outcome = None;
        loop {
            match job.handle.events.try_recv() {
                Ok(AskEvent::Generation(GenerationEvent::Text {
                    phase: TextPhase::Answer,
                    delta,
                })) => job.answer.push_str(&delta),
                Ok(AskEvent::Generation(GenerationEvent::Done(_))) => outcome = Some(Ok(())),
                Ok(AskEvent::Generation(GenerationEvent::Error { message }))
                | Ok(AskEvent::Failed(message)) => outcome = Some(Err(message)),
                Ok(AskEvent::Refused(refusal)) => outcome = Some(Err(refusal.to_string())),
                Ok(_) => {}
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    outcome.get_or_insert(Err("the model stopped without an answer".to_owned()));
                    break;
                }
            }
        }
        let outcome = outcome?;
        let record = job.record;
        let answer = std::mem::take(&mut job.answer);
        self.draft_job = None;
        match outcome.and_then(|()| parse_draft_answer(&answer)) {
            Ok(structure) => Some(Draft { record, structure }),
            Err(error) => {
                toasts.error(format!("Draft for caption record #{record}: {error}"));
                None
            }
        }
    }
}
