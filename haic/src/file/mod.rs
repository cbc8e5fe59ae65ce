//! Caption files: JSON (array or single object) and JSON Lines, loaded so that every byte that is
//! not edited is written back unchanged.
//!
//! The file's bytes are kept; each record is a span in them. Saving copies the bytes and splices
//! in only the records that were edited, and within those only the values of changed fields.

mod record;
mod split;

use std::{
    fs::File,
    io::Read,
    ops::{ControlFlow, Range},
    path::{Path, PathBuf},
};

use crate::{
    error::{Error, Problem},
    model::{CaptionRecord, Record, Structure, TextState},
    save::{write_atomic, write_derived},
    scan::{self, Member, TopLevel},
};
use record::read_record;
use split::{Split, split_records};

/// Files at least this large are worth a progress display while they load.
pub const STREAMING_THRESHOLD: u64 = 50 * 1024 * 1024;

const READ_CHUNK: usize = 4 * 1024 * 1024;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The JSON field names of a dataset (they differ between datasets).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldNames {
    pub video: String,
    pub caption: String,
    pub people: String,
    pub events: String,
    pub duration: String,
    pub question: String,
    pub options: String,
    pub answer: String,
    pub category: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            video: "video".into(),
            caption: "caption".into(),
            people: "people".into(),
            events: "events".into(),
            duration: "duration".into(),
            question: "question".into(),
            options: "options".into(),
            answer: "answer".into(),
            category: "category".into(),
        }
    }
}

/// How records are laid out in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `[ {...}, {...} ]`
    JsonArray,
    /// A single record object.
    JsonObject,
    /// An object keyed by video: `{"clip.mp4": {record} or "caption text", ...}`.
    JsonMap,
    /// One record object per line.
    JsonLines,
}

impl Format {
    /// The format a file name asks for: `.jsonl`/`.ndjson` are JSON Lines, anything else JSON.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|ext| ext.to_str()) {
            Some(ext)
                if ext.eq_ignore_ascii_case("jsonl") || ext.eq_ignore_ascii_case("ndjson") =>
            {
                Format::JsonLines
            }
            _ => Format::JsonArray,
        }
    }
}

/// Which part of loading a progress update is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Reading,
    Parsing,
}

/// Told how far loading has come (in bytes); returning `Break` cancels the load.
pub trait Progress {
    fn update(&mut self, phase: Phase, done: u64, total: u64) -> ControlFlow<()>;
}

impl<F: FnMut(Phase, u64, u64) -> ControlFlow<()>> Progress for F {
    fn update(&mut self, phase: Phase, done: u64, total: u64) -> ControlFlow<()> {
        self(phase, done, total)
    }
}

/// A caption file as loaded: its records, the problems found, and its original bytes.
#[derive(Clone, Debug)]
pub struct CaptionFile {
    path: PathBuf,
    fields: FieldNames,
    bytes: Vec<u8>,
    format: Format,
    slots: Vec<Slot>,
    problems: Vec<Problem>,
}

#[derive(Clone, Debug)]
struct Slot {
    span: Range<usize>,
    /// 1-based line where the record starts.
    line: usize,
    /// `None` when the record could not be read (its problem is in `problems`).
    record: Option<Record>,
    members: Vec<Member>,
    /// The key of the record in a [`Format::JsonMap`] file (the video reference).
    key: Option<String>,
    /// The record's new text once edited.
    rewritten: Option<String>,
}

impl CaptionFile {
    /// Loads a file. Bad records are reported in [`problems`](Self::problems) and skipped; only
    /// I/O failures are errors.
    pub fn load(path: impl AsRef<Path>, fields: &FieldNames) -> Result<CaptionFile, Error> {
        Self::load_with_progress(path, fields, &mut |_: Phase, _: u64, _: u64| {
            ControlFlow::Continue(())
        })
    }

