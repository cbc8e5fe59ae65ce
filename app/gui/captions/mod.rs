//! The caption file an annotator edits: opening it (command line, Captions > Open, drop) off the
//! UI thread with progress, crash recovery through the haic journal, autosave, the dirty marker in
//! the window title, the save-on-quit prompt, and the wiring of the caption editor panel to the
//! timeline (segments, edge drags) and to a model draft.
//!
//! Every change goes through [`haic::Document`], which journals it (fsynced) before it is
//! applied, text typed into a field included, within a second of typing it; autosave and Save
//! write the file atomically, with what the field being typed in holds. So a crash loses no
//! edit: the next open replays the journal and says what it recovered.

mod draft;
#[cfg(test)]
mod tests;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use eframe::egui;
use haic::{Change, Command, Document, Edit, FieldNames, Phase, Recovery, Structure};
use keye_ui::{
    CaptionAction, CaptionEdgeDrag, CaptionEditor, CaptionSegment, EditorEnv, SegmentEdge,
    Timeline, Toasts,
};

use draft::{DRAFT_MAX_NEW_TOKENS, DraftJob};

use crate::inference::LoadedModel;

/// Unsaved edits are written to the file at most this long after the first of them.
pub const AUTOSAVE_INTERVAL: Duration = Duration::from_secs(30);

/// Extensions opened as caption files (when dropped, or offered by the dialog).
pub const CAPTION_EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson"];

/// Whether a dropped file is a caption file rather than a video.
pub fn is_caption_file(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            CAPTION_EXTENSIONS
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}

/// How far the loader has come, shared with its thread.
#[derive(Default)]
struct LoadProgress {
    done: AtomicU64,
    total: AtomicU64,
    parsing: AtomicBool,
    cancel: AtomicBool,
}

type LoadOutcome = Result<(Document, Recovery), haic::Error>;

/// A file being read and parsed on its own thread.
struct Loading {
    path: PathBuf,
    progress: Arc<LoadProgress>,
    outcome: Receiver<LoadOutcome>,
}

/// The edits a journal brought back, until the annotator keeps or discards them.
struct RecoveredEdits {
    /// Undo steps the replay made (a burst of typing is one).
    edits: usize,
}

struct OpenFile {
    document: Document,
    /// When the document last went from clean to dirty: autosave counts from there.
    dirty_since: Option<Instant>,
    recovered: Option<RecoveredEdits>,
}

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
}

/// The caption side of the app: one caption file and its editor panel.
pub struct CaptionSession {
    loading: Option<Loading>,
    open: Option<OpenFile>,
    editor: CaptionEditor,
    dialog: Option<Receiver<Option<PathBuf>>>,
    quit: Quit,
    /// (selected record, document version) the timeline segments were made for.
    segments_for: Option<(Option<usize>, u64)>,
    title: Option<String>,
    /// The loaded model that drafts captions, when there is one.
    model: Option<Arc<LoadedModel>>,
    draft_job: Option<DraftJob>,
    /// Bound on a draft's length ([`DRAFT_MAX_NEW_TOKENS`]; tests keep it short).
    draft_max_new_tokens: usize,
}

impl Default for CaptionSession {
    fn default() -> Self {
        Self::new()
    }
}

impl CaptionSession {
    pub fn new() -> Self {
        Self {
            loading: None,
            open: None,
            editor: CaptionEditor::new(),
            dialog: None,
            quit: Quit::Idle,
            segments_for: None,
            title: None,
            model: None,
            draft_job: None,
            draft_max_new_tokens: DRAFT_MAX_NEW_TOKENS,
        }
    }

    /// Whether a file is open or loading (the panel is shown then).
    pub fn is_active(&self) -> bool {
        self.open.is_some() || self.loading.is_some()
    }

    pub fn document(&self) -> Option<&Document> {
        self.open.as_ref().map(|open| &open.document)
    }

    pub fn is_dirty(&self) -> bool {
        self.document().is_some_and(Document::is_dirty)
    }

