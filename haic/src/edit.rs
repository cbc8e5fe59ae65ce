//! Edits to a caption's people and events, as serialisable commands (the journal stores them).

use serde::{Deserialize, Serialize};

use crate::{
    error::Error,
    model::{
        CaptionRecord, Comment, Event, Person, PersonField, ReviewStatus, Structure, TextState,
    },
    text,
};

/// One change to one caption record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Index of the record in the file.
    pub record: usize,
    pub edit: Edit,
}

/// What a [`Command`] changes. Structure edits re-render the caption text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    /// Inserts a person at `at` (the end when `None`).
    AddPerson {
        person: Person,
        at: Option<usize>,
    },
    /// Removes a person and their mentions; events left without a subject are removed too.
    RemovePerson {
        id: String,
    },
    MovePerson {
        from: usize,
        to: usize,
    },
    SetAttributes {
        id: String,
        attributes: String,
    },
    /// Sets one structured field of a person (`None` removes it from the record). The caption
    /// text does not change: these fields live beside it in the JSON.
    SetPersonField {
        id: String,
        field: PersonField,
        value: Option<String>,
    },
    AddEvent {
        event: Event,
        at: usize,
    },
    RemoveEvent {
        index: usize,
    },
    MoveEvent {
        from: usize,
        to: usize,
    },
    SetAction {
        index: usize,
        action: String,
    },
    SetWho {
        index: usize,
        who: Vec<String>,
    },
    SetWith {
        index: usize,
        with: Vec<String>,
    },
    SetTimes {
        index: usize,
        start: Option<f64>,
        end: Option<f64>,
    },
    /// Orders the events by start time in one step (stable: equal starts keep their order);
    /// events without a start keep their relative order after the timed ones.
    SortEventsByStart,
    /// Merges event `index` with the next one (same subject): "a and b", spanning both.
    MergeEvents {
        index: usize,
    },
    /// Splits event `index` into two actions of the same people, the first ending (and the second
    /// starting) at `at` when given.
    SplitEvent {
        index: usize,
        first: String,
        second: String,
        at: Option<f64>,
    },
    /// Replaces the caption text; the structure is parsed from it, or it becomes free text.
    SetText {
        text: String,
    },
    /// Sets where the record stands in review.
    SetStatus {
        status: ReviewStatus,
    },
    /// Adds a comment to the record's thread (`event: None`) or to event `event`'s thread.
    AddComment {
        event: Option<usize>,
        comment: Comment,
    },
    /// Removes comment `index` from the record's thread or event `event`'s.
    RemoveComment {
        event: Option<usize>,
        index: usize,
    },
}

/// A text field of a caption record that an annotator types into. The editor sends what the
/// field holds as the annotator types; [`Document::apply_typing`](crate::Document::apply_typing)
/// makes one undo step of one burst of typing in one field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TextField {
    /// The caption text as a whole.
    Caption,
    /// A person's attribute phrase.
    Attributes { id: String },
    /// One structured field of a person.
    PersonDetail { id: String, field: PersonField },
    /// An event's action.
    Action { index: usize },
}

