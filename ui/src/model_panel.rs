//! The model manager's face: which checkpoint is loaded (or loading, or why it failed), and how to
//! get one when there is none. The app owns the loading; this panel shows it and asks for
//! Cancel / Unload / Open.

use std::path::PathBuf;

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
    pub device: String,
    pub dtype: String,
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
}

/// What the user asked the model manager to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelAction {
    /// Open the folder dialog.
    Open,
    CancelLoading,
    Unload,
}

/// How to get a model, shown when there is none.
pub const HOW_TO_GET_A_MODEL: &str = "Model > Open checkpoint folder… or drop a Hugging Face \
     checkpoint folder (config.json, *.safetensors, tokenizer.json) on the window";

#[derive(Clone, Debug, Default)]
pub struct ModelPanel {
    pub state: ModelState,
}

impl ModelPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<ModelAction> {
        let mut action = None;
        match &self.state {
            ModelState::None => {
                ui.label("No model loaded. Everything else works without one.");
                ui.weak(format!("To ask questions: {HOW_TO_GET_A_MODEL}."));
                if ui.button("Open checkpoint folder…").clicked() {
                    action = Some(ModelAction::Open);
                }
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
            ModelState::Loaded(summary) => {
                egui::Grid::new("model-info").num_columns(2).show(ui, |ui| {
                    let rows = [
                        ("Type", summary.kind.clone()),
                        ("Video encoder", summary.video_encoder.clone()),
                        ("Parameters", format_count(summary.parameters)),
                        ("Size on disk", format_bytes(summary.bytes_on_disk)),
                        ("Device", summary.device.clone()),
                        ("Dtype", summary.dtype.clone()),
                        ("Folder", summary.dir.display().to_string()),
                    ];
                    for (name, value) in rows {
                        ui.label(name);
                        ui.label(value);
                        ui.end_row();
                    }
                });
                ui.horizontal(|ui| {
                    if ui.button("Unload").clicked() {
                        action = Some(ModelAction::Unload);
                    }
                    if ui.button("Open another…").clicked() {
                        action = Some(ModelAction::Open);
                    }
                });
            }
            ModelState::Failed { dir, message } => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Could not load {}: {message}", dir.display()),
                );
                if ui.button("Open checkpoint folder…").clicked() {
                    action = Some(ModelAction::Open);
                }
            }
        }
        action
    }
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
