//! The caption file an annotator edits: opening it (command line, Captions > Open, drop) off the
//! UI thread with progress, crash recovery through the haic journal, autosave, the dirty marker in
//! the window title, the save-on-quit prompt, and the wiring of the caption editor panel to the
//! timeline (segments, edge drags) and to a model draft.
//!
//! Every change goes through [`haic::Document::apply`], which journals it (fsynced) before it is
//! applied; autosave and Save write the file atomically. So a crash loses no edit: the next open
//! replays the journal and says what it recovered.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use eframe::egui;
use haic::{Change, Command, Document, Edit, FieldNames, Phase, Recovery, Structure};
use keye_model::generate::{GenerationEvent, Phase as TextPhase, ThinkingMode};
use keye_ui::{
    CaptionAction, CaptionEdgeDrag, CaptionEditor, CaptionSegment, DraftAvailability, EditorEnv,
    SegmentEdge, Timeline, Toasts,
};

use crate::caption_draft::{DRAFT_MAX_NEW_TOKENS, draft_prompt, parse_draft_answer};
use crate::inference::{AskEvent, AskHandle, LoadedModel, Question, spawn_ask};

/// Unsaved edits are written to the file at most this long after the first of them.
pub const AUTOSAVE_INTERVAL: Duration = Duration::from_secs(30);

/// Why "Draft with model" is off until a model is loaded in the app.
pub const NO_DRAFT_MODEL: &str = "Drafting needs a loaded Keye-VL model: open a checkpoint folder \
     (Model > Open checkpoint folder…, or start with --model DIR)";

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
    replayed: usize,
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

