//! Reading an OpenAI-compatible stream back into the app's generation events: server-sent event
//! framing, then each `chat.completion.chunk` turned into `Token`, `Phase`, `Text` and `Boxed`
//! events as a local generation emits them. `reasoning_content` (or vLLM's newer `reasoning`)
//! is the thinking phase; `content` goes through the same phase parser as local text, so a
//! server without a reasoning parser, which leaves `<think>…</think>` in the content, is split
//! the same way.

use std::time::Instant;

use keye_model::generate::{
    GenerationEvent, GenerationSummary, Phase, PhaseEvent, PhaseParser, StopReason, Timing,
};
use serde_json::Value;

/// The stop id reported when a server says it stopped at a stop token without saying which.
pub const UNKNOWN_STOP_ID: u32 = u32::MAX;

/// Server-sent event framing: `data:` lines gathered until a blank line; comments and other
/// fields skipped.
#[derive(Debug, Default)]
pub struct SseFrames {
    data: Vec<String>,
}

impl SseFrames {
    /// Takes one line (without its line ending); returns an event's data when a blank line
    /// completes it.
    pub fn line(&mut self, line: &str) -> Option<String> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if self.data.is_empty() {
                return None;
            }
            return Some(std::mem::take(&mut self.data).join("\n"));
        }
        if let Some(data) = line.strip_prefix("data:") {
            self.data
                .push(data.strip_prefix(' ').unwrap_or(data).to_owned());
        }
        None
    }
}

/// One streamed answer being read.
#[derive(Debug)]
pub struct ChunkReader {
    parser: PhaseParser,
    /// The phase of the last text shown.
    shown: Phase,
    step: usize,
    started: Instant,
    first_token: Option<Instant>,
    prompt_tokens: usize,
    completion_tokens: Option<usize>,
    ids: Vec<u32>,
    text: String,
    finish: Option<String>,
    stop_id: Option<u32>,
}

impl ChunkReader {
    /// A reader for an answer asked for at `started` (prefill time is measured from there).
    pub fn new(started: Instant) -> Self {
        Self {
            parser: PhaseParser::new(),
            shown: Phase::Answer,
            step: 0,
            started,
            first_token: None,
            prompt_tokens: 0,
            completion_tokens: None,
            ids: Vec::new(),
            text: String::new(),
            finish: None,
            stop_id: None,
        }
    }

    /// Reads one event's data; `Ok(true)` at `[DONE]`, `Err` with the server's message when it
    /// reports a failure.
    pub fn push(
        &mut self,
        data: &str,
        emit: &mut dyn FnMut(GenerationEvent),
    ) -> Result<bool, String> {
        if data.trim() == "[DONE]" {
            return Ok(true);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| format!("the server sent an event that is not JSON ({e}): {data}"))?;
        if let Some(message) = error_message(&chunk) {
            return Err(message);
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            if let Some(n) = usage["prompt_tokens"].as_u64() {
                self.prompt_tokens = n as usize;
            }
            if let Some(n) = usage["completion_tokens"].as_u64() {
                self.completion_tokens = Some(n as usize);
            }
        }
        let Some(choice) = chunk["choices"].get(0) else {
            return Ok(false);
        };
        if let Some(ids) = choice["token_ids"].as_array() {
            for id in ids.iter().filter_map(Value::as_u64) {
                self.first_token(emit);
                emit(GenerationEvent::Token {
                    step: self.step,
                    id: id as u32,
                });
                self.ids.push(id as u32);
                self.step += 1;
            }
        }
        let delta = &choice["delta"];
        let reasoning = delta["reasoning_content"]
            .as_str()
            .or_else(|| delta["reasoning"].as_str())
            .unwrap_or_default();
        if !reasoning.is_empty() {
            self.first_token(emit);
            self.show(Phase::Thinking, reasoning.to_owned(), emit);
        }
        if let Some(content) = delta["content"].as_str().filter(|c| !c.is_empty()) {
            self.first_token(emit);
            let events = self.parser.push(content);
            self.phase_events(events, emit);
        }
        if let Some(finish) = choice["finish_reason"].as_str() {
            self.finish = Some(finish.to_owned());
        }
        if let Some(id) = choice["stop_reason"].as_u64() {
            self.stop_id = Some(id as u32);
        }
        Ok(false)
    }

    /// Ends the answer (`cancelled` when the reader stopped early): flushes held-back text and
    /// returns the summary a local generation would end with.
    pub fn finish(
        mut self,
        cancelled: bool,
        emit: &mut dyn FnMut(GenerationEvent),
    ) -> GenerationSummary {
        let events = self.parser.finish();
        self.phase_events(events, emit);
        let stop = match self.finish.as_deref() {
            _ if cancelled => StopReason::Cancelled,
            Some("length") => StopReason::MaxNewTokens,
            Some("abort") => StopReason::Cancelled,
            _ => StopReason::StopToken {
                id: self
                    .stop_id
                    .or_else(|| self.ids.last().copied())
                    .unwrap_or(UNKNOWN_STOP_ID),
            },
        };
        let now = Instant::now();
        let first = self.first_token.unwrap_or(now);
        let generated = self.completion_tokens.unwrap_or(self.ids.len());
        let decode_steps = generated.saturating_sub(1);
        let decode_ms = (now - first).as_secs_f64() * 1000.0;
        GenerationSummary {
            tokens: self.ids,
            text: self.text,
            stop,
            timing: Timing {
                prompt_tokens: self.prompt_tokens,
                prefill_ms: (first - self.started).as_secs_f64() * 1000.0,
                decode_steps,
                decode_ms,
                tokens_per_s: if decode_ms > 0.0 {
                    decode_steps as f64 / (decode_ms / 1000.0)
                } else {
                    0.0
                },
            },
            final_answer: self.parser.final_answer().map(str::to_owned),
        }
    }

