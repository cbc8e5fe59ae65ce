//! The caption panel's wiring: opening a file (command line, Captions > Open, drop), the window
//! title's dirty marker, the save-on-quit prompt, the loading bar and recovery notice, and the
//! caption editor panel tied to the timeline (segments, edge drags) and to model drafts. The
//! file itself (background load, journal recovery, autosave, dirty state, drafting) is the
//! session's [`CaptionFile`].
//!
//! Text typed into a field reaches the document (and its journal) within a second; before a
//! save, a close or another file, what the field holds is applied first, so nothing typed is
//! left behind.

mod assist;
#[cfg(test)]
mod assist_tests;
mod compare;
mod score;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use eframe::egui;
use haic::Document;
use keye_ui::{
    CaptionAction, CaptionEditor, CaptionSearch, Comparison, EditorEnv, PlayerCommand, PlayerState,
    Timeline, Toasts,
};

use crate::files::CAPTION_EXTENSIONS;
use crate::inference::LoadedModel;
use crate::session::captions::CaptionFile;
use crate::session::captions::assist::CaptionAssist;
use crate::session::captions::compare::CompareFile;

/// What the save-on-quit prompt is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quit {
    /// No close is pending.
    Idle,
    /// The window asked to close with unsaved edits: Save / Discard / Cancel is shown.
    Asking,
    /// The annotator chose; the next close request goes through.
    Allowed,
}

/// The open video, as the caption panel needs it.
pub struct OpenVideo<'a> {
    pub path: &'a Path,
    pub playhead: f64,
    pub duration: f64,
    /// Length of one frame (1 / frame rate), the step of the frame nudge keys.
    pub frame_seconds: f64,
    /// Whether the player is looping a stretch.
    pub looping: bool,
}

/// The caption side of the app: one caption file and its editor panel.
pub struct CaptionSession {
    file: CaptionFile,
    editor: CaptionEditor,
    dialog: Option<Receiver<Option<PathBuf>>>,
    quit: Quit,
    /// (selected record, document version) the timeline segments were made for.
    segments_for: Option<(Option<usize>, u64)>,
    title: Option<String>,
    score: score::CaptionScore,
    /// What the editor asked of the player this frame; the app applies it to its player.
    player_commands: Vec<PlayerCommand>,
    /// Who writes review comments: the login name.
    author: String,
    /// Another annotator's file compared with this one ("Compare with…").
    compare: Option<CompareFile>,
    compare_loading: Option<Receiver<Result<CompareFile, String>>>,
    compare_dialog: Option<Receiver<Option<PathBuf>>>,
    /// Mengzi's check of the record being edited, and search ([`assist`]).
    assist: CaptionAssist,
    search: CaptionSearch,
    mengzi_dialog: Option<Receiver<Option<PathBuf>>>,
}

impl Default for CaptionSession {
    fn default() -> Self {
        Self::new()
    }
}

