//! The model manager: loads a checkpoint folder (or a quantized GGUF) in the background through
//! [`inference::spawn_load`] on the device, dtype and quantization picked in the [`ModelPanel`],
//! feeds its progress to the panel, holds the loaded model for the ask controller, and saves a
//! quantized copy beside the checkpoint on a worker, or connects to a server that answers instead
//! ([`super::server`]). A failure becomes a toast naming the folder, file or server and the problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Receiver;
use eframe::egui;
use keye_model::device::{DTypeChoice, DeviceChoice};
use keye_model::quantize::{QuantKind, QuantizeSpec};
use keye_model::{LoadOptions, LoadProgress, gguf};
use keye_ui::{
    BuildDevices, DevicePick, DtypePick, LoadChoice, ModelAction, ModelPanel, ModelState,
    ModelSummary, QuantizePick, SaveProgress, Toasts,
};

use super::server::{Connecting, Connection};
use crate::inference::{self, LoadEvent, LoadHandle, LoadedModel, Placement};

/// What changed this frame, for the app to follow (remember the folder, reset asking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChange {
    Loaded(PathBuf),
    Unloaded,
}

/// A load in flight.
struct Loading {
    handle: LoadHandle,
    choice: LoadChoice,
}

/// Saving a quantized copy: progress and outcome, in order.
enum SaveEvent {
    Progress { done: usize, total: usize },
    Saved(PathBuf),
    Failed(String),
    Cancelled,
}

/// A quantized copy being written on a worker.
struct Saving {
    events: Receiver<SaveEvent>,
    cancel: Arc<AtomicBool>,
}

pub struct ModelManager {
    pub panel: ModelPanel,
    loading: Option<Loading>,
    loaded: Option<(Arc<LoadedModel>, LoadChoice)>,
    saving: Option<Saving>,
    connecting: Option<Connecting>,
    /// The server answering instead of a local model (never both).
    connection: Option<Connection>,
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
            saving: None,
            connecting: None,
            connection: None,
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

/// The panel's quantization in the model crate's terms.
fn quantize_spec(choice: LoadChoice) -> QuantizeSpec {
    QuantizeSpec {
        kind: match choice.quantize {
            QuantizePick::None => QuantKind::None,
            QuantizePick::Q8_0 => QuantKind::Q8_0,
            QuantizePick::Q6k => QuantKind::Q6K,
            QuantizePick::Q4k => QuantKind::Q4K,
        },
        vision: choice.quantize_vision && choice.quantize != QuantizePick::None,
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
        quantize: quantize_spec(choice),
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
        quantize: match placement.quantize.kind {
            QuantKind::None => QuantizePick::None,
            QuantKind::Q8_0 => QuantizePick::Q8_0,
            QuantKind::Q6K => QuantizePick::Q6k,
            QuantKind::Q4K => QuantizePick::Q4k,
        },
        quantize_vision: placement.quantize.vision,
    }
}

/// Checks that can fail fast, before a worker starts, with a message saying what a model is.
fn model_problem(path: &Path) -> Option<&'static str> {
    if !path.exists() {
        Some("does not exist")
    } else if path.is_file() {
        (!gguf::is_gguf(path)).then_some(
            "is a file but not a .gguf model (a checkpoint is a folder with config.json and \
             *.safetensors, or a .gguf file saved by Save quantized copy)",
        )
    } else if path.join("config.json").is_file() {
        None
    } else {
        match files_in(path, gguf::is_gguf).len() {
            0 => Some(
                "has no config.json and no .gguf file, so it is not a Hugging Face checkpoint \
                 folder",
            ),
            1 => None,
            _ => Some("holds several .gguf files and no config.json: open the one to load"),
        }
    }
}

/// Whether a path is worth loading again on the next start: a checkpoint folder or a GGUF file.
pub fn looks_like_model(path: &Path) -> bool {
    path.exists() && model_problem(path).is_none()
}

/// The files of folder `dir` that `wanted` accepts.
fn files_in(dir: &Path, wanted: fn(&Path) -> bool) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| wanted(p))
                .collect()
        })
        .unwrap_or_default()
}