    /// The first generated output: the prompt is processed (`Prefilled`, timed from the ask).
    fn first_token(&mut self, emit: &mut dyn FnMut(GenerationEvent)) {
        if self.first_token.is_none() {
            let now = Instant::now();
            self.first_token = Some(now);
            emit(GenerationEvent::Prefilled {
                prompt_tokens: self.prompt_tokens,
                prefill_ms: (now - self.started).as_secs_f64() * 1000.0,
            });
        }
    }

    fn phase_events(&mut self, events: Vec<PhaseEvent>, emit: &mut dyn FnMut(GenerationEvent)) {
        for event in events {
            match event {
                PhaseEvent::Text { phase, text } => self.show(phase, text, emit),
                PhaseEvent::Boxed { content } => emit(GenerationEvent::Boxed { content }),
                PhaseEvent::Phase { .. } => {} // Announced by `show` before the phase's text.
            }
        }
    }

    fn show(&mut self, phase: Phase, delta: String, emit: &mut dyn FnMut(GenerationEvent)) {
        if phase != self.shown {
            self.shown = phase;
            emit(GenerationEvent::Phase { phase });
        }
        self.text.push_str(&delta);
        emit(GenerationEvent::Text { phase, delta });
    }
}

/// The message of an error object, in OpenAI's shape (`{"error": {"message"}}`) or vLLM's older
/// one (`{"object": "error", "message"}`).
pub fn error_message(value: &Value) -> Option<String> {
    if let Some(error) = value.get("error") {
        return Some(match error {
            Value::String(message) => message.clone(),
            other => other["message"]
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned),
        });
    }
    (value["object"] == "error").then(|| {
        value["message"]
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(stream: &str) -> (Vec<GenerationEvent>, GenerationSummary) {
        let mut frames = SseFrames::default();
        let mut reader = ChunkReader::new(Instant::now());
        let mut events = Vec::new();
        for line in stream.lines() {
            if let Some(data) = frames.line(line) {
                let done = reader.push(&data, &mut |e| events.push(e)).unwrap();
                if done {
                    break;
                }
            }
        }
        let summary = reader.finish(false, &mut |e| events.push(e));
        (events, summary)
    }

    #[test]
    fn reasoning_content_is_thinking_and_content_is_the_answer() {
        let stream = concat!(
            ": keep-alive\n\n",
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":0}}\n\n",
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"},\"token_ids\":[4,5]}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"A \\\\boxed{2}\"},\"token_ids\":[6]}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"token_ids\":[2]}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (events, summary) = read(stream);
        let texts: Vec<(Phase, &str)> = events
            .iter()
            .filter_map(|e| match e {
                GenerationEvent::Text { phase, delta } => Some((*phase, delta.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            texts,
            [(Phase::Thinking, "hm"), (Phase::Answer, "A \\boxed{2}")]
        );
        assert!(matches!(
            events[0],
            GenerationEvent::Prefilled {
                prompt_tokens: 9,
                ..
            }
        ));
        let steps: Vec<(usize, u32)> = events
            .iter()
            .filter_map(|e| match e {
                GenerationEvent::Token { step, id } => Some((*step, *id)),
                _ => None,
            })
            .collect();
        assert_eq!(steps, [(0, 4), (1, 5), (2, 6), (3, 2)]);
        assert!(events.contains(&GenerationEvent::Boxed {
            content: "2".into()
        }));
        assert_eq!(summary.stop, StopReason::StopToken { id: 2 });
        assert_eq!(summary.tokens, [4, 5, 6, 2]);
        assert_eq!(summary.final_answer.as_deref(), Some("2"));
        assert_eq!(summary.timing.prompt_tokens, 9);
    }

    #[test]
    fn think_tags_left_in_the_content_are_split_like_local_text() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"<thi\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"nk>why</think>Yes\"},\"finish_reason\":\"length\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (events, summary) = read(stream);
        let phases: Vec<Phase> = events
            .iter()
            .filter_map(|e| match e {
                GenerationEvent::Phase { phase } => Some(*phase),
                _ => None,
            })
            .collect();
        assert_eq!(phases, [Phase::Thinking, Phase::Answer]);
        assert_eq!(summary.text, "<think>why</think>Yes");
        assert_eq!(summary.stop, StopReason::MaxNewTokens);
    }

    #[test]
    fn errors_in_either_shape_are_read() {
        let mut reader = ChunkReader::new(Instant::now());
        let error = reader
            .push(
                r#"{"error": {"message": "boom", "code": 500}}"#,
                &mut |_| {},
            )
            .unwrap_err();
        assert_eq!(error, "boom");
        let error = reader
            .push(r#"{"object": "error", "message": "old"}"#, &mut |_| {})
            .unwrap_err();
        assert_eq!(error, "old");
        assert!(reader.push("not json", &mut |_| {}).is_err());
    }
}
