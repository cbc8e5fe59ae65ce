//! Frame-accurate random access to one video: the frame a player shows at a time, or the i-th frame.
//!
//! Rule: frame `i` is the i-th frame in presentation (pts) order, counting from 0. The frame shown at
//! time `t` (seconds since the first frame) is the last frame whose pts is <= first pts + `t`; times
//! before the first frame give frame 0 and times past the end give the last frame. Access seeks to
//! the last keyframe at or before the target in presentation order and decodes forward, matching
//! decoded pictures to the index by pts, which makes B-frames, open GOPs, non-zero start timestamps
//! and variable frame rates come out right. Decoded pictures go into a byte-bounded LRU cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ffmpeg_next as ffmpeg;

use super::cache::FrameCache;
use super::convert::{Converter, FrameSpec, Placement, VideoFrame};
use super::error::VideoError;
use super::index::FrameIndex;
use super::probe::{DecodeThreads, OpenedInput, VideoInfo};

/// Tuning for [`Video`].
#[derive(Debug, Clone, Copy)]
pub struct VideoOptions {
    /// Budget for decoded pictures kept for reuse (bytes).
    pub cache_bytes: usize,
    /// Decoder threading (every core unless a test wants the single-threaded reference).
    pub threads: DecodeThreads,
}

impl Default for VideoOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 256 << 20,
            threads: DecodeThreads::All,
        }
    }
}

/// How many seeks (the target's keyframe, then earlier ones when a seek lands too late) are tried
/// before decoding from the start of the file.
const SEEK_RETRIES: usize = 3;

/// An open video: demuxer, decoder, frame index and cache. Not shared between threads; use
/// [`Video::reopen`] for a second reader (e.g. the thumbnail job) sharing the index.
pub struct Video {
    opened: OpenedInput,
    decoder: ffmpeg::decoder::Video,
    info: Arc<VideoInfo>,
    index: Arc<FrameIndex>,
    options: VideoOptions,
    cache: FrameCache,
    converter: Converter,
    /// Decoder position: frames from `floor` on are valid, `last` is the latest index it output.
    position: Option<DecodePosition>,
    /// Problems met while decoding (the scan's warnings are in `info`).
    decode_warnings: Vec<String>,
    /// How the current decode goes on (see [`Pass`]).
    pass: Pass,
}

#[derive(Debug, Clone, Copy)]
struct DecodePosition {
    /// The keyframe decoding started from: output before it may lack references and is dropped.
    floor: usize,
    /// The latest index output since the seek, if any.
    last: Option<usize>,
    /// The demuxer reached the end and the decoder was drained.
    finished: bool,
}

/// How [`Video::decode_to_with`] reaches a target past the current decode position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// Random access: seek to the target's keyframe when it lies past the current position, and
    /// keep every decoded picture for stepping back.
    Random,
    /// Seek as `Random` does, keeping only the targets.
    Seek,
    /// Decode on from the current position whatever the distance, keeping only the targets.
    Scan,
}

/// Outcome of decoding forward towards a target.
enum Forward {
    Reached,
    /// The first picture after the seek was already past the target: the seek landed too late.
    LandedLate,
    /// The stream ended (or broke off) before the target was output.
    Ended,
}

/// A video opened and indexed once (the player's): the player, the thumbnails, the question's
/// cost estimate and the ask worker all read its one frame index instead of scanning the file
/// again. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct IndexedVideo {
    path: PathBuf,
    info: Arc<VideoInfo>,
    index: Arc<FrameIndex>,
}

impl IndexedVideo {
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn info(&self) -> &Arc<VideoInfo> {
        &self.info
    }
    pub fn index(&self) -> &Arc<FrameIndex> {
        &self.index
    }
    /// A reader of the file that starts from this index (no new scan).
    pub fn open(&self, options: VideoOptions) -> Result<Video, VideoError> {
        Video::with_index(self, options)
    }
    /// Whether both are the same opening of the file (one index).
    pub fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.index, &other.index)
    }
}

