//! Canonical caption text: rendering a [`Structure`] and parsing text that follows the format back.
//!
//! The text has a people paragraph (the count, then one sentence per person with the attribute
//! phrase) and then the actions in time order, either as sentences or as a numbered list. Each
//! action sentence names its subject(s) by attribute phrase; interaction targets follow the
//! action; consecutive events of the same people share a sentence joined by ", then".

use crate::model::{Event, Person, Structure};

mod chinese;

const NUMBER_WORDS: [&str; 21] = [
    "no",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

const ORDINAL_WORDS: [&str; 20] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
];

const THEN: &str = ", then ";

/// Why caption text could not be read as the format; the text is then kept as free text.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// Byte offset in the (CRLF-normalised) text where reading stopped.
    pub offset: usize,
    /// What was expected, in the caption's language (a Chinese message already says where).
    pub message: String,
    pub language: Language,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.language {
            Language::English => write!(f, "{} (at character {})", self.message, self.offset),
            Language::Chinese => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// The languages caption text is rendered in and read back from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    English,
    Chinese,
}

impl Language {
    /// The language `text` is written in: Chinese when it has at least as many Chinese
    /// characters as Latin letters; None when it has neither.
    pub fn of_text(text: &str) -> Option<Language> {
        let (mut chinese, mut latin) = (0usize, 0usize);
        for c in text.chars() {
            if is_chinese_char(c) {
                chinese += 1;
            } else if c.is_ascii_alphabetic() {
                latin += 1;
            }
        }
        match (chinese, latin) {
            (0, 0) => None,
            (chinese, latin) if chinese >= latin => Some(Language::Chinese),
            _ => Some(Language::English),
        }
    }

    /// The language of a structure's attribute phrases and actions taken together.
    pub fn of_structure(structure: &Structure) -> Option<Language> {
        let words: String = structure
            .people
            .iter()
            .map(|person| person.attributes.as_str())
            .chain(structure.events.iter().map(|event| event.action.as_str()))
            .collect();
        Language::of_text(&words)
    }
}

