//! Incremental split of the streamed text into the phases Keye-VL writes: an optional
//! `<analysis>…</analysis>` (auto-think's decision), an optional `<think>…</think>`, then the
//! answer, perhaps inside `<answer>…</answer>` and/or with `\boxed{…}`. Text may arrive cut
//! anywhere (even inside a tag); a possible tag prefix is held back until it is decided, so every
//! character is emitted exactly once whatever the cuts. Tags stay in the text: opening tags
//! belong to the phase they open, closing tags to the phase they close.

use serde::Serialize;

/// Where the model is in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// `<analysis>`: auto-think deciding whether to think.
    Analysis,
    /// `<think>`: the reasoning trace.
    Thinking,
    /// Everything else: the answer.
    Answer,
}

/// What the parser found in a piece of text, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PhaseEvent {
    /// The phase changes before the next text.
    Phase { phase: Phase },
    /// Text of one phase.
    Text { phase: Phase, text: String },
    /// A `\boxed{…}` closed; its content (nested braces kept).
    Boxed { content: String },
}

const TAGS: [(&str, Phase); 6] = [
    ("<analysis>", Phase::Analysis),
    ("</analysis>", Phase::Answer),
    ("<think>", Phase::Thinking),
    ("</think>", Phase::Answer),
    ("<answer>", Phase::Answer),
    ("</answer>", Phase::Answer),
];

const BOXED: &str = "\\boxed{";

/// The incremental parser. Feed with [`push`](Self::push), end with [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct PhaseParser {
    phase: Phase,
    /// Text that is a prefix of some tag, not yet emitted.
    pending: String,
    /// Characters of `\boxed{` matched so far.
    boxed_matched: usize,
    /// Content and brace depth of an open `\boxed{`.
    boxed: Option<(String, usize)>,
    answer_block: Option<String>,
    last_answer: Option<String>,
    last_boxed: Option<String>,
}

