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
    /// Device and precision the next load uses (`--device` / `--dtype`).
    pub placement: inference::Placement,
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
        self.loading = Some(inference::spawn_load(dir.clone(), self.placement));
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
                    change = Some(ModelChange::Loaded(model.runtime.dir.clone()));
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
                let info = model.info();
                ModelState::Loaded(ModelSummary {
                    dir: info.dir,
                    kind: info.kind,
                    video_encoder: info.video_encoder,
                    parameters: info.parameters,
                    bytes_on_disk: info.bytes_on_disk,
                    device: info.device,
                    dtype: info.dtype,
                })
            }
            None => ModelState::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_checkpoint() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/keye-1.5-tiny")
    }

    /// Polls like the UI does, until loading ends (or a minute passes).
    fn poll_until_settled(manager: &mut ModelManager, toasts: &mut Toasts) -> Option<ModelChange> {
        let ctx = egui::Context::default();
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(60) {
            let change = manager.poll(&ctx, toasts);
            if !manager.is_loading() {
                return change;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("loading did not end in a minute");
    }

    #[test]
    fn the_tiny_checkpoint_loads_and_the_panel_describes_it() {
        let mut manager = ModelManager::default();
        let mut toasts = Toasts::default();
        manager.open(tiny_checkpoint(), &mut toasts);
        assert!(matches!(manager.panel.state, ModelState::Loading { .. }));
        let change = poll_until_settled(&mut manager, &mut toasts);
        assert_eq!(change, Some(ModelChange::Loaded(tiny_checkpoint())));
        let ModelState::Loaded(summary) = &manager.panel.state else {
            panic!("not loaded: {:?}", manager.panel.state);
        };
        assert_eq!(summary.video_encoder, "keye15");
        assert!(summary.parameters > 0 && summary.bytes_on_disk > 0);
        assert!(manager.loaded().is_some());
        assert!(toasts.items().is_empty());
        assert_eq!(
            manager.handle(ModelAction::Unload),
            Some(ModelChange::Unloaded)
        );
        assert!(manager.loaded().is_none());
        assert_eq!(manager.panel.state, ModelState::None);
    }

    #[test]
    fn a_folder_that_is_no_checkpoint_fails_with_a_toast_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut manager = ModelManager::default();
        let mut toasts = Toasts::default();
        manager.open(dir.path().to_path_buf(), &mut toasts);
        assert!(!manager.is_loading());
        assert!(
            matches!(&manager.panel.state, ModelState::Failed { message, .. } if message.contains("config.json"))
        );
        assert_eq!(toasts.items().len(), 1);

        // A config.json that is not a Keye-VL config gets as far as the loader, which names it.
        std::fs::write(dir.path().join("config.json"), "{}").expect("write");
        manager.open(dir.path().to_path_buf(), &mut toasts);
        assert_eq!(poll_until_settled(&mut manager, &mut toasts), None);
        let ModelState::Failed { message, .. } = &manager.panel.state else {
            panic!("expected a failure: {:?}", manager.panel.state);
        };
        assert!(!message.is_empty());
        assert_eq!(toasts.items().len(), 2, "one toast per failure");
        assert!(manager.loaded().is_none());
    }
}
