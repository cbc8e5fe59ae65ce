//! `captions check` (Chinese characters scored by Mengzi's masked LM) and `captions search`
//! (BM25 over words, re-ranked by Mengzi sentence embeddings when a model is given).

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use haic::Record;
use indicatif::{ProgressBar, ProgressStyle};
use keye_model::{
    device::{DeviceChoice, resolve_device},
    mengzi::{CheckOptions, MengziModel},
};
use keye_studio::{
    caption_check::{Suspect, check_record},
    caption_search::{SearchIndex, Segmenter},
};

use super::{FieldArgs, load, report_problems};

#[derive(clap::Args)]
pub struct CheckArgs {
    file: PathBuf,
    /// A Mengzi-BERT checkpoint folder (config.json, vocab.txt or tokenizer.json,
    /// model.safetensors or pytorch_model.bin), e.g. Langboat/mengzi-bert-base.
    #[arg(long, value_name = "DIR")]
    mengzi: PathBuf,
    /// Print one JSON report on stdout instead of lines.
    #[arg(long)]
    json: bool,
    /// Flag a character when the model finds an alternative at least this many times likelier.
    #[arg(long, default_value_t = CheckOptions::default().ratio)]
    ratio: f32,
    /// Tokens of context on each side of the masked character (within its sentence).
    #[arg(long, default_value_t = CheckOptions::default().context)]
    context: usize,
    /// Suggestions shown per suspect.
    #[arg(long, default_value_t = CheckOptions::default().suggestions)]
    suggestions: usize,
    /// Where the model runs: auto, cpu, cuda[:N] or metal.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    fields: FieldArgs,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    file: PathBuf,
    /// Words to look for, in English or Chinese.
    #[arg(required_unless_present = "similar_to")]
    query: Option<String>,
    /// Instead of a query: the records nearest to this one (by index).
    #[arg(long, value_name = "RECORD", conflicts_with = "query")]
    similar_to: Option<usize>,
    /// Re-rank the lexical hits by the sentence similarity of this Mengzi-BERT checkpoint.
    #[arg(long, value_name = "DIR")]
    mengzi: Option<PathBuf>,
    /// How many results.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    fields: FieldArgs,
}

fn load_model(dir: &Path, device: DeviceChoice) -> anyhow::Result<MengziModel> {
    let device = resolve_device(device)?;
    Ok(MengziModel::load(dir, &device)?)
}

pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let file = load(&args.file, &args.fields.names())?;
    report_problems(&file, "not checked");
    let model = load_model(&args.mengzi, args.device)?;
    let options = CheckOptions {
        ratio: args.ratio,
        context: args.context.max(1),
        suggestions: args.suggestions,
        ..CheckOptions::default()
    };
    let records: Vec<(usize, &Record)> = file.records().collect();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(records.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("checking [{bar:30}] {pos}/{len} records ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut suspects: Vec<Suspect> = Vec::new();
    let mut scored = 0;
    for (index, record) in records {
        let (found, count) = check_record(&model, index, record, &options)
            .with_context(|| format!("{}: record {index}", args.file.display()))?;
        suspects.extend(found);
        scored += count;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let line = |record: usize| file.line_of(record).unwrap_or_default();
    if args.json {
        let found: Vec<_> = suspects
            .iter()
            .map(|s| {
                serde_json::json!({
                    "record": s.record,
                    "line": line(s.record),
                    "path": s.path,
                    "offset": s.score.char_offset,
                    "byte_offset": s.score.byte_offset,
                    "character": s.score.character.to_string(),
                    "known": s.score.known,
                    "probability": s.score.probability,
                    "suggestions": s.score.suggestions,
                    "context": s.context(8),
                })
            })
            .collect();
        let report = serde_json::json!({
            "file": args.file,
            "model": args.mengzi,
            "characters_checked": scored,
            "suspects": found,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for s in &suspects {
            let suggestions: Vec<String> = s
                .score
                .suggestions
                .iter()
                .map(|x| format!("{} ({:.3})", x.character, x.probability))
                .collect();
            let why = if s.score.known {
                format!("unlikely here (p={:.2e})", s.score.probability)
            } else {
                "not in the model's vocabulary".to_string()
            };
            println!(
                "{}:{}: record {}: {}:{}: '{}' {why} in \"{}\"; likelier: {}",
                args.file.display(),
                line(s.record),
                s.record,
                s.path,
                s.score.char_offset,
                s.score.character,
                s.context(8),
                if suggestions.is_empty() {
                    "none".to_string()
                } else {
                    suggestions.join(", ")
                }
            );
        }
        eprintln!(
            "{} suspect character(s) among {scored} Chinese character(s) checked",
            suspects.len()
        );
    }
    Ok(if suspects.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn search(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let file = load(&args.file, &args.fields.names())?;
    report_problems(&file, "not searched");
    let model = args
        .mengzi
        .as_deref()
        .map(|dir| load_model(dir, args.device))
        .transpose()?;
    let index = SearchIndex::new(&file, std::sync::Arc::new(Segmenter::new()));
    let hits = match (&args.query, args.similar_to) {
        (_, Some(record)) => {
            if file.record(record).is_none() {
                anyhow::bail!(
                    "{}: there is no readable record {record} ({} records)",
                    args.file.display(),
                    file.len()
                );
            }
            index.similar(record, args.top, model.as_ref())?
        }
        (Some(query), None) => index.search(query, args.top, None, model.as_ref())?,
        (None, None) => anyhow::bail!("give a query or --similar-to RECORD"),
    };
    if args.json {
        let report = serde_json::json!({
            "file": args.file,
            "query": args.query,
            "similar_to": args.similar_to,
            "terms": args.query.as_deref().map(|q| index.terms(q)),
            "reranked": model.is_some(),
            "hits": hits.iter().map(|h| {
                let mut value = serde_json::to_value(h).unwrap_or_default();
                value["line"] = file.line_of(h.record).unwrap_or_default().into();
                value
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for h in &hits {
            let similarity = h
                .similarity
                .map_or_else(String::new, |s| format!(" similarity {s:.3}"));
            let text: String = h
                .text
                .chars()
                .take(80)
                .collect::<String>()
                .replace('\n', " ");
            println!(
                "{}:{}: record {}: {}: score {:.3} (bm25 {:.3}{similarity}) {text}",
                args.file.display(),
                file.line_of(h.record).unwrap_or_default(),
                h.record,
                h.path,
                h.score,
                h.bm25,
            );
        }
        eprintln!("{} result(s) in {} record(s)", hits.len(), index.len());
    }
    Ok(ExitCode::SUCCESS)
}
