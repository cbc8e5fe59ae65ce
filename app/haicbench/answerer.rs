//! Who answers a prompt: a local checkpoint (the app's inference worker) or an OpenAI-compatible
//! server (the app's remote client). Greedy decoding, no thinking, so a run is repeatable.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use keye_model::generate::{SamplingParams, ThinkingMode};

use crate::{
    inference::{AskHandle, InferenceError, LoadedModel, Question, spawn_ask},
    remote::{RemoteQuestion, RemoteSampling, RemoteServer, spawn_remote_ask},
};

/// Long enough for a letter or an option's text with some words around it.
pub const CHOICE_MAX_NEW_TOKENS: usize = 48;

/// A model that answers prompts.
#[derive(Clone)]
pub enum Answerer {
    Local(Arc<LoadedModel>),
    Remote {
        server: RemoteServer,
        /// The served model asked.
        model: String,
        /// What the user typed, for reports.
        url: String,
    },
}

impl std::fmt::Debug for Answerer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Answerer {
    /// The checkpoint folder, or the server's address and model.
    pub fn name(&self) -> String {
        match self {
            Answerer::Local(model) => model.runtime.dir.display().to_string(),
            Answerer::Remote { model, url, .. } => format!("{url} ({model})"),
        }
    }

    /// Asks `text` about `media` (none for a text-only prompt) and waits for the whole reply.
    /// Setting `cancel` stops generation before the next token.
    pub fn ask(
        &self,
        media: Option<&Path>,
        text: &str,
        max_new_tokens: usize,
        cancel: &AtomicBool,
    ) -> Result<String, InferenceError> {
        let media: Vec<PathBuf> = media.into_iter().map(Path::to_path_buf).collect();
        let handle: AskHandle = match self {
            Answerer::Local(model) => spawn_ask(
                Arc::clone(model),
                Question {
                    media,
                    history: Vec::new(),
                    text: text.to_string(),
                    system: None,
                    thinking: ThinkingMode::NoThink,
                    sampling: SamplingParams {
                        max_new_tokens,
                        ..SamplingParams::greedy(model.runtime.model.config())
                    },
                    capture: None,
                    budget: model.default_budget(),
                    indexed: Vec::new(),
                },
            ),
            Answerer::Remote { server, model, .. } => spawn_remote_ask(
                server.clone(),
                RemoteQuestion {
                    model: model.clone(),
                    media,
                    history: Vec::new(),
                    text: text.to_string(),
                    system: None,
                    thinking: ThinkingMode::NoThink,
                    sampling: RemoteSampling {
                        temperature: Some(0.0),
                        max_new_tokens: Some(max_new_tokens),
                        seed: Some(0),
                        ..RemoteSampling::default()
                    },
                    media_knobs: Default::default(),
                    send_paths: false,
                },
            ),
        };
        loop {
            if cancel.load(Ordering::Relaxed) {
                handle.cancel();
            }
            match handle.events.recv_timeout(Duration::from_millis(50)) {
                Ok(_) | Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        handle.join().map(|output| output.summary.text)
    }
}

/// The judge the app has: the loaded model, else the connected server.
pub fn judge_of(
    model: Option<&Arc<LoadedModel>>,
    server: Option<(&RemoteServer, &String, &String)>,
) -> Option<Answerer> {
    match (model, server) {
        (Some(model), _) => Some(Answerer::Local(Arc::clone(model))),
        (None, Some((server, model, url))) => Some(Answerer::Remote {
            server: server.clone(),
            model: model.clone(),
            url: url.clone(),
        }),
        (None, None) => None,
    }
}
