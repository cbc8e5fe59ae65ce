//! `captions validate|fmt|export|convert|stats`. (Being built: issue 3.)

use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Subcommand)]
pub enum CaptionsCommand {
    /// Check caption files against the HAIC rules.
    Validate { files: Vec<PathBuf> },
}

pub fn run(_command: CaptionsCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("captions is not built yet")
}
