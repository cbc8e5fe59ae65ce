//! `POST /v1/chat/completions` requests: the OpenAI chat format plus vLLM's extra fields
//! (`top_k`, `repetition_penalty`, `ignore_eos`, `stop_token_ids`, `return_token_ids`,
//! `chat_template_kwargs.enable_thinking`, `mm_processor_kwargs`), read with errors that name the
//! field at fault, and turned into the app's [`Question`].

use std::path::PathBuf;

use keye_model::{budget::VisualBudget, generate::ThinkingMode};
use serde::Deserialize;
use serde_json::Value;

use super::{
    error::ApiError,
    media::{self, MediaKind, MediaRoots, Scratch},
};
use crate::inference::{LoadedModel, Question, Turn};

/// The most tokens one answer may ask for (Keye-VL's `model_max_length`); the KV cache is sized
/// for the whole answer up front, so a larger number would only exhaust memory.
pub const MAX_NEW_TOKENS_LIMIT: usize = 131_072;

/// The fields this server reads; any other field is ignored, as OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<RawMessage>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub max_tokens: Option<usize>,
    pub max_completion_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// vLLM: 0 or -1 keeps every token.
    pub top_k: Option<i64>,
    pub repetition_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub n: Option<usize>,
    pub stop: Option<Value>,
    pub stop_token_ids: Option<Vec<u32>>,
    #[serde(default)]
    pub ignore_eos: bool,
    pub chat_template_kwargs: Option<TemplateKwargs>,
    pub mm_processor_kwargs: Option<MediaKwargs>,
    #[serde(default)]
    pub return_token_ids: bool,
}

/// `stream_options`: OpenAI's `include_usage` and vLLM's `continuous_usage_stats` (usage in
/// every chunk).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
    #[serde(default)]
    pub continuous_usage_stats: bool,
}

/// `chat_template_kwargs`: Qwen3's thinking switch, mapped onto Keye-VL's `/think` and `/no_think`.
#[derive(Debug, Deserialize)]
pub struct TemplateKwargs {
    pub enable_thinking: Option<bool>,
}

/// `mm_processor_kwargs`: how densely videos are sampled, as keye-vl-utils names the knobs.
#[derive(Debug, Deserialize)]
pub struct MediaKwargs {
    pub fps: Option<f64>,
    pub max_frames: Option<usize>,
    pub max_pixels: Option<u64>,
}

/// A message as sent; its content is read by hand so that errors can say which part is wrong.
#[derive(Debug, Deserialize)]
pub struct RawMessage {
    pub role: String,
    #[serde(default)]
    pub content: Value,
}

/// Reads the request body; the error names the field and what was expected.
pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object with \"messages\"",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(format!("the request body: {inner}"))
        } else {
            ApiError::bad_field(path, inner)
        }
    })
}

/// A request made ready for the model worker.
#[derive(Debug)]
pub struct PreparedRequest {
    pub question: Question,
    /// Each media file and the request part it came from, so that errors about a decoded
    /// `data:` URL name the part instead of a scratch file.
    pub media_labels: Vec<(PathBuf, String)>,
    /// Owns the decoded files until the answer is done.
    pub scratch: Scratch,
}

