//! `captions validate|fmt|export|convert|stats|check|search|agree`: HAIC caption files from the
//! command line (`check` and `search` live in `mengzi.rs`, `agree` in `agree.rs`).

mod agree;
mod mengzi;

use std::{
    io::Write,
    ops::ControlFlow,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use haic::{
    CaptionFile, FieldNames, Format, Phase, Record, STREAMING_THRESHOLD, Severity, TextState,
    export::{self, SubtitleFormat},
    stats::Stats,
    validate::validate_file,
};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Subcommand)]
pub enum CaptionsCommand {
    /// Check caption files against the HAIC rules (exit status 1 when any has errors).
    Validate(ValidateArgs),
    /// Rewrite caption text in canonical form, in place (atomic, keeps FILE.bak).
    Fmt(FmtArgs),
    /// Export timed events as subtitles (vtt, srt) or questions as CSV.
    Export(ExportArgs),
    /// Convert between JSON and JSON Lines, keeping every record's text as written.
    Convert(ConvertArgs),
    /// Print summary figures of a caption file.
    Stats(StatsArgs),
    /// Flag unlikely Chinese characters (typos, homophones, stray characters) with a Mengzi-BERT
    /// masked language model, with suggestions (exit status 1 when any is flagged).
    Check(mengzi::CheckArgs),
    /// Find records by words (BM25; Chinese segmented with jieba), optionally re-ranked by
    /// Mengzi sentence similarity.
    Search(mengzi::SearchArgs),
    /// Compare two annotators' files of the same videos: temporal IoU of matched events, Cohen's
    /// kappa per time bin, unmatched events and action wording.
    Agree(agree::AgreeArgs),
}

/// Field names differ between datasets.
#[derive(clap::Args)]
pub struct FieldArgs {
    #[arg(long, default_value = "video")]
    video_field: String,
    #[arg(long, default_value = "caption")]
    caption_field: String,
    #[arg(long, default_value = "people")]
    people_field: String,
    #[arg(long, default_value = "events")]
    events_field: String,
    #[arg(long, default_value = "duration")]
    duration_field: String,
    #[arg(long, default_value = "question")]
    question_field: String,
    #[arg(long, default_value = "options")]
    options_field: String,
    #[arg(long, default_value = "answer")]
    answer_field: String,
    #[arg(long, default_value = "category")]
    category_field: String,
}

impl FieldArgs {
    pub(super) fn names(&self) -> FieldNames {
        FieldNames {
            video: self.video_field.clone(),
            caption: self.caption_field.clone(),
            people: self.people_field.clone(),
            events: self.events_field.clone(),
            duration: self.duration_field.clone(),
            question: self.question_field.clone(),
            options: self.options_field.clone(),
            answer: self.answer_field.clone(),
            category: self.category_field.clone(),
        }
    }
}

#[derive(clap::Args)]
pub struct ValidateArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON report on stdout instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(clap::Args)]
pub struct FmtArgs {
    file: PathBuf,
    /// Change nothing; exit with status 1 when some caption is not canonical.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Vtt,
    Srt,
    Csv,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    file: PathBuf,
    #[arg(long)]
    to: ExportFormat,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Subtitles: the record to export, by index (default: the only caption with timed events).
    #[arg(long, conflicts_with = "video")]
    record: Option<usize>,
    /// Subtitles: the record to export, by video reference.
    #[arg(long)]
    video: Option<String>,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ConvertFormat {
    Json,
    Jsonl,
}

#[derive(clap::Args)]
pub struct ConvertArgs {
    file: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Output format (default: from the extension of --out).
    #[arg(long)]
    to: Option<ConvertFormat>,
    /// Leave out records that could not be read instead of refusing to convert.
    #[arg(long)]
    drop_bad: bool,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    file: PathBuf,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fields: FieldArgs,
}

pub fn run(command: CaptionsCommand) -> anyhow::Result<ExitCode> {
    match command {
        CaptionsCommand::Validate(args) => validate(args),
        CaptionsCommand::Fmt(args) => fmt(args),
        CaptionsCommand::Export(args) => export(args),
        CaptionsCommand::Convert(args) => convert(args),
        CaptionsCommand::Stats(args) => stats(args),
        CaptionsCommand::Check(args) => mengzi::check(args),
        CaptionsCommand::Search(args) => mengzi::search(args),
        CaptionsCommand::Agree(args) => agree::run(args),
    }
}

/// Loads a file, with a progress bar on stderr when it is large.
pub(super) fn load(path: &Path, fields: &FieldNames) -> anyhow::Result<CaptionFile> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .len();
    if size < STREAMING_THRESHOLD {
        return Ok(CaptionFile::load(path, fields)?);
    }
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{msg:8} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = |phase: Phase, done: u64, _total: u64| {
        bar.set_message(match phase {
            Phase::Reading => "reading",
            Phase::Parsing => "parsing",
        });
        bar.set_position(done);
        ControlFlow::Continue(())
    };
    let file = CaptionFile::load_with_progress(path, fields, &mut progress);
    bar.finish_and_clear();
    Ok(file?)
}

