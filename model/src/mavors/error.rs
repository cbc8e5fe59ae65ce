//! Errors of the Mavors encoder: each names what was wrong so the caller can tell the user what to fix.

use std::path::PathBuf;

/// Everything that can go wrong while planning, loading, saving or running Mavors.
#[derive(Debug, thiserror::Error)]
pub enum MavorsError {
    #[error("invalid mavors_config: {0}")]
    InvalidConfig(String),
    #[error("video has no frames to plan chunks from")]
    NoFrames,
    #[error(
        "frame timestamps must be finite and strictly increasing: frame {index} is at {timestamp}s"
    )]
    BadTimestamp { index: usize, timestamp: f64 },
    #[error("image size {width}x{height} is empty")]
    EmptyImage { width: u32, height: u32 },
    #[error("bad encoder input: {0}")]
    BadInput(String),
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    // Causes are printed in the message and not exposed as `source()` (no repeats in a chain).
    #[error("{path}: {cause}")]
    ConfigJson {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Preprocess(#[from] crate::preprocess::PreprocessError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, MavorsError>;
