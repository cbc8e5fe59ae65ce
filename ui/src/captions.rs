//! The HAIC caption editor: a filtered record list, the people and timed events of the selected
//! record, live validation with click-to-locate, undo/redo/save, and a model draft shown as a diff
//! the annotator accepts piece by piece.
//!
//! The panel never changes the document itself: it reads a [`haic::Document`] and returns
//! [`CaptionAction`]s, whose edits are `haic` [`Command`]s the app applies to the document. So
//! every change is journaled and undoable the same way, whether it comes from a text field, a
//! playhead button, a timeline drag or an accepted draft piece.

use std::collections::HashMap;

use egui::{
    Align, Color32, DragValue, Key, KeyboardShortcut, Modifiers, RichText, Stroke, TextEdit,
};
use haic::{
    CaptionRecord, Command, Document, Edit, Event, Finding, Person, PersonField, Record, Rule,
    Severity, Structure, TextState, text, validate,
};

use crate::player::format_time;

/// What the annotator asked for; the app applies it to the document (or starts the draft).
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a handful of actions per frame, consumed at once; boxing commands buys nothing"
)]
pub enum CaptionAction {
    Edit(Command),
    Undo,
    Redo,
    Save,
    /// Ask the model for a HAIC draft of this (empty) record; the answer comes back through
    /// [`CaptionEditor::show_draft`].
    Draft {
        record: usize,
    },
}

/// Whether "Draft with model" can run, and if not, what the annotator should do.
#[derive(Clone, Debug, PartialEq)]
pub enum DraftAvailability {
    Ready,
    Running,
    Unavailable(String),
}

impl Default for DraftAvailability {
    fn default() -> Self {
        DraftAvailability::Unavailable(
            "No model loaded: open a Keye-VL checkpoint folder (Model > Open checkpoint folder, or --model DIR)".into(),
        )
    }
}

/// What the app knows around the document: the playhead and the open video.
#[derive(Clone, Debug, Default)]
pub struct EditorEnv<'a> {
    /// Current playhead time in seconds, when a video is open.
    pub playhead: Option<f64>,
    /// File name of the open video: records whose `video` ends with it are "this video".
    pub video_name: Option<&'a str>,
    /// Duration of the open video, used to validate times of its records without a duration.
    pub video_duration: Option<f64>,
    pub draft: DraftAvailability,
}

/// A part of a record that a validation finding (or the editor) can point at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The caption text (free text, or the text as a whole).
    Caption,
    /// A person's attribute phrase.
    Person(usize),
    /// One structured field of a person (in the person's "Details").
    PersonDetail(usize, PersonField),
    Event(usize, EventField),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventField {
    Who,
    Action,
    With,
    Start,
    End,
}

impl Field {
    /// The field a finding path such as `events[2].who[0]` or `people[1].attributes` names.
    pub fn from_path(path: &str) -> Option<Field> {
        let index_after = |prefix: &str| -> Option<(usize, &str)> {
            let rest = path.strip_prefix(prefix)?;
            let close = rest.find(']')?;
            Some((rest[..close].parse().ok()?, &rest[close + 1..]))
        };
        if let Some((index, _)) = index_after("people[") {
            return Some(Field::Person(index));
        }
        if let Some((index, rest)) = index_after("events[") {
            let part = rest.trim_start_matches('.');
            let field = match part.split(['[', '.']).next().unwrap_or("") {
                "who" => EventField::Who,
                "with" => EventField::With,
                "start" => EventField::Start,
                "end" => EventField::End,
                _ => EventField::Action,
            };
            return Some(Field::Event(index, field));
        }
        (path == "caption").then_some(Field::Caption)
    }
}

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

/// What the filtered record list was made for; any change remakes it.
#[derive(Clone, Debug, PartialEq)]
struct ListKey {
    version: u64,
    filter: String,
    only_invalid: bool,
    only_video: Option<String>,
}

/// The caption editor panel. State lives here; [`CaptionEditor::ui`] draws it.
#[derive(Default)]
pub struct CaptionEditor {
    /// Substring of the record number, video or caption text.
    pub filter: String,
    /// Keep only records with validation errors.
    pub only_invalid: bool,
    /// Keep only records of the open video.
    pub only_open_video: bool,
    selected: Option<usize>,
    located: Option<Field>,
    scroll_to_located: bool,
    /// Text being typed, per field, until the field loses focus (one command per edit, not per key).
    text_buffers: HashMap<(usize, Field), String>,
    /// A time being dragged or typed, committed when the drag or typing ends.
    time_buffers: HashMap<(usize, Field), f64>,
    /// Validation per record, computed when first needed and dropped when the record changes.
    findings: Vec<Option<Vec<Finding>>>,
    /// Which document the caches describe (its path and record count).
    document_key: Option<(std::path::PathBuf, usize)>,
    /// The open video validation used (its name and duration check event times).
    video_key: Option<(String, u64)>,
    list: Option<(ListKey, Vec<usize>)>,
    draft: Option<Draft>,
    /// Why the last accept could not be applied.
    draft_problem: Option<String>,
    actions: Vec<CaptionAction>,
}

