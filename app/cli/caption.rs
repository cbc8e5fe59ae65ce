//! `caption`: HAIC captions for every video in the folders and files given, by a local model or
//! an OpenAI-compatible server, written to a JSON Lines file one record per video as each
//! finishes (appended and fsynced, so nothing done is lost). A video already in the file is
//! skipped, so an interrupted run resumes; a video that fails is recorded with its error and the
//! run goes on. The prompt and the reading of the answer are the editor's "Draft with model".

use std::{
    collections::HashSet,
    fs::{File, OpenOptions},
    io::{IsTerminal, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use keye_model::generate::{GenerationEvent, Phase, ThinkingMode};
use keye_studio::{
    caption_draft::{DRAFT_MAX_NEW_TOKENS, draft_prompt, parse_draft_answer},
    files::is_video,
    inference::{AskEvent, AskHandle, LoadedModel, Question, spawn_ask},
    remote::{RemoteQuestion, RemoteSampling, RemoteServer, spawn_remote_ask},
};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct CaptionArgs {
    /// Videos, and folders searched (recursively) for videos.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The JSON Lines file the records are appended to (created when missing).
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: PathBuf,
    /// Checkpoint folder of a local model.
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    pub model: Option<PathBuf>,
    /// An OpenAI-compatible server (vLLM serving Keye-VL, or `keye-studio serve`).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The server's API key (sent as `Authorization: Bearer KEY`).
    #[arg(long, value_name = "KEY", requires = "server")]
    pub api_key: Option<String>,
    /// The model to ask on the server (default: the first it lists).
    #[arg(long, value_name = "NAME", requires = "server")]
    pub served_model: Option<String>,
    /// Send file:// paths instead of the videos' bytes (a server sharing the filesystem).
    #[arg(long, requires = "server")]
    pub send_paths: bool,
    /// Requests in flight at once (with --server; a local model answers one at a time).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// A file holding the question to ask instead of the HAIC drafting prompt.
    #[arg(long, value_name = "FILE")]
    pub prompt: Option<PathBuf>,
    /// Tokens an answer may take.
    #[arg(long, default_value_t = DRAFT_MAX_NEW_TOKENS)]
    pub max_new_tokens: usize,
    /// Caption again the videos recorded with an error (they are skipped otherwise).
    #[arg(long)]
    pub retry_failed: bool,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
    #[command(flatten)]
    pub budget: super::BudgetArgs,
}

pub fn caption(args: CaptionArgs) -> anyhow::Result<ExitCode> {
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    if args.jobs > 1 && args.server.is_none() {
        bail!(
            "--jobs {} needs --server: a local model answers one video at a time",
            args.jobs
        );
    }
    let prompt = match &args.prompt {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the prompt", path.display()))?;
            if text.trim().is_empty() {
                bail!("{}: the prompt file is empty", path.display());
            }
            text.trim().to_owned()
        }
        None => draft_prompt(),
    };
    let videos = find_videos(&args.inputs)?;
    let recorded = read_recorded(&args.out, args.retry_failed)?;
    let todo: Vec<PathBuf> = videos
        .iter()
        .filter(|video| !recorded.contains(video))
        .cloned()
        .collect();
    let skipped = videos.len() - todo.len();
    if todo.is_empty() {
        eprintln!(
            "nothing to caption: all {} videos are already in {}",
            videos.len(),
            args.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let captioner = Captioner::new(&args, prompt)?;
    let output = Output::open(&args.out)?;

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(todo.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_ctrl_c = stop.clone();
    let _ = ctrlc::set_handler(move || stop_on_ctrl_c.store(true, Ordering::Relaxed));
    let tally = Mutex::new(Tally::default());
    let (queue, queued) = crossbeam_channel::unbounded();
    for video in todo {
        let _ = queue.send(video);
    }
    drop(queue);
    std::thread::scope(|scope| {
        for _ in 0..args.jobs {
            scope.spawn(|| {
                for video in queued.iter() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let outcome = captioner.caption(&video, &stop);
                    if stop.load(Ordering::Relaxed) {
                        break; // Cut short by Ctrl-C: not recorded, so the next run redoes it.
                    }
                    let failed = outcome.is_err();
                    let record = match outcome {
                        Ok(fields) => fields,
                        // An empty caption keeps the file a HAIC caption file: the editor
                        // shows the record, ready for "Draft with model".
                        Err(error) => json!({"caption": "", "error": error}),
                    };
                    let written = output.append(&record_key(&video), record);
                    let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
                    match written {
                        Ok(()) if failed => tally.failed += 1,
                        Ok(()) => tally.done += 1,
                        Err(error) => {
                            tally.write_error.get_or_insert(error);
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    bar.set_message(format!("done {}, failed {}", tally.done, tally.failed));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let tally = tally.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(error) = tally.write_error {
        return Err(error);
    }
    let left = videos.len() - skipped - tally.done - tally.failed;
    eprintln!(
        "captioned {}, failed {}, skipped {skipped} already in {}{}",
        tally.done,
        tally.failed,
        args.out.display(),
        if left > 0 {
            format!("; stopped with {left} left (run again to go on)")
        } else {
            String::new()
        }
    );
    Ok(if tally.failed > 0 || left > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Default)]
struct Tally {
    done: usize,
    failed: usize,
    write_error: Option<anyhow::Error>,
}

/// The videos named and found in the folders named, each once, folders in name order.
fn find_videos(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut videos = Vec::new();
    for input in inputs {
        if input.is_dir() {
            search(input, &mut videos)?;
        } else if input.is_file() {
            videos.push(input.clone());
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    let mut seen = HashSet::new();
    videos.retain(|video| seen.insert(record_key(video)));
    Ok(videos)
}

fn search(folder: &Path, videos: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("{}: cannot list the folder", folder.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            search(&path, videos)?;
        } else if is_video(&path) {
            // A folder gives its videos by extension; files named directly are always tried.
            videos.push(path);
        }
    }
    Ok(())
}

/// How a video is named in the output: its path as found. Resuming compares absolute paths, so
/// a run from another folder still recognises it.
fn record_key(video: &Path) -> String {
    video.display().to_string()
}

fn absolute(video: &str) -> PathBuf {
    Path::new(video)
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(video))
}

/// The videos already in `out` (those recorded with an error too, unless they are retried).
/// A last line cut off mid-write (a crash) is removed.
fn read_recorded(out: &Path, retry_failed: bool) -> anyhow::Result<Recorded> {
    let mut keys = HashSet::new();
    let mut file = match OpenOptions::new().read(true).write(true).open(out) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recorded::default()),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot open", out.display())),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("{}: cannot read", out.display()))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < bytes.len() {
        let tail = &bytes[complete..];
        if serde_json::from_slice::<Value>(tail).is_ok() {
            // A whole record without its newline (edited by hand): end the line.
            file.seek(SeekFrom::End(0))?;
            file.write_all(b"\n")?;
        } else {
            eprintln!(
                "{}: removing an unfinished last line ({} bytes) left by an interrupted run",
                out.display(),
                tail.len()
            );
            file.set_len(complete as u64)?;
            bytes.truncate(complete);
        }
        file.sync_all()?;
    }
    let mut absolutes = HashSet::new();
    for (number, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            eprintln!(
                "{}:{}: not a JSON record; left as it is",
                out.display(),
                number + 1
            );
            continue;
        };
        let Some(video) = record["video"].as_str() else {
            continue;
        };
        if retry_failed && record.get("error").is_some() {
            continue;
        }
        keys.insert(video.to_owned());
        absolutes.insert(absolute(video));
    }
    Ok(Recorded { keys, absolutes })
}

/// The videos an output file already has.
#[derive(Debug, Default)]
struct Recorded {
    keys: HashSet<String>,
    absolutes: HashSet<PathBuf>,
}

impl Recorded {
    fn contains(&self, video: &Path) -> bool {
        self.keys.contains(&record_key(video))
            || self.absolutes.contains(&absolute(&record_key(video)))
    }
}

/// The output file, appended to by every worker.
struct Output {
    path: PathBuf,
    file: Mutex<File>,
}

impl Output {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("{}: cannot open for appending", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends one record (`video` first) as one line and waits until it is on disk.
    fn append(&self, video: &str, fields: Value) -> anyhow::Result<()> {
        let mut record = serde_json::Map::new();
        record.insert("video".into(), Value::String(video.to_owned()));
        if let Value::Object(fields) = fields {
            record.extend(fields);
        }
        let mut line = Value::Object(record).to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("{}: cannot write", self.path.display()))
    }
}

/// Who answers: a local model or a server.
enum Captioner {
    Local {
        model: Arc<LoadedModel>,
        question: Question,
    },
    Remote {
        server: RemoteServer,
        question: RemoteQuestion,
    },
}

impl Captioner {
    fn new(args: &CaptionArgs, prompt: String) -> anyhow::Result<Self> {
        if let Some(url) = &args.server {
            let server = RemoteServer::new(url, args.api_key.clone())?;
            let model = match &args.served_model {
                Some(name) => name.clone(),
                None => server.default_model()?,
            };
            return Ok(Self::Remote {
                server,
                question: RemoteQuestion {
                    model,
                    media: Vec::new(),
                    history: Vec::new(),
                    text: prompt,
                    system: None,
                    thinking: ThinkingMode::NoThink,
                    sampling: RemoteSampling {
                        max_new_tokens: Some(args.max_new_tokens),
                        ..Default::default()
                    },
                    media_knobs: keye_studio::remote::RemoteMediaKnobs {
                        fps: args.budget.fps,
                        max_frames: args.budget.max_frames,
                        max_pixels: args.budget.max_pixels,
                    },
                    send_paths: args.send_paths,
                },
            });
        }
        let Some(dir) = &args.model else {
            bail!("give --model DIR or --server URL");
        };
        let model = Arc::new(super::ask::load(
            dir,
            args.placement,
            std::io::stderr().is_terminal(),
        )?);
        let mut sampling = model.runtime.sampling.clone();
        sampling.max_new_tokens = args.max_new_tokens;
        let question = Question {
            media: Vec::new(),
            history: Vec::new(),
            text: prompt,
            system: None,
            thinking: ThinkingMode::NoThink,
            sampling,
            capture: None,
            budget: args.budget.budget(model.default_budget()),
            indexed: Vec::new(),
        };
        Ok(Self::Local { model, question })
    }

    fn ask(&self, video: &Path) -> AskHandle {
        match self {
            Captioner::Local { model, question } => spawn_ask(
                model.clone(),
                Question {
                    media: vec![video.to_path_buf()],
                    ..question.clone()
                },
            ),
            Captioner::Remote { server, question } => spawn_remote_ask(
                server.clone(),
                RemoteQuestion {
                    media: vec![video.to_path_buf()],
                    ..question.clone()
                },
            ),
        }
    }

    /// The record fields of `video`'s caption, or why there is none.
    fn caption(&self, video: &Path, stop: &AtomicBool) -> Result<Value, String> {
        let handle = self.ask(video);
        let mut answer = String::new();
        let mut outcome = Err("the model stopped without an answer".to_owned());
        loop {
            if stop.load(Ordering::Relaxed) {
                handle.cancel();
            }
            let event = match handle
                .events
                .recv_timeout(std::time::Duration::from_millis(100))
            {
                Ok(event) => event,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            match event {
                AskEvent::Generation(GenerationEvent::Text {
                    phase: Phase::Answer,
                    delta,
                }) => answer.push_str(&delta),
                AskEvent::Generation(GenerationEvent::Done(_)) => outcome = Ok(()),
                AskEvent::Generation(GenerationEvent::Error { message })
                | AskEvent::Failed(message) => outcome = Err(message),
                AskEvent::Refused(refusal) => outcome = Err(refusal.to_string()),
                _ => {}
            }
        }
        let _ = handle.join();
        outcome.map_err(|message| {
            // A server's message names the request part; the record should name the file.
            let name = video.display().to_string();
            if message.contains(&name) {
                message
            } else {
                format!("{name}: {message}")
            }
        })?;
        let answer = answer.trim();
        if answer.is_empty() {
            return Err("the model gave an empty answer".into());
        }
        Ok(match parse_draft_answer(answer) {
            Ok(structure) => json!({
                "caption": haic::text::render(&structure),
                "people": structure.people,
                "events": structure.events,
            }),
            // Not in the HAIC form: kept as free text (the editor flags it).
            Err(_) => json!({"caption": answer}),
        })
    }
}
