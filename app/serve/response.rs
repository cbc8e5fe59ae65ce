//! The answer in OpenAI's shapes, built from the app's generation events: `chat.completion.chunk`
//! objects for a stream and one `chat.completion` otherwise. As vLLM's reasoning parsers do, the
//! reasoning (Keye-VL's `<analysis>` and `<think>` blocks, tags removed) goes to
//! `reasoning_content` and the answer to `content`, so the concatenated `content` is exactly the
//! answer phase of a local `ask`.

use keye_model::generate::{GenerationEvent, GenerationSummary, Phase, StopReason};
use serde_json::{Value, json};

use super::request::StreamOptions;

/// Tags that open and close the reasoning phases; they are markup, not reasoning.
const REASONING_TAGS: [&str; 4] = ["<think>", "</think>", "<analysis>", "</analysis>"];

/// One answer being written, as stream chunks or as one completion.
#[derive(Debug)]
pub struct ResponseBuilder {
    id: String,
    created: u64,
    model: String,
    options: StreamOptions,
    return_token_ids: bool,
    prompt_tokens: usize,
    /// Generated ids not yet sent with a chunk.
    pending_ids: Vec<u32>,
    generated: usize,
    content: String,
    reasoning: String,
    summary: Option<GenerationSummary>,
}

/// What a generation event turned into.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Stream chunks to send (none while text is held back).
    Chunks(Vec<Value>),
    /// The answer is complete: the last chunks (finish reason, usage) are sent.
    Finished(Vec<Value>),
    /// Generation failed after the stream began.
    Failed(String),
}

impl ResponseBuilder {
    pub fn new(
        id: String,
        created: u64,
        model: String,
        options: StreamOptions,
        return_token_ids: bool,
        prompt_tokens: usize,
    ) -> Self {
        Self {
            id,
            created,
            model,
            options,
            return_token_ids,
            prompt_tokens,
            pending_ids: Vec::new(),
            generated: 0,
            content: String::new(),
            reasoning: String::new(),
            summary: None,
        }
    }

    /// The first chunk of a stream: the assistant role.
    pub fn role_chunk(&self) -> Value {
        self.chunk(
            json!({"role": "assistant", "content": ""}),
            None,
            Vec::new(),
        )
    }

    /// Folds one generation event in; for a stream, the chunks it yields.
    pub fn push(&mut self, event: GenerationEvent) -> Step {
        match event {
            GenerationEvent::Prefilled { prompt_tokens, .. } => {
                self.prompt_tokens = prompt_tokens;
                Step::Chunks(Vec::new())
            }
            GenerationEvent::Token { id, .. } => {
                self.pending_ids.push(id);
                self.generated += 1;
                Step::Chunks(Vec::new())
            }
            GenerationEvent::Text { phase, delta } => {
                let delta = match phase {
                    Phase::Answer => {
                        self.content.push_str(&delta);
                        json!({"content": delta})
                    }
                    Phase::Thinking | Phase::Analysis => {
                        let text = strip_reasoning_tags(&delta);
                        if text.is_empty() {
                            return Step::Chunks(Vec::new());
                        }
                        self.reasoning.push_str(&text);
                        json!({"reasoning_content": text})
                    }
                };
                let ids = std::mem::take(&mut self.pending_ids);
                Step::Chunks(vec![self.chunk(delta, None, ids)])
            }
            GenerationEvent::Done(summary) => {
                self.generated = summary.tokens.len();
                let ids = std::mem::take(&mut self.pending_ids);
                let finish = finish_reason(summary.stop);
                self.summary = Some(summary);
                let mut last = vec![self.chunk(json!({}), Some(finish), ids)];
                if self.options.include_usage {
                    last.push(json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": self.usage(),
                    }));
                }
                Step::Finished(last)
            }
            GenerationEvent::Error { message } => Step::Failed(message),
            GenerationEvent::Phase { .. }
            | GenerationEvent::Boxed { .. }
            | GenerationEvent::Attention(_) => Step::Chunks(Vec::new()),
        }
    }

    /// The whole answer as one `chat.completion` (after [`Step::Finished`]).
    pub fn completion(&self) -> Value {
        let stop = self.summary.as_ref().map(|s| s.stop);
        let mut choice = json!({
            "index": 0,
            "message": {
                "role": "assistant",
                "content": self.content,
                "reasoning_content": (!self.reasoning.is_empty()).then_some(&self.reasoning),
            },
            "logprobs": null,
            "finish_reason": stop.map(finish_reason),
            "stop_reason": match stop {
                Some(StopReason::StopToken { id }) => json!(id),
                _ => Value::Null,
            },
        });
        if self.return_token_ids
            && let Some(summary) = &self.summary
        {
            choice["token_ids"] = json!(summary.tokens);
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": self.usage(),
        })
    }

    fn usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.generated,
            "total_tokens": self.prompt_tokens + self.generated,
        })
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, ids: Vec<u32>) -> Value {
        let mut choice = json!({
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish,
        });
        if self.return_token_ids {
            choice["token_ids"] = json!(ids);
        }
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        });
        if self.options.include_usage && self.options.continuous_usage_stats {
            chunk["usage"] = self.usage();
        }
        chunk
    }
}

