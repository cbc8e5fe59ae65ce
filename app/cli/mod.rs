//! One module per family of subcommands; each returns the process exit code or an error
//! that `main` prints as one line.

pub mod ask;
pub mod bench;
pub mod captions;
pub mod demo;
pub mod eval;
pub mod gui;
pub mod inspect;
pub mod model;
pub mod plan;
pub mod video;

use indicatif::{ProgressBar, ProgressStyle};
use keye_model::LoadProgress;

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
        };
        callback_bar.set_message(what);
        callback_bar.set_length(total as u64);
        callback_bar.set_position(done as u64);
    });
    (bar, callback)
}