    /// [`load`](Self::load), reading in chunks and reporting progress (meant for files over
    /// [`STREAMING_THRESHOLD`]); the progress callback can cancel.
    pub fn load_with_progress(
        path: impl AsRef<Path>,
        fields: &FieldNames,
        progress: &mut dyn Progress,
    ) -> Result<CaptionFile, Error> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(|error| Error::io(path, error))?;
        let total = file
            .metadata()
            .map_err(|error| Error::io(path, error))?
            .len();
        let mut bytes = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            let read = file
                .read(&mut chunk)
                .map_err(|error| Error::io(path, error))?;
            if read == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..read]);
            if progress
                .update(Phase::Reading, bytes.len() as u64, total)
                .is_break()
            {
                return Err(Error::Cancelled { path: path.into() });
            }
        }
        Self::parse(path, bytes, fields, progress)
    }

    /// Reads records from bytes already in memory; `path` names them in messages and decides
    /// between JSON and JSON Lines when the content alone cannot.
    pub fn from_bytes(path: impl AsRef<Path>, bytes: Vec<u8>, fields: &FieldNames) -> CaptionFile {
        let mut never_cancel = |_: Phase, _: u64, _: u64| ControlFlow::Continue(());
        match Self::parse(path.as_ref(), bytes, fields, &mut never_cancel) {
            Ok(file) => file,
            Err(_) => unreachable!("parsing only fails when cancelled"),
        }
    }

    fn parse(
        path: &Path,
        bytes: Vec<u8>,
        fields: &FieldNames,
        progress: &mut dyn Progress,
    ) -> Result<CaptionFile, Error> {
        let lines = LineIndex::new(&bytes);
        let mut file = CaptionFile {
            path: path.into(),
            fields: fields.clone(),
            format: Format::from_path(path),
            slots: Vec::new(),
            problems: Vec::new(),
            bytes: Vec::new(),
        };
        let (format, spans) = split_records(&bytes, file.format, fields);
        file.format = format;
        let total = bytes.len() as u64;
        let mut reported = 0;
        for split in spans {
            match split {
                Split::Record { span, key } => {
                    if span.start - reported >= READ_CHUNK {
                        reported = span.start;
                        if progress
                            .update(Phase::Parsing, span.start as u64, total)
                            .is_break()
                        {
                            return Err(Error::Cancelled { path: path.into() });
                        }
                    }
                    let record_index = file.slots.len();
                    let line = lines.line_col(span.start).0;
                    let (record, members) =
                        match read_record(&bytes[span.clone()], fields, key.as_deref()) {
                            Ok((record, members)) => (Some(record), members),
                            Err((offset, kind)) => {
                                let (line, column) = lines.line_col(span.start + offset);
                                file.problems.push(Problem {
                                    file: path.into(),
                                    line,
                                    column,
                                    record: Some(record_index),
                                    kind,
                                });
                                (None, Vec::new())
                            }
                        };
                    file.slots.push(Slot {
                        span,
                        line,
                        record,
                        members,
                        key,
                        rewritten: None,
                    });
                }
                Split::Problem { offset, kind, span } => {
                    let (line, column) = lines.line_col(offset);
                    let record = span.as_ref().map(|_| file.slots.len());
                    file.problems.push(Problem {
                        file: path.into(),
                        line,
                        column,
                        record,
                        kind,
                    });
                    if let Some(span) = span {
                        file.slots.push(Slot {
                            line: lines.line_col(span.start).0,
                            span,
                            record: None,
                            members: Vec::new(),
                            key: None,
                            rewritten: None,
                        });
                    }
                }
            }
        }
        if progress.update(Phase::Parsing, total, total).is_break() {
            return Err(Error::Cancelled { path: path.into() });
        }
        file.bytes = bytes;
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes as loaded (or last saved): what is on disk.
    pub fn original_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn fields(&self) -> &FieldNames {
        &self.fields
    }

    /// Problems found while loading, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Number of record slots, including records that could not be read.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The record at `index`, or `None` when it could not be read.
    pub fn record(&self, index: usize) -> Option<&Record> {
        self.slots.get(index)?.record.as_ref()
    }

    /// The readable records with their indices.
    pub fn records(&self) -> impl Iterator<Item = (usize, &Record)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| Some((index, slot.record.as_ref()?)))
    }

    /// 1-based line where record `index` starts.
    pub fn line_of(&self, index: usize) -> Option<usize> {
        Some(self.slots.get(index)?.line)
    }

    /// Whether any record was edited since loading.
    pub fn is_modified(&self) -> bool {
        self.slots.iter().any(|slot| slot.rewritten.is_some())
    }

    pub fn caption(&self, index: usize) -> Result<&CaptionRecord, Error> {
        match self.record(index) {
            Some(Record::Caption(caption)) => Ok(caption),
            Some(_) => Err(Error::NotACaption {
                path: self.path.clone(),
                record: index,
            }),
            None => Err(self.no_such_record(index)),
        }
    }

    fn no_such_record(&self, index: usize) -> Error {
        Error::NoSuchRecord {
            path: self.path.clone(),
            record: index,
            count: self.slots.len(),
        }
    }

    /// Replaces caption record `index`; its text in the file is rewritten with the changed
    /// fields only (caption text, and people/events where the record keeps them).
    pub fn set_caption(&mut self, index: usize, caption: CaptionRecord) -> Result<(), Error> {
        self.caption(index)?;
        let slot = &self.slots[index];
        let old_text = match &slot.rewritten {
            Some(text) => text.clone(),
            None => String::from_utf8_lossy(&self.bytes[slot.span.clone()]).into_owned(),
        };
        // Only values that changed are rewritten, so their original text stays where it can.
        let old = match &slot.record {
            Some(Record::Caption(old)) => old,
            _ => return Err(self.no_such_record(index)),
        };
        let mut changes = Vec::new();
        if old.caption != caption.caption {
            changes.push((self.fields.caption.clone(), json_string(&caption.caption)));
        }
        if let TextState::Structured(structure) = &caption.state
            && (caption.had_structure_fields || structure.needs_fields())
        {
            let kept = old.structure().filter(|_| old.had_structure_fields);
            if kept.is_none_or(|kept| kept.people != structure.people) {
                changes.push((self.fields.people.clone(), json(&structure.people)));
            }
            if kept.is_none_or(|kept| kept.events != structure.events) {
                changes.push((self.fields.events.clone(), json(&structure.events)));
            }
        }
        if old.review != caption.review {
            changes.push((
                crate::model::REVIEW_FIELD.to_string(),
                json(&caption.review),
            ));
        }
        let bare_string = slot.key.is_some() && old_text.trim_start().starts_with('"');
        let (text, members) = if bare_string {
            // A map entry that is only caption text: there is nowhere to keep more than text.
            if caption.structure().is_some_and(Structure::needs_fields)
                || caption.review != Default::default()
            {
                return Err(Error::command(format!(
                    "{}: record {index} is a bare caption string; timings, structured attributes and review notes cannot be stored in it",
                    self.path.display()
                )));
            }
            (json_string(&caption.caption), Vec::new())
        } else {
            let text = splice_fields(&old_text, &slot.members, &changes);
            match scan::parse_record(&text) {
                Ok(TopLevel::Object(members)) => (text, members),
                _ => unreachable!("splicing JSON values into an object keeps it an object"),
            }
        };
        let slot = &mut self.slots[index];
        slot.members = members;
        slot.record = Some(Record::Caption(CaptionRecord {
            had_structure_fields: caption.had_structure_fields
                || caption.structure().is_some_and(Structure::needs_fields),
            ..caption
        }));
        slot.rewritten = (text.as_bytes() != &self.bytes[slot.span.clone()]).then_some(text);
        Ok(())
    }

    fn structural_problem(&self) -> Option<&Problem> {
        self.problems
            .iter()
            .find(|problem| problem.kind.is_structural())
    }

    /// The file's bytes in `format`. In its own format every record not edited comes back byte
    /// for byte, and so does everything between records, records that could not be read
    /// included. In another format each record keeps its text (records spread over lines are
    /// minified to one for JSON Lines); anything that could not be read stops the conversion
    /// ([`Error::NotConvertible`]) unless `drop_bad` says to leave it out.
    pub fn to_bytes(&self, format: Format, drop_bad: bool) -> Result<Vec<u8>, Error> {
        if let Some(problem) = self.structural_problem() {
            return Err(Error::BrokenStructure {
                problem: Box::new(problem.clone()),
            });
        }
        if format == self.format {
            let mut out = Vec::with_capacity(self.bytes.len());
            let mut copied = 0;
            for slot in &self.slots {
                if let Some(text) = &slot.rewritten {
                    out.extend_from_slice(&self.bytes[copied..slot.span.start]);
                    out.extend_from_slice(text.as_bytes());
                    copied = slot.span.end;
                }
            }
            out.extend_from_slice(&self.bytes[copied..]);
            return Ok(out);
        }
        if format == Format::JsonMap {
            return Err(Error::command(format!(
                "{}: only a file keyed by video can be written keyed by video",
                self.path.display()
            )));
        }
        if !drop_bad && let Some(problem) = self.problems.first() {
            return Err(Error::NotConvertible {
                problem: Box::new(problem.clone()),
            });
        }
        let mut texts: Vec<std::borrow::Cow<str>> = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            if slot.record.is_none() {
                continue;
            }
            let text = match &slot.rewritten {
                Some(text) => text.as_str(),
                None => std::str::from_utf8(&self.bytes[slot.span.clone()]).unwrap_or_default(),
            };
            texts.push(match &slot.key {
                Some(key) => with_video_key(text.trim(), key, &slot.members, &self.fields).into(),
                None => text.trim().into(),
            });
        }
        let mut out = String::new();
        match format {
            Format::JsonLines => {
                for text in texts {
                    // Only records spread over lines are compacted; one-line records keep
                    // their spacing, so JSON Lines -> JSON -> JSON Lines is byte-exact.
                    if text.contains(['\n', '\r']) {
                        out.push_str(&scan::minify(&text));
                    } else {
                        out.push_str(&text);
                    }
                    out.push('\n');
                }
            }
            Format::JsonObject if texts.len() == 1 => {
                out.push_str(&texts[0]);
                out.push('\n');
            }
            Format::JsonArray | Format::JsonObject | Format::JsonMap => {
                out.push_str("[\n");
                out.push_str(&texts.join(",\n"));
                out.push_str("\n]\n");
            }
        }
        Ok(out.into_bytes())
    }

    /// Writes the file back in its own format: atomically, keeping the previous version as
    /// `<file>.bak`. When the bytes are what is on disk already nothing is written, so the
    /// file and its `.bak` stay as they are. Returns whether it wrote.
    pub fn save(&mut self) -> Result<bool, Error> {
        let bytes = self.to_bytes(self.format, false)?;
        if bytes == self.bytes {
            return Ok(false);
        }
        write_atomic(&self.path, &bytes, true)?;
        // What is on disk is now the loaded state.
        let reloaded = CaptionFile::from_bytes(&self.path, bytes, &self.fields);
        *self = reloaded;
        Ok(true)
    }

    /// Writes the records to another file (atomically), in `format`; a new file gets this
    /// file's permissions.
    pub fn save_as(&self, path: &Path, format: Format, drop_bad: bool) -> Result<(), Error> {
        let bytes = self.to_bytes(format, drop_bad)?;
        write_derived(path, &bytes, &self.path)
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn json_string(text: &str) -> String {
    json(&text)
}

/// Replaces the values of `changes` in the record `text`, appending fields it lacks; everything
/// else, whitespace included, stays as it was.
fn splice_fields(text: &str, members: &[Member], changes: &[(String, String)]) -> String {
    let mut replaced: Vec<(Range<usize>, &str)> = Vec::new();
    let mut appended = String::new();
    let colon = members.last().map_or(": ", |member| {
        &text[member.key_span.end..member.value.start]
    });
    let separator = match members {
        [.., before, last] => text[before.value.end..last.key_span.start].to_string(),
        [only] => {
            let open = text[..only.key_span.start]
                .rfind('{')
                .map_or(0, |at| at + 1);
            format!(",{}", &text[open..only.key_span.start])
        }
        [] => String::new(),
    };
    for (key, value) in changes {
        match members.iter().find(|member| &member.key == key) {
            Some(member) => replaced.push((member.value.clone(), value)),
            None => {
                if !(members.is_empty() && appended.is_empty()) {
                    appended.push_str(&separator);
                }
                appended.push_str(&json_string(key));
                appended.push_str(colon);
                appended.push_str(value);
            }
        }
    }
    replaced.sort_by_key(|(span, _)| span.start);
    let insert_at = members.last().map_or_else(
        || text.rfind('}').unwrap_or(text.len()),
        |member| member.value.end,
    );
    let mut out = String::with_capacity(text.len() + appended.len());
    let mut copied = 0;
    for (span, value) in replaced {
        out.push_str(&text[copied..span.start]);
        out.push_str(value);
        copied = span.end;
    }
    out.push_str(&text[copied..insert_at]);
    out.push_str(&appended);
    out.push_str(&text[insert_at..]);
    out
}

/// 1-based line and column from a byte offset.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(bytes: &[u8]) -> Self {
        let starts = std::iter::once(0)
            .chain(
                bytes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &byte)| byte == b'\n')
                    .map(|(at, _)| at + 1),
            )
            .collect();
        LineIndex { starts }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&start| start <= offset);
        (line, offset - self.starts[line - 1] + 1)
    }
}

