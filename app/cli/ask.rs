//! `ask`: one question about videos and images to a local Keye-VL checkpoint (or, with `--server`,
//! an OpenAI-compatible server), streamed to the terminal (reasoning dimmed) or as JSON events, one
//! per line; optionally with attention maps saved (local models only).
//! `bench generate`: decode speed with and without attention capture, measured in the same run.

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Instant,
};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use keye_model::generate::GenerationOutput;
use keye_model::{
    chat::{ChatMessage, ContentPart, MessageContent},
    generate::{
        CaptureSpec, GenerationEvent, GenerationRequest, Phase, PromptMedia, SamplingParams,
        ThinkingMode, prepare_prompt,
    },
};
use keye_studio::inference::{AskEvent, AskHandle, LoadedModel, Question, spawn_ask};
use keye_studio::remote::{
    NO_REMOTE_ATTENTION, RemoteMediaKnobs, RemoteQuestion, RemoteSampling, RemoteServer,
    spawn_remote_ask,
};
use keye_studio::session::conversation::request::{knob_flag, thinking_mode};
use keye_studio::session::conversation::{Conversation, Failure};
use keye_ui::ThinkingChoice;

#[derive(clap::Args)]
pub struct AskArgs {
    /// Videos and images (by extension: png, jpg, webp, ...), then the question last.
    #[arg(required = true, num_args = 1.., value_name = "MEDIA... QUESTION")]
    pub inputs: Vec<String>,
    /// Checkpoint folder (config.json, safetensors, tokenizer.json, preprocessor_config.json).
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    pub model: Option<PathBuf>,
    /// Ask an OpenAI-compatible server instead (vLLM serving Keye-VL, or `keye-studio serve`),
    /// e.g. http://127.0.0.1:8000; the server's own defaults apply to unset sampling knobs.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The server's API key (sent as `Authorization: Bearer KEY`).
    #[arg(long, value_name = "KEY", requires = "server")]
    pub api_key: Option<String>,
    /// The model to ask on the server (default: the first it lists).
    #[arg(long, value_name = "NAME", requires = "server")]
    pub served_model: Option<String>,
    /// Send the media as file:// paths instead of their bytes (a server on this machine or a
    /// shared filesystem, allowed by its --media-root).
    #[arg(long, requires = "server")]
    pub send_paths: bool,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
    #[command(flatten)]
    pub budget: super::BudgetArgs,
    /// Ask the model to reason first (appends `/think`).
    #[arg(long, conflicts_with = "no_think")]
    pub think: bool,
    /// Ask the model to answer directly (appends `/no_think`).
    #[arg(long)]
    pub no_think: bool,
    /// A system prompt instead of "You are a helpful assistant."
    #[arg(long)]
    pub system: Option<String>,
    /// Write one JSON event per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Sampling temperature; 0 is greedy. Default: generation_config.json, else greedy.
    #[arg(long)]
    pub temperature: Option<f32>,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long)]
    pub top_p: Option<f32>,
    #[arg(long)]
    pub repetition_penalty: Option<f32>,
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save attention maps here (safetensors) with an index beside it (same name, .json).
    #[arg(long, value_name = "FILE")]
    pub attention: Option<PathBuf>,
    /// Decoder layers to capture (default: the last one).
    #[arg(long, value_delimiter = ',', requires = "attention")]
    pub attention_layers: Vec<usize>,
    /// Keep every head's map too, not only the mean over heads.
    #[arg(long, requires = "attention")]
    pub per_head: bool,
}

/// Loads a checkpoint with a progress bar on stderr when it is a terminal.
pub(super) fn load(
    dir: &Path,
    placement: super::PlacementArgs,
    show_progress: bool,
) -> anyhow::Result<LoadedModel> {
    let (bar, progress) = super::loading_bar(show_progress);
    let model = LoadedModel::load(dir, placement.placement(), Some(progress), None);
    bar.finish_and_clear();
    Ok(model?)
}

