//! Shared helpers of the `keye-studio serve` tests: the tiny checkpoint behind a server on an
//! ephemeral loopback port, and plain HTTP calls to it.
#![allow(dead_code)] // each test binary uses a different subset

use std::{
    io::Read,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use keye_studio::{
    inference::LoadedModel,
    serve::{ServeOptions, Server},
};
use serde_json::{Value, json};

pub const SERVED: &str = "tiny";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn tiny_model() -> Arc<LoadedModel> {
    let dir = repo("tests/fixtures/models/keye-1.5-tiny");
    Arc::new(LoadedModel::load(&dir, Default::default(), None, None).expect("the tiny model loads"))
}

pub fn start(model: Arc<LoadedModel>, configure: impl FnOnce(&mut ServeOptions)) -> Server {
    let mut options = ServeOptions::new(SERVED);
    configure(&mut options);
    Server::start(model, "127.0.0.1:0".parse().unwrap(), options).expect("the server starts")
}

pub fn endpoint(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body` to the chat endpoint; the status and the body read as JSON (or as a string).
pub fn post(addr: SocketAddr, body: &[u8], key: Option<&str>) -> (u16, Value) {
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

/// A short question with no media: quick on the tiny model.
pub fn small_question(max_tokens: usize) -> Value {
    json!({"messages": [{"role": "user", "content": "Hello?"}], "max_tokens": max_tokens})
}

pub fn assert_answers(addr: SocketAddr, key: Option<&str>) {
    let (status, body) = post(addr, small_question(2).to_string().as_bytes(), key);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(body["usage"]["completion_tokens"], 2, "{body}");
}

/// `/health`'s count of waiting and running requests.
pub fn load(addr: SocketAddr) -> (u64, u64) {
    let mut response = agent().get(endpoint(addr, "/health")).call().unwrap();
    let health: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    (
        health["waiting"].as_u64().unwrap(),
        health["running"].as_u64().unwrap(),
    )
}

pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
