//! HAICBench's question records: a video, a question, four options (A-D), the answer and one of
//! the five categories. Files are JSON Lines (one record a line) or a JSON array. A bad record
//! is reported with the file, its line (or place in the array) and its id, and skipped; the rest
//! are evaluated.

use std::{
    collections::HashSet,
    fmt,
    path::{Path, PathBuf},
};

use serde::Serialize;
use serde_json::Value;

/// The five HAICBench categories.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum Category {
    #[serde(rename = "action details")]
    ActionDetails,
    #[serde(rename = "action sequence")]
    ActionSequence,
    #[serde(rename = "interaction")]
    Interaction,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "attribute")]
    Attribute,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::ActionDetails,
        Category::ActionSequence,
        Category::Interaction,
        Category::Count,
        Category::Attribute,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::ActionDetails => "action details",
            Category::ActionSequence => "action sequence",
            Category::Interaction => "interaction",
            Category::Count => "count",
            Category::Attribute => "attribute",
        }
    }

    /// Reads a category as files spell it: any case, with spaces, `_` or `-` between the words
    /// ("Action Details", "action_details").
    pub fn parse(text: &str) -> Option<Category> {
        let words: Vec<String> = text
            .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let joined = words.join(" ");
        Category::ALL.into_iter().find(|c| c.name() == joined)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One four-option question.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QaItem {
    pub id: String,
    /// The video as the file names it (a path relative to the videos folder, or a file name).
    pub video: String,
    pub question: String,
    /// Option texts A, B, C, D (without "A." labels).
    pub options: [String; 4],
    /// The right option: 0 for A ... 3 for D.
    pub answer: usize,
    pub category: Category,
}

impl QaItem {
    pub fn answer_letter(&self) -> char {
        letter(self.answer)
    }
}

/// The letter of option `index` (0 is A).
pub fn letter(index: usize) -> char {
    char::from(b'A' + (index % 26) as u8)
}

/// A record that was not read, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QaProblem {
    pub path: PathBuf,
    /// 1-based line of the record (JSON Lines), or its 1-based place in a JSON array.
    pub line: usize,
    pub in_array: bool,
    pub id: Option<String>,
    pub message: String,
}

impl fmt::Display for QaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = if self.in_array {
            format!("{}: record {} of the array", self.path.display(), self.line)
        } else {
            format!("{}:{}", self.path.display(), self.line)
        };
        match &self.id {
            Some(id) => write!(f, "{place}: record \"{id}\": {}", self.message),
            None => write!(f, "{place}: {}", self.message),
        }
    }
}

/// The questions read from a file, and the records that were skipped.
#[derive(Clone, Debug, Default)]
pub struct QaSet {
    pub items: Vec<QaItem>,
    pub problems: Vec<QaProblem>,
}

impl QaSet {
    /// The questions about `video` (compared as [`same_video`] does).
    pub fn for_video<'a>(&'a self, video: &'a str) -> impl Iterator<Item = &'a QaItem> + 'a {
        self.items
            .iter()
            .filter(move |q| same_video(&q.video, video))
    }
}

/// Why a QA file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum QaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a JSON array of question records: {message}")]
    NotAnArray { path: PathBuf, message: String },
}

