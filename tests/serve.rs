//! `keye-studio serve` over real HTTP on loopback (ephemeral ports), with the tiny Keye-VL-1.5
//! checkpoint: the app's client (`spawn_remote_ask`) against the server gives the answer a local
//! ask gives with the same seed, token by token and in order; reasoning comes back as
//! `reasoning_content`; every kind of bad request gets its 4xx JSON error and the server goes on;
//! a full queue answers 429; a dropped connection frees the worker; a bounded load test loses
//! nothing.

mod support;

use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine;
use keye_model::{
    budget::VisualBudget,
    generate::{GenerationEvent, Phase, SamplingParams, ThinkingMode},
};
use keye_studio::{
    inference::{AskEvent, AskHandle, LoadedModel, Question, spawn_ask},
    remote::{RemoteMediaKnobs, RemoteQuestion, RemoteSampling, RemoteServer, spawn_remote_ask},
    serve::{ServeOptions, Server},
};
use serde_json::{Value, json};
use support::Fixtures;

const SERVED: &str = "tiny";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn tiny_model() -> Arc<LoadedModel> {
    let dir = repo("tests/fixtures/models/keye-1.5-tiny");
    Arc::new(LoadedModel::load(&dir, Default::default(), None, None).expect("the tiny model loads"))
}

fn start(model: Arc<LoadedModel>, configure: impl FnOnce(&mut ServeOptions)) -> Server {
    let mut options = ServeOptions::new(SERVED);
    configure(&mut options);
    Server::start(model, "127.0.0.1:0".parse().unwrap(), options).expect("the server starts")
}

