//! The caption and QA records as the editor sees them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One person in a clip, told apart by what can be seen of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Stable internal id (`P1`, `P2`, ...); never shown as a name in rendered text.
    pub id: String,
    /// The phrase that tells this person apart, e.g. "the young woman in a white crop top".
    pub attributes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hair: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shoes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessories: Option<String>,
    /// Fields of the person object this crate does not know, kept so that saving loses nothing.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Person {
    /// A person with only an id and an attribute phrase.
    pub fn new(id: impl Into<String>, attributes: impl Into<String>) -> Self {
        Person {
            id: id.into(),
            attributes: attributes.into(),
            gender: None,
            age: None,
            hair: None,
            upper: None,
            lower: None,
            shoes: None,
            accessories: None,
            extra: Map::new(),
        }
    }

    /// The value of one structured field.
    pub fn detail(&self, field: PersonField) -> Option<&str> {
        self.detail_slot(field).as_deref()
    }

    /// The slot of one structured field, so edits go through one match over the names.
    pub fn detail_mut(&mut self, field: PersonField) -> &mut Option<String> {
        match field {
            PersonField::Gender => &mut self.gender,
            PersonField::Age => &mut self.age,
            PersonField::Hair => &mut self.hair,
            PersonField::Upper => &mut self.upper,
            PersonField::Lower => &mut self.lower,
            PersonField::Shoes => &mut self.shoes,
            PersonField::Accessories => &mut self.accessories,
        }
    }

    fn detail_slot(&self, field: PersonField) -> &Option<String> {
        match field {
            PersonField::Gender => &self.gender,
            PersonField::Age => &self.age,
            PersonField::Hair => &self.hair,
            PersonField::Upper => &self.upper,
            PersonField::Lower => &self.lower,
            PersonField::Shoes => &self.shoes,
            PersonField::Accessories => &self.accessories,
        }
    }

    /// Whether anything beyond id and phrase is set: such data cannot live in caption text alone.
    pub fn has_structured_fields(&self) -> bool {
        [
            &self.gender,
            &self.age,
            &self.hair,
            &self.upper,
            &self.lower,
            &self.shoes,
            &self.accessories,
        ]
        .iter()
        .any(|field| field.is_some())
            || !self.extra.is_empty()
    }
}

/// A structured field of a [`Person`]: what an annotator fills in beside the attribute phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonField {
    Gender,
    Age,
    Hair,
    Upper,
    Lower,
    Shoes,
    Accessories,
}

impl PersonField {
    /// Every field, in the order the editor shows them (head to toe).
    pub const ALL: [PersonField; 7] = [
        PersonField::Gender,
        PersonField::Age,
        PersonField::Hair,
        PersonField::Upper,
        PersonField::Lower,
        PersonField::Shoes,
        PersonField::Accessories,
    ];

    /// The JSON key of the field, also its label in the editor.
    pub fn name(self) -> &'static str {
        match self {
            PersonField::Gender => "gender",
            PersonField::Age => "age",
            PersonField::Hair => "hair",
            PersonField::Upper => "upper",
            PersonField::Lower => "lower",
            PersonField::Shoes => "shoes",
            PersonField::Accessories => "accessories",
        }
    }
}

/// One action of one or more people, optionally aimed at others and optionally timed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Ids of the people doing the action (datasets may give a single string).
    #[serde(deserialize_with = "one_or_many")]
    pub who: Vec<String>,
    /// Verb phrase; interaction targets are appended after it when rendered.
    pub action: String,
    /// Ids of the people the action is aimed at.
    #[serde(
        default,
        rename = "with",
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub with: Vec<String>,
    /// Start in seconds (keye-studio's extension: HAIC text is ordered but not timed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Reviewers' comment thread on this event (keye-studio's extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Comment>,
    /// Fields of the event object this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Event {
    /// An untimed event without interaction targets.
    pub fn new(who: &[&str], action: impl Into<String>) -> Self {
        Event {
            who: who.iter().map(|id| id.to_string()).collect(),
            action: action.into(),
            with: Vec::new(),
            start: None,
            end: None,
            comments: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Builder: the people this action is aimed at.
    pub fn with(mut self, targets: &[&str]) -> Self {
        self.with = targets.iter().map(|id| id.to_string()).collect();
        self
    }

    /// Builder: the time span in seconds.
    pub fn timed(mut self, start: f64, end: f64) -> Self {
        self.start = Some(start);
        self.end = Some(end);
        self
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(id) => vec![id],
        OneOrMany::Many(ids) => ids,
    })
}

