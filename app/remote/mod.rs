//! The app as a client of any OpenAI-compatible server (vLLM serving Keye-VL, or `keye-studio
//! serve`): [`spawn_remote_ask`] sends a question over HTTP and turns the streamed answer into
//! the same [`AskEvent`]s a local model produces, so the CLI and the GUI show both the same way.
//! Videos and images travel inside the request as `data:` URLs (or as `file://` paths for a
//! server that shares the filesystem); the server samples the frames as its model expects.
//! Attention heatmaps need a local model: a server returns only text.

pub mod stream;

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use base64::Engine;
use crossbeam_channel::Sender;
use keye_model::generate::{GenerationEvent, GenerationOutput, ThinkingMode, VisionTokenMap};
use serde_json::{Value, json};

use self::stream::{ChunkReader, SseFrames, error_message};
use crate::files::is_image;
use crate::inference::{AskEvent, AskHandle, InferenceError, Turn};

/// What the CLI and the GUI say when a server is asked for attention maps.
pub const NO_REMOTE_ATTENTION: &str =
    "attention heatmaps need a local model (--model): a server returns only text";

/// How long a question waits for a place in a busy server's queue (429) before it fails.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(600);

/// An OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteServer {
    /// The base URL without a trailing `/v1` (`http://host:8000`).
    base: String,
    api_key: Option<String>,
}

