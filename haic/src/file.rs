//! Caption files: JSON (array or single object) and JSON Lines, loaded so that every byte that is
//! not edited is written back unchanged.
//!
//! The file's bytes are kept; each record is a span in them. Saving copies the bytes and splices
//! in only the records that were edited, and within those only the values of changed fields.

use std::{
    fs::File,
    io::Read,
    ops::{ControlFlow, Range},
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::{
    error::{Error, Problem, ProblemKind},
    model::{CaptionRecord, Event, Person, QaRecord, Record, Structure, TextState},
    save::write_atomic,
    scan::{self, Member, SyntaxKind, TopLevel},
    text,
};

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
        let bare_string = slot.key.is_some() && old_text.trim_start().starts_with('"');
        let (text, members) = if bare_string {
            // A map entry that is only caption text: there is nowhere to keep more than text.
            if caption.structure().is_some_and(Structure::needs_fields) {
                return Err(Error::command(format!(
                    "{}: record {index} is a bare caption string; timings and structured attributes cannot be stored in it",
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
    /// for byte, and so does everything between records. In another format each record keeps
    /// its text (records spread over lines are minified to one for JSON Lines); records that could not be read stop the
    /// conversion unless `drop_bad` says to leave them out.
    pub fn to_bytes(&self, format: Format, drop_bad: bool) -> Result<Vec<u8>, Error> {
        if let Some(problem) = self.structural_problem() {
            return Err(Error::BrokenStructure {
                path: self.path.clone(),
                problem: problem.to_string(),
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
        let mut texts: Vec<std::borrow::Cow<str>> = Vec::with_capacity(self.slots.len());
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.record.is_none() {
                if drop_bad {
                    continue;
                }
                let problem = self
                    .problems
                    .iter()
                    .find(|problem| problem.record == Some(index))
                    .map_or_else(String::new, |problem| problem.kind.to_string());
                return Err(Error::BadRecordInConversion {
                    path: self.path.clone(),
                    record: index,
                    line: slot.line,
                    problem,
                });
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
    /// `<file>.bak`.
    pub fn save(&mut self) -> Result<(), Error> {
        let bytes = self.to_bytes(self.format, false)?;
        write_atomic(&self.path, &bytes, true)?;
        // What is on disk is now the loaded state.
        let reloaded = CaptionFile::from_bytes(&self.path, bytes, &self.fields);
        *self = reloaded;
        Ok(())
    }

    /// Writes the records to another file (atomically), in `format`.
    pub fn save_as(&self, path: &Path, format: Format, drop_bad: bool) -> Result<(), Error> {
        let bytes = self.to_bytes(format, drop_bad)?;
        write_atomic(path, &bytes, false)
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

enum Split {
    /// A record's bytes, with its key when the file is keyed by video.
    Record {
        span: Range<usize>,
        key: Option<String>,
    },
    /// A problem with the layout; `span` is the bytes of a record it swallowed, if any.
    Problem {
        offset: usize,
        kind: ProblemKind,
        span: Option<Range<usize>>,
    },
}

fn skip_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// Splits a file into record spans, recovering from layout problems where it can.
fn split_records(bytes: &[u8], by_name: Format, fields: &FieldNames) -> (Format, Vec<Split>) {
    let body = if bytes.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let first = skip_whitespace(bytes, body);
    match bytes.get(first) {
        None => (by_name, Vec::new()),
        Some(b'[') => (Format::JsonArray, split_array(bytes, first)),
        Some(b'{') => {
            let end = scan::skip_value_lenient(bytes, first);
            let more_follows = end.is_some_and(|end| skip_whitespace(bytes, end) < bytes.len());
            if by_name == Format::JsonLines || more_follows {
                (Format::JsonLines, split_lines(bytes, body))
            } else {
                if let Some(entries) = split_map(bytes, first, fields) {
                    return (Format::JsonMap, entries);
                }
                let span = first..end.unwrap_or(bytes.len());
                let split = match end {
                    Some(_) => Split::Record { span, key: None },
                    None => Split::Problem {
                        offset: bytes.len(),
                        kind: ProblemKind::FileTruncated,
                        span: Some(span),
                    },
                };
                (Format::JsonObject, vec![split])
            }
        }
        Some(_) => (
            by_name,
            vec![Split::Problem {
                offset: first,
                kind: ProblemKind::NotARecord(
                    "not a JSON array, JSON object or JSON Lines file".into(),
                ),
                span: None,
            }],
        ),
    }
}

/// The entries of a top-level object keyed by video, or `None` when the object is a record
/// itself (it has a record field) or its members are not all records or caption strings.
fn split_map(bytes: &[u8], open: usize, fields: &FieldNames) -> Option<Vec<Split>> {
    let record_fields = [
        &fields.video,
        &fields.caption,
        &fields.people,
        &fields.events,
        &fields.question,
        &fields.options,
        &fields.answer,
        &fields.category,
        &fields.duration,
    ];
    let mut entries = Vec::new();
    let mut pos = skip_whitespace(bytes, open + 1);
    if bytes.get(pos) == Some(&b'}') {
        return None;
    }
    loop {
        let key_end = scan::skip_value_lenient(bytes, pos).filter(|_| bytes[pos] == b'"')?;
        let key: String = serde_json::from_slice(&bytes[pos..key_end]).ok()?;
        if record_fields.contains(&&key) {
            return None;
        }
        pos = skip_whitespace(bytes, key_end);
        if bytes.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_whitespace(bytes, pos + 1);
        if !matches!(bytes.get(pos), Some(b'{' | b'"')) {
            return None;
        }
        let end = scan::skip_value_lenient(bytes, pos)?;
        entries.push(Split::Record {
            span: pos..end,
            key: Some(key),
        });
        pos = skip_whitespace(bytes, end);
        match bytes.get(pos) {
            Some(b',') => pos = skip_whitespace(bytes, pos + 1),
            Some(b'}') => return Some(entries),
            _ => return None,
        }
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

fn split_lines(bytes: &[u8], body: usize) -> Vec<Split> {
    let mut splits = Vec::new();
    let mut start = body;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&byte| byte == b'\n')
            .map_or(bytes.len(), |at| start + at);
        let line = &bytes[start..end];
        let trimmed_end = start + line.len()
            - line
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        let first = skip_whitespace(bytes, start).min(trimmed_end);
        if first < trimmed_end {
            splits.push(Split::Record {
                span: first..trimmed_end,
                key: None,
            });
        }
        start = end + 1;
    }
    splits
}

fn split_array(bytes: &[u8], open: usize) -> Vec<Split> {
    let mut splits = Vec::new();
    let mut pos = skip_whitespace(bytes, open + 1);
    if bytes.get(pos) == Some(&b']') {
        return trailing(bytes, pos + 1, splits);
    }
    loop {
        let Some(&byte) = bytes.get(pos) else {
            splits.push(Split::Problem {
                offset: pos,
                kind: ProblemKind::FileTruncated,
                span: None,
            });
            return splits;
        };
        if matches!(byte, b']' | b'}' | b',') {
            splits.push(Split::Problem {
                offset: pos,
                kind: ProblemKind::Syntax(format!(
                    "unexpected '{}' where a record should start",
                    byte as char
                )),
                span: None,
            });
            if byte == b']' {
                return trailing(bytes, pos + 1, splits);
            }
            pos = skip_whitespace(bytes, pos + 1);
            continue;
        }
        match scan::skip_value_lenient(bytes, pos) {
            Some(end) => {
                splits.push(Split::Record {
                    span: pos..end,
                    key: None,
                });
                pos = skip_whitespace(bytes, end);
            }
            None => {
                splits.push(Split::Problem {
                    offset: bytes.len(),
                    kind: ProblemKind::FileTruncated,
                    span: Some(pos..bytes.len()),
                });
                return splits;
            }
        }
        match bytes.get(pos) {
            Some(b',') => pos = skip_whitespace(bytes, pos + 1),
            Some(b']') => return trailing(bytes, pos + 1, splits),
            None => {
                splits.push(Split::Problem {
                    offset: pos,
                    kind: ProblemKind::FileTruncated,
                    span: None,
                });
                return splits;
            }
            Some(_) => splits.push(Split::Problem {
                offset: pos,
                kind: ProblemKind::Syntax("expected ',' or ']' after a record".into()),
                span: None,
            }),
        }
    }
}

/// Reports anything but whitespace after the closing bracket.
fn trailing(bytes: &[u8], end: usize, mut splits: Vec<Split>) -> Vec<Split> {
    let rest = skip_whitespace(bytes, end);
    if rest < bytes.len() {
        splits.push(Split::Problem {
            offset: rest,
            kind: ProblemKind::Syntax("unexpected text after the closing ']'".into()),
            span: None,
        });
    }
    splits
}

type RecordError = (usize, ProblemKind);

/// Reads one record's bytes: UTF-8, strict JSON with unique keys, known fields of the right types.
fn read_record(
    bytes: &[u8],
    fields: &FieldNames,
    key: Option<&str>,
) -> Result<(Record, Vec<Member>), RecordError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|error| (error.valid_up_to(), ProblemKind::InvalidUtf8))?;
    let members = match scan::parse_record(text) {
        Ok(TopLevel::Object(members)) => members,
        Ok(TopLevel::Other("a string")) if key.is_some() => {
            let caption: String = serde_json::from_str(text)
                .map_err(|error| (0, ProblemKind::Syntax(error.to_string())))?;
            let state = parse_state(&caption);
            let record = CaptionRecord {
                video: key.map(str::to_string),
                duration: None,
                caption,
                state,
                had_structure_fields: false,
            };
            return Ok((Record::Caption(record), Vec::new()));
        }
        Ok(TopLevel::Other(kind)) => {
            return Err((
                0,
                ProblemKind::NotARecord(format!("the record is {kind}, not an object")),
            ));
        }
        Err(error) => {
            let kind = match error.kind {
                SyntaxKind::Truncated => ProblemKind::Truncated,
                SyntaxKind::DuplicateKey(key) => ProblemKind::DuplicateKey(key),
                SyntaxKind::Invalid(message) => ProblemKind::Syntax(message),
            };
            return Err((error.offset, kind));
        }
    };
    let record = Fields {
        text,
        members: &members,
        names: fields,
        key,
    }
    .record()?;
    Ok((record, members))
}

struct Fields<'a> {
    text: &'a str,
    members: &'a [Member],
    names: &'a FieldNames,
    /// The map key, standing in for a missing video field.
    key: Option<&'a str>,
}

impl Fields<'_> {
    fn raw(&self, name: &str) -> Option<(usize, &str)> {
        self.members
            .iter()
            .find(|member| member.key == name)
            .map(|member| (member.value.start, &self.text[member.value.clone()]))
    }

    fn wrong_type(offset: usize, field: &str, expected: &str, found: String) -> RecordError {
        (
            offset,
            ProblemKind::WrongType {
                field: field.into(),
                expected: expected.into(),
                found,
            },
        )
    }

    fn string(&self, name: &str) -> Result<Option<String>, RecordError> {
        let Some((offset, raw)) = self.raw(name) else {
            return Ok(None);
        };
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::String(text)) => Ok(Some(text)),
            Ok(Value::Null) => Ok(None),
            _ => Err(Self::wrong_type(
                offset,
                name,
                "a string",
                type_name(raw).into(),
            )),
        }
    }

    fn typed<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, RecordError> {
        let Some((offset, raw)) = self.raw(name) else {
            return Ok(None);
        };
        serde_json::from_str(raw).map(Some).map_err(|error| {
            let message = error.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string();
            Self::wrong_type(offset, name, expected, message)
        })
    }

    fn record(&self) -> Result<Record, RecordError> {
        let names = self.names;
        let video = match self.raw(&names.video) {
            Some((_, raw)) if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                Some(raw.to_string())
            }
            _ => self.string(&names.video)?,
        }
        .or_else(|| self.key.map(str::to_string));
        if self.raw(&names.question).is_some() {
            return self.qa(video).map(Record::Qa);
        }
        let caption = self.string(&names.caption)?;
        let people: Option<Vec<Person>> = self.typed(
            &names.people,
            "an array of people ({\"id\", \"attributes\", ...})",
        )?;
        let events: Option<Vec<Event>> = self.typed(
            &names.events,
            "an array of events ({\"who\", \"action\", \"with\"?, \"start\"?, \"end\"?})",
        )?;
        let duration: Option<f64> = self.typed(&names.duration, "a number of seconds")?;
        let had_structure_fields = people.is_some() || events.is_some();
        if caption.is_none() && !had_structure_fields {
            return Err((
                0,
                ProblemKind::NotARecord(format!(
                    "the record has neither a \"{}\" nor a \"{}\" field",
                    names.caption, names.question
                )),
            ));
        }
        let (caption, state) = if had_structure_fields {
            let structure = Structure {
                people: people.unwrap_or_default(),
                events: events.unwrap_or_default(),
            };
            let caption = caption.unwrap_or_else(|| text::render(&structure));
            (caption, TextState::Structured(structure))
        } else {
            let caption = caption.unwrap_or_default();
            let state = parse_state(&caption);
            (caption, state)
        };
        Ok(Record::Caption(CaptionRecord {
            video,
            duration,
            caption,
            state,
            had_structure_fields,
        }))
    }

    fn qa(&self, video: Option<String>) -> Result<QaRecord, RecordError> {
        let names = self.names;
        let question = self.string(&names.question)?.unwrap_or_default();
        let options = match self.raw(&names.options) {
            None => Vec::new(),
            Some((offset, raw)) => match serde_json::from_str::<Value>(raw) {
                Ok(Value::Array(items)) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(text) => Ok(text),
                        other => Err(Self::wrong_type(
                            offset,
                            &names.options,
                            "strings",
                            format!("an option that is {}", type_name(&other.to_string())),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Ok(Value::Object(map)) => map
                    .into_iter()
                    .map(|(_, item)| match item {
                        Value::String(text) => Ok(text),
                        other => Err(Self::wrong_type(
                            offset,
                            &names.options,
                            "strings",
                            format!("an option that is {}", type_name(&other.to_string())),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(Self::wrong_type(
                        offset,
                        &names.options,
                        "an array or object of four option strings",
                        type_name(raw).into(),
                    ));
                }
            },
        };
        Ok(QaRecord {
            video,
            question,
            options,
            answer: self.string(&names.answer)?.unwrap_or_default(),
            category: self.string(&names.category)?.unwrap_or_default(),
        })
    }
}

/// The structure of caption text, or free text with the reason it is not the format.
fn parse_state(caption: &str) -> TextState {
    match text::parse(caption) {
        Ok(structure) => TextState::Structured(structure),
        Err(error) => TextState::Free {
            reason: error.to_string(),
        },
    }
}

/// "a number", "an array", ... for the JSON value `raw`.
fn type_name(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
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
