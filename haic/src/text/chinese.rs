//! The Chinese form of the canonical caption text (see `haic/README.md`):
//!
//! ```text
//! 视频中有两个人。第一个人是穿白色短上衣的年轻女子。第二个人是穿灰色西装的老人。
//!
//! 穿白色短上衣的年轻女子走向穿灰色西装的老人，然后把红色杯子递给穿灰色西装的老人。穿灰色西装的老人点头。
//! ```
//!
//! The same order as the English form: the people count, one sentence per person with the
//! attribute phrase, then one sentence per event in time order, each starting with its subject's
//! phrase; interaction targets follow the action; consecutive events of the same people share a
//! sentence joined by "，然后". Chinese has no spaces between words, so phrases are matched as
//! they are written (longest first) rather than at word ends. Parse errors speak Chinese.

use super::{Language, ParseError};
use crate::model::{Event, Person, Structure};

const THEN: &str = "，然后";
const FULL_STOP: char = '。';
/// Ways a people count may open; the first is the canonical one.
const COUNT_OPENERS: [&str; 4] = ["视频中", "视频里", "画面中", "画面里"];
const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];

/// 1 一, 10 十, 12 十二, 20 二十, 99 九十九; from 100 on, Arabic digits.
pub(super) fn number(n: usize) -> String {
    match n {
        0..=9 => DIGITS[n].to_string(),
        10..=19 => format!("十{}", if n == 10 { "" } else { DIGITS[n - 10] }),
        20..=99 => format!(
            "{}十{}",
            DIGITS[n / 10],
            if n.is_multiple_of(10) {
                ""
            } else {
                DIGITS[n % 10]
            }
        ),
        _ => n.to_string(),
    }
}

/// A count before a measure word: 两 rather than 二.
fn count_word(n: usize) -> String {
    if n == 2 { "两".into() } else { number(n) }
}

/// Reads a number written as `number` or `count_word` writes it, or in Arabic digits, at the
/// start of `text`: the value and its length in bytes. The longest reading wins.
fn number_prefix(text: &str) -> Option<(usize, usize)> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        return text[..digits].parse().ok().map(|n| (n, digits));
    }
    if let Some(rest) = text.strip_prefix("两") {
        return Some((2, text.len() - rest.len()));
    }
    (1..100)
        .rev()
        .map(|n| (n, number(n)))
        .find(|(_, word)| text.starts_with(word.as_str()))
        .map(|(n, word)| (n, word.len()))
}

/// Whether the text opens with a people count ("视频中有..." / "视频中没有人").
pub(super) fn starts_count_sentence(text: &str) -> bool {
    COUNT_OPENERS.iter().any(|opener| text.starts_with(opener))
}

