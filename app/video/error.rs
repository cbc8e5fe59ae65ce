//! Typed errors of the video engine. Every variant names the file, so a message shown to the user
//! (or printed by the CLI) says which video failed and why.

use std::path::PathBuf;

/// Why a video could not be opened or a frame could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The path does not exist.
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },
    /// The file exists but could not be read (permissions, a directory, I/O failure).
    /// The cause is part of the message and deliberately not `source()`, so a printed error chain
    /// does not repeat it.
    #[error("{path}: cannot read the file: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The file has zero bytes.
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    /// FFmpeg recognises no container format in the bytes.
    #[error("{path}: not a video file FFmpeg recognises ({reason})")]
    Unrecognized { path: PathBuf, reason: String },
    /// The container opens but has no video stream (e.g. an audio-only file).
    #[error("{path}: no video stream in this file ({streams})")]
    NotAVideo { path: PathBuf, streams: String },
    /// The video stream's codec has no decoder in this FFmpeg build.
    #[error("{path}: the video codec {codec} is not supported by this FFmpeg build")]
    UnsupportedCodec { path: PathBuf, codec: String },
    /// The container is damaged or incomplete (e.g. an MP4 whose `moov` atom is missing because the
    /// recording was interrupted), so not even the stream layout can be read.
    #[error("{path}: the file is damaged or incomplete: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The container opened but no frame could be read from the video stream.
    #[error("{path}: the video stream holds no readable frames ({reason})")]
    NoFrames { path: PathBuf, reason: String },
    /// Decoding failed where the requested frame should be.
    #[error("{path}: cannot decode frame {index}: {reason}")]
    Decode {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    /// A frame index past the last frame.
    #[error("{path}: frame {index} is out of range (the video has {count} frames)")]
    IndexOutOfRange {
        path: PathBuf,
        index: usize,
        count: usize,
    },
    /// A time that is not a finite number of seconds.
    #[error("{path}: {time} is not a valid time in seconds")]
    InvalidTime { path: PathBuf, time: f64 },
    /// A requested output size or sampling parameter that cannot be honoured.
    #[error("{path}: invalid request: {reason}")]
    InvalidRequest { path: PathBuf, reason: String },
    /// The caller cancelled the work (or a newer request superseded it).
    #[error("{path}: cancelled")]
    Cancelled { path: PathBuf },
}

impl VideoError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::NotFound { path }
            | Self::Io { path, .. }
            | Self::Empty { path }
            | Self::Unrecognized { path, .. }
            | Self::NotAVideo { path, .. }
            | Self::UnsupportedCodec { path, .. }
            | Self::Corrupt { path, .. }
            | Self::NoFrames { path, .. }
            | Self::Decode { path, .. }
            | Self::IndexOutOfRange { path, .. }
            | Self::InvalidTime { path, .. }
            | Self::InvalidRequest { path, .. }
            | Self::Cancelled { path } => path,
        }
    }

    /// True when the error only reports a cancellation, not a problem with the file.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }
}
