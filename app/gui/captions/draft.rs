//! "Draft with model": the loaded model describes the open video in HAIC form for an empty
//! record, and the answer is shown as a diff in the editor.

use std::path::Path;
use std::sync::Arc;

use keye_model::generate::{GenerationEvent, Phase as TextPhase, ThinkingMode};
use keye_ui::{DraftAvailability, Toasts};

use super::{CaptionSession, OpenVideo};
// The prompt and the reading of the answer are shared with `keye-studio caption`.
pub(super) use crate::caption_draft::{DRAFT_MAX_NEW_TOKENS, draft_prompt, parse_draft_answer};
use crate::inference::{AskEvent, AskHandle, LoadedModel, Question, spawn_ask};

/// Why "Draft with model" is off until a model is loaded in the app.
pub const NO_DRAFT_MODEL: &str = "Drafting needs a loaded Keye-VL model: open a checkpoint folder \
     (Model > Open checkpoint folder…, or start with --model DIR)";

/// A model writing a HAIC draft of the open video for one record.
pub(super) struct DraftJob {
    record: usize,
    pub(super) handle: AskHandle,
    answer: String,
}

impl CaptionSession {
    /// The model "Draft with model" asks (`None` when none is loaded: the button says how to
    /// load one).
    pub fn set_model(&mut self, model: Option<Arc<LoadedModel>>) {
        self.model = model;
    }

    pub(super) fn draft_availability(&self, video: Option<&OpenVideo<'_>>) -> DraftAvailability {
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
    pub(super) fn start_draft(&mut self, record: usize, video: &Path, toasts: &mut Toasts) {
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
        };
        self.draft_job = Some(DraftJob {
            record,
            handle: spawn_ask(Arc::clone(model), question),
            answer: String::new(),
        });
    }

    /// Collects the draft's answer; when it is done, parses it and shows the diff.
    pub(super) fn poll_draft(&mut self, toasts: &mut Toasts) {
        let Some(job) = &mut self.draft_job else {
            return;
        };
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
        let Some(outcome) = outcome else {
            return;
        };
        let record = job.record;
        let answer = std::mem::take(&mut job.answer);
        self.draft_job = None;
        let shown = outcome.and_then(|()| {
            let structure = parse_draft_answer(&answer)?;
            self.editor.show_draft(record, structure);
            Ok(())
        });
        if let Err(error) = shown {
            toasts.error(format!("Draft for caption record #{record}: {error}"));
        }
    }
}