/// Why talking to a server failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Url(String),
    #[error("cannot reach the server at {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("the server at {url} answered {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the server at {url} sent {what}")]
    Protocol { url: String, what: String },
    #[error("{path}: cannot read: {cause}")]
    Media {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl RemoteServer {
    /// `url` is the server's address, with or without `/v1` (`http://127.0.0.1:8000/v1`).
    pub fn new(url: &str, api_key: Option<String>) -> Result<Self, RemoteError> {
        let trimmed = url.trim().trim_end_matches('/');
        let base = trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_owned();
        if base.to_ascii_lowercase().starts_with("https://") {
            return Err(RemoteError::Url(format!(
                "{url}: https is not supported by this build (no TLS stack); reach the server \
                 over http, e.g. through an SSH tunnel"
            )));
        }
        if !base.to_ascii_lowercase().starts_with("http://") || base.len() <= "http://".len() {
            return Err(RemoteError::Url(format!(
                "{url}: not a server URL; give one like http://127.0.0.1:8000"
            )));
        }
        Ok(Self { base, api_key })
    }

    /// The full URL of an endpoint under `/v1`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.base)
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into()
    }

    /// The models the server serves (`GET /v1/models`).
    pub fn models(&self) -> Result<Vec<String>, RemoteError> {
        let url = self.endpoint("models");
        let mut request = self.agent().get(&url);
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.call().map_err(|e| RemoteError::Connect {
            url: url.clone(),
            cause: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let body = read_small(response.into_body().into_reader());
        if status != 200 {
            return Err(status_error(&url, status, &body));
        }
        let value: Value = serde_json::from_str(&body).map_err(|_| RemoteError::Protocol {
            url: url.clone(),
            what: format!("a model list that is not JSON: {body}"),
        })?;
        let ids: Vec<String> = value["data"]
            .as_array()
            .map(|models| {
                models
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ids)
    }

    /// The first model the server lists, for when the user names none.
    pub fn default_model(&self) -> Result<String, RemoteError> {
        self.models()?
            .into_iter()
            .next()
            .ok_or_else(|| RemoteError::Protocol {
                url: self.endpoint("models"),
                what: "an empty model list".into(),
            })
    }
}

/// Sampling knobs the user set; the server's defaults (its checkpoint's generation config)
/// apply to the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RemoteSampling {
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub max_new_tokens: Option<usize>,
    pub seed: Option<u64>,
}

/// Video sampling knobs the user set, sent as `mm_processor_kwargs`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RemoteMediaKnobs {
    pub fps: Option<f64>,
    pub max_frames: Option<usize>,
    pub max_pixels: Option<u64>,
}

/// A question for a server: as [`crate::inference::Question`], with only what the user chose.
#[derive(Debug, Clone)]
pub struct RemoteQuestion {
    /// The served model (`GET /v1/models` lists them).
    pub model: String,
    /// Videos or images, attached to the first user message.
    pub media: Vec<PathBuf>,
    pub history: Vec<Turn>,
    pub text: String,
    pub system: Option<String>,
    pub thinking: ThinkingMode,
    pub sampling: RemoteSampling,
    pub media_knobs: RemoteMediaKnobs,
    /// Send `file://` paths instead of the files' bytes (the server must share the filesystem
    /// and allow the folder, e.g. `keye-studio serve --media-root`).
    pub send_paths: bool,
}

/// Asks `server` on a worker thread; the events are those of [`crate::inference::spawn_ask`]
/// (without attention, and with an empty vision map). Cancelling or dropping the events closes
/// the connection, which makes the server stop generating.
pub fn spawn_remote_ask(server: RemoteServer, question: RemoteQuestion) -> AskHandle {
    let (sender, events) = crossbeam_channel::unbounded();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let thread = std::thread::spawn(move || {
        let result = remote_ask(&server, &question, &flag, &sender);
        if let Err(error) = &result {
            let _ = sender.send(AskEvent::Failed(error.to_string()));
        }
        result
    });
    AskHandle::from_worker(events, cancel, thread)
}

fn remote_ask(
    server: &RemoteServer,
    question: &RemoteQuestion,
    cancel: &AtomicBool,
    events: &Sender<AskEvent>,
) -> Result<GenerationOutput, InferenceError> {
    let remote = |e: RemoteError| InferenceError::Remote(e.to_string());
    let body = request_body(question, cancel, &mut |stage, done, total| {
        let _ = events.send(AskEvent::Preparing {
            stage: stage.to_owned(),
            done,
            total,
        });
    })
    .map_err(remote)?;
    if cancel.load(Ordering::Relaxed) {
        return Err(InferenceError::Cancelled);
    }
    let url = server.endpoint("chat/completions");
    let started = Instant::now();
    let body = body.to_string();
    let agent = server.agent();
    let mut waited = 0;
    let response = loop {
        let mut request = agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "text/event-stream");
        if let Some(key) = &server.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.send(body.as_bytes()).map_err(|e| {
            remote(RemoteError::Connect {
                url: url.clone(),
                cause: e.to_string(),
            })
        })?;
        let status = response.status().as_u16();
        if status == 200 {
            break response;
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = read_small(response.into_body().into_reader());
        // A busy server: wait for a place in its queue rather than fail (the user can cancel).
        if status == 429 && waited < MAX_QUEUE_WAIT.as_secs() {
            let pause = retry_after.unwrap_or(1).clamp(1, 10);
            let _ = events.send(AskEvent::Preparing {
                stage: "waiting for a place in the server's queue".into(),
                done: 0,
                total: 0,
            });
            for _ in 0..pause * 10 {
                if cancel.load(Ordering::Relaxed) {
                    return Err(InferenceError::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            waited += pause;
            continue;
        }
        return Err(remote(status_error(&url, status, &text)));
    };
    let _ = events.send(AskEvent::Prepared {
        vision: VisionTokenMap {
            media: Vec::new(),
            positions: Vec::new(),
            refs: Vec::new(),
        },
        media: Vec::new(),
        prompt_tokens: 0,
    });
    let mut emit = |event: GenerationEvent| {
        if events.send(AskEvent::Generation(event)).is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let mut reader = ChunkReader::new(started);
    let mut frames = SseFrames::default();
    let mut lines = BufReader::new(response.into_body().into_reader());
    let mut line = String::new();
    let mut done = false;
    while !cancel.load(Ordering::Relaxed) {
        line.clear();
        let read = lines.read_line(&mut line).map_err(|e| {
            remote(RemoteError::Protocol {
                url: url.clone(),
                what: format!("a stream that broke off: {e}"),
            })
        })?;
        if read == 0 {
            break;
        }
        let Some(data) = frames.line(line.trim_end_matches('\n')) else {
            continue;
        };
        match reader.push(&data, &mut emit) {
            Ok(true) => {
                done = true;
                break;
            }
            Ok(false) => {}
            Err(message) => {
                emit(GenerationEvent::Error {
                    message: message.clone(),
                });
                return Err(InferenceError::Remote(message));
            }
        }
    }
    let cancelled = cancel.load(Ordering::Relaxed);
    // Dropping the reader closes the connection: the server cancels what is left.
    drop(lines);
    if !done && !cancelled {
        let message = format!("the server at {url} closed the stream before the answer ended");
        emit(GenerationEvent::Error {
            message: message.clone(),
        });
        return Err(InferenceError::Remote(message));
    }
    let summary = reader.finish(cancelled, &mut emit);
    emit(GenerationEvent::Done(summary.clone()));
    Ok(GenerationOutput {
        summary,
        attention: None,
    })
}

/// The chat request of `question`: media (first user message) before the text, the thinking
/// marker appended as Keye-VL's card asks, usage and token ids in every chunk.
fn request_body(
    question: &RemoteQuestion,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Value, RemoteError> {
    let mut media_parts = Vec::with_capacity(question.media.len());
    for (done, path) in question.media.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        progress("sending media", done, question.media.len());
        let url = if question.send_paths {
            file_url(path)?
        } else {
            data_url(path)?
        };
        media_parts.push(if is_image(path) {
            json!({"type": "image_url", "image_url": {"url": url}})
        } else {
            json!({"type": "video_url", "video_url": {"url": url}})
        });
    }
    progress("sending media", question.media.len(), question.media.len());
    let mut messages = Vec::new();
    if let Some(system) = &question.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    let user = |text: &str, first: bool| {
        if first {
            let mut parts = media_parts.clone();
            parts.push(json!({"type": "text", "text": text}));
            json!({"role": "user", "content": parts})
        } else {
            json!({"role": "user", "content": text})
        }
    };
    for (i, turn) in question.history.iter().enumerate() {
        messages.push(user(&turn.question, i == 0));
        messages.push(json!({"role": "assistant", "content": turn.answer}));
    }
    let text = format!("{}{}", question.text, question.thinking.marker());
    messages.push(user(&text, question.history.is_empty()));

    let mut body = json!({
        "model": question.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true, "continuous_usage_stats": true},
        "return_token_ids": true,
    });
    let sampling = &question.sampling;
    let fields = [
        ("temperature", sampling.temperature.map(|v| json!(v))),
        ("top_k", sampling.top_k.map(|v| json!(v))),
        ("top_p", sampling.top_p.map(|v| json!(v))),
        (
            "repetition_penalty",
            sampling.repetition_penalty.map(|v| json!(v)),
        ),
        ("max_tokens", sampling.max_new_tokens.map(|v| json!(v))),
        ("seed", sampling.seed.map(|v| json!(v))),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            body[name] = value;
        }
    }
    let knobs = &question.media_knobs;
    let mut kwargs = serde_json::Map::new();
    if let Some(fps) = knobs.fps {
        kwargs.insert("fps".into(), json!(fps));
    }
    if let Some(frames) = knobs.max_frames {
        kwargs.insert("max_frames".into(), json!(frames));
    }
    if let Some(pixels) = knobs.max_pixels {
        kwargs.insert("max_pixels".into(), json!(pixels));
    }
    if !kwargs.is_empty() {
        body["mm_processor_kwargs"] = Value::Object(kwargs);
    }
    Ok(body)
}

/// The file's bytes as a `data:` URL with its media type.
fn data_url(path: &Path) -> Result<String, RemoteError> {
    let bytes = std::fs::read(path).map_err(|cause| RemoteError::Media {
        path: path.to_path_buf(),
        cause,
    })?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(format!("data:{};base64,{encoded}", media_type(path)))
}

/// The absolute `file://` URL of a file.
fn file_url(path: &Path) -> Result<String, RemoteError> {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'?');
    let absolute = path.canonicalize().map_err(|cause| RemoteError::Media {
        path: path.to_path_buf(),
        cause,
    })?;
    let text = absolute.to_string_lossy();
    Ok(format!(
        "file://{}",
        percent_encoding::utf8_percent_encode(&text, ESCAPED)
    ))
}

fn media_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "mpg" | "mpeg" => "video/mpeg",
        "ogv" => "video/ogg",
        _ => "application/octet-stream",
    }
}

