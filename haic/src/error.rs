//! Errors of the library: file-level failures ([`Error`]) and per-record load problems
//! ([`Problem`]), which are reported while the good records still load.

use std::{fmt, path::PathBuf};

/// A failure that stops an operation on a whole file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: loading was cancelled")]
    Cancelled { path: PathBuf },
    #[error(
        "{path}: not saved, because the file's structure is broken ({problem}); fix the file by hand first so nothing is lost"
    )]
    BrokenStructure { path: PathBuf, problem: String },
    #[error(
        "{path}: record {record} (line {line}) could not be read ({problem}); it cannot be converted to another format"
    )]
    BadRecordInConversion {
        path: PathBuf,
        record: usize,
        line: usize,
        problem: String,
    },
    #[error("{path}: record {record} does not exist (the file has {count})")]
    NoSuchRecord {
        path: PathBuf,
        record: usize,
        count: usize,
    },
    #[error("{path}: record {record} is not a caption record")]
    NotACaption { path: PathBuf, record: usize },
    #[error("{path}: {message}")]
    Journal { path: PathBuf, message: String },
    #[error("{message}")]
    Command { message: String },
    #[error("{path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn command(message: impl Into<String>) -> Self {
        Error::Command {
            message: message.into(),
        }
    }
}

/// What is wrong with one record (or with the file's structure around the records).
#[derive(Clone, Debug, PartialEq)]
pub enum ProblemKind {
    /// The file ends before its array or object is closed.
    FileTruncated,
    /// The record ends inside a value (a JSON Lines line cut short).
    Truncated,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// JSON syntax error.
    Syntax(String),
    /// A key occurs twice in one object (JSON parsers would silently keep only the last).
    DuplicateKey(String),
    /// A known field has the wrong JSON type.
    WrongType {
        field: String,
        expected: String,
        found: String,
    },
    /// The record is not an object, or has neither a caption nor a question.
    NotARecord(String),
}

impl ProblemKind {
    /// Problems in the structure around the records: the file cannot be written back safely.
    pub fn is_structural(&self) -> bool {
        matches!(self, ProblemKind::FileTruncated)
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::FileTruncated => {
                write!(
                    f,
                    "truncated JSON: the file ends before its records are closed"
                )
            }
            ProblemKind::Truncated => write!(f, "truncated JSON: the record ends inside a value"),
            ProblemKind::InvalidUtf8 => write!(f, "invalid UTF-8"),
            ProblemKind::Syntax(message) => write!(f, "JSON syntax error: {message}"),
            ProblemKind::DuplicateKey(key) => write!(f, "duplicate key \"{key}\""),
            ProblemKind::WrongType {
                field,
                expected,
                found,
            } => write!(f, "field \"{field}\" must be {expected}, found {found}"),
            ProblemKind::NotARecord(message) => write!(f, "{message}"),
        }
    }
}

/// A load problem with its place: the record is skipped (and kept byte for byte on save).
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column of the problem in the file.
    pub line: usize,
    pub column: usize,
    /// 0-based index of the record it concerns, when it concerns one.
    pub record: Option<usize>,
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if let Some(record) = self.record {
            write!(f, "record {record}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}