/// Checks `request` against `model` and builds the question under `budget` (the model's
/// default when `None`); media are resolved under `roots`.
pub fn prepare(
    request: &ChatRequest,
    model: &LoadedModel,
    budget: Option<VisualBudget>,
    roots: &MediaRoots,
) -> Result<PreparedRequest, ApiError> {
    if let Some(n) = request.n
        && n != 1
    {
        return Err(ApiError::bad_field(
            "n",
            "only one choice per request is generated (n = 1)",
        ));
    }
    let has_stop = match &request.stop {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
    };
    if has_stop {
        return Err(ApiError::bad_field(
            "stop",
            "stop strings are not supported; use stop_token_ids",
        ));
    }
    let mut scratch = Scratch::default();
    let mut media_labels = Vec::new();
    let conversation = read_messages(&request.messages, roots, &mut scratch, &mut media_labels)?;

    let mut sampling = model.runtime.sampling.clone();
    if let Some(t) = request.temperature {
        sampling.temperature = t;
    }
    if let Some(p) = request.top_p {
        sampling.top_p = p;
    }
    if let Some(k) = request.top_k {
        sampling.top_k = usize::try_from(k).ok().filter(|&k| k > 0);
    }
    if let Some(r) = request.repetition_penalty {
        sampling.repetition_penalty = r;
    }
    if let Some(seed) = request.seed {
        sampling.seed = seed;
    }
    let (field, max_tokens) = match (request.max_completion_tokens, request.max_tokens) {
        (Some(n), _) => ("max_completion_tokens", Some(n)),
        (None, n) => ("max_tokens", n),
    };
    if let Some(n) = max_tokens {
        if n == 0 || n > MAX_NEW_TOKENS_LIMIT {
            return Err(ApiError::bad_field(
                field,
                format!("must be between 1 and {MAX_NEW_TOKENS_LIMIT}, got {n}"),
            ));
        }
        sampling.max_new_tokens = n;
    }
    if request.ignore_eos {
        sampling.stop_ids.clear();
    }
    if let Some(ids) = &request.stop_token_ids {
        sampling.stop_ids.extend(ids);
    }
    sampling.validate().map_err(ApiError::bad_request)?;

    let thinking = match request
        .chat_template_kwargs
        .as_ref()
        .and_then(|k| k.enable_thinking)
    {
        Some(true) => ThinkingMode::Think,
        Some(false) => ThinkingMode::NoThink,
        None => ThinkingMode::Auto,
    };
    let mut budget = budget.unwrap_or_else(|| model.default_budget());
    if let Some(kwargs) = &request.mm_processor_kwargs {
        if let Some(fps) = kwargs.fps {
            if !(fps.is_finite() && fps > 0.0) {
                return Err(ApiError::bad_field(
                    "mm_processor_kwargs.fps",
                    format!("must be a positive number, got {fps}"),
                ));
            }
            budget.fps = Some(fps);
        }
        if let Some(frames) = kwargs.max_frames {
            if frames == 0 {
                return Err(ApiError::bad_field(
                    "mm_processor_kwargs.max_frames",
                    "must be at least 1",
                ));
            }
            budget.max_frames = Some(frames);
        }
        if let Some(pixels) = kwargs.max_pixels {
            budget.max_pixels = Some(pixels);
        }
    }
    Ok(PreparedRequest {
        question: Question {
            media: conversation.media,
            history: conversation.history,
            text: conversation.text,
            system: conversation.system,
            thinking,
            sampling,
            capture: None,
            budget,
            // Each request's media are new files: the worker opens and indexes them.
            indexed: Vec::new(),
        },
        media_labels,
        scratch,
    })
}

/// The messages as the app's question holds them.
struct Conversation {
    system: Option<String>,
    media: Vec<PathBuf>,
    history: Vec<Turn>,
    text: String,
}

/// Reads the messages: an optional system message first, then user and assistant in turn, ending
/// with a user message; images and videos only in the first user message (the app's chat puts
/// them before its text, as Keye-VL's examples do).
fn read_messages(
    messages: &[RawMessage],
    roots: &MediaRoots,
    scratch: &mut Scratch,
    labels: &mut Vec<(PathBuf, String)>,
) -> Result<Conversation, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::bad_field(
            "messages",
            "at least one user message is needed",
        ));
    }
    let mut system = None;
    let mut media = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let place = format!("messages[{i}]");
        match message.role.as_str() {
            "system" | "developer" => {
                if i != 0 {
                    return Err(ApiError::bad_field(
                        place,
                        "a system message may only come first",
                    ));
                }
                system = Some(text_only(&message.content, &place)?);
            }
            role @ ("user" | "assistant") => {
                let expected = if texts.len().is_multiple_of(2) {
                    "user"
                } else {
                    "assistant"
                };
                if role != expected {
                    return Err(ApiError::bad_field(
                        format!("{place}.role"),
                        format!(
                            "expected a {expected} message here: messages alternate user and \
                             assistant, ending with a user message"
                        ),
                    ));
                }
                let text = if role == "user" {
                    let first = texts.is_empty();
                    user_content(
                        &message.content,
                        &place,
                        first,
                        roots,
                        scratch,
                        &mut media,
                        labels,
                    )?
                } else {
                    text_only(&message.content, &place)?
                };
                texts.push(text);
            }
            other => {
                return Err(ApiError::bad_field(
                    format!("{place}.role"),
                    format!("unsupported role {other:?} (system, user or assistant)"),
                ));
            }
        }
    }
    if texts.len().is_multiple_of(2) {
        return Err(ApiError::bad_field(
            "messages",
            "the last message must be a user message",
        ));
    }
    let text = texts.pop().unwrap_or_default();
    let history = texts
        .chunks(2)
        .map(|pair| Turn {
            question: pair[0].clone(),
            answer: pair[1].clone(),
        })
        .collect();
    Ok(Conversation {
        system,
        media,
        history,
        text,
    })
}

