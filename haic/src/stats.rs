//! Summary figures of a caption file.

use std::{collections::BTreeMap, fmt};

use serde::Serialize;

use crate::{
    file::CaptionFile,
    model::{Record, TextState},
    validate::{Severity, validate_file},
};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub records: usize,
    pub unreadable: usize,
    pub captions: usize,
    pub free_text_captions: usize,
    pub people: usize,
    pub max_people: usize,
    pub events: usize,
    pub timed_events: usize,
    pub interactions: usize,
    pub caption_words: usize,
    pub questions: usize,
    pub by_category: BTreeMap<String, usize>,
    pub by_answer: BTreeMap<String, usize>,
    pub errors: usize,
    pub warnings: usize,
}

impl Stats {
    pub fn of(file: &CaptionFile) -> Stats {
        let mut stats = Stats {
            records: file.len(),
            unreadable: file.len() - file.records().count(),
            ..Stats::default()
        };
        for (_, record) in file.records() {
            match record {
                Record::Caption(caption) => {
                    stats.captions += 1;
                    stats.caption_words += caption.caption.split_whitespace().count();
                    match &caption.state {
                        TextState::Free { .. } => stats.free_text_captions += 1,
                        TextState::Structured(structure) => {
                            stats.people += structure.people.len();
                            stats.max_people = stats.max_people.max(structure.people.len());
                            stats.events += structure.events.len();
                            stats.timed_events += structure
                                .events
                                .iter()
                                .filter(|event| event.start.is_some() && event.end.is_some())
                                .count();
                            stats.interactions += structure
                                .events
                                .iter()
                                .filter(|event| !event.with.is_empty())
                                .count();
                        }
                    }
                }
                Record::Qa(qa) => {
                    stats.questions += 1;
                    *stats.by_category.entry(qa.category.clone()).or_default() += 1;
                    *stats.by_answer.entry(qa.answer.clone()).or_default() += 1;
                }
            }
        }
        for finding in validate_file(file, &|_| None) {
            match finding.finding.severity {
                Severity::Error => stats.errors += 1,
                Severity::Warning => stats.warnings += 1,
            }
        }
        stats
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "records:            {} ({} unreadable)",
            self.records, self.unreadable
        )?;
        let structured = self.captions - self.free_text_captions;
        writeln!(
            f,
            "captions:           {} ({} structured, {} free text)",
            self.captions, structured, self.free_text_captions
        )?;
        if structured > 0 {
            let per = |total: usize| total as f64 / structured as f64;
            writeln!(
                f,
                "people:             {} ({:.2} per caption, at most {})",
                self.people,
                per(self.people),
                self.max_people
            )?;
            writeln!(
                f,
                "events:             {} ({:.2} per caption, {} timed, {} interactions)",
                self.events,
                per(self.events),
                self.timed_events,
                self.interactions
            )?;
        }
        if self.captions > 0 {
            writeln!(
                f,
                "caption words:      {} ({:.1} per caption)",
                self.caption_words,
                self.caption_words as f64 / self.captions as f64
            )?;
        }
        writeln!(f, "questions:          {}", self.questions)?;
        for (category, count) in &self.by_category {
            writeln!(f, "  category {category:?}: {count}")?;
        }
        for (answer, count) in &self.by_answer {
            writeln!(f, "  answer {answer:?}: {count}")?;
        }
        write!(
            f,
            "findings:           {} errors, {} warnings",
            self.errors, self.warnings
        )
    }
}
