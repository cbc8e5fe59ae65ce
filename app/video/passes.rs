//! Decoding a chosen set of frames fast. Per video and set of frames, the frame index decides
//! between seeking to the keyframe before each frame and one sequential pass (whichever decodes
//! fewer frames, a seek counted as a few frames' worth of work); decoded pictures are converted to
//! RGB on a small worker pool while decoding goes on, and delivered in presentation order.

use std::collections::BTreeMap;
use std::fmt;

use ffmpeg_next as ffmpeg;

use super::convert::{Converter, FrameSpec, Placement, VideoFrame};
use super::error::VideoError;
use super::index::FrameIndex;
use super::probe::{DecodeThreads, Rotation};
use super::reader::{Pass, Video};

/// How a set of frames is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStrategy {
    /// Seek to the keyframe before a frame whenever that is closer than decoding on to it.
    Seek,
    /// One sequential pass from the keyframe before the first frame to the last frame.
    Scan,
}

/// The strategy chosen for a set of frames and the estimate it was chosen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyChoice {
    pub strategy: DecodeStrategy,
    /// Distinct frames asked for.
    pub frames: usize,
    /// Seeks, and frames decoded, when seeking.
    pub seeks: usize,
    pub seek_frames: usize,
    /// Frames decoded by one sequential pass.
    pub scan_frames: usize,
}

impl StrategyChoice {
    /// Chooses for the frames `sorted` (ascending, distinct) of `index`, a seek costing as much as
    /// decoding `seek_cost_frames` frames (flushing and refilling a frame-threaded decoder).
    pub fn for_frames(index: &FrameIndex, sorted: &[usize], seek_cost_frames: usize) -> Self {
        let mut seeks = 0usize;
        let mut seek_frames = 0;
        let mut last: Option<usize> = None;
        for &target in sorted {
            let keyframe = index.keyframe_at_or_before(target);
            match last {
                // The same rule as random access: decode on unless the keyframe lies past us.
                Some(last) if keyframe <= last + 1 => seek_frames += target - last,
                _ => {
                    seeks += 1;
                    seek_frames += target + 1 - keyframe;
                }
            }
            last = Some(target);
        }
        let scan_frames = match (sorted.first(), sorted.last()) {
            (Some(&first), Some(&last)) => last + 1 - index.keyframe_at_or_before(first),
            _ => 0,
        };
        // One seek is unavoidable either way; each further one costs its decoder restart.
        let seek_cost = seek_frames + seeks.saturating_sub(1) * seek_cost_frames;
        let strategy = if seek_cost < scan_frames {
            DecodeStrategy::Seek
        } else {
            DecodeStrategy::Scan
        };
        Self {
            strategy,
            frames: sorted.len(),
            seeks,
            seek_frames,
            scan_frames,
        }
    }
}

impl fmt::Display for StrategyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (seek, scan) = (
            format!("{} seeks decoding {} frames", self.seeks, self.seek_frames),
            format!("one pass decoding {} frames", self.scan_frames),
        );
        match self.strategy {
            DecodeStrategy::Seek => write!(f, "seek ({seek}; not {scan})"),
            DecodeStrategy::Scan => write!(f, "scan ({scan}; not {seek})"),
        }
    }
}

/// A picture on its way to a conversion worker.
struct Job {
    sequence: usize,
    picture: ffmpeg::frame::Video,
    placement: Placement,
}

impl Video {
    /// The strategy [`Video::decode_frames`] would choose for `indices`.
    pub fn decode_strategy(&self, indices: &[usize]) -> StrategyChoice {
        StrategyChoice::for_frames(self.index(), &sorted_distinct(indices), self.seek_cost())
    }

