//! Characters a language model finds unlikely in a Chinese field ("suspects"): underlined in the
//! field, their suggestions on hover and as buttons under the field. A suggestion's button sends
//! the edit that puts it in place as one [`CaptionAction::Edit`], so the document journals it
//! and undo takes it back in one step, like any other edit.

use egui::{Stroke, text::CCursor};
use haic::{Command, TextField};

use super::{CaptionAction, CaptionEditor};

/// One suspect character of a field, as the app hands it to the editor.
#[derive(Clone, Debug, PartialEq)]
pub struct SuspectMark {
    pub record: usize,
    pub target: TextField,
    /// The field's text when it was checked: the mark shows only while the field holds it.
    pub text: String,
    /// Position in `text`, in characters.
    pub char_offset: usize,
    pub character: char,
    /// A few characters either side, the suspect in brackets: "…红色衣[幅]的女人".
    pub context: String,
    /// The model's probability of the written character in its place.
    pub probability: f32,
    pub suggestions: Vec<SuggestionMark>,
}

/// A character the model would rather see, and the edit that puts it in place.
#[derive(Clone, Debug, PartialEq)]
pub struct SuggestionMark {
    pub character: char,
    pub probability: f32,
    pub fix: Command,
}

/// At most this many suspects of one field are offered (the rest wait for the next check).
const SHOWN_PER_FIELD: usize = 6;

impl SuspectMark {
    fn hover_text(&self) -> String {
        let suggestions: Vec<String> = self
            .suggestions
            .iter()
            .map(|s| format!("{} ({:.0}%)", s.character, s.probability * 100.0))
            .collect();
        format!(
            "「{}」 looks unlikely here ({:.1}%); the model suggests {}",
            self.character,
            self.probability * 100.0,
            suggestions.join(", ")
        )
    }
}

impl CaptionEditor {
    /// Replaces the suspects shown (the app's latest check of the record being edited).
    pub fn set_suspects(&mut self, suspects: Vec<SuspectMark>) {
        self.suspects = suspects;
    }

    pub fn suspects(&self) -> &[SuspectMark] {
        &self.suspects
    }

    /// The suspects of one field while it shows `text`, in text order.
    fn field_suspects(&self, record: usize, target: &TextField, text: &str) -> Vec<SuspectMark> {
        let mut marks: Vec<SuspectMark> = self
            .suspects
            .iter()
            .filter(|m| m.record == record && &m.target == target && m.text == text)
            .cloned()
            .collect();
        marks.sort_by_key(|m| m.char_offset);
        marks.truncate(SHOWN_PER_FIELD);
        marks
    }

    pub(super) fn has_suspects(&self, record: usize, target: &TextField) -> bool {
        self.suspects
            .iter()
            .any(|m| m.record == record && &m.target == target)
    }

    /// Underlines the suspects in a drawn text field, each with its suggestions on hover.
    pub(super) fn underline_suspects(
        &self,
        ui: &egui::Ui,
        output: &egui::text_edit::TextEditOutput,
        record: usize,
        target: &TextField,
        text: &str,
    ) {
        let color = ui.visuals().error_fg_color;
        for mark in self.field_suspects(record, target, text) {
            let galley = &output.galley;
            let start = galley.pos_from_cursor(CCursor::new(mark.char_offset));
            let end = galley.pos_from_cursor(CCursor::new(mark.char_offset + 1));
            let rect = egui::Rect::from_min_max(start.min, egui::pos2(end.max.x, start.max.y))
                .translate(output.galley_pos.to_vec2());
            if !output.text_clip_rect.intersects(rect) {
                continue;
            }
            let y = rect.bottom() - 1.0;
            ui.painter()
                .with_clip_rect(output.text_clip_rect.expand(2.0))
                .line_segment(
                    [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
                    Stroke::new(2.0, color),
                );
            let id = egui::Id::unique(("caption-suspect", record, target, mark.char_offset));
            // Hover only: a click still places the text cursor.
            let name = format!("Suspect {} at {}", mark.character, mark.char_offset);
            let response = ui.interact(rect, id, egui::Sense::hover());
            response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &name));
            response.on_hover_text(mark.hover_text());
        }
    }

    /// The suggestions of a field's suspects, as buttons; a click puts one in place.
    pub(super) fn suspect_suggestions(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        target: &TextField,
        text: &str,
    ) {
        for mark in self.field_suspects(record, target, text) {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, &mark.context)
                    .on_hover_text(mark.hover_text());
                for suggestion in &mark.suggestions {
                    let clicked = ui
                        .small_button(suggestion.character.to_string())
                        .on_hover_text(format!(
                            "Replace 「{}」 with 「{}」 ({:.0}% likely here)",
                            mark.character,
                            suggestion.character,
                            suggestion.probability * 100.0
                        ))
                        .accessible_name(format!(
                            "Replace {} at {} with {}",
                            mark.character, mark.char_offset, suggestion.character
                        ))
                        .clicked();
                    if clicked {
                        self.push(CaptionAction::Edit(suggestion.fix.clone()));
                    }
                }
            });
        }
    }
}