    /// Starts loading `path` on a worker thread (with progress; large files take a while). An
    /// open file with unsaved edits is saved first; if that fails it stays open and nothing
    /// else happens.
    pub fn open(&mut self, path: &Path, toasts: &mut Toasts, repaint: impl Fn() + Send + 'static) {
        self.take_typing(toasts);
        if self.is_dirty() && !self.save(toasts) {
            return;
        }
        if let Some(loading) = self.loading.take() {
            loading.progress.cancel.store(true, Ordering::Relaxed);
        }
        let progress = Arc::new(LoadProgress::default());
        let (sender, outcome) = crossbeam_channel::bounded(1);
        let shared = Arc::clone(&progress);
        let load_path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("caption-load".into())
            .spawn(move || {
                let mut report = |phase: Phase, done: u64, total: u64| {
                    shared
                        .parsing
                        .store(phase == Phase::Parsing, Ordering::Relaxed);
                    shared.done.store(done, Ordering::Relaxed);
                    shared.total.store(total, Ordering::Relaxed);
                    repaint();
                    if shared.cancel.load(Ordering::Relaxed) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                let result =
                    Document::open_with_progress(&load_path, &FieldNames::default(), &mut report);
                let _ = sender.send(result);
                repaint();
            });
        match spawned {
            Ok(_) => {
                self.loading = Some(Loading {
                    path: path.to_path_buf(),
                    progress,
                    outcome,
                })
            }
            Err(error) => toasts.error(format!(
                "{}: cannot start loading the caption file: {error}",
                path.display()
            )),
        }
    }

    /// Takes a finished load: the document replaces the open one; load problems and a recovered
    /// journal are told.
    fn poll_loading(&mut self, toasts: &mut Toasts) {
        let Some(loading) = &self.loading else {
            return;
        };
        let Ok(outcome) = loading.outcome.try_recv() else {
            return;
        };
        let path = loading.path.clone();
        self.loading = None;
        match outcome {
            Ok((document, recovery)) => {
                let problems = document.file().problems();
                // Each problem names the file and its place: the first is told as it is.
                match problems {
                    [] => {}
                    [only] => toasts.error(format!("{only} (kept as it is in the file)")),
                    [first, more @ ..] => toasts.error(format!(
                        "{first} (kept as it is in the file; {} more problem(s): captions validate lists them)",
                        more.len()
                    )),
                }
                if let Some(stale) = &recovery.stale_journal {
                    toasts.info(format!(
                        "{}: an edit journal written for another version of the file was moved to {} and not applied",
                        path.display(),
                        stale.display()
                    ));
                }
                // A journal whose edits cancel out leaves nothing to keep or discard.
                let recovered =
                    (recovery.replayed > 0 && document.is_dirty()).then(|| RecoveredEdits {
                        edits: document.undo_steps(),
                    });
                let dirty = document.is_dirty();
                self.open = Some(OpenFile {
                    document,
                    dirty_since: dirty.then(Instant::now),
                    recovered,
                });
                self.editor.document_replaced();
                self.segments_for = None;
                self.quit = Quit::Idle;
            }
            Err(haic::Error::Cancelled { .. }) => {}
            Err(error) => toasts.error(format!("Cannot open the caption file: {error}")),
        }
    }

    /// The message shown while recovered edits wait for Keep / Discard.
    pub fn recovery_message(&self) -> Option<String> {
        let open = self.open.as_ref()?;
        let recovered = open.recovered.as_ref()?;
        let path = open.document.file().path();
        Some(format!(
            "Recovered {} unsaved edit{} to {} from its journal (the last session ended without saving).",
            recovered.edits,
            if recovered.edits == 1 { "" } else { "s" },
            path.file_name().unwrap_or_default().to_string_lossy()
        ))
    }

    /// Throws the recovered edits away: the journal is kept beside the file as
    /// `<file>.journal.discarded` (nothing is deleted) and the file is opened as saved.
    fn discard_recovered(&mut self, toasts: &mut Toasts, repaint: impl Fn() + Send + 'static) {
        let Some(open) = self.open.take() else {
            return;
        };
        let path = open.document.file().path().to_path_buf();
        drop(open);
        // What is being typed belongs to the discarded session.
        self.editor.document_replaced();
        if let Err(error) = set_journal_aside(&path) {
            toasts.error(error);
        }
        self.open(&path, toasts, repaint);
    }

    /// Applies what the field being typed in holds and the document has not got yet: before a
    /// save, a close or another file, so nothing typed is left behind.
    fn take_typing(&mut self, toasts: &mut Toasts) {
        if self.open.is_some()
            && let Some(action) = self.editor.finish_typing()
        {
            self.apply(action, toasts);
        }
    }

    /// Saves the open file (atomically, keeping `.bak`) with what the field being typed in
    /// holds; with nothing changed nothing is written. Errors become toasts naming the file.
    pub fn save(&mut self, toasts: &mut Toasts) -> bool {
        self.take_typing(toasts);
        let Some(open) = &mut self.open else {
            return true;
        };
        match open.document.save() {
            Ok(_) => {
                open.dirty_since = None;
                open.recovered = None;
                true
            }
            Err(error) => {
                toasts.error(format!("Caption file not saved: {error}"));
                false
            }
        }
    }

    /// Saves when edits have waited [`AUTOSAVE_INTERVAL`]; `now` is passed in so tests need not
    /// sleep.
    pub fn autosave(&mut self, now: Instant, toasts: &mut Toasts) {
        let due = self.open.as_ref().is_some_and(|open| {
            // Recovered edits wait for Keep / Discard: saving them would take the choice away.
            open.recovered.is_none()
                && open.document.is_dirty()
                && open
                    .dirty_since
                    .is_some_and(|since| now.duration_since(since) >= AUTOSAVE_INTERVAL)
        });
        if due
            && !self.save(toasts)
            && let Some(open) = &mut self.open
        {
            // Try again after another interval rather than on every frame.
            open.dirty_since = Some(now);
        }
    }

    /// Applies what the editor panel asked for.
    pub fn apply(&mut self, action: CaptionAction, toasts: &mut Toasts) {
        if matches!(action, CaptionAction::Save) {
            self.save(toasts);
            return;
        }
        if let CaptionAction::Draft { record } = action {
            // Drafts start from `ui`, which knows the open video.
            toasts.error(format!(
                "Draft for caption record #{record}: open the record's video first"
            ));
            return;
        }
        let Some(open) = &mut self.open else {
            return;
        };
        let document = &mut open.document;
        let undoing = matches!(action, CaptionAction::Undo | CaptionAction::Redo);
        let result = match action {
            CaptionAction::Edit(command) => document.apply(command),
            CaptionAction::Typing {
                command,
                burst_ends,
            } => document.apply_typing(command, burst_ends),
            CaptionAction::Undo => document.undo().map(|_| ()),
            CaptionAction::Redo => document.redo().map(|_| ()),
            CaptionAction::Save | CaptionAction::Draft { .. } => Ok(()),
        };
        if let Err(error) = result {
            // Errors about the file name it already; an edit that does not fit does not.
            let message = match &error {
                haic::Error::Command { .. } => {
                    format!(
                        "{}: edit not applied: {error}",
                        document.file().path().display()
                    )
                }
                _ => format!("Edit not applied: {error}"),
            };
            toasts.error(message);
        }
        let records: Vec<usize> = document
            .drain_changes()
            .into_iter()
            .filter_map(|change| match change {
                Change::Record { record } => Some(record),
                Change::Saved => None,
            })
            .collect();
        if undoing && let Some(&record) = records.last() {
            // Show what the undo or redo changed, which may be another record than the one shown.
            self.editor.select(record);
        }
        self.editor.records_changed(records);
        match (document.is_dirty(), open.dirty_since) {
            (true, None) => open.dirty_since = Some(Instant::now()),
            (false, _) => open.dirty_since = None,
            _ => {}
        }
    }

    /// Window title with the open caption file and a `*` while it has unsaved edits.
    pub fn title(&self) -> String {
        match self.document() {
            Some(document) => format!(
                "keye-studio - {}{}",
                document
                    .file()
                    .path()
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy(),
                if document.is_dirty() || self.editor.has_unsent_typing() {
                    " *"
                } else {
                    ""
                }
            ),
            None => "keye-studio".to_owned(),
        }
    }

    /// Once per frame: finished loads and dialogs, autosave, the title, and the quit prompt.
    pub fn tick(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        self.poll_loading(toasts);
        self.poll_dialog(ctx, toasts);
        self.poll_draft(toasts);
        if self.draft_job.is_some() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.autosave(Instant::now(), toasts);
        if let Some(open) = &self.open
            && let Some(since) = open.dirty_since
        {
            // Wake up for the autosave even when nothing else repaints.
            let left = AUTOSAVE_INTERVAL.saturating_sub(since.elapsed());
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
                if let Some(open) = self.open.take() {
                    let path = open.document.file().path().to_path_buf();
                    drop(open);
                    if let Err(error) = set_journal_aside(&path) {
                        toasts.error(error);
                    }
                }
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
        let start_dir = self
            .document()
            .and_then(|d| d.file().path().parent().map(Path::to_path_buf));
        let (sender, answer) = crossbeam_channel::bounded(1);
        let repaint = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("caption-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new()
                    .set_title("Open a HAIC caption file")
                    .add_filter("Captions (JSON, JSON Lines)", CAPTION_EXTENSIONS);
                if let Some(dir) = start_dir {
                    dialog = dialog.set_directory(dir);
                }
                let _ = sender.send(dialog.pick_file());
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog = Some(answer),
            Err(error) => toasts.error(format!("Cannot open the file dialog: {error}")),
        }
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
            .add_enabled(self.open.is_some(), egui::Button::new("Save captions"))
            .clicked()
        {
            self.save(toasts);
        }
    }

    /// Shows the caption events of the selected record on the timeline, and turns edge drags
    /// finished there into timing edits of that record.
    pub fn sync_timeline(&mut self, timeline: &mut Timeline, toasts: &mut Toasts) {
        let drags = timeline.take_caption_drags();
        if !drags.is_empty() {
            for drag in drags {
                if let Some(command) = self.drag_command(drag) {
                    self.apply(CaptionAction::Edit(command), toasts);
                }
            }
            // The segment moved on screen during the drag; show the document's value again.
            self.segments_for = None;
        }
        let Some(open) = &self.open else {
            if !timeline.tracks.caption_events.is_empty() {
                timeline.tracks.caption_events.clear();
            }
            return;
        };
        let key = (self.editor.selected(), open.document.version());
        if self.segments_for == Some(key) {
            return;
        }
        self.segments_for = Some(key);
        timeline.tracks.caption_events = self
            .editor
            .selected()
            .and_then(|record| open.document.file().caption(record).ok())
            .and_then(|caption| caption.structure())
            .map(timed_segments)
            .unwrap_or_default();
    }

    fn drag_command(&self, drag: CaptionEdgeDrag) -> Option<Command> {
        let record = self.editor.selected()?;
        let caption = self.document()?.file().caption(record).ok()?;
        let event = caption.structure()?.events.get(drag.event)?;
        let time = (drag.time * 1000.0).round() / 1000.0;
        let (start, end) = match drag.edge {
            SegmentEdge::Start => (Some(time), event.end),
            SegmentEdge::End => (event.start, Some(time)),
        };
        Some(Command {
            record,
            edit: Edit::SetTimes {
                index: drag.event,
                start,
                end,
            },
        })
    }

    /// The caption panel: the loading progress, the recovery notice, and the editor.
    pub fn ui(&mut self, ui: &mut egui::Ui, video: Option<OpenVideo<'_>>, toasts: &mut Toasts) {
        ui.heading("Captions");
        if let Some(loading) = &self.loading {
            let done = loading.progress.done.load(Ordering::Relaxed);
            let total = loading.progress.total.load(Ordering::Relaxed).max(1);
            let stage = if loading.progress.parsing.load(Ordering::Relaxed) {
                "parsing"
            } else {
                "reading"
            };
            ui.label(format!("Opening {}", loading.path.display()));
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total as f32)
                        .text(format!("{stage} {} of {} MB", done >> 20, total >> 20))
                        .desired_width(220.0),
                );
                if ui.button("Cancel").clicked() {
                    loading.progress.cancel.store(true, Ordering::Relaxed);
                }
            });
            ui.separator();
        }
        if let Some(message) = self.recovery_message() {
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
            if keep && let Some(open) = &mut self.open {
                open.recovered = None;
                open.dirty_since = Some(Instant::now());
            }
            if discard {
                self.discard_recovered(toasts, repaint_with(ui.ctx()));
                return;
            }
        }
        let Some(open) = &self.open else {
            if self.loading.is_none() {
                ui.weak("No caption file open.");
                if ui.button("Open caption file…").clicked() {
                    self.start_dialog(ui.ctx(), toasts);
                }
            }
            return;
        };
        ui.weak(open.document.file().path().display().to_string());
        if self.draft_job.is_some()
            && ui.button("Stop drafting").clicked()
            && let Some(job) = self.draft_job.take()
        {
            job.handle.cancel();
        }
        let video_name = video
            .as_ref()
            .and_then(|video| video.path.file_name()?.to_str());
        let env = EditorEnv {
            playhead: video.as_ref().map(|video| video.playhead),
            video_name,
            video_duration: video.as_ref().map(|video| video.duration),
            draft: self.draft_availability(video.as_ref()),
        };
        let actions = self.editor.ui(ui, &open.document, &env);
        for action in actions {
            match (action, &video) {
                (CaptionAction::Draft { record }, Some(video)) => {
                    self.start_draft(record, video.path, toasts)
                }
                (action, _) => self.apply(action, toasts),
            }
        }
    }
}

/// The timed events of a record as timeline segments (an event with only a start is an instant).
fn timed_segments(structure: &Structure) -> Vec<CaptionSegment> {
    structure
        .events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| {
            let start = event.start.or(event.end)?;
            let end = event.end.unwrap_or(start).max(start);
            Some(CaptionSegment {
                start,
                end,
                label: event.action.clone(),
                event: index,
            })
        })
        .collect()
}

fn repaint_with(ctx: &egui::Context) -> impl Fn() + Send + 'static {
    let ctx = ctx.clone();
    move || ctx.request_repaint()
}

/// Moves `<file>.journal` to `<file>.journal.discarded`, so discarded edits are neither replayed
/// nor lost.
fn set_journal_aside(path: &Path) -> Result<(), String> {
    let journal = haic::document::journal_path(path);
    let mut aside = journal.as_os_str().to_owned();
    aside.push(".discarded");
    match std::fs::rename(&journal, &aside) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(format!(
            "{}: cannot set the edit journal aside: {error}",
            journal.display()
        )),
    }
}
