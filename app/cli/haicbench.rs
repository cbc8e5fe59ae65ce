//! `eval haicbench`: HAICBench-style four-option questions in the standard or the caption
//! setting, with a progress bar, a resume log beside the report, and accuracy per category.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use keye_studio::{
    haicbench::{Answerer, CaptionSource, Evaluation, Report, RunError, Setting, read_qa},
    remote::RemoteServer,
};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SettingArg {
    /// The model answers from the video and the lettered options.
    Standard,
    /// A judge answers from a caption alone (--captions, or captions the model writes).
    Caption,
}

#[derive(clap::Args)]
pub struct HaicbenchArgs {
    /// The questions: JSON Lines or a JSON array of {id, video, question, options, answer,
    /// category}.
    #[arg(long, value_name = "FILE")]
    pub qa: PathBuf,
    /// Folder the questions' videos are in.
    #[arg(long, value_name = "DIR")]
    pub videos: PathBuf,
    /// The model under test: a checkpoint folder.
    #[arg(long, value_name = "DIR", conflicts_with = "server")]
    pub model: Option<PathBuf>,
    /// The model under test: an OpenAI-compatible server (`keye-studio serve`, vLLM).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[arg(long, value_enum)]
    pub setting: SettingArg,
    /// Caption setting: captions to judge (a HAIC caption file, matched by video) instead of
    /// captions the model writes.
    #[arg(long, value_name = "FILE")]
    pub captions: Option<PathBuf>,
    /// Caption setting: the judge, a checkpoint folder (default: the model under test).
    #[arg(long, value_name = "DIR", conflicts_with = "judge_server")]
    pub judge_model: Option<PathBuf>,
    /// Caption setting: the judge, an OpenAI-compatible server.
    #[arg(long, value_name = "URL")]
    pub judge_server: Option<String>,
    /// The servers' API key (sent as `Authorization: Bearer KEY`).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// The JSON report (every question's prompt, raw answer and choice). Outcomes are appended
    /// to REPORT.partial.jsonl as they come, and a rerun with the same --out skips them.
    #[arg(long, value_name = "REPORT.json")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
}

/// The resume log of a report.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial.jsonl");
    out.with_file_name(name)
}

fn local(dir: &Path, placement: super::PlacementArgs) -> anyhow::Result<Answerer> {
    Ok(Answerer::Local(Arc::new(super::ask::load(
        dir, placement, true,
    )?)))
}

fn remote(url: &str, api_key: Option<String>) -> anyhow::Result<Answerer> {
    let server = RemoteServer::new(url, api_key)?;
    let model = server.default_model()?;
    Ok(Answerer::Remote {
        server,
        model,
        url: url.to_string(),
    })
}

pub fn haicbench(args: HaicbenchArgs) -> anyhow::Result<ExitCode> {
    let setting = match args.setting {
        SettingArg::Standard => Setting::Standard,
        SettingArg::Caption => Setting::Caption,
    };
    if !args.videos.is_dir() {
        bail!("{}: no such folder (--videos)", args.videos.display());
    }
    let set = read_qa(&args.qa)?;
    for problem in &set.problems {
        eprintln!("skipped: {problem}");
    }
    if set.items.is_empty() {
        bail!("{}: no question could be read", args.qa.display());
    }
    let captions = match &args.captions {
        Some(file) => {
            if setting == Setting::Standard {
                bail!("--captions is for --setting caption");
            }
            let loaded = haic::CaptionFile::load(file, &haic::FieldNames::default())
                .with_context(|| format!("{}: reading the captions", file.display()))?;
            for problem in loaded.problems() {
                eprintln!("{}: {problem}", file.display());
            }
            let captions = loaded
                .records()
                .filter_map(|(_, record)| match record {
                    haic::Record::Caption(c) => Some((c.video.clone()?, c.caption.clone())),
                    haic::Record::Qa(_) => None,
                })
                .collect();
            CaptionSource::Given {
                file: file.clone(),
                captions,
            }
        }
        None => CaptionSource::Model,
    };
    let writes_captions = matches!(captions, CaptionSource::Model);
    let needs_model = setting == Setting::Standard || writes_captions;
    let model = match (&args.model, &args.server) {
        (Some(dir), _) => Some(local(dir, args.placement)?),
        (None, Some(url)) => Some(remote(url, args.api_key.clone())?),
        (None, None) if needs_model => bail!("give --model DIR or --server URL"),
        (None, None) => None,
    };
    let judge = match (setting, &args.judge_model, &args.judge_server) {
        (Setting::Standard, None, None) => None,
        (Setting::Standard, ..) => bail!("--judge-model and --judge-server are for --setting caption"),
        (Setting::Caption, Some(dir), _) => Some(local(dir, args.placement)?),
        (Setting::Caption, None, Some(url)) => Some(remote(url, args.api_key.clone())?),
        (Setting::Caption, None, None) => Some(model.clone().context(
            "the caption setting needs a judge: --judge-model DIR or --judge-server URL (or --model, which then judges)",
        )?),
    };
    let evaluation = Evaluation {
        setting,
        model: if needs_model { model } else { None },
        judge,
        captions,
        videos: args.videos.clone(),
        qa: args.qa.clone(),
        log: args.out.as_deref().map(partial_path),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let bar = ProgressBar::new(set.items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("questions [{bar:30}] {pos}/{len} ({eta})")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let outcomes = evaluation.run(
        &set.items,
        &mut |done, _| bar.set_position(done as u64),
        &cancel,
    );
    bar.finish_and_clear();
    let outcomes = match outcomes {
        Err(RunError::Cancelled) => {
            match &evaluation.log {
                Some(log) => eprintln!(
                    "stopped; the answers so far are in {}: run the same command to go on",
                    log.display()
                ),
                None => eprintln!("stopped (give --out to keep answers and resume)"),
            }
            return Ok(ExitCode::from(130));
        }
        other => other?,
    };
    let skipped = set.problems.iter().map(ToString::to_string).collect();
    let report = Report::new(&evaluation, outcomes, skipped);
    print!("{}", report.table());
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&report)?;
        haic::save::write_atomic(out, &json, false)
            .with_context(|| format!("{}: writing the report", out.display()))?;
        eprintln!("{}: the report", out.display());
    }
    Ok(ExitCode::SUCCESS)
}
