//! The open video as plain state: the engine's decode worker, the file's one frame index (shared
//! with the estimate and the ask worker), the player and timeline once it is indexed, and the
//! frame under the playhead asked for by presentation timestamp. The GUI turns the frames and
//! thumbnails that come back into textures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keye_ui::{Direction, PlayerState, Timebase, Timeline};

use crate::video::{
    DecodeWorker, FrameRequest, FrameSpec, IndexedVideo, OutputSize, PixelLayout, RequestId,
    ThumbnailEvent, VideoError, VideoFrame, VideoInfo, VideoOptions, WorkerEvent,
};

/// Frames are delivered at their own size but no larger than 4K either way (never scaled up: a
/// 1080p frame fitted to 4K would cost four times the conversion and upload), as Y'CbCr planes
/// that the frame shader converts to RGB on the GPU.
pub const DISPLAY_SPEC: FrameSpec = FrameSpec {
    size: OutputSize::AtMost {
        max_width: 3840,
        max_height: 3840,
    },
    layout: PixelLayout::Yuv420p,
};
/// Thumbnails of the scrubber strip.
const THUMBNAIL_SPEC: FrameSpec = FrameSpec {
    size: OutputSize::Fit {
        max_width: 192,
        max_height: 108,
    },
    layout: PixelLayout::Rgba32,
};
const THUMBNAIL_COUNT: usize = 48;

/// Player and timeline exist once the worker has opened and indexed the file.
pub struct Loaded {
    pub info: Arc<VideoInfo>,
    /// The file's one frame index (every frame's presentation timestamp): the frame shown at
    /// the playhead is the one the index puts there, so on a variable-frame-rate video it is the
    /// frame the thumbnails and the model's sampled frames name at that time; the ask worker
    /// and the estimate read the same index.
    pub video: IndexedVideo,
    pub player: PlayerState,
    pub timeline: Timeline,
}

/// What came back from the worker, for the front end to show or tell.
pub enum VideoUpdate {
    /// The frame under the playhead (the answer to the newest request only).
    Frame(VideoFrame),
    Thumbnail(ThumbnailEvent),
    /// The file could not be opened; the video should be closed.
    OpenFailed(VideoError),
    FrameFailed(VideoError),
}

/// One open video.
pub struct OpenVideo {
    path: PathBuf,
    worker: DecodeWorker,
    loaded: Option<Loaded>,
    /// Index and id of the frame last asked for.
    requested: Option<(usize, RequestId)>,
    /// How long the worker took for the last frame it delivered.
    last_decode: Option<std::time::Duration>,
    /// How far ahead of the playhead the frame is asked for while playing (seconds), tuned so
    /// that a frame arrives when the playhead reaches its start: the decoder's and the
    /// repaint's delay would otherwise show the picture late against the sound.
    lead: f64,
    /// The playhead at the previous poll and its smoothed advance per poll (one repaint): the
    /// frame that arrives now is drawn after this repaint's advance.
    previous_position: Option<f64>,
    advance_per_poll: f64,
}

/// The most the picture asks ahead of the playhead while playing (seconds).
const MAX_LEAD: f64 = 0.15;