pub fn ask(args: AskArgs) -> anyhow::Result<ExitCode> {
    let Some((question, media)) = args.inputs.split_last() else {
        bail!("give the media files and then the question");
    };
    for path in media {
        if !Path::new(path).is_file() {
            bail!("{path}: no such file");
        }
    }
    let thinking = match (args.think, args.no_think) {
        (true, _) => ThinkingChoice::Think,
        (_, true) => ThinkingChoice::NoThink,
        _ => ThinkingChoice::Auto,
    };
    let media: Vec<PathBuf> = media.iter().map(PathBuf::from).collect();
    let Some(model_dir) = &args.model else {
        return ask_server(&args, media, question.clone(), thinking);
    };
    let loaded = Arc::new(load(
        model_dir,
        args.placement,
        !args.json && std::io::stderr().is_terminal(),
    )?);
    let config = loaded.runtime.model.config();
    let mut sampling = loaded.runtime.sampling.clone();
    if let Some(t) = args.temperature {
        sampling.temperature = t;
    }
    sampling.top_k = args.top_k.or(sampling.top_k);
    sampling.top_p = args.top_p.unwrap_or(sampling.top_p);
    sampling.repetition_penalty = args
        .repetition_penalty
        .unwrap_or(sampling.repetition_penalty);
    sampling.max_new_tokens = args.max_new_tokens.unwrap_or(sampling.max_new_tokens);
    sampling.seed = args.seed;
    if let Err(problem) = sampling.validate() {
        bail!("{problem}");
    }
    let capture = args.attention.as_ref().map(|_| CaptureSpec {
        layers: if args.attention_layers.is_empty() {
            vec![config.text.num_hidden_layers.saturating_sub(1)]
        } else {
            args.attention_layers.clone()
        },
        per_head: args.per_head,
    });

    let handle = spawn_ask(
        loaded.clone(),
        Question {
            media,
            history: vec![],
            text: question.clone(),
            system: args.system.clone(),
            thinking: thinking_mode(thinking),
            sampling,
            capture,
            budget: args.budget.budget(loaded.default_budget()),
            indexed: Vec::new(),
        },
    );
    let output = show_answer(handle, question.clone(), thinking, args.json)?;
    if let (Some(path), Some(capture)) = (&args.attention, &output.attention) {
        let index = capture.save(path)?;
        if !args.json {
            eprintln!(
                "attention maps: {} (index {})",
                path.display(),
                index.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ask --server`: the same question to an OpenAI-compatible server, shown the same way.
fn ask_server(
    args: &AskArgs,
    media: Vec<PathBuf>,
    text: String,
    thinking: ThinkingChoice,
) -> anyhow::Result<ExitCode> {
    if args.attention.is_some() {
        bail!("--attention: {NO_REMOTE_ATTENTION}");
    }
    let Some(url) = &args.server else {
        bail!("give --model DIR or --server URL");
    };
    if args.budget.max_visual_tokens.is_some() {
        bail!("--max-visual-tokens is the server's to set (its own --max-visual-tokens)");
    }
    let server = RemoteServer::new(url, args.api_key.clone())?;
    let model = match &args.served_model {
        Some(name) => name.clone(),
        None => server.default_model()?,
    };
    let question = RemoteQuestion {
        model,
        media,
        history: vec![],
        text: text.clone(),
        system: args.system.clone(),
        thinking: thinking_mode(thinking),
        sampling: RemoteSampling {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            repetition_penalty: args.repetition_penalty,
            max_new_tokens: args.max_new_tokens,
            seed: Some(args.seed),
        },
        media_knobs: RemoteMediaKnobs {
            fps: args.budget.fps,
            max_frames: args.budget.max_frames,
            max_pixels: args.budget.max_pixels,
        },
        send_paths: args.send_paths,
    };
    show_answer(
        spawn_remote_ask(server, question),
        text,
        thinking,
        args.json,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Streams an ask's events (a local model's or a server's) to the terminal (reasoning dimmed,
/// preparation as a bar on stderr) or as JSON lines, through the same conversation code as the
/// GUI: one turn, kept nowhere, refusals naming the flags. Ctrl-C cancels it. The generation's
/// output, or the failure as the error.
fn show_answer(
    handle: AskHandle,
    question: String,
    thinking: ThinkingChoice,
    json: bool,
) -> anyhow::Result<GenerationOutput> {
    let mut conversation = Conversation::new(knob_flag);
    conversation.start(question, thinking, handle);
    let cancel = conversation
        .cancel_flag()
        .context("the question is being answered")?;
    // A second Ctrl-C handler cannot be installed; the first ask in a process owns it.
    let _ = ctrlc::set_handler(move || cancel.store(true, std::sync::atomic::Ordering::Relaxed));

    let mut out = std::io::stdout().lock();
    let styled = !json && out.is_terminal();
    // Decoding and encoding the media can take a while on long videos: show it on a terminal.
    let preparing = if !json && std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    preparing.set_style(
        ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let mut printed = Ok(());
    let mut observe = |event: &AskEvent| {
        if printed.is_ok() {
            printed = print_event(event, json, styled, &preparing, &mut out);
        }
    };
    let end = conversation
        .wait(&mut observe)
        .context("the ask worker ended without its turn")?;
    printed?;
    drop(out);
    match end.failure {
        Some(Failure::Preparing(message)) => bail!("{message}"),
        Some(Failure::Generating(message)) => bail!("generation failed: {message}"),
        None => {}
    }
    Ok(end.output?)
}

/// Shows one of the ask worker's events: the preparation's progress on a terminal, the text
/// (reasoning dimmed when styled) and the timing, or each generation event as a JSON line.
fn print_event(
    event: &AskEvent,
    json: bool,
    styled: bool,
    preparing: &ProgressBar,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let event = match event {
        AskEvent::Generation(event) => event,
        AskEvent::Failed(_) | AskEvent::Refused(_) => return Ok(()),
        AskEvent::Preparing { stage, done, total } => {
            preparing.set_message(stage.clone());
            preparing.set_length(*total as u64);
            preparing.set_position(*done as u64);
            return Ok(());
        }
        AskEvent::Prepared { .. } => {
            preparing.finish_and_clear();
            return Ok(());
        }
    };
    if json {
        if matches!(event, GenerationEvent::Attention(_)) {
            return Ok(()); // The maps go to the --attention file.
        }
        serde_json::to_writer(&mut *out, event)?;
        writeln!(out)?;
    } else {
        match event {
            GenerationEvent::Text { phase, delta } => {
                let reasoning = matches!(phase, Phase::Thinking | Phase::Analysis);
                if styled && reasoning {
                    write!(out, "\x1b[2m{delta}\x1b[0m")?;
                } else {
                    write!(out, "{delta}")?;
                }
            }
            GenerationEvent::Done(summary) => {
                writeln!(out)?;
                let t = &summary.timing;
                eprintln!(
                    "{} prompt tokens, prefill {:.0} ms; {} tokens, {:.1} tokens/s ({:?})",
                    t.prompt_tokens,
                    t.prefill_ms,
                    summary.tokens.len(),
                    t.tokens_per_s,
                    summary.stop
                );
            }
            _ => {}
        }
    }
    out.flush()?;
    Ok(())
}

#[derive(clap::Args)]
pub struct BenchGenerateArgs {
    /// Checkpoint folder to load.
    #[arg(long)]
    pub model: PathBuf,
    /// PNG image in the prompt.
    #[arg(long)]
    pub image: PathBuf,
    /// Greedy tokens generated per run (no stop ids, so every run decodes the same count).
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// Layers captured in the capture runs (default: all).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Timed repetitions of each measurement (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
}

/// Prints decode tokens/s with and without attention capture and their ratio.
pub fn bench_generate(args: BenchGenerateArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&args.model, args.placement, std::io::stderr().is_terminal())?;
    let runtime = &loaded.runtime;
    let image = image::open(&args.image)
        .with_context(|| format!("{}: cannot read the image", args.image.display()))?
        .to_rgb8();
    let messages = vec![ChatMessage {
        role: "user".into(),
        content: MessageContent::Parts(vec![
            ContentPart::Image,
            ContentPart::Text {
                text: "Describe this image.".into(),
            },
        ]),
    }];
    let prompt = prepare_prompt(
        &runtime.model,
        &runtime.tokenizer,
        &runtime.processor,
        &messages,
        vec![PromptMedia::Image(image)],
        ThinkingMode::Auto,
    )?;
    let sampling = SamplingParams {
        max_new_tokens: args.new_tokens,
        stop_ids: vec![],
        ..SamplingParams::greedy(runtime.model.config())
    };
    let layers = if args.layers.is_empty() {
        (0..runtime.model.config().text.num_hidden_layers).collect()
    } else {
        args.layers.clone()
    };
    let run = |capture: Option<CaptureSpec>| -> anyhow::Result<(f64, f64, Option<u64>)> {
        let request = GenerationRequest {
            prompt: prompt.clone(),
            sampling: sampling.clone(),
            capture,
        };
        let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let start = Instant::now();
        let output = keye_model::generate::generate(
            &runtime.model,
            &runtime.tokenizer,
            &request,
            &std::sync::atomic::AtomicBool::new(false),
            &mut |_| {},
        )?;
        let total = start.elapsed().as_secs_f64();
        let peak = peak_reset.then(peak_rss_kib).flatten();
        Ok((output.summary.timing.tokens_per_s, total, peak))
    };
    let best = |capture: Option<CaptureSpec>| -> anyhow::Result<(f64, f64, Option<u64>)> {
        let mut best = (0.0f64, f64::INFINITY, None::<u64>);
        for _ in 0..args.repeats.max(1) {
            let (rate, total, peak) = run(capture.clone())?;
            best = (best.0.max(rate), best.1.min(total), best.2.max(peak));
        }
        Ok(best)
    };
    run(None)?; // Warm-up: first-touch of the weights.
    let plain = best(None)?;
    let mean = best(Some(CaptureSpec {
        layers: layers.clone(),
        per_head: false,
    }))?;
    let per_head = best(Some(CaptureSpec {
        layers: layers.clone(),
        per_head: true,
    }))?;
    println!(
        "generate: {} prompt tokens ({} vision), {} new tokens, capture layers {layers:?}, best of {}",
        prompt.inputs.input_ids.len(),
        prompt.vision.len(),
        args.new_tokens,
        args.repeats.max(1)
    );
    println!(
        "  {:<22} {:>12} {:>10} {:>10} {:>14} {:>10}",
        "", "decode tok/s", "total ms", "time", "peak RSS MiB", "memory"
    );
    for (name, (rate, total, peak)) in [
        ("plain", plain),
        ("capture (head mean)", mean),
        ("capture (per head)", per_head),
    ] {
        let (peak, ratio) = match (peak, plain.2) {
            (Some(p), Some(base)) => (
                format!("{:.1}", p as f64 / 1024.0),
                format!("{:.3}x", p as f64 / base as f64),
            ),
            _ => ("n/a".into(), "n/a".into()),
        };
        println!(
            "  {name:<22} {rate:>12.1} {:>10.1} {:>9.3}x {peak:>14} {ratio:>10}",
            total * 1000.0,
            plain.0 / rate
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Peak resident memory since the last reset (Linux `/proc/self/status` VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
