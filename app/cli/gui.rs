//! `keye-studio [VIDEO] [--model DIR|FILE.gguf] [--device D] [--dtype T] [--quantize Q
//! [--quantize-vision]] [--captions FILE] [--ask QUESTION] [--thinking auto|think|no-think]
//! [--screenshot-after SECS PATH]`: the GUI.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use keye_model::device::{DTypeChoice, DeviceChoice};
use keye_model::quantize::{QuantKind, QuantizeSpec};
use keye_studio::gui::{LaunchOptions, ScreenshotRequest};

#[derive(clap::Args, Debug, Default)]
pub struct GuiArgs {
    /// A video to open.
    pub video: Option<PathBuf>,
    /// A Keye-VL checkpoint folder (Hugging Face layout), or a quantized .gguf file.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Where the model loads: auto, cpu, cuda, cuda:N or metal (default: the model manager's
    /// last choice).
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Weight precision: auto, f32, bf16 or f16 (default: the model manager's last choice).
    #[arg(long)]
    pub dtype: Option<DTypeChoice>,
    /// Quantize the decoder's linear layers at load: none, q8_0, q6k or q4k (default: the model
    /// manager's last choice).
    #[arg(long)]
    pub quantize: Option<QuantKind>,
    /// Quantize the vision tower's linear layers too.
    #[arg(long, requires = "quantize")]
    pub quantize_vision: bool,
    /// A HAIC caption file (JSON or JSONL).
    #[arg(long, value_name = "FILE")]
    pub captions: Option<PathBuf>,
    /// Ask QUESTION about the video once the model has loaded (as if typed and sent).
    #[arg(long, value_name = "QUESTION")]
    pub ask: Option<String>,
    /// The ask panel's thinking choice to start with: auto (the model decides), think or no-think.
    #[arg(long, value_enum)]
    pub thinking: Option<super::demo::ThinkingArg>,
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
        quantize: args.quantize.map(|kind| QuantizeSpec {
            kind,
            vision: args.quantize_vision,
        }),
        captions: args.captions,
        ask: args.ask,
        thinking: args.thinking.map(|choice| match choice {
            super::demo::ThinkingArg::Auto => keye_ui::ThinkingChoice::Auto,
            super::demo::ThinkingArg::Think => keye_ui::ThinkingChoice::Think,
            super::demo::ThinkingArg::NoThink => keye_ui::ThinkingChoice::NoThink,
        }),
        screenshot,
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Gui {
        #[command(flatten)]
        gui: GuiArgs,
    }

    fn parse(args: &[&str]) -> Result<GuiArgs, clap::Error> {
        Gui::try_parse_from(std::iter::once("keye-studio").chain(args.iter().copied()))
            .map(|g| g.gui)
    }

    #[test]
    fn placement_flags_set_the_model_managers_first_choice() {
        let args = parse(&[
            "clip.mp4",
            "--device",
            "cuda:1",
            "--dtype",
            "bf16",
            "--quantize",
            "q4k",
            "--quantize-vision",
        ])
        .expect("parses");
        assert_eq!(args.device, Some(DeviceChoice::Cuda(1)));
        assert_eq!(args.dtype, Some(DTypeChoice::Bf16));
        assert_eq!(args.quantize, Some(QuantKind::Q4K));
        assert!(args.quantize_vision);

        // Not given: the remembered choice stays.
        let args = parse(&["clip.mp4"]).expect("parses");
        assert_eq!((args.device, args.dtype, args.quantize), (None, None, None));
    }

    #[test]
    fn the_thinking_choice_is_one_of_three() {
        use super::super::demo::ThinkingArg;
        let args = parse(&["clip.mp4", "--ask", "Why?", "--thinking", "think"]).expect("parses");
        assert_eq!(args.thinking, Some(ThinkingArg::Think));
        assert_eq!(parse(&["clip.mp4"]).expect("parses").thinking, None);
        let message = parse(&["--thinking", "maybe"])
            .expect_err("refused")
            .to_string();
        assert!(message.contains("no-think"), "{message}");
    }

    #[test]
    fn bad_placement_flags_say_what_is_accepted() {
        let message = parse(&["--device", "gpu"])
            .expect_err("refused")
            .to_string();
        assert!(message.contains("cuda:N"), "{message}");
        let message = parse(&["--quantize", "q3"])
            .expect_err("refused")
            .to_string();
        assert!(message.contains("q4k"), "{message}");
        assert!(
            parse(&["--quantize-vision"]).is_err(),
            "vision quantization needs a format"
        );
    }
}
