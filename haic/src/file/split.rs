//! Splitting a file into record spans: JSON arrays, single objects, objects keyed by video, and
//! JSON Lines, recovering from layout problems so one bad record does not take the others with
//! it.

use std::ops::Range;

use super::{FieldNames, Format, UTF8_BOM};
use crate::{
    error::ProblemKind,
    scan::{self, TopLevel},
};

/// One piece of a file.
pub(super) enum Split {
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
pub(super) fn split_records(
    bytes: &[u8],
    by_name: Format,
    fields: &FieldNames,
) -> (Format, Vec<Split>) {
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
        // A scalar on the first line of a JSON Lines file is one bad line among the others.
        Some(_) if by_name == Format::JsonLines => (Format::JsonLines, split_lines(bytes, body)),
        Some(_) => {
            // The whole file is one value that holds no record: it is reported as one bad
            // record, so saving copies it as it is and converting refuses it, like any other.
            let end = trim_end(bytes);
            let what = std::str::from_utf8(&bytes[first..end])
                .ok()
                .and_then(|text| match scan::parse_record(text) {
                    Ok(TopLevel::Other(kind)) => Some(kind),
                    _ => None,
                });
            let message = match what {
                Some(kind) => format!(
                    "the file holds {kind}, not caption records (a JSON array or object of records, or JSON Lines)"
                ),
                None => "not a JSON array, JSON object or JSON Lines file".into(),
            };
            (
                by_name,
                vec![Split::Problem {
                    offset: first,
                    kind: ProblemKind::NotARecord(message),
                    span: Some(first..end),
                }],
            )
        }
    }
}

/// The end of `bytes` without trailing whitespace.
fn trim_end(bytes: &[u8]) -> usize {
    bytes.len()
        - bytes
            .iter()
            .rev()
            .take_while(|byte| byte.is_ascii_whitespace())
            .count()
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