pub(super) fn render(structure: &Structure) -> String {
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
        [] => "视频中没有人。".to_string(),
        [person] => format!("视频中有一个人。这个人是{}。", phrase(person)),
        _ => {
            let mut text = format!("视频中有{}个人。", count_word(people.len()));
            for (index, person) in people.iter().enumerate() {
                text.push_str(&format!(
                    "第{}个人是{}。",
                    number(index + 1),
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
            _ => sentences.push(format!("{}{clause}", names(structure, &event.who))),
        }
        previous_who = Some(&event.who);
    }
    sentences
        .into_iter()
        .map(|sentence| sentence + "。")
        .collect()
}

/// The action and its targets, without the subject: "走向穿灰色西装的老人".
fn clause(structure: &Structure, event: &Event) -> String {
    format!(
        "{}{}",
        trim_stop(&event.action),
        names(structure, &event.with)
    )
}

/// One event as a subtitle cue: "穿红衣服的女人向穿灰色西装的老人挥手".
pub(super) fn event_sentence(structure: &Structure, event: &Event) -> String {
    format!(
        "{}{}",
        names(structure, &event.who),
        clause(structure, event)
    )
}

fn trim_stop(text: &str) -> &str {
    text.trim().trim_end_matches([FULL_STOP, '.']).trim_end()
}

fn phrase(person: &Person) -> &str {
    trim_stop(&person.attributes)
}

/// Phrases joined as "甲", "甲和乙", "甲、乙和丙"; an id without a person is shown as itself.
fn names(structure: &Structure, ids: &[String]) -> String {
    let phrases: Vec<&str> = ids
        .iter()
        .map(|id| structure.person(id).map_or(id.as_str(), phrase))
        .collect();
    match phrases.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{}和{last}", rest.join("、")),
    }
}

/// Reads the Chinese form (CRLF already normalised) back into a structure.
pub(super) fn parse(text: &str) -> Result<Structure, ParseError> {
    Parser { text, pos: 0 }.structure()
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    /// An error at `offset`, its message followed by where that is, counted in characters.
    fn error_at(&self, offset: usize, message: impl AsRef<str>) -> ParseError {
        let offset = offset.min(self.text.len());
        let character = self.text[..offset].chars().count() + 1;
        ParseError {
            offset,
            message: format!("{}（第 {character} 个字处）", message.as_ref()),
            language: Language::Chinese,
        }
    }

    fn error(&self, message: impl AsRef<str>) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, expected: &str) -> bool {
        let matches = self.rest().starts_with(expected);
        if matches {
            self.pos += expected.len();
        }
        matches
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
        let numbered = numbered_label_len(self.rest()).is_some();
        while !self.rest().is_empty() {
            let start = if numbered {
                let label = numbered_label_len(self.rest())
                    .ok_or_else(|| self.error("应为下一个编号的动作"))?;
                self.pos += label;
                self.pos
            } else {
                self.pos
            };
            let end = if numbered {
                next_numbered_item(self.rest()).map_or(self.text.len(), |at| self.pos + at)
            } else {
                sentence_end(&structure, self.rest())
                    .map(|at| self.pos + at)
                    .ok_or_else(|| self.error("应为以“。”结尾的动作句"))?
            };
            let sentence = trim_stop(&self.text[start..end]);
            let events = sentence_events(&structure, sentence)
                .map_err(|message| self.error_at(start, message))?;
            structure.events.extend(events);
            self.pos = end;
            if !numbered {
                self.pos += FULL_STOP.len_utf8();
            }
            self.skip_whitespace();
        }
        Ok(structure)
    }

    /// "视频中有两个人。" / "视频中有一个人。" / "视频中没有人。"
    fn count_sentence(&mut self) -> Result<usize, ParseError> {
        let opened = COUNT_OPENERS.iter().any(|opener| self.eat(opener));
        if !opened {
            return Err(self.error("字幕没有以人数开头（应为“视频中有……个人。”）"));
        }
        if self.eat("没有人") {
            return self.end_count_sentence(0);
        }
        if !self.eat("有") {
            return Err(self.error("人数句应为“视频中有……个人。”"));
        }
        let (count, len) =
            number_prefix(self.rest()).ok_or_else(|| self.error("“有”之后应为人数"))?;
        self.pos += len;
        if !(self.eat("个人") || self.eat("人")) {
            return Err(self.error("人数之后应为“个人”"));
        }
        self.end_count_sentence(count)
    }

    fn end_count_sentence(&mut self, count: usize) -> Result<usize, ParseError> {
        if self.eat("。") {
            Ok(count)
        } else {
            Err(self.error("人数句应以“。”结尾"))
        }
    }

    fn people(&mut self, count: usize) -> Result<Vec<Person>, ParseError> {
        let paragraph_end = self.rest().find("\n\n").map(|at| self.pos + at);
        let mut people = Vec::new();
        for index in 0..count {
            self.skip_whitespace();
            let ordinal = number(index + 1);
            let opened = if count == 1 {
                self.eat("这个人是") || self.eat("第一个人是")
            } else {
                self.eat(&format!("第{ordinal}个人是"))
            };
            if !opened {
                return Err(self.error(format!(
                    "应为介绍第{ordinal}个人的句子（“第{ordinal}个人是……。”）"
                )));
            }
            let limit = paragraph_end.unwrap_or(self.text.len());
            if self.pos > limit {
                return Err(self.error(format!("第{ordinal}个人没有在人物段落中介绍")));
            }
            let paragraph = &self.text[self.pos..limit];
            let end = if index + 1 < count {
                let next = format!("。第{}个人是", number(index + 2));
                match paragraph.find(&next) {
                    Some(at) => Some(at),
                    None if paragraph.contains(FULL_STOP) => {
                        let stop = paragraph.find(FULL_STOP).unwrap_or_default();
                        return Err(self.error_at(
                            self.pos + stop + FULL_STOP.len_utf8(),
                            format!(
                                "人数说有{count}个人，但只介绍了{}个：缺少“第{}个人是……”",
                                index + 1,
                                number(index + 2)
                            ),
                        ));
                    }
                    None => None,
                }
            } else if paragraph_end.is_some() {
                paragraph.rfind(FULL_STOP)
            } else {
                paragraph.find(FULL_STOP)
            }
            .map(|at| self.pos + at)
            .ok_or_else(|| self.error("属性句没有以“。”结尾"))?;
            let attributes = self.text[self.pos..end].trim();
            if attributes.is_empty() {
                return Err(self.error("属性描述为空"));
            }
            people.push(Person::new(format!("P{}", index + 1), attributes));
            self.pos = end + FULL_STOP.len_utf8();
        }
        if let Some(end) = paragraph_end
            && !self.text[self.pos..end].trim().is_empty()
        {
            return Err(self.error("人物句之后有多余的文字"));
        }
        Ok(people)
    }
}