/// The people and events of a caption: what the text says, in a form the editor can change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Structure {
    pub people: Vec<Person>,
    pub events: Vec<Event>,
}

impl Structure {
    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.iter().find(|person| person.id == id)
    }

    /// The smallest `P<n>` id not in use, for a person added in the editor.
    pub fn next_person_id(&self) -> String {
        (1..)
            .map(|n| format!("P{n}"))
            .find(|id| self.person(id).is_none())
            .unwrap_or_default()
    }

    /// Whether saving needs the structure as JSON fields: timings and structured attributes
    /// have no place in caption text.
    pub fn needs_fields(&self) -> bool {
        self.people.iter().any(Person::has_structured_fields)
            || self.events.iter().any(|event| {
                event.start.is_some()
                    || event.end.is_some()
                    || !event.comments.is_empty()
                    || !event.extra.is_empty()
            })
    }
}

/// Whether a caption's text and structure agree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TextState {
    /// The structure is known (from fields or parsed from the text).
    Structured(Structure),
    /// The text does not follow the format; it is kept exactly as written.
    Free { reason: String },
}

/// A caption record: video reference, caption text and, where known, its structure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptionRecord {
    pub video: Option<String>,
    /// Duration of the clip in seconds, when the record states it.
    pub duration: Option<f64>,
    pub caption: String,
    pub state: TextState,
    /// Whether the input record had people/events fields (they are then kept on save).
    pub had_structure_fields: bool,
    /// Where the record stands in review, and the reviewers' comments on it.
    pub review: Review,
}

impl CaptionRecord {
    pub fn structure(&self) -> Option<&Structure> {
        match &self.state {
            TextState::Structured(structure) => Some(structure),
            TextState::Free { .. } => None,
        }
    }
}

/// The JSON key of a record's review (keye-studio's extension; other tools keep it as an unknown
/// field).
pub const REVIEW_FIELD: &str = "review";

/// Where a record stands in review.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    #[default]
    Todo,
    Done,
    Flagged,
    Approved,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 4] = [
        ReviewStatus::Todo,
        ReviewStatus::Done,
        ReviewStatus::Flagged,
        ReviewStatus::Approved,
    ];

    /// The word shown in the editor.
    pub fn label(self) -> &'static str {
        match self {
            ReviewStatus::Todo => "to do",
            ReviewStatus::Done => "done",
            ReviewStatus::Flagged => "flagged",
            ReviewStatus::Approved => "approved",
        }
    }
}

/// One remark in a reviewer thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub author: String,
    pub text: String,
    /// When it was written (RFC 3339), as the writer's clock said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// A record's review: its status and the comment thread on the record as a whole (threads on
/// single events live in [`Event::comments`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    #[serde(default)]
    pub status: ReviewStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Comment>,
    /// Fields of the review object this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The five HAICBench question categories.
pub const QA_CATEGORIES: [&str; 5] = [
    "Action Details",
    "Action Sequence",
    "Interaction",
    "Count",
    "Attribute",
];

/// A HAICBench-style multiple-choice question about a clip.
#[derive(Clone, Debug, PartialEq)]
pub struct QaRecord {
    pub video: Option<String>,
    pub question: String,
    /// Option texts in order A, B, C, D (as many as the file had; validation wants four).
    pub options: Vec<String>,
    pub answer: String,
    pub category: String,
}

impl QaRecord {
    /// Option text without a leading "A." / "(B)" label, for comparing options with each other.
    pub fn option_body(option: &str) -> &str {
        let trimmed = option.trim();
        let unlabelled = trimmed
            .strip_prefix('(')
            .and_then(|rest| {
                rest.get(1..)
                    .filter(|_| rest.starts_with(['A', 'B', 'C', 'D']))
            })
            .and_then(|rest| rest.strip_prefix(')'))
            .or_else(|| {
                trimmed
                    .get(1..)
                    .filter(|_| trimmed.starts_with(['A', 'B', 'C', 'D']))
                    .and_then(|rest| rest.strip_prefix(['.', ':', ')']))
            });
        unlabelled.map_or(trimmed, str::trim)
    }
}

/// A record of a caption file.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Caption(CaptionRecord),
    Qa(QaRecord),
}
