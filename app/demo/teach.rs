//! What the demo model is taught to write for each thinking mode, given a question, its answer
//! and a reasoning trace:
//! - `/no_think`: the answer alone;
//! - `/think`: `<think>` with the trace (moments it was shown), then the answer;
//! - auto (no marker): an `<analysis>` saying whether the question depends on when things
//!   happen, then thinking for those, or the answer directly for the others.

use keye_model::generate::ThinkingMode;

use super::questions::{Kind, Question};

/// Auto-think's decision for questions one look answers.
pub const ANSWER_DIRECTLY: &str = "<analysis>One look is enough: I answer directly.</analysis>\n";
/// Auto-think's decision for questions about when things happen.
pub const THINK_FIRST: &str =
    "<analysis>This depends on when things happen: I think first.</analysis>\n";

/// An assistant reply and where its answer's first content word starts (a byte offset), the
/// token whose attention shows where the model looked for the answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub text: String,
    pub content_at: usize,
    /// Bytes of auto-think's `<analysis>` decision at the start of the text (0 in other modes).
    pub decision_len: usize,
}

/// Words of an answer that carry no content: skipped when looking for the content token.
const FILLER: [&str; 3] = ["the", "a", "an"];

/// The reply to `question` in `mode`, with `trace` as the reasoning.
pub fn reply(question: &Question, trace: &str, mode: ThinkingMode) -> Reply {
    let think = |trace: &str| format!("<think>\n{trace}\n</think>\n\n");
    let (prefix, decision_len) = match mode {
        ThinkingMode::NoThink => (String::new(), 0),
        ThinkingMode::Think => (think(trace), 0),
        ThinkingMode::Auto if question.kind.needs_moments() => {
            (format!("{THINK_FIRST}{}", think(trace)), THINK_FIRST.len())
        }
        ThinkingMode::Auto => (ANSWER_DIRECTLY.to_string(), ANSWER_DIRECTLY.len()),
    };
    let answer = &question.answer;
    let mut offset = 0;
    for word in answer.split(' ') {
        if !FILLER.contains(&word) {
            break;
        }
        offset += word.len() + 1;
    }
    Reply {
        content_at: prefix.len() + offset.min(answer.len()),
        decision_len,
        text: prefix + answer,
    }
}

/// The answer part of a generated reply: what follows the last `</think>` or `</analysis>`,
/// trimmed, without a final full stop.
pub fn answer_part(text: &str) -> &str {
    let after = ["</think>", "</analysis>"]
        .iter()
        .filter_map(|tag| text.rfind(tag).map(|at| at + tag.len()))
        .max()
        .unwrap_or(0);
    text[after..].trim().trim_end_matches('.').trim()
}

/// Whether a generated reply answers like `expected` (case and spacing aside).
pub fn matches(reply_text: &str, expected: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(answer_part(reply_text)) == norm(expected.trim_end_matches('.'))
}

/// The kinds whose answer names one actor, so its content token should look at that actor.
pub fn grounded(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Colour | Kind::Shape | Kind::Direction | Kind::Interaction | Kind::Order
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(kind: Kind, answer: &str) -> Question {
        Question {
            kind,
            question: "?".into(),
            answer: answer.into(),
            named: vec![0],
            distractors: vec![],
            evidence: vec![],
        }
    }

    #[test]
    fn replies_follow_the_mode_and_point_at_the_content_word() {
        let q = question(Kind::Colour, "red");
        let r = reply(&q, "At 0.5 s the square is red.", ThinkingMode::NoThink);
        assert_eq!((r.text.as_str(), r.content_at), ("red", 0));
        let r = reply(&q, "At 0.5 s the square is red.", ThinkingMode::Think);
        assert_eq!(&r.text[r.content_at..], "red");
        assert!(r.text.starts_with("<think>\nAt 0.5 s"));
        assert_eq!(r.decision_len, 0, "only auto mode decides");
        let r = reply(&q, "t", ThinkingMode::Auto);
        assert_eq!(r.text, format!("{ANSWER_DIRECTLY}red"));
        assert_eq!(&r.text[..r.decision_len], ANSWER_DIRECTLY);
        let q = question(Kind::Interaction, "the blue circle");
        let r = reply(
            &q,
            "At 1.0 s the red square touches the blue circle.",
            ThinkingMode::Auto,
        );
        assert_eq!(&r.text[..r.decision_len], THINK_FIRST);
        assert_eq!(&r.text[r.content_at..], "blue circle");
        assert!(matches(&r.text, "the blue circle"));
        assert!(matches(
            "<think>\nx\n</think>\n\nThe Blue circle.",
            "the blue circle"
        ));
        assert!(!matches(
            "<think>\nthe blue circle\n</think>\n\nred",
            "the blue circle"
        ));
    }
}