/// A CJK unified ideograph.
pub fn is_chinese_char(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// The canonical caption text of a structure, in the language its phrases are written in
/// (English when they have no letters).
pub fn render(structure: &Structure) -> String {
    render_in(
        structure,
        Language::of_structure(structure).unwrap_or(Language::English),
    )
}

/// The canonical text of a structure that replaces `written`: in the structure's language, or
/// in `written`'s when the structure has no words yet (a new, empty record keeps its language).
pub fn render_like(structure: &Structure, written: &str) -> String {
    let language = Language::of_structure(structure)
        .or_else(|| Language::of_text(written))
        .unwrap_or(Language::English);
    render_in(structure, language)
}

/// The canonical caption text of a structure in `language`.
pub fn render_in(structure: &Structure, language: Language) -> String {
    if language == Language::Chinese {
        return chinese::render(structure);
    }
    let mut text = people_paragraph(&structure.people);
    let actions = actions_paragraph(structure);
    if !actions.is_empty() {
        text.push_str("\n\n");
        text.push_str(&actions);
    }
    text
}

fn people_paragraph(people: &[Person]) -> String {
    match people {
        [] => "There are no people in the video.".to_string(),
        [person] => format!(
            "There is one person in the video. The person is {}.",
            phrase(person)
        ),
        _ => {
            let mut text = format!(
                "There are {} people in the video.",
                number_word(people.len())
            );
            for (index, person) in people.iter().enumerate() {
                text.push_str(&format!(
                    " The {} person is {}.",
                    ordinal(index),
                    phrase(person)
                ));
            }
            text
        }
    }
}

fn actions_paragraph(structure: &Structure) -> String {
    let mut sentences: Vec<String> = Vec::new();
    let mut previous_who: Option<&[String]> = None;
    for event in &structure.events {
        let clause = clause(structure, event);
        match (previous_who, sentences.last_mut()) {
            (Some(who), Some(sentence)) if who == event.who.as_slice() => {
                sentence.push_str(THEN);
                sentence.push_str(&clause);
            }
            _ => {
                let subject = capitalize(&names(structure, &event.who));
                sentences.push(format!("{subject} {clause}"));
            }
        }
        previous_who = Some(&event.who);
    }
    sentences
        .into_iter()
        .map(|sentence| sentence + ".")
        .collect::<Vec<_>>()
        .join(" ")
}

/// "waves" or "hands a cup to the old man": the action and its targets, without the subject.
fn clause(structure: &Structure, event: &Event) -> String {
    let action = event.action.trim().trim_end_matches('.').trim_end();
    if event.with.is_empty() {
        action.to_string()
    } else {
        format!("{action} {}", names(structure, &event.with))
    }
}

/// The text of one event as a subtitle cue: "The woman in red waves to the man".
pub fn event_sentence(structure: &Structure, event: &Event) -> String {
    if Language::of_structure(structure) == Some(Language::Chinese) {
        return chinese::event_sentence(structure, event);
    }
    format!(
        "{} {}",
        capitalize(&names(structure, &event.who)),
        clause(structure, event)
    )
}

fn phrase(person: &Person) -> &str {
    person.attributes.trim().trim_end_matches('.').trim_end()
}

/// Attribute phrases of the given ids joined as "a", "a and b", "a, b and c". An id without a
/// person (which validation reports) is shown as itself so nothing disappears from the text.
fn names(structure: &Structure, ids: &[String]) -> String {
    let phrases: Vec<&str> = ids
        .iter()
        .map(|id| structure.person(id).map_or(id.as_str(), phrase))
        .collect();
    match phrases.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn number_word(count: usize) -> String {
    NUMBER_WORDS
        .get(count)
        .map_or_else(|| count.to_string(), |word| word.to_string())
}

fn ordinal(index: usize) -> String {
    if let Some(word) = ORDINAL_WORDS.get(index) {
        return word.to_string();
    }
    let n = index + 1;
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Reads caption text that follows the format back into a structure (people get ids P1, P2, ...;
/// events are untimed). Text that does not follow it gives an error saying where reading stopped,
/// in the text's language: English text is read as the English form, Chinese as the Chinese one.
pub fn parse(text: &str) -> Result<Structure, ParseError> {
    let normalized = text.replace("\r\n", "\n");
    if parse_language(&normalized) == Language::Chinese {
        return chinese::parse(&normalized);
    }
    Parser {
        text: &normalized,
        pos: 0,
    }
    .structure()
}

/// Which form to read `text` as: its opening decides ("There are ..." or "视频中有..."), else the
/// script most of it is written in, so that the reason it is free text speaks its language.
pub fn parse_language(text: &str) -> Language {
    let start = text.trim_start();
    if start
        .get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case("there "))
    {
        Language::English
    } else if chinese::starts_count_sentence(start) {
        Language::Chinese
    } else {
        Language::of_text(start).unwrap_or(Language::English)
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            offset: self.pos,
            message: message.into(),
            language: Language::English,
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Consumes `expected` if the text continues with it, ignoring ASCII case.
    fn eat(&mut self, expected: &str) -> bool {
        let matches = self
            .rest()
            .get(..expected.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(expected));
        if matches {
            self.pos += expected.len();
        }
        matches
    }

    fn expect(&mut self, expected: &str) -> Result<(), ParseError> {
        if self.eat(expected) {
            Ok(())
        } else {
            Err(self.error(format!("expected \"{expected}\"")))
        }
    }

    fn structure(mut self) -> Result<Structure, ParseError> {
        self.skip_whitespace();
        let count = self.count_sentence()?;
        let people = self.people(count)?;
        let mut structure = Structure {
            people,
            events: Vec::new(),
        };
        self.skip_whitespace();
        if starts_numbered_item(self.rest()) {
            while !self.rest().is_empty() {
                if !self.numbered_label() {
                    return Err(self.error("expected the next numbered action"));
                }
                let item_end =
                    next_numbered_item(self.rest()).map_or(self.text.len(), |at| self.pos + at);
                let item = self.text[self.pos..item_end].trim_end();
                let item = item.strip_suffix('.').unwrap_or(item);
                let start = self.pos;
                let events = sentence_events(&structure, item).map_err(|message| ParseError {
                    offset: start,
                    message,
                    language: Language::English,
                })?;
                structure.events.extend(events);
                self.pos = item_end;
                self.skip_whitespace();
            }
        } else {
            while !self.rest().is_empty() {
                let end = sentence_end(&structure, self.rest())
                    .ok_or_else(|| self.error("expected an action sentence ending with \".\""))?;
                let start = self.pos;
                let events = sentence_events(&structure, &self.text[start..start + end]).map_err(
                    |message| ParseError {
                        offset: start,
                        message,
                        language: Language::English,
                    },
                )?;
                structure.events.extend(events);
                self.pos = start + end + 1;
                self.skip_whitespace();
            }
        }
        Ok(structure)
    }

    /// "There are two people in the video." / "There is one person in the video."
    fn count_sentence(&mut self) -> Result<usize, ParseError> {
        let plural = if self.eat("There are ") {
            true
        } else if self.eat("There is ") {
            false
        } else {
            return Err(self.error(
                "the caption does not start with the people count (\"There are ... people\")",
            ));
        };
        let word_end = self
            .rest()
            .find(' ')
            .ok_or_else(|| self.error("expected a number"))?;
        let word = &self.rest()[..word_end];
        let count = NUMBER_WORDS
            .iter()
            .position(|candidate| candidate.eq_ignore_ascii_case(word))
            .or_else(|| word.parse().ok())
            .ok_or_else(|| self.error(format!("\"{word}\" is not a number")))?;
        self.pos += word_end + 1;
        if !(self.eat(if plural { "people" } else { "person" })) {
            return Err(self.error("expected \"people\" or \"person\""));
        }
        if plural == (count == 1) {
            return Err(self.error("the count does not agree with \"is\"/\"are\""));
        }
        if !self.eat(" in the video.") {
            self.expect(".")?;
        }
        Ok(count)
    }

    fn people(&mut self, count: usize) -> Result<Vec<Person>, ParseError> {
        // The people paragraph ends at the first blank line, or is the whole text when the
        // actions follow on the same line.
        let paragraph_end = self.rest().find("\n\n").map(|at| self.pos + at);
        // The count comes from the text: it bounds the loop, not an allocation.
        let mut people = Vec::new();
        for index in 0..count {
            self.skip_whitespace();
            let opened = if count == 1 {
                self.eat("The person is ") || self.eat("The first person is ")
            } else {
                self.eat(&format!("The {} person is ", ordinal(index)))
            };
            if !opened {
                return Err(self.error(format!(
                    "expected the sentence introducing the {} person",
                    ordinal(index)
                )));
            }
            // Searches stay inside the people paragraph.
            let limit = paragraph_end.unwrap_or(self.text.len());
            if self.pos > limit {
                return Err(self.error(format!(
                    "the {} person is not introduced in the people paragraph",
                    ordinal(index)
                )));
            }
            let paragraph = &self.text[self.pos..limit];
            let end = if index + 1 < count {
                let next = format!(". The {} person is ", ordinal(index + 1));
                match find_ignore_ascii_case(paragraph, &next) {
                    Some(at) => Some(at),
                    // The sentence ends, but no next person follows it: the count is too high.
                    None if sentence_stop(paragraph).is_some() => {
                        let stop = sentence_stop(paragraph).unwrap_or_default();
                        return Err(ParseError {
                            language: Language::English,
                            offset: self.pos + stop + 1,
                            message: format!(
                                "the count says {count} people but only {} {} introduced: \"The {} person is ...\" is missing",
                                index + 1,
                                if index == 0 { "is" } else { "are" },
                                ordinal(index + 1)
                            ),
                        });
                    }
                    None => None,
                }
            } else if paragraph_end.is_some() {
                paragraph.rfind('.')
            } else {
                sentence_stop(paragraph)
            }
            .map(|at| self.pos + at)
            .ok_or_else(|| self.error("the attribute sentence does not end with \".\""))?;
            let attributes = self.text[self.pos..end].trim();
            if attributes.is_empty() {
                return Err(self.error("empty attribute phrase"));
            }
            people.push(Person::new(format!("P{}", index + 1), attributes));
            self.pos = end + 1;
        }
        if let Some(end) = paragraph_end
            && !self.text[self.pos..end].trim().is_empty()
        {
            return Err(self.error("unexpected text after the people sentences"));
        }
        Ok(people)
    }

    fn numbered_label(&mut self) -> bool {
        match numbered_label_len(self.rest()) {
            Some(len) => {
                self.pos += len;
                true
            }
            None => false,
        }
    }
}

fn find_ignore_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    let (bytes, wanted) = (haystack.as_bytes(), needle.as_bytes());
    let last = bytes.len().checked_sub(wanted.len())?;
    (0..=last).find(|&at| {
        haystack.is_char_boundary(at) && bytes[at..at + wanted.len()].eq_ignore_ascii_case(wanted)
    })
}

/// The first "." followed by whitespace or the end.
fn sentence_stop(text: &str) -> Option<usize> {
    text.char_indices()
        .filter(|&(_, c)| c == '.')
        .map(|(at, _)| at)
        .find(|&at| {
            text[at + 1..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
        })
}

/// Length of a leading "12. " / "3) " label.
fn numbered_label_len(text: &str) -> Option<usize> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let after = &text[digits..];
    let marker = after.strip_prefix(['.', ')'])?;
    let spaces = marker.len() - marker.trim_start_matches([' ', '\t']).len();
    (spaces > 0).then_some(digits + 1 + spaces)
}

fn starts_numbered_item(text: &str) -> bool {
    numbered_label_len(text).is_some()
}

/// Offset of the next line that starts a numbered item.
fn next_numbered_item(text: &str) -> Option<usize> {
    text.match_indices('\n')
        .map(|(at, _)| at + 1)
        .find(|&at| starts_numbered_item(text[at..].trim_start_matches([' ', '\t'])))
}

/// Where the action sentence at the start of `text` ends: the first "." followed by the end of
/// the text or by whitespace and the subject of the next sentence.
fn sentence_end(structure: &Structure, text: &str) -> Option<usize> {
    text.char_indices()
        .filter(|&(_, c)| c == '.')
        .map(|(at, _)| at)
        .find(|&at| {
            let after = &text[at + 1..];
            let next = after.trim_start();
            next.is_empty() || (next.len() < after.len() && names_prefix(structure, next).is_some())
        })
}

/// The events of one action sentence (without its final period).
fn sentence_events(structure: &Structure, sentence: &str) -> Result<Vec<Event>, String> {
    let (who, subject_len) = names_prefix(structure, sentence).ok_or_else(|| {
        format!(
            "the sentence \"{}\" does not start with a person's attribute phrase",
            shorten(sentence)
        )
    })?;
    let predicate = sentence[subject_len..]
        .strip_prefix(' ')
        .ok_or_else(|| format!("no action after the subject in \"{}\"", shorten(sentence)))?;
    predicate
        .split(THEN)
        .map(|clause| {
            let (action, with) = split_targets(structure, clause);
            if action.trim().is_empty() {
                return Err(format!("empty action in \"{}\"", shorten(sentence)));
            }
            Ok(Event {
                who: who.clone(),
                action: action.trim().to_string(),
                with,
                start: None,
                end: None,
                comments: Vec::new(),
                extra: Default::default(),
            })
        })
        .collect()
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// Splits "hands a cup to the old man" into the action and the ids of trailing target phrases.
fn split_targets(structure: &Structure, clause: &str) -> (String, Vec<String>) {
    for (at, _) in clause.match_indices(' ') {
        let tail = &clause[at + 1..];
        if let Some((ids, len)) = names_prefix(structure, tail)
            && len == tail.len()
            && !clause[..at].trim().is_empty()
        {
            return (clause[..at].to_string(), ids);
        }
    }
    (clause.to_string(), Vec::new())
}

/// A list of attribute phrases ("a", "a and b", "a, b and c") at the start of `text`: the ids
/// and the length of text they cover. The first letter may be capitalised.
fn names_prefix(structure: &Structure, text: &str) -> Option<(Vec<String>, usize)> {
    let mut ids = Vec::new();
    let mut pos = 0;
    loop {
        let (id, len) = person_prefix(structure, &text[pos..])?;
        ids.push(id);
        pos += len;
        let rest = &text[pos..];
        let separator = [", ", " and "].into_iter().find(|separator| {
            rest.starts_with(separator)
                && person_prefix(structure, &rest[separator.len()..]).is_some()
        });
        match separator {
            Some(separator) => pos += separator.len(),
            None => return Some((ids, pos)),
        }
    }
}

/// The person whose phrase starts `text` (longest phrase wins), with the phrase length.
fn person_prefix(structure: &Structure, text: &str) -> Option<(String, usize)> {
    structure
        .people
        .iter()
        .filter_map(|person| {
            let phrase = phrase(person);
            let head = text.get(..phrase.len())?;
            let same = head == phrase || (!phrase.is_empty() && head == capitalize(phrase));
            let at_word_end = text[phrase.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric());
            (same && at_word_end && !phrase.is_empty()).then(|| (person.id.clone(), phrase.len()))
        })
        .max_by_key(|&(_, len)| len)
}
