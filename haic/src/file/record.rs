//! Reading one record: UTF-8, strict JSON with unique keys, and the known fields with the right
//! types. A problem is reported at the byte where it is, in words that say what is wrong there
//! (`people[1].id must be a string, found a number`), never by repeating the expected type.

use std::ops::Range;

use serde_json::Value;

use super::FieldNames;
use crate::{
    error::ProblemKind,
    model::{
        CaptionRecord, Event, Person, PersonField, QaRecord, REVIEW_FIELD, Record, Review,
        Structure, TextState,
    },
    scan::{self, Member, SyntaxKind, TopLevel},
    text,
};

/// A problem and the byte offset (in the record's text) where it is.
pub(super) type RecordError = (usize, ProblemKind);

/// Reads one record's bytes. `key` is the record's key in a file keyed by video.
pub(super) fn read_record(
    bytes: &[u8],
    fields: &FieldNames,
    key: Option<&str>,
) -> Result<(Record, Vec<Member>), RecordError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|error| (error.valid_up_to(), ProblemKind::InvalidUtf8))?;
    let members = match scan::parse_record(text) {
        Ok(TopLevel::Object(members)) => members,
        Ok(TopLevel::Other("a string")) if key.is_some() => {
            let caption = json_string(text).map_err(|problem| (0, problem))?;
            let state = parse_state(&caption);
            let record = CaptionRecord {
                video: key.map(str::to_string),
                duration: None,
                caption,
                state,
                had_structure_fields: false,
                review: Default::default(),
            };
            return Ok((Record::Caption(record), Vec::new()));
        }
        Ok(TopLevel::Other(kind)) => {
            return Err((
                0,
                ProblemKind::NotARecord(format!("the record is {kind}, not an object")),
            ));
        }
        Err(error) => return Err((error.offset, syntax_problem(error.kind))),
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

pub(super) fn syntax_problem(kind: SyntaxKind) -> ProblemKind {
    match kind {
        SyntaxKind::Truncated => ProblemKind::Truncated,
        SyntaxKind::DuplicateKey(key) => ProblemKind::DuplicateKey(key),
        SyntaxKind::Invalid(message) => ProblemKind::Syntax(message),
    }
}

/// A JSON string literal the scanner has checked, as text.
fn json_string(raw: &str) -> Result<String, ProblemKind> {
    serde_json::from_str(raw).map_err(|error| ProblemKind::Syntax(serde_message(&error)))
}

/// serde_json's message without its "at line L column C" (our problems carry their own place).
fn serde_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
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

    fn wrong_type(offset: usize, field: &str, expected: &str, raw: &str) -> RecordError {
        (
            offset,
            ProblemKind::WrongType {
                field: field.into(),
                expected: expected.into(),
                found: type_name(raw).into(),
            },
        )
    }

    /// A string field (`null` counts as absent).
    fn string(&self, name: &str) -> Result<Option<String>, RecordError> {
        let Some((offset, raw)) = self.raw(name) else {
            return Ok(None);
        };
        match raw.as_bytes().first() {
            Some(b'"') => json_string(raw)
                .map(Some)
                .map_err(|problem| (offset, problem)),
            Some(b'n') => Ok(None),
            _ => Err(Self::wrong_type(offset, name, "a string", raw)),
        }
    }

    /// An array of people or events: the whole value must be an array (or `null`, absent), and
    /// an item that does not fit is named by its index and field.
    fn items<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        expected: &str,
        item_problem: fn(&Value) -> Option<ItemProblem>,
    ) -> Result<Option<Vec<T>>, RecordError> {
        let Some((offset, raw)) = self.raw(name) else {
            return Ok(None);
        };
        match raw.as_bytes().first() {
            Some(b'[') => {}
            Some(b'n') => return Ok(None),
            _ => return Err(Self::wrong_type(offset, name, expected, raw)),
        }
        let whole_error = match serde_json::from_str::<Vec<T>>(raw) {
            Ok(items) => return Ok(Some(items)),
            Err(error) => error,
        };
        // Find the item and the field: serde_json's message names neither.
        for (index, span) in scan::array_items(raw).into_iter().enumerate() {
            let item_text = &raw[span.clone()];
            let Ok(item) = serde_json::from_str::<Value>(item_text) else {
                continue;
            };
            if serde_json::from_value::<T>(item.clone()).is_ok() {
                continue;
            }
            let (key, problem) = item_problem(&item).unwrap_or_else(|| {
                let message = serde_json::from_value::<T>(item)
                    .err()
                    .map_or_else(String::new, |error| serde_message(&error));
                (None, format!("does not fit: {message}"))
            });
            let at = offset
                + span.start
                + key.as_deref().map_or(0, |key| {
                    member_offset(item_text, key.split('[').next().unwrap_or(key))
                });
            let path = match key {
                Some(key) => format!("{name}[{index}].{key}"),
                None => format!("{name}[{index}]"),
            };
            return Err((at, ProblemKind::InvalidItem { path, problem }));
        }
        Err((
            offset,
            ProblemKind::InvalidItem {
                path: name.to_string(),
                problem: format!("does not fit: {}", serde_message(&whole_error)),
            },
        ))
    }

    fn number(&self, name: &str, expected: &str) -> Result<Option<f64>, RecordError> {
        let Some((offset, raw)) = self.raw(name) else {
            return Ok(None);
        };
        match raw.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => match serde_json::from_str::<f64>(raw) {
                Ok(value) => Ok(Some(value)),
                Err(error) => Err((
                    offset,
                    ProblemKind::InvalidItem {
                        path: format!("field \"{name}\""),
                        problem: format!("holds {raw}: {}", serde_message(&error)),
                    },
                )),
            },
            Some(b'n') => Ok(None),
            _ => Err(Self::wrong_type(offset, name, expected, raw)),
        }
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
        let people: Option<Vec<Person>> = self.items(
            &names.people,
            "an array of people ({\"id\", \"attributes\", ...})",
            person_problem,
        )?;
        let events: Option<Vec<Event>> = self.items(
            &names.events,
            "an array of events ({\"who\", \"action\", \"with\"?, \"start\"?, \"end\"?})",
            event_problem,
        )?;
        let duration = self.number(&names.duration, "a number of seconds")?;
        let review = self.review()?;
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
            review,
        }))
    }

    /// The review extension: absent or `null` is a record still to do.
    fn review(&self) -> Result<Review, RecordError> {
        let Some((offset, raw)) = self.raw(REVIEW_FIELD) else {
            return Ok(Review::default());
        };
        match raw.as_bytes().first() {
            Some(b'{') => serde_json::from_str(raw).map_err(|error| {
                (
                    offset,
                    ProblemKind::InvalidItem {
                        path: format!("field \"{REVIEW_FIELD}\""),
                        problem: format!("does not fit: {}", serde_message(&error)),
                    },
                )
            }),
            Some(b'n') => Ok(Review::default()),
            _ => Err(Self::wrong_type(
                offset,
                REVIEW_FIELD,
                "an object ({\"status\", \"comments\"?})",
                raw,
            )),
        }
    }

    fn qa(&self, video: Option<String>) -> Result<QaRecord, RecordError> {
        let names = self.names;
        let question = self.string(&names.question)?.unwrap_or_default();
        let options = match self.raw(&names.options) {
            None => Vec::new(),
            Some((offset, raw)) => {
                let items: Vec<(String, Range<usize>)> = match raw.as_bytes().first() {
                    Some(b'[') => scan::array_items(raw)
                        .into_iter()
                        .enumerate()
                        .map(|(index, span)| (format!("{}[{index}]", names.options), span))
                        .collect(),
                    Some(b'{') => match scan::parse_record(raw) {
                        Ok(TopLevel::Object(members)) => members
                            .into_iter()
                            .map(|member| {
                                (format!("{}.{}", names.options, member.key), member.value)
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                    _ => {
                        return Err(Self::wrong_type(
                            offset,
                            &names.options,
                            "an array or object of four option strings",
                            raw,
                        ));
                    }
                };
                let mut options = Vec::with_capacity(items.len());
                for (path, span) in items {
                    let item = &raw[span.clone()];
                    if !item.starts_with('"') {
                        return Err((
                            offset + span.start,
                            ProblemKind::InvalidItem {
                                path,
                                problem: format!("must be a string, found {}", type_name(item)),
                            },
                        ));
                    }
                    options.push(json_string(item).map_err(|problem| (offset, problem))?);
                }
                options
            }
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

/// Offset of `key`'s value inside an object's text (0 when it cannot be found).
fn member_offset(object: &str, key: &str) -> usize {
    match scan::parse_record(object) {
        Ok(TopLevel::Object(members)) => members
            .into_iter()
            .find(|member| member.key == key)
            .map_or(0, |member| member.value.start),
        _ => 0,
    }
}

/// What is wrong with an item: the path of the field inside it (`who[1]`; `None` for the item
/// itself) and the problem.
type ItemProblem = (Option<String>, String);

/// What a JSON value needs to be, for a field of a person or an event.
#[derive(Clone, Copy)]
enum Shape {
    /// A string; `null` only when the field is optional.
    Text,
    /// An id or an array of ids.
    Ids,
    /// A number or `null`.
    Seconds,
}

/// The first field of `item` that does not have its shape: the key and what is wrong.
fn shape_problem(item: &Value, fields: &[(&'static str, Shape, bool)]) -> Option<ItemProblem> {
    let Value::Object(object) = item else {
        return Some((
            None,
            format!("must be an object, found {}", value_type(item)),
        ));
    };
    for &(key, shape, required) in fields {
        let problem = match (object.get(key), shape) {
            (None, _) if required => "is missing".to_string(),
            (None, _) => continue,
            (Some(Value::Null), Shape::Text | Shape::Seconds) if !required => continue,
            (Some(Value::String(_)), Shape::Text | Shape::Ids) => continue,
            (Some(Value::Number(_)), Shape::Seconds) => continue,
            (Some(Value::Array(ids)), Shape::Ids) => {
                match ids.iter().position(|id| !id.is_string()) {
                    None => continue,
                    Some(at) => {
                        return Some((
                            Some(format!("{key}[{at}]")),
                            format!(
                                "must be a person id (a string), found {}",
                                value_type(&ids[at])
                            ),
                        ));
                    }
                }
            }
            (Some(value), Shape::Text) => format!("must be a string, found {}", value_type(value)),
            (Some(value), Shape::Ids) => format!(
                "must be a person id or an array of ids, found {}",
                value_type(value)
            ),
            (Some(value), Shape::Seconds) => {
                format!("must be a number of seconds, found {}", value_type(value))
            }
        };
        return Some((Some(key.to_string()), problem));
    }
    None
}

fn person_problem(item: &Value) -> Option<ItemProblem> {
    let mut fields = vec![("id", Shape::Text, true), ("attributes", Shape::Text, true)];
    fields.extend(
        PersonField::ALL
            .iter()
            .map(|field| (field.name(), Shape::Text, false)),
    );
    shape_problem(item, &fields)
}

fn event_problem(item: &Value) -> Option<ItemProblem> {
    shape_problem(
        item,
        &[
            ("who", Shape::Ids, true),
            ("action", Shape::Text, true),
            ("with", Shape::Ids, false),
            ("start", Shape::Seconds, false),
            ("end", Shape::Seconds, false),
        ],
    )
}

/// The structure of caption text, or free text with the reason it is not the format.
pub(super) fn parse_state(caption: &str) -> TextState {
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

fn value_type(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Number(_) => "a number",
    }
}
