//! The Chinese caption check: every Chinese text field of a record scored with Mengzi's masked
//! LM ([`MengziModel::score_characters`]), suspects kept with their field, character offset and
//! suggestions, and the edit that puts a suggestion in place (one undoable command).

use haic::{CaptionRecord, Command, PersonField, QaRecord, Record, TextField};
use keye_model::mengzi::{CharacterScore, CheckOptions, MengziModel, check::has_chinese};

/// A text field of a record, as the check reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldText {
    /// Where in the record, as `captions validate` says it: `caption`, `people[1].attributes`,
    /// `events[2].action`, `question`, `options[0]`.
    pub path: String,
    /// The editor's handle on the field (QA fields have none: the editor does not edit them).
    pub field: Option<TextField>,
    pub text: String,
}

/// The text fields of a record, as written in the file: a caption's people and event fields when
/// the record has them (its text is rendered from them), else its caption text; a question's
/// text and options.
pub fn text_fields(record: &Record) -> Vec<FieldText> {
    match record {
        Record::Caption(caption) => caption_fields(caption),
        Record::Qa(qa) => qa_fields(qa),
    }
}

fn caption_fields(caption: &CaptionRecord) -> Vec<FieldText> {
    let structure = match caption.structure() {
        Some(structure) if caption.had_structure_fields => structure,
        _ => {
            return vec![FieldText {
                path: "caption".into(),
                field: Some(TextField::Caption),
                text: caption.caption.clone(),
            }];
        }
    };
    let mut fields = Vec::new();
    for (index, person) in structure.people.iter().enumerate() {
        fields.push(FieldText {
            path: format!("people[{index}].attributes"),
            field: Some(TextField::Attributes {
                id: person.id.clone(),
            }),
            text: person.attributes.clone(),
        });
        for detail in PersonField::ALL {
            if let Some(value) = person.detail(detail) {
                fields.push(FieldText {
                    path: format!("people[{index}].{}", detail.name()),
                    field: Some(TextField::PersonDetail {
                        id: person.id.clone(),
                        field: detail,
                    }),
                    text: value.to_owned(),
                });
            }
        }
    }
    for (index, event) in structure.events.iter().enumerate() {
        fields.push(FieldText {
            path: format!("events[{index}].action"),
            field: Some(TextField::Action { index }),
            text: event.action.clone(),
        });
    }
    fields
}

fn qa_fields(qa: &QaRecord) -> Vec<FieldText> {
    std::iter::once(FieldText {
        path: "question".into(),
        field: None,
        text: qa.question.clone(),
    })
    .chain(qa.options.iter().enumerate().map(|(i, option)| FieldText {
        path: format!("options[{i}]"),
        field: None,
        text: option.clone(),
    }))
    .collect()
}

/// A character the model finds unlikely where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspect {
    pub record: usize,
    pub path: String,
    pub field: Option<TextField>,
    /// The field's text when it was checked (fixes apply only while it is unchanged).
    pub text: String,
    pub score: CharacterScore,
}

impl Suspect {
    /// A few characters either side of the suspect, for messages: "…穿红色衣[幅]的女…".
    pub fn context(&self, around: usize) -> String {
        let chars: Vec<char> = self.text.chars().collect();
        let at = self.score.char_offset;
        let start = at.saturating_sub(around);
        let end = (at + around + 1).min(chars.len());
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        out.extend(&chars[start..at]);
        out.push('[');
        out.push(chars[at]);
        out.push(']');
        out.extend(&chars[at + 1..end]);
        if end < chars.len() {
            out.push('…');
        }
        out.replace('\n', " ")
    }

    /// The command that replaces the suspect character with `replacement` in its field: one
    /// edit, so one undo step. None for fields the editor does not edit (questions).
    pub fn fix(&self, replacement: char) -> Option<Command> {
        let field = self.field.as_ref()?;
        let fixed: String = self
            .text
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i == self.score.char_offset {
                    replacement
                } else {
                    c
                }
            })
            .collect();
        Some(Command {
            record: self.record,
            edit: field.edit(&fixed),
        })
    }
}

/// Scores every Chinese text field of `record` (index `index`) and returns the suspects, and
/// how many characters were scored. `progress` is told of each field done.
pub fn check_record(
    model: &MengziModel,
    index: usize,
    record: &Record,
    options: &CheckOptions,
) -> keye_model::Result<(Vec<Suspect>, usize)> {
    let mut suspects = Vec::new();
    let mut scored = 0;
    for field in text_fields(record) {
        if !has_chinese(&field.text) {
            continue;
        }
        let scores = model.score_characters(&field.text, options)?;
        scored += scores.len();
        for score in scores {
            if score.is_suspect(options.ratio) {
                suspects.push(Suspect {
                    record: index,
                    path: field.path.clone(),
                    field: field.field.clone(),
                    text: field.text.clone(),
                    score,
                });
            }
        }
    }
    Ok((suspects, scored))
}
