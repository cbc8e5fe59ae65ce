//! The HAIC caption editor: a filtered record list, the people and timed events of the selected
//! record, live validation with click-to-locate, undo/redo/save, and a model draft shown as a diff
//! the annotator accepts piece by piece.
//!
//! The panel never changes the document itself: it reads a [`haic::Document`] and returns
//! [`CaptionAction`]s, whose edits are `haic` [`Command`]s the app applies to the document. So
//! every change is journaled and undoable the same way, whether it comes from a text field, a
//! playhead button, a timeline drag or an accepted draft piece. Text fields send what they hold
//! while the annotator types ([`typing`]).

mod compare;
mod draft;
mod fields;
mod keys;
mod review;
pub mod score;
pub mod search;
mod suspects;
pub mod typing;

use std::collections::HashMap;

use egui::{RichText, TextEdit};
use haic::{
    CaptionRecord, Command, Document, Edit, Finding, PersonField, Record, ReviewStatus, Rule,
    Severity, Structure, TextField, TextState, text, validate,
};

pub use compare::Comparison;
pub use draft::{Draft, PieceState};
pub use keys::{EditorCommand, PlayerCommand};
pub use search::{CaptionSearch, SearchAction, SearchHitView};
pub use suspects::{SuggestionMark, SuspectMark};
use typing::{Due, Typing};

use crate::player::format_time;

