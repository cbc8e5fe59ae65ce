//! The ask panel's settings in the model's terms and back: a request becomes the [`Question`] a
//! worker answers (the conversation's finished turns as history, the panel's sampling and budget
//! over the checkpoint's defaults, the chosen capture layers), and the model's defaults become
//! what the panel shows.

use keye_model::budget::{Knob, VisualBudget};
use keye_model::generate::{CaptureSpec, SamplingParams, ThinkingMode};
use keye_ui::{AskRequest, BudgetSettings, SamplingSettings, ThinkingChoice};

use std::path::Path;

use crate::inference::{LoadedModel, Question, Turn};
use crate::remote::{RemoteMediaKnobs, RemoteQuestion, RemoteSampling};
use crate::video::IndexedVideo;

/// The question `request` asks of `model` about `video` (read from its frame index), after
/// `history`; capturing the
/// attention of `capture_layers` (those the decoder has; none: no capture), each head too with
/// `per_head`. The problem when the sampling settings are out of range.
pub fn question_for(
    request: &AskRequest,
    model: &LoadedModel,
    video: &IndexedVideo,
    history: Vec<Turn>,
    capture_layers: impl IntoIterator<Item = usize>,
    per_head: bool,
) -> Result<Question, String> {
    let mut sampling = model.runtime.sampling.clone();
    apply_sampling(&mut sampling, &request.sampling);
    sampling
        .validate()
        .map_err(|problem| format!("Sampling settings: {problem}"))?;
    let decoder_layers = model.runtime.model.config().text.num_hidden_layers;
    let layers: Vec<usize> = capture_layers
        .into_iter()
        .filter(|&layer| layer < decoder_layers)
        .collect();
    Ok(Question {
        media: vec![video.path().to_path_buf()],
        history,
        text: request.question.clone(),
        system: None,
        thinking: thinking_mode(request.thinking),
        sampling,
        // No layers chosen: nothing captured, no memory spent on it.
        capture: (!layers.is_empty()).then_some(CaptureSpec { layers, per_head }),
        budget: visual_budget(&request.budget),
        indexed: vec![video.clone()],
    })
}

/// The question `request` asks a server's `model` about `video`, after `history`: the panel's
/// sampling and video knobs as the user set them (the server keeps its own visual-token
/// budget), the media sent as bytes.
pub fn remote_question_for(
    request: &AskRequest,
    model: String,
    video: &Path,
    history: Vec<Turn>,
) -> RemoteQuestion {
    let settings = &request.sampling;
    RemoteQuestion {
        model,
        media: vec![video.to_path_buf()],
        history,
        text: request.question.clone(),
        system: None,
        thinking: thinking_mode(request.thinking),
        sampling: RemoteSampling {
            temperature: Some(settings.temperature),
            top_k: Some(settings.top_k),
            top_p: Some(settings.top_p),
            repetition_penalty: Some(settings.repetition_penalty),
            max_new_tokens: Some(settings.max_new_tokens),
            seed: Some(settings.seed),
        },
        media_knobs: RemoteMediaKnobs {
            fps: request.budget.fps,
            max_frames: request.budget.max_frames,
            max_pixels: request.budget.max_pixels,
        },
        send_paths: false,
    }
}

pub fn thinking_mode(choice: ThinkingChoice) -> ThinkingMode {
    match choice {
        ThinkingChoice::Auto => ThinkingMode::Auto,
        ThinkingChoice::Think => ThinkingMode::Think,
        ThinkingChoice::NoThink => ThinkingMode::NoThink,
    }
}

/// A checkpoint's sampling defaults as the panel shows them.
pub fn sampling_settings(sampling: &SamplingParams) -> SamplingSettings {
    SamplingSettings {
        temperature: sampling.temperature,
        top_k: sampling.top_k.unwrap_or(0),
        top_p: sampling.top_p,
        repetition_penalty: sampling.repetition_penalty,
        max_new_tokens: sampling.max_new_tokens,
        seed: sampling.seed,
    }
}

/// The user's settings over the model's (which keep their stop ids).
pub fn apply_sampling(sampling: &mut SamplingParams, settings: &SamplingSettings) {
    sampling.temperature = settings.temperature;
    sampling.top_k = (settings.top_k > 0).then_some(settings.top_k);
    sampling.top_p = settings.top_p;
    sampling.repetition_penalty = settings.repetition_penalty;
    sampling.max_new_tokens = settings.max_new_tokens;
    sampling.seed = settings.seed;
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

/// What the ask settings call each budget knob (a refusal in the GUI names these).
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

/// The command line's flag for each knob (a refusal in `ask` names these).
pub fn knob_flag(knob: Knob) -> String {
    knob.flag().to_owned()
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
            assert_eq!(refusal.to_string(), refusal.describe(&knob_flag));
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
