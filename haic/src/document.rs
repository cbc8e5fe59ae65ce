//! The editing session over a caption file: commands with undo/redo, a dirty flag, change
//! notifications, and an edit journal that brings every edit back after a crash.
//!
//! The journal is `<file>.journal`: a header line naming the file version it belongs to (length
//! and FNV-1a hash of its bytes), then one fsynced JSON line per apply/undo/redo. Opening a file
//! replays its journal; a successful save deletes it.
//!
//! Typing reaches the document while the annotator types ([`Document::apply_typing`]): each
//! commit is journaled at once, and the commits of one burst of typing in one field make one undo
//! step.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    edit::{self, Command, TextField},
    error::Error,
    file::{CaptionFile, FieldNames, Phase, Progress},
    model::CaptionRecord,
};

/// What changed, for views that redraw only what they must.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Record `record` has new content (edit, undo, redo or journal replay).
    Record { record: usize },
    /// The document was saved: it is clean now.
    Saved,
}

/// What opening a document found in its journal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovery {
    /// Journal entries replayed (edits, undos and redos).
    pub replayed: usize,
    /// A journal written against another version of the file, moved here instead of replayed.
    pub stale_journal: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct Step {
    record: usize,
    before: CaptionRecord,
    after: CaptionRecord,
    state_before: u64,
    state_after: u64,
}

#[derive(Serialize, Deserialize)]
struct JournalHeader {
    haic_journal: u32,
    file_len: u64,
    file_fnv1a: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum JournalEntry {
    Apply(Command),
    /// Text typed into a field ([`Document::apply_typing`]).
    Type {
        command: Command,
        burst_ends: bool,
    },
    /// The record's content after the undo/redo is stored too: a journal started after a save
    /// replays into a session that has no undo history from before the save.
    Undo {
        record: usize,
        content: CaptionRecord,
    },
    Redo {
        record: usize,
        content: CaptionRecord,
    },
}

/// An open caption file being edited.
pub struct Document {
    file: CaptionFile,
    undo: Vec<Step>,
    redo: Vec<Step>,
    /// Identifies the current content: each edit makes a new state; undo/redo move between them.
    state: u64,
    next_state: u64,
    saved_state: u64,
    version: u64,
    changes: Vec<Change>,
    /// The version at which each record last changed (0: never), so that a view holding
    /// derived data (a search index) can take only what changed since it was built.
    changed_at: Vec<u64>,
    journal: Option<File>,
    /// The record and field of a burst of typing still going on: the top undo step is that
    /// burst, and typing more in the same field joins it.
    typing: Option<(usize, TextField)>,
}

/// `<file>.journal`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// 64-bit FNV-1a: a stable fingerprint of the file version a journal belongs to (the same
/// hash, from the same crate, as the app's history file names).
fn fnv1a(bytes: &[u8]) -> String {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    format!("{:016x}", hasher.finish())
}

impl Document {
    /// Opens a file for editing, replaying the edits its journal holds from a session that did
    /// not save (crash, kill).
    pub fn open(
        path: impl AsRef<Path>,
        fields: &FieldNames,
    ) -> Result<(Document, Recovery), Error> {
        Self::open_with_progress(path, fields, &mut |_: Phase, _: u64, _: u64| {
            ControlFlow::Continue(())
        })
    }

    /// [`open`](Self::open) for large files: loading reports progress and can be cancelled.
    pub fn open_with_progress(
        path: impl AsRef<Path>,
        fields: &FieldNames,
        progress: &mut dyn Progress,
    ) -> Result<(Document, Recovery), Error> {
        let file = CaptionFile::load_with_progress(path, fields, progress)?;
        let mut document = Document::new(file);
        let recovery = document.replay_journal()?;
        Ok((document, recovery))
    }

    /// A document over a loaded file, without a journal until the first edit.
    pub fn new(file: CaptionFile) -> Document {
        Document {
            file,
            undo: Vec::new(),
            redo: Vec::new(),
            state: 0,
            next_state: 1,
            saved_state: 0,
            version: 0,
            changes: Vec::new(),
            changed_at: Vec::new(),
            journal: None,
            typing: None,
        }
    }

