//! Controls of the attention heatmap overlay (opacity, layer, head, aggregation over the
//! selected tokens) and the plain arithmetic behind it: combining the selected tokens' attention
//! rows and normalising one frame's merged-token grid for the colormap shader.

/// What attention capture recorded: which decoder layers, and how many heads when it kept each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapturedLayers {
    pub layers: Vec<usize>,
    /// Heads per layer when per-head weights were captured.
    pub heads: Option<usize>,
}

/// The head mean, or one head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeadChoice {
    #[default]
    Mean,
    Head(usize),
}

/// How the rows of several selected tokens combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aggregation {
    #[default]
    Mean,
    Max,
}

/// The overlay settings the user picks.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatmapControls {
    pub visible: bool,
    pub opacity: f32,
    /// A decoder layer number among the captured ones (`None`: the last captured).
    pub layer: Option<usize>,
    pub head: HeadChoice,
    pub aggregation: Aggregation,
    /// Keep each head's weights in the next capture (memory grows with the head count).
    pub capture_per_head: bool,
}

impl Default for HeatmapControls {
    fn default() -> Self {
        Self {
            visible: true,
            opacity: 0.6,
            layer: None,
            head: HeadChoice::Mean,
            aggregation: Aggregation::Mean,
            capture_per_head: false,
        }
    }
}

/// What the user did with the controls this frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeatmapResponse {
    /// A setting changed: the map needs recomputing.
    pub changed: bool,
    /// "Jump to most attended frame" was pressed.
    pub jump: bool,
}

impl HeatmapControls {
    /// The layer to show: the chosen one if it was captured, else the last captured.
    pub fn effective_layer(&self, captured: &CapturedLayers) -> Option<usize> {
        self.layer
            .filter(|l| captured.layers.contains(l))
            .or_else(|| captured.layers.last().copied())
    }

    /// The head to show: one head only when per-head weights exist and it is in range.
    pub fn effective_head(&self, captured: &CapturedLayers) -> HeadChoice {
        match (self.head, captured.heads) {
            (HeadChoice::Head(h), Some(heads)) if h < heads => HeadChoice::Head(h),
            _ => HeadChoice::Mean,
        }
    }

    /// `selection` describes the tokens the map is for (shown so the user knows what they see).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        captured: &CapturedLayers,
        selection: Option<&str>,
    ) -> HeatmapResponse {
        let before = self.clone();
        let mut response = HeatmapResponse::default();
        ui.checkbox(
            &mut self.capture_per_head,
            "Capture each head (next question; more memory)",
        );
        if captured.layers.is_empty() {
            ui.weak("No attention captured yet: ask a question to see where the model looked.");
            response.changed = *self != before;
            return response;
        }
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.visible, "Show heatmap");
            ui.add_enabled(
                self.visible,
                egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("Opacity"),
            );
        });
        let layer = self.effective_layer(captured);
        egui::ComboBox::from_label("Layer")
            .selected_text(layer.map_or_else(String::new, |l| format!("layer {l}")))
            .show_ui(ui, |ui| {
                for &l in &captured.layers {
                    ui.selectable_value(&mut self.layer, Some(l), format!("layer {l}"));
                }
            });
        let head = self.effective_head(captured);
        ui.add_enabled_ui(captured.heads.is_some(), |ui| {
            egui::ComboBox::from_label("Head")
                .selected_text(head_label(head))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.head, HeadChoice::Mean, "mean of heads");
                    for h in 0..captured.heads.unwrap_or(0) {
                        ui.selectable_value(
                            &mut self.head,
                            HeadChoice::Head(h),
                            format!("head {h}"),
                        );
                    }
                });
        })
        .response
        .on_disabled_hover_text("only the head mean was captured");
        ui.horizontal(|ui| {
            ui.label("Over the selected tokens");
            ui.radio_value(&mut self.aggregation, Aggregation::Mean, "mean");
            ui.radio_value(&mut self.aggregation, Aggregation::Max, "max");
        });
        ui.horizontal(|ui| {
            match selection {
                Some(text) => ui.label(format!("Showing: {text}")),
                None => ui.weak("Hover or click a token of an answer to see its heatmap"),
            };
        });
        response.jump = ui
            .add_enabled(
                selection.is_some(),
                egui::Button::new("Jump to most attended frame"),
            )
            .clicked();
        response.changed = *self != before;
        response
    }
}

fn head_label(head: HeadChoice) -> String {
    match head {
        HeadChoice::Mean => "mean of heads".to_owned(),
        HeadChoice::Head(h) => format!("head {h}"),
    }
}

/// Combines equally long attention rows (one per selected token) element-wise. `None` without
/// rows or when their lengths differ (rows of different prompts).
pub fn aggregate<'a>(
    rows: impl IntoIterator<Item = &'a [f32]>,
    aggregation: Aggregation,
) -> Option<Vec<f32>> {
    let mut rows = rows.into_iter();
    let mut combined = rows.next()?.to_vec();
    let mut count = 1usize;
    for row in rows {
        if row.len() != combined.len() {
            return None;
        }
        for (acc, &value) in combined.iter_mut().zip(row) {
            match aggregation {
                Aggregation::Mean => *acc += value,
                Aggregation::Max => *acc = acc.max(value),
            }
        }
        count += 1;
    }
    if aggregation == Aggregation::Mean {
        let count = count as f32;
        combined.iter_mut().for_each(|v| *v /= count);
    }
    Some(combined)
}