impl ModelManager {
    pub fn loaded(&self) -> Option<&Arc<LoadedModel>> {
        self.loaded.as_ref().map(|(model, _)| model)
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some() || self.connecting.is_some()
    }

    /// The server questions go to, when connected to one.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// Starts loading `path` (a checkpoint folder or a GGUF file) where the panel's choice says,
    /// cancelling a load in progress; the current model stays usable until the new one is in.
    pub fn open(&mut self, path: PathBuf, toasts: &mut Toasts) {
        if let Some(problem) = model_problem(&path) {
            toasts.error(format!("Model {}: {problem}", path.display()));
            self.panel.state = ModelState::Failed {
                dir: path,
                message: problem.to_owned(),
            };
            return;
        }
        self.start_load(path);
    }

    fn start_load(&mut self, path: PathBuf) {
        if let Some(previous) = self.loading.take() {
            previous.handle.cancel();
        }
        let choice = self.panel.choice;
        let placement = placement(choice);
        self.loading = Some(Loading {
            handle: inference::spawn_load(path.clone(), placement),
            choice,
        });
        self.panel.state = ModelState::Loading {
            dir: path,
            stage: starting_stage(choice),
            done: 0,
            total: 0,
        };
    }

    /// Writes the loaded checkpoint quantized as picked to a GGUF file in its folder, on a worker
    /// (it reads the safetensors again and keeps the quantized tensors until written).
    fn start_saving(&mut self) {
        let Some((model, _)) = &self.loaded else {
            return;
        };
        let spec = quantize_spec(self.panel.choice);
        if spec.is_none() || self.saving.is_some() || model.runtime.gguf.is_some() {
            return;
        }
        let dir = model.runtime.dir.clone();
        let path = dir.join(gguf::file_name(&spec));
        let (sender, events) = crossbeam_channel::unbounded();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        std::thread::spawn(move || {
            let progress_sender = sender.clone();
            let progress = Box::new(move |p: LoadProgress| {
                if let LoadProgress::LoadedTensor { done, total }
                | LoadProgress::QuantizedTensor { done, total } = p
                {
                    let _ = progress_sender.send(SaveEvent::Progress { done, total });
                }
            });
            let mut options = LoadOptions {
                progress: Some(progress),
                cancel: Some(flag),
                ..LoadOptions::default()
            };
            let event = match gguf::quantize_checkpoint(&dir, &spec, None, &mut options) {
                Ok(written) => SaveEvent::Saved(written),
                Err(keye_model::Error::Cancelled) => SaveEvent::Cancelled,
                Err(error) => SaveEvent::Failed(error.to_string()),
            };
            let _ = sender.send(event);
        });
        self.saving = Some(Saving { events, cancel });
        self.panel.saving = Some(SaveProgress {
            path,
            done: 0,
            total: 0,
        });
    }

