//! The model manager's face: which checkpoint is loaded (or loading, or why it failed), where, in
//! which precision and how quantized the next one loads, saving a quantized copy, and how to get
//! a model when there is none, or the OpenAI-compatible server the app asks instead. The app owns
//! loading, saving and connecting; this panel shows them and asks for Open / Cancel / Unload /
//! Reload / Save quantized copy / Connect / Disconnect.

use std::fmt;
use std::path::PathBuf;

/// Where the model runs, in the words of the command line's `--device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DevicePick {
    /// A GPU when this build has CUDA or Metal and one is present, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl fmt::Display for DevicePick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Metal => f.write_str("metal"),
        }
    }
}

/// Weight and activation precision, in the words of `--dtype`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DtypePick {
    /// bf16 on a GPU; on a CPU f32 when it fits in free memory, else bf16.
    #[default]
    Auto,
    F32,
    Bf16,
    F16,
}

impl DtypePick {
    pub const ALL: [Self; 4] = [Self::Auto, Self::F32, Self::Bf16, Self::F16];
}

impl fmt::Display for DtypePick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

/// Block format of the quantized linear layers, in the words of `--quantize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QuantizePick {
    #[default]
    None,
    Q8_0,
    Q6k,
    Q4k,
}

impl QuantizePick {
    pub const ALL: [Self; 4] = [Self::None, Self::Q8_0, Self::Q6k, Self::Q4k];

    /// What the format costs, for the picker.
    fn bits(self) -> &'static str {
        match self {
            Self::None => "full precision",
            Self::Q8_0 => "8.5 bits a weight",
            Self::Q6k => "6.6 bits a weight",
            Self::Q4k => "4.5 bits a weight",
        }
    }
}

impl fmt::Display for QuantizePick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Q8_0 => "q8_0",
            Self::Q6k => "q6k",
            Self::Q4k => "q4k",
        })
    }
}

/// What the next load uses, as the user picked it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadChoice {
    pub device: DevicePick,
    pub dtype: DtypePick,
    /// Quantize the decoder's linear layers while loading (a saved copy is read instead when
    /// there is one).
    pub quantize: QuantizePick,
    /// The vision tower's linear layers too.
    pub quantize_vision: bool,
}

/// A quantized copy being written beside the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveProgress {
    pub path: PathBuf,
    pub done: usize,
    pub total: usize,
}

/// Which GPU back-ends this build was compiled with (a GPU may still be missing at run time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildDevices {
    pub cuda: bool,
    pub metal: bool,
}

/// What a loaded checkpoint is, as the app describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSummary {
    pub dir: PathBuf,
    /// e.g. "Keye-VL-1.5-8B".
    pub kind: String,
    /// "keye", "keye15" or "mavors".
    pub video_encoder: String,
    pub parameters: usize,
    pub bytes_on_disk: u64,
    /// The weights as they sit in memory (on the device, in its dtype).
    pub weights_bytes: u64,
    /// Where it actually runs ("cpu", "cuda:0", "metal") and in which dtype ("f32", "bf16").
    pub device: String,
    pub dtype: String,
    /// What was picked when it loaded (`auto` resolves to `device` and `dtype`).
    pub loaded_with: LoadChoice,
    /// "none", "q4k", "q4k, vision too": what is quantized in memory.
    pub quantization: String,
    /// The GGUF file the weights came from, when they did.
    pub gguf: Option<PathBuf>,
    /// System memory free right after loading (CPU only), what budgets are sized to.
    pub free_after_load: Option<u64>,
}

/// Where the model stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ModelState {
    #[default]
    None,
    Loading {
        dir: PathBuf,
        stage: String,
        done: usize,
        total: usize,
    },
    Loaded(ModelSummary),
    Failed {
        dir: PathBuf,
        message: String,
    },
    /// Asking a server for its model list before answering through it.
    Connecting {
        url: String,
    },
    /// Questions go to a server (`keye-studio serve`, or vLLM serving Keye-VL).
    Connected(ServerSummary),
}

/// The server questions go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSummary {
    pub url: String,
    /// The served model asked.
    pub model: String,
}

/// The "Connect to a server" form, as the user filled it in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerForm {
    pub url: String,
    pub api_key: String,
    /// The served model to ask; empty takes the first the server lists.
    pub model: String,
}

impl Default for ServerForm {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000".to_owned(),
            api_key: String::new(),
            model: String::new(),
        }
    }
}

/// Why a server cannot show where the model looked.
pub const REMOTE_ATTENTION_NOTE: &str = "Attention heatmaps need a local model: a server returns \
     only text. Open a checkpoint folder to see where the model looks.";

