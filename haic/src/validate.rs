//! The HAIC rules, each with a stable code, a message and the place in the record it concerns.

use std::{collections::HashMap, fmt};

use serde::Serialize;

use crate::{
    file::CaptionFile,
    model::{CaptionRecord, QA_CATEGORIES, QaRecord, Record, Structure, TextState},
    text,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// The rules. Codes are stable: tools and the editor key on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Rule {
    /// An event names a person id that is not declared.
    UnknownPerson,
    /// A declared person does no action and is in no interaction.
    UnusedPerson,
    /// Two people have the same attribute description, so the text cannot tell them apart.
    DuplicateAttributes,
    /// Two people share an id.
    DuplicatePersonId,
    /// A person has no attribute description.
    EmptyAttributes,
    /// An event has no subject.
    NoSubject,
    /// An event has an empty action.
    EmptyAction,
    /// An event starts before the one listed before it.
    NotChronological,
    /// An event ends before it starts.
    EndBeforeStart,
    /// An event lies (partly) outside the video, or has a negative or non-finite time.
    OutsideVideo,
    /// The caption text does not follow the format; it is kept as free text.
    FreeText,
    /// The caption text is not the canonical rendering of its structure (`fmt` rewrites it).
    NotCanonical,
    /// A question does not have exactly four options.
    OptionCount,
    /// Two options of a question are the same.
    DuplicateOptions,
    /// The answer is not one of the letters A-D.
    BadAnswer,
    /// The category is not one of the five HAICBench categories.
    BadCategory,
    /// The question text is empty.
    EmptyQuestion,
}

impl Rule {
    pub fn code(self) -> &'static str {
        match self {
            Rule::UnknownPerson => "unknown-person",
            Rule::UnusedPerson => "unused-person",
            Rule::DuplicateAttributes => "duplicate-attributes",
            Rule::DuplicatePersonId => "duplicate-person-id",
            Rule::EmptyAttributes => "empty-attributes",
            Rule::NoSubject => "no-subject",
            Rule::EmptyAction => "empty-action",
            Rule::NotChronological => "not-chronological",
            Rule::EndBeforeStart => "end-before-start",
            Rule::OutsideVideo => "outside-video",
            Rule::FreeText => "free-text",
            Rule::NotCanonical => "not-canonical",
            Rule::OptionCount => "option-count",
            Rule::DuplicateOptions => "duplicate-options",
            Rule::BadAnswer => "bad-answer",
            Rule::BadCategory => "bad-category",
            Rule::EmptyQuestion => "empty-question",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Rule::FreeText | Rule::NotCanonical => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// One broken rule in one record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    #[serde(serialize_with = "code")]
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    /// Where in the record: `events[2].who[0]`, `people[1]`, `options`, ...
    pub path: String,
}

fn code<S: serde::Serializer>(rule: &Rule, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(rule.code())
}

impl Finding {
    fn new(rule: Rule, path: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            rule,
            severity: rule.severity(),
            message: message.into(),
            path: path.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{severity}[{}] {}: {}",
            self.rule.code(),
            self.path,
            self.message
        )
    }
}

/// A finding with the record it is in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordFinding {
    /// 0-based record index.
    pub record: usize,
    /// 1-based line where the record starts.
    pub line: usize,
    #[serde(flatten)]
    pub finding: Finding,
}

/// Checks every readable record of a file. `duration` gives a clip's length by video reference
/// where the caller knows it (the record's own duration field is used otherwise).
pub fn validate_file(
    file: &CaptionFile,
    duration: &dyn Fn(Option<&str>) -> Option<f64>,
) -> Vec<RecordFinding> {
    file.records()
        .flat_map(|(index, record)| {
            let findings = match record {
                Record::Caption(caption) => {
                    let known = caption
                        .duration
                        .or_else(|| duration(caption.video.as_deref()));
                    validate_caption(caption, known)
                }
                Record::Qa(qa) => validate_qa(qa),
            };
            let line = file.line_of(index).unwrap_or_default();
            findings.into_iter().map(move |finding| RecordFinding {
                record: index,
                line,
                finding,
            })
        })
        .collect()
}

