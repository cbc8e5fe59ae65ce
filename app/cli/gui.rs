//! `keye-studio [VIDEO] [--model DIR] [--device D] [--dtype T] [--captions FILE]
//! [--ask QUESTION] [--screenshot-after SECS PATH]`: the GUI.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use keye_model::device::{DTypeChoice, DeviceChoice};
use keye_studio::gui::{LaunchOptions, ScreenshotRequest};

#[derive(clap::Args, Debug, Default)]
pub struct GuiArgs {
    /// A video to open.
    pub video: Option<PathBuf>,
    /// A Keye-VL checkpoint folder (Hugging Face layout).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Where the model loads: auto, cpu, cuda, cuda:N or metal (default: the model manager's
    /// last choice).
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Weight precision: auto, f32, bf16 or f16 (default: the model manager's last choice).
    #[arg(long)]
    pub dtype: Option<DTypeChoice>,
    /// A HAIC caption file (JSON or JSONL).
    #[arg(long, value_name = "FILE")]
    pub captions: Option<PathBuf>,
    /// Ask QUESTION about the video once the model has loaded (as if typed and sent).
    #[arg(long, value_name = "QUESTION")]
    pub ask: Option<String>,
    /// Write a PNG of the window after SECS seconds (once the video shows) and exit.
    #[arg(long, num_args = 2, value_names = ["SECS", "PATH"])]
    pub screenshot_after: Option<Vec<String>>,
}

pub fn run(args: GuiArgs) -> anyhow::Result<ExitCode> {
    let screenshot = match args.screenshot_after.as_deref() {
        None => None,
        Some([secs, path]) => {
            let seconds: f64 = secs.parse().with_context(|| {
                format!("--screenshot-after: {secs:?} is not a number of seconds")
            })?;
            if !(seconds.is_finite() && seconds >= 0.0) {
                bail!("--screenshot-after: {secs} is not a duration in seconds");
            }
            Some(ScreenshotRequest {
                after: Duration::from_secs_f64(seconds),
                path: PathBuf::from(path),
            })
        }
        Some(_) => bail!("--screenshot-after takes two values: SECS PATH"),
    };
    keye_studio::gui::run(LaunchOptions {
        video: args.video,
        model: args.model,
        device: args.device,
        dtype: args.dtype,
        captions: args.captions,
        ask: args.ask,
        screenshot,
    })?;
    Ok(ExitCode::SUCCESS)
}