impl CaptionSession {
    pub fn new() -> Self {
        Self {
            file: CaptionFile::new(),
            editor: CaptionEditor::new(),
            dialog: None,
            quit: Quit::Idle,
            segments_for: None,
            title: None,
            score: score::CaptionScore::default(),
            player_commands: Vec::new(),
            author: std::env::var("USER")
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "annotator".into()),
            compare: None,
            compare_loading: None,
            compare_dialog: None,
            assist: CaptionAssist::new(),
            search: CaptionSearch::new(),
            mengzi_dialog: None,
        }
    }

    /// Whether a file is open or loading (the panel is shown then).
    pub fn is_active(&self) -> bool {
        self.file.is_active()
    }

    pub fn document(&self) -> Option<&Document> {
        self.file.document()
    }

    pub fn is_dirty(&self) -> bool {
        self.file.is_dirty()
    }

    /// The model "Draft with model" asks (`None` when none is loaded).
    pub fn set_model(&mut self, model: Option<Arc<LoadedModel>>) {
        self.file.set_model(model);
    }

    /// The judge "Score caption" asks: the loaded model, else the connected server.
    pub fn set_judge(&mut self, judge: Option<crate::haicbench::Answerer>) {
        self.score.set_judge(judge);
    }

    /// Starts loading `path` on a worker thread. An open file with unsaved edits is saved
    /// first; if that fails it stays open and nothing else happens.
    pub fn open(&mut self, path: &Path, toasts: &mut Toasts, repaint: impl Fn() + Send + 'static) {
        self.take_typing(toasts);
        if self.is_dirty() && !self.save(toasts) {
            return;
        }
        self.file.open(path, toasts, repaint);
    }

    /// Takes a finished load into the editor.
    fn poll_loading(&mut self, toasts: &mut Toasts) {
        if self.file.poll_loading(toasts) {
            self.document_replaced();
        }
    }

    fn document_replaced(&mut self) {
        self.editor.document_replaced();
        self.assist.document_replaced();
        self.segments_for = None;
        self.quit = Quit::Idle;
    }

    /// Applies what the field being typed in holds and the document has not got yet: before a
    /// save, a close or another file, so nothing typed is left behind.
    fn take_typing(&mut self, toasts: &mut Toasts) {
        if self.file.document().is_some()
            && let Some(action) = self.editor.finish_typing()
        {
            self.apply(action, toasts);
        }
    }

    /// Saves the open file with what the field being typed in holds. Errors become toasts
    /// naming the file.
    pub fn save(&mut self, toasts: &mut Toasts) -> bool {
        self.take_typing(toasts);
        self.file.save(toasts)
    }

    /// Saves when edits have waited the autosave interval; `now` is passed in so tests need not
    /// sleep.
    pub fn autosave(&mut self, now: Instant, toasts: &mut Toasts) {
        if self.file.autosave_due(now) && !self.save(toasts) {
            self.file.postpone_autosave(now);
        }
    }

    /// Applies what the editor panel asked for.
    pub fn apply(&mut self, action: CaptionAction, toasts: &mut Toasts) {
        match action {
            CaptionAction::Save => {
                self.save(toasts);
            }
            CaptionAction::Player(command) => self.player_commands.push(command),
            CaptionAction::Draft { record } => {
                // Drafts start from `ui`, which knows the open video.
                toasts.error(format!(
                    "Draft for caption record #{record}: open the record's video first"
                ));
            }
            action => {
                let applied = self.file.apply(action, toasts);
                if applied.undoing
                    && let Some(&record) = applied.records.last()
                {
                    // Show what the undo or redo changed, which may be another record.
                    self.editor.select(record);
                }
                self.editor.records_changed(applied.records);
            }
        }
    }

    /// Window title with the open caption file and a `*` while it has unsaved edits.
    pub fn title(&self) -> String {
        self.file.title(self.editor.has_unsent_typing())
    }

    /// Once per frame: finished loads, dialogs and drafts, autosave, the title, and the quit
    /// prompt.
    pub fn tick(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        self.poll_loading(toasts);
        self.poll_dialog(ctx, toasts);
        self.poll_compare(ctx, toasts);
        self.tick_assist(ctx, toasts);
        if let Some(draft) = self.file.poll_draft(toasts) {
            self.editor.show_draft(draft.record, draft.structure);
        }
        if self.file.is_drafting() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.autosave(Instant::now(), toasts);
        if let Some(left) = self.file.autosave_in() {
            // Wake up for the autosave even when nothing else repaints.
            ctx.request_repaint_after(left + Duration::from_millis(50));
        }
        let title = self.title();
        if self.title.as_ref() != Some(&title) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = Some(title);
        }
        self.quit_prompt(ctx, toasts);
    }

    /// Lets the window close without the save prompt, for runs nobody answers (screenshots).
    /// Unsaved edits stay in the journal, so the next open recovers them.
    pub fn close_without_asking(&mut self) {
        self.quit = Quit::Allowed;
    }

    /// Closing with unsaved edits asks Save / Discard / Cancel first.
    fn quit_prompt(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        let close_requested = ctx.input(|i| i.viewport().close_requested());
        if close_requested {
            // Text typed a moment ago counts as an unsaved edit (and is journaled now).
            self.take_typing(toasts);
        }
        if close_requested && self.is_dirty() && self.quit != Quit::Allowed {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.quit = Quit::Asking;
        }
        if self.quit != Quit::Asking {
            return;
        }
        let file = self
            .document()
            .map(|d| d.file().path().display().to_string())
            .unwrap_or_default();
        let mut choice = None;
        egui::Modal::new(egui::Id::unique("caption-quit")).show(ctx, |ui| {
            ui.heading("Unsaved caption edits");
            ui.label(format!("{file} has edits that are not saved."));
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    choice = Some("save");
                }
                if ui
                    .button("Discard")
                    .on_hover_text(
                        "Quit without saving; the edit journal is kept as <file>.journal.discarded",
                    )
                    .clicked()
                {
                    choice = Some("discard");
                }
                if ui.button("Cancel").clicked() {
                    choice = Some("cancel");
                }
            });
        });
        match choice {
            Some("save") => {
                if self.save(toasts) {
                    self.quit = Quit::Allowed;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                } else {
                    self.quit = Quit::Idle;
                }
            }
            Some("discard") => {
                self.file.close_discarding(toasts);
                self.quit = Quit::Allowed;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            Some(_) => self.quit = Quit::Idle,
            None => {}
        }
    }

    /// Captions > Open: a file dialog on its own thread (portal dialogs block).
    pub fn start_dialog(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        if self.dialog.is_some() {
            return;
        }
        match self.pick_caption_file(ctx, "Open a HAIC caption file") {
            Ok(answer) => self.dialog = Some(answer),
            Err(error) => toasts.error(error),
        }
    }

    /// Asks for a caption file in a native dialog on its own thread (it blocks), starting in the
    /// open file's folder; the answer comes through the receiver.
    fn pick_caption_file(
        &self,
        ctx: &egui::Context,
        title: &'static str,
    ) -> Result<Receiver<Option<PathBuf>>, String> {
        let start_dir = self
            .document()
            .and_then(|d| d.file().path().parent().map(Path::to_path_buf));
        let (sender, answer) = crossbeam_channel::bounded(1);
        let repaint = ctx.clone();
        std::thread::Builder::new()
            .name("caption-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new()
                    .set_title(title)
                    .add_filter("Captions (JSON, JSON Lines)", CAPTION_EXTENSIONS);
                if let Some(dir) = start_dir {
                    dialog = dialog.set_directory(dir);
                }
                let _ = sender.send(dialog.pick_file());
                repaint.request_repaint();
            })
            .map_err(|error| format!("Cannot open the file dialog: {error}"))?;
        Ok(answer)
    }

    fn poll_dialog(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        let Some(answer) = self.dialog.as_ref().and_then(|d| d.try_recv().ok()) else {
            return;
        };
        self.dialog = None;
        if let Some(path) = answer {
            self.open(&path, toasts, repaint_with(ctx));
        }
    }

    /// The Captions menu.
    pub fn menu(&mut self, ui: &mut egui::Ui, toasts: &mut Toasts) {
        if ui.button("Open caption file…").clicked() {
            self.start_dialog(ui.ctx(), toasts);
        }
        if ui
            .add_enabled(
                self.document().is_some(),
                egui::Button::new("Save captions"),
            )
            .clicked()
        {
            self.save(toasts);
        }
        self.compare_menu(ui, toasts);
        self.mengzi_menu(ui, toasts);
    }

    /// Shows the caption events of the selected record on the timeline, and turns edge drags
    /// finished there into timing edits of that record.
    pub fn sync_timeline(&mut self, timeline: &mut Timeline, toasts: &mut Toasts) {
        self.sync_compare_track(timeline);
        let drags = timeline.take_caption_drags();
        if !drags.is_empty() {
            for drag in drags {
                if let Some(record) = self.editor.selected()
                    && let Some(command) = self.file.drag_command(record, drag)
                {
                    self.apply(CaptionAction::Edit(command), toasts);
                }
            }
            // The segment moved on screen during the drag; show the document's value again.
            self.segments_for = None;
        }
        let Some(document) = self.file.document() else {
            if !timeline.tracks.caption_events.is_empty() {
                timeline.tracks.caption_events.clear();
            }
            return;
        };
        let key = (self.editor.selected(), document.version());
        if self.segments_for == Some(key) {
            return;
        }
        self.segments_for = Some(key);
        timeline.tracks.caption_events = self
            .editor
            .selected()
            .map(|record| self.file.segments(record))
            .unwrap_or_default();
    }

    /// Applies to the player what the editor's keys asked of it (seek, play a stretch, speed).
    pub fn drive_player(&mut self, player: &mut PlayerState) {
        for command in self.player_commands.drain(..) {
            match command {
                PlayerCommand::Seek(seconds) => player.seek(seconds),
                PlayerCommand::PlaySpan(span) => player.play_span(span),
                PlayerCommand::StopSpan => player.stop_span(),
                PlayerCommand::StepSpeed(steps) => player.step_speed(steps),
            }
        }
    }

    /// The caption panel: the loading progress, the recovery notice, and the editor.
    pub fn ui(&mut self, ui: &mut egui::Ui, video: Option<OpenVideo<'_>>, toasts: &mut Toasts) {
        ui.heading("Captions");
        if let Some(loading) = self.file.loading() {
            let (done, total) = (loading.done, loading.total);
            let stage = if loading.parsing {
                "parsing"
            } else {
                "reading"
            };
            ui.label(format!("Opening {}", loading.path.display()));
            let mut cancel = false;
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total as f32)
                        .text(format!("{stage} {} of {} MB", done >> 20, total >> 20))
                        .desired_width(220.0),
                );
                cancel = ui.button("Cancel").clicked();
            });
            if cancel {
                self.file.cancel_loading();
            }
            ui.separator();
        }
        if let Some(message) = self.file.recovery_message() {
            let mut keep = false;
            let mut discard = false;
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.colored_label(ui.visuals().warn_fg_color, message);
                ui.horizontal(|ui| {
                    keep = ui
                        .button("Keep")
                        .on_hover_text("Keep the recovered edits (save to write them to the file)")
                        .clicked();
                    discard = ui
                        .button("Discard")
                        .on_hover_text("Reopen the file as last saved; the journal is kept as <file>.journal.discarded")
                        .clicked();
                });
            });
            if keep {
                self.file.keep_recovered();
            }
            if discard {
                // What is being typed belongs to the discarded session.
                self.editor.document_replaced();
                self.file.discard_recovered(toasts, repaint_with(ui.ctx()));
                return;
            }
        }
        let Some(document) = self.file.document() else {
            if !self.file.is_loading() {
                ui.weak("No caption file open.");
                if ui.button("Open caption file…").clicked() {
                    self.start_dialog(ui.ctx(), toasts);
                }
            }
            return;
        };
        ui.weak(document.file().path().display().to_string());
        if self.file.is_drafting() && ui.button("Stop drafting").clicked() {
            self.file.stop_draft();
        }
        if let Some(document) = self.file.document()
            && self.score.ui(ui, document, self.editor.selected(), toasts)
        {
            self.take_typing(toasts);
            if let Some(document) = self.file.document() {
                self.score
                    .start(document, self.editor.selected(), ui.ctx(), toasts);
            }
        }
        self.search_ui(ui);
        let video_name = video
            .as_ref()
            .and_then(|video| video.path.file_name()?.to_str());
        let env = EditorEnv {
            playhead: video.as_ref().map(|video| video.playhead),
            video_name,
            video_duration: video.as_ref().map(|video| video.duration),
            draft: self
                .file
                .draft_availability(video.as_ref().map(|video| video.path)),
            frame_seconds: video.as_ref().map(|video| video.frame_seconds),
            looping: video.as_ref().is_some_and(|video| video.looping),
            author: Some(&self.author),
            comparison: None,
        };
        let Some(document) = self.file.document() else {
            return;
        };
        if let (Some(compare), Some(record)) = (self.compare.as_mut(), self.editor.selected()) {
            compare.refresh(document, record);
        }
        let env = EditorEnv {
            comparison: self.compare.as_ref().and_then(|compare| {
                let comparison = compare.current()?;
                Some(Comparison {
                    other_name: compare.name(),
                    record: comparison.record,
                    agreement: &comparison.agreement,
                })
            }),
            ..env
        };
        let actions = self.editor.ui(ui, document, &env);
        for action in actions {
            match (action, &video) {
                (CaptionAction::Draft { record }, Some(video)) => {
                    self.file.start_draft(record, video.path, toasts)
                }
                (action, _) => self.apply(action, toasts),
            }
        }
    }
}

fn repaint_with(ctx: &egui::Context) -> impl Fn() + Send + 'static {
    let ctx = ctx.clone();
    move || ctx.request_repaint()
}
