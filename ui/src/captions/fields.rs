//! The fields of a record: people (phrase and details), events (who, action, with, times), the
//! caption text, and the outline of a field a validation message located.

use egui::{Align, DragValue, Stroke, TextEdit};
use haic::{Edit, Event, Person, PersonField, Structure, TextField};

use super::{CaptionEditor, EditorEnv, EventField, Field, typing::Typing};

impl CaptionEditor {
    pub(super) fn people_view(&mut self, ui: &mut egui::Ui, record: usize, structure: &Structure) {
        ui.strong(format!("People ({})", structure.people.len()));
        for (index, person) in structure.people.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.monospace(&person.id);
                let name = format!("{} attributes", person.id);
                let width = ui.available_width() - 70.0;
                ui.scope(|ui| {
                    ui.set_max_width(width.max(80.0));
                    self.text_field(
                        ui,
                        record,
                        Field::Person(index),
                        TextField::Attributes {
                            id: person.id.clone(),
                        },
                        &person.attributes,
                        &name,
                        false,
                    );
                });
                if ui
                    .button("Remove")
                    .on_hover_text("Removes the person and their mentions; events left without anyone are removed")
                    .accessible_name(format!("Remove {}", person.id))
                    .clicked()
                {
                    self.edit(
                        record,
                        Edit::RemovePerson {
                            id: person.id.clone(),
                        },
                    );
                }
            });
            self.person_details(ui, record, index, person);
        }
        if ui.button("Add person").clicked() {
            let person = Person::new(structure.next_person_id(), "");
            self.edit(record, Edit::AddPerson { person, at: None });
            self.located = Some(Field::Person(structure.people.len()));
            self.scroll_to_located = true;
        }
    }

    /// The structured fields of a person, folded away under the phrase: most captions only
    /// need the phrase, and seven more rows per person would bury the events.
    fn person_details(&mut self, ui: &mut egui::Ui, record: usize, index: usize, person: &Person) {
        let filled = PersonField::ALL
            .iter()
            .filter(|&&field| person.detail(field).is_some())
            .count();
        let title = if filled == 0 {
            format!("{} details", person.id)
        } else {
            format!("{} details ({filled} set)", person.id)
        };
        egui::CollapsingHeader::new(title)
            .id_salt(("person-details", record, &person.id))
            .show(ui, |ui| {
                egui::Grid::new(("person-details-grid", record, &person.id))
                    .num_columns(2)
                    .show(ui, |ui| {
                        for field in PersonField::ALL {
                            ui.label(field.name());
                            let current = person.detail(field).unwrap_or_default();
                            let name = format!("{} {}", person.id, field.name());
                            // Typed empty, the field is taken out of the record (not saved
                            // as ""); see `TextField::edit`.
                            self.text_field(
                                ui,
                                record,
                                Field::PersonDetail(index, field),
                                TextField::PersonDetail {
                                    id: person.id.clone(),
                                    field,
                                },
                                current,
                                &name,
                                false,
                            );
                            ui.end_row();
                        }
                    });
            });
    }

    pub(super) fn events_view(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        structure: &Structure,
        env: &EditorEnv<'_>,
        out_of_order: bool,
    ) {
        ui.horizontal(|ui| {
            ui.strong(format!(
                "Events ({}, in time order)",
                structure.events.len()
            ));
            // Offered only when validation finds events out of order, so a deliberate order of
            // untimed events is never one click away from being reshuffled.
            if out_of_order
                && ui
                    .button("Sort events by start")
                    .on_hover_text(
                        "Orders the timed events by start; events without a start keep their order after them",
                    )
                    .clicked()
            {
                self.edit(record, Edit::SortEventsByStart);
            }
        });
        let count = structure.events.len();
        for (index, event) in structure.events.iter().enumerate() {
            let number = index + 1;
            ui.horizontal(|ui| {
                ui.monospace(format!("{number}."));
                self.people_menu(ui, record, structure, index, EventField::Who, &event.who);
                let width = (ui.available_width() - 90.0).max(80.0);
                ui.scope(|ui| {
                    ui.set_max_width(width);
                    self.text_field(
                        ui,
                        record,
                        Field::Event(index, EventField::Action),
                        TextField::Action { index },
                        &event.action,
                        &format!("Event {number} action"),
                        false,
                    );
                });
                self.people_menu(ui, record, structure, index, EventField::With, &event.with);
            });
            ui.horizontal(|ui| {
                ui.add_space(18.0);
                for edge in [EventField::Start, EventField::End] {
                    self.time_controls(ui, record, index, event, edge, env);
                }
                ui.add_enabled_ui(index > 0, |ui| {
                    if ui
                        .small_button("Up")
                        .accessible_name(format!("Move event {number} up"))
                        .clicked()
                    {
                        self.edit(
                            record,
                            Edit::MoveEvent {
                                from: index,
                                to: index - 1,
                            },
                        );
                    }
                });
                ui.add_enabled_ui(number < count, |ui| {
                    if ui
                        .small_button("Down")
                        .accessible_name(format!("Move event {number} down"))
                        .clicked()
                    {
                        self.edit(
                            record,
                            Edit::MoveEvent {
                                from: index,
                                to: index + 1,
                            },
                        );
                    }
                });
                if ui
                    .small_button("Remove")
                    .accessible_name(format!("Remove event {number}"))
                    .clicked()
                {
                    self.edit(record, Edit::RemoveEvent { index });
                }
            });
        }
        let add = ui.add_enabled(!structure.people.is_empty(), egui::Button::new("Add event"));
        let add = if structure.people.is_empty() {
            add.on_disabled_hover_text("Add a person first: every event has someone doing it")
        } else {
            add.on_hover_text("A new event of the first person, starting at the playhead")
        };
        if add.clicked()
            && let Some(first) = structure.people.first()
        {
            let mut event = Event::new(&[first.id.as_str()], "");
            event.start = env.playhead;
            self.edit(
                record,
                Edit::AddEvent {
                    event,
                    at: structure.events.len(),
                },
            );
            self.located = Some(Field::Event(count, EventField::Action));
            self.scroll_to_located = true;
        }
    }

    /// A menu of checkboxes choosing the subjects (`Who`) or interaction targets (`With`).
    fn people_menu(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        structure: &Structure,
        index: usize,
        list: EventField,
        ids: &[String],
    ) {
        let (name, empty) = match list {
            EventField::Who => ("who", "nobody"),
            _ => ("with", "no target"),
        };
        let summary = if ids.is_empty() {
            empty.to_owned()
        } else if list == EventField::With {
            format!("with {}", ids.join(", "))
        } else {
            ids.join(", ")
        };
        let response = ui.menu_button(summary, |ui| {
            let mut chosen: Vec<String> = ids.to_vec();
            let mut changed = false;
            for person in &structure.people {
                let mut on = chosen.contains(&person.id);
                let label = format!("{} {}", person.id, person.attributes);
                if ui.checkbox(&mut on, label).changed() {
                    changed = true;
                    if on {
                        chosen.push(person.id.clone());
                    } else {
                        chosen.retain(|id| id != &person.id);
                    }
                }
            }
            changed.then_some(chosen)
        });
        let field = Field::Event(index, list);
        self.mark_located(ui, &response.response, field);
        response
            .response
            .on_hover_text(format!("event {} {name}: choose people", index + 1));
        if let Some(Some(mut chosen)) = response.inner {
            // Keep the declared order of people, so the rendered sentence is stable.
            chosen.sort_by_key(|id| structure.people.iter().position(|p| &p.id == id));
            let edit = match list {
                EventField::Who => Edit::SetWho { index, who: chosen },
                _ => Edit::SetWith {
                    index,
                    with: chosen,
                },
            };
            self.edit(record, edit);
        }
    }

    fn time_controls(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        index: usize,
        event: &Event,
        edge: EventField,
        env: &EditorEnv<'_>,
    ) {
        let number = index + 1;
        let (name, current) = match edge {
            EventField::Start => ("start", event.start),
            _ => ("end", event.end),
        };
        let set = |time: Option<f64>| match edge {
            EventField::Start => Edit::SetTimes {
                index,
                start: time,
                end: event.end,
            },
            _ => Edit::SetTimes {
                index,
                start: event.start,
                end: time,
            },
        };
        let field = Field::Event(index, edge);
        ui.label(name);
        match current {
            Some(current) => {
                let key = (record, field);
                let mut value = self.time_buffers.get(&key).copied().unwrap_or(current);
                let response = ui
                    .add(
                        DragValue::new(&mut value)
                            .speed(0.02)
                            .range(0.0..=f64::MAX)
                            .fixed_decimals(2)
                            .suffix(" s"),
                    )
                    .accessible_name(format!("Event {number} {name}"));
                self.mark_located(ui, &response, field);
                let active = response.dragged() || response.has_focus();
                let finished = response.drag_stopped()
                    || response.lost_focus()
                    || (response.changed() && !active);
                if finished {
                    self.time_buffers.remove(&key);
                    if value != current {
                        self.edit(record, set(Some(value)));
                    }
                } else if active {
                    self.time_buffers.insert(key, value);
                } else {
                    self.time_buffers.remove(&key);
                }
            }
            None => {
                let response = ui.weak("unset");
                self.mark_located(ui, &response, field);
            }
        }
        let from_playhead = ui
            .add_enabled(env.playhead.is_some(), egui::Button::new("@").small())
            .on_hover_text(format!("Set the {name} to the playhead"))
            .on_disabled_hover_text("Open the video to set times from the playhead")
            .accessible_name(format!("Set event {number} {name} from playhead"));
        if from_playhead.clicked()
            && let Some(playhead) = env.playhead
        {
            self.edit(record, set(Some(playhead)));
        }
        if current.is_some()
            && ui
                .small_button("x")
                .on_hover_text(format!("Clear the {name}"))
                .accessible_name(format!("Clear event {number} {name}"))
                .clicked()
        {
            self.edit(record, set(None));
        }
    }

    /// A text field of the record. While it has the keyboard it shows what is typed, which
    /// goes to the document as the annotator types ([`Typing`]); otherwise it shows the
    /// document's value (`current`), so undo, redo and other edits show at once.
    #[expect(
        clippy::too_many_arguments,
        reason = "the record, both names of the field, its value and how to draw it"
    )]
    pub(super) fn text_field(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        field: Field,
        target: TextField,
        current: &str,
        name: &str,
        multiline: bool,
    ) {
        if !self.has_suspects(record, &target) {
            self.text_field_alone(ui, record, field, target, current, name, multiline);
            return;
        }
        // Suggestions for suspect characters go under the field.
        ui.vertical(|ui| {
            let shown =
                self.text_field_alone(ui, record, field, target.clone(), current, name, multiline);
            self.suspect_suggestions(ui, record, &target, &shown);
        });
    }

    /// The field itself; returns the text it shows.
    #[expect(
        clippy::too_many_arguments,
        reason = "the record, both names of the field, its value and how to draw it"
    )]
    fn text_field_alone(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        field: Field,
        target: TextField,
        current: &str,
        name: &str,
        multiline: bool,
    ) -> String {
        let id = egui::Id::unique(("caption-text", record, &target));
        let mine = self.typing.as_ref().is_some_and(|typing| typing.id == id);
        let mut text = match &self.typing {
            Some(typing) if mine => typing.text.clone(),
            _ => current.to_owned(),
        };
        let editor = if multiline {
            TextEdit::multiline(&mut text).desired_rows(4)
        } else {
            TextEdit::singleline(&mut text)
        };
        let output = editor.id(id).desired_width(ui.available_width()).show(ui);
        let response = output.response.response.clone().accessible_name(name);
        self.underline_suspects(ui, &output, record, &target, &text);
        self.mark_located(ui, &response, field);
        if !(response.changed() || (response.has_focus() && !mine)) {
            return text;
        }
        if !mine {
            // Another field was being typed in: what it holds goes first.
            if let Some(action) = self.finish_typing() {
                self.actions.push(action);
            }
            self.typing = Some(Typing::new(record, field, target, id, current));
        }
        if let Some(typing) = &mut self.typing
            && response.changed()
        {
            typing.changed(text.clone(), ui.input(|input| input.time));
            if !response.has_focus() {
                // Set without the keyboard (assistive technology): send it as one edit now.
                if let Some(action) = typing.send(true) {
                    self.actions.push(action);
                }
                self.typing = None;
            } else {
                // The toolbar and title, drawn before this field, show the unsent edit next
                // frame; the send itself is paced from there (`pace_typing`).
                ui.ctx().request_repaint();
            }
        }
        text
    }

    /// Outlines the located field and, right after a click on its finding, focuses it.
    fn mark_located(&mut self, ui: &egui::Ui, response: &egui::Response, field: Field) {
        if self.located != Some(field) {
            return;
        }
        ui.painter().rect_stroke(
            response.rect.expand(2.0),
            3.0,
            Stroke::new(2.0, ui.visuals().error_fg_color),
            egui::StrokeKind::Outside,
        );
        if self.scroll_to_located {
            self.scroll_to_located = false;
            response.scroll_to_me(Some(Align::Center));
            response.request_focus();
        }
    }
}
