//! The caption file an annotator edits, as plain state: loading it on a worker thread with
//! progress, crash recovery through the haic journal (keep or discard what it brought back), the
//! dirty state and autosave, edits applied to the document, the timeline's segments and edge
//! drags in the document's terms, and model drafts ([`draft`]).
//!
//! Every change goes through [`haic::Document`], which journals it (fsynced) before it is
//! applied; autosave and Save write the file atomically. So a crash loses no edit: the next
//! open replays the journal and says what it recovered. Problems are told through [`Toasts`].

pub mod assist;
pub mod compare;
pub mod draft;
pub mod score;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use haic::{Change, Command, Document, Edit, FieldNames, Phase, Recovery, Structure};
use keye_ui::{CaptionAction, CaptionEdgeDrag, CaptionSegment, SegmentEdge, Toasts};

use self::draft::{DRAFT_MAX_NEW_TOKENS, DraftJob};
use crate::inference::LoadedModel;

/// Unsaved edits are written to the file at most this long after the first of them.
pub const AUTOSAVE_INTERVAL: Duration = Duration::from_secs(30);

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

/// What a load in progress has done, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadingView<'a> {
    pub path: &'a Path,
    /// Bytes done and in all (at least 1).
    pub done: u64,
    pub total: u64,
    /// Parsing (else still reading).
    pub parsing: bool,
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

/// What applying an editor action changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Records the document changed, in order.
    pub records: Vec<usize>,
    /// The action was an undo or a redo (the view shows what it changed).
    pub undoing: bool,
}

/// One caption file being edited, and the model that drafts captions for it.
pub struct CaptionFile {
    loading: Option<Loading>,
    open: Option<OpenFile>,
    /// The loaded model that drafts captions, when there is one.
    model: Option<Arc<LoadedModel>>,
    draft_job: Option<DraftJob>,
    /// Bound on a draft's length ([`DRAFT_MAX_NEW_TOKENS`]; tests keep it short).
    pub draft_max_new_tokens: usize,
}

impl Default for CaptionFile {
    fn default() -> Self {
        Self::new()
    }
}

impl CaptionFile {
    pub fn new() -> Self {
        Self {
            loading: None,
            open: None,
            model: None,
            draft_job: None,
            draft_max_new_tokens: DRAFT_MAX_NEW_TOKENS,
        }
    }

