//! The record being edited compared with another annotator's caption of the same video: the
//! agreement figures and each difference, a click away from the event or the moment it is about.

use haic::agree::{Agreement, EventRef};

use super::{CaptionEditor, EventField, Field, PlayerCommand};
use crate::captions::CaptionAction;

/// Another annotator's caption of the record being edited, compared with it by the app.
#[derive(Clone, Copy, Debug)]
pub struct Comparison<'a> {
    /// The other file's name.
    pub other_name: &'a str,
    /// The record the comparison is about (in the file being edited).
    pub record: usize,
    /// This file is side A, the other file side B.
    pub agreement: &'a Agreement,
}

/// Matched events whose spans overlap less than this are listed as timed differently.
const SHIFTED_IOU: f64 = 0.5;

impl CaptionEditor {
    pub(super) fn compare_view(&mut self, ui: &mut egui::Ui, comparison: &Comparison<'_>) {
        let agreement = comparison.agreement;
        let name = comparison.other_name;
        egui::CollapsingHeader::new(format!("Compared with {name}"))
            .id_salt("caption-compare")
            .default_open(true)
            .show(ui, |ui| {
                let figure = |value: Option<f64>| value.map_or("-".into(), |v| format!("{v:.2}"));
                ui.label(format!(
                    "IoU {} · kappa {} · {} of {} events matched · wording {}",
                    figure(agreement.mean_iou),
                    figure(agreement.kappa),
                    agreement.matched.len(),
                    agreement.events_a.max(agreement.events_b),
                    figure(agreement.mean_action_similarity),
                ))
                .on_hover_text(
                    "IoU: overlap / union of matched events' spans (1: same spans). Kappa: agreement \
                     on who acts in each 0.5 s, beyond chance (1: full, 0: chance). Wording: shared \
                     words of matched actions (1: same words).",
                );
                let mut differences = 0;
                for event in &agreement.unmatched_a {
                    differences += 1;
                    let text = format!("Only here: event {} {}", event.event + 1, describe(event));
                    if ui.link(text).clicked() {
                        self.show_event(event.event, event.start);
                    }
                }
                for event in &agreement.unmatched_b {
                    differences += 1;
                    if ui.link(format!("Only in {name}: {}", describe(event))).clicked()
                        && let Some(start) = event.start
                    {
                        self.actions
                            .push(CaptionAction::Player(PlayerCommand::Seek(start)));
                    }
                }
                for pair in &agreement.matched {
                    let Some(iou) = pair.iou.filter(|iou| *iou < SHIFTED_IOU) else {
                        continue;
                    };
                    differences += 1;
                    let text = format!(
                        "Timed differently (IoU {iou:.2}): event {} {} / there {}",
                        pair.a.event + 1,
                        describe(&pair.a),
                        span(&pair.b)
                    );
                    if ui.link(text).clicked() {
                        self.show_event(pair.a.event, pair.a.start);
                    }
                }
                if differences == 0 {
                    ui.weak("The same events at about the same times.");
                }
            });
    }

    /// Selects an event of the record (without taking the keyboard) and shows its start.
    fn show_event(&mut self, event: usize, start: Option<f64>) {
        self.located = Some(Field::Event(event, EventField::Action));
        self.scroll_to_located = false;
        if let Some(start) = start {
            self.actions
                .push(CaptionAction::Player(PlayerCommand::Seek(start)));
        }
    }
}

fn span(event: &EventRef) -> String {
    match (event.start, event.end) {
        (Some(start), Some(end)) => format!("{start:.2}-{end:.2} s"),
        _ => "untimed".into(),
    }
}

fn describe(event: &EventRef) -> String {
    format!("\"{}\" {}", event.action, span(event))
}
