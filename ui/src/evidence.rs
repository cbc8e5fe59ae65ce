//! The evidence inspector: which aggregation the heatmap shows (each named with one line on what
//! it means), whether attention sinks are masked, "Test frames" (the deletion test) with its
//! progress and cancel, the frames sorted by how much the answer needed them, and the answer's
//! faithfulness figure. Pure presentation: the app hands in an [`EvidenceView`] and acts on the
//! returned [`EvidenceAction`].

/// One aggregation as the picker offers it.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregationInfo {
    pub name: String,
    pub description: String,
}

/// One frame of the deletion test's sorted list.
#[derive(Clone, Debug, PartialEq)]
pub struct EvidenceRow {
    /// "frame 12 at 1.50 s", "chunk at frame 8", "image 1".
    pub label: String,
    /// Where a click seeks, seconds.
    pub time: f64,
    /// Drop in the answer's log-probability without the frame.
    pub drop: f64,
    /// The frame's share of the chosen map.
    pub attention: f64,
}

/// How raw attention combines a layer's heads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RawHeads {
    #[default]
    Mean,
    Max,
    Head(usize),
}

/// What the inspector shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvidenceView {
    /// The first is raw attention (its layer and heads are picked below it).
    pub aggregations: Vec<AggregationInfo>,
    /// Decoder layers and heads per layer the maps have (0 before any).
    pub layers: usize,
    pub heads: usize,
    /// What the maps explain: "the whole answer", "token 3".
    pub target: Option<String>,
    /// Sink tokens found (marked on the frame).
    pub sinks: usize,
    /// Whether maps for the answer exist (the aggregation picker and sink toggle then apply).
    pub has_maps: bool,
    /// "Test frames" is possible (a finished answer and a local model).
    pub can_test: bool,
    /// Runs done of total while the deletion test runs.
    pub progress: Option<(usize, usize)>,
    /// Frames by falling drop.
    pub rows: Vec<EvidenceRow>,
    /// Spearman agreement of the chosen map's frame ranking with the deletion ranking.
    pub faithfulness: Option<f64>,
    /// A line on what happened last (a failure, a cancel).
    pub status: Option<String>,
}

/// The user's choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceControls {
    /// Index into [`EvidenceView::aggregations`].
    pub aggregation: usize,
    /// Raw attention's layer (`None`: the mean of every layer) and heads.
    pub raw_layer: Option<usize>,
    pub raw_heads: RawHeads,
    pub mask_sinks: bool,
    /// Draw the chosen map (and the sinks) on the frame instead of the selected tokens' attention.
    pub show_on_frame: bool,
}

impl Default for EvidenceControls {
    /// Gradient-weighted attention with sinks masked (the aggregation the deletion test agrees
    /// with best on the demo model), shown on the frame once computed.
    fn default() -> Self {
        Self {
            aggregation: 2,
            raw_layer: None,
            raw_heads: RawHeads::Mean,
            mask_sinks: true,
            show_on_frame: true,
        }
    }
}

/// What the user did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EvidenceAction {
    /// The aggregation, the sink toggle or "show on frame" changed.
    Changed,
    TestFrames,
    Cancel,
    Seek(f64),
}

impl EvidenceControls {
    /// Raw attention's layer and heads.
    fn raw_choice_ui(&mut self, ui: &mut egui::Ui, view: &EvidenceView) {
        let layer_name = |layer: Option<usize>| match layer {
            None => "mean of all layers".to_owned(),
            Some(l) => format!("layer {l}"),
        };
        egui::ComboBox::from_label("Layer")
            .selected_text(layer_name(self.raw_layer))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.raw_layer, None, layer_name(None));
                for l in 0..view.layers {
                    ui.selectable_value(&mut self.raw_layer, Some(l), layer_name(Some(l)));
                }
            });
        let heads_name = |heads: RawHeads| match heads {
            RawHeads::Mean => "mean of heads".to_owned(),
            RawHeads::Max => "max of heads".to_owned(),
            RawHeads::Head(h) => format!("head {h}"),
        };
        egui::ComboBox::from_label("Heads")
            .selected_text(heads_name(self.raw_heads))
            .show_ui(ui, |ui| {
                for heads in [RawHeads::Mean, RawHeads::Max]
                    .into_iter()
                    .chain((0..view.heads).map(RawHeads::Head))
                {
                    ui.selectable_value(&mut self.raw_heads, heads, heads_name(heads));
                }
            });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, view: &EvidenceView) -> Option<EvidenceAction> {
        let before = self.clone();
        let mut action = None;
        if let Some(target) = &view.target {
            ui.weak(format!("Maps of {target}"));
        }
        ui.label("Aggregation");
        for (index, info) in view.aggregations.iter().enumerate() {
            ui.radio_value(&mut self.aggregation, index, &info.name);
            ui.indent(("aggregation-line", index), |ui| {
                ui.weak(&info.description);
                if index == 0 && self.aggregation == 0 && view.layers > 0 {
                    self.raw_choice_ui(ui, view);
                }
            });
        }
        ui.checkbox(
            &mut self.mask_sinks,
            format!("Mask attention sinks ({} found)", view.sinks),
        )
        .on_hover_text(
            "tokens that take attention whatever is asked carry no evidence; masked, the rest \
             of the map is renormalised; they are ringed on the frame",
        );
        ui.checkbox(&mut self.show_on_frame, "Show this map on the frame");
        match view.progress {
            Some((done, total)) => {
                ui.horizontal(|ui| {
                    ui.add(
                        egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                            .text(format!("testing frames {done}/{total}"))
                            .desired_width(160.0),
                    );
                    if ui.button("Cancel").clicked() {
                        action = Some(EvidenceAction::Cancel);
                    }
                });
            }
            None => {
                let button = ui
                    .add_enabled(view.can_test, egui::Button::new("Test frames"))
                    .on_hover_text(
                        "run the answer again without each frame and measure how much less \
                         likely the answer becomes",
                    )
                    .on_disabled_hover_text("needs a finished answer from a local model");
                if button.clicked() {
                    action = Some(EvidenceAction::TestFrames);
                }
            }
        }
        if let Some(status) = &view.status {
            ui.weak(status);
        }
        if let Some(figure) = view.faithfulness {
            ui.label(format!(
                "Faithfulness {figure:+.2} (Spearman: this map's frame ranking vs the deletion \
                 ranking)"
            ));
        }
        if !view.rows.is_empty() {
            ui.label("Frames the answer needed most (drop in log-probability without it)");
            egui::Grid::new("evidence-rows")
                .striped(true)
                .show(ui, |ui| {
                    for row in &view.rows {
                        if ui.link(&row.label).clicked() {
                            action = Some(EvidenceAction::Seek(row.time));
                        }
                        ui.monospace(format!("{:+.3}", row.drop));
                        ui.weak(format!("attention {:.1}%", row.attention * 100.0));
                        ui.end_row();
                    }
                });
        }
        if action.is_none() && *self != before {
            action = Some(EvidenceAction::Changed);
        }
        action
    }
}
