//! `bench ...`: speed figures printed as ratios against a baseline measured in the same run.

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Full decode to RGB24 vs the ffmpeg CLI, and random-seek latency vs one GOP decode.
    Decode(super::video::BenchDecodeArgs),
    /// Prefill tokens/s and a forward's peak memory on CPU.
    Model(super::model::BenchModelArgs),
    /// Decode tokens/s of a checkpoint with and without attention capture, and their ratio.
    Generate(super::ask::BenchGenerateArgs),
    /// Decoding the frames an encoder samples vs the ffmpeg CLI with a select filter.
    Sample(super::plan::BenchSampleArgs),
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Decode(args) => super::video::bench_decode(args),
        BenchCommand::Model(args) => super::model::bench_model(args),
        BenchCommand::Generate(args) => super::ask::bench_generate(args),
        BenchCommand::Sample(args) => super::plan::bench_sample(args),
    }
}
