//! The video engine: probe a file, read any frame exactly as a player shows it, sample frames for the
//! model, make scrubber thumbnails, and do it all on worker threads the UI talks to over channels.
//!
//! Times: every API that takes or returns seconds (`frame_at`, [`VideoFrame::time`],
//! [`SampledFrame`]) counts from the first frame of the stream (relative time), so a file whose
//! timestamps start at 10 s still starts at 0 here. Raw timestamps as stored in the file are
//! available as `pts` (stream time base, [`VideoInfo::time_base`]) and [`VideoInfo::start_time`].
//!
//! ```no_run
//! use keye_studio::video::{FrameSpec, Video};
//! let mut video = Video::open("assets/sample-16x9.mp4")?;
//! let frame = video.frame_at(1.5, FrameSpec::fit_rgb(640, 360))?;
//! println!("frame {} at {:.3}s, {}x{}", frame.index, frame.time, frame.width, frame.height);
//! # Ok::<(), keye_studio::video::VideoError>(())
//! ```

mod cache;
mod convert;
mod error;
mod index;
mod passes;
mod probe;
mod reader;
mod sampling;
mod thumbs;
mod worker;

pub use convert::{
    FrameSpec, OutputSize, PixelLayout, VideoFrame, YuvColor, YuvMatrix, fit_within,
};
pub use error::VideoError;
pub use index::{FrameIndex, IndexEntry};
pub use passes::{DecodeStrategy, StrategyChoice};
pub use probe::{
    DecodeThreads, EXACT_COUNT_SCAN_LIMIT_BYTES, FrameCount, Rotation, StreamSummary, VideoInfo,
    probe,
};
pub use reader::{IndexedVideo, Video, VideoOptions};
pub use sampling::{SampledFrame, SamplingPlan};
pub use thumbs::{ThumbnailEvent, ThumbnailJob, thumbnail_indices};
pub use worker::{DecodeWorker, FrameRequest, RequestId, WorkerEvent};

/// Initialises FFmpeg once per process and keeps its own logging quiet: problems reach the caller as
/// typed errors and warnings instead of lines on stderr.
pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // init() only registers codecs and formats; with FFmpeg >= 4 it cannot fail in practice.
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}
