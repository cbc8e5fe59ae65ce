//! The ask panel's visual-token budget (how densely the video is sampled, how many visual tokens
//! a prompt may hold) and the estimate of what the next question will cost, shown before it is
//! sent: prompt tokens, peak memory, and the refusal when it would not fit.

use crate::model_panel::format_bytes;

/// Frames, fps and pixels an unticked knob starts from when ticked.
const FIRST_MAX_FRAMES: usize = 64;
const FIRST_FPS: f64 = 2.0;
/// 256 merged tokens of 28 x 28 pixels.
const FIRST_MAX_PIXELS: u64 = 200_704;
/// Pixels of one merged visual token.
const TOKEN_PIXELS: u64 = 28 * 28;

/// The budget as the user sets it. `None` knobs keep the video encoder's own sampling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetSettings {
    /// At most this many sampled frames per video.
    pub max_frames: Option<usize>,
    /// Frames sampled per second of video.
    pub fps: Option<f64>,
    /// At most this many pixels per frame (after resizing).
    pub max_pixels: Option<u64>,
    /// At most this many visual tokens in one prompt.
    pub max_visual_tokens: usize,
}

impl Default for BudgetSettings {
    /// The encoders' own sampling with the 1.5 processor's ceiling, until a model says better.
    fn default() -> Self {
        Self {
            max_frames: None,
            fps: None,
            max_pixels: None,
            max_visual_tokens: 65_536,
        }
    }
}

/// What the next question will cost on the loaded model, worked out from the video's frame index.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptCost {
    pub prompt_tokens: usize,
    pub visual_tokens: usize,
    /// False when `visual_tokens` is an upper bound (SlowFast decides slow and fast frames from
    /// their pixels).
    pub exact: bool,
    /// Sampled frames (or Mavors chunks).
    pub steps: usize,
    pub peak_bytes: u64,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub vision_bytes: u64,
    pub decoder_bytes: u64,
    /// Why the question would be refused, naming the knob to turn.
    pub refusal: Option<String>,
}

/// The estimate as the panel shows it: the latest result (possibly for older settings while a
/// new one is worked out), or why there is none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EstimateView {
    pub cost: Option<PromptCost>,
    /// A new estimate is being worked out.
    pub computing: bool,
    pub error: Option<String>,
}

impl EstimateView {
    /// The refusal on show, if any: the panel does not send while there is one.
    pub fn refusal(&self) -> Option<&str> {
        self.cost.as_ref()?.refusal.as_deref()
    }

    pub(crate) fn ui(&self, ui: &mut egui::Ui) {
        match (&self.cost, &self.error) {
            (Some(cost), _) => {
                ui.horizontal_wrapped(|ui| {
                    let upper = if cost.exact { "" } else { "up to " };
                    ui.label(format!(
                        "≈ {} prompt tokens ({upper}{} visual, {} frames) · peak memory ≈ {}",
                        grouped(cost.prompt_tokens),
                        grouped(cost.visual_tokens),
                        cost.steps,
                        format_bytes(cost.peak_bytes),
                    ))
                    .on_hover_text(format!(
                        "weights {}, KV cache {}, vision tower {}, decoder {}",
                        format_bytes(cost.weights_bytes),
                        format_bytes(cost.kv_cache_bytes),
                        format_bytes(cost.vision_bytes),
                        format_bytes(cost.decoder_bytes),
                    ));
                    if self.computing {
                        ui.spinner();
                    }
                });
                if let Some(refusal) = &cost.refusal {
                    ui.colored_label(ui.visuals().error_fg_color, refusal);
                }
            }
            (None, Some(error)) => {
                ui.weak(format!("No estimate: {error}"));
            }
            (None, None) if self.computing => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.weak("Estimating the prompt…");
                });
            }
            (None, None) => {}
        }
    }
}

impl BudgetSettings {
    /// The knobs, each with its name as the refusal messages use it; `defaults` is what "Model
    /// defaults" restores.
    pub(crate) fn ui(&mut self, ui: &mut egui::Ui, defaults: &BudgetSettings) {
        egui::Grid::new("ask-budget-grid")
            .num_columns(2)
            .show(ui, |ui| {
                optional_knob(
                    ui,
                    "Max frames",
                    &mut self.max_frames,
                    FIRST_MAX_FRAMES,
                    egui::DragValue::new,
                    1..=4096,
                );
                ui.end_row();
                optional_knob(
                    ui,
                    "Frames per second",
                    &mut self.fps,
                    FIRST_FPS,
                    |v| egui::DragValue::new(v).speed(0.05).max_decimals(2),
                    0.05..=60.0,
                );
                ui.end_row();
                optional_knob(
                    ui,
                    "Max pixels per frame",
                    &mut self.max_pixels,
                    FIRST_MAX_PIXELS,
                    |v| egui::DragValue::new(v).speed(784.0),
                    TOKEN_PIXELS * 4..=16_777_216,
                );
                if let Some(pixels) = self.max_pixels {
                    ui.weak(format!("≤ {} tokens a frame", pixels / TOKEN_PIXELS));
                }
                ui.end_row();
                let label = ui.label("Max visual tokens");
                ui.add(
                    egui::DragValue::new(&mut self.max_visual_tokens)
                        .range(64..=1_048_576)
                        .speed(64.0),
                )
                .labelled_by(label.id)
                .on_hover_text("A question whose media give more is refused before the model runs");
                ui.end_row();
            });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self != defaults, egui::Button::new("Model defaults"))
                .on_hover_text(
                    "The encoder's sampling, and as many visual tokens as free memory holds",
                )
                .clicked()
            {
                *self = *defaults;
            }
            ui.weak("Unticked knobs keep the video encoder's sampling.");
        });
    }
}

/// A ticked knob limits; an unticked one keeps the encoder's default (`None`).
fn optional_knob<'a, T: egui::emath::Numeric>(
    ui: &mut egui::Ui,
    name: &str,
    value: &'a mut Option<T>,
    first: T,
    drag: impl FnOnce(&'a mut T) -> egui::DragValue<'a>,
    range: std::ops::RangeInclusive<T>,
) {
    let mut ticked = value.is_some();
    let check = ui.checkbox(&mut ticked, name);
    if ticked != value.is_some() {
        *value = ticked.then_some(first);
    }
    match value {
        Some(v) => {
            ui.add(drag(v).range(range)).labelled_by(check.id);
        }
        None => {
            ui.weak("encoder default");
        }
    }
}

/// 12345 -> "12,345".
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(62_345_678), "62,345,678");
    }
}