/// What the user asked the model manager to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelAction {
    /// Open the folder dialog.
    Open,
    CancelLoading,
    Unload,
    /// Open the file dialog for a quantized `.gguf` model.
    OpenFile,
    /// Load the current checkpoint again with the load choice as it is now.
    Reload,
    /// Write the loaded checkpoint quantized as picked, as a GGUF file beside it.
    SaveQuantized,
    CancelSaving,
    /// Answer through the server in the panel's form (replaces a loaded model once connected).
    Connect,
    /// Stop answering through the server.
    Disconnect,
}

/// How to get a model, shown when there is none.
pub const HOW_TO_GET_A_MODEL: &str = "Model > Open checkpoint folder… or drop a Hugging Face \
     checkpoint folder (config.json, *.safetensors, tokenizer.json) or a quantized .gguf file on \
     the window";

const CUDA_MISSING: &str = "this build has no CUDA support (rebuild with --features cuda)";
const METAL_MISSING: &str = "this build has no Metal support (rebuild with --features metal)";

#[derive(Clone, Debug, Default)]
pub struct ModelPanel {
    pub state: ModelState,
    /// Device and dtype the next load uses.
    pub choice: LoadChoice,
    /// What this build can run on; the app fills it in.
    pub build: BuildDevices,
    /// A quantized copy being saved.
    pub saving: Option<SaveProgress>,
    /// The "Connect to a server" form.
    pub server: ServerForm,
}