impl CaptionEditor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The record shown in the detail view.
    pub fn selected(&self) -> Option<usize> {
        self.selected
    }

    pub fn select(&mut self, record: usize) {
        if self.selected != Some(record) {
            self.selected = Some(record);
            self.located = None;
        }
    }

    /// The field last located by clicking a validation message.
    pub fn located(&self) -> Option<Field> {
        self.located
    }

    /// Forgets everything learnt about the document (validation, drafts, typing): call it when
    /// a file is (re)opened, since a reopened file can have the same path and length.
    pub fn document_replaced(&mut self) {
        self.document_key = None;
    }

    /// Tells the editor which records changed (from [`Document::drain_changes`]) so their
    /// validation is redone.
    pub fn records_changed(&mut self, records: impl IntoIterator<Item = usize>) {
        for record in records {
            if let Some(slot) = self.findings.get_mut(record) {
                *slot = None;
            }
        }
        self.list = None;
    }

    /// Shows a model draft for `record` as a diff to accept piece by piece.
    pub fn show_draft(&mut self, record: usize, structure: Structure) {
        self.draft = Some(Draft {
            record,
            people: vec![PieceState::Pending; structure.people.len()],
            events: vec![PieceState::Pending; structure.events.len()],
            structure,
        });
        self.select(record);
    }

    pub fn draft(&self) -> Option<&Draft> {
        self.draft.as_ref()
    }

    /// Draws the panel over `document`; returns what the annotator did this frame.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        document: &Document,
        env: &EditorEnv<'_>,
    ) -> Vec<CaptionAction> {
        self.sync_caches(document, env);
        self.shortcuts(ui, document);
        self.toolbar(ui, document);
        ui.separator();
        self.record_list(ui, document, env);
        ui.separator();
        match self.selected {
            Some(record) if record < document.file().len() => {
                egui::ScrollArea::vertical()
                    .id_salt("caption-record")
                    .auto_shrink([false, true])
                    .show(ui, |ui| self.record_view(ui, document, record, env));
            }
            _ => {
                ui.weak("Select a record to edit its people and events.");
            }
        }
        std::mem::take(&mut self.actions)
    }

    fn sync_caches(&mut self, document: &Document, env: &EditorEnv<'_>) {
        let file = document.file();
        let key = (file.path().to_path_buf(), file.len());
        if self.document_key.as_ref() != Some(&key) {
            self.document_key = Some(key);
            self.findings = vec![None; file.len()];
            self.list = None;
            self.draft = None;
            self.text_buffers.clear();
            self.time_buffers.clear();
            if self.selected.is_none_or(|record| record >= file.len()) {
                self.selected = file.records().next().map(|(index, _)| index);
            }
        }
        if env.video_name.is_none() {
            self.only_open_video = false;
        }
        let video_key = env.video_name.map(|name| {
            (
                name.to_owned(),
                env.video_duration.unwrap_or(-1.0).to_bits(),
            )
        });
        if self.video_key != video_key {
            // Records of the new video are checked against its duration.
            self.video_key = video_key;
            self.findings.iter_mut().for_each(|slot| *slot = None);
            self.list = None;
        }
    }

    fn record_findings(
        &mut self,
        document: &Document,
        record: usize,
        env: &EditorEnv<'_>,
    ) -> &[Finding] {
        if self.findings.len() <= record {
            self.findings.resize(record + 1, None);
        }
        let slot = &mut self.findings[record];
        slot.get_or_insert_with(|| match document.file().record(record) {
            Some(Record::Caption(caption)) => {
                let duration = caption.duration.or_else(|| {
                    is_open_video(caption.video.as_deref(), env.video_name)
                        .then_some(env.video_duration)
                        .flatten()
                });
                validate::validate_caption(caption, duration)
            }
            Some(Record::Qa(qa)) => validate::validate_qa(qa),
            None => Vec::new(),
        })
    }

    fn shortcuts(&mut self, ui: &egui::Ui, document: &Document) {
        // In a text field (ours or another panel's) Ctrl+Z undoes typing, as everywhere else.
        let typing = ui.ctx().text_edit_focused();
        let (undo, redo, save) = ui.input_mut(|input| {
            let save = input.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::S));
            if typing {
                return (false, false, save);
            }
            let redo = input.consume_shortcut(&KeyboardShortcut::new(
                Modifiers::COMMAND | Modifiers::SHIFT,
                Key::Z,
            )) || input
                .consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Y));
            let undo = input.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Z));
            (undo, redo, save)
        });
        if undo && document.can_undo() {
            self.actions.push(CaptionAction::Undo);
        }
        if redo && document.can_redo() {
            self.actions.push(CaptionAction::Redo);
        }
        if save {
            self.actions.push(CaptionAction::Save);
        }
    }

    fn toolbar(&mut self, ui: &mut egui::Ui, document: &Document) {
        ui.horizontal(|ui| {
            if ui
                .add_enabled(document.can_undo(), egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                self.actions.push(CaptionAction::Undo);
            }
            if ui
                .add_enabled(document.can_redo(), egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z or Ctrl+Y")
                .clicked()
            {
                self.actions.push(CaptionAction::Redo);
            }
            if ui.button("Save").on_hover_text("Ctrl+S").clicked() {
                self.actions.push(CaptionAction::Save);
            }
            if document.is_dirty() {
                ui.colored_label(ui.visuals().warn_fg_color, "* unsaved changes");
            } else {
                ui.weak("saved");
            }
        });
    }

    /// Brings the filtered record list up to date (it is kept until the filter or document
    /// changes).
    fn update_list(&mut self, document: &Document, env: &EditorEnv<'_>) {
        let key = ListKey {
            version: document.version(),
            filter: self.filter.trim().to_lowercase(),
            only_invalid: self.only_invalid,
            only_video: env
                .video_name
                .filter(|_| self.only_open_video)
                .map(str::to_owned),
        };
        if self.list.as_ref().is_some_and(|(cached, _)| *cached == key) {
            return;
        }
        let file = document.file();
        let mut list = Vec::new();
        for (index, record) in file.records() {
            let video = match record {
                Record::Caption(caption) => caption.video.as_deref(),
                Record::Qa(qa) => qa.video.as_deref(),
            };
            if key.only_video.is_some() && !is_open_video(video, key.only_video.as_deref()) {
                continue;
            }
            if !key.filter.is_empty() {
                let number = index.to_string();
                let hit = number == key.filter.trim_start_matches('#')
                    || video.is_some_and(|video| video.to_lowercase().contains(&key.filter))
                    || record_text(record).to_lowercase().contains(&key.filter);
                if !hit {
                    continue;
                }
            }
            if key.only_invalid && !has_errors(self.record_findings(document, index, env)) {
                continue;
            }
            list.push(index);
        }
        self.list = Some((key, list));
    }

    fn record_list(&mut self, ui: &mut egui::Ui, document: &Document, env: &EditorEnv<'_>) {
        ui.horizontal(|ui| {
            ui.add(
                TextEdit::singleline(&mut self.filter)
                    .hint_text("filter: number, video or text")
                    .desired_width(180.0),
            )
            .accessible_name("Filter records");
            ui.checkbox(&mut self.only_invalid, "only invalid");
            if env.video_name.is_some() {
                ui.checkbox(&mut self.only_open_video, "this video");
            }
        });
        self.update_list(document, env);
        let Some((key, list)) = self.list.take() else {
            return;
        };
        ui.weak(format!(
            "{} of {} records",
            list.len(),
            document.file().records().count()
        ));
        let row_height = ui.spacing().interact_size.y;
        egui::ScrollArea::vertical()
            .id_salt("caption-records")
            .max_height(160.0)
            .auto_shrink([false, true])
            .show_rows(ui, row_height, list.len(), |ui, rows| {
                for &index in &list[rows] {
                    let label = self.row_label(document, index, env);
                    let selected = self.selected == Some(index);
                    if ui.selectable_label(selected, label).clicked() {
                        self.select(index);
                    }
                }
            });
        self.list = Some((key, list));
    }

    fn row_label(&mut self, document: &Document, index: usize, env: &EditorEnv<'_>) -> String {
        let invalid = has_errors(self.record_findings(document, index, env));
        let (video, text) = match document.file().record(index) {
            Some(record @ Record::Caption(caption)) => (caption.video.clone(), record_text(record)),
            Some(record @ Record::Qa(qa)) => {
                (qa.video.clone(), format!("Q: {}", record_text(record)))
            }
            None => (None, String::new()),
        };
        let snippet: String = text.chars().take(48).collect();
        format!(
            "{}#{index} {}{}",
            if invalid { "(!) " } else { "" },
            video.map(|video| format!("{video}: ")).unwrap_or_default(),
            snippet.replace('\n', " ")
        )
    }

    fn record_view(
        &mut self,
        ui: &mut egui::Ui,
        document: &Document,
        record: usize,
        env: &EditorEnv<'_>,
    ) {
        let file = document.file();
        let line = file.line_of(record).unwrap_or_default();
        let caption = match file.record(record) {
            Some(Record::Caption(caption)) => caption.clone(),
            Some(Record::Qa(qa)) => {
                ui.label(format!("#{record} (line {line}) is a question record."));
                ui.label(&qa.question);
                for (letter, option) in ["A", "B", "C", "D"].iter().zip(&qa.options) {
                    ui.label(format!("{letter}. {option}"));
                }
                ui.weak(format!("answer {} - {}", qa.answer, qa.category));
                self.findings_view(ui, document, record, env);
                return;
            }
            None => {
                ui.weak(format!("#{record} could not be read; it is kept as it is."));
                return;
            }
        };
        ui.horizontal_wrapped(|ui| {
            ui.strong(format!("#{record}"));
            ui.weak(format!("line {line}"));
            if let Some(video) = &caption.video {
                ui.label(video);
            }
            if let Some(duration) = caption.duration {
                ui.weak(format_time(duration));
            }
        });
        self.findings_view(ui, document, record, env);
        self.draft_view(ui, record, &caption, env);
        match &caption.state {
            TextState::Structured(structure) => {
                self.people_view(ui, record, structure);
                ui.separator();
                let out_of_order = self
                    .record_findings(document, record, env)
                    .iter()
                    .any(|finding| finding.rule == Rule::NotChronological);
                self.events_view(ui, record, structure, env, out_of_order);
                ui.separator();
                ui.collapsing("Caption text", |ui| ui.weak(&caption.caption));
            }
            TextState::Free { reason } => {
                ui.colored_label(ui.visuals().warn_fg_color, format!("Free text: {reason}"));
                ui.weak("Rewrite it in the HAIC form to edit people and events.");
                let response = self.text_field(
                    ui,
                    record,
                    Field::Caption,
                    &caption.caption,
                    "Caption text",
                    true,
                );
                if let Some(text) = response {
                    self.edit(record, Edit::SetText { text });
                }
            }
        }
    }

    fn findings_view(
        &mut self,
        ui: &mut egui::Ui,
        document: &Document,
        record: usize,
        env: &EditorEnv<'_>,
    ) {
        let findings = self.record_findings(document, record, env).to_vec();
        if findings.is_empty() {
            ui.weak("No validation problems.");
            return;
        }
        for finding in findings {
            let color = match finding.severity {
                Severity::Error => ui.visuals().error_fg_color,
                Severity::Warning => ui.visuals().warn_fg_color,
            };
            let text = format!(
                "[{}] {}: {}",
                finding.rule.code(),
                finding.path,
                finding.message
            );
            let clicked = ui
                .add(egui::Button::new(RichText::new(text).color(color)).frame(false))
                .on_hover_text("Show this field")
                .clicked();
            if clicked {
                self.selected = Some(record);
                self.located = Field::from_path(&finding.path);
                self.scroll_to_located = true;
            }
        }
    }

    fn people_view(&mut self, ui: &mut egui::Ui, record: usize, structure: &Structure) {
        ui.strong(format!("People ({})", structure.people.len()));
        for (index, person) in structure.people.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.monospace(&person.id);
                let name = format!("{} attributes", person.id);
                let width = ui.available_width() - 70.0;
                let edited = ui
                    .scope(|ui| {
                        ui.set_max_width(width.max(80.0));
                        self.text_field(
                            ui,
                            record,
                            Field::Person(index),
                            &person.attributes,
                            &name,
                            false,
                        )
                    })
                    .inner;
                if let Some(attributes) = edited {
                    self.edit(
                        record,
                        Edit::SetAttributes {
                            id: person.id.clone(),
                            attributes,
                        },
                    );
                }
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
                            let edited = self.text_field(
                                ui,
                                record,
                                Field::PersonDetail(index, field),
                                current,
                                &name,
                                false,
                            );
                            // A field typed empty is taken out of the record, not saved as "".
                            let value = edited
                                .map(|value| value.trim().to_owned())
                                .map(|value| (!value.is_empty()).then_some(value));
                            if let Some(value) = value
                                && value.as_deref() != person.detail(field)
                            {
                                self.edit(
                                    record,
                                    Edit::SetPersonField {
                                        id: person.id.clone(),
                                        field,
                                        value,
                                    },
                                );
                            }
                            ui.end_row();
                        }
                    });
            });
    }

    fn events_view(
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
                let edited = ui
                    .scope(|ui| {
                        ui.set_max_width(width);
                        self.text_field(
                            ui,
                            record,
                            Field::Event(index, EventField::Action),
                            &event.action,
                            &format!("Event {number} action"),
                            false,
                        )
                    })
                    .inner;
                if let Some(action) = edited {
                    self.edit(record, Edit::SetAction { index, action });
                }
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

    /// A text field that commits (returns the new text) when it loses focus with a change.
    fn text_field(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        field: Field,
        current: &str,
        name: &str,
        multiline: bool,
    ) -> Option<String> {
        let key = (record, field);
        let buffer = self
            .text_buffers
            .entry(key)
            .or_insert_with(|| current.to_owned());
        let editor = if multiline {
            TextEdit::multiline(buffer).desired_rows(4)
        } else {
            TextEdit::singleline(buffer)
        };
        let response = ui
            .add(editor.desired_width(ui.available_width()))
            .accessible_name(name);
        self.mark_located(ui, &response, field);
        let typed = self.text_buffers.get(&key).cloned().unwrap_or_default();
        if response.lost_focus() {
            self.text_buffers.remove(&key);
            return (typed != current).then_some(typed);
        }
        if !response.has_focus() {
            // Not being edited: show the document's value (undo, redo, other edits).
            self.text_buffers.remove(&key);
        }
        None
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

    fn edit(&mut self, record: usize, edit: Edit) {
        self.actions
            .push(CaptionAction::Edit(Command { record, edit }));
    }

    fn draft_view(
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
                self.actions.push(CaptionAction::Draft { record });
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

/// The text a record is listed and filtered by: its caption (rendered from people and events
/// when the file keeps only those), or its question.
fn record_text(record: &Record) -> String {
    match record {
        Record::Caption(caption) => match caption.structure() {
            Some(structure) if caption.caption.trim().is_empty() => text::render(structure),
            _ => caption.caption.clone(),
        },
        Record::Qa(qa) => qa.question.clone(),
    }
}

/// A record with nothing in it yet: no people and no events, or no caption text at all.
pub fn is_empty_record(caption: &CaptionRecord) -> bool {
    match &caption.state {
        TextState::Structured(structure) => {
            structure.people.is_empty() && structure.events.is_empty()
        }
        TextState::Free { .. } => caption.caption.trim().is_empty(),
    }
}

/// Whether a record's video reference is the open video (same file name, any folder).
pub fn is_open_video(video: Option<&str>, open: Option<&str>) -> bool {
    match (video, open) {
        (Some(video), Some(open)) if !open.is_empty() => {
            let name = video.rsplit(['/', '\\']).next().unwrap_or(video);
            name == open || video == open
        }
        _ => false,
    }
}

fn has_errors(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|finding| finding.severity == Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_paths_name_fields() {
        assert_eq!(
            Field::from_path("people[1].attributes"),
            Some(Field::Person(1))
        );
        assert_eq!(Field::from_path("people[0]"), Some(Field::Person(0)));
        assert_eq!(
            Field::from_path("events[2].who[0]"),
            Some(Field::Event(2, EventField::Who))
        );
        assert_eq!(
            Field::from_path("events[3].start"),
            Some(Field::Event(3, EventField::Start))
        );
        assert_eq!(
            Field::from_path("events[0]"),
            Some(Field::Event(0, EventField::Action))
        );
        assert_eq!(Field::from_path("caption"), Some(Field::Caption));
        assert_eq!(Field::from_path("options"), None);
        assert_eq!(Field::from_path("events[x].start"), None);
    }

    #[test]
    fn open_video_matches_by_file_name() {
        assert!(is_open_video(Some("clips/0001.mp4"), Some("0001.mp4")));
        assert!(is_open_video(Some("0001.mp4"), Some("0001.mp4")));
        assert!(!is_open_video(Some("clips/0002.mp4"), Some("0001.mp4")));
        assert!(!is_open_video(None, Some("0001.mp4")));
        assert!(!is_open_video(Some("a.mp4"), None));
    }

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