/// A model writing a HAIC draft of the open video for one record.
struct DraftJob {
    record: usize,
    handle: AskHandle,
    answer: String,
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
                if let Some(first) = problems.first() {
                    toasts.error(format!(
                        "{}: {} record(s) could not be read and are kept as they are; first: {first}",
                        path.display(),
                        problems.len()
                    ));
                }
                if let Some(stale) = &recovery.stale_journal {
                    toasts.info(format!(
                        "{}: an edit journal written for another version of the file was moved to {} and not applied",
                        path.display(),
                        stale.display()
                    ));
                }
                let recovered = (recovery.replayed > 0).then_some(RecoveredEdits {
                    replayed: recovery.replayed,
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
            recovered.replayed,
            if recovered.replayed == 1 { "" } else { "s" },
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
        if let Err(error) = set_journal_aside(&path) {
            toasts.error(error);
        }
        self.open(&path, toasts, repaint);
    }

    /// Saves the open file (atomically, keeping `.bak`); errors become toasts naming the file.
    pub fn save(&mut self, toasts: &mut Toasts) -> bool {
        let Some(open) = &mut self.open else {
            return true;
        };
        match open.document.save() {
            Ok(()) => {
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
            CaptionAction::Undo => document.undo().map(|_| ()),
            CaptionAction::Redo => document.redo().map(|_| ()),
            CaptionAction::Save | CaptionAction::Draft { .. } => Ok(()),
        };
        if let Err(error) = result {
            toasts.error(format!(
                "{}: edit not applied: {error}",
                document.file().path().display()
            ));
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

    /// The model "Draft with model" asks (`None` when none is loaded: the button says how to
    /// load one).
    pub fn set_model(&mut self, model: Option<Arc<LoadedModel>>) {
        self.model = model;
    }

    fn draft_availability(&self, video: Option<&OpenVideo<'_>>) -> DraftAvailability {
        if self.draft_job.is_some() {
            DraftAvailability::Running
        } else if self.model.is_none() {
            DraftAvailability::Unavailable(NO_DRAFT_MODEL.to_owned())
        } else if video.is_none() {
            DraftAvailability::Unavailable(
                "Open the record's video first: the model describes the open video".to_owned(),
            )
        } else {
            DraftAvailability::Ready
        }
    }

    /// Asks the model for a HAIC description of `video`, for `record`.
    fn start_draft(&mut self, record: usize, video: &Path, toasts: &mut Toasts) {
        let Some(model) = &self.model else {
            toasts.error(NO_DRAFT_MODEL);
            return;
        };
        let mut sampling = model.runtime.sampling.clone();
        sampling.max_new_tokens = sampling.max_new_tokens.min(self.draft_max_new_tokens);
        let question = Question {
            media: vec![video.to_path_buf()],
            history: Vec::new(),
            text: draft_prompt(),
            system: None,
            thinking: ThinkingMode::NoThink,
            sampling,
            capture: None,
            budget: model.default_budget(),
        };
        self.draft_job = Some(DraftJob {
            record,
            handle: spawn_ask(Arc::clone(model), question),
            answer: String::new(),
        });
    }

    /// Collects the draft's answer; when it is done, parses it and shows the diff.
    fn poll_draft(&mut self, toasts: &mut Toasts) {
        let Some(job) = &mut self.draft_job else {
            return;
        };
        let mut outcome = None;
        loop {
            match job.handle.events.try_recv() {
                Ok(AskEvent::Generation(GenerationEvent::Text {
                    phase: TextPhase::Answer,
                    delta,
                })) => job.answer.push_str(&delta),
                Ok(AskEvent::Generation(GenerationEvent::Done(_))) => outcome = Some(Ok(())),
                Ok(AskEvent::Generation(GenerationEvent::Error { message }))
                | Ok(AskEvent::Failed(message)) => outcome = Some(Err(message)),
                Ok(AskEvent::Refused(refusal)) => outcome = Some(Err(refusal.to_string())),
                Ok(_) => {}
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    outcome.get_or_insert(Err("the model stopped without an answer".to_owned()));
                    break;
                }
            }
        }
        let Some(outcome) = outcome else {
            return;
        };
        let record = job.record;
        let answer = std::mem::take(&mut job.answer);
        self.draft_job = None;
        let shown = outcome.and_then(|()| {
            let structure = parse_draft_answer(&answer)?;
            self.editor.show_draft(record, structure);
            Ok(())
        });
        if let Err(error) = shown {
            toasts.error(format!("Draft for caption record #{record}: {error}"));
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
                if document.is_dirty() { " *" } else { "" }
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
        if ctx.input(|i| i.viewport().close_requested())
            && self.is_dirty()
            && self.quit != Quit::Allowed
        {
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

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::Queryable;

    use super::*;

    const FILE: &str = "{\"video\": \"a.mp4\", \"caption\": \"There is one person in the video. The person is the boy in a red cap.\\n\\nThe boy in a red cap jumps.\"}\n";

    fn open_blocking(path: &Path) -> CaptionSession {
        let mut session = CaptionSession::new();
        let mut toasts = Toasts::default();
        session.open(path, &mut toasts, || {});
        let deadline = Instant::now() + Duration::from_secs(20);
        while session.loading.is_some() && Instant::now() < deadline {
            session.poll_loading(&mut toasts);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(session.open.is_some(), "{path:?} did not open");
        session
    }

    fn set_action(action: &str) -> CaptionAction {
        CaptionAction::Edit(Command {
            record: 0,
            edit: Edit::SetAction {
                index: 0,
                action: action.into(),
            },
        })
    }

    fn action_of(session: &CaptionSession) -> String {
        let caption = session.document().unwrap().file().caption(0).unwrap();
        caption.structure().unwrap().events[0].action.clone()
    }

    #[test]
    fn autosave_writes_edits_and_an_unsaved_session_is_recovered_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("captions.jsonl");
        std::fs::write(&path, FILE).unwrap();
        let mut toasts = Toasts::default();

        let mut session = open_blocking(&path);
        assert_eq!(session.title(), "keye-studio - captions.jsonl");
        session.apply(set_action("waves"), &mut toasts);
        assert_eq!(session.title(), "keye-studio - captions.jsonl *");
        session.autosave(Instant::now(), &mut toasts);
        assert!(session.is_dirty(), "not due yet");
        session.autosave(Instant::now() + AUTOSAVE_INTERVAL, &mut toasts);
        assert!(!session.is_dirty(), "autosaved");
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(saved.contains("The boy in a red cap waves."), "{saved}");
        assert!(!haic::document::journal_path(&path).exists());

        // An edit, then the app goes away without saving (a crash, a kill).
        session.apply(set_action("claps"), &mut toasts);
        drop(session);
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(!on_disk.contains("claps"), "not saved: {on_disk}");

        let session = open_blocking(&path);
        assert_eq!(action_of(&session), "claps", "the journal brought it back");
        assert!(session.is_dirty());
        let message = session.recovery_message().expect("recovery is told");
        assert!(
            message.contains("Recovered 1 unsaved edit to captions.jsonl"),
            "{message}"
        );
        let mut session = session;
        session.autosave(Instant::now() + 2 * AUTOSAVE_INTERVAL, &mut toasts);
        assert!(
            session.is_dirty(),
            "recovered edits wait for Keep or Discard before autosave writes them"
        );
        assert!(toasts.items().is_empty(), "no errors");

        // Discard reopens the file as saved and keeps the journal aside, unreplayed.
        session.discard_recovered(&mut toasts, || {});
        let deadline = Instant::now() + Duration::from_secs(20);
        while session.loading.is_some() && Instant::now() < deadline {
            session.poll_loading(&mut toasts);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(action_of(&session), "waves");
        assert!(!session.is_dirty());
        assert!(session.recovery_message().is_none());
        assert!(
            dir.path()
                .join("captions.jsonl.journal.discarded")
                .is_file()
        );
        assert!(!haic::document::journal_path(&path).exists());
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.json");
        let mut session = CaptionSession::new();
        let mut toasts = Toasts::default();
        session.open(&path, &mut toasts, || {});
        let deadline = Instant::now() + Duration::from_secs(20);
        while session.loading.is_some() && Instant::now() < deadline {
            session.poll_loading(&mut toasts);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(session.document().is_none());
        let shown: Vec<_> = toasts
            .items()
            .iter()
            .map(|toast| toast.text.clone())
            .collect();
        let shown = shown.join("\n");
        assert!(shown.contains("nope.json"), "{shown}");
    }

    #[test]
    fn timeline_drags_become_timing_edits_of_the_selected_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("captions.json");
        std::fs::write(
            &path,
            r#"[{"video": "a.mp4", "people": [{"id": "P1", "attributes": "the boy"}], "events": [{"who": ["P1"], "action": "jumps", "start": 1.0, "end": 2.0}], "caption": ""}]"#,
        )
        .unwrap();
        let mut session = open_blocking(&path);
        session.editor.select(0);
        let mut timeline = Timeline::new(10.0);
        let mut toasts = Toasts::default();
        session.sync_timeline(&mut timeline, &mut toasts);
        assert_eq!(timeline.tracks.caption_events.len(), 1);
        assert_eq!(timeline.tracks.caption_events[0].end, 2.0);
        let command = session
            .drag_command(CaptionEdgeDrag {
                event: 0,
                edge: SegmentEdge::End,
                time: 3.25,
            })
            .unwrap();
        assert_eq!(
            command.edit,
            Edit::SetTimes {
                index: 0,
                start: Some(1.0),
                end: Some(3.25)
            }
        );
    }

    #[test]
    fn model_answers_parse_past_reasoning_fences_and_preamble() {
        let answer = "<think>two people, a wave</think>Sure! Here is the caption:\n```text\nThere are two people in the video. The first person is the man in a red shirt. The second person is the woman in a blue dress.\n\nThe man in a red shirt waves to the woman in a blue dress.\n```";
        let structure = parse_draft_answer(answer).expect("parses");
        assert_eq!(structure.people.len(), 2);
        assert_eq!(structure.events.len(), 1);
        assert_eq!(structure.events[0].with, ["P2"]);
        assert!(parse_draft_answer("I cannot see any video.").is_err());
        assert!(
            parse_draft_answer(&draft_prompt()[draft_prompt().find("There").unwrap()..]).is_ok()
        );
    }

    #[test]
    fn a_draft_from_the_tiny_model_goes_through_the_parser() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = LoadedModel::load(
            &root.join("tests/fixtures/models/keye-preview-tiny"),
            Default::default(),
            None,
            None,
        )
        .expect("the tiny checkpoint loads");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("captions.jsonl");
        std::fs::write(
            &path,
            "{\"video\": \"sample-16x9.mp4\", \"caption\": \"\"}\n",
        )
        .unwrap();
        let mut session = open_blocking(&path);
        // A small still keeps the test quick; the job is the same for a video.
        let video = dir.path().join("still.png");
        image::RgbImage::from_fn(56, 56, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
        })
        .save(&video)
        .unwrap();
        let open_video = OpenVideo {
            path: &video,
            playhead: 0.0,
            duration: 1.0,
        };
        assert!(matches!(
            session.draft_availability(Some(&open_video)),
            DraftAvailability::Unavailable(_)
        ));
        session.set_model(Some(Arc::new(model)));
        assert!(matches!(
            session.draft_availability(None),
            DraftAvailability::Unavailable(_)
        ));
        assert_eq!(
            session.draft_availability(Some(&open_video)),
            DraftAvailability::Ready
        );
        let mut toasts = Toasts::default();
        session.draft_max_new_tokens = 24;
        session.start_draft(0, &video, &mut toasts);
        assert_eq!(
            session.draft_availability(Some(&open_video)),
            DraftAvailability::Running
        );
        let deadline = Instant::now() + Duration::from_secs(600);
        while session.draft_job.is_some() && Instant::now() < deadline {
            session.poll_draft(&mut toasts);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(session.draft_job.is_none(), "the draft finished");
        // Random weights write gibberish: the answer reaches haic's parser, which refuses it.
        let shown: Vec<_> = toasts
            .items()
            .iter()
            .map(|toast| toast.text.clone())
            .collect();
        let shown = shown.join("\n");
        assert!(
            session.editor.draft().is_some()
                || shown.contains(
                    "Draft for caption record #0: the model's answer is not a HAIC caption"
                ),
            "{shown}"
        );
    }

    /// Runs one frame of `session.tick` with the window asked to close; returns whether the app
    /// cancelled the close.
    fn close_frame(session: &mut CaptionSession, ctx: &egui::Context) -> bool {
        let mut input = egui::RawInput::default();
        input
            .viewports
            .entry(egui::ViewportId::ROOT)
            .or_default()
            .events
            .push(egui::ViewportEvent::Close);
        let mut toasts = Toasts::default();
        let mut output = ctx.run_ui(input, |ui| session.tick(ui.ctx(), &mut toasts));
        // No renderer here: the font atlas upload is dropped on purpose.
        output.textures_delta.clear();
        output
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .is_some_and(|viewport| {
                viewport
                    .commands
                    .contains(&egui::ViewportCommand::CancelClose)
            })
    }

    #[test]
    fn closing_with_unsaved_edits_is_held_for_the_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("captions.jsonl");
        std::fs::write(&path, FILE).unwrap();
        let mut session = open_blocking(&path);
        let ctx = egui::Context::default();
        assert!(!close_frame(&mut session, &ctx), "a clean file closes");

        session.apply(set_action("waves"), &mut Toasts::default());
        assert!(
            close_frame(&mut session, &ctx),
            "unsaved edits hold the close"
        );
        assert_eq!(session.quit, Quit::Asking);

        session.close_without_asking();
        assert!(!close_frame(&mut session, &ctx), "a screenshot run closes");
        assert!(
            haic::document::journal_path(&path).exists(),
            "edits stay journaled"
        );
    }

    /// The caption session driven by kittest as the app drives it: `tick` once per frame.
    struct QuitBench {
        session: CaptionSession,
        toasts: Toasts,
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    /// A session over a file with one unsaved edit ("waves"), whose window was asked to close:
    /// the prompt is up.
    fn quit_prompt_harness() -> egui_kittest::Harness<'static, QuitBench> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("captions.jsonl");
        std::fs::write(&path, FILE).unwrap();
        let mut session = open_blocking(&path);
        let mut toasts = Toasts::default();
        session.apply(set_action("waves"), &mut toasts);
        let bench = QuitBench {
            session,
            toasts,
            _dir: dir,
            path,
        };
        let mut harness = egui_kittest::Harness::builder()
            .with_size(egui::Vec2::new(640.0, 400.0))
            .build_ui_state(
                |ui, bench: &mut QuitBench| bench.session.tick(ui.ctx(), &mut bench.toasts),
                bench,
            );
        harness.run();
        let commands = request_close(&mut harness);
        assert!(
            commands.contains(&egui::ViewportCommand::CancelClose),
            "unsaved edits hold the close: {commands:?}"
        );
        harness.run();
        harness.get_by_label("Unsaved caption edits");
        harness
    }

    /// One frame with the window's close button pressed; the viewport commands the app sent.
    fn request_close(
        harness: &mut egui_kittest::Harness<'_, QuitBench>,
    ) -> Vec<egui::ViewportCommand> {
        harness
            .input_mut()
            .viewports
            .entry(egui::ViewportId::ROOT)
            .or_default()
            .events
            .push(egui::ViewportEvent::Close);
        harness.step();
        root_commands(harness)
    }

    fn root_commands(harness: &egui_kittest::Harness<'_, QuitBench>) -> Vec<egui::ViewportCommand> {
        harness
            .output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map(|viewport| viewport.commands.clone())
            .unwrap_or_default()
    }

    /// Clicks a button of the prompt; the viewport commands of the frame that handled the click.
    fn click_prompt(
        harness: &mut egui_kittest::Harness<'_, QuitBench>,
        button: &str,
    ) -> Vec<egui::ViewportCommand> {
        harness.get_by_label(button).click();
        harness.step();
        root_commands(harness)
    }

    fn errors(bench: &QuitBench) -> Vec<String> {
        bench
            .toasts
            .items()
            .iter()
            .map(|toast| toast.text.clone())
            .collect()
    }

    #[test]
    fn quit_prompt_save_writes_the_file_and_closes() {
        let mut harness = quit_prompt_harness();
        let commands = click_prompt(&mut harness, "Save");
        assert!(
            commands.contains(&egui::ViewportCommand::Close),
            "{commands:?}"
        );
        let bench = harness.state();
        let saved = std::fs::read_to_string(&bench.path).unwrap();
        assert!(saved.contains("The boy in a red cap waves."), "{saved}");
        assert!(!haic::document::journal_path(&bench.path).exists());
        assert!(!bench.session.is_dirty());
        assert!(errors(bench).is_empty(), "{:?}", errors(bench));
        harness.run();
        assert!(harness.query_by_label("Unsaved caption edits").is_none());
        assert!(
            !request_close(&mut harness).contains(&egui::ViewportCommand::CancelClose),
            "the close goes through"
        );
    }

    #[test]
    fn quit_prompt_discard_keeps_the_file_sets_the_journal_aside_and_closes() {
        let mut harness = quit_prompt_harness();
        let commands = click_prompt(&mut harness, "Discard");
        assert!(
            commands.contains(&egui::ViewportCommand::Close),
            "{commands:?}"
        );
        let bench = harness.state();
        assert_eq!(
            std::fs::read_to_string(&bench.path).unwrap(),
            FILE,
            "the file is as it was"
        );
        assert!(!haic::document::journal_path(&bench.path).exists());
        let aside = bench
            .path
            .with_file_name("captions.jsonl.journal.discarded");
        let journal = std::fs::read_to_string(&aside).expect("the journal is kept aside");
        assert!(journal.contains("waves"), "{journal}");
        assert!(bench.session.document().is_none());
        assert!(errors(bench).is_empty(), "{:?}", errors(bench));
        assert!(
            !request_close(&mut harness).contains(&egui::ViewportCommand::CancelClose),
            "the close goes through"
        );
    }

    #[test]
    fn quit_prompt_cancel_keeps_the_window_and_the_edits() {
        let mut harness = quit_prompt_harness();
        let commands = click_prompt(&mut harness, "Cancel");
        assert!(
            !commands.contains(&egui::ViewportCommand::Close),
            "{commands:?}"
        );
        harness.run();
        assert!(harness.query_by_label("Unsaved caption edits").is_none());
        let bench = harness.state();
        assert!(bench.session.is_dirty(), "the edit is still there, unsaved");
        assert_eq!(action_of(&bench.session), "waves");
        assert_eq!(std::fs::read_to_string(&bench.path).unwrap(), FILE);
        assert!(haic::document::journal_path(&bench.path).exists());
        // Asking to close again asks again.
        assert!(request_close(&mut harness).contains(&egui::ViewportCommand::CancelClose));
        harness.run();
        harness.get_by_label("Unsaved caption edits");
    }

    #[test]
    fn caption_files_are_told_apart_from_videos() {
        assert!(is_caption_file(Path::new("a/b.JSONL")));
        assert!(is_caption_file(Path::new("b.json")));
        assert!(!is_caption_file(Path::new("b.mp4")));
    }
}