/// Checks a caption record: its structure, and whether its text is free or not canonical.
pub fn validate_caption(caption: &CaptionRecord, duration: Option<f64>) -> Vec<Finding> {
    // Messages about the caption text speak the text's language.
    let chinese = text::Language::of_text(&caption.caption) == Some(text::Language::Chinese);
    match &caption.state {
        TextState::Free { reason } => vec![Finding::new(
            Rule::FreeText,
            "caption",
            if chinese {
                format!("字幕不符合 HAIC 结构，按自由文本保留：{reason}")
            } else {
                format!(
                    "the caption does not follow the HAIC structure and is kept as free text: {reason}"
                )
            },
        )],
        TextState::Structured(structure) => {
            let mut findings = validate_structure(structure, duration);
            if caption.caption != text::render_like(structure, &caption.caption) {
                findings.push(Finding::new(
                    Rule::NotCanonical,
                    "caption",
                    if chinese {
                        "字幕文字不是其人物和动作的规范写法（`keye-studio captions fmt` 会改写）"
                    } else {
                        "the caption text is not the canonical rendering of its people and events (`keye-studio captions fmt` rewrites it)"
                    },
                ));
            }
            findings
        }
    }
}

/// Checks people and events against the HAIC rules. A structure written in Chinese is told
/// about in Chinese (ids, paths and rule codes stay as they are).
pub fn validate_structure(structure: &Structure, duration: Option<f64>) -> Vec<Finding> {
    let chinese = text::Language::of_structure(structure) == Some(text::Language::Chinese);
    let say = |english: String, chinese_text: String| if chinese { chinese_text } else { english };
    let mut findings = Vec::new();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut phrases: HashMap<String, usize> = HashMap::new();
    for (index, person) in structure.people.iter().enumerate() {
        let path = format!("people[{index}]");
        if let Some(first) = ids.insert(&person.id, index) {
            findings.push(Finding::new(
                Rule::DuplicatePersonId,
                format!("{path}.id"),
                say(
                    format!("id \"{}\" is already used by people[{first}]", person.id),
                    format!("编号“{}”已被 people[{first}] 使用", person.id),
                ),
            ));
        }
        let phrase = normalize(&person.attributes);
        if phrase.is_empty() {
            findings.push(Finding::new(
                Rule::EmptyAttributes,
                format!("{path}.attributes"),
                say(
                    format!("person {} has no attribute description", person.id),
                    format!("人物 {} 没有属性描述", person.id),
                ),
            ));
        } else if let Some(&first) = phrases.get(&phrase) {
            findings.push(Finding::new(
                Rule::DuplicateAttributes,
                format!("{path}.attributes"),
                say(
                    format!(
                        "person {} has the same description as {} (\"{}\"): the text cannot tell them apart",
                        person.id, structure.people[first].id, person.attributes.trim()
                    ),
                    format!(
                        "人物 {} 的描述与 {} 相同（“{}”），文字无法区分二者",
                        person.id, structure.people[first].id, person.attributes.trim()
                    ),
                ),
            ));
        } else {
            phrases.insert(phrase, index);
        }
        let acts = structure
            .events
            .iter()
            .any(|event| event.who.contains(&person.id) || event.with.contains(&person.id));
        if !acts {
            findings.push(Finding::new(
                Rule::UnusedPerson,
                path,
                say(
                    format!("person {} appears in no event", person.id),
                    format!("人物 {} 没有出现在任何动作中", person.id),
                ),
            ));
        }
    }
    let mut previous_start: Option<(usize, f64)> = None;
    for (index, event) in structure.events.iter().enumerate() {
        let path = format!("events[{index}]");
        if event.who.is_empty() {
            findings.push(Finding::new(
                Rule::NoSubject,
                format!("{path}.who"),
                say("the event has no subject".into(), "该动作没有主语".into()),
            ));
        }
        for (list, ids_in_list) in [("who", &event.who), ("with", &event.with)] {
            for (position, id) in ids_in_list.iter().enumerate() {
                if structure.person(id).is_none() {
                    findings.push(Finding::new(
                        Rule::UnknownPerson,
                        format!("{path}.{list}[{position}]"),
                        say(
                            format!("\"{id}\" is not a declared person"),
                            format!("“{id}”不是已声明的人物"),
                        ),
                    ));
                }
            }
        }
        if event.action.trim().is_empty() {
            findings.push(Finding::new(
                Rule::EmptyAction,
                format!("{path}.action"),
                say("empty action".into(), "动作为空".into()),
            ));
        }
        for (name, time) in [("start", event.start), ("end", event.end)] {
            let Some(time) = time else { continue };
            let outside =
                !time.is_finite() || time < 0.0 || duration.is_some_and(|duration| time > duration);
            if outside {
                let limit =
                    duration.map_or_else(String::new, |duration| format!(" of {duration} s"));
                let limit_zh = duration
                    .map_or_else(String::new, |duration| format!("（视频长 {duration} 秒）"));
                let name_zh = if name == "start" { "开始" } else { "结束" };
                findings.push(Finding::new(
                    Rule::OutsideVideo,
                    format!("{path}.{name}"),
                    say(
                        format!("{name} {time} s lies outside the video{limit}"),
                        format!("{name_zh}时间 {time} 秒超出视频范围{limit_zh}"),
                    ),
                ));
            }
        }
        if let (Some(start), Some(end)) = (event.start, event.end)
            && end < start
        {
            findings.push(Finding::new(
                Rule::EndBeforeStart,
                format!("{path}.end"),
                say(
                    format!("ends at {end} s, before its start at {start} s"),
                    format!("结束于 {end} 秒，早于开始时间 {start} 秒"),
                ),
            ));
        }
        if let Some(start) = event.start {
            if let Some((before, before_start)) = previous_start
                && start < before_start
            {
                findings.push(Finding::new(
                    Rule::NotChronological,
                    format!("{path}.start"),
                    say(
                        format!("starts at {start} s, before events[{before}] at {before_start} s"),
                        format!("开始于 {start} 秒，早于 events[{before}] 的 {before_start} 秒"),
                    ),
                ));
            }
            previous_start = Some((index, start));
        }
    }
    findings
}

