//! `demo-data`: generated videos with ground truth (questions with boxes, HAIC captions,
//! four-option QA), and the bundled demo video.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use keye_studio::demo::{dataset::write_dataset, encode::write_video, world::Scene};

#[derive(clap::Args)]
pub struct DemoDataArgs {
    /// Seed of the data set: the same seed always gives the same videos and questions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of videos.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    /// Folder for the videos, questions.jsonl, captions.jsonl and qa.jsonl (created if missing).
    #[arg(long, required_unless_present = "showcase")]
    pub out: Option<PathBuf>,
    /// Also (or only) write the bundled demo video's scene to this file.
    #[arg(long, value_name = "FILE")]
    pub showcase: Option<PathBuf>,
}

pub fn demo_data(args: DemoDataArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.showcase {
        write_video(&Scene::showcase(), path)?;
        eprintln!("{}: the demo scene", path.display());
    }
    let Some(out) = &args.out else {
        return Ok(ExitCode::SUCCESS);
    };
    let bar = ProgressBar::new(args.count as u64);
    bar.set_style(
        ProgressStyle::with_template("videos [{bar:30}] {pos}/{len} ({eta})")
            .context("progress template")?
            .progress_chars("=> "),
    );
    write_dataset(args.seed, args.count, out, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{}: {} videos, questions.jsonl, captions.jsonl, qa.jsonl",
        out.display(),
        args.count
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EncoderArg {
    /// Keye-VL-1.5's own tower with SlowFast frames.
    Keye15,
    /// Mavors chunks (IVE, IFA and projector trained as `mavors.*`).
    Mavors,
}

#[derive(clap::Args)]
pub struct TrainDemoArgs {
    /// Output folder: the current model at its top, `checkpoints/step-N/` (each with
    /// metrics.json) and `training/` (state to resume from).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "keye15")]
    pub encoder: EncoderArg,
    /// Optimizer steps.
    #[arg(long, default_value_t = 1500)]
    pub steps: usize,
    /// Seed of the tokenizer, the initial weights and every example.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from this checkpoint (for Mavors: its Keye tower initialises the encoder).
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Steps between checkpoints (each is evaluated).
    #[arg(long, default_value_t = 150)]
    pub checkpoint_every: usize,
    /// Videos of the evaluation at each checkpoint.
    #[arg(long, default_value_t = 8)]
    pub eval_videos: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1.5e-3)]
    pub learning_rate: f64,
    /// Threads working on a step's examples side by side (the result depends on this number).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Curriculum stage to start at: 0 still frames, 1 motion, 2 everything with reasoning
    /// traces (for fine-tuning a trained checkpoint given with --from).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub first_stage: u8,
    /// Train on the binding drill alone instead of the curriculum: still frames of two or three
    /// actors, asked the colour or shape of each in turn, so that answers must come from the
    /// actor the question names (for a checkpoint given with --from).
    #[arg(long, conflicts_with = "first_stage")]
    pub binding_drill: bool,
    /// Make a fifth of each curriculum stage's examples contrast conversations: two or three
    /// actors, the final question's kind asked of each other actor first.
    #[arg(long, conflicts_with = "binding_drill")]
    pub contrast: bool,
}