/// An error response's message: the JSON error's own, else the body.
fn status_error(url: &str, status: u16, body: &str) -> RemoteError {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| error_message(&value))
        .unwrap_or_else(|| body.trim().to_owned());
    RemoteError::Status {
        url: url.to_owned(),
        status,
        message,
    }
}

/// At most 1 MiB of a response, as text (error bodies and model lists are small).
fn read_small(reader: impl Read) -> String {
    let mut bytes = Vec::new();
    let _ = reader.take(1 << 20).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_read_with_or_without_v1() {
        let server = RemoteServer::new("http://127.0.0.1:8000/v1/", None).unwrap();
        assert_eq!(
            server.endpoint("chat/completions"),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
        let server = RemoteServer::new("http://h:1", None).unwrap();
        assert_eq!(server.endpoint("models"), "http://h:1/v1/models");
        assert!(
            RemoteServer::new("https://h", None)
                .unwrap_err()
                .to_string()
                .contains("https")
        );
        assert!(RemoteServer::new("h:8000", None).is_err());
    }

    #[test]
    fn the_request_puts_media_first_and_appends_the_thinking_marker() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a.png");
        std::fs::write(&image, b"hi").unwrap();
        let question = RemoteQuestion {
            model: "m".into(),
            media: vec![image.clone()],
            history: vec![],
            text: "What?".into(),
            system: None,
            thinking: ThinkingMode::Think,
            sampling: RemoteSampling {
                seed: Some(3),
                ..Default::default()
            },
            media_knobs: RemoteMediaKnobs::default(),
            send_paths: false,
        };
        let body = request_body(&question, &AtomicBool::new(false), &mut |_, _, _| {}).unwrap();
        let parts = &body["messages"][0]["content"];
        assert_eq!(parts[0]["image_url"]["url"], "data:image/png;base64,aGk=");
        assert_eq!(parts[1]["text"], "What?/think");
        assert_eq!(body["seed"], 3);
        assert!(
            body.get("temperature").is_none(),
            "unset knobs are the server's"
        );
        assert!(body.get("mm_processor_kwargs").is_none());

        let paths = RemoteQuestion {
            send_paths: true,
            ..question
        };
        let body = request_body(&paths, &AtomicBool::new(false), &mut |_, _, _| {}).unwrap();
        let url = body["messages"][0]["content"][0]["image_url"]["url"]
            .as_str()
            .unwrap();
        assert!(
            url.starts_with("file:///") && url.ends_with("/a.png"),
            "{url}"
        );
    }
}
