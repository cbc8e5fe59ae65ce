//! The decode worker: a thread that owns a [`Video`] and answers "frame at t" requests sent over a
//! crossbeam channel, so the UI thread never decodes. A newer frame request supersedes all older ones
//! (those still queued are skipped and the one being decoded stops between packets), so a fast scrub
//! decodes only where the scrubber is now. Thumbnails run as a background job on their own reader.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::convert::{FrameSpec, VideoFrame};
use super::error::VideoError;
use super::reader::{IndexedVideo, Video, VideoOptions};
use super::thumbs::{ThumbnailEvent, ThumbnailJob};

/// Identifies a frame request; ids increase with every request.
pub type RequestId = u64;

/// Which frame to show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FrameRequest {
    /// The frame shown at this many seconds since the first frame.
    At(f64),
    /// The frame with this presentation index.
    Index(usize),
}

/// What the worker reports, in order, on [`DecodeWorker::events`].
#[derive(Debug)]
pub enum WorkerEvent {
    /// The file opened and was indexed (its frame index: the one clock the player, the
    /// thumbnails and the model share); always the first event unless `OpenFailed`.
    Opened(IndexedVideo),
    /// The file could not be opened; the worker stops.
    OpenFailed(VideoError),
    /// The answer to the current frame request, and how long the worker took to decode and
    /// convert it. Superseded or cancelled requests get no answer.
    Frame {
        id: RequestId,
        frame: VideoFrame,
        took: std::time::Duration,
    },
    /// The current frame request failed.
    FrameFailed { id: RequestId, error: VideoError },
    /// Progress of the thumbnail strip.
    Thumbnails(ThumbnailEvent),
}

/// How many frames past the one shown the worker decodes ahead while idle (raw pictures in the
/// reader's cache: 8 are 25 MB at 1080p, 100 MB at 4K).
const READ_AHEAD_FRAMES: usize = 8;

/// Cache budget of the thumbnail reader: it only ever needs the picture it is converting.
const THUMBNAIL_CACHE_BYTES: usize = 16 << 20;

enum Command {
    Frame {
        id: RequestId,
        request: FrameRequest,
        spec: FrameSpec,
    },
    Thumbnails {
        count: usize,
        spec: FrameSpec,
        cancel: Arc<AtomicBool>,
    },
}

/// Handle to the decode thread of one video. Dropping it stops the thread (and any thumbnail job).
pub struct DecodeWorker {
    commands: Option<Sender<Command>>,
    events: Receiver<WorkerEvent>,
    /// Id of the request that should be answered; anything older is stale.
    current: Arc<AtomicU64>,
    thumbnail_cancel: Mutex<Option<Arc<AtomicBool>>>,
    handle: Option<JoinHandle<()>>,
}

impl DecodeWorker {
    /// Starts a worker that opens `path` on its own thread (opening scans the file, which can take a
    /// moment for long videos) and reports [`WorkerEvent::Opened`] or [`WorkerEvent::OpenFailed`].
    /// `wake` is called after every event (e.g. egui's `request_repaint`).
    pub fn spawn(
        path: impl Into<PathBuf>,
        options: VideoOptions,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let path = path.into();
        let (command_sender, commands) = crossbeam_channel::unbounded();
        let (event_sender, events) = crossbeam_channel::unbounded();
        let current = Arc::new(AtomicU64::new(0));
        let worker_current = Arc::clone(&current);
        let emit: Emit = Arc::new(move |event| {
            // The receiver is gone only when the handle was dropped; nothing is waiting then.
            let _ = event_sender.send(event);
            wake();
        });
        let handle = std::thread::Builder::new()
            .name("keye-decode".into())
            .spawn(move || run(path, options, &commands, &worker_current, &emit))
            .ok();
        Self {
            commands: Some(command_sender),
            events,
            current,
            thumbnail_cancel: Mutex::new(None),
            handle,
        }
    }

    /// Asks for a frame as `spec`. Supersedes every earlier frame request.
    pub fn request_frame(&self, request: FrameRequest, spec: FrameSpec) -> RequestId {
        let id = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.send(Command::Frame { id, request, spec });
        id
    }

    /// Drops the pending frame request, stopping its decode if it has started.
    pub fn cancel_frames(&self) {
        self.current.fetch_add(1, Ordering::SeqCst);
    }

