//! The desktop app. (Being built: issue 7.)

use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    anyhow::bail!("the GUI is not built yet")
}
