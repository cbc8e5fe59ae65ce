//! One module per family of subcommands; each returns the process exit code or an error
//! that `main` prints as one line.

pub mod ask;
pub mod bench;
mod bench_decode;
mod bench_playback;
pub mod caption;
pub mod captions;
pub mod demo;
pub mod eval;
pub mod evidence;
pub mod gui;
pub mod haicbench;
pub mod inspect;
pub mod model;
pub mod plan;
pub mod quantize;
pub mod serve;
pub mod video;

use indicatif::{ProgressBar, ProgressStyle};
use keye_model::{
    LoadProgress,
    budget::VisualBudget,
    device::{DTypeChoice, DeviceChoice},
    quantize::{QuantKind, QuantizeSpec},
};
use keye_studio::inference::Placement;

/// `--device` and `--dtype`: every command that loads a model takes them.
#[derive(clap::Args, Clone, Copy)]
pub struct PlacementArgs {
    /// Where the model runs: auto (a GPU when this build has CUDA or Metal and one is present,
    /// else the CPU), cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Weight and activation precision: auto (bf16 on a GPU; on a CPU f32 when it fits in free
    /// memory, else bf16), f32, bf16 or f16. Norms, softmax and rotary tables stay in f32.
    #[arg(long, default_value = "auto")]
    pub dtype: DTypeChoice,
    /// Quantize the decoder's linear layers at load: none, q8_0, q6k or q4k (a quantized copy
    /// saved by `keye-studio quantize` beside the checkpoint is used instead when present).
    #[arg(long, default_value = "none")]
    pub quantize: QuantKind,
    /// Quantize the vision tower's linear layers too.
    #[arg(long, requires = "quantize")]
    pub quantize_vision: bool,
}

impl PlacementArgs {
    pub fn placement(self) -> Placement {
        Placement {
            device: self.device,
            dtype: self.dtype,
            quantize: QuantizeSpec {
                kind: self.quantize,
                vision: self.quantize_vision,
            },
        }
    }
}

/// The visual-token budget: how densely videos are sampled and how many visual tokens a prompt
/// may hold. Unset knobs keep the encoder's defaults; the token ceiling defaults to what the
/// model's device has memory for.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct BudgetArgs {
    /// At most this many sampled frames per video.
    #[arg(long)]
    pub max_frames: Option<usize>,
    /// Frames sampled per second of video.
    #[arg(long)]
    pub fps: Option<f64>,
    /// At most this many pixels per frame or image (e.g. 200704 = 256 tokens).
    #[arg(long)]
    pub max_pixels: Option<u64>,
    /// At most this many visual tokens per prompt (default: what free memory allows).
    #[arg(long)]
    pub max_visual_tokens: Option<usize>,
}

impl BudgetArgs {
    /// The budget with these knobs over `default`.
    pub fn budget(self, default: VisualBudget) -> VisualBudget {
        VisualBudget {
            max_frames: self.max_frames.or(default.max_frames),
            fps: self.fps.or(default.fps),
            max_pixels: self.max_pixels.or(default.max_pixels),
            max_visual_tokens: self.max_visual_tokens.unwrap_or(default.max_visual_tokens),
        }
    }
}

/// A checkpoint loading bar on stderr (hidden when `visible` is false) and the loader callback
/// that feeds it: the one place the CLI shows loading progress.
pub fn loading_bar(visible: bool) -> (ProgressBar, Box<dyn FnMut(LoadProgress) + Send>) {
    let bar = if visible {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("loading {msg:>8} [{bar:30}] {pos}/{len}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let callback_bar = bar.clone();
    let callback = Box::new(move |p| {
        let (what, done, total) = match p {
            LoadProgress::CheckedShard { done, total } => ("shards", done, total),
            LoadProgress::LoadedTensor { done, total } => ("tensors", done, total),
            LoadProgress::QuantizedTensor { done, total } => ("quantized", done, total),
        };
        callback_bar.set_message(what);
        callback_bar.set_length(total as u64);
        callback_bar.set_position(done as u64);
    });
    (bar, callback)
}