    /// Starts (or restarts, cancelling the previous one) the thumbnail strip of `count` frames.
    pub fn request_thumbnails(&self, count: usize, spec: FrameSpec) {
        let cancel = Arc::new(AtomicBool::new(false));
        if let Ok(mut slot) = self.thumbnail_cancel.lock()
            && let Some(previous) = slot.replace(Arc::clone(&cancel))
        {
            previous.store(true, Ordering::Relaxed);
        }
        self.send(Command::Thumbnails {
            count,
            spec,
            cancel,
        });
    }

    /// Stops the thumbnail job; it reports `Done { cancelled: true }`.
    pub fn cancel_thumbnails(&self) {
        if let Ok(slot) = self.thumbnail_cancel.lock()
            && let Some(cancel) = slot.as_ref()
        {
            cancel.store(true, Ordering::Relaxed);
        }
    }

    /// The worker's events; poll with `try_recv` from the UI thread.
    pub fn events(&self) -> &Receiver<WorkerEvent> {
        &self.events
    }

    fn send(&self, command: Command) {
        if let Some(commands) = &self.commands {
            // A send fails only after the worker stopped (open failed); its events said why.
            let _ = commands.send(command);
        }
    }
}

impl Drop for DecodeWorker {
    fn drop(&mut self) {
        self.cancel_frames();
        self.cancel_thumbnails();
        self.commands = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

type Emit = Arc<dyn Fn(WorkerEvent) + Send + Sync>;

fn run(
    path: PathBuf,
    options: VideoOptions,
    commands: &Receiver<Command>,
    current: &AtomicU64,
    emit: &Emit,
) {
    let mut video = match Video::open_with(&path, options) {
        Ok(video) => video,
        Err(error) => return emit(WorkerEvent::OpenFailed(error)),
    };
    emit(WorkerEvent::Opened(video.indexed()));
    let mut thumbnail_jobs: Vec<ThumbnailJob> = Vec::new();
    // Frames after the last one answered, decoded while nothing else is asked: playing (or
    // stepping forward) then finds the next picture decoded and only converts it.
    let mut read_ahead: Option<std::ops::Range<usize>> = None;
    loop {
        let first = match read_ahead.as_mut().and_then(Iterator::next) {
            Some(next) => match commands.try_recv() {
                Ok(command) => command,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    // Any command stops the read-ahead between packets; it is only a head start.
                    if video.prefetch(next, &|| !commands.is_empty()).is_err() {
                        read_ahead = None;
                    }
                    continue;
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            },
            None => match commands.recv() {
                Ok(command) => command,
                Err(_) => return,
            },
        };
        // Coalesce everything queued: only the newest frame request matters.
        let mut frame = None;
        for command in std::iter::once(first).chain(commands.try_iter()) {
            match command {
                Command::Frame { id, request, spec } => frame = Some((id, request, spec)),
                Command::Thumbnails {
                    count,
                    spec,
                    cancel,
                } => {
                    thumbnail_jobs.retain(|job| !job.is_finished());
                    thumbnail_jobs.push(start_thumbnails(&video, count, spec, cancel, emit));
                }
            }
        }
        let Some((id, request, spec)) = frame else {
            continue;
        };
        let stale = || current.load(Ordering::SeqCst) != id;
        if stale() {
            continue;
        }
        let started = std::time::Instant::now();
        let result = match request {
            FrameRequest::At(time) => video.frame_at_or_cancel(time, spec, &stale),
            FrameRequest::Index(index) => video.frame_index_or_cancel(index, spec, &stale),
        };
        match result {
            Ok(frame) => {
                let next = frame.index + 1;
                read_ahead = Some(next..(next + READ_AHEAD_FRAMES).min(video.frame_count()));
                let took = started.elapsed();
                emit(WorkerEvent::Frame { id, frame, took })
            }
            Err(error) if error.is_cancelled() => {}
            Err(error) => emit(WorkerEvent::FrameFailed { id, error }),
        }
    }
}

/// Opens a second reader (sharing the index) and runs the strip on it, so thumbnails never wait for
/// or delay the frame the user is looking at.
fn start_thumbnails(
    video: &Video,
    count: usize,
    spec: FrameSpec,
    cancel: Arc<AtomicBool>,
    emit: &Emit,
) -> ThumbnailJob {
    let emit = Arc::clone(emit);
    let reader = video.reopen(VideoOptions {
        cache_bytes: THUMBNAIL_CACHE_BYTES,
        ..Default::default()
    });
    ThumbnailJob::spawn_cancellable(reader, count, spec, cancel, move |event| {
        emit(WorkerEvent::Thumbnails(event))
    })
}
