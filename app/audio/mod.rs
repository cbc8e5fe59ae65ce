//! Sound: the open video's audio track played in sync with the picture (FFmpeg decodes,
//! resamples and keeps the pitch at other speeds; cpal plays), and its waveform for the
//! timeline. A video without audio, or a machine without an audio device, plays silently with a
//! one-line notice.

mod decode;
mod output;
mod player;
pub mod waveform;

pub use decode::{
    AUDIBLE_SPEEDS, AudioChunk, AudioDecoder, AudioError, AudioStreamInfo, OutputFormat,
};
pub use player::{AudioPlayer, AudioStatus};
pub use waveform::WaveformJob;

#[cfg(test)]
mod tests;