/// The text of a message that may hold no media: a string, text parts, or null.
fn text_only(content: &Value, place: &str) -> Result<String, ApiError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(text) => Ok(text.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let param = format!("{place}.content[{j}]");
                match part_type(part, &param)? {
                    "text" => text.push_str(part_text(part, &param)?),
                    other => {
                        return Err(ApiError::bad_field(
                            param,
                            format!("a {other} part is only allowed in the first user message"),
                        ));
                    }
                }
            }
            Ok(text)
        }
        other => Err(ApiError::bad_field(
            format!("{place}.content"),
            format!(
                "expected a string or an array of parts, got {}",
                kind_of(other)
            ),
        )),
    }
}

/// A user message's text; its images and videos are resolved into `media`.
fn user_content(
    content: &Value,
    place: &str,
    first: bool,
    roots: &MediaRoots,
    scratch: &mut Scratch,
    media: &mut Vec<PathBuf>,
    labels: &mut Vec<(PathBuf, String)>,
) -> Result<String, ApiError> {
    let Value::Array(parts) = content else {
        return text_only(content, place);
    };
    let mut text = String::new();
    for (j, part) in parts.iter().enumerate() {
        let param = format!("{place}.content[{j}]");
        let kind = match part_type(part, &param)? {
            "text" => {
                text.push_str(part_text(part, &param)?);
                continue;
            }
            "image_url" => MediaKind::Image,
            "video_url" => MediaKind::Video,
            other => {
                return Err(ApiError::bad_field(
                    format!("{param}.type"),
                    format!("unsupported part type {other:?} (text, image_url or video_url)"),
                ));
            }
        };
        if !first {
            return Err(ApiError::bad_field(
                param,
                "images and videos may only be attached to the first user message",
            ));
        }
        let field = kind.part_type();
        let url = match part.get(field) {
            Some(Value::String(url)) => url,
            Some(Value::Object(object)) => match object.get("url") {
                Some(Value::String(url)) => url,
                Some(other) => {
                    return Err(ApiError::bad_field(
                        format!("{param}.{field}.url"),
                        format!("expected a string, got {}", kind_of(other)),
                    ));
                }
                None => {
                    return Err(ApiError::bad_field(
                        format!("{param}.{field}"),
                        "missing \"url\"",
                    ));
                }
            },
            Some(other) => {
                return Err(ApiError::bad_field(
                    format!("{param}.{field}"),
                    format!("expected {{\"url\": ...}}, got {}", kind_of(other)),
                ));
            }
            None => {
                return Err(ApiError::bad_field(
                    param,
                    format!("a {field} part needs \"{field}\": {{\"url\": ...}}"),
                ));
            }
        };
        let path = media::resolve(
            url,
            kind,
            &format!("{param}.{field}"),
            media.len(),
            roots,
            scratch,
        )?;
        labels.push((path.clone(), format!("the {field} of {param}")));
        media.push(path);
    }
    Ok(text)
}

fn part_type<'a>(part: &'a Value, param: &str) -> Result<&'a str, ApiError> {
    match part.get("type") {
        Some(Value::String(kind)) => Ok(kind),
        _ if !part.is_object() => Err(ApiError::bad_field(
            param,
            format!("expected a part object, got {}", kind_of(part)),
        )),
        _ => Err(ApiError::bad_field(
            param,
            "a part needs a \"type\" (text, image_url or video_url)",
        )),
    }
}

