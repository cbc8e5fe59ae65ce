//! `golden-check` and `bench model`. (Being built: issue 4.)

use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct GoldenCheckArgs {
    pub dir: PathBuf,
}

#[derive(clap::Args)]
pub struct BenchModelArgs {}

pub fn golden_check(_args: GoldenCheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("golden-check is not built yet")
}

pub fn bench_model(_args: BenchModelArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("bench model is not built yet")
}
