//! `bench ...`: speed figures printed as ratios against a baseline measured in the same run.

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Full decode to RGB24 vs the ffmpeg CLI, and random-seek latency vs one GOP decode.
    Decode(super::bench_decode::BenchDecodeArgs),
    /// Load time, peak memory, prefill and decode tokens/s of a model of real shapes, against the
    /// matrix-product and memory-bandwidth ceilings measured in the same run.
    Model(super::model::BenchModelArgs),
    /// Decode tokens/s of a checkpoint with and without attention capture, and their ratio.
    Generate(super::ask::BenchGenerateArgs),
    /// Decoding the frames an encoder samples vs the ffmpeg CLI with a select filter.
    Sample(super::plan::BenchSampleArgs),
    /// Plays a video at 1x in a real window: frames presented, dropped, decode and upload time.
    Playback(super::bench_playback::BenchPlaybackArgs),
    /// Top-1 agreement and KL divergence of a quantized model against f32.
    Quality(super::quantize::BenchQualityArgs),
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Decode(args) => super::bench_decode::bench_decode(args),
        BenchCommand::Model(args) => super::model::bench_model(args),
        BenchCommand::Generate(args) => super::ask::bench_generate(args),
        BenchCommand::Sample(args) => super::plan::bench_sample(args),
        BenchCommand::Playback(args) => super::bench_playback::bench_playback(args),
        BenchCommand::Quality(args) => super::quantize::bench_quality(args),
    }
}