/// Entries of the heat colour table.
pub const HEAT_TABLE_LEN: usize = 256;

/// The heat colour map as sRGB colours evenly spaced over 0..=1: colorous' inferno (matplotlib's),
/// the one map that the timeline's attention track and the heatmap overlay's shader both read,
/// so the track and the overlay agree.
pub fn heat_table() -> &'static [[u8; 3]; HEAT_TABLE_LEN] {
    static TABLE: std::sync::OnceLock<[[u8; 3]; HEAT_TABLE_LEN]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| {
            let c = colorous::INFERNO.eval_rational(i, HEAT_TABLE_LEN);
            [c.r, c.g, c.b]
        })
    })
}

/// The table entry for `value` (0..=1, clamped): the nearest of the evenly spaced entries, as
/// `shaders/heatmap.wgsl` picks it.
pub fn heat_index(value: f32) -> usize {
    let last = (HEAT_TABLE_LEN - 1) as f32;
    (value.clamp(0.0, 1.0) * last).round() as usize
}

/// The colour of `value` (0..=1) in the heat colour map.
pub fn heat_color(value: f32) -> egui::Color32 {
    let [r, g, b] = heat_table()[heat_index(value)];
    egui::Color32::from_rgb(r, g, b)
}

/// One frame's merged-token grid, values scaled to 0..1 by the frame's maximum (what the
/// colormap shows: where in this frame the token looked, whatever the frame's total mass).
#[derive(Clone, Debug, PartialEq)]
pub struct HeatGrid {
    pub rows: usize,
    pub cols: usize,
    /// Row-major, `rows * cols` values in 0..1.
    pub values: Vec<f32>,
}

impl HeatGrid {
    /// `None` when `raw` does not hold `rows * cols` values.
    pub fn normalized(rows: usize, cols: usize, raw: &[f32]) -> Option<Self> {
        if rows == 0 || cols == 0 || raw.len() != rows * cols {
            return None;
        }
        let max = raw
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0_f32, f32::max);
        let values = raw
            .iter()
            .map(|&v| {
                if max > 0.0 && v.is_finite() {
                    (v / max).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        Some(Self { rows, cols, values })
    }

    /// Bytes for an R8Unorm texture (R32Float is not filterable, so the shader gets bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.values
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_max_combine_rows_element_wise() {
        let a = [0.2, 0.4];
        let b = [0.6, 0.0];
        let rows = [&a[..], &b[..]];
        assert_eq!(aggregate(rows, Aggregation::Max), Some(vec![0.6, 0.4]));
        let mean = aggregate(rows, Aggregation::Mean).unwrap();
        assert!((mean[0] - 0.4).abs() < 1e-6 && (mean[1] - 0.2).abs() < 1e-6);
        assert_eq!(aggregate([], Aggregation::Mean), None);
        assert_eq!(aggregate([&a[..], &[1.0][..]], Aggregation::Mean), None);
    }

    #[test]
    fn grids_normalise_to_their_maximum() {
        let grid = HeatGrid::normalized(1, 3, &[0.0, 0.1, 0.2]).unwrap();
        assert_eq!(grid.values, [0.0, 0.5, 1.0]);
        assert_eq!(grid.to_bytes(), [0, 128, 255]);
        assert_eq!(HeatGrid::normalized(2, 2, &[0.0; 3]), None);
        let flat = HeatGrid::normalized(1, 2, &[0.0, 0.0]).unwrap();
        assert_eq!(flat.values, [0.0, 0.0]);
    }

    #[test]
    fn the_heat_map_is_inferno_from_dark_to_bright() {
        let table = heat_table();
        // colorous' inferno starts near black (#000004) and ends pale yellow (#fcffa4).
        assert_eq!(table[0], [0, 0, 4]);
        assert_eq!(table[HEAT_TABLE_LEN - 1], [252, 255, 164]);
        let luma = |[r, g, b]: [u8; 3]| 299 * r as u32 + 587 * g as u32 + 114 * b as u32;
        assert!(table.windows(2).all(|w| luma(w[0]) <= luma(w[1])));
        assert_eq!(heat_index(-1.0), 0);
        assert_eq!(heat_index(0.5), 128);
        assert_eq!(heat_index(2.0), HEAT_TABLE_LEN - 1);
        assert_eq!(heat_color(1.0), egui::Color32::from_rgb(252, 255, 164));
    }

    #[test]
    fn chosen_layer_and_head_fall_back_to_what_was_captured() {
        let captured = CapturedLayers {
            layers: vec![0, 3],
            heads: None,
        };
        let mut controls = HeatmapControls::default();
        assert_eq!(controls.effective_layer(&captured), Some(3));
        controls.layer = Some(0);
        assert_eq!(controls.effective_layer(&captured), Some(0));
        controls.layer = Some(7);
        assert_eq!(controls.effective_layer(&captured), Some(3));
        controls.head = HeadChoice::Head(1);
        assert_eq!(controls.effective_head(&captured), HeadChoice::Mean);
        let per_head = CapturedLayers {
            heads: Some(2),
            ..captured
        };
        assert_eq!(controls.effective_head(&per_head), HeadChoice::Head(1));
    }
}
