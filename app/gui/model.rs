//! The model manager: loads a checkpoint folder in the background through
//! [`inference::spawn_load`] on the device and dtype picked in the [`ModelPanel`], feeds its
//! progress to the panel, and holds the loaded model for the ask controller. A failure becomes a
//! toast naming the folder and the problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;
use keye_model::device::{DTypeChoice, DeviceChoice};
use keye_ui::{
    BuildDevices, DevicePick, DtypePick, LoadChoice, ModelAction, ModelPanel, ModelState,
    ModelSummary, Toasts,
};

use crate::inference::{self, LoadEvent, LoadHandle, LoadedModel, Placement};

/// What changed this frame, for the app to follow (remember the folder, reset asking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChange {
    Loaded(PathBuf),
    Unloaded,
}

pub struct ModelManager {
    pub panel: ModelPanel,
    /// The load in flight and the choice it was started with.
    loading: Option<(LoadHandle, LoadChoice)>,
    loaded: Option<(Arc<LoadedModel>, LoadChoice)>,
}

impl Default for ModelManager {
    fn default() -> Self {
        Self {
            panel: ModelPanel {
                build: this_build(),
                ..ModelPanel::default()
            },
            loading: None,
            loaded: None,
        }
    }
}

/// The GPU back-ends compiled into this binary.
pub fn this_build() -> BuildDevices {
    BuildDevices {
        cuda: cfg!(feature = "cuda"),
        metal: cfg!(feature = "metal"),
    }
}

/// The panel's pick in the model crate's terms.
pub fn placement(choice: LoadChoice) -> Placement {
    Placement {
        device: match choice.device {
            DevicePick::Auto => DeviceChoice::Auto,
            DevicePick::Cpu => DeviceChoice::Cpu,
            DevicePick::Cuda(n) => DeviceChoice::Cuda(n),
            DevicePick::Metal => DeviceChoice::Metal,
        },
        dtype: match choice.dtype {
            DtypePick::Auto => DTypeChoice::Auto,
            DtypePick::F32 => DTypeChoice::F32,
            DtypePick::Bf16 => DTypeChoice::Bf16,
            DtypePick::F16 => DTypeChoice::F16,
        },
    }
}