fn normalize(phrase: &str) -> String {
    phrase
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches('.')
        .to_lowercase()
}

/// Checks a multiple-choice question.
pub fn validate_qa(qa: &QaRecord) -> Vec<Finding> {
    let mut findings = Vec::new();
    if qa.question.trim().is_empty() {
        findings.push(Finding::new(
            Rule::EmptyQuestion,
            "question",
            "empty question",
        ));
    }
    if qa.options.len() != 4 {
        findings.push(Finding::new(
            Rule::OptionCount,
            "options",
            format!(
                "{} options; a question has exactly four (A-D)",
                qa.options.len()
            ),
        ));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, option) in qa.options.iter().enumerate() {
        let body = normalize(QaRecord::option_body(option));
        if let Some(first) = seen.insert(body, index) {
            findings.push(Finding::new(
                Rule::DuplicateOptions,
                format!("options[{index}]"),
                format!("option {} repeats option {}", letter(index), letter(first)),
            ));
        }
    }
    if !matches!(qa.answer.trim(), "A" | "B" | "C" | "D") {
        findings.push(Finding::new(
            Rule::BadAnswer,
            "answer",
            format!(
                "answer \"{}\" is not one of the letters A, B, C, D",
                qa.answer
            ),
        ));
    }
    if !QA_CATEGORIES.contains(&qa.category.as_str()) {
        findings.push(Finding::new(
            Rule::BadCategory,
            "category",
            format!(
                "category \"{}\" is not one of: {}",
                qa.category,
                QA_CATEGORIES.join(", ")
            ),
        ));
    }
    findings
}

fn letter(index: usize) -> char {
    char::from(b'A' + (index % 26) as u8)
}