/// Tells each load problem on stderr with what the command did about it (`what`: "left as it
/// is", "not counted", ...).
pub(super) fn report_problems(file: &CaptionFile, what: &str) {
    for problem in file.problems() {
        eprintln!("{problem} ({what})");
    }
}

fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let fields = args.fields.names();
    let mut errors = 0;
    let mut warnings = 0;
    let mut reports = Vec::new();
    for path in &args.files {
        let file = load(path, &fields)?;
        let findings = validate_file(&file, &|_| None);
        errors += file.problems().len();
        for finding in &findings {
            match finding.finding.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
        }
        if args.json {
            let problems: Vec<_> = file
                .problems()
                .iter()
                .map(|problem| {
                    serde_json::json!({
                        "line": problem.line,
                        "column": problem.column,
                        "record": problem.record,
                        "problem": problem.kind.to_string(),
                    })
                })
                .collect();
            reports.push(serde_json::json!({
                "file": path,
                "records": file.len(),
                "problems": problems,
                "findings": findings,
            }));
        } else {
            for problem in file.problems() {
                println!("{problem}");
            }
            for finding in &findings {
                println!(
                    "{}:{}: record {}: {}",
                    path.display(),
                    finding.line,
                    finding.record,
                    finding.finding
                );
            }
        }
    }
    if args.json {
        let report = serde_json::json!({
            "files": reports,
            "errors": errors,
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        eprintln!(
            "{errors} error(s), {warnings} warning(s) in {} file(s)",
            args.files.len()
        );
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn fmt(args: FmtArgs) -> anyhow::Result<ExitCode> {
    let mut file = load(&args.file, &args.fields.names())?;
    report_problems(&file, "left as it is");
    let mut changed = Vec::new();
    let captions: Vec<_> = file
        .records()
        .filter_map(|(index, record)| match record {
            Record::Caption(caption) => Some((index, caption.clone())),
            Record::Qa(_) => None,
        })
        .collect();
    for (index, mut caption) in captions {
        let TextState::Structured(structure) = &caption.state else {
            continue;
        };
        let canonical = haic::text::render_like(structure, &caption.caption);
        if caption.caption != canonical {
            caption.caption = canonical;
            changed.push(index);
            file.set_caption(index, caption)?;
        }
    }
    if args.check {
        for index in &changed {
            let line = file.line_of(*index).unwrap_or_default();
            println!(
                "{}:{line}: record {index}: not in canonical form",
                args.file.display()
            );
        }
        return Ok(if changed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if !changed.is_empty() {
        file.save()?;
    }
    eprintln!(
        "{}: {} caption(s) rewritten",
        args.file.display(),
        changed.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let file = load(&args.file, &args.fields.names())?;
    report_problems(&file, "not exported");
    let text = match args.to {
        ExportFormat::Csv => export::qa_csv(&file)?,
        ExportFormat::Vtt | ExportFormat::Srt => {
            let format = match args.to {
                ExportFormat::Srt => SubtitleFormat::Srt,
                _ => SubtitleFormat::Vtt,
            };
            let index = pick_caption(&file, args.record, args.video.as_deref())?;
            let (text, skipped) = export::subtitles(file.caption(index)?, format);
            if skipped > 0 {
                eprintln!("record {index}: {skipped} event(s) without start and end left out");
            }
            text
        }
    };
    match &args.out {
        Some(out) => haic::save::write_derived(out, text.as_bytes(), &args.file)?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The caption record to turn into subtitles.
fn pick_caption(
    file: &CaptionFile,
    record: Option<usize>,
    video: Option<&str>,
) -> anyhow::Result<usize> {
    if let Some(index) = record {
        file.caption(index)?;
        return Ok(index);
    }
    let captions = file.records().filter_map(|(index, record)| match record {
        Record::Caption(caption) => Some((index, caption)),
        Record::Qa(_) => None,
    });
    if let Some(video) = video {
        return captions
            .filter(|(_, caption)| caption.video.as_deref() == Some(video))
            .map(|(index, _)| index)
            .next()
            .with_context(|| format!("{}: no caption for video {video:?}", file.path().display()));
    }
    let timed: Vec<usize> = captions
        .filter(|(_, caption)| {
            caption
                .structure()
                .is_some_and(|structure| structure.events.iter().any(|event| event.start.is_some()))
        })
        .map(|(index, _)| index)
        .collect();
    match timed.as_slice() {
        [index] => Ok(*index),
        [] => anyhow::bail!("{}: no caption has timed events", file.path().display()),
        _ => anyhow::bail!(
            "{}: {} captions have timed events; choose one with --record or --video",
            file.path().display(),
            timed.len()
        ),
    }
}

/// Converts between JSON and JSON Lines. What could not be read is never dropped silently:
/// in the file's own format it is copied as it is; in the other format the conversion is
/// refused (naming the first problem) unless `--drop-bad` asks to leave it out, and then each
/// left-out problem is told.
fn convert(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let file = load(&args.file, &args.fields.names())?;
    let format = match (args.to, Format::from_path(&args.out)) {
        (Some(ConvertFormat::Jsonl), _) | (None, Format::JsonLines) => Format::JsonLines,
        _ if matches!(file.format(), Format::JsonObject | Format::JsonMap) => file.format(),
        _ => Format::JsonArray,
    };
    let problems = file.problems();
    let verbatim = format == file.format();
    let bytes = match file.to_bytes(format, args.drop_bad) {
        Ok(bytes) => bytes,
        Err(haic::Error::NotConvertible { problem }) => {
            let more = match problems.len() - 1 {
                0 => String::new(),
                1 => " and 1 more problem (captions validate lists them)".to_owned(),
                n => format!(" and {n} more problems (captions validate lists them)"),
            };
            anyhow::bail!(
                "{problem}{more}; not converted: fix the file, or pass --drop-bad to leave out what cannot be read"
            );
        }
        Err(error) => return Err(error.into()),
    };
    let what = if verbatim {
        "copied as it is"
    } else {
        "left out"
    };
    report_problems(&file, what);
    haic::save::write_derived(&args.out, &bytes, &args.file)?;
    let records = file.records().count();
    let unread = file.len() - records;
    let unread = match (unread, verbatim) {
        (0, _) => String::new(),
        (n, true) => format!(", {n} unreadable record(s) copied as they are"),
        (n, false) => format!(", {n} unreadable record(s) left out"),
    };
    eprintln!(
        "{} -> {}: {records} record(s) written{unread}",
        args.file.display(),
        args.out.display(),
    );
    Ok(ExitCode::SUCCESS)
}

fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let file = load(&args.file, &args.fields.names())?;
    report_problems(&file, "not counted");
    let stats = Stats::of(&file);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        println!("{stats}");
    }
    Ok(ExitCode::SUCCESS)
}