/// A map entry as a standalone record: the key becomes the video field unless it has one.
fn with_video_key(text: &str, key: &str, members: &[Member], fields: &FieldNames) -> String {
    let video = format!("{}:{}", json_string(&fields.video), json_string(key));
    if text.starts_with('"') {
        return format!("{{{video},{}:{text}}}", json_string(&fields.caption));
    }
    if members.iter().any(|member| member.key == fields.video) {
        return text.to_string();
    }
    let body = text.strip_prefix('{').unwrap_or(text);
    let comma = if members.is_empty() { "" } else { "," };
    format!("{{{video}{comma}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splicing_replaces_values_and_appends_in_the_record_style() {
        let text = "{\n  \"id\": 7,\n  \"caption\": \"old\"\n}";
        let Ok(TopLevel::Object(members)) = scan::parse_record(text) else {
            panic!()
        };
        let changes = [
            ("caption".to_string(), "\"new\"".to_string()),
            ("people".to_string(), "[]".to_string()),
        ];
        assert_eq!(
            splice_fields(text, &members, &changes),
            "{\n  \"id\": 7,\n  \"caption\": \"new\",\n  \"people\": []\n}"
        );
        let one = r#"{"caption":"x"}"#;
        let Ok(TopLevel::Object(members)) = scan::parse_record(one) else {
            panic!()
        };
        assert_eq!(
            splice_fields(one, &members, &[("events".into(), "[]".into())]),
            r#"{"caption":"x","events":[]}"#
        );
        assert_eq!(
            splice_fields("{ }", &[], &[("caption".into(), "\"c\"".into())]),
            r#"{ "caption": "c"}"#
        );
    }

    #[test]
    fn line_index_counts_from_one() {
        let index = LineIndex::new(b"ab\ncd\n");
        assert_eq!(index.line_col(0), (1, 1));
        assert_eq!(index.line_col(4), (2, 2));
        assert_eq!(index.line_col(6), (3, 1));
    }
}
