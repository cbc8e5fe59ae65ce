//! HAIC human-action captions: the record types, canonical caption text (render and parse),
//! validation, lossless JSON/JSONL files, an editing session with undo and a crash journal, and
//! exports. See `README.md` in this crate for the format.

pub mod agree;
pub mod document;
pub mod draft;
pub mod edit;
pub mod error;
pub mod export;
pub mod file;
pub mod model;
pub mod save;
mod scan;
pub mod stats;
pub mod text;
pub mod validate;

pub use document::{Change, Document, Recovery};
pub use edit::{Command, Edit, TextField};
pub use error::{Error, Problem, ProblemKind};
pub use file::{CaptionFile, FieldNames, Format, Phase, Progress, STREAMING_THRESHOLD};
pub use model::{
    CaptionRecord, Comment, Event, Person, PersonField, QA_CATEGORIES, QaRecord, REVIEW_FIELD,
    Record, Review, ReviewStatus, Structure, TextState,
};
pub use validate::{Finding, RecordFinding, Rule, Severity};