pub fn train_demo(args: TrainDemoArgs) -> anyhow::Result<ExitCode> {
    use keye_studio::demo::train::{Encoder, TrainEvent, TrainOptions, train};
    use std::sync::atomic::Ordering;
    share_cores_among_workers(args.workers);
    let (cancel, bar) = training_run(
        args.steps,
        args.batch,
        args.checkpoint_every,
        "{prefix} [{bar:25}] {pos}/{len} {msg} (elapsed {elapsed}, ETA {eta})",
    )?;
    let options = TrainOptions {
        out: args.out.clone(),
        encoder: match args.encoder {
            EncoderArg::Keye15 => Encoder::Keye15,
            EncoderArg::Mavors => Encoder::Mavors,
        },
        steps: args.steps,
        seed: args.seed,
        from: args.from.clone(),
        batch: args.batch,
        checkpoint_every: args.checkpoint_every,
        eval_videos: args.eval_videos,
        learning_rate: args.learning_rate,
        workers: args.workers,
        first_stage: usize::from(args.first_stage),
        binding_drill: args.binding_drill,
        contrast: args.contrast,
    };
    bar.set_prefix("training");
    // Without a terminal (a log file), a line every few steps instead of the bar.
    let plain = !std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut first_step = None;
    let say = |line: String| {
        if plain {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let mut on_event = |event: TrainEvent| match event {
        TrainEvent::Started {
            step, parameters, ..
        } => {
            bar.set_position(step as u64);
            bar.reset_eta();
            first_step = Some(step);
            say(format!(
                "{}: {parameters} parameters, {} from step {step}",
                args.out.display(),
                if step == 0 { "starting" } else { "resuming" }
            ));
        }
        TrainEvent::Step {
            step,
            loss,
            parts,
            cells,
            tokens_per_second,
            stage,
        } => {
            bar.set_position(step as u64);
            let seen: Vec<String> = ["colour", "shape", "motion", "size"]
                .iter()
                .zip(cells.accuracy())
                .filter_map(|(name, share)| share.map(|s| format!("{name} {s:.2}")))
                .collect();
            let stage = if args.binding_drill {
                "binding drill".to_owned()
            } else {
                format!("stage {stage}")
            };
            let message = format!(
                "loss {loss:.3} (text {:.3} dense {:.3} attention {:.3}; actors seen: {}) {tokens_per_second:.0} tok/s {stage}",
                parts[0],
                parts[1],
                parts[2],
                seen.join(" ")
            );
            if plain && step % 10 == 0 {
                let done = step - first_step.unwrap_or(0);
                let per_step = started.elapsed().as_secs_f64() / done.max(1) as f64;
                let eta = per_step * (args.steps - step) as f64;
                eprintln!(
                    "step {step}/{}: {message}, {per_step:.1} s/step, ETA {:.0} min",
                    args.steps,
                    eta / 60.0
                );
            }
            bar.set_message(message);
        }
        TrainEvent::Evaluating { step } => bar.set_prefix(format!("evaluating step {step}")),
        TrainEvent::Checkpoint { step, dir, report } => {
            bar.set_prefix("training");
            let kinds: Vec<String> = report
                .kinds
                .iter()
                .map(|k| {
                    let ratio = k.hit_ratio.map_or(String::new(), |r| format!(" x{r:.1}"));
                    let peak = k
                        .peak_on_actor
                        .map_or(String::new(), |p| format!(" peak {p:.2}"));
                    let crowded = k
                        .crowded_accuracy
                        .map_or(String::new(), |a| format!(" (2+ actors {a:.2})"));
                    format!("{} {:.2}{crowded}{ratio}{peak}", k.kind.name(), k.accuracy)
                })
                .collect();
            say(format!(
                "step {step}: {} accuracy {:.3} ({})",
                dir.display(),
                report.accuracy,
                kinds.join(", ")
            ));
        }
    };
    let result = train(&options, &mut on_event, &cancel);
    bar.finish_and_clear();
    result?;
    if cancel.load(Ordering::Relaxed) {
        eprintln!(
            "stopped; the state is saved in {}",
            args.out.join("training").display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ThinkingArg {
    NoThink,
    Think,
    Auto,
}

#[derive(clap::Args)]
pub struct EvalDemoArgs {
    /// Checkpoint folder to evaluate.
    #[arg(long)]
    pub model: PathBuf,
    /// Number of fresh videos.
    #[arg(long, default_value_t = 30)]
    pub count: usize,
    /// Seed of the videos (pick one the model was not trained on; training uses other seeds).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "no-think")]
    pub thinking: ThinkingArg,
    /// Also ask for HAIC descriptions (long answers; exact match).
    #[arg(long)]
    pub describe: bool,
    #[arg(long, default_value_t = 200)]
    pub max_new_tokens: usize,
    /// Print the whole report (every question, reply and ratio) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Check the evidence instead: each aggregation's hit ratio on the named actor with and
    /// without sink masking, and whether the deletion test's top frame is where the asked-about
    /// event happens (a markdown table).
    #[arg(long, conflicts_with = "describe")]
    pub evidence: bool,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
}

pub fn eval_demo(args: EvalDemoArgs) -> anyhow::Result<ExitCode> {
    use keye_model::generate::ThinkingMode;
    use keye_studio::demo::eval::{EvalOptions, evaluate};
    use std::sync::{Arc, atomic::AtomicBool};
    let model = Arc::new(super::ask::load(&args.model, args.placement, !args.json)?);
    let options = EvalOptions {
        count: args.count,
        seed: args.seed,
        thinking: match args.thinking {
            ThinkingArg::NoThink => ThinkingMode::NoThink,
            ThinkingArg::Think => ThinkingMode::Think,
            ThinkingArg::Auto => ThinkingMode::Auto,
        },
        describe: args.describe,
        max_new_tokens: args.max_new_tokens,
    };
    let videos = std::env::temp_dir().join(format!(
        "keye-demo-eval-{}-{}-{}",
        std::process::id(),
        args.seed,
        args.count
    ));
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("questions [{bar:30}] {pos}/{len} ({eta})")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    let mut progress = |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    if args.evidence {
        let report = keye_studio::demo::evidence_eval::evaluate_evidence(
            &model,
            &videos,
            &options,
            &mut progress,
            &cancel,
        );
        bar.finish_and_clear();
        let _ = std::fs::remove_dir_all(&videos);
        let report = report?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.table());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = evaluate(&model, &videos, &options, &mut progress, &cancel);
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&videos);
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct TrainJudgeArgs {
    /// The checkpoint to start from (its files are copied, its weights are the start).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Output folder: the judge checkpoint, and `training/` (state to resume from).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 400)]
    pub steps: usize,
    /// Questions per optimizer step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: usize,
}

/// `train-judge`: a copy of a demo checkpoint taught to answer four-option questions from a
/// caption alone (the caption setting's judge).
pub fn train_judge(args: TrainJudgeArgs) -> anyhow::Result<ExitCode> {
    use keye_studio::demo::train::judge::{JudgeOptions, train_judge};
    use std::sync::atomic::Ordering;
    let (cancel, bar) = training_run(
        args.steps,
        args.batch,
        args.checkpoint_every,
        "judge [{bar:25}] {pos}/{len} {msg} (ETA {eta})",
    )?;
    let options = JudgeOptions {
        from: args.from,
        out: args.out.clone(),
        steps: args.steps,
        batch: args.batch,
        seed: args.seed,
        learning_rate: args.learning_rate,
        checkpoint_every: args.checkpoint_every,
    };
    let plain = !std::io::stderr().is_terminal();
    train_judge(
        &options,
        &mut |step, loss| {
            bar.set_position(step as u64);
            bar.set_message(format!("loss {loss:.3}"));
            if plain && step % 10 == 0 {
                eprintln!("step {step}/{}: loss {loss:.3}", args.steps);
            }
        },
        &cancel,
    )?;
    bar.finish_and_clear();
    if cancel.load(Ordering::Relaxed) {
        eprintln!(
            "stopped; the state is saved in {}",
            args.out.join("training").display()
        );
        return Ok(ExitCode::from(130));
    }
    eprintln!("{}: the judge", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// With several workers, candle gets the cores' share of one worker for its ops. The workers
/// already keep the cores busy; candle also splitting each (small) op over all of them makes
/// the workers queue for its one pool and spin: on 2 cores a stage-2 step took 2.9 s that way
/// against 1.4 s with one thread each (the same losses). `RAYON_NUM_THREADS`, when set, wins.
fn share_cores_among_workers(workers: usize) {
    if workers > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / workers).max(1);
        // SAFETY: the command's first call: nothing has started another thread yet, so nothing
        // reads the environment while it changes. Candle reads it from its first op on.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
}

/// What both trainers do before their first step: check the step arguments, stop after the
/// current step on Ctrl-C (the state is saved, so the same command resumes), and show a bar
/// of the steps with `template`.
fn training_run(
    steps: usize,
    batch: usize,
    checkpoint_every: usize,
    template: &str,
) -> anyhow::Result<(std::sync::Arc<std::sync::atomic::AtomicBool>, ProgressBar)> {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    if steps == 0 || batch == 0 || checkpoint_every == 0 {
        anyhow::bail!("--steps, --batch and --checkpoint-every must be at least 1");
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        eprintln!("\nstopping after this step; run the same command again to resume");
        flag.store(true, Ordering::Relaxed);
    });
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template(template)
            .context("progress template")?
            .progress_chars("=> "),
    );
    Ok((cancel, bar))
}
