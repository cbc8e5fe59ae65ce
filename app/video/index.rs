//! The frame index: every frame of the video stream in presentation order, built by one demux-only pass
//! over the packets (no decoding). It gives exact frame counts, index <-> timestamp mapping, keyframe
//! positions for seeking, and variable-frame-rate detection.

use ffmpeg_next as ffmpeg;
use ffmpeg_next::packet::Ref as _;

/// One frame of the index, in presentation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Presentation timestamp in the stream's time base (raw, not shifted to the stream start).
    pub pts: i64,
    /// Whether the packet is a keyframe (a place decoding can start from).
    pub keyframe: bool,
}

/// All frames of one video stream in presentation order, with timestamps in the stream time base.
#[derive(Debug, Clone)]
pub struct FrameIndex {
    entries: Vec<IndexEntry>,
    /// Presentation indices of the keyframes, ascending.
    keyframes: Vec<usize>,
    /// Display duration of the last frame, in stream ticks (from its packet, or the typical spacing).
    last_duration: i64,
    time_base: ffmpeg::Rational,
}

/// What the packet scan saw besides the frames: problems worth telling the user about.
#[derive(Debug, Default)]
pub(crate) struct ScanReport {
    pub warnings: Vec<String>,
}

impl FrameIndex {
    /// Reads every packet of `stream_index` (demux only) and sorts them into presentation order.
    /// Packets flagged for discard (MP4 edit lists) are skipped: the decoder never shows them.
    pub(crate) fn scan(
        input: &mut ffmpeg::format::context::Input,
        stream_index: usize,
    ) -> (Self, ScanReport) {
        let time_base = input
            .stream(stream_index)
            .map(|s| s.time_base())
            .unwrap_or(ffmpeg::Rational(1, 1));
        let mut report = ScanReport::default();
        let mut raw: Vec<(i64, bool, i64)> = Vec::new();
        let mut missing_timestamps = 0usize;
        let mut corrupt_packets = 0usize;
        let mut packet = ffmpeg::Packet::empty();
        let mut consecutive_errors = 0usize;
        loop {
            match packet.read(input) {
                Ok(()) => {
                    consecutive_errors = 0;
                    if packet.stream() != stream_index {
                        continue;
                    }
                    // SAFETY: the packet was just filled by av_read_frame; reading a field is sound.
                    let flags = unsafe { (*packet.as_ptr()).flags };
                    if flags & ffmpeg::ffi::AV_PKT_FLAG_DISCARD != 0 {
                        continue;
                    }
                    if packet.is_corrupt() {
                        corrupt_packets += 1;
                    }
                    match packet.pts().or(packet.dts()) {
                        Some(pts) => raw.push((pts, packet.is_key(), packet.duration())),
                        None => missing_timestamps += 1,
                    }
                }
                Err(ffmpeg::Error::Eof) => break,
                Err(ffmpeg::Error::InvalidData) if consecutive_errors < MAX_CONSECUTIVE_ERRORS => {
                    consecutive_errors += 1;
                    corrupt_packets += 1;
                }
                Err(error) => {
                    report.warnings.push(format!(
                        "reading stopped early after {} frames: {error}",
                        raw.len()
                    ));
                    break;
                }
            }
        }
        if corrupt_packets > 0 {
            report.warnings.push(format!(
                "{corrupt_packets} damaged packets in the video stream"
            ));
        }
        if missing_timestamps > 0 {
            report.warnings.push(format!(
                "{missing_timestamps} packets without timestamps were left out of the frame index"
            ));
        }
        raw.sort_by_key(|&(pts, _, _)| pts);
        let before = raw.len();
        raw.dedup_by_key(|&mut (pts, _, _)| pts);
        if raw.len() < before {
            report.warnings.push(format!(
                "{} packets repeat an earlier timestamp and were left out",
                before - raw.len()
            ));
        }
        let entries: Vec<IndexEntry> = raw
            .iter()
            .map(|&(pts, keyframe, _)| IndexEntry { pts, keyframe })
            .collect();
        let keyframes = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.keyframe)
            .map(|(i, _)| i)
            .collect();
        let mut index = Self {
            entries,
            keyframes,
            last_duration: 0,
            time_base,
        };
        let packet_duration = raw.last().map_or(0, |&(_, _, d)| d);
        index.last_duration = if packet_duration > 0 {
            packet_duration
        } else {
            index.typical_spacing().unwrap_or(0)
        };
        (index, report)
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the stream had no readable frames.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The frames in presentation order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The stream time base the timestamps are in.
    pub fn time_base(&self) -> ffmpeg::Rational {
        self.time_base
    }

    /// Presentation indices of the keyframes, ascending.
    pub fn keyframes(&self) -> &[usize] {
        &self.keyframes
    }

    /// Raw pts of frame `index`.
    pub fn pts(&self, index: usize) -> Option<i64> {
        self.entries.get(index).map(|e| e.pts)
    }