/// `--device` / `--dtype` (or their saved words) as the panel shows them.
pub fn load_choice(placement: Placement) -> LoadChoice {
    LoadChoice {
        device: match placement.device {
            DeviceChoice::Auto => DevicePick::Auto,
            DeviceChoice::Cpu => DevicePick::Cpu,
            DeviceChoice::Cuda(n) => DevicePick::Cuda(n),
            DeviceChoice::Metal => DevicePick::Metal,
        },
        dtype: match placement.dtype {
            DTypeChoice::Auto => DtypePick::Auto,
            DTypeChoice::F32 => DtypePick::F32,
            DTypeChoice::Bf16 => DtypePick::Bf16,
            DTypeChoice::F16 => DtypePick::F16,
        },
    }
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
        self.loaded.as_ref().map(|(model, _)| model)
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Starts loading `dir` where the panel's choice says (cancelling a load in progress); the
    /// current model stays usable until the new one is in.
    pub fn open(&mut self, dir: PathBuf, toasts: &mut Toasts) {
        if let Some(problem) = folder_problem(&dir) {
            toasts.error(format!("Model folder {}: {problem}", dir.display()));
            self.panel.state = ModelState::Failed {
                dir,
                message: problem.to_owned(),
            };
            return;
        }
        self.start_load(dir);
    }

    fn start_load(&mut self, dir: PathBuf) {
        if let Some((previous, _)) = self.loading.take() {
            previous.cancel();
        }
        let choice = self.panel.choice;
        self.loading = Some((
            inference::spawn_load(dir.clone(), placement(choice)),
            choice,
        ));
        self.panel.state = ModelState::Loading {
            dir,
            stage: format!("starting on {} in {}", choice.device, choice.dtype),
            done: 0,
            total: 0,
        };
    }

    /// Handles the panel's buttons; `Open` is the app's (it owns the dialog) and is returned.
    pub fn handle(&mut self, action: ModelAction) -> Option<ModelChange> {
        match action {
            ModelAction::Open => None,
            ModelAction::CancelLoading => {
                if let Some((loading, _)) = &self.loading {
                    loading.cancel();
                }
                None
            }
            ModelAction::Unload => {
                self.loaded = None;
                self.panel.state = ModelState::None;
                Some(ModelChange::Unloaded)
            }
            // The same weights twice may not fit: the current model goes before the reload.
            ModelAction::Reload => {
                let (model, _) = self.loaded.take()?;
                self.start_load(model.runtime.dir.clone());
                Some(ModelChange::Unloaded)
            }
        }
    }

    /// Drains the loader's events; repaints while loading so the bar moves.
    pub fn poll(&mut self, ctx: &egui::Context, toasts: &mut Toasts) -> Option<ModelChange> {
        let (loading, choice) = self.loading.as_ref()?;
        let choice = *choice;
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
        let dir = match &self.panel.state {
            ModelState::Loading { dir, .. } => dir.clone(),
            _ => PathBuf::new(),
        };
        let mut change = None;
        let mut ended = false;
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
                    self.loaded = Some((model, choice));
                    self.panel.state = self.loaded_state();
                    ended = true;
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
                    ended = true;
                    break;
                }
                LoadEvent::Cancelled => {
                    toasts.info(format!("Loading {} cancelled", dir.display()));
                    self.panel.state = self.loaded_state();
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            self.loading = None;
        }
        change
    }

    /// What the panel shows without a load in progress.
    fn loaded_state(&self) -> ModelState {
        match &self.loaded {
            Some((model, choice)) => {
                let info = model.info();
                ModelState::Loaded(ModelSummary {
                    dir: info.dir,
                    kind: info.kind,
                    video_encoder: info.video_encoder,
                    parameters: info.parameters,
                    bytes_on_disk: info.bytes_on_disk,
                    weights_bytes: model.runtime.weights_bytes,
                    device: info.device,
                    dtype: info.dtype,
                    loaded_with: *choice,
                    free_after_load: model.free_after_load,
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

    /// The device and dtype picked in the panel with the pointer are what the checkpoint loads
    /// with, and Reload loads it again with a new pick.
    #[test]
    fn the_picked_device_and_dtype_reach_the_load() {
        use egui_kittest::kittest::Queryable;
        let mut harness = egui_kittest::Harness::builder()
            .with_size(egui::Vec2::new(420.0, 420.0))
            .build_ui_state(
                |ui, manager: &mut ModelManager| {
                    if let Some(action) = manager.panel.ui(ui) {
                        manager.handle(action);
                    }
                },
                ModelManager::default(),
            );
        harness.run();
        let pick = |harness: &mut egui_kittest::Harness<'_, ModelManager>, combo, item| {
            harness
                .get_all_by_role(egui::accesskit::Role::ComboBox)
                .nth(combo)
                .expect("combo box")
                .click();
            harness.run();
            harness.get_by_label(item).click();
            harness.run();
        };
        pick(&mut harness, 0, "cpu");
        pick(&mut harness, 1, "bf16");
        let mut toasts = Toasts::default();
        harness.state_mut().open(tiny_checkpoint(), &mut toasts);
        poll_until_settled(harness.state_mut(), &mut toasts);
        let ModelState::Loaded(summary) = &harness.state().panel.state else {
            panic!("not loaded: {:?}", harness.state().panel.state);
        };
        assert_eq!(
            (summary.device.as_str(), summary.dtype.as_str()),
            ("cpu", "bf16")
        );
        assert_eq!(
            harness.state().loaded().unwrap().runtime.dtype(),
            keye_model::DType::BF16
        );
        let bf16_weights = summary.weights_bytes;
        assert!(bf16_weights > 0);

        harness.run();
        pick(&mut harness, 1, "f32");
        harness.get_by_label("Reload").click();
        harness.run_steps(2);
        assert!(
            harness.state().loaded().is_none(),
            "the old model goes first"
        );
        poll_until_settled(harness.state_mut(), &mut toasts);
        let ModelState::Loaded(summary) = &harness.state().panel.state else {
            panic!("not reloaded: {:?}", harness.state().panel.state);
        };
        assert_eq!(summary.dtype, "f32");
        assert_eq!(
            summary.weights_bytes,
            2 * bf16_weights,
            "f32 takes twice bf16"
        );
        assert!(toasts.items().is_empty(), "{:?}", toasts.items());
    }
}
