//! A model's draft of an empty record, shown as a diff the annotator accepts person by person
//! and event by event; accepted pieces become ordinary edits.

use std::collections::HashMap;

use egui::{Color32, RichText};
use haic::{CaptionRecord, Edit, Person, Structure, text};

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
                let present = find_same_person(&existing, person).is_some();
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
        match draft_edits(caption, draft, people, events) {
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

/// The edits that take over draft people and events into `caption`, checked by applying them
/// in order to a copy. Draft ids are mapped to the record's people: the same attribute phrase is
/// the same person; a new person keeps the draft id when it is free.
pub fn draft_edits(
    caption: &CaptionRecord,
    draft: &Draft,
    people: &[usize],
    events: &[usize],
) -> Result<Vec<Edit>, haic::Error> {
    let mut edits = Vec::new();
    let mut current = caption.clone();
    let mut push = |current: &mut CaptionRecord, edit: Edit| -> Result<(), haic::Error> {
        *current = haic::edit::apply(current, &edit)?;
        edits.push(edit);
        Ok(())
    };
    if current.structure().is_none() && current.caption.trim().is_empty() {
        // An empty record holds no structure yet: start one (no people) so pieces can be added.
        push(
            &mut current,
            Edit::SetText {
                text: text::render(&Structure::default()),
            },
        )?;
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut wanted: Vec<usize> = people.to_vec();
    for &index in events {
        let event = &draft.structure.events[index];
        for id in event.who.iter().chain(&event.with) {
            if let Some(position) = draft.structure.people.iter().position(|p| &p.id == id)
                && !wanted.contains(&position)
            {
                wanted.push(position);
            }
        }
    }
    wanted.sort_unstable();
    for index in wanted {
        let person = &draft.structure.people[index];
        let structure = current.structure().cloned().unwrap_or_default();
        if let Some(existing) = find_same_person(&structure, person) {
            ids.insert(person.id.clone(), existing.id.clone());
            continue;
        }
        let id = if structure.person(&person.id).is_none() {
            person.id.clone()
        } else {
            structure.next_person_id()
        };
        ids.insert(person.id.clone(), id.clone());
        let mut added = person.clone();
        added.id = id;
        push(
            &mut current,
            Edit::AddPerson {
                person: added,
                at: None,
            },
        )?;
    }
    let map = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|id| ids.get(id).cloned().unwrap_or_else(|| id.clone()))
            .collect()
    };
    for &index in events {
        let mut event = draft.structure.events[index].clone();
        event.who = map(&event.who);
        event.with = map(&event.with);
        let at = current.structure().map_or(0, |s| s.events.len());
        push(&mut current, Edit::AddEvent { event, at })?;
    }
    Ok(edits)
}

fn find_same_person<'a>(structure: &'a Structure, person: &Person) -> Option<&'a Person> {
    let key = |phrase: &str| phrase.trim().trim_end_matches('.').to_lowercase();
    let wanted = key(&person.attributes);
    structure
        .people
        .iter()
        .find(|existing| !wanted.is_empty() && key(&existing.attributes) == wanted)
}

#[cfg(test)]
mod tests {
    use haic::TextState;

    use super::*;

    fn empty_record() -> CaptionRecord {
        CaptionRecord {
            video: None,
            duration: None,
            caption: String::new(),
            state: TextState::Free {
                reason: "empty".into(),
            },
            had_structure_fields: false,
        }
    }

    fn two_people_draft() -> Draft {
        let structure = text::parse(
            "There are two people in the video. The first person is the man in a red shirt. \
             The second person is the woman in a blue dress.\n\n\
             The man in a red shirt waves to the woman in a blue dress. The woman in a blue dress nods.",
        )
        .expect("draft text follows the format");
        Draft {
            record: 0,
            people: vec![PieceState::Pending; structure.people.len()],
            events: vec![PieceState::Pending; structure.events.len()],
            structure,
        }
    }

    #[test]
    fn an_accepted_event_brings_the_people_it_names() {
        let draft = two_people_draft();
        let edits = draft_edits(&empty_record(), &draft, &[], &[0]).expect("applies");
        // Start a structure, add both people (subject and target), then the event.
        assert!(matches!(edits[0], Edit::SetText { .. }));
        let added: Vec<_> = edits
            .iter()
            .filter_map(|edit| match edit {
                Edit::AddPerson { person, .. } => Some(person.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(added, ["P1", "P2"]);
        assert!(matches!(edits.last(), Some(Edit::AddEvent { at: 0, .. })));
    }

    #[test]
    fn draft_people_map_onto_people_already_there() {
        let draft = two_people_draft();
        let mut record = empty_record();
        let mut structure = Structure::default();
        structure
            .people
            .push(Person::new("P1", "the woman in a blue dress"));
        record.caption = text::render(&structure);
        record.state = TextState::Structured(structure);
        let edits = draft_edits(&record, &draft, &[0, 1], &[1]).expect("applies");
        // The man is new and P1 is taken: he becomes P2; the woman is the existing P1.
        let Edit::AddPerson { person, .. } = &edits[0] else {
            panic!("first edit adds the man: {edits:?}");
        };
        assert_eq!(
            (person.id.as_str(), person.attributes.as_str()),
            ("P2", "the man in a red shirt")
        );
        let Some(Edit::AddEvent { event, .. }) = edits.last() else {
            panic!("last edit adds the nod: {edits:?}");
        };
        assert_eq!(event.who, ["P1"]);
    }
}
