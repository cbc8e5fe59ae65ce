//! Errors of the library: file-level failures ([`Error`]) and per-record load problems
//! ([`Problem`]), which are reported while the good records still load.

use std::{fmt, path::PathBuf};

/// A failure that stops an operation on a whole file. Each message says the cause once: the
/// I/O and CSV errors are shown in the message and not chained again as a source, so a report
/// that prints the whole chain does not repeat them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: loading was cancelled")]
    Cancelled { path: PathBuf },
    #[error(
        "{}:{}:{}: {}; not written, because the file's structure is broken (fix it by hand first so nothing is lost)",
        problem.file.display(), problem.line, problem.column, problem.kind
    )]
    BrokenStructure { problem: Box<Problem> },
    /// Converting would leave out what could not be read (a bad record, or text between
    /// records); the problem is the first one in the file.
    #[error(
        "{}; not converted, because the other format cannot keep what could not be read",
        problem
    )]
    NotConvertible { problem: Box<Problem> },
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
    #[error("{path}: {error}")]
    Csv { path: PathBuf, error: csv::Error },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
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
    /// A part of a field (an item of `people`, `events` or `options`, or one of its fields), named
    /// by its path (`events[1].who`), is not what the format needs.
    InvalidItem { path: String, problem: String },
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
            ProblemKind::InvalidItem { path, problem } => write!(f, "{path} {problem}"),
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
