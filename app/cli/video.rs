//! `probe`, `frames`, `thumbs` and `bench decode`. (Being built: issue 2.)

use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct ProbeArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct FramesArgs {
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct ThumbsArgs {
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct BenchDecodeArgs {
    pub file: PathBuf,
}

pub fn probe(_args: ProbeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("probe is not built yet")
}

pub fn frames(_args: FramesArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("frames is not built yet")
}

pub fn thumbs(_args: ThumbsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("thumbs is not built yet")
}

pub fn bench_decode(_args: BenchDecodeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("bench decode is not built yet")
}
