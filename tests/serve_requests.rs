//! `keye-studio serve` under bad and heavy use, over real HTTP on loopback with the tiny
//! Keye-VL-1.5 checkpoint: every kind of bad request gets its 4xx JSON error and the server answers
//! the next one; a full queue answers 429; a dropped connection frees the worker at once; a
//! bounded load test has every request answered or refused, none lost.

mod serve_support;
mod support;

use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    time::{Duration, Instant},
};

use base64::Engine;
use keye_model::budget::VisualBudget;
use serde_json::{Value, json};
use serve_support::{
    agent, assert_answers, endpoint, load, post, repo, small_question, start, tiny_model, wait_for,
};
use support::Fixtures;

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
        o.budget = Some(VisualBudget {
            max_visual_tokens: 200,
            ..VisualBudget::default()
        });
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
    // A video over the server's visual-token budget is refused before the model runs, naming
    // the request fields that make it fit.
    let (status, error) = post(addr, video_part("clip.mp4").to_string().as_bytes(), None);
    assert_eq!(status, 400, "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("over the budget of 200") && message.contains("mm_processor_kwargs.fps"),
        "{error}"
    );
    // The same file (under the root, named relative to it) sampled within the budget is read.
    let mut sparse = video_part("clip.mp4");
    sparse["mm_processor_kwargs"] = json!({"max_frames": 2, "max_pixels": 50_000});
    let (status, body) = post(addr, sparse.to_string().as_bytes(), None);
    assert_eq!(status, 200, "{body}");
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
