//! Which decoder layers the next question records attention for, and what that costs: each
//! generated token keeps, per captured layer, one f32 per vision token (the head mean), and one
//! more per head with per-head capture.

use std::collections::BTreeSet;

/// Bytes of one captured weight.
const WEIGHT_BYTES: u64 = 4;

/// The layer choice; the per-head switch sits with the heatmap controls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureControls {
    /// Decoder layers to capture; empty captures nothing.
    pub layers: BTreeSet<usize>,
    /// Layers and attention heads of the loaded decoder (0 without a model).
    decoder_layers: usize,
    heads: usize,
}

impl CaptureControls {
    /// First, middle and last layer: enough to compare shallow and deep attention without
    /// keeping every layer of every token.
    pub fn default_layers(decoder_layers: usize) -> BTreeSet<usize> {
        if decoder_layers == 0 {
            return BTreeSet::new();
        }
        [0, decoder_layers / 2, decoder_layers - 1].into()
    }

    /// Follows the loaded decoder: a first model (or one of another depth) starts from the
    /// default layers; the same depth keeps the user's pick.
    pub fn set_decoder(&mut self, layers: usize, heads: usize) {
        if layers != self.decoder_layers {
            self.layers = Self::default_layers(layers);
        }
        self.decoder_layers = layers;
        self.heads = heads;
    }

    pub fn decoder_layers(&self) -> usize {
        self.decoder_layers
    }

    /// Bytes each generated token keeps for `vision_tokens` vision tokens.
    pub fn bytes_per_token(&self, vision_tokens: usize, per_head: bool) -> u64 {
        let rows = if per_head { 1 + self.heads as u64 } else { 1 };
        WEIGHT_BYTES * vision_tokens as u64 * self.layers.len() as u64 * rows
    }

    /// The layer picker and the cost line; `vision_tokens` is the estimate for the question in
    /// the box when there is one.
    pub fn ui(&mut self, ui: &mut egui::Ui, per_head: bool, vision_tokens: Option<usize>) {
        if self.decoder_layers == 0 {
            ui.weak("Load a model to choose which layers to capture.");
            return;
        }
        ui.horizontal(|ui| {
            ui.label("Capture");
            ui.menu_button(self.summary(), |ui| self.menu(ui))
                .response
                .on_hover_text("Layers whose attention the next question records");
        });
        let rows = if per_head {
            format!("(1 mean + {} heads)", self.heads)
        } else {
            "head mean".to_owned()
        };
        let layers = self.layers.len();
        let text = match vision_tokens {
            _ if layers == 0 => "No attention is captured: no heatmap for the next answer".into(),
            Some(tokens) => format!(
                "{} per generated token: 4 B × {tokens} vision tokens × {layers} layers, {rows}",
                crate::model_panel::format_bytes(self.bytes_per_token(tokens, per_head)),
            ),
            None => format!(
                "{} B per vision token per generated token: 4 B × {layers} layers, {rows}",
                self.bytes_per_token(1, per_head)
            ),
        };
        ui.weak(text);
    }

    /// "layers 0, 14, 27", "all 28 layers", "no layers".
    fn summary(&self) -> String {
        match self.layers.len() {
            0 => "no layers".to_owned(),
            n if n == self.decoder_layers => format!("all {n} layers"),
            _ => {
                let list: Vec<String> = self.layers.iter().map(usize::to_string).collect();
                format!("layers {}", list.join(", "))
            }
        }
    }

    fn menu(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui.button("First, middle, last").clicked() {
                self.layers = Self::default_layers(self.decoder_layers);
            }
            if ui.button("All").clicked() {
                self.layers = (0..self.decoder_layers).collect();
            }
            if ui.button("None").clicked() {
                self.layers.clear();
            }
        });
        ui.separator();
        egui::ScrollArea::vertical()
            .max_height(240.0)
            .show(ui, |ui| {
                egui::Grid::new("capture-layers").show(ui, |ui| {
                    for layer in 0..self.decoder_layers {
                        let mut on = self.layers.contains(&layer);
                        if ui.checkbox(&mut on, format!("layer {layer}")).changed() {
                            if on {
                                self.layers.insert(layer);
                            } else {
                                self.layers.remove(&layer);
                            }
                        }
                        if layer % 4 == 3 {
                            ui.end_row();
                        }
                    }
                });
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spreads_over_the_decoder() {
        let layers = |n| Vec::from_iter(CaptureControls::default_layers(n));
        assert_eq!(layers(36), [0, 18, 35]);
        assert_eq!(layers(2), [0, 1]);
        assert_eq!(layers(1), [0]);
        assert!(layers(0).is_empty());
    }

    #[test]
    fn a_new_depth_resets_the_pick_and_the_same_depth_keeps_it() {
        let mut controls = CaptureControls::default();
        controls.set_decoder(36, 32);
        controls.layers = [3, 4].into();
        controls.set_decoder(36, 32);
        assert_eq!(Vec::from_iter(controls.layers.clone()), [3, 4]);
        controls.set_decoder(2, 4);
        assert_eq!(Vec::from_iter(controls.layers.clone()), [0, 1]);
    }

    #[test]
    fn the_cost_is_four_bytes_per_vision_token_per_layer_and_head_row() {
        let mut controls = CaptureControls::default();
        controls.set_decoder(36, 32);
        assert_eq!(controls.bytes_per_token(1000, false), 4 * 1000 * 3);
        assert_eq!(controls.bytes_per_token(1000, true), 4 * 1000 * 3 * 33);
        controls.layers.clear();
        assert_eq!(controls.bytes_per_token(1000, true), 0);
    }
}
