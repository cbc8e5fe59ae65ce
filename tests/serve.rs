//! `keye-studio serve` over real HTTP on loopback (ephemeral ports), with the tiny Keye-VL-1.5
//! checkpoint: the app's client (`spawn_remote_ask`) against the server gives the answer a local
//! ask gives with the same seed, token by token and in order; reasoning comes back as
//! `reasoning_content`; the API key is enforced; `serve` and `ask --server` as a user runs them.

mod serve_support;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
};

use keye_model::{
    budget::VisualBudget,
    generate::{GenerationEvent, Phase, SamplingParams, ThinkingMode},
};
use keye_studio::{
    inference::{AskEvent, AskHandle, LoadedModel, Question, spawn_ask},
    remote::{RemoteMediaKnobs, RemoteQuestion, RemoteSampling, RemoteServer, spawn_remote_ask},
};
use serde_json::json;
use serve_support::{
    SERVED, agent, assert_answers, endpoint, post, repo, small_question, start, tiny_model,
};

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
                AskEvent::Refused(refusal) => panic!("the ask was refused: {refusal}"),
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
        indexed: Vec::new(),
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