/// OpenAI's finish reasons (vLLM's `abort` for a generation cut short).
fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::StopToken { .. } => "stop",
        StopReason::MaxNewTokens => "length",
        StopReason::Cancelled => "abort",
    }
}

/// Reasoning text without the tags that delimit it (the phase parser emits a tag whole, so a
/// tag never spans two deltas).
fn strip_reasoning_tags(text: &str) -> String {
    REASONING_TAGS
        .iter()
        .fold(text.to_owned(), |text, tag| text.replace(tag, ""))
}

#[cfg(test)]
mod tests {
    use keye_model::generate::Timing;

    use super::*;

    fn summary(tokens: Vec<u32>, stop: StopReason) -> GenerationSummary {
        GenerationSummary {
            tokens,
            text: String::new(),
            stop,
            timing: Timing {
                prompt_tokens: 7,
                prefill_ms: 1.0,
                decode_steps: 0,
                decode_ms: 0.0,
                tokens_per_s: 0.0,
            },
            final_answer: None,
        }
    }

    fn text(phase: Phase, delta: &str) -> GenerationEvent {
        GenerationEvent::Text {
            phase,
            delta: delta.into(),
        }
    }

    #[test]
    fn reasoning_and_answer_go_to_their_own_fields_with_their_token_ids() {
        let options = StreamOptions {
            include_usage: true,
            continuous_usage_stats: false,
        };
        let mut builder = ResponseBuilder::new("c".into(), 1, "m".into(), options, true, 7);
        let mut chunks = Vec::new();
        let events = [
            GenerationEvent::Token { step: 0, id: 5 },
            text(Phase::Thinking, "<think>look"),
            GenerationEvent::Token { step: 1, id: 6 },
            text(Phase::Thinking, "</think>"),
            GenerationEvent::Token { step: 2, id: 8 },
            text(Phase::Answer, "A dog."),
            GenerationEvent::Token { step: 3, id: 2 },
            GenerationEvent::Done(summary(vec![5, 6, 8, 2], StopReason::StopToken { id: 2 })),
        ];
        for event in events {
            match builder.push(event) {
                Step::Chunks(more) | Step::Finished(more) => chunks.extend(more),
                Step::Failed(message) => panic!("{message}"),
            }
        }
        let deltas: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| &c["delta"])
            .collect();
        assert_eq!(deltas[0], &json!({"reasoning_content": "look"}));
        assert_eq!(deltas[1], &json!({"content": "A dog."}));
        let ids: Vec<u64> = chunks
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .flat_map(|c| c["token_ids"].as_array().unwrap().clone())
            .map(|id| id.as_u64().unwrap())
            .collect();
        assert_eq!(ids, [5, 6, 8, 2], "every id once, in order");
        let finish = &chunks[2]["choices"][0];
        assert_eq!(finish["finish_reason"], "stop");
        assert_eq!(chunks[3]["choices"], json!([]));
        assert_eq!(
            chunks[3]["usage"],
            json!({"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11})
        );
        let completion = builder.completion();
        assert_eq!(completion["choices"][0]["message"]["content"], "A dog.");
        assert_eq!(
            completion["choices"][0]["message"]["reasoning_content"],
            "look"
        );
        assert_eq!(completion["choices"][0]["stop_reason"], 2);
    }

    #[test]
    fn an_answer_cut_by_max_tokens_finishes_with_length() {
        let mut builder = ResponseBuilder::new(
            "c".into(),
            1,
            "m".into(),
            StreamOptions::default(),
            false,
            3,
        );
        builder.push(text(Phase::Answer, "abc"));
        let Step::Finished(last) = builder.push(GenerationEvent::Done(summary(
            vec![1, 2],
            StopReason::MaxNewTokens,
        ))) else {
            panic!("done finishes");
        };
        assert_eq!(last.len(), 1, "no usage chunk unless asked for");
        assert_eq!(last[0]["choices"][0]["finish_reason"], "length");
        assert!(last[0]["choices"][0].get("token_ids").is_none());
        let completion = builder.completion();
        assert_eq!(
            completion["choices"][0]["message"]["reasoning_content"],
            Value::Null
        );
        assert_eq!(completion["usage"]["completion_tokens"], 2);
    }
}