/// Length of a leading "1. " / "2) " / "3、" label (spaces after it optional).
fn numbered_label_len(text: &str) -> Option<usize> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let after = &text[digits..];
    let marker = ['.', ')', '、', '．', '）']
        .into_iter()
        .find(|m| after.starts_with(*m))?;
    let rest = &after[marker.len_utf8()..];
    let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    Some(digits + marker.len_utf8() + spaces)
}

/// Offset of the next line that starts a numbered item.
fn next_numbered_item(text: &str) -> Option<usize> {
    text.match_indices('\n')
        .map(|(at, _)| at + 1)
        .find(|&at| numbered_label_len(text[at..].trim_start_matches([' ', '\t'])).is_some())
}

/// The first "。" followed by the end of the text or by (whitespace and) a person's phrase.
fn sentence_end(structure: &Structure, text: &str) -> Option<usize> {
    text.match_indices(FULL_STOP).map(|(at, _)| at).find(|&at| {
        let next = text[at + FULL_STOP.len_utf8()..].trim_start();
        next.is_empty() || names_prefix(structure, next).is_some()
    })
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(30) {
        Some((at, _)) => format!("{}……", &text[..at]),
        None => text.to_string(),
    }
}

fn sentence_events(structure: &Structure, sentence: &str) -> Result<Vec<Event>, String> {
    let (who, subject_len) = names_prefix(structure, sentence)
        .ok_or_else(|| format!("句子“{}”没有以某个人的属性描述开头", shorten(sentence)))?;
    let predicate = sentence[subject_len..].trim_start();
    if predicate.is_empty() {
        return Err(format!("句子“{}”的主语之后没有动作", shorten(sentence)));
    }
    predicate
        .split(THEN)
        .map(|clause| {
            let (action, with) = split_targets(structure, clause);
            if action.trim().is_empty() {
                return Err(format!("句子“{}”中有空的动作", shorten(sentence)));
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

/// Splits "走向穿灰色西装的老人" into the action and the ids of the trailing target phrases.
fn split_targets(structure: &Structure, clause: &str) -> (String, Vec<String>) {
    for (at, _) in clause.char_indices().skip(1) {
        let tail = &clause[at..];
        if let Some((ids, len)) = names_prefix(structure, tail)
            && len == tail.len()
            && !clause[..at].trim().is_empty()
        {
            return (clause[..at].to_string(), ids);
        }
    }
    (clause.to_string(), Vec::new())
}

/// Phrases joined by "和" or "、" at the start of `text`: the ids and the length they cover.
fn names_prefix(structure: &Structure, text: &str) -> Option<(Vec<String>, usize)> {
    let mut ids = Vec::new();
    let mut pos = 0;
    loop {
        let (id, len) = person_prefix(structure, &text[pos..])?;
        ids.push(id);
        pos += len;
        let rest = &text[pos..];
        let separator = ["、", "和"].into_iter().find(|separator| {
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
            (!phrase.is_empty() && text.starts_with(phrase))
                .then(|| (person.id.clone(), phrase.len()))
        })
        .max_by_key(|&(_, len)| len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_as_written() {
        for n in 1..130 {
            assert_eq!(number_prefix(&number(n)), Some((n, number(n).len())), "{n}");
        }
        assert_eq!(number(2), "二");
        assert_eq!(count_word(2), "两");
        assert_eq!(number(11), "十一");
        assert_eq!(number(20), "二十");
        assert_eq!(number(35), "三十五");
        assert_eq!(number_prefix("两个人"), Some((2, 3)));
        assert_eq!(number_prefix("12个人"), Some((12, 2)));
    }
}