    /// Whether a file is open or loading.
    pub fn is_active(&self) -> bool {
        self.open.is_some() || self.loading.is_some()
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    pub fn document(&self) -> Option<&Document> {
        self.open.as_ref().map(|open| &open.document)
    }

    pub fn is_dirty(&self) -> bool {
        self.document().is_some_and(Document::is_dirty)
    }

    /// Starts loading `path` on a worker thread (with progress; large files take a while);
    /// `repaint` is called as it progresses and when it is done. A load in progress is
    /// cancelled. The caller saves the open file first if it has edits.
    pub fn open(&mut self, path: &Path, toasts: &mut Toasts, repaint: impl Fn() + Send + 'static) {
        self.cancel_loading();
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

    /// The load in progress, if any.
    pub fn loading(&self) -> Option<LoadingView<'_>> {
        let loading = self.loading.as_ref()?;
        let progress = &loading.progress;
        Some(LoadingView {
            path: &loading.path,
            done: progress.done.load(Ordering::Relaxed),
            total: progress.total.load(Ordering::Relaxed).max(1),
            parsing: progress.parsing.load(Ordering::Relaxed),
        })
    }

    /// Asks the load in progress to stop (it ends as cancelled, telling nothing).
    pub fn cancel_loading(&mut self) {
        if let Some(loading) = self.loading.take() {
            loading.progress.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Takes a finished load: the document replaces the open one; load problems and a recovered
    /// journal are told. Returns whether the document was replaced.
    pub fn poll_loading(&mut self, toasts: &mut Toasts) -> bool {
        let Some(loading) = &self.loading else {
            return false;
        };
        let Ok(outcome) = loading.outcome.try_recv() else {
            return false;
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
                true
            }
            Err(haic::Error::Cancelled { .. }) => false,
            Err(error) => {
                toasts.error(format!("Cannot open the caption file: {error}"));
                false
            }
        }
    }

    /// Loads until the load in progress ends (or `timeout`); whether a document replaced the
    /// open one. For callers without a frame loop (the command line, tests).
    pub fn wait_loading(&mut self, toasts: &mut Toasts, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.loading.is_some() && Instant::now() < deadline {
            if self.poll_loading(toasts) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
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

    /// Keeps the recovered edits: they are unsaved edits like any other (autosave counts from
    /// now).
    pub fn keep_recovered(&mut self) {
        if let Some(open) = &mut self.open {
            open.recovered = None;
            open.dirty_since = Some(Instant::now());
        }
    }

    /// Throws the recovered edits away: the journal is kept beside the file as
    /// `<file>.journal.discarded` (nothing is deleted) and the file is opened again as saved.
    pub fn discard_recovered(&mut self, toasts: &mut Toasts, repaint: impl Fn() + Send + 'static) {
        if let Some(path) = self.close_discarding(toasts) {
            self.open(&path, toasts, repaint);
        }
    }

    /// Closes the file without saving; its journal is set aside as `<file>.journal.discarded`.
    /// Returns the file's path.
    pub fn close_discarding(&mut self, toasts: &mut Toasts) -> Option<PathBuf> {
        let open = self.open.take()?;
        let path = open.document.file().path().to_path_buf();
        drop(open);
        if let Err(error) = set_journal_aside(&path) {
            toasts.error(error);
        }
        Some(path)
    }

    /// Saves the open file (atomically, keeping `.bak`); with nothing changed nothing is
    /// written. Errors become toasts naming the file. The caller applies pending typing first.
    pub fn save(&mut self, toasts: &mut Toasts) -> bool {
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

    /// Whether edits have waited [`AUTOSAVE_INTERVAL`] at `now` (recovered edits wait for Keep
    /// / Discard: saving them would take the choice away).
    pub fn autosave_due(&self, now: Instant) -> bool {
        self.open.as_ref().is_some_and(|open| {
            open.recovered.is_none()
                && open.document.is_dirty()
                && open
                    .dirty_since
                    .is_some_and(|since| now.duration_since(since) >= AUTOSAVE_INTERVAL)
        })
    }

    /// An autosave at `now` failed: try again after another interval rather than every frame.
    pub fn postpone_autosave(&mut self, now: Instant) {
        if let Some(open) = &mut self.open {
            open.dirty_since = Some(now);
        }
    }

    /// How long until the next autosave is due (to wake for it), while edits wait.
    pub fn autosave_in(&self) -> Option<Duration> {
        let since = self.open.as_ref()?.dirty_since?;
        Some(AUTOSAVE_INTERVAL.saturating_sub(since.elapsed()))
    }

    /// Applies an edit, typing, undo or redo to the document (Save, Draft and Player are the
    /// caller's).
    /// Errors become toasts.
    pub fn apply(&mut self, action: CaptionAction, toasts: &mut Toasts) -> Applied {
        let Some(open) = &mut self.open else {
            return Applied::default();
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
            CaptionAction::Save | CaptionAction::Draft { .. } | CaptionAction::Player(_) => Ok(()),
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
        let records = document
            .drain_changes()
            .into_iter()
            .filter_map(|change| match change {
                Change::Record { record } => Some(record),
                Change::Saved => None,
            })
            .collect();
        match (document.is_dirty(), open.dirty_since) {
            (true, None) => open.dirty_since = Some(Instant::now()),
            (false, _) => open.dirty_since = None,
            _ => {}
        }
        Applied { records, undoing }
    }

    /// Window title with the open caption file and a `*` while it has unsaved edits (or text
    /// typed that the document has not got yet).
    pub fn title(&self, unsent_typing: bool) -> String {
        match self.document() {
            Some(document) => format!(
                "keye-studio - {}{}",
                document
                    .file()
                    .path()
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy(),
                if document.is_dirty() || unsent_typing {
                    " *"
                } else {
                    ""
                }
            ),
            None => "keye-studio".to_owned(),
        }
    }

    /// The timed events of `record` as timeline segments (an event with only a start is an
    /// instant).
    pub fn segments(&self, record: usize) -> Vec<CaptionSegment> {
        self.document()
            .and_then(|document| document.file().caption(record).ok())
            .and_then(|caption| caption.structure())
            .map(timed_segments)
            .unwrap_or_default()
    }

    /// A drag of an event's edge on the timeline, as the timing edit of `record` it makes.
    pub fn drag_command(&self, record: usize, drag: CaptionEdgeDrag) -> Option<Command> {
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
}

pub(crate) fn timed_segments(structure: &Structure) -> Vec<CaptionSegment> {
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
mod tests;