    /// Decodes the frames `indices` (any order, repeats allowed) at `spec` and hands each to
    /// `on_frame` once, in ascending index order; `strategy` forces a choice (tests, benches),
    /// `None` lets the frame index decide. Returns the choice. Stops with
    /// [`VideoError::Cancelled`] as soon as `cancelled` returns true.
    pub fn decode_frames(
        &mut self,
        indices: &[usize],
        spec: FrameSpec,
        strategy: Option<DecodeStrategy>,
        cancelled: &dyn Fn() -> bool,
        on_frame: &mut dyn FnMut(VideoFrame),
    ) -> Result<StrategyChoice, VideoError> {
        let wanted = sorted_distinct(indices);
        let count = self.frame_count();
        if let Some(&bad) = wanted.iter().find(|&&i| i >= count) {
            return Err(VideoError::IndexOutOfRange {
                path: self.path().to_path_buf(),
                index: bad,
                count,
            });
        }
        let mut choice = StrategyChoice::for_frames(self.index(), &wanted, self.seek_cost());
        if let Some(strategy) = strategy {
            choice.strategy = strategy;
        }
        let pass = match choice.strategy {
            DecodeStrategy::Seek => Pass::Seek,
            DecodeStrategy::Scan => Pass::Scan,
        };
        let rotation = self.info().rotation;
        let workers = conversion_workers(wanted.len());
        std::thread::scope(|scope| {
            let (jobs, job_queue) = crossbeam_channel::bounded::<Job>(workers * 2);
            let (done, finished) = crossbeam_channel::unbounded();
            for _ in 0..workers {
                let (job_queue, done) = (job_queue.clone(), done.clone());
                scope.spawn(move || convert_jobs(&job_queue, &done, rotation, spec));
            }
            drop((job_queue, done));
            let mut reorder = Reorder::default();
            for (sequence, &target) in wanted.iter().enumerate() {
                if cancelled() {
                    return Err(VideoError::Cancelled {
                        path: self.path().to_path_buf(),
                    });
                }
                if !self.is_cached(target) {
                    self.decode_to_with(target, pass, cancelled)?;
                }
                let (picture, placement) = self.take_picture(target)?;
                let job = Job {
                    sequence,
                    picture,
                    placement,
                };
                if jobs.send(job).is_err() {
                    break;
                }
                while let Ok(result) = finished.try_recv() {
                    reorder.push(result, self.path(), on_frame)?;
                }
            }
            drop(jobs);
            for result in finished {
                reorder.push(result, self.path(), on_frame)?;
            }
            if reorder.next == wanted.len() {
                Ok(choice)
            } else {
                Err(VideoError::Decode {
                    path: self.path().to_path_buf(),
                    index: wanted.get(reorder.next).copied().unwrap_or(0),
                    reason: "a conversion worker stopped".into(),
                })
            }
        })
    }

    /// What one extra seek costs, in frames: a frame-threaded decoder is flushed and has to fill
    /// its pipeline (one frame per thread) again.
    fn seek_cost(&self) -> usize {
        match self.options().threads {
            DecodeThreads::Single => 1,
            DecodeThreads::All => available_cores() + 1,
        }
    }
}

/// Converted frames come back from the workers in any order; they leave in sequence.
#[derive(Default)]
struct Reorder {
    next: usize,
    waiting: BTreeMap<usize, VideoFrame>,
}

type Converted = (usize, Result<VideoFrame, (usize, ffmpeg::Error)>);

impl Reorder {
    fn push(
        &mut self,
        (sequence, result): Converted,
        path: &std::path::Path,
        on_frame: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), VideoError> {
        let frame = result.map_err(|(index, error)| VideoError::Decode {
            path: path.to_path_buf(),
            index,
            reason: format!("conversion to RGB failed: {error}"),
        })?;
        self.waiting.insert(sequence, frame);
        while let Some(frame) = self.waiting.remove(&self.next) {
            on_frame(frame);
            self.next += 1;
        }
        Ok(())
    }
}

/// A conversion worker: converts pictures until the queue closes.
fn convert_jobs(
    queue: &crossbeam_channel::Receiver<Job>,
    done: &crossbeam_channel::Sender<Converted>,
    rotation: Rotation,
    spec: FrameSpec,
) {
    let mut converter = Converter::default();
    for job in queue {
        let index = job.placement.index;
        let result = converter
            .convert(&job.picture, rotation, spec, job.placement)
            .map_err(|error| (index, error));
        // The picture's buffer goes back to the decoder's pool before the frame is handed on.
        drop(job.picture);
        if done.send((job.sequence, result)).is_err() {
            return;
        }
    }
}

/// Conversion threads for `frames` frames: decoding keeps every core busy with its own threads, so
/// conversion gets about a quarter of them (at least one, which also overlaps conversion with
/// demuxing), and no more threads than frames.
fn conversion_workers(frames: usize) -> usize {
    (available_cores() / 4).clamp(1, 4).min(frames.max(1))
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn sorted_distinct(indices: &[usize]) -> Vec<usize> {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}