impl Default for PhaseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl PhaseParser {
    pub fn new() -> Self {
        Self {
            phase: Phase::Answer,
            pending: String::new(),
            boxed_matched: 0,
            boxed: None,
            answer_block: None,
            last_answer: None,
            last_boxed: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The final answer as the official eval code takes it: the last `\boxed{}` content, else
    /// the last `<answer>` block, else None.
    pub fn final_answer(&self) -> Option<&str> {
        self.last_boxed.as_deref().or(self.last_answer.as_deref())
    }

    /// Parses the next piece of text.
    pub fn push(&mut self, text: &str) -> Vec<PhaseEvent> {
        let mut events = Vec::new();
        let mut out = String::new();
        for c in text.chars() {
            self.pending.push(c);
            self.resolve(&mut out, &mut events);
        }
        flush_text(self.phase, &mut out, &mut events);
        events
    }

    /// Emits any held-back text (the stream ended inside what looked like a tag).
    pub fn finish(&mut self) -> Vec<PhaseEvent> {
        let mut events = Vec::new();
        let mut out = String::new();
        let rest = std::mem::take(&mut self.pending);
        for c in rest.chars() {
            self.emit_char(c, &mut out, &mut events);
        }
        flush_text(self.phase, &mut out, &mut events);
        events
    }

    /// Decides the pending text: a whole tag switches the phase; a tag prefix waits; otherwise
    /// its first character is plain text and the rest is looked at again.
    fn resolve(&mut self, out: &mut String, events: &mut Vec<PhaseEvent>) {
        while !self.pending.is_empty() {
            if let Some(&(tag, next)) = TAGS.iter().find(|(t, _)| *t == self.pending) {
                let opening = !tag.starts_with("</");
                if opening && next != self.phase {
                    self.switch(next, out, events);
                }
                out.push_str(tag);
                self.track_answer_tag(tag);
                self.pending.clear();
                if !opening && next != self.phase {
                    self.switch(next, out, events);
                }
                return;
            }
            if TAGS
                .iter()
                .any(|(t, _)| t.starts_with(self.pending.as_str()))
            {
                return;
            }
            let c = self.pending.remove(0);
            self.emit_char(c, out, events);
        }
    }

    fn switch(&mut self, next: Phase, out: &mut String, events: &mut Vec<PhaseEvent>) {
        flush_text(self.phase, out, events);
        self.phase = next;
        events.push(PhaseEvent::Phase { phase: next });
    }

    fn track_answer_tag(&mut self, tag: &str) {
        match tag {
            "<answer>" => self.answer_block = Some(String::new()),
            "</answer>" => self.last_answer = self.answer_block.take().or(self.last_answer.take()),
            _ => {}
        }
    }

    /// One plain character: goes to the output and through the `\boxed{}` tracker.
    fn emit_char(&mut self, c: char, out: &mut String, events: &mut Vec<PhaseEvent>) {
        out.push(c);
        if let Some(block) = &mut self.answer_block {
            block.push(c);
        }
        if let Some((content, depth)) = &mut self.boxed {
            match c {
                '{' => *depth += 1,
                '}' if *depth == 0 => {
                    let content = std::mem::take(content);
                    self.boxed = None;
                    self.last_boxed = Some(content.clone());
                    flush_text(self.phase, out, events);
                    events.push(PhaseEvent::Boxed { content });
                    return;
                }
                '}' => *depth -= 1,
                _ => {}
            }
            content.push(c);
            return;
        }
        if BOXED[self.boxed_matched..].starts_with(c) {
            self.boxed_matched += c.len_utf8();
        } else {
            self.boxed_matched = usize::from(BOXED.starts_with(c));
        }
        if self.boxed_matched == BOXED.len() {
            self.boxed_matched = 0;
            self.boxed = Some((String::new(), 0));
        }
    }
}

fn flush_text(phase: Phase, out: &mut String, events: &mut Vec<PhaseEvent>) {
    if !out.is_empty() {
        events.push(PhaseEvent::Text {
            phase,
            text: std::mem::take(out),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events with adjacent texts of one phase joined, so different cuts compare equal.
    fn normalized(events: Vec<PhaseEvent>) -> Vec<PhaseEvent> {
        let mut out: Vec<PhaseEvent> = Vec::new();
        for e in events {
            if let (
                Some(PhaseEvent::Text { phase: p, text }),
                PhaseEvent::Text {
                    phase: q,
                    text: more,
                },
            ) = (out.last_mut(), &e)
                && p == q
            {
                text.push_str(more);
                continue;
            }
            out.push(e);
        }
        out
    }

    fn parse_in_pieces(pieces: &[&str]) -> (Vec<PhaseEvent>, Option<String>) {
        let mut parser = PhaseParser::new();
        let mut events = Vec::new();
        for p in pieces {
            events.extend(parser.push(p));
        }
        events.extend(parser.finish());
        (
            normalized(events),
            parser.final_answer().map(str::to_string),
        )
    }

    const TRACE: &str = "<analysis>Needs care: é→🙂</analysis><think>\nLet x = {1}.\n</think>\n\n\
                         <answer>So \\boxed{\\frac{1}{2}} and <thin</answer> tail <";

    #[test]
    fn every_split_gives_the_same_phases_and_text() {
        let (whole, answer) = parse_in_pieces(&[TRACE]);
        let text: String = whole
            .iter()
            .filter_map(|e| match e {
                PhaseEvent::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, TRACE, "nothing dropped or duplicated");
        assert_eq!(answer.as_deref(), Some("\\frac{1}{2}"));
        let boundaries: Vec<usize> = (0..=TRACE.len())
            .filter(|&i| TRACE.is_char_boundary(i))
            .collect();
        for &i in &boundaries {
            for &j in boundaries.iter().filter(|&&j| j >= i) {
                let (got, got_answer) = parse_in_pieces(&[&TRACE[..i], &TRACE[i..j], &TRACE[j..]]);
                assert_eq!(got, whole, "split at {i} and {j}");
                assert_eq!(got_answer, answer);
            }
        }
        // One character at a time as well.
        let chars: Vec<String> = TRACE.chars().map(String::from).collect();
        let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(parse_in_pieces(&pieces).0, whole);
    }

    #[test]
    fn phases_follow_the_tags() {
        let (events, _) = parse_in_pieces(&[TRACE]);
        let phases: Vec<(Phase, &str)> = events
            .iter()
            .filter_map(|e| match e {
                PhaseEvent::Text { phase, text } => Some((*phase, text.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            phases[..3],
            [
                (Phase::Analysis, "<analysis>Needs care: é→🙂</analysis>"),
                (Phase::Thinking, "<think>\nLet x = {1}.\n</think>"),
                (Phase::Answer, "\n\n<answer>So \\boxed{\\frac{1}{2}}"),
            ]
        );
        assert!(events.contains(&PhaseEvent::Boxed {
            content: "\\frac{1}{2}".into()
        }));
    }

    #[test]
    fn answer_block_is_the_final_answer_without_boxed() {
        let (_, answer) = parse_in_pieces(&["<think>a</think><answer>B</answer>"]);
        assert_eq!(answer.as_deref(), Some("B"));
        let (events, answer) = parse_in_pieces(&["plain <thinking> text"]);
        assert_eq!(answer, None);
        assert_eq!(
            events,
            vec![PhaseEvent::Text {
                phase: Phase::Answer,
                text: "plain <thinking> text".into()
            }]
        );
    }
}
