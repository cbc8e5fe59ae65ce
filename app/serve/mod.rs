//! `keye-studio serve`: the loaded checkpoint behind an OpenAI-compatible HTTP API, the one vLLM
//! offers for Keye-VL, so the same clients work with a laptop and a GPU cluster.
//!
//! axum on a small tokio runtime takes the requests; the model answers on one worker thread
//! ([`worker`]), fed through a bounded queue (429 when full). A request is read and checked
//! (media included) before it queues, and answered with 4xx JSON errors that say what is wrong;
//! a stream's status waits until the worker has read its media, so a file FFmpeg cannot read is a
//! 400 too. A client that disconnects cancels its generation.

pub mod error;
pub mod media;
pub mod request;
pub mod response;
mod worker;

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures_util::{
    StreamExt,
    stream::{self, Stream},
};
use keye_model::budget::{Knob, VisualBudget};
use serde_json::{Value, json};
use tokio::sync::{mpsc::UnboundedReceiver, oneshot};

use self::{
    error::ApiError,
    media::MediaRoots,
    request::MAX_NEW_TOKENS_LIMIT,
    response::{ResponseBuilder, Step},
    worker::{CancelOnDrop, Job, Queue},
};
use crate::inference::{AskEvent, LoadedModel};

/// How the server runs, beside the model it serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The name clients give as `model` (and `/v1/models` lists).
    pub served_model: String,
    /// When set, `/v1/*` requests need `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Folders whose files requests may name by path.
    pub media_roots: Vec<PathBuf>,
    /// Requests that may wait beside the one being answered.
    pub queue: usize,
    /// The largest request body (media travel inside as `data:` URLs).
    pub max_request_bytes: usize,
    /// The visual-token budget of every request (`None`: what the model's memory allows);
    /// requests may sample videos differently through `mm_processor_kwargs`.
    pub budget: Option<VisualBudget>,
    /// How often an idle stream sends an SSE comment, so a vanished client is noticed and its
    /// generation cancelled even while the prompt is still being processed.
    pub keep_alive: Duration,
}

impl ServeOptions {
    pub fn new(served_model: impl Into<String>) -> Self {
        Self {
            served_model: served_model.into(),
            api_key: None,
            media_roots: Vec::new(),
            queue: 16,
            max_request_bytes: 512 << 20,
            budget: None,
            keep_alive: Duration::from_secs(1),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    MediaRoot(String),
    #[error("cannot start the server: {0}")]
    Start(std::io::Error),
}

/// A running server; dropping it stops it (open connections are closed).
pub struct Server {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free one) and serves `model` until dropped.
    pub fn start(
        model: Arc<LoadedModel>,
        addr: SocketAddr,
        options: ServeOptions,
    ) -> Result<Self, ServeError> {
        let roots = MediaRoots::new(&options.media_roots).map_err(ServeError::MediaRoot)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keye-serve-http")
            .enable_all()
            .build()
            .map_err(ServeError::Start)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let queue = Queue::start(model.clone(), options.queue).map_err(ServeError::Start)?;
        let state = Arc::new(AppState {
            model,
            created: unix_seconds(),
            roots,
            queue,
            options,
        });
        let app = router(state);
        let (stop, stopped) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                eprintln!("error: the server stopped: {error}");
            }
        });
        Ok(Self {
            addr,
            runtime: Some(runtime),
            stop: Some(stop),
        })
    }

    /// The address it listens on (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

struct AppState {
    model: Arc<LoadedModel>,
    /// When the server started (the model's `created` in `/v1/models`).
    created: u64,
    roots: MediaRoots,
    queue: Queue,
    options: ServeOptions,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .fallback(|| async { ApiError::not_found("no such endpoint: POST /v1/chat/completions, GET /v1/models and GET /health are served") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                ..ApiError::bad_request("method not allowed on this endpoint")
            }
        })
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    let (waiting, running) = state.queue.load();
    Json(json!({
        "status": "ok",
        "model": state.options.served_model,
        "waiting": waiting,
        "running": running,
        "queue_capacity": state.queue.capacity(),
    }))
}

async fn models(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(json!({
        "object": "list",
        "data": [{
            "id": state.options.served_model,
            "object": "model",
            "created": state.created,
            "owned_by": "keye-studio",
            "root": state.model.runtime.dir,
            "max_model_len": MAX_NEW_TOKENS_LIMIT,
        }],
    })))
}

/// `Authorization: Bearer <key>` when the server has a key.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &state.options.api_key else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if same_secret(given.as_bytes(), key.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::unauthorized(
            "the API key is not valid for this server",
        )),
        None => Err(ApiError::unauthorized(
            "this server needs an API key: send \"Authorization: Bearer <key>\"",
        )),
    }
}

/// Compares without stopping at the first difference, so timing does not tell the key.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
) -> Response {
    match chat(state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The body of a request, refused with 413 when it is over `limit`: from its announced length
/// before any of it is read (a client that waits for `100 Continue` learns it at once), else
/// as soon as it grows past the limit.
async fn read_body(request: axum::extract::Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        ..ApiError::bad_request(format!(
            "the request body is larger than this server takes ({} MiB; serve \
             --max-request-mib raises it, or send media as paths under a --media-root)",
            limit >> 20
        ))
    };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0) as usize);
    let mut data = request.into_body().into_data_stream();
    while let Some(piece) = data.next().await {
        let piece = piece
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if body.len() + piece.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&piece);
    }
    Ok(Bytes::from(body))
}