    fn journal_error(&self, message: impl Into<String>) -> Error {
        Error::Journal {
            path: journal_path(self.file.path()),
            message: message.into(),
        }
    }

    /// The header a journal for the file as loaded (or last saved) must carry.
    fn journal_header(&self) -> JournalHeader {
        let bytes = self.file.original_bytes();
        JournalHeader {
            haic_journal: 1,
            file_len: bytes.len() as u64,
            file_fnv1a: fnv1a(bytes),
        }
    }

    fn replay_journal(&mut self) -> Result<Recovery, Error> {
        let expected = self.journal_header();
        let path = journal_path(self.file.path());
        let journal = match fs::read(&path) {
            Ok(journal) => journal,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Recovery::default());
            }
            Err(error) => return Err(Error::io(&path, error)),
        };
        let mut lines = journal.split_inclusive(|&byte| byte == b'\n');
        let header_line = lines.next().unwrap_or_default();
        let header: Option<JournalHeader> = serde_json::from_slice(header_line).ok();
        let matches = header.is_some_and(|header| {
            header.haic_journal == expected.haic_journal
                && header.file_len == expected.file_len
                && header.file_fnv1a == expected.file_fnv1a
        });
        if !matches {
            let mut stale = path.as_os_str().to_owned();
            stale.push(".stale");
            let stale = PathBuf::from(stale);
            fs::rename(&path, &stale).map_err(|error| Error::io(&path, error))?;
            return Ok(Recovery {
                replayed: 0,
                stale_journal: Some(stale),
            });
        }
        let mut entries = Vec::new();
        let journal_len = journal.len();
        let mut complete = journal_len;
        let mut offset = header_line.len();
        for line in lines {
            // A line cut short by the crash was never acknowledged: only the last line can be
            // torn. It is cut off so that later entries start on a line of their own.
            match serde_json::from_slice::<JournalEntry>(line) {
                Ok(entry) if line.ends_with(b"\n") => entries.push(entry),
                _ => {
                    complete = offset;
                    break;
                }
            }
            offset += line.len();
        }
        let mut replayed = 0;
        for entry in entries {
            match entry {
                JournalEntry::Apply(command) => {
                    self.execute(&command).map_err(|error| {
                        self.journal_error(format!("entry {replayed} cannot be replayed: {error}"))
                    })?;
                }
                JournalEntry::Type {
                    command,
                    burst_ends,
                } => {
                    self.execute_typing(&command, burst_ends).map_err(|error| {
                        self.journal_error(format!("entry {replayed} cannot be replayed: {error}"))
                    })?;
                }
                JournalEntry::Undo { record, content } => {
                    if !self.step_back() {
                        self.restore(record, content)?;
                    }
                }
                JournalEntry::Redo { record, content } => {
                    if !self.step_forward() {
                        self.restore(record, content)?;
                    }
                }
            }
            replayed += 1;
        }
        // Typing in a new session starts a new undo step.
        self.typing = None;
        // Keep appending to the same journal: it still describes edits on the unchanged file.
        let io = |error| Error::io(&path, error);
        let journal = OpenOptions::new().append(true).open(&path).map_err(io)?;
        if complete < journal_len {
            journal.set_len(complete as u64).map_err(io)?;
            journal.sync_all().map_err(io)?;
        }
        self.journal = Some(journal);
        Ok(Recovery {
            replayed,
            stale_journal: None,
        })
    }

    fn append_journal(&mut self, entry: &JournalEntry) -> Result<(), Error> {
        let path = journal_path(self.file.path());
        let io = |error| Error::io(&path, error);
        if self.journal.is_none() {
            let header = self.journal_header();
            let mut journal = File::create(&path).map_err(io)?;
            let mut line = serde_json::to_vec(&header).map_err(|error| io(error.into()))?;
            line.push(b'\n');
            journal.write_all(&line).map_err(io)?;
            journal.sync_all().map_err(io)?;
            self.journal = Some(journal);
        }
        let mut line = serde_json::to_vec(entry).map_err(|error| io(error.into()))?;
        line.push(b'\n');
        let journal = self
            .journal
            .as_mut()
            .ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))?;
        journal.write_all(&line).map_err(io)?;
        journal.sync_data().map_err(io)
    }

    pub fn file(&self) -> &CaptionFile {
        &self.file
    }

    /// Unsaved changes exist (undoing back to the saved state makes the document clean again).
    pub fn is_dirty(&self) -> bool {
        self.state != self.saved_state
    }

    /// Increases with every change; a view compares it with the version it last drew.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The changes since the last call, oldest first.
    pub fn drain_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// How many edits can be undone: after a journal replay, the edits it brought back (a
    /// burst of typing is one, however many journal lines it took).
    pub fn undo_steps(&self) -> usize {
        self.undo.len()
    }

    /// The records changed after `version` (edits, undos, redos, replays), in file order.
    pub fn changed_since(&self, version: u64) -> Vec<usize> {
        (0..self.changed_at.len())
            .filter(|&record| self.changed_at[record] > version)
            .collect()
    }

    fn notify(&mut self, change: Change) {
        self.version += 1;
        if let Change::Record { record } = change {
            if self.changed_at.len() <= record {
                self.changed_at.resize(record + 1, 0);
            }
            self.changed_at[record] = self.version;
        }
        self.changes.push(change);
    }

    /// Applies a command: journaled first (fsynced), then done; undo returns to the state before.
    pub fn apply(&mut self, command: Command) -> Result<(), Error> {
        // Check it applies before journaling, so the journal only holds edits that replay.
        let before = self.file.caption(command.record)?.clone();
        edit::apply(&before, &command.edit)?;
        self.append_journal(&JournalEntry::Apply(command.clone()))?;
        self.execute(&command)
    }

    fn execute(&mut self, command: &Command) -> Result<(), Error> {
        let after = edit::apply(self.file.caption(command.record)?, &command.edit)?;
        self.restore(command.record, after)
    }

    /// Applies what a text field holds while the annotator types in it, journaled first like
    /// every edit. Commands for the same field join the burst of typing going on there, so the
    /// burst is one undo step; `burst_ends` closes it (the annotator paused or left the field),
    /// and any other edit, undo, redo or save closes it too. Typing back to the text before
    /// the burst takes its step away. A command that changes nothing and closes no burst is
    /// not journaled.
    pub fn apply_typing(&mut self, command: Command, burst_ends: bool) -> Result<(), Error> {
        let field = command.edit.text_field().ok_or_else(|| {
            Error::command(format!("{:?} is not an edit of a text field", command.edit))
        })?;
        let current = self.file.caption(command.record)?;
        let after = edit::apply(current, &command.edit)?;
        // The field is what counts: setting it to what it holds changes nothing, even where
        // the record's text would be rendered anew.
        let unchanged = field.value(&after) == field.value(current);
        if unchanged && self.typing != Some((command.record, field)) {
            return Ok(());
        }
        self.append_journal(&JournalEntry::Type {
            command: command.clone(),
            burst_ends,
        })?;
        self.execute_typing(&command, burst_ends)
    }

    fn execute_typing(&mut self, command: &Command, burst_ends: bool) -> Result<(), Error> {
        let field = command.edit.text_field().ok_or_else(|| {
            Error::command(format!("{:?} is not an edit of a text field", command.edit))
        })?;
        let record = command.record;
        let current = self.file.caption(record)?;
        let after = edit::apply(current, &command.edit)?;
        let changed = after != *current;
        let key = (record, field);
        let burst_began_at = match self.undo.last() {
            Some(step) if self.typing.as_ref() == Some(&key) && step.record == record => {
                Some(step.before.clone())
            }
            _ => None,
        };
        match burst_began_at {
            Some(before) if key.1.value(&after) == key.1.value(&before) => {
                // Typed back to where the burst began: the burst undoes itself.
                self.file.set_caption(record, before)?;
                if let Some(step) = self.undo.pop() {
                    self.state = step.state_before;
                }
                self.typing = None;
                self.notify(Change::Record { record });
                return Ok(());
            }
            Some(_) => {
                if changed {
                    self.file.set_caption(record, after.clone())?;
                    let state = self.next_state;
                    self.next_state += 1;
                    if let Some(step) = self.undo.last_mut() {
                        step.after = after;
                        step.state_after = state;
                    }
                    self.state = state;
                    self.notify(Change::Record { record });
                }
            }
            None => {
                if key.1.value(&after) != key.1.value(current) {
                    self.restore(record, after)?;
                }
            }
        }
        self.typing = (!burst_ends && self.undo.last().is_some_and(|step| step.record == record))
            .then_some(key);
        Ok(())
    }

    /// Undoes the last edit; `Ok(false)` when there is none.
    pub fn undo(&mut self) -> Result<bool, Error> {
        let Some(step) = self.undo.last() else {
            return Ok(false);
        };
        let entry = JournalEntry::Undo {
            record: step.record,
            content: step.before.clone(),
        };
        self.append_journal(&entry)?;
        Ok(self.step_back())
    }

    /// Redoes the last undone edit; `Ok(false)` when there is none.
    pub fn redo(&mut self) -> Result<bool, Error> {
        let Some(step) = self.redo.last() else {
            return Ok(false);
        };
        let entry = JournalEntry::Redo {
            record: step.record,
            content: step.after.clone(),
        };
        self.append_journal(&entry)?;
        Ok(self.step_forward())
    }

    /// Sets a record's content as a new edit (replay of an undo whose history is gone).
    fn restore(&mut self, record: usize, content: CaptionRecord) -> Result<(), Error> {
        let before = self.file.caption(record)?.clone();
        self.file.set_caption(record, content.clone())?;
        self.typing = None;
        let state_after = self.next_state;
        self.next_state += 1;
        self.undo.push(Step {
            record,
            before,
            after: content,
            state_before: self.state,
            state_after,
        });
        self.redo.clear();
        self.state = state_after;
        self.notify(Change::Record { record });
        Ok(())
    }

    fn step_back(&mut self) -> bool {
        self.typing = None;
        let Some(step) = self.undo.pop() else {
            return false;
        };
        // The record was a caption when the step was made and stays one, so this cannot fail.
        let restored = self
            .file
            .set_caption(step.record, step.before.clone())
            .is_ok();
        self.state = step.state_before;
        self.notify(Change::Record {
            record: step.record,
        });
        self.redo.push(step);
        restored
    }

    fn step_forward(&mut self) -> bool {
        self.typing = None;
        let Some(step) = self.redo.pop() else {
            return false;
        };
        let restored = self
            .file
            .set_caption(step.record, step.after.clone())
            .is_ok();
        self.state = step.state_after;
        self.notify(Change::Record {
            record: step.record,
        });
        self.undo.push(step);
        restored
    }

    /// Saves atomically (with `<file>.bak`) and then deletes the journal: its edits are in the
    /// file now. With nothing to save (no edit, or edits that undo each other) nothing is
    /// written and the `.bak` stays as it is. Returns whether the file was written.
    pub fn save(&mut self) -> Result<bool, Error> {
        self.typing = None;
        let wrote = if self.is_dirty() || self.file.is_modified() {
            self.file.save()?
        } else {
            false
        };
        self.journal = None;
        let path = journal_path(self.file.path());
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(Error::io(&path, error)),
        }
        self.saved_state = self.state;
        self.notify(Change::Saved);
        Ok(wrote)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn journal_fingerprints_keep_their_fnv1a_values() {
        // Published FNV-1a 64 test vectors: journals written before still match their files.
        assert_eq!(super::fnv1a(b""), "cbf29ce484222325");
        assert_eq!(super::fnv1a(b"a"), "af63dc4c8601ec8c");
        assert_eq!(super::fnv1a(b"foobar"), "85944171f73967e8");
    }
}