/// Whether two video references name the same clip: equal, or equal file names when either is
/// a bare file name (`0001.mp4` and `videos/0001.mp4`).
pub fn same_video(a: &str, b: &str) -> bool {
    let name = |s: &str| {
        Path::new(s.trim())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    a.trim() == b.trim() || (!name(a).is_empty() && name(a) == name(b))
}

/// Reads a QA file: JSON Lines (`.jsonl`, `.ndjson`, or any file whose first character is not
/// `[`) or a JSON array.
pub fn read_qa(path: &Path) -> Result<QaSet, QaError> {
    let text = std::fs::read_to_string(path).map_err(|source| QaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_qa(path, &text)
}

/// Reads QA records from `text` (the contents of `path`, which names the file in problems).
pub fn parse_qa(path: &Path, text: &str) -> Result<QaSet, QaError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut set = QaSet::default();
    let mut seen = HashSet::new();
    if text.trim_start().starts_with('[') {
        let records: Vec<Value> = serde_json::from_str(text).map_err(|e| QaError::NotAnArray {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        for (index, value) in records.iter().enumerate() {
            take(
                &mut set,
                &mut seen,
                path,
                index + 1,
                true,
                Ok(value.clone()),
            );
        }
    } else {
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value = serde_json::from_str::<Value>(line).map_err(|e| e.to_string());
            take(&mut set, &mut seen, path, index + 1, false, value);
        }
    }
    Ok(set)
}

/// The questions among a caption file's records (HAIC files may hold QA records too): bad
/// ones are reported by line, as a QA file's are. A record has no id there, so its line is.
pub fn from_caption_file(file: &haic::CaptionFile) -> QaSet {
    let mut set = QaSet::default();
    let mut seen = HashSet::new();
    for (index, record) in file.records() {
        let haic::Record::Qa(qa) = record else {
            continue;
        };
        let line = file.line_of(index).unwrap_or(index + 1);
        let value = serde_json::json!({
            "id": format!("line {line}"),
            "video": qa.video,
            "question": qa.question,
            "options": qa.options,
            "answer": qa.answer,
            "category": qa.category,
        });
        take(&mut set, &mut seen, file.path(), line, false, Ok(value));
    }
    set
}

fn take(
    set: &mut QaSet,
    seen: &mut HashSet<String>,
    path: &Path,
    line: usize,
    in_array: bool,
    value: Result<Value, String>,
) {
    let id = value.as_ref().ok().and_then(|v| id_of(v.get("id")?));
    let problem = |message: String| QaProblem {
        path: path.to_path_buf(),
        line,
        in_array,
        id: id.clone(),
        message,
    };
    let item = match value {
        Err(message) => Err(format!("not a JSON record: {message}")),
        Ok(value) => read_item(&value),
    };
    match item {
        Err(message) => set.problems.push(problem(message)),
        Ok(item) if !seen.insert(item.id.clone()) => set.problems.push(problem(format!(
            "duplicate id \"{}\" (an earlier record has it; this one is skipped)",
            item.id
        ))),
        Ok(item) => set.items.push(item),
    }
}

fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_item(value: &Value) -> Result<QaItem, String> {
    let object = value
        .as_object()
        .ok_or_else(|| "a record must be a JSON object".to_string())?;
    let text = |field: &str| -> Result<String, String> {
        match object.get(field) {
            None | Some(Value::Null) => Err(format!("missing field \"{field}\"")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(format!("field \"{field}\" is empty"))
            }
            Some(Value::String(s)) => Ok(s.trim().to_string()),
            Some(other) => Err(format!("field \"{field}\" must be a string, found {other}")),
        }
    };
    let id = match object.get("id") {
        None | Some(Value::Null) => return Err("missing field \"id\"".into()),
        Some(value) => id_of(value).ok_or("field \"id\" must be a non-empty string or a number")?,
    };
    let video = text("video")?;
    let question = text("question")?;
    let options = read_options(object.get("options"))?;
    let category_text = text("category")?;
    let category = Category::parse(&category_text).ok_or_else(|| {
        format!(
            "unknown category \"{category_text}\" (one of: {})",
            Category::ALL.map(Category::name).join(", ")
        )
    })?;
    let answer = read_answer(&text("answer")?, &options)?;
    Ok(QaItem {
        id,
        video,
        question,
        options,
        answer,
        category,
    })
}

/// Four options: an array of four strings, or an object with keys A-D; "A." labels are dropped.
fn read_options(value: Option<&Value>) -> Result<[String; 4], String> {
    let texts: Vec<&Value> = match value {
        None | Some(Value::Null) => return Err("missing field \"options\"".into()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(map)) => {
            let mut items = Vec::new();
            for key in ["A", "B", "C", "D"] {
                let item = map
                    .get(key)
                    .or_else(|| map.get(&key.to_lowercase()))
                    .ok_or_else(|| format!("field \"options\" has no option {key}"))?;
                items.push(item);
            }
            if map.len() != 4 {
                return Err(format!(
                    "field \"options\" has {} options; a question has exactly four (A-D)",
                    map.len()
                ));
            }
            items
        }
        Some(other) => {
            return Err(format!(
                "field \"options\" must be an array of four strings, found {other}"
            ));
        }
    };
    if texts.len() != 4 {
        return Err(format!(
            "field \"options\" has {} options; a question has exactly four (A-D)",
            texts.len()
        ));
    }
    let mut options: [String; 4] = Default::default();
    for (index, value) in texts.into_iter().enumerate() {
        let Value::String(text) = value else {
            return Err(format!(
                "option {} must be a string, found {value}",
                letter(index)
            ));
        };
        let body = haic::QaRecord::option_body(text).trim().to_string();
        if body.is_empty() {
            return Err(format!("option {} is empty", letter(index)));
        }
        if let Some(first) = options[..index].iter().position(|o| o == &body) {
            return Err(format!(
                "option {} repeats option {} (\"{body}\")",
                letter(index),
                letter(first)
            ));
        }
        options[index] = body;
    }
    Ok(options)
}

/// The answer as a letter ("B", "(B)", "B.") or as the text of one of the options.
fn read_answer(answer: &str, options: &[String; 4]) -> Result<usize, String> {
    let bare = answer
        .trim()
        .trim_start_matches('(')
        .trim_end_matches([')', '.', ':'])
        .trim();
    if bare.len() == 1
        && let Some(index) = "ABCD".find(bare.to_ascii_uppercase().as_str())
    {
        return Ok(index);
    }
    let body = haic::QaRecord::option_body(answer);
    options
        .iter()
        .position(|o| o.eq_ignore_ascii_case(body))
        .ok_or_else(|| {
            format!(
                "answer \"{answer}\" is not among the options (a letter A-D or one option's text)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> QaSet {
        parse_qa(Path::new("qa.jsonl"), text).unwrap()
    }

    const GOOD: &str = r#"{"id":"q1","video":"a.mp4","question":"What?","options":["red","blue","green","black"],"answer":"B","category":"Attribute"}"#;

    #[test]
    fn reads_letters_texts_labels_and_category_spellings() {
        let set = parse(&format!(
            "{GOOD}\n\n{}\n",
            r#"{"id":7,"video":"b.mp4","question":"How many?","options":{"A":"A. one","B":"B. two","C":"C. three","D":"D. four"},"answer":"three","category":"action_details"}"#
        ));
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        assert_eq!(set.items[0].answer, 1);
        assert_eq!(set.items[1].id, "7");
        assert_eq!(set.items[1].options[2], "three");
        assert_eq!(set.items[1].answer, 2);
        assert_eq!(set.items[1].category, Category::ActionDetails);
    }

    #[test]
    fn bad_records_name_file_line_and_id_and_the_rest_are_kept() {
        let text = [
            GOOD,
            r#"{"id":"q2","video":"a.mp4","question":"What?","options":["red","blue","green","black"],"answer":"E","category":"Attribute"}"#,
            r#"{"id":"q3","video":"a.mp4","question":"What?","options":["red","blue","green","black"],"answer":"A","category":"Mood"}"#,
            r#"{"id":"q1","video":"a.mp4","question":"Again?","options":["red","blue","green","black"],"answer":"A","category":"Count"}"#,
            r#"{"id":"q5","video":"a.mp4","options":["red","blue","green","black"],"answer":"A","category":"Count"}"#,
            r#"{"id":"q6","video":"a.mp4","question":"What?","options":["red","blue","green"],"answer":"A","category":"Count"}"#,
            r#"{"id":"q7", broken"#,
            r#"{"id":"q8","video":"a.mp4","question":"What?","options":["red","blue","green","black"],"answer":"black","category":"count"}"#,
        ]
        .join("\n");
        let set = parse(&text);
        let ids: Vec<&str> = set.items.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["q1", "q8"]);
        let messages: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 6, "{messages:#?}");
        assert!(messages[0].starts_with("qa.jsonl:2: record \"q2\": answer \"E\" is not among"));
        assert!(messages[1].starts_with("qa.jsonl:3: record \"q3\": unknown category \"Mood\""));
        assert!(messages[2].starts_with("qa.jsonl:4: record \"q1\": duplicate id"));
        assert_eq!(
            messages[3],
            "qa.jsonl:5: record \"q5\": missing field \"question\""
        );
        assert!(messages[4].contains("3 options; a question has exactly four"));
        assert!(messages[5].starts_with("qa.jsonl:7: not a JSON record"));
    }

    #[test]
    fn arrays_are_read_and_places_named() {
        let set = parse(&format!("[{GOOD}, {{\"id\":\"x\"}}]"));
        assert_eq!(set.items.len(), 1);
        assert_eq!(
            set.problems[0].to_string(),
            "qa.jsonl: record 2 of the array: record \"x\": missing field \"video\""
        );
    }

    #[test]
    fn videos_match_by_file_name() {
        assert!(same_video("videos/0001.mp4", "0001.mp4"));
        assert!(!same_video("0001.mp4", "0002.mp4"));
    }
}