async fn chat(state: Arc<AppState>, request: axum::extract::Request) -> Result<Response, ApiError> {
    authorize(&state, request.headers())?;
    let body = read_body(request, state.options.max_request_bytes).await?;
    // Decoding media and resolving paths touch the disk: off the async threads.
    let checking = state.clone();
    let (request, prepared) = tokio::task::spawn_blocking(move || {
        let request = request::parse(&body)?;
        if let Some(name) = &request.model
            && name != &checking.options.served_model
        {
            return Err(ApiError::not_found(format!(
                "the model {name:?} is not served here; this server serves {:?}",
                checking.options.served_model
            )));
        }
        let prepared = request::prepare(
            &request,
            &checking.model,
            checking.options.budget,
            &checking.roots,
        )?;
        Ok((request, prepared))
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the request failed: {e}")))??;

    let cancel = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(cancel.clone());
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let job = Job {
        question: prepared.question,
        events: sender,
        cancel,
        scratch: prepared.scratch,
        media_labels: prepared.media_labels,
    };
    if !state.queue.submit(job) {
        return Err(ApiError::queue_full(state.queue.capacity()));
    }
    // The status waits for the media to be read: a file FFmpeg cannot read is the client's
    // error, and so is a prompt over the visual-token or memory budget (refused before it runs).
    let prompt_tokens = loop {
        match events.recv().await {
            Some(AskEvent::Prepared { prompt_tokens, .. }) => break prompt_tokens,
            Some(AskEvent::Failed(message)) => return Err(ApiError::bad_request(message)),
            Some(AskEvent::Refused(refusal)) => {
                return Err(ApiError::bad_request(refusal.describe(&request_field)));
            }
            Some(_) => {}
            None => return Err(ApiError::unavailable("the model worker stopped")),
        }
    };
    let builder = ResponseBuilder::new(
        format!("chatcmpl-{:016x}", fastrand::u64(..)),
        unix_seconds(),
        state.options.served_model.clone(),
        request.stream_options.unwrap_or_default(),
        request.return_token_ids,
        prompt_tokens,
    );
    if request.stream {
        let stream = answer_stream(builder, events, guard);
        let keep_alive = KeepAlive::new().interval(state.options.keep_alive);
        return Ok(Sse::new(stream).keep_alive(keep_alive).into_response());
    }
    let mut builder = builder;
    while let Some(event) = events.recv().await {
        let AskEvent::Generation(event) = event else {
            continue;
        };
        match builder.push(event) {
            Step::Chunks(_) => {}
            Step::Finished(_) => {
                drop(guard);
                return Ok(Json(builder.completion()).into_response());
            }
            Step::Failed(message) => {
                return Err(ApiError::internal(format!("generation failed: {message}")));
            }
        }
    }
    Err(ApiError::internal("the model stopped without an answer"))
}

/// The server-sent events of one answer: the role chunk, a chunk per text delta, the finish
/// (and usage) chunks, then `[DONE]`. Dropping the stream cancels the generation.
fn answer_stream(
    builder: ResponseBuilder,
    events: UnboundedReceiver<AskEvent>,
    guard: CancelOnDrop,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Streaming {
        builder: ResponseBuilder,
        events: UnboundedReceiver<AskEvent>,
        pending: VecDeque<String>,
        ended: bool,
        _cancel_when_dropped: CancelOnDrop,
    }
    let first = builder.role_chunk().to_string();
    let state = Streaming {
        builder,
        events,
        pending: VecDeque::from([first]),
        ended: false,
        _cancel_when_dropped: guard,
    };
    stream::unfold(state, |mut s| async move {
        loop {
            if let Some(data) = s.pending.pop_front() {
                return Some((Ok(Event::default().data(data)), s));
            }
            if s.ended {
                return None;
            }
            let step = match s.events.recv().await {
                Some(AskEvent::Generation(event)) => s.builder.push(event),
                Some(_) => continue,
                None => Step::Failed("the model stopped without an answer".into()),
            };
            match step {
                Step::Chunks(chunks) => s.pending.extend(chunks.iter().map(Value::to_string)),
                Step::Finished(chunks) => {
                    s.pending.extend(chunks.iter().map(Value::to_string));
                    s.pending.push_back("[DONE]".into());
                    s.ended = true;
                }
                Step::Failed(message) => {
                    let error = ApiError::internal(format!("generation failed: {message}"));
                    s.pending.push_back(error.body().to_string());
                    s.pending.push_back("[DONE]".into());
                    s.ended = true;
                }
            }
        }
    })
}

/// Where a request turns a budget knob (a refusal names these).
fn request_field(knob: Knob) -> String {
    match knob {
        Knob::Fps => "mm_processor_kwargs.fps",
        Knob::MaxFrames => "mm_processor_kwargs.max_frames",
        Knob::MaxPixels => "mm_processor_kwargs.max_pixels",
        Knob::MaxVisualTokens => "the server's --max-visual-tokens",
        Knob::MaxNewTokens => "max_tokens",
    }
    .to_owned()
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
