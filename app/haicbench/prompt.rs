//! The prompts of the two settings and reading a model's choice out of its reply.

use super::qa::{QaItem, letter};

/// The lettered options, one a line ("A. red").
fn options_block(item: &QaItem) -> String {
    item.options
        .iter()
        .enumerate()
        .map(|(i, option)| format!("{}. {option}", letter(i)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Standard setting: asked with the video attached.
pub fn standard_prompt(item: &QaItem) -> String {
    format!(
        "{}\n{}\nAnswer with the option's letter.",
        item.question,
        options_block(item)
    )
}

/// Caption setting: the judge sees the caption text and nothing else of the video.
pub fn caption_prompt(caption: &str, item: &QaItem) -> String {
    format!(
        "Here is a description of a video:\n\n{}\n\nFrom the description alone, answer the question.\n{}\n{}\nAnswer with the option's letter or its text.",
        caption.trim(),
        item.question,
        options_block(item)
    )
}

/// The part of a reply after any reasoning (`</think>`, `</analysis>`), trimmed.
fn answer_part(reply: &str) -> &str {
    let after = ["</think>", "</analysis>"]
        .iter()
        .filter_map(|tag| reply.rfind(tag).map(|at| at + tag.len()))
        .max()
        .unwrap_or(0);
    reply[after..].trim()
}

fn normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let start =
        usize::from(matches!(words.first(), Some(&("the" | "a" | "an"))) && words.len() > 1);
    words[start..].join(" ")
}

/// The option a reply chooses: a letter ("B", "(B)", "B. blue", "Answer: B", "The answer is
/// B"), or the text of exactly one option (the whole answer, or named once inside it).
/// `None` when the reply cannot be read as one choice.
pub fn parse_choice(reply: &str, options: &[String; 4]) -> Option<usize> {
    let answer = answer_part(reply);
    let mut rest = answer.trim_start_matches(['*', '"', '\'', ' ']);
    for lead in ["the answer is", "answer:", "answer", "option"] {
        if rest.len() >= lead.len() && rest[..lead.len()].eq_ignore_ascii_case(lead) {
            rest = rest[lead.len()..].trim_start_matches([' ', ':', '*']);
        }
    }
    let rest = rest.trim_start_matches('(');
    let mut chars = rest.chars();
    if let Some(first @ 'A'..='D') = chars.next()
        && chars
            .next()
            .is_none_or(|c| matches!(c, '.' | ')' | ':' | ',' | '\n'))
    {
        return Some(usize::from(first as u8 - b'A'));
    }
    let said = normalize(answer);
    if said.is_empty() {
        return None;
    }
    let bodies: Vec<String> = options.iter().map(|o| normalize(o)).collect();
    if let Some(index) = bodies.iter().position(|b| *b == said) {
        return Some(index);
    }
    let padded = format!(" {said} ");
    let named: Vec<usize> = bodies
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.is_empty() && padded.contains(&format!(" {b} ")))
        .map(|(i, _)| i)
        .collect();
    // An option whose text is inside another named option ("two" in "twenty two") is not a
    // second choice.
    let longest: Vec<usize> = named
        .iter()
        .copied()
        .filter(|&i| {
            !named
                .iter()
                .any(|&j| j != i && bodies[j].contains(bodies[i].as_str()))
        })
        .collect();
    match longest.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> [String; 4] {
        ["red", "the blue circle", "green", "dark green"].map(String::from)
    }

    #[test]
    fn letters_in_their_usual_spellings() {
        for reply in [
            "B",
            "B.",
            "(B)",
            "B) the blue circle",
            "Answer: B",
            "The answer is B.",
            "<think>\nA or C?\n</think>\n\nB",
        ] {
            assert_eq!(parse_choice(reply, &options()), Some(1), "{reply}");
        }
    }

    #[test]
    fn option_texts_and_what_cannot_be_read() {
        assert_eq!(parse_choice("blue circle", &options()), Some(1));
        assert_eq!(parse_choice("Red.", &options()), Some(0));
        assert_eq!(parse_choice("It turns dark green", &options()), Some(3));
        assert_eq!(parse_choice("a red or green one", &options()), None);
        assert_eq!(parse_choice("stops", &options()), None);
        assert_eq!(parse_choice("", &options()), None);
        assert_eq!(parse_choice("A big square", &options()), None);
    }
}