impl Video {
    /// Opens `path`, builds the frame index (one demux-only pass) and prepares the decoder.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, VideoError> {
        Self::open_with(path, VideoOptions::default())
    }

    /// [`Video::open`] with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: VideoOptions) -> Result<Self, VideoError> {
        let mut opened = OpenedInput::open(path.as_ref())?;
        let (info, index) = opened.scan()?;
        let decoder = opened.decoder(options.threads)?;
        Ok(Self {
            opened,
            decoder,
            info: Arc::new(info),
            index: Arc::new(index),
            options,
            cache: FrameCache::new(options.cache_bytes),
            converter: Converter::default(),
            position: None,
            decode_warnings: Vec::new(),
            pass: Pass::Random,
        })
    }

    /// A second independent reader of the same file that reuses this one's index (no new scan).
    pub fn reopen(&self, options: VideoOptions) -> Result<Self, VideoError> {
        self.indexed().open(options)
    }

    /// This video's description and frame index, to open more readers of it without a scan.
    pub fn indexed(&self) -> IndexedVideo {
        IndexedVideo {
            path: self.opened.path.clone(),
            info: Arc::clone(&self.info),
            index: Arc::clone(&self.index),
        }
    }

    /// A reader of `video`'s file starting from its index.
    fn with_index(video: &IndexedVideo, options: VideoOptions) -> Result<Self, VideoError> {
        let opened = OpenedInput::open(&video.path)?;
        let decoder = opened.decoder(options.threads)?;
        Ok(Self {
            opened,
            decoder,
            info: Arc::clone(&video.info),
            index: Arc::clone(&video.index),
            options,
            cache: FrameCache::new(options.cache_bytes),
            converter: Converter::default(),
            position: None,
            decode_warnings: Vec::new(),
            pass: Pass::Random,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.opened.path
    }

    /// What probe reports about the file (exact counts).
    pub fn info(&self) -> &Arc<VideoInfo> {
        &self.info
    }

    /// The frame index (pts of every frame in presentation order, keyframes).
    pub fn index(&self) -> &Arc<FrameIndex> {
        &self.index
    }

    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.index.len()
    }

    /// The options this reader was opened with.
    pub fn options(&self) -> VideoOptions {
        self.options
    }

    /// Problems found so far: the scan's warnings, then any decode problems.
    pub fn warnings(&self) -> Vec<String> {
        self.info
            .warnings
            .iter()
            .chain(&self.decode_warnings)
            .cloned()
            .collect()
    }

    /// Decoded pictures held for reuse, and their total bytes.
    pub fn cache_usage(&self) -> (usize, usize) {
        (self.cache.len(), self.cache.bytes())
    }

    /// Forgets the decoded pictures (to free memory, or to measure cold seeks).
    pub fn clear_cache(&mut self) {
        self.cache = FrameCache::new(self.options.cache_bytes);
    }

    /// Seconds since the first frame for frame `index` (None past the end).
    pub fn time_of(&self, index: usize) -> Option<f64> {
        self.index.time_of(index)
    }

    /// The index of the frame a player shows at `time` seconds since the first frame (see the
    /// module rule: last frame with pts <= first pts + time, clamped to the video).
    pub fn index_at(&self, time: f64) -> Result<usize, VideoError> {
        if !time.is_finite() {
            return Err(VideoError::InvalidTime {
                path: self.path().to_path_buf(),
                time,
            });
        }
        self.index
            .index_at_time(time)
            .ok_or_else(|| VideoError::NoFrames {
                path: self.path().to_path_buf(),
                reason: "the frame index is empty".into(),
            })
    }

    /// The frame a player shows at `time` seconds since the first frame.
    pub fn frame_at(&mut self, time: f64, spec: FrameSpec) -> Result<VideoFrame, VideoError> {
        let index = self.index_at(time)?;
        self.frame_index(index, spec)
    }

    /// The `index`-th frame in presentation order.
    pub fn frame_index(&mut self, index: usize, spec: FrameSpec) -> Result<VideoFrame, VideoError> {
        self.frame_index_or_cancel(index, spec, &|| false)
    }

    /// [`Video::frame_at`] that gives up with [`VideoError::Cancelled`] as soon as `cancelled`
    /// returns true (checked between packets), so a superseded request stops decoding at once.
    pub fn frame_at_or_cancel(
        &mut self,
        time: f64,
        spec: FrameSpec,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<VideoFrame, VideoError> {
        let index = self.index_at(time)?;
        self.frame_index_or_cancel(index, spec, cancelled)
    }

    /// [`Video::frame_index`] with cancellation, as [`Video::frame_at_or_cancel`].
    pub fn frame_index_or_cancel(
        &mut self,
        index: usize,
        spec: FrameSpec,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<VideoFrame, VideoError> {
        let count = self.index.len();
        if index >= count {
            return Err(VideoError::IndexOutOfRange {
                path: self.path().to_path_buf(),
                index,
                count,
            });
        }
        if !self.cache.contains(index) {
            self.decode_to(index, cancelled)?;
        }
        self.convert_cached(index, spec)
    }

    /// Whether picture `index` is decoded and waiting in the cache.
    pub(super) fn is_cached(&self, index: usize) -> bool {
        self.cache.contains(index)
    }

    /// Takes decoded picture `index` out of the cache with its place in the video, for conversion
    /// elsewhere (its buffer goes back to the decoder once converted).
    pub(super) fn take_picture(
        &mut self,
        index: usize,
    ) -> Result<(ffmpeg::frame::Video, Placement), VideoError> {
        let pts = self.index.pts(index).unwrap_or(0);
        let time = self.time_of(index).unwrap_or(0.0);
        let picture = self.cache.take(index).ok_or_else(|| VideoError::Decode {
            path: self.path().to_path_buf(),
            index,
            reason: "the picture could not be decoded".into(),
        })?;
        Ok((picture, Placement { index, pts, time }))
    }

    /// Decodes picture `index` into the cache unless it is there (read-ahead for playback); gives
    /// up with [`VideoError::Cancelled`] as soon as `cancelled` returns true.
    pub fn prefetch(
        &mut self,
        index: usize,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), VideoError> {
        if index >= self.index.len() || self.cache.contains(index) {
            return Ok(());
        }
        self.decode_to(index, cancelled)
    }

    fn convert_cached(&mut self, index: usize, spec: FrameSpec) -> Result<VideoFrame, VideoError> {
        let pts = self.index.pts(index).unwrap_or(0);
        let time = self.time_of(index).unwrap_or(0.0);
        let rotation = self.info.rotation;
        let path = self.opened.path.clone();
        let Some(picture) = self.cache.get(index) else {
            return Err(VideoError::Decode {
                path,
                index,
                reason: "the picture could not be decoded".into(),
            });
        };
        self.converter
            .convert(picture, rotation, spec, Placement { index, pts, time })
            .map_err(|error| VideoError::Decode {
                path,
                index,
                reason: format!("conversion to RGB failed: {error}"),
            })
    }

    /// Gets picture `target` into the cache: continue the current decode when the target is ahead
    /// in the same run, else seek to its keyframe (earlier ones if the seek lands late, finally the
    /// start of the file) and decode forward.
    fn decode_to(&mut self, target: usize, cancelled: &dyn Fn() -> bool) -> Result<(), VideoError> {
        self.decode_to_with(target, Pass::Random, cancelled)
    }

    /// [`Video::decode_to`] with a choice of [`Pass`]: `Scan` continues the current decode whenever
    /// the target is ahead, the others only when the target's keyframe is not past it.
    pub(super) fn decode_to_with(
        &mut self,
        target: usize,
        pass: Pass,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), VideoError> {
        self.pass = pass;
        let keyframe = self.index.keyframe_at_or_before(target);
        // After the end of the stream the drained decoder still holds the pictures it kept for
        // reordering: continuing takes them instead of decoding the last GOP again.
        let continue_current = self.position.is_some_and(|p| {
            p.last
                .is_some_and(|last| last < target && (pass == Pass::Scan || keyframe <= last + 1))
        });
        if continue_current {
            match self.decode_forward(target, cancelled)? {
                Forward::Reached => return Ok(()),
                Forward::LandedLate | Forward::Ended => {}
            }
        }
        let mut start = keyframe;
        for _ in 0..SEEK_RETRIES {
            self.seek_to(start)?;
            match self.decode_forward(target, cancelled)? {
                Forward::Reached => return Ok(()),
                Forward::LandedLate if start > 0 => {
                    start = self.index.previous_keyframe(start).unwrap_or(0);
                }
                Forward::LandedLate | Forward::Ended => break,
            }
        }
        // Demuxers whose seeking is imprecise (or impossible) still get every frame: decode from
        // a freshly opened input, which starts at the very first packet.
        self.restart()?;
        if let Forward::Reached = self.decode_forward(target, cancelled)? {
            return Ok(());
        }
        self.decode_warnings
            .push(format!("frame {target} could not be decoded"));
        Err(VideoError::Decode {
            path: self.path().to_path_buf(),
            index: target,
            reason: "the decoder produced no picture for it (damaged or missing data)".into(),
        })
    }

    /// Positions the demuxer at keyframe `keyframe` (or before it) and resets the decoder.
    fn seek_to(&mut self, keyframe: usize) -> Result<(), VideoError> {
        let pts = self.index.pts(keyframe).unwrap_or(i64::MIN);
        // SAFETY: a live format context and a valid stream index.
        let result = unsafe {
            ffmpeg::ffi::av_seek_frame(
                self.opened.input.as_mut_ptr(),
                self.opened.stream_index as i32,
                pts,
                ffmpeg::ffi::AVSEEK_FLAG_BACKWARD,
            )
        };
        if result < 0 {
            return self.restart();
        }
        self.decoder.flush();
        self.position = Some(DecodePosition {
            floor: keyframe,
            last: None,
            finished: false,
        });
        Ok(())
    }

    /// Reopens the file so decoding starts at its first packet.
    fn restart(&mut self) -> Result<(), VideoError> {
        self.opened = OpenedInput::open(&self.opened.path.clone())?;
        self.decoder = self.opened.decoder(self.options.threads)?;
        self.position = Some(DecodePosition {
            floor: 0,
            last: None,
            finished: false,
        });
        Ok(())
    }

    /// Feeds packets and stores output pictures until `target` has been output.
    fn decode_forward(
        &mut self,
        target: usize,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Forward, VideoError> {
        let Some(mut position) = self.position else {
            return Ok(Forward::Ended);
        };
        let mut packet = ffmpeg::Packet::empty();
        let mut consecutive_errors = 0usize;
        let outcome = loop {
            if let Some(outcome) = self.drain(target, &mut position) {
                break outcome;
            }
            if position.finished {
                break Forward::Ended;
            }
            if cancelled() {
                self.position = Some(position);
                return Err(VideoError::Cancelled {
                    path: self.path().to_path_buf(),
                });
            }
            match packet.read(&mut self.opened.input) {
                Ok(()) => {
                    consecutive_errors = 0;
                    if packet.stream() != self.opened.stream_index {
                        continue;
                    }
                    // Ready pictures were drained first, so a refusal means a damaged packet.
                    if let Err(error) = self.decoder.send_packet(&packet) {
                        self.decode_warnings
                            .push(format!("a damaged packet was skipped: {error}"));
                    }
                }
                Err(ffmpeg::Error::InvalidData) if consecutive_errors < 1000 => {
                    consecutive_errors += 1;
                }
                Err(error) => {
                    if error != ffmpeg::Error::Eof {
                        self.decode_warnings
                            .push(format!("reading stopped early: {error}"));
                    }
                    // Draining after end of stream returns the pictures held for reordering.
                    let _ = self.decoder.send_eof();
                    position.finished = true;
                }
            }
        };
        self.position = Some(position);
        Ok(outcome)
    }

    /// Takes the pictures the decoder has ready until one decides the outcome: the target was
    /// output, or a later picture shows the seek landed late or the target is missing.
    fn drain(&mut self, target: usize, position: &mut DecodePosition) -> Option<Forward> {
        loop {
            let mut picture = ffmpeg::frame::Video::empty();
            if self.decoder.receive_frame(&mut picture).is_err() {
                return None;
            }
            let Some(index) = picture
                .timestamp()
                .or(picture.pts())
                .and_then(|pts| self.index.index_of_pts(pts))
            else {
                continue;
            };
            if index < position.floor {
                continue;
            }
            let first_since_seek = position.last.is_none();
            position.last = Some(index);
            if picture.is_corrupt() {
                self.decode_warnings
                    .push(format!("frame {index} decoded with errors"));
            }
            // A pass for chosen frames keeps none of the pictures it decodes on the way: holding
            // them would make the decoder's buffer pool grow (and fault in fresh memory) for nothing.
            if self.pass == Pass::Random || index >= target {
                self.cache.insert(index, picture);
            }
            match index.cmp(&target) {
                std::cmp::Ordering::Equal => return Some(Forward::Reached),
                std::cmp::Ordering::Greater if first_since_seek => {
                    return Some(Forward::LandedLate);
                }
                std::cmp::Ordering::Greater => return Some(Forward::Ended),
                std::cmp::Ordering::Less => {}
            }
        }
    }
}