impl ModelPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<ModelAction> {
        let mut action = None;
        match &self.state {
            ModelState::None => {
                ui.label("No model loaded. Everything else works without one.");
                ui.weak(format!("To ask questions: {HOW_TO_GET_A_MODEL}."));
            }
            ModelState::Loading {
                dir,
                stage,
                done,
                total,
            } => {
                ui.label(format!("Loading {}", dir.display()));
                let fraction = if *total > 0 {
                    *done as f32 / *total as f32
                } else {
                    0.0
                };
                let text = if *total > 0 {
                    format!("{stage} ({done}/{total})")
                } else {
                    stage.clone()
                };
                ui.add(egui::ProgressBar::new(fraction).text(text).animate(true));
                if ui.button("Cancel").clicked() {
                    action = Some(ModelAction::CancelLoading);
                }
            }
            ModelState::Loaded(summary) => summary_grid(ui, summary),
            ModelState::Failed { dir, message } => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Could not load {}: {message}", dir.display()),
                );
            }
            ModelState::Connecting { url } => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Connecting to {url}…"));
                });
            }
            ModelState::Connected(server) => {
                egui::Grid::new("model-server")
                    .num_columns(2)
                    .show(ui, |ui| {
                        ui.label("Server");
                        ui.label(&server.url);
                        ui.end_row();
                        ui.label("Model");
                        ui.label(&server.model);
                        ui.end_row();
                    });
                ui.weak(REMOTE_ATTENTION_NOTE);
                if ui.button("Disconnect").clicked() {
                    action = Some(ModelAction::Disconnect);
                }
            }
        }
        let loading = matches!(self.state, ModelState::Loading { .. });
        if matches!(self.state, ModelState::Loaded(_)) {
            ui.weak("For the next load:");
        }
        ui.add_enabled_ui(!loading, |ui| self.choice_ui(ui));
        match &self.state {
            ModelState::Loading { .. } => {}
            ModelState::Loaded(summary) => {
                ui.horizontal_wrapped(|ui| {
                    if ui.button("Unload").clicked() {
                        action = Some(ModelAction::Unload);
                    }
                    if ui.button("Open another…").clicked() {
                        action = Some(ModelAction::Open);
                    }
                    if self.choice != summary.loaded_with
                        && ui
                            .button("Reload")
                            .on_hover_text("Load this checkpoint again as picked above")
                            .clicked()
                    {
                        action = Some(ModelAction::Reload);
                    }
                });
                if summary.gguf.is_none() {
                    action = self.save_ui(ui).or(action);
                }
            }
            ModelState::None | ModelState::Failed { .. } | ModelState::Connected(_) => {
                ui.horizontal_wrapped(|ui| {
                    if ui.button("Open checkpoint folder…").clicked() {
                        action = Some(ModelAction::Open);
                    }
                    if ui
                        .button("Open .gguf file…")
                        .on_hover_text("A quantized copy saved by Save quantized copy")
                        .clicked()
                    {
                        action = Some(ModelAction::OpenFile);
                    }
                });
            }
            ModelState::Connecting { .. } => {}
        }
        let connecting = matches!(self.state, ModelState::Connecting { .. });
        ui.add_enabled_ui(!loading && !connecting, |ui| {
            action = self.server_ui(ui).or(action);
        });
        action
    }

    /// "Connect to a server": its address, API key and model, and the Connect button.
    fn server_ui(&mut self, ui: &mut egui::Ui) -> Option<ModelAction> {
        let connected = matches!(self.state, ModelState::Connected(_));
        let form = &mut self.server;
        egui::CollapsingHeader::new("Connect to a server")
            .id_salt("model-server-form")
            .show(ui, |ui| {
                ui.weak(
                    "Questions go to an OpenAI-compatible server instead: keye-studio serve, or \
                     vLLM serving Keye-VL-1.5.",
                );
                egui::Grid::new("model-server-fields")
                    .num_columns(2)
                    .show(ui, |ui| {
                        let label = ui.label("URL");
                        ui.text_edit_singleline(&mut form.url).labelled_by(label.id);
                        ui.end_row();
                        let label = ui.label("API key");
                        ui.add(egui::TextEdit::singleline(&mut form.api_key).password(true))
                            .labelled_by(label.id)
                            .on_hover_text("Sent as Authorization: Bearer KEY; empty for none");
                        ui.end_row();
                        let label = ui.label("Model");
                        ui.add(
                            egui::TextEdit::singleline(&mut form.model)
                                .hint_text("the first the server lists"),
                        )
                        .labelled_by(label.id);
                        ui.end_row();
                    });
                if !connected {
                    ui.weak(REMOTE_ATTENTION_NOTE);
                }
                ui.add_enabled(!form.url.trim().is_empty(), egui::Button::new("Connect"))
                    .clicked()
                    .then_some(ModelAction::Connect)
            })
            .body_returned
            .flatten()
    }

    /// "Save quantized copy" with the picked format, or the save's progress and Cancel.
    fn save_ui(&self, ui: &mut egui::Ui) -> Option<ModelAction> {
        if let Some(saving) = &self.saving {
            ui.label(format!("Saving {}", saving.path.display()));
            let fraction = if saving.total > 0 {
                saving.done as f32 / saving.total as f32
            } else {
                0.0
            };
            let text = format!("quantizing tensors ({}/{})", saving.done, saving.total);
            ui.add(egui::ProgressBar::new(fraction).text(text).animate(true));
            return ui
                .button("Cancel saving")
                .clicked()
                .then_some(ModelAction::CancelSaving);
        }
        let picked = self.choice.quantize != QuantizePick::None;
        let label = if picked {
            format!("Save quantized copy ({})", self.choice.quantize)
        } else {
            "Save quantized copy".to_owned()
        };
        ui.add_enabled(picked, egui::Button::new(label))
            .on_hover_text(
                "Writes the checkpoint quantized as picked above as one .gguf file in its \
                 folder; loading the folder with the same quantization then reads it instead \
                 of quantizing again",
            )
            .on_disabled_hover_text("Pick a quantization above first")
            .clicked()
            .then_some(ModelAction::SaveQuantized)
    }

    /// Device and dtype pickers; a back-end this build lacks is shown, disabled, with the reason.
    fn choice_ui(&mut self, ui: &mut egui::Ui) {
        let build = self.build;
        let choice = &mut self.choice;
        egui::Grid::new("model-load-choice")
            .num_columns(2)
            .show(ui, |ui| {
                let label = ui.label("Device");
                ui.horizontal(|ui| {
                    egui::ComboBox::from_id_salt("model-device")
                        .selected_text(device_label(choice.device))
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut choice.device, DevicePick::Auto, "auto")
                                .on_hover_text(auto_device_hint(build));
                            ui.selectable_value(&mut choice.device, DevicePick::Cpu, "cpu");
                            let cuda = matches!(choice.device, DevicePick::Cuda(_));
                            let response = ui
                                .add_enabled(build.cuda, egui::Button::selectable(cuda, "cuda"))
                                .on_disabled_hover_text(CUDA_MISSING);
                            if response.clicked() && !cuda {
                                choice.device = DevicePick::Cuda(0);
                            }
                            ui.add_enabled_ui(build.metal, |ui| {
                                ui.selectable_value(&mut choice.device, DevicePick::Metal, "metal")
                            })
                            .response
                            .on_disabled_hover_text(METAL_MISSING);
                        })
                        .response
                        .labelled_by(label.id);
                    if let DevicePick::Cuda(index) = &mut choice.device {
                        let gpu = ui.label("GPU");
                        ui.add(egui::DragValue::new(index).range(0..=63))
                            .labelled_by(gpu.id);
                    }
                });
                ui.end_row();
                let label = ui.label("Dtype");
                egui::ComboBox::from_id_salt("model-dtype")
                    .selected_text(choice.dtype.to_string())
                    .show_ui(ui, |ui| {
                        for dtype in DtypePick::ALL {
                            ui.selectable_value(&mut choice.dtype, dtype, dtype.to_string());
                        }
                    })
                    .response
                    .labelled_by(label.id)
                    .on_hover_text(
                        "auto: bf16 on a GPU; on the CPU f32 when the weights fit in free \
                         memory, else bf16 (bf16 for a quantized model over a billion \
                         parameters). Norms, softmax and rotary tables stay in f32.",
                    );
                ui.end_row();
                let label = ui.label("Quantize");
                egui::ComboBox::from_id_salt("model-quantize")
                    .selected_text(choice.quantize.to_string())
                    .show_ui(ui, |ui| {
                        for kind in QuantizePick::ALL {
                            ui.selectable_value(&mut choice.quantize, kind, kind.to_string())
                                .on_hover_text(kind.bits());
                        }
                    })
                    .response
                    .labelled_by(label.id)
                    .on_hover_text(
                        "The decoder's linear layers in 4-8 bit blocks: a fraction of the memory, \
                         faster on a CPU, close to but not exactly the full model",
                    );
                ui.end_row();
                ui.label("");
                ui.add_enabled(
                    choice.quantize != QuantizePick::None,
                    egui::Checkbox::new(&mut choice.quantize_vision, "Quantize vision too"),
                )
                .on_hover_text("The vision tower's linear layers as well (not for Mavors)");
                ui.end_row();
            });
        if !build.cuda && !build.metal {
            ui.weak("This build runs on the CPU only (rebuild with --features cuda or metal).");
        }
    }
}

