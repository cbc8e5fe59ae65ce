//! A model's draft of an empty record, shown as a diff the annotator accepts person by person
//! and event by event; accepted pieces become ordinary edits (`haic::draft` works them out).

use egui::{Color32, RichText};
use haic::{CaptionRecord, Structure, text};

use super::{CaptionAction, CaptionEditor, DraftAvailability, EditorEnv, is_empty_record};

/// Whether a draft piece was taken over, turned down, or is still to be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceState {
    Pending,
    Accepted,
    Rejected,
}

/// A model's draft of one record, piece by piece.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub record: usize,
    pub structure: Structure,
    pub people: Vec<PieceState>,
    pub events: Vec<PieceState>,
}

impl CaptionEditor {
    pub(super) fn draft_view(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        caption: &CaptionRecord,
        env: &EditorEnv<'_>,
    ) {
        if let Some(draft) = self.draft.clone().filter(|draft| draft.record == record) {
            self.diff_view(ui, record, caption, draft);
            return;
        }
        if !is_empty_record(caption) {
            return;
        }
        ui.horizontal(|ui| {
            let (enabled, hint) = match &env.draft {
                DraftAvailability::Ready => (
                    true,
                    "Ask the loaded model to describe the video in HAIC form".to_owned(),
                ),
                DraftAvailability::Running => (false, "The model is drafting".to_owned()),
                DraftAvailability::Unavailable(why) => (false, why.clone()),
            };
            let button = ui
                .add_enabled(enabled, egui::Button::new("Draft with model"))
                .on_hover_text(&hint)
                .on_disabled_hover_text(&hint);
            if button.clicked() {
                self.push(CaptionAction::Draft { record });
            }
            if env.draft == DraftAvailability::Running {
                ui.spinner();
                ui.weak("drafting...");
            }
        });
    }

    fn diff_view(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        caption: &CaptionRecord,
        mut draft: Draft,
    ) {
        let added = Color32::from_rgb(90, 180, 100);
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("Model draft");
                if ui.button("Accept all").clicked() {
                    let people =
                        (0..draft.people.len()).filter(|&i| draft.people[i] == PieceState::Pending);
                    let people: Vec<usize> = people.collect();
                    let events: Vec<usize> = (0..draft.events.len())
                        .filter(|&i| draft.events[i] == PieceState::Pending)
                        .collect();
                    self.accept(&mut draft, caption, record, &people, &events);
                }
                if ui.button("Close draft").clicked() {
                    self.draft = None;
                }
            });
            if let Some(problem) = &self.draft_problem {
                ui.colored_label(ui.visuals().error_fg_color, problem);
            }
            let existing = caption.structure().cloned().unwrap_or_default();
            let proposed = draft.structure.clone();
            for (index, person) in proposed.people.iter().enumerate() {
                let present = haic::draft::find_same_person(&existing, person).is_some();
                let state = if present && draft.people[index] == PieceState::Pending {
                    None
                } else {
                    Some(draft.people[index])
                };
                let text = format!("+ {}: {}", person.id, person.attributes);
                if let Some(choice) =
                    piece_row(ui, &text, state, added, &format!("person {}", index + 1))
                {
                    match choice {
                        PieceState::Accepted => {
                            self.accept(&mut draft, caption, record, &[index], &[])
                        }
                        _ => draft.people[index] = PieceState::Rejected,
                    }
                }
            }
            for (index, event) in proposed.events.iter().enumerate() {
                let text = format!(
                    "+ {}. {}",
                    index + 1,
                    text::event_sentence(&proposed, event)
                );
                let state = Some(draft.events[index]);
                if let Some(choice) =
                    piece_row(ui, &text, state, added, &format!("event {}", index + 1))
                {
                    match choice {
                        PieceState::Accepted => {
                            self.accept(&mut draft, caption, record, &[], &[index])
                        }
                        _ => draft.events[index] = PieceState::Rejected,
                    }
                }
            }
        });
        if self.draft.as_ref().is_some_and(|d| d.record == record) {
            self.draft = Some(draft);
        }
    }

    /// Emits the edits taking over the given draft people and events (people an accepted event
    /// names come along), and marks them accepted.
    fn accept(
        &mut self,
        draft: &mut Draft,
        caption: &CaptionRecord,
        record: usize,
        people: &[usize],
        events: &[usize],
    ) {
        match haic::draft::draft_edits(caption, &draft.structure, people, events) {
            Ok(edits) => {
                for edit in edits {
                    self.edit(record, edit);
                }
            }
            Err(error) => {
                // The record changed in a way the draft cannot apply to: nothing is emitted, the
                // pieces stay pending, and the reason is shown under the draft.
                self.draft_problem = Some(error.to_string());
                return;
            }
        }
        self.draft_problem = None;
        let referenced: Vec<String> = events
            .iter()
            .flat_map(|&i| {
                let event = &draft.structure.events[i];
                event
                    .who
                    .iter()
                    .chain(&event.with)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        for (index, person) in draft.structure.people.iter().enumerate() {
            if people.contains(&index) || referenced.contains(&person.id) {
                draft.people[index] = PieceState::Accepted;
            }
        }
        for &index in events {
            draft.events[index] = PieceState::Accepted;
        }
    }
}

/// One line of the draft diff with Accept/Reject, or the decision taken; `None` state means the
/// piece is already in the record.
fn piece_row(
    ui: &mut egui::Ui,
    text: &str,
    state: Option<PieceState>,
    added: Color32,
    name: &str,
) -> Option<PieceState> {
    let mut choice = None;
    ui.horizontal_wrapped(|ui| match state {
        Some(PieceState::Pending) => {
            if ui
                .small_button("Accept")
                .accessible_name(format!("Accept {name}"))
                .clicked()
            {
                choice = Some(PieceState::Accepted);
            }
            if ui
                .small_button("Reject")
                .accessible_name(format!("Reject {name}"))
                .clicked()
            {
                choice = Some(PieceState::Rejected);
            }
            ui.colored_label(added, text);
        }
        Some(PieceState::Accepted) => {
            ui.weak(format!("accepted: {}", text.trim_start_matches("+ ")));
        }
        Some(PieceState::Rejected) => {
            ui.weak(RichText::new(text.trim_start_matches("+ ")).strikethrough());
        }
        None => {
            ui.weak(format!(
                "already in the record: {}",
                text.trim_start_matches("+ ")
            ));
        }
    });
    choice
}