/// What the annotator asked for; the app applies it to the document (or starts the draft).
#[derive(Clone, Debug, PartialEq)]
pub enum CaptionAction {
    Edit(Command),
    /// What a text field holds while the annotator types in it, for
    /// [`haic::Document::apply_typing`]: the sends of one burst of typing are one undo step,
    /// and `burst_ends` closes the burst.
    Typing {
        command: Command,
        burst_ends: bool,
    },
    Undo,
    Redo,
    Save,
    /// Ask the model for a HAIC draft of this (empty) record; the answer comes back through
    /// [`CaptionEditor::show_draft`].
    Draft {
        record: usize,
    },
    /// Move the video: seek, play or loop a stretch, change speed.
    Player(PlayerCommand),
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
    /// Length of one frame of the open video, the step of the frame nudge keys.
    pub frame_seconds: Option<f64>,
    /// Whether the player is looping a stretch (the loop key then stops it).
    pub looping: bool,
    /// Who writes review comments (the user's name).
    pub author: Option<&'a str>,
    /// The selected record compared with another annotator's file, when one is open beside.
    pub comparison: Option<Comparison<'a>>,
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
        if let Some((index, rest)) = index_after("people[") {
            let detail = PersonField::ALL
                .into_iter()
                .find(|field| rest.strip_prefix('.') == Some(field.name()));
            return Some(match detail {
                Some(detail) => Field::PersonDetail(index, detail),
                None => Field::Person(index),
            });
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

/// What the filtered record list was made for; any change remakes it.
#[derive(Clone, Debug, PartialEq)]
struct ListKey {
    version: u64,
    filter: String,
    only_invalid: bool,
    only_video: Option<String>,
    status: Option<ReviewStatus>,
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
    /// Keep only records in this review status (review mode keeps the flagged ones).
    pub status_filter: Option<ReviewStatus>,
    selected: Option<usize>,
    located: Option<Field>,
    scroll_to_located: bool,
    /// The field being typed in, whose text goes to the document as the annotator types.
    typing: Option<Typing>,
    /// Undo, redo and save asked for this frame: they go out after the fields are drawn, behind
    /// whatever was typed in the same frame.
    deferred: Vec<CaptionAction>,
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
    /// Why the last keyboard command could not run.
    key_problem: Option<String>,
    sheet_open: bool,
    palette: keys::Palette,
    /// Comments being written, per record and event thread.
    comment_drafts: HashMap<(usize, Option<usize>), String>,
    /// Characters a model finds unlikely in the record's Chinese fields ([`SuspectMark`]).
    suspects: Vec<SuspectMark>,
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

    /// Selects `record` and outlines and focuses `field` there (a search result's field).
    pub fn locate(&mut self, record: usize, field: Option<Field>) {
        self.selected = Some(record);
        self.located = field;
        self.scroll_to_located = field.is_some();
    }

    /// Forgets everything learnt about the document (validation, drafts, typing): call it when
    /// a file is (re)opened, since a reopened file can have the same path and length. Take
    /// what is being typed with [`finish_typing`](Self::finish_typing) first.
    pub fn document_replaced(&mut self) {
        self.document_key = None;
        self.typing = None;
    }

    /// What the field being typed in holds and the document has not got yet, as a send that
    /// closes the burst of typing. The app applies it before it saves, closes or opens another
    /// file, so a save holds everything typed. The field keeps the keyboard.
    pub fn finish_typing(&mut self) -> Option<CaptionAction> {
        self.typing.as_mut()?.send(true)
    }

    /// Whether the field being typed in holds text the document has not got yet.
    pub fn has_unsent_typing(&self) -> bool {
        self.typing.as_ref().is_some_and(Typing::has_unsent)
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
        self.pace_typing(ui.ctx(), document);
        self.keyboard(ui, document, env);
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
        self.key_windows(ui, document, env);
        for action in std::mem::take(&mut self.deferred) {
            self.push(action);
        }
        if !self.actions.is_empty() {
            // The app applies them after this frame: the next one shows what they did.
            ui.ctx().request_repaint();
        }
        std::mem::take(&mut self.actions)
    }

    /// Sends typed text that is due (a pause, the longest wait, or the field left), follows
    /// changes the document made under the field, and wakes the UI up for the next send.
    fn pace_typing(&mut self, ctx: &egui::Context, document: &Document) {
        let Some(typing) = &mut self.typing else {
            return;
        };
        let value = match document.file().caption(typing.record) {
            Ok(caption) => typing.target.value(caption),
            Err(_) => None,
        };
        let Some(value) = value else {
            // The field is gone (its person or event was removed): nothing to send it to.
            self.typing = None;
            return;
        };
        let focused = ctx.memory(|memory| memory.has_focus(typing.id));
        if !focused {
            if let Some(action) = typing.send(true) {
                self.actions.push(action);
            }
            self.typing = None;
            return;
        }
        typing.follow_document(&value);
        let now = ctx.input(|input| input.time);
        // Keys in this frame mean the annotator is still typing, however long the frame took
        // to come (a busy machine): the pause that ends a burst is one without keys.
        let keys = ctx.input(|input| {
            input.events.iter().any(|event| {
                matches!(
                    event,
                    egui::Event::Text(_)
                        | egui::Event::Paste(_)
                        | egui::Event::Cut
                        | egui::Event::Key { pressed: true, .. }
                )
            })
        });
        let due = match typing.due(now) {
            // Still typing: what waits goes out (within the promised time), the burst goes on.
            Due::End if keys && typing.has_unsent() => Due::Send,
            Due::End if keys => {
                ctx.request_repaint();
                Due::Idle
            }
            due => due,
        };
        let send = match due {
            Due::Send => typing.send(false),
            Due::End => typing.send(true),
            Due::Wait(at) => {
                ctx.request_repaint_after(std::time::Duration::from_secs_f64(at - now));
                None
            }
            Due::Idle => None,
        };
        if let Some(action) = send {
            self.actions.push(action);
            if due == Due::Send {
                ctx.request_repaint_after(std::time::Duration::from_secs_f64(typing::BURST_PAUSE));
            }
        }
    }

    /// Queues an action; whatever the field being typed in holds goes first, so an undo,
    /// save or other edit comes after the typing it follows.
    fn push(&mut self, action: CaptionAction) {
        if let Some(typing) = self.finish_typing() {
            self.actions.push(typing);
        }
        self.actions.push(action);
    }

    fn sync_caches(&mut self, document: &Document, env: &EditorEnv<'_>) {
        let file = document.file();
        let key = (file.path().to_path_buf(), file.len());
        if self.document_key.as_ref() != Some(&key) {
            self.document_key = Some(key);
            self.findings = vec![None; file.len()];
            self.list = None;
            self.draft = None;
            self.typing = None;
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

    fn toolbar(&mut self, ui: &mut egui::Ui, document: &Document) {
        // Text typed and not sent yet is an edit already: it can be undone, it clears what
        // could be redone, and it is unsaved.
        let unsent = self.has_unsent_typing();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(document.can_undo() || unsent, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                self.deferred.push(CaptionAction::Undo);
            }
            if ui
                .add_enabled(document.can_redo() && !unsent, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z or Ctrl+Y")
                .clicked()
            {
                self.deferred.push(CaptionAction::Redo);
            }
            if ui.button("Save").on_hover_text("Ctrl+S").clicked() {
                self.deferred.push(CaptionAction::Save);
            }
            if document.is_dirty() || unsent {
                ui.colored_label(ui.visuals().warn_fg_color, "* unsaved changes");
            } else {
                ui.weak("saved");
            }
            let reviewing = self.status_filter == Some(ReviewStatus::Flagged);
            if ui
                .selectable_label(reviewing, "Review flagged")
                .on_hover_text("List only the flagged records; G goes to the next one")
                .clicked()
            {
                self.status_filter = (!reviewing).then_some(ReviewStatus::Flagged);
            }
            if ui
                .button("Keys")
                .on_hover_text("Shortcut sheet (?)")
                .clicked()
            {
                self.sheet_open = !self.sheet_open;
            }
        });
        if let Some(problem) = &self.key_problem {
            ui.colored_label(ui.visuals().warn_fg_color, problem);
        }
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
            status: self.status_filter,
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
            if let Some(status) = key.status
                && !matches!(record, Record::Caption(caption) if caption.review.status == status)
            {
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
            egui::ComboBox::from_id_salt("status-filter")
                .selected_text(self.status_filter.map_or("any status", ReviewStatus::label))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.status_filter, None, "any status");
                    for status in ReviewStatus::ALL {
                        ui.selectable_value(&mut self.status_filter, Some(status), status.label());
                    }
                })
                .response
                .accessible_name("Status filter");
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
            Some(record @ Record::Caption(caption)) => {
                let text = match caption.review.status {
                    ReviewStatus::Todo => record_text(record),
                    status => format!("[{}] {}", status.label(), record_text(record)),
                };
                (caption.video.clone(), text)
            }
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
        self.review_view(ui, record, &caption, env);
        if let Some(comparison) = env.comparison.filter(|c| c.record == record) {
            self.compare_view(ui, &comparison);
        }
        self.findings_view(ui, document, record, env);
        self.draft_view(ui, record, &caption, env);
        // Text that starts to follow the format while it is typed keeps its field until the
        // annotator leaves it; only then do people and events take its place.
        let typing_caption = self
            .typing
            .as_ref()
            .is_some_and(|typing| typing.record == record && typing.field == Field::Caption);
        match &caption.state {
            TextState::Structured(structure) if typing_caption => {
                ui.weak(format!(
                    "Follows the HAIC form: {} people, {} events (shown when you leave the text).",
                    structure.people.len(),
                    structure.events.len()
                ));
                self.caption_text_field(ui, record, &caption.caption);
            }
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
                // A check of the text as a whole (the file keeps no people or events).
                self.suspect_suggestions(ui, record, &TextField::Caption, &caption.caption);
            }
            TextState::Free { .. } => {
                // Why it is free text is in the validation message above.
                ui.weak("Free text: rewrite it in the HAIC form to edit its people and events.");
                self.caption_text_field(ui, record, &caption.caption);
            }
        }
    }

    fn caption_text_field(&mut self, ui: &mut egui::Ui, record: usize, text: &str) {
        self.text_field(
            ui,
            record,
            Field::Caption,
            TextField::Caption,
            text,
            "Caption text",
            true,
        );
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

    fn edit(&mut self, record: usize, edit: Edit) {
        self.push(CaptionAction::Edit(Command { record, edit }));
    }
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
mod tests;
