//! The scrubber's thumbnail strip: N evenly spaced small frames decoded on a background thread, each
//! delivered as soon as it is ready, with cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::convert::{FrameSpec, VideoFrame};
use super::error::VideoError;
use super::reader::Video;

/// The frames of an `count`-thumbnail strip over `frame_count` frames: the middle frame of each of
/// `count` equal segments (so the strip covers the whole video without favouring either end).
/// Fewer come back when the video has fewer frames than `count`.
pub fn thumbnail_indices(frame_count: usize, count: usize) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..count.min(frame_count))
        .map(|i| ((2 * i + 1) * frame_count) / (2 * count.min(frame_count)))
        .collect();
    indices.dedup();
    indices
}

/// Progress of a thumbnail job, in the order it happens.
#[derive(Debug)]
pub enum ThumbnailEvent {
    /// Thumbnail `position` of `total` (left to right) is ready.
    Thumbnail {
        position: usize,
        total: usize,
        frame: VideoFrame,
    },
    /// Thumbnail `position` could not be decoded; the job goes on with the others.
    Failed { position: usize, error: VideoError },
    /// The job ended: `completed` thumbnails were delivered; `cancelled` if it was stopped early.
    Done { completed: usize, cancelled: bool },
}

/// A running thumbnail job. Dropping it cancels the job and waits for its thread.
pub struct ThumbnailJob {
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ThumbnailJob {
    /// Starts decoding `count` thumbnails of `video` at `spec` on a new thread, handing each event to
    /// `sink` (e.g. a channel sender).
    pub fn spawn(
        video: Video,
        count: usize,
        spec: FrameSpec,
        sink: impl Fn(ThumbnailEvent) + Send + 'static,
    ) -> Self {
        Self::spawn_cancellable(
            Ok(video),
            count,
            spec,
            Arc::new(AtomicBool::new(false)),
            sink,
        )
    }

    /// [`ThumbnailJob::spawn`] with a cancel flag owned by the caller; a reader that failed to open
    /// is reported through `sink` like any other failure.
    pub(crate) fn spawn_cancellable(
        video: Result<Video, VideoError>,
        count: usize,
        spec: FrameSpec,
        cancel: Arc<AtomicBool>,
        sink: impl Fn(ThumbnailEvent) + Send + 'static,
    ) -> Self {
        let flag = Arc::clone(&cancel);
        let body = move || {
            let cancelled = || flag.load(Ordering::Relaxed);
            match video {
                Ok(mut video) => run(&mut video, count, spec, &cancelled, &sink),
                Err(error) => {
                    sink(ThumbnailEvent::Failed { position: 0, error });
                    sink(ThumbnailEvent::Done {
                        completed: 0,
                        cancelled: false,
                    });
                }
            }
        };
        let handle = std::thread::Builder::new()
            .name("keye-thumbnails".into())
            .spawn(body)
            .ok();
        Self { cancel, handle }
    }

    /// Asks the job to stop; it ends after the picture being decoded (with a `Done` event).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// True once the job's thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for ThumbnailJob {
    fn drop(&mut self) {
        self.cancel();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(
    video: &mut Video,
    count: usize,
    spec: FrameSpec,
    cancelled: &dyn Fn() -> bool,
    sink: &dyn Fn(ThumbnailEvent),
) {
    let indices = thumbnail_indices(video.frame_count(), count);
    let total = indices.len();
    let mut completed = 0;
    for (position, &index) in indices.iter().enumerate() {
        if cancelled() {
            sink(ThumbnailEvent::Done {
                completed,
                cancelled: true,
            });
            return;
        }
        match video.frame_index_or_cancel(index, spec, cancelled) {
            Ok(frame) => {
                completed += 1;
                sink(ThumbnailEvent::Thumbnail {
                    position,
                    total,
                    frame,
                });
            }
            Err(error) if error.is_cancelled() => {
                sink(ThumbnailEvent::Done {
                    completed,
                    cancelled: true,
                });
                return;
            }
            Err(error) => sink(ThumbnailEvent::Failed { position, error }),
        }
    }
    sink(ThumbnailEvent::Done {
        completed,
        cancelled: false,
    });
}

#[cfg(test)]
mod tests {
    use super::thumbnail_indices;

    #[test]
    fn thumbnails_take_the_middle_of_equal_segments() {
        assert_eq!(thumbnail_indices(100, 4), vec![12, 37, 62, 87]);
        assert_eq!(thumbnail_indices(3, 10), vec![0, 1, 2]);
        assert_eq!(thumbnail_indices(1, 1), vec![0]);
        assert!(thumbnail_indices(0, 5).is_empty());
    }
}