fn device_label(device: DevicePick) -> String {
    match device {
        DevicePick::Cuda(_) => "cuda".to_owned(),
        other => other.to_string(),
    }
}

fn auto_device_hint(build: BuildDevices) -> &'static str {
    match (build.cuda, build.metal) {
        (true, _) => "a CUDA GPU when one is present, else the CPU",
        (false, true) => "the Metal GPU when present, else the CPU",
        (false, false) => "the CPU (this build has no GPU back-end)",
    }
}

fn summary_grid(ui: &mut egui::Ui, summary: &ModelSummary) {
    let resolved = |picked: String, actual: &str| {
        if picked == "auto" {
            format!("{actual} (auto)")
        } else {
            actual.to_owned()
        }
    };
    let mut rows = vec![
        ("Type", summary.kind.clone()),
        ("Video encoder", summary.video_encoder.clone()),
        ("Parameters", format_count(summary.parameters)),
        (
            "Device",
            resolved(summary.loaded_with.device.to_string(), &summary.device),
        ),
        (
            "Dtype",
            resolved(summary.loaded_with.dtype.to_string(), &summary.dtype),
        ),
        ("Quantization", summary.quantization.clone()),
        ("Weights in memory", format_bytes(summary.weights_bytes)),
        ("Size on disk", format_bytes(summary.bytes_on_disk)),
    ];
    if let Some(free) = summary.free_after_load {
        rows.push(("Free memory", format_bytes(free)));
    }
    match &summary.gguf {
        Some(file) if *file == summary.dir => rows.push(("File", file.display().to_string())),
        Some(file) => {
            rows.push(("Folder", summary.dir.display().to_string()));
            rows.push(("Read from", file.display().to_string()));
        }
        None => rows.push(("Folder", summary.dir.display().to_string())),
    }
    egui::Grid::new("model-info").num_columns(2).show(ui, |ui| {
        for (name, value) in rows {
            ui.label(name);
            ui.label(value);
            ui.end_row();
        }
    });
}

/// 8_030_000_000 -> "8.03 B", 1_500_000 -> "1.50 M".
pub fn format_count(count: usize) -> String {
    let count = count as f64;
    if count >= 1e9 {
        format!("{:.2} B", count / 1e9)
    } else if count >= 1e6 {
        format!("{:.2} M", count / 1e6)
    } else if count >= 1e3 {
        format!("{:.1} K", count / 1e3)
    } else {
        format!("{count}")
    }
}

/// Binary units, as file managers show sizes.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes_read_like_people_say_them() {
        assert_eq!(format_count(8_030_000_000), "8.03 B");
        assert_eq!(format_count(1_500_000), "1.50 M");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(format_bytes(16 * 1024 * 1024 * 1024), "16.0 GiB");
    }
}