impl OpenVideo {
    /// Starts opening `path` on the engine's worker thread; `wake` is called whenever the worker
    /// has something to report.
    pub fn open(path: &Path, wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            path: path.to_path_buf(),
            worker: DecodeWorker::spawn(path, VideoOptions::default(), wake),
            loaded: None,
            requested: None,
            last_decode: None,
            lead: 0.0,
            previous_position: None,
            advance_per_poll: 0.0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn loaded(&self) -> Option<&Loaded> {
        self.loaded.as_ref()
    }
    pub fn loaded_mut(&mut self) -> Option<&mut Loaded> {
        self.loaded.as_mut()
    }
    /// The presentation index of the frame last asked for (the one under the playhead).
    pub fn requested_frame(&self) -> Option<usize> {
        self.requested.map(|(index, _)| index)
    }

    /// How long the worker took to decode and convert the last frame it delivered.
    pub fn last_decode_time(&self) -> Option<std::time::Duration> {
        self.last_decode
    }

    /// Takes every event the worker sent so far, then asks for the frame under the playhead if
    /// it changed.
    pub fn poll(&mut self) -> Vec<VideoUpdate> {
        self.track_advance();
        let mut updates = Vec::new();
        while let Ok(event) = self.worker.events().try_recv() {
            match event {
                WorkerEvent::Opened(video) => self.on_opened(video),
                WorkerEvent::OpenFailed(error) => updates.push(VideoUpdate::OpenFailed(error)),
                WorkerEvent::Frame { id, frame, took } => {
                    if self.requested.is_some_and(|(_, current)| current == id) {
                        self.last_decode = Some(took);
                        self.adjust_lead(frame.index);
                        updates.push(VideoUpdate::Frame(frame));
                    }
                }
                WorkerEvent::FrameFailed { error, .. } => {
                    updates.push(VideoUpdate::FrameFailed(error))
                }
                WorkerEvent::Thumbnails(event) => updates.push(VideoUpdate::Thumbnail(event)),
            }
        }
        self.request_current_frame();
        updates
    }

    fn on_opened(&mut self, video: IndexedVideo) {
        let info = Arc::clone(video.info());
        let index = video.index();
        let frames = info.frame_count.frames as u64;
        // Frames over duration keeps the player's one-second step and duration on the engine's;
        // the declared rate is the fallback for odd headers.
        let fps = if frames > 0 && info.duration > 0.0 {
            frames as f64 / info.duration
        } else {
            info.average_frame_rate.filter(|r| *r > 0.0).unwrap_or(25.0)
        };
        let timebase = Timebase {
            fps,
            frame_count: frames,
        };
        // The player's clock is the index's: each frame starts at its presentation timestamp.
        let starts: Arc<[f64]> = (0..index.len()).filter_map(|i| index.time_of(i)).collect();
        self.loaded = Some(Loaded {
            player: PlayerState::with_frame_starts(timebase, starts),
            timeline: Timeline::new(timebase.duration()),
            info,
            video,
        });
        self.worker
            .request_thumbnails(THUMBNAIL_COUNT, THUMBNAIL_SPEC);
    }

    fn track_advance(&mut self) {
        let Some(loaded) = &self.loaded else {
            return;
        };
        let position = loaded.player.position();
        if let Some(previous) = self.previous_position.replace(position) {
            let step = position - previous;
            if loaded.player.is_playing() && (0.0..MAX_LEAD).contains(&step) {
                self.advance_per_poll = 0.9 * self.advance_per_poll + 0.1 * step;
            }
        }
    }

    /// While playing forward, moves the lead by a share of how late (or early) the arrived
    /// frame `index` is against the playhead.
    fn adjust_lead(&mut self, index: usize) {
        let Some(loaded) = &self.loaded else {
            return;
        };
        let player = &loaded.player;
        if !player.is_playing() || player.direction() != Direction::Forward {
            return;
        }
        let drawn_at = player.position() + self.advance_per_poll;
        let late = (drawn_at - player.frame_start(index as u64)) / player.speed();
        self.lead = (self.lead + 0.2 * late).clamp(0.0, MAX_LEAD);
    }

    fn request_current_frame(&mut self) {
        let Some(loaded) = &self.loaded else {
            return;
        };
        // By presentation timestamp, not by a constant rate: the player's seconds are the
        // index's seconds since the first frame. Paused, exactly the frame under the playhead.
        let player = &loaded.player;
        let ahead = if player.is_playing() && player.direction() == Direction::Forward {
            self.lead * player.speed()
        } else {
            0.0
        };
        let end = player
            .span()
            .map_or(player.last_frame_start(), |span| span.end);
        let time = (player.position() + ahead).min(end.max(player.position()));
        let Some(index) = loaded.video.index().index_at_time(time) else {
            return;
        };
        if self.requested.is_none_or(|(asked, _)| asked != index) {
            let id = self
                .worker
                .request_frame(FrameRequest::Index(index), DISPLAY_SPEC);
            self.requested = Some((index, id));
        }
    }
}

#[cfg(test)]
mod tests;