impl TextField {
    /// The field's text in `caption` (an unset person detail is empty); `None` when the field
    /// is not there (free text, or the person or event is gone).
    pub fn value(&self, caption: &CaptionRecord) -> Option<String> {
        let structure = caption.structure();
        match self {
            TextField::Caption => Some(caption.caption.clone()),
            TextField::Attributes { id } => Some(structure?.person(id)?.attributes.clone()),
            TextField::PersonDetail { id, field } => Some(
                structure?
                    .person(id)?
                    .detail(*field)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            TextField::Action { index } => Some(structure?.events.get(*index)?.action.clone()),
        }
    }

    /// The edit that sets the field to what the annotator typed. A person detail is stored
    /// trimmed, and typed empty it is removed from the record rather than saved as "".
    pub fn edit(&self, typed: &str) -> Edit {
        match self {
            TextField::Caption => Edit::SetText {
                text: typed.to_owned(),
            },
            TextField::Attributes { id } => Edit::SetAttributes {
                id: id.clone(),
                attributes: typed.to_owned(),
            },
            TextField::PersonDetail { id, field } => {
                let value = typed.trim();
                Edit::SetPersonField {
                    id: id.clone(),
                    field: *field,
                    value: (!value.is_empty()).then(|| value.to_owned()),
                }
            }
            TextField::Action { index } => Edit::SetAction {
                index: *index,
                action: typed.to_owned(),
            },
        }
    }

    /// What [`value`](Self::value) reads once `typed` is applied with [`edit`](Self::edit).
    pub fn stored(&self, typed: &str) -> String {
        match self {
            TextField::PersonDetail { .. } => typed.trim().to_owned(),
            _ => typed.to_owned(),
        }
    }
}

impl Edit {
    /// The text field this edit sets, when it sets one.
    pub fn text_field(&self) -> Option<TextField> {
        match self {
            Edit::SetText { .. } => Some(TextField::Caption),
            Edit::SetAttributes { id, .. } => Some(TextField::Attributes { id: id.clone() }),
            Edit::SetPersonField { id, field, .. } => Some(TextField::PersonDetail {
                id: id.clone(),
                field: *field,
            }),
            Edit::SetAction { index, .. } => Some(TextField::Action { index: *index }),
            _ => None,
        }
    }
}

/// The record after `edit`; the input is left alone so the caller can keep it for undo.
pub fn apply(caption: &CaptionRecord, edit: &Edit) -> Result<CaptionRecord, Error> {
    let mut next = caption.clone();
    // Review edits leave the caption's text and structure alone, so free text can be reviewed too.
    match edit {
        Edit::SetStatus { status } => {
            next.review.status = *status;
            return Ok(next);
        }
        Edit::AddComment {
            event: None,
            comment,
        } => {
            next.review.comments.push(comment.clone());
            return Ok(next);
        }
        Edit::RemoveComment { event: None, index } => {
            check(*index, next.review.comments.len(), "comment")?;
            next.review.comments.remove(*index);
            return Ok(next);
        }
        _ => {}
    }
    if let Edit::SetText { text } = edit {
        next.caption = text.clone();
        next.state = match text::parse(text) {
            Ok(structure) => TextState::Structured(structure),
            Err(error) => TextState::Free {
                reason: error.to_string(),
            },
        };
        next.had_structure_fields = false;
        return Ok(next);
    }
    let TextState::Structured(structure) = &mut next.state else {
        return Err(Error::command(
            "the caption is free text: set text that follows the HAIC format before editing people and events",
        ));
    };
    edit_structure(structure, edit)?;
    next.caption = text::render_like(structure, &caption.caption);
    Ok(next)
}

fn check(index: usize, len: usize, what: &str) -> Result<(), Error> {
    if index < len {
        Ok(())
    } else {
        Err(Error::command(format!(
            "there is no {what} {index} (there are {len})"
        )))
    }
}

fn person_index(structure: &Structure, id: &str) -> Result<usize, Error> {
    structure
        .people
        .iter()
        .position(|person| person.id == id)
        .ok_or_else(|| Error::command(format!("there is no person {id}")))
}

fn edit_structure(structure: &mut Structure, edit: &Edit) -> Result<(), Error> {
    let people = structure.people.len();
    let events = structure.events.len();
    match edit {
        Edit::AddPerson { person, at } => {
            if structure.person(&person.id).is_some() {
                return Err(Error::command(format!(
                    "person {} already exists",
                    person.id
                )));
            }
            let at = at.unwrap_or(people);
            check(at, people + 1, "person position")?;
            structure.people.insert(at, person.clone());
        }
        Edit::RemovePerson { id } => {
            let index = person_index(structure, id)?;
            structure.people.remove(index);
            for event in &mut structure.events {
                event.who.retain(|who| who != id);
                event.with.retain(|with| with != id);
            }
            structure.events.retain(|event| !event.who.is_empty());
        }
        Edit::MovePerson { from, to } => {
            check(*from, people, "person")?;
            check(*to, people, "person position")?;
            let person = structure.people.remove(*from);
            structure.people.insert(*to, person);
        }
        Edit::SetAttributes { id, attributes } => {
            let index = person_index(structure, id)?;
            structure.people[index].attributes = attributes.clone();
        }
        Edit::SetPersonField { id, field, value } => {
            let index = person_index(structure, id)?;
            *structure.people[index].detail_mut(*field) = value.clone();
        }
        Edit::AddEvent { event, at } => {
            check(*at, events + 1, "event position")?;
            structure.events.insert(*at, event.clone());
        }
        Edit::RemoveEvent { index } => {
            check(*index, events, "event")?;
            structure.events.remove(*index);
        }
        Edit::MoveEvent { from, to } => {
            check(*from, events, "event")?;
            check(*to, events, "event position")?;
            let event = structure.events.remove(*from);
            structure.events.insert(*to, event);
        }
        Edit::SetAction { index, action } => {
            check(*index, events, "event")?;
            structure.events[*index].action = action.clone();
        }
        Edit::SetWho { index, who } => {
            check(*index, events, "event")?;
            structure.events[*index].who = who.clone();
        }
        Edit::SetWith { index, with } => {
            check(*index, events, "event")?;
            structure.events[*index].with = with.clone();
        }
        Edit::SetTimes { index, start, end } => {
            check(*index, events, "event")?;
            structure.events[*index].start = *start;
            structure.events[*index].end = *end;
        }
        Edit::SortEventsByStart => {
            // `None` sorts after every time; a stable sort keeps the rest of the order.
            structure.events.sort_by(|a, b| match (a.start, b.start) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
        Edit::MergeEvents { index } => {
            check(*index + 1, events, "event")?;
            let second = structure.events.remove(*index + 1);
            let first = &mut structure.events[*index];
            if first.who != second.who {
                structure.events.insert(*index + 1, second);
                return Err(Error::command(format!(
                    "events {index} and {} have different subjects and cannot be merged",
                    index + 1
                )));
            }
            first.action = format!("{} and {}", first.action.trim(), second.action.trim());
            for target in second.with {
                if !first.with.contains(&target) {
                    first.with.push(target);
                }
            }
            first.start = min_time(first.start, second.start);
            first.end = max_time(first.end, second.end);
            first.comments.extend(second.comments);
            first.extra.extend(second.extra);
        }
        Edit::SplitEvent {
            index,
            first,
            second,
            at,
        } => {
            check(*index, events, "event")?;
            let original = &mut structure.events[*index];
            let mut next = original.clone();
            original.action = first.clone();
            next.action = second.clone();
            // The thread stays with the first half; copying it would double every remark.
            next.comments.clear();
            if let Some(at) = at {
                original.end = Some(*at);
                next.start = Some(*at);
            } else {
                next.start = None;
                next.end = None;
            }
            structure.events.insert(*index + 1, next);
        }
        Edit::AddComment {
            event: Some(index),
            comment,
        } => {
            check(*index, events, "event")?;
            structure.events[*index].comments.push(comment.clone());
        }
        Edit::RemoveComment {
            event: Some(event),
            index,
        } => {
            check(*event, events, "event")?;
            let comments = &mut structure.events[*event].comments;
            check(*index, comments.len(), "comment")?;
            comments.remove(*index);
        }
        Edit::SetText { .. }
        | Edit::SetStatus { .. }
        | Edit::AddComment { event: None, .. }
        | Edit::RemoveComment { event: None, .. } => unreachable!("handled by apply"),
    }
    Ok(())
}

fn min_time(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_time(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