fn endpoint(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body` to the chat endpoint; the status and the body read as JSON (or as a string).
fn post(addr: SocketAddr, body: &[u8], key: Option<&str>) -> (u16, Value) {
    let mut request = agent().post(endpoint(addr, "/v1/chat/completions"));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let response = request.send(body).unwrap_or_else(|e| {
        panic!(
            "the server answers {}: {e}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    });
    let status = response.status().as_u16();
    let mut text = String::new();
    response
        .into_body()
        .into_reader()
        .read_to_string(&mut text)
        .unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Announces a body of `length` bytes, sends only its start and reads the answer (a client
/// still sending a body the server refused may see the connection reset instead).
fn post_announcing(addr: SocketAddr, length: usize) -> (u16, Value) {
    use std::io::Write;
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        &stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{\"messages\": "
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{status_line}"));
    let mut body_length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            body_length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; body_length];
    reader.read_exact(&mut body).unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

/// A short question with no media: quick on the tiny model.
fn small_question(max_tokens: usize) -> Value {
    json!({"messages": [{"role": "user", "content": "Hello?"}], "max_tokens": max_tokens})
}

fn assert_answers(addr: SocketAddr, key: Option<&str>) {
    let (status, body) = post(addr, small_question(2).to_string().as_bytes(), key);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(body["usage"]["completion_tokens"], 2, "{body}");
}

/// Everything one ask streamed, in order.
struct Streamed {
    events: Vec<GenerationEvent>,
    prompt_tokens: Option<usize>,
}

impl Streamed {
    fn collect(handle: AskHandle) -> Self {
        let mut events = Vec::new();
        let mut prompt_tokens = None;
        for event in handle.events.iter() {
            match event {
                AskEvent::Generation(event) => events.push(event),
                AskEvent::Prepared {
                    prompt_tokens: n, ..
                } => prompt_tokens = Some(n),
                AskEvent::Failed(message) => panic!("the ask failed: {message}"),
                AskEvent::Preparing { .. } => {}
            }
        }
        handle.join().expect("the ask succeeds");
        Self {
            events,
            prompt_tokens,
        }
    }

    /// Each text delta with its phase and the step of the token before it.
    fn deltas(&self) -> Vec<(usize, Phase, String)> {
        let mut step = 0;
        let mut deltas = Vec::new();
        for event in &self.events {
            match event {
                GenerationEvent::Token { step: s, .. } => step = *s,
                GenerationEvent::Text { phase, delta } => {
                    deltas.push((step, *phase, delta.clone()))
                }
                _ => {}
            }
        }
        deltas
    }

    fn text(&self, phase: Phase) -> String {
        self.deltas()
            .into_iter()
            .filter(|(_, p, _)| *p == phase)
            .map(|(_, _, d)| d)
            .collect()
    }

    fn tokens(&self) -> Vec<(usize, u32)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                GenerationEvent::Token { step, id } => Some((*step, *id)),
                _ => None,
            })
            .collect()
    }

    fn summary(&self) -> &keye_model::generate::GenerationSummary {
        match self.events.last() {
            Some(GenerationEvent::Done(summary)) => summary,
            other => panic!("the stream ends with Done, not {other:?}"),
        }
    }
}

fn remote_question(text: &str, media: Vec<PathBuf>, sampling: RemoteSampling) -> RemoteQuestion {
    RemoteQuestion {
        model: SERVED.into(),
        media,
        history: vec![],
        text: text.into(),
        system: None,
        thinking: ThinkingMode::NoThink,
        sampling,
        media_knobs: RemoteMediaKnobs::default(),
        send_paths: false,
    }
}

fn local_question(model: &LoadedModel, text: &str, media: Vec<PathBuf>) -> Question {
    Question {
        media,
        history: vec![],
        text: text.into(),
        system: None,
        thinking: ThinkingMode::NoThink,
        sampling: model.runtime.sampling.clone(),
        capture: None,
        budget: model.default_budget(),
    }
}

#[test]
fn the_streamed_answer_equals_a_local_ask_with_the_same_seed() {
    let model = tiny_model();
    let server = start(model.clone(), |_| {});
    let video = repo("assets/sample-16x9.mp4");
    let (temperature, seed, max_new_tokens) = (0.9, 5, 24);

    let mut local = local_question(&model, "What happens?", vec![video.clone()]);
    local.sampling = SamplingParams {
        temperature,
        seed,
        max_new_tokens,
        ..local.sampling
    };
    local.budget = VisualBudget {
        max_frames: Some(2),
        max_pixels: Some(50_000),
        ..model.default_budget()
    };
    let local = Streamed::collect(spawn_ask(model.clone(), local));

    let mut remote = remote_question(
        "What happens?",
        vec![video],
        RemoteSampling {
            temperature: Some(temperature),
            seed: Some(seed),
            max_new_tokens: Some(max_new_tokens),
            ..Default::default()
        },
    );
    remote.media_knobs = RemoteMediaKnobs {
        max_frames: Some(2),
        max_pixels: Some(50_000),
        fps: None,
    };
    let server_url = endpoint(server.local_addr(), "");
    let remote = Streamed::collect(spawn_remote_ask(
        RemoteServer::new(&server_url, None).unwrap(),
        remote,
    ));

    assert!(!local.text(Phase::Answer).is_empty());
    assert_eq!(remote.text(Phase::Answer), local.text(Phase::Answer));
    // The same tokens, numbered in order, and each delta after the same token as locally.
    assert_eq!(remote.tokens(), local.tokens());
    let steps: Vec<usize> = remote.tokens().iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, (0..steps.len()).collect::<Vec<_>>());
    assert_eq!(remote.deltas(), local.deltas());
    assert!(matches!(
        remote.events[0],
        GenerationEvent::Prefilled { .. }
    ));
    assert_eq!(remote.summary().stop, local.summary().stop);
    assert_eq!(remote.summary().tokens, local.summary().tokens);
    assert_eq!(
        Some(remote.summary().timing.prompt_tokens),
        local.prompt_tokens
    );
}

/// Text of the reasoning phases without the tags that delimit them.
fn reasoning_without_tags(text: &str) -> String {
    ["<think>", "</think>", "<analysis>", "</analysis>"]
        .iter()
        .fold(text.to_owned(), |t, tag| t.replace(tag, ""))
}

#[test]
fn reasoning_comes_back_as_reasoning_content() {
    let model = tiny_model();
    let server = start(model.clone(), |_| {});
    let addr = server.local_addr();
    // The random-weight model writes `<think>` only by chance: find a seed where it does.
    let (seed, local) = (0..300u64)
        .find_map(|seed| {
            let mut question = local_question(&model, "Think about it.", vec![]);
            question.thinking = ThinkingMode::Auto;
            question.sampling.temperature = 2.0;
            question.sampling.seed = seed;
            question.sampling.max_new_tokens = 64;
            let asked = Streamed::collect(spawn_ask(model.clone(), question));
            (!asked.text(Phase::Thinking).is_empty()).then_some((seed, asked))
        })
        .expect("some seed makes the tiny model think");
    let reasoning = reasoning_without_tags(&local.text(Phase::Thinking));
    assert!(!reasoning.is_empty());

    let request = json!({
        "model": SERVED,
        "messages": [{"role": "user", "content": "Think about it."}],
        "temperature": 2.0, "seed": seed, "max_tokens": 64,
    });
    let (status, body) = post(addr, request.to_string().as_bytes(), None);
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["reasoning_content"], reasoning.as_str());
    assert_eq!(message["content"], local.text(Phase::Answer).as_str());

    let mut remote = remote_question(
        "Think about it.",
        vec![],
        RemoteSampling {
            temperature: Some(2.0),
            seed: Some(seed),
            max_new_tokens: Some(64),
            ..Default::default()
        },
    );
    remote.thinking = ThinkingMode::Auto;
    let server_url = endpoint(addr, "/v1");
    let remote = Streamed::collect(spawn_remote_ask(
        RemoteServer::new(&server_url, None).unwrap(),
        remote,
    ));
    assert_eq!(remote.text(Phase::Thinking), reasoning);
    assert_eq!(remote.text(Phase::Answer), local.text(Phase::Answer));
    assert!(remote.events.contains(&GenerationEvent::Phase {
        phase: Phase::Thinking
    }));
}

/// An AVI whose video FourCC no decoder knows (an MJPEG AVI with its codec tag renamed).
fn unknown_codec_avi(fixtures: &Fixtures) -> Vec<u8> {
    let mjpeg = fixtures.testsrc(
        "mjpeg.avi",
        "64x48",
        10,
        0.5,
        &["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"],
    );
    let mut bytes = std::fs::read(mjpeg).unwrap();
    let header = bytes.len().min(4096);
    for start in 0..header - 4 {
        if &bytes[start..start + 4] == b"MJPG" {
            bytes[start..start + 4].copy_from_slice(b"QZXW");
        }
    }
    bytes
}

fn video_part(url: &str) -> Value {
    json!({"messages": [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": url}},
        {"type": "text", "text": "What happens?"},
    ]}], "max_tokens": 2})
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[test]
fn each_bad_request_gets_its_4xx_json_error_and_the_next_request_is_answered() {
    let fixtures = Fixtures::new();
    let root = tempfile::tempdir().unwrap();
    let clip = root.path().join("clip.mp4");
    std::fs::copy(repo("assets/sample-16x9.mp4"), &clip).unwrap();
    let outside = fixtures.bytes("outside.mp4", b"not yours");
    let model = tiny_model();
    let server = start(model.clone(), |o| {
        o.media_roots = vec![root.path().to_path_buf()];
        o.max_request_bytes = 4 << 20;
    });
    let addr = server.local_addr();
    let avi = unknown_codec_avi(&fixtures);
    let missing = root.path().join("missing.mp4");
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            b"{\"messages\": [".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "not an object",
            b"[1, 2]".to_vec(),
            400,
            "must be a JSON object",
        ),
        (
            "a field of the wrong type",
            br#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"}"#.to_vec(),
            400,
            "max_tokens: invalid type: string",
        ),
        (
            "a part of the wrong type",
            br#"{"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}"#
                .to_vec(),
            400,
            "messages[0].content[0].text: expected a string",
        ),
        (
            "a sampling value out of range",
            br#"{"messages": [{"role": "user", "content": "hi"}], "temperature": -1}"#.to_vec(),
            400,
            "temperature must be >= 0",
        ),
        (
            "a video part without its URL",
            br#"{"messages": [{"role": "user", "content": [{"type": "video_url"}]}]}"#.to_vec(),
            400,
            "needs \"video_url\"",
        ),
        (
            "a missing media file",
            video_part(missing.to_str().unwrap())
                .to_string()
                .into_bytes(),
            400,
            "no such file under the media roots",
        ),
        (
            "a path outside the media roots",
            video_part(outside.to_str().unwrap())
                .to_string()
                .into_bytes(),
            403,
            "outside the media roots",
        ),
        (
            "a remote URL",
            video_part("http://example.com/a.mp4")
                .to_string()
                .into_bytes(),
            400,
            "not fetched",
        ),
        (
            "an unsupported codec",
            video_part(&data_url("video/x-msvideo", &avi))
                .to_string()
                .into_bytes(),
            400,
            "the video_url of messages[0].content[0]: the video codec",
        ),
        (
            "a garbage file",
            video_part(&data_url("video/mp4", b"certainly not an mp4 file"))
                .to_string()
                .into_bytes(),
            400,
            "not a video file FFmpeg recognises",
        ),
        (
            "bad base64",
            video_part("data:video/mp4;base64,%%%")
                .to_string()
                .into_bytes(),
            400,
            "not valid base64",
        ),
        (
            "an unknown model",
            br#"{"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}"#.to_vec(),
            404,
            "\"gpt-9\" is not served here",
        ),
    ];
    for (what, body, status, needle) in cases {
        let (got, error) = post(addr, &body, None);
        assert_eq!(got, status, "{what}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {error}");
        assert_eq!(error["error"]["code"], status, "{what}: {error}");
        assert_answers(addr, None);
    }
    // A body over the limit is refused from its length, before it is read.
    let (status, error) = post_announcing(addr, 5 << 20);
    assert_eq!(status, 413, "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("larger than this server takes (4 MiB"),
        "{error}"
    );
    assert_answers(addr, None);
    // A file under the root, named relative to it, is read.
    let (status, body) = post(addr, video_part("clip.mp4").to_string().as_bytes(), None);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_api_key_is_required_when_set_and_health_stays_open() {
    let server = start(tiny_model(), |o| o.api_key = Some("sesame".into()));
    let addr = server.local_addr();
    let body = small_question(2).to_string();
    let (status, error) = post(addr, body.as_bytes(), None);
    assert_eq!(status, 401, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key")
    );
    let (status, _) = post(addr, body.as_bytes(), Some("wrong"));
    assert_eq!(status, 401);
    assert_answers(addr, Some("sesame"));

    let response = agent().get(endpoint(addr, "/v1/models")).call().unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let server_url = endpoint(addr, "");
    let listed = RemoteServer::new(&server_url, Some("sesame".into()))
        .unwrap()
        .models()
        .unwrap();
    assert_eq!(listed, [SERVED]);
    let health = agent().get(endpoint(addr, "/health")).call().unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// `/health`'s count of waiting and running requests.
fn load(addr: SocketAddr) -> (u64, u64) {
    let mut response = agent().get(endpoint(addr, "/health")).call().unwrap();
    let health: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    (
        health["waiting"].as_u64().unwrap(),
        health["running"].as_u64().unwrap(),
    )
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A streamed answer that would run for minutes: the connection is what stops it.
fn endless_stream(addr: SocketAddr) -> BufReader<ureq::BodyReader<'static>> {
    let body = json!({
        "messages": [{"role": "user", "content": "Go on."}],
        "stream": true, "ignore_eos": true, "max_tokens": 100_000,
    });
    let response = agent()
        .post(endpoint(addr, "/v1/chat/completions"))
        .send(body.to_string().as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut reader = BufReader::new(response.into_body().into_reader());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("data: "), "{line}");
    reader
}

#[test]
fn a_full_queue_answers_429_and_a_dropped_connection_frees_the_worker_at_once() {
    let server = start(tiny_model(), |o| o.queue = 1);
    let addr = server.local_addr();
    let running = endless_stream(addr);
    // The second request waits in the queue's one place.
    let (started, started_at) = crossbeam_channel::bounded(1);
    let waiting = std::thread::spawn(move || {
        let reader = endless_stream(addr);
        let _ = started.send(Instant::now());
        drop(reader);
    });
    wait_for(
        "the second request to queue",
        Duration::from_secs(20),
        || load(addr) == (1, 1),
    );
    let (status, error) = post(addr, small_question(2).to_string().as_bytes(), None);
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("queue is full")
    );

    // Hanging up on the running answer lets the waiting one start right away (the endless one
    // would run for minutes).
    let hung_up = Instant::now();
    drop(running);
    let started = started_at
        .recv_timeout(Duration::from_secs(10))
        .expect("the waiting request starts once the running one is dropped");
    assert!(
        started.duration_since(hung_up) < Duration::from_secs(5),
        "started {:?} after the hang-up",
        started.duration_since(hung_up)
    );
    waiting.join().unwrap();
    wait_for("the worker to be idle", Duration::from_secs(10), || {
        load(addr) == (0, 0)
    });
    assert_answers(addr, None);
}

#[test]
fn a_client_that_gives_up_on_an_unstreamed_answer_cancels_it() {
    let server = start(tiny_model(), |_| {});
    let addr = server.local_addr();
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(500)))
        .build()
        .into();
    let body = json!({
        "messages": [{"role": "user", "content": "Go on."}],
        "ignore_eos": true, "max_tokens": 100_000,
    });
    let gave_up = impatient
        .post(endpoint(addr, "/v1/chat/completions"))
        .send(body.to_string().as_bytes());
    assert!(gave_up.is_err(), "the answer would take minutes");
    wait_for("the generation to stop", Duration::from_secs(5), || {
        load(addr) == (0, 0)
    });
    let start = Instant::now();
    assert_answers(addr, None);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn under_load_every_request_is_answered_or_refused_and_none_is_lost() {
    const CLIENTS: usize = 6;
    const REQUESTS: usize = 4;
    let server = start(tiny_model(), |o| o.queue = 2);
    let addr = server.local_addr();
    let outcomes: Vec<(u16, bool)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                scope.spawn(move || {
                    (0..REQUESTS)
                        .map(|_| {
                            let streamed = client % 2 == 0;
                            let mut body = small_question(3);
                            body["stream"] = json!(streamed);
                            let (status, answer) = post(addr, body.to_string().as_bytes(), None);
                            let complete = match (status, streamed) {
                                (200, false) => {
                                    answer["choices"][0]["finish_reason"] == "length"
                                        && answer["usage"]["completion_tokens"] == 3
                                }
                                (200, true) => {
                                    let text = answer.as_str().unwrap_or_default();
                                    text.contains("\"finish_reason\":\"length\"")
                                        && text.trim_end().ends_with("data: [DONE]")
                                }
                                (429, _) => answer["error"]["type"] == "rate_limit_error",
                                _ => false,
                            };
                            (status, complete)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    assert_eq!(
        outcomes.len(),
        CLIENTS * REQUESTS,
        "every request has an outcome"
    );
    for (status, complete) in &outcomes {
        assert!(
            *complete,
            "a request ended with {status} and an incomplete body"
        );
    }
    let answered = outcomes.iter().filter(|(s, _)| *s == 200).count();
    assert!(answered >= 2, "the queue took some: {answered}");
    wait_for("the queue to drain", Duration::from_secs(5), || {
        load(addr) == (0, 0)
    });
}

/// Runs `keye-studio ARGS`; success, stdout, stderr.
fn run_cli(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(args)
        .output()
        .expect("run keye-studio");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_serve_command_answers_ask_server_as_a_local_ask_would() {
    use std::process::{Command, Stdio};
    let model = repo("tests/fixtures/models/keye-1.5-tiny");
    let mut serving = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(["serve", "--port", "0", "--api-key", "k", "--model"])
        .arg(&model)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keye-studio serve");
    let mut first = String::new();
    BufReader::new(serving.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "loopback by default: {url}"
    );

    let video = repo("assets/sample-16x9.mp4");
    let question = [
        video.to_str().unwrap(),
        "What happens?",
        "--max-new-tokens",
        "8",
        "--max-frames",
        "2",
        "--max-pixels",
        "50000",
    ];
    let (ok, local, stderr) = run_cli(
        &[
            &["ask"][..],
            &question,
            &["--model", model.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(ok, "{stderr}");
    let remote_args = [
        &["ask"][..],
        &question,
        &["--server", &url, "--api-key", "k"],
    ]
    .concat();
    let (ok, remote, stderr) = run_cli(&remote_args);
    assert!(ok, "{stderr}");
    assert_eq!(remote, local);

    let (ok, _, stderr) =
        run_cli(&[&remote_args[..], &["--attention", "maps.safetensors"]].concat());
    assert!(!ok);
    assert!(
        stderr.contains("attention heatmaps need a local model"),
        "{stderr}"
    );
    let (ok, _, stderr) = run_cli(&[&["ask"][..], &question, &["--server", &url]].concat());
    assert!(
        !ok && stderr.contains("401") && stderr.contains("API key"),
        "{stderr}"
    );

    let stopped = Command::new("kill")
        .args(["-INT", &serving.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = serving.wait().unwrap();
    assert!(status.success(), "Ctrl-C stops the server cleanly");
}
