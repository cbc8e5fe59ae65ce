//! `evidence`: which frames mattered for an answer. Asks the question greedily (or explains the
//! answer the model gives), then prints the frames ranked by attention (the chosen aggregation,
//! sinks masked), the frames ranked by the deletion test (the drop in the answer's
//! log-probability without each frame), and each aggregation's faithfulness figure (Spearman
//! agreement of the two rankings). `--json` prints the whole result as one JSON object.

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use keye_model::{
    evidence::{HeadReduce, Method, Target},
    generate::{SamplingParams, ThinkingMode},
};
use keye_studio::evidence::{Evidence, EvidenceEvent, EvidenceRequest, spawn_evidence};
use keye_studio::inference::Question;
use keye_studio::session::evidence::frame_label;

/// The aggregation `--method` names.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MethodArg {
    /// Raw attention, mean of every layer and head.
    Raw,
    /// Attention rollout across layers.
    Rollout,
    /// Gradient-weighted attention.
    Gradient,
}

/// Raw attention's heads: `mean`, `max` or a head number.
fn parse_heads(text: &str) -> Result<HeadReduce, String> {
    match text {
        "mean" => Ok(HeadReduce::Mean),
        "max" => Ok(HeadReduce::Max),
        n => n
            .parse()
            .map(HeadReduce::Head)
            .map_err(|_| format!("{n:?}: give mean, max or a head number")),
    }
}

#[derive(clap::Args)]
pub struct EvidenceArgs {
    /// A video or image (or several), then the question last.
    #[arg(required = true, num_args = 2.., value_name = "MEDIA... QUESTION")]
    pub inputs: Vec<String>,
    /// Checkpoint folder.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
    #[command(flatten)]
    pub budget: super::BudgetArgs,
    /// Let the model reason first (appends `/think`); by default it answers directly.
    #[arg(long)]
    pub think: bool,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// The aggregation whose frame ranking is printed.
    #[arg(long, value_enum, default_value = "gradient")]
    pub method: MethodArg,
    /// Raw attention of this decoder layer (default: the mean of every layer).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Raw attention's heads: mean, max or a head number.
    #[arg(long, default_value = "mean", value_parser = parse_heads)]
    pub heads: HeadReduce,
    /// Rank frames by the raw maps (sinks not masked).
    #[arg(long)]
    pub keep_sinks: bool,
    /// Print the whole result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn evidence(args: EvidenceArgs) -> anyhow::Result<ExitCode> {
    let Some((question, media)) = args.inputs.split_last() else {
        bail!("give the media files and then the question");
    };
    for path in media {
        if !Path::new(path).is_file() {
            bail!("{path}: no such file");
        }
    }
    if args.layer.is_some() && !matches!(args.method, MethodArg::Raw) {
        bail!("--layer picks raw attention's layer: add --method raw");
    }
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let loaded = Arc::new(super::ask::load(
        &args.model,
        args.placement,
        show_progress,
    )?);
    let sampling = SamplingParams {
        max_new_tokens: args.max_new_tokens,
        ..SamplingParams::greedy(loaded.runtime.model.config())
    };
    let handle = spawn_evidence(
        loaded.clone(),
        EvidenceRequest {
            question: Question {
                media: media.iter().map(PathBuf::from).collect(),
                history: Vec::new(),
                text: question.clone(),
                system: None,
                thinking: if args.think {
                    ThinkingMode::Think
                } else {
                    ThinkingMode::NoThink
                },
                sampling,
                capture: None,
                budget: args.budget.budget(loaded.default_budget()),
                indexed: Vec::new(),
            },
            answer: None,
            target: Target::Answer,
            deletion: true,
        },
    );
    let cancel = handle.cancel_flag();
    let _ = ctrlc::set_handler(move || cancel.store(true, std::sync::atomic::Ordering::Relaxed));
    let bar = if show_progress {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let mut evidence = None;
    for event in handle.events.iter() {
        match event {
            EvidenceEvent::Preparing { stage, done, total } => {
                bar.set_message(stage);
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            EvidenceEvent::Answered { .. } => bar.set_message("maps"),
            EvidenceEvent::Mapped => bar.set_message("testing frames"),
            EvidenceEvent::Testing { done, total } => {
                bar.set_message("testing frames");
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            EvidenceEvent::Done(found) => evidence = Some(found),
            EvidenceEvent::Failed(message) => {
                bar.finish_and_clear();
                bail!("{message}");
            }
            EvidenceEvent::Cancelled => {
                bar.finish_and_clear();
                bail!("cancelled");
            }
        }
    }
    bar.finish_and_clear();
    let evidence = evidence.context("the evidence worker ended without a result")?;
    let method = match args.method {
        MethodArg::Raw => Method::Raw {
            layer: args.layer,
            heads: args.heads,
        },
        MethodArg::Rollout => Method::Rollout,
        MethodArg::Gradient => Method::Gradient,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        // The three defaults are always there; a chosen layer or heads of raw attention is
        // added after them, so `--json --method raw --layer N` holds what the text would rank.
        let mut evidence = evidence;
        if evidence.method(method).is_none() {
            let chosen = evidence.evidence_for(method)?;
            evidence.methods.push(chosen);
        }
        serde_json::to_writer(&mut out, &evidence)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report(&evidence, method, !args.keep_sinks)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The text report: answer, sinks, both rankings and the faithfulness table.
pub fn report(evidence: &Evidence, method: Method, mask_sinks: bool) -> anyhow::Result<String> {
    let mut out = format!("answer: {}\n", evidence.answer.trim());
    out.push_str(&format!(
        "sinks: {} of {} vision tokens{}\n",
        evidence.sinks.len(),
        evidence.vision.len(),
        if mask_sinks {
            " (masked, the rest renormalised)"
        } else {
            " (kept)"
        }
    ));
    {
        let found = evidence.evidence_for(method)?;
        out.push_str(&format!(
            "\nattention ranking ({}: {}):\n",
            found.name, found.description
        ));
        let mut frames = found.frames.clone();
        let value = |f: &keye_studio::evidence::FrameAttention| {
            if mask_sinks {
                f.attention
            } else {
                f.attention_raw
            }
        };
        frames.sort_by(|a, b| value(b).total_cmp(&value(a)));
        for (rank, f) in frames.iter().enumerate() {
            out.push_str(&format!(
                "{:>4}. {}  {:.4}\n",
                rank + 1,
                frame_label(evidence, f.frame),
                value(f)
            ));
        }
    }
    if let Some(deletion) = &evidence.deletion {
        out.push_str(&format!(
            "\ndeletion ranking (drop in the answer's log-probability {:.3} without the frame):\n",
            deletion.baseline
        ));
        for (rank, f) in deletion.ranking().iter().enumerate() {
            out.push_str(&format!(
                "{:>4}. {}  {:+.4}\n",
                rank + 1,
                frame_label(evidence, f.frame),
                f.drop
            ));
        }
        out.push_str("\nfaithfulness (Spearman, attention ranking vs deletion ranking):\n");
        out.push_str(&format!(
            "  {:<28} {:>12} {:>10}\n",
            "aggregation", "sinks masked", "raw"
        ));
        let figure = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:+.3}"));
        for m in &evidence.methods {
            out.push_str(&format!(
                "  {:<28} {:>12} {:>10}\n",
                m.name,
                figure(m.faithfulness),
                figure(m.faithfulness_raw)
            ));
        }
    }
    Ok(out)
}