    /// Raw pts of the first frame shown: the origin of all relative times.
    pub fn first_pts(&self) -> Option<i64> {
        self.entries.first().map(|e| e.pts)
    }

    /// Seconds from the first frame to the end of the last frame's display time.
    pub fn duration_seconds(&self) -> f64 {
        match (self.entries.first(), self.entries.last()) {
            (Some(first), Some(last)) => {
                self.ticks_to_seconds(last.pts - first.pts + self.last_duration)
            }
            _ => 0.0,
        }
    }

    /// Converts a tick count in the stream time base to seconds.
    pub fn ticks_to_seconds(&self, ticks: i64) -> f64 {
        ticks as f64 * f64::from(self.time_base.numerator())
            / f64::from(self.time_base.denominator())
    }

    /// The frame a player shows at raw timestamp `pts`: the last frame whose pts is <= `pts`, or the
    /// first frame when `pts` lies before it.
    pub fn index_at_pts(&self, pts: i64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        Some(
            self.entries
                .partition_point(|e| e.pts <= pts)
                .saturating_sub(1),
        )
    }

    /// Seconds from the first frame to frame `index`: the app's one clock (the player, the
    /// timeline, the thumbnails and the model's sampled frames all count from the first frame
    /// shown, by presentation timestamp).
    pub fn time_of(&self, index: usize) -> Option<f64> {
        let first = self.first_pts()?;
        Some(self.ticks_to_seconds(self.pts(index)? - first))
    }

    /// The frame shown at `time` seconds since the first frame: the last frame whose pts is <=
    /// the first pts + `time` (the first frame before it, the last after the end). `None` when
    /// the index is empty or `time` is not a number.
    pub fn index_at_time(&self, time: f64) -> Option<usize> {
        if !time.is_finite() {
            return None;
        }
        let first = self.first_pts()?;
        let ticks_per_second =
            f64::from(self.time_base.denominator()) / f64::from(self.time_base.numerator());
        // A hair of slack so a time computed from a frame's own pts maps back to that frame.
        let offset = (time.max(0.0) * ticks_per_second + 1e-6).floor();
        let target = first.saturating_add(offset.min(i64::MAX as f64 / 2.0) as i64);
        self.index_at_pts(target)
    }

    /// The presentation index of the frame with exactly this pts.
    pub fn index_of_pts(&self, pts: i64) -> Option<usize> {
        self.entries.binary_search_by_key(&pts, |e| e.pts).ok()
    }

    /// The keyframe to start decoding from to reach frame `index`: the last keyframe at or before it
    /// in presentation order (the first frame when the stream starts without a flagged keyframe).
    pub fn keyframe_at_or_before(&self, index: usize) -> usize {
        let position = self.keyframes.partition_point(|&k| k <= index);
        if position == 0 {
            0
        } else {
            self.keyframes[position - 1]
        }
    }

    /// The keyframe before keyframe `keyframe`, for retrying a seek that landed too late.
    pub fn previous_keyframe(&self, keyframe: usize) -> Option<usize> {
        let position = self.keyframes.partition_point(|&k| k < keyframe);
        (position > 0).then(|| self.keyframes[position - 1])
    }

    /// The longest run of frames from one keyframe to the next (the worst-case decode for a seek).
    pub fn max_gop_length(&self) -> usize {
        let mut starts = self.keyframes.clone();
        if starts.first() != Some(&0) {
            starts.insert(0, 0);
        }
        starts.push(self.entries.len());
        starts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
    }

    /// The median spacing between consecutive frames in ticks.
    fn typical_spacing(&self) -> Option<i64> {
        let mut deltas: Vec<i64> = self
            .entries
            .windows(2)
            .map(|w| w[1].pts - w[0].pts)
            .collect();
        if deltas.is_empty() {
            return None;
        }
        deltas.sort_unstable();
        Some(deltas[deltas.len() / 2])
    }

    /// Frames per second measured over the whole stream (frames / span between first and last pts).
    pub fn measured_frame_rate(&self) -> Option<f64> {
        let duration = self.duration_seconds();
        (duration > 0.0).then(|| self.entries.len() as f64 / duration)
    }

    /// True when frame spacing varies by more than timestamp rounding explains: one tick plus 1% of
    /// the typical spacing (containers like Matroska round 1/30 s to whole milliseconds).
    pub fn is_variable_frame_rate(&self) -> bool {
        let Some(typical) = self.typical_spacing() else {
            return false;
        };
        let tolerance = 1 + typical / 100;
        self.entries
            .windows(2)
            .any(|w| (w[1].pts - w[0].pts - typical).abs() > tolerance)
    }
}

/// Demuxers resync past a damaged packet; give up after this many in a row so garbage cannot spin.
const MAX_CONSECUTIVE_ERRORS: usize = 1000;
