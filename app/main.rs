//! `keye-studio`: the GUI when run without a subcommand, plus CLI tools for videos, captions and models.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "keye-studio",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    gui: cli::gui::GuiArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a video file: container, streams, sizes, frame rate, duration, frame count.
    Probe(cli::video::ProbeArgs),
    /// Decode sampled frames of a video to PNG files named by index and timestamp.
    Frames(cli::video::FramesArgs),
    /// Write a strip of evenly spaced thumbnails of a video as PNG files.
    Thumbs(cli::video::ThumbsArgs),
    /// Validate, format, export, convert and summarise HAIC caption files.
    #[command(subcommand)]
    Captions(cli::captions::CaptionsCommand),
    /// Run one golden reference case folder and compare every tensor it has.
    GoldenCheck(cli::model::GoldenCheckArgs),
    /// Ask Keye-VL (a local checkpoint or a server) about videos and images; streams the
    /// reasoning (dimmed) and the answer.
    Ask(cli::ask::AskArgs),
    /// Serve a checkpoint over an OpenAI-compatible API (chat completions, streaming, models).
    Serve(cli::serve::ServeArgs),
    /// Write HAIC captions of many videos to a JSON Lines file (resumable; local model or server).
    Caption(cli::caption::CaptionArgs),
    /// Which frames mattered for an answer: frames ranked by attention (sinks masked) and by a
    /// deletion test, and their agreement (the answer's faithfulness figure).
    Evidence(cli::evidence::EvidenceArgs),
    /// Save the vision tower's own attention inside one frame (for researchers).
    VisionAttention(cli::inspect::VisionAttentionArgs),
    /// Print how an encoder samples and chunks a video (frames for Keye-VL, chunks for Mavors).
    Plan(cli::plan::PlanArgs),
    /// Quantize a checkpoint's linear layers once and save them as a GGUF file beside it.
    Quantize(cli::quantize::QuantizeArgs),
    /// Generate demo-world videos with their questions, boxes, HAIC captions and QA.
    DemoData(cli::demo::DemoDataArgs),
    /// Train the demo model (Keye-VL-1.5 architecture) on demo-world videos, on the CPU.
    TrainDemo(cli::demo::TrainDemoArgs),
    /// Teach a copy of a demo checkpoint to answer four-option questions from a caption alone
    /// (the judge of `eval haicbench --setting caption`).
    TrainJudge(cli::demo::TrainJudgeArgs),
    /// Evaluate a model on a benchmark.
    #[command(subcommand)]
    Eval(cli::eval::EvalCommand),
    /// Measure speed against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Probe(args)) => cli::video::probe(args),
        Some(Command::Frames(args)) => cli::video::frames(args),
        Some(Command::Thumbs(args)) => cli::video::thumbs(args),
        Some(Command::Captions(command)) => cli::captions::run(command),
        Some(Command::GoldenCheck(args)) => cli::model::golden_check(args),
        Some(Command::Ask(args)) => cli::ask::ask(args),
        Some(Command::Evidence(args)) => cli::evidence::evidence(args),
        Some(Command::Serve(args)) => cli::serve::serve(args),
        Some(Command::Caption(args)) => cli::caption::caption(args),
        Some(Command::Plan(args)) => cli::plan::plan(args),
        Some(Command::Quantize(args)) => cli::quantize::quantize(args),
        Some(Command::VisionAttention(args)) => cli::inspect::vision_attention(args),
        Some(Command::Bench(command)) => cli::bench::run(command),
        Some(Command::DemoData(args)) => cli::demo::demo_data(args),
        Some(Command::TrainDemo(args)) => cli::demo::train_demo(args),
        Some(Command::TrainJudge(args)) => cli::demo::train_judge(args),
        Some(Command::Eval(command)) => cli::eval::run(command),
        None => cli::gui::run(cli.gui),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): like any Unix tool, stop quietly.
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