fn part_text<'a>(part: &'a Value, param: &str) -> Result<&'a str, ApiError> {
    match part.get("text") {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(ApiError::bad_field(
            format!("{param}.text"),
            format!("expected a string, got {}", kind_of(other)),
        )),
        None => Err(ApiError::bad_field(param, "a text part needs \"text\"")),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_the_field_and_what_was_expected() {
        let error = parse(br#"{"messages": [], "max_tokens": "ten"}"#).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("max_tokens"), "{error:?}");
        assert!(error.message.contains("invalid type: string"), "{error:?}");
        let error = parse(br#"{"messages": [{"role": 3}]}"#).unwrap_err();
        assert_eq!(
            error.param.as_deref(),
            Some("messages[0].role"),
            "{error:?}"
        );
        let error = parse(b"{\"messages\": [").unwrap_err();
        assert!(error.message.contains("not valid JSON"), "{error:?}");
        let error = parse(b"{} {}").unwrap_err();
        assert!(error.message.contains("not valid JSON"), "{error:?}");
        let error = parse(b"[1]").unwrap_err();
        assert!(error.message.contains("JSON object"), "{error:?}");
        let error = parse(br#"{"model": "x"}"#).unwrap_err();
        assert!(
            error.message.contains("missing field `messages`"),
            "{error:?}"
        );
        // Unknown fields are ignored, as OpenAI clients send many.
        assert!(parse(br#"{"messages": [], "user": "me", "logit_bias": {}}"#).is_ok());
    }

    fn conversation(messages: Value) -> Result<Conversation, ApiError> {
        let messages: Vec<RawMessage> = serde_json::from_value(messages).unwrap();
        read_messages(
            &messages,
            &MediaRoots::default(),
            &mut Scratch::default(),
            &mut Vec::new(),
        )
    }

    #[test]
    fn messages_become_system_history_and_question() {
        let read = conversation(serde_json::json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Who "}, {"type": "text", "text": "is there?"}]},
            {"role": "assistant", "content": "A dog."},
            {"role": "user", "content": "And then?"},
        ]))
        .unwrap();
        assert_eq!(read.system.as_deref(), Some("Be brief."));
        assert_eq!(
            read.history,
            [Turn {
                question: "Who is there?".into(),
                answer: "A dog.".into()
            }]
        );
        assert_eq!(read.text, "And then?");
    }

    #[test]
    fn malformed_messages_are_refused_with_the_place() {
        for (messages, param, needle) in [
            (serde_json::json!([]), "messages", "at least one"),
            (
                serde_json::json!([{"role": "assistant", "content": "x"}]),
                "messages[0].role",
                "expected a user",
            ),
            (
                serde_json::json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]),
                "messages",
                "last message",
            ),
            (
                serde_json::json!([{"role": "tool", "content": "x"}]),
                "messages[0].role",
                "unsupported role",
            ),
            (
                serde_json::json!([{"role": "user", "content": 7}]),
                "messages[0].content",
                "got a number",
            ),
            (
                serde_json::json!([{"role": "user", "content": [{"text": "x"}]}]),
                "messages[0].content[0]",
                "needs a \"type\"",
            ),
            (
                serde_json::json!([{"role": "user", "content": [{"type": "input_audio"}]}]),
                "messages[0].content[0].type",
                "unsupported part type",
            ),
            (
                serde_json::json!([{"role": "user", "content": [{"type": "video_url"}]}]),
                "messages[0].content[0]",
                "needs \"video_url\"",
            ),
            (
                serde_json::json!([{"role": "user", "content": [{"type": "video_url", "video_url": {}}]}]),
                "messages[0].content[0].video_url",
                "missing \"url\"",
            ),
            (
                serde_json::json!([{"role": "user", "content": [{"type": "text", "text": 1}]}]),
                "messages[0].content[0].text",
                "expected a string",
            ),
            (
                serde_json::json!([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]),
                "messages[1]",
                "only come first",
            ),
            (
                serde_json::json!([
                    {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                    {"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png;base64,aGk="}]}
                ]),
                "messages[2].content[0]",
                "first user message",
            ),
        ] {
            let error = conversation(messages.clone())
                .err()
                .unwrap_or_else(|| panic!("{messages}"));
            assert_eq!(error.param.as_deref(), Some(param), "{messages}: {error:?}");
            assert!(error.message.contains(needle), "{messages}: {error:?}");
            assert_eq!(error.status, 400, "{messages}: {error:?}");
        }
    }
}
