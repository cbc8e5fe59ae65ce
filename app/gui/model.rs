//! The model manager: loads a checkpoint folder in the background through
//! [`inference::spawn_load`], feeds its progress to the [`ModelPanel`], and holds the loaded model
//! for the ask controller. A failure becomes a toast naming the folder and the problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;
use keye_ui::{ModelAction, ModelPanel, ModelState, ModelSummary, Toasts};

use crate::inference::{self, LoadEvent, LoadHandle, LoadedModel};

/// What changed this frame, for the app to follow (remember the folder, reset asking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChange {
    Loaded(PathBuf),
    Unloaded,
}

#[derive(Default)]
pub struct ModelManager {
    pub panel: ModelPanel,
    loading: Option<LoadHandle>,
    loaded: Option<Arc<LoadedModel>>,
}

/// Checks that can fail fast, before a worker starts, with a message saying what a checkpoint is.
fn folder_problem(dir: &Path) -> Option<&'static str> {
    if !dir.exists() {
        Some("does not exist")
    } else if !dir.is_dir() {
        Some("is not a folder (a checkpoint is a folder with config.json and *.safetensors)")
    } else if !dir.join("config.json").is_file() {
        Some("has no config.json, so it is not a Hugging Face checkpoint folder")
    } else {
        None
    }
}

impl ModelManager {
    pub fn loaded(&self) -> Option<&Arc<LoadedModel>> {
        self.loaded.as_ref()
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Starts loading `dir` (cancelling a load in progress); the current model stays usable
    /// until the new one is in.
    pub fn open(&mut self, dir: PathBuf, toasts: &mut Toasts) {
        if let Some(problem) = folder_problem(&dir) {
            toasts.error(format!("Model folder {}: {problem}", dir.display()));
            self.panel.state = ModelState::Failed {
                dir,
                message: problem.to_owned(),
            };
            return;
        }
        if let Some(previous) = self.loading.take() {
            previous.cancel();
        }
        self.loading = Some(inference::spawn_load(dir.clone()));
        self.panel.state = ModelState::Loading {
            dir,
            stage: "starting".into(),
            done: 0,
            total: 0,
        };
    }

    /// Handles the panel's buttons; `Open` is the app's (it owns the dialog) and is returned.
    pub fn handle(&mut self, action: ModelAction) -> Option<ModelChange> {
        match action {
            ModelAction::Open => None,
            ModelAction::CancelLoading => {
                if let Some(loading) = &self.loading {
                    loading.cancel();
                }
                None
            }
            ModelAction::Unload => {
                self.loaded = None;
                self.panel.state = ModelState::None;
                Some(ModelChange::Unloaded)
            }
        }
    }

    /// Drains the loader's events; repaints while loading so the bar moves.
    pub fn poll(&mut self, ctx: &egui::Context, toasts: &mut Toasts) -> Option<ModelChange> {
        let loading = self.loading.as_ref()?;
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
        let dir = match &self.panel.state {
            ModelState::Loading { dir, .. } => dir.clone(),
            _ => PathBuf::new(),
        };
        let mut change = None;
        while let Ok(event) = loading.events.try_recv() {
            match event {
                LoadEvent::Progress { stage, done, total } => {
                    self.panel.state = ModelState::Loading {
                        dir: dir.clone(),
                        stage: stage.to_owned(),
                        done,
                        total,
                    };
                }
                LoadEvent::Loaded(model) => {
                    change = Some(ModelChange::Loaded(model.info.dir.clone()));
                    self.loaded = Some(model);
                    self.panel.state = self.loaded_state();
                    self.loading = None;
                    break;
                }
                LoadEvent::Failed(message) => {
                    toasts.error(format!(
                        "Could not load the model folder {}: {message}",
                        dir.display()
                    ));
                    self.panel.state = ModelState::Failed {
                        dir: dir.clone(),
                        message,
                    };
                    self.loading = None;
                    break;
                }
                LoadEvent::Cancelled => {
                    toasts.info(format!("Loading {} cancelled", dir.display()));
                    self.panel.state = self.loaded_state();
                    self.loading = None;
                    break;
                }
            }
        }
        change
    }

    /// What the panel shows without a load in progress.
    fn loaded_state(&self) -> ModelState {
        match &self.loaded {
            Some(model) => {
                let info = &model.info;
                ModelState::Loaded(ModelSummary {
                    dir: info.dir.clone(),
                    kind: info.kind.clone(),
                    video_encoder: info.video_encoder.clone(),
                    parameters: info.parameters,
                    bytes_on_disk: info.bytes_on_disk,
                    device: info.device.clone(),
                    dtype: info.dtype.clone(),
                })
            }
            None => ModelState::None,
        }
    }
}