    /// Handles the panel's buttons; `Open` is the app's (it owns the dialog) and is returned.
    pub fn handle(&mut self, action: ModelAction) -> Option<ModelChange> {
        match action {
            ModelAction::Open | ModelAction::OpenFile => None,
            ModelAction::CancelLoading => {
                if let Some(loading) = &self.loading {
                    loading.handle.cancel();
                }
                None
            }
            ModelAction::SaveQuantized => {
                self.start_saving();
                None
            }
            ModelAction::CancelSaving => {
                if let Some(saving) = &self.saving {
                    saving.cancel.store(true, Ordering::Relaxed);
                }
                None
            }
            ModelAction::Unload => {
                self.loaded = None;
                self.panel.state = ModelState::None;
                Some(ModelChange::Unloaded)
            }
            ModelAction::Connect => {
                let connecting = Connecting::start(&self.panel.server);
                self.panel.state = ModelState::Connecting {
                    url: connecting.url.clone(),
                };
                self.connecting = Some(connecting);
                None
            }
            ModelAction::Disconnect => {
                self.connection = None;
                self.panel.state = self.loaded_state();
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

    /// Drains the loader's and the saver's events; repaints while either runs so the bars move.
    pub fn poll(&mut self, ctx: &egui::Context, toasts: &mut Toasts) -> Option<ModelChange> {
        self.poll_saving(ctx, toasts);
        if let Some(change) = self.poll_connecting(ctx, toasts) {
            return Some(change);
        }
        let loading = self.loading.as_ref()?;
        let choice = loading.choice;
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
        let dir = match &self.panel.state {
            ModelState::Loading { dir, .. } => dir.clone(),
            _ => PathBuf::new(),
        };
        let mut change = None;
        let mut ended = false;
        while let Ok(event) = loading.handle.events.try_recv() {
            match event {
                LoadEvent::Progress { stage, done, total } => {
                    // The loader says when it quantizes; the format is the one picked.
                    let stage = match quantize_spec(loading.choice) {
                        spec if stage == "loading and quantizing tensors" => {
                            let vision = if spec.vision { " (vision too)" } else { "" };
                            format!("{stage} to {}{vision}", spec.kind)
                        }
                        _ => stage.to_owned(),
                    };
                    self.panel.state = ModelState::Loading {
                        dir: dir.clone(),
                        stage,
                        done,
                        total,
                    };
                }
                LoadEvent::Loaded(model) => {
                    change = Some(ModelChange::Loaded(model.runtime.dir.clone()));
                    // A local model answers from now on.
                    self.connection = None;
                    self.loaded = Some((model, choice));
                    self.panel.state = self.loaded_state();
                    ended = true;
                    break;
                }
                LoadEvent::Failed(message) => {
                    toasts.error(format!(
                        "Could not load the model {}: {message}",
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

    /// A finished connection check: the server answers from now on (the local model goes), or a
    /// toast says why not and the panel shows what it did before.
    fn poll_connecting(&mut self, ctx: &egui::Context, toasts: &mut Toasts) -> Option<ModelChange> {
        let connecting = self.connecting.as_ref()?;
        let Some(outcome) = connecting.poll() else {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
            return None;
        };
        let url = connecting.url.clone();
        self.connecting = None;
        match outcome {
            Ok(connection) => {
                toasts.info(format!(
                    "Questions go to {} ({}) now; attention heatmaps need a local model",
                    connection.url, connection.model
                ));
                self.connection = Some(connection);
                let unloaded = self.loaded.take().is_some();
                self.panel.state = self.loaded_state();
                Some(ModelChange::Unloaded).filter(|_| unloaded)
            }
            Err(message) => {
                toasts.error(format!("Could not connect to {url}: {message}"));
                self.panel.state = self.loaded_state();
                None
            }
        }
    }

    fn poll_saving(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        let Some(saving) = &self.saving else {
            return;
        };
        ctx.request_repaint_after(std::time::Duration::from_millis(100));
        let path = self.panel.saving.as_ref().map(|s| s.path.clone());
        let path = path.unwrap_or_default();
        while let Ok(event) = saving.events.try_recv() {
            match event {
                SaveEvent::Progress { done, total } => {
                    self.panel.saving = Some(SaveProgress {
                        path: path.clone(),
                        done,
                        total,
                    });
                    continue;
                }
                SaveEvent::Saved(written) => {
                    let size = std::fs::metadata(&written).map(|m| m.len()).unwrap_or(0);
                    toasts.info(format!(
                        "Saved {} ({}); loading the folder with the same quantization reads it \
                         instead of quantizing again",
                        written.display(),
                        keye_ui::model_panel::format_bytes(size)
                    ));
                }
                SaveEvent::Failed(message) => {
                    toasts.error(format!("Could not save {}: {message}", path.display()));
                }
                SaveEvent::Cancelled => {
                    toasts.info(format!("Saving {} cancelled", path.display()));
                }
            }
            self.saving = None;
            self.panel.saving = None;
            break;
        }
    }

    /// What the panel shows without a load in progress: the loaded runtime translated into the
    /// panel's one summary type.
    fn loaded_state(&self) -> ModelState {
        match &self.loaded {
            Some((model, choice)) => {
                let runtime = &model.runtime;
                ModelState::Loaded(ModelSummary {
                    dir: runtime.dir.clone(),
                    kind: runtime.model_kind().to_owned(),
                    video_encoder: runtime.video_encoder.name().to_owned(),
                    parameters: runtime.parameters,
                    bytes_on_disk: runtime.bytes_on_disk,
                    weights_bytes: runtime.weights_bytes,
                    device: keye_model::device::device_name(runtime.model.device()),
                    dtype: runtime.dtype().as_str().to_owned(),
                    loaded_with: *choice,
                    quantization: describe_quantization(&runtime.quantization),
                    gguf: runtime.gguf.clone(),
                    free_after_load: model.free_after_load,
                })
            }
            None => match &self.connection {
                Some(connection) => ModelState::Connected(connection.summary()),
                None => ModelState::None,
            },
        }
    }
}

/// "starting (device auto, dtype bf16, quantize q4k)": what the load was asked for.
fn starting_stage(choice: LoadChoice) -> String {
    let quantize = match quantize_spec(choice) {
        spec if spec.is_none() => String::new(),
        spec => format!(", quantize {}", describe_quantization(&spec)),
    };
    format!(
        "starting (device {}, dtype {}{quantize})",
        choice.device, choice.dtype
    )
}

/// "none", "q4k", "q4k, vision too".
fn describe_quantization(spec: &QuantizeSpec) -> String {
    match (spec.kind, spec.vision) {
        (QuantKind::None, _) => "none".to_owned(),
        (kind, false) => kind.to_string(),
        (kind, true) => format!("{kind}, vision too"),
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
        poll_recording_stages(manager, toasts).0
    }

    /// Polls until loading ends; also returns every loading stage the panel showed.
    fn poll_recording_stages(
        manager: &mut ModelManager,
        toasts: &mut Toasts,
    ) -> (Option<ModelChange>, Vec<String>) {
        let ctx = egui::Context::default();
        let started = std::time::Instant::now();
        let mut stages = Vec::new();
        while started.elapsed() < std::time::Duration::from_secs(60) {
            let change = manager.poll(&ctx, toasts);
            if let ModelState::Loading { stage, .. } = &manager.panel.state
                && stages.last() != Some(stage)
            {
                stages.push(stage.clone());
            }
            if !manager.is_loading() {
                return (change, stages);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
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
        let config = dir.path().join("config.json");
        assert!(
            message.starts_with(&format!("{}: unknown model type", config.display())),
            "the message names the file and the problem: {message}"
        );
        assert_eq!(toasts.items().len(), 2, "one toast per failure");
        let toast = &toasts.items()[1].text;
        assert!(
            toast.contains(&dir.path().display().to_string()) && toast.contains(message.as_str()),
            "the toast names the folder and the problem: {toast}"
        );
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

    /// A copy of the tiny checkpoint in a temporary folder, so saving beside it writes there.
    fn tiny_copy() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for entry in std::fs::read_dir(tiny_checkpoint()).expect("fixture") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).expect("copy");
        }
        dir
    }

    fn loaded_summary(manager: &ModelManager) -> &ModelSummary {
        match &manager.panel.state {
            ModelState::Loaded(summary) => summary,
            other => panic!("not loaded: {other:?}"),
        }
    }

    /// Polls like the UI does until the quantized copy is written (or a minute passes).
    fn poll_until_saved(manager: &mut ModelManager, toasts: &mut Toasts) {
        let ctx = egui::Context::default();
        let started = std::time::Instant::now();
        while manager.saving.is_some() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "no save in a minute"
            );
            manager.poll(&ctx, toasts);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Quantize picked before loading quantizes as the weights stream in (and says so); Save
    /// quantized copy writes the GGUF beside the checkpoint; the folder then loads from it, and
    /// so does the file itself or a folder holding only it.
    #[test]
    fn quantizing_at_load_saving_a_copy_and_opening_it() {
        let folder = tiny_copy();
        let mut manager = ModelManager::default();
        let mut toasts = Toasts::default();
        manager.panel.choice.quantize = QuantizePick::Q8_0;
        manager.open(folder.path().to_path_buf(), &mut toasts);
        let (_, stages) = poll_recording_stages(&mut manager, &mut toasts);
        assert!(
            stages.contains(&"loading and quantizing tensors to q8_0".to_owned()),
            "{stages:?}"
        );
        let summary = loaded_summary(&manager);
        assert_eq!(summary.quantization, "q8_0");
        assert_eq!(summary.gguf, None);
        assert_eq!(
            manager.loaded().unwrap().runtime.quantization,
            quantize_spec(manager.panel.choice)
        );

        manager.handle(ModelAction::SaveQuantized);
        assert!(manager.panel.saving.is_some(), "the panel shows the save");
        poll_until_saved(&mut manager, &mut toasts);
        let saved = folder.path().join("model-q8_0.gguf");
        assert!(saved.is_file(), "{:?}", toasts.items());
        assert!(manager.panel.saving.is_none());
        assert_eq!(toasts.items().len(), 1, "one toast saying where it went");

        // The folder with the same quantization reads the copy: nothing to quantize.
        manager.open(folder.path().to_path_buf(), &mut toasts);
        let (_, stages) = poll_recording_stages(&mut manager, &mut toasts);
        assert!(
            stages.iter().all(|s| !s.contains("quantizing")),
            "{stages:?}"
        );
        assert_eq!(
            loaded_summary(&manager).gguf.as_deref(),
            Some(saved.as_path())
        );

        // The file itself, and a folder that holds only it, with no quantization picked.
        manager.panel.choice.quantize = QuantizePick::None;
        let alone = tempfile::tempdir().expect("temp dir");
        let moved = alone.path().join("keye-tiny-q8_0.gguf");
        std::fs::copy(&saved, &moved).expect("copy");
        for path in [moved.clone(), alone.path().to_path_buf()] {
            assert!(looks_like_model(&path));
            manager.open(path, &mut toasts);
            poll_until_settled(&mut manager, &mut toasts);
            let summary = loaded_summary(&manager);
            assert_eq!(summary.gguf.as_deref(), Some(moved.as_path()));
            assert_eq!(summary.quantization, "q8_0");
        }
        assert_eq!(toasts.items().len(), 1, "{:?}", toasts.items());
    }

    #[test]
    fn saving_needs_a_quantization_and_a_file_that_is_no_model_is_refused() {
        let folder = tiny_copy();
        let mut manager = ModelManager::default();
        let mut toasts = Toasts::default();
        manager.open(folder.path().to_path_buf(), &mut toasts);
        poll_until_settled(&mut manager, &mut toasts);
        manager.handle(ModelAction::SaveQuantized);
        assert!(manager.saving.is_none(), "none picked: nothing to save");

        let readme = folder.path().join("README.md");
        assert!(!looks_like_model(&readme));
        manager.open(readme, &mut toasts);
        let ModelState::Failed { message, .. } = &manager.panel.state else {
            panic!("expected a failure: {:?}", manager.panel.state);
        };
        assert!(message.contains(".gguf"), "{message}");
        assert_eq!(toasts.items().len(), 1);
    }

    #[test]
    fn cancelling_a_save_writes_nothing() {
        let folder = tiny_copy();
        let mut manager = ModelManager::default();
        let mut toasts = Toasts::default();
        manager.panel.choice.quantize = QuantizePick::Q8_0;
        manager.open(folder.path().to_path_buf(), &mut toasts);
        poll_until_settled(&mut manager, &mut toasts);
        manager.handle(ModelAction::SaveQuantized);
        manager.handle(ModelAction::CancelSaving);
        poll_until_saved(&mut manager, &mut toasts);
        let [toast] = toasts.items() else {
            panic!("one toast: {:?}", toasts.items());
        };
        assert!(toast.text.ends_with("cancelled"), "{}", toast.text);
        let left: Vec<_> = std::fs::read_dir(folder.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("gguf"))
            .collect();
        assert!(left.is_empty(), "nothing written: {left:?}");
    }
}
