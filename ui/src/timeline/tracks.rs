//! What the timeline draws besides the video: thumbnails, the model's tracks (sampled frames,
//! SlowFast speeds, Mavors chunks, tokens, attention and deletion evidence per frame) and caption
//! segments, and the sound's waveform.

use std::sync::Arc;

use egui::TextureId;

/// One decoded thumbnail of the strip, already uploaded as a texture by the app.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thumbnail {
    /// Timestamp of the thumbnail's frame, seconds.
    pub time: f64,
    pub texture: TextureId,
    /// Pixel size of the texture (for the aspect ratio).
    pub size: [u32; 2],
}

/// Slow frames carry full resolution in Keye-VL-1.5's SlowFast sampling, fast frames fewer tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameSpeed {
    Slow,
    Fast,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowFastFrame {
    pub time: f64,
    pub speed: FrameSpeed,
}

/// A per-frame number (tokens the frame became, attention mass it received).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameValue {
    pub time: f64,
    pub value: f32,
}

/// A caption event with its timing, drawn as a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionSegment {
    pub start: f64,
    pub end: f64,
    pub label: String,
    /// Index of the event in its record, handed back with edge drags.
    pub event: usize,
}

/// Which end of a caption segment an edge drag moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentEdge {
    Start,
    End,
}

/// A finished drag of a caption segment's edge: the app turns it into a timing edit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CaptionEdgeDrag {
    /// [`CaptionSegment::event`] of the dragged segment.
    pub event: usize,
    pub edge: SegmentEdge,
    /// Where the edge was let go, seconds.
    pub time: f64,
}

/// What the model did with the video, one track each; empty tracks say that they fill when a
/// model runs or captions are open.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelTracks {
    /// Timestamps of the frames fed to the model.
    pub sampled_frames: Vec<f64>,
    pub slowfast: Vec<SlowFastFrame>,
    /// Start times of Mavors chunks after the first.
    pub chunk_boundaries: Vec<f64>,
    pub tokens_per_frame: Vec<FrameValue>,
    /// Attention mass per frame of the selected token.
    pub attention_mass: Vec<FrameValue>,
    /// The deletion test: how much the answer's log-probability drops without each frame (or
    /// chunk); negative where removing the frame made the answer likelier.
    pub evidence: Vec<FrameValue>,
    pub caption_events: Vec<CaptionSegment>,
    /// Another annotator's events of the same record ("Compare with…"); the track shows only
    /// while a comparison is open.
    pub compare_events: Vec<CaptionSegment>,
}

/// The peak range of the sound in bins: the lowest and highest sample of each, in -1..1. Coarser
/// levels (each bin covering two of the level below) answer a range in O(log n) bins, so drawing a
/// two-hour track zoomed out reads at most about 20 bins a point column, not the 720 under it.
#[derive(Clone, Debug, PartialEq)]
pub struct WaveformPeaks {
    bins_per_second: u32,
    /// `levels[0]` is the bins; `levels[k][i]` spans `levels[k - 1][2i..2i + 2]`.
    levels: Vec<Vec<[f32; 2]>>,
}

fn widen(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0].min(b[0]), a[1].max(b[1])]
}

impl WaveformPeaks {
    pub fn new(bins_per_second: u32, bins: Vec<[f32; 2]>) -> Self {
        let mut levels = vec![bins];
        while let Some(below) = levels.last().filter(|level| level.len() > 1) {
            let above = below
                .chunks(2)
                .map(|pair| pair.iter().copied().reduce(widen).unwrap_or([0.0; 2]))
                .collect();
            levels.push(above);
        }
        Self {
            bins_per_second,
            levels,
        }
    }

    pub fn bins_per_second(&self) -> u32 {
        self.bins_per_second
    }

    pub fn bins(&self) -> &[[f32; 2]] {
        &self.levels[0]
    }

    /// The lowest and highest sample between `start` and `end` seconds, if any bin lies there.
    pub fn range(&self, start: f64, end: f64) -> Option<[f32; 2]> {
        let rate = f64::from(self.bins_per_second);
        let first = (start * rate).floor().max(0.0) as usize;
        let last = ((end * rate).ceil().max(0.0) as usize).max(first + 1);
        let (mut lo, mut hi) = (first, last.min(self.bins().len()));
        if lo >= hi {
            return None;
        }
        // Bottom-up over [lo, hi): an unpaired bin at either edge is taken at its level, the
        // rest is covered by the level above.
        let mut span: Option<[f32; 2]> = None;
        let mut take = |bin: [f32; 2]| span = Some(span.map_or(bin, |s| widen(s, bin)));
        for level in &self.levels {
            if lo >= hi {
                break;
            }
            if lo % 2 == 1 {
                take(level[lo]);
                lo += 1;
            }
            if hi % 2 == 1 {
                hi -= 1;
                take(level[hi]);
            }
            (lo, hi) = (lo / 2, hi / 2);
        }
        span
    }
}

/// The sound track of the timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum WaveformTrack {
    #[default]
    Pending,
    /// The share computed so far.
    Computing(f32),
    Ready(Arc<WaveformPeaks>),
    /// Why there is no waveform, in a few words ("no audio track").
    Unavailable(String),
}

impl ModelTracks {
    /// Time of the frame with the most attention mass: where a click on the attention track jumps.
    pub fn most_attended(&self) -> Option<f64> {
        self.attention_mass
            .iter()
            .filter(|v| v.value.is_finite())
            .max_by(|a, b| a.value.total_cmp(&b.value))
            .map(|v| v.time)
    }

    /// Time of the frame the answer needed most (the largest drop): where a click on the evidence
    /// track jumps.
    pub fn most_evident(&self) -> Option<f64> {
        self.evidence
            .iter()
            .filter(|v| v.value.is_finite())
            .max_by(|a, b| a.value.total_cmp(&b.value))
            .map(|v| v.time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn most_attended_frame_is_the_maximum_ignoring_nan() {
        let tracks = ModelTracks {
            attention_mass: vec![
                FrameValue {
                    time: 0.0,
                    value: 0.2,
                },
                FrameValue {
                    time: 0.5,
                    value: f32::NAN,
                },
                FrameValue {
                    time: 1.0,
                    value: 0.7,
                },
            ],
            ..ModelTracks::default()
        };
        assert_eq!(tracks.most_attended(), Some(1.0));
    }

    #[test]
    fn a_waveform_range_spans_the_bins_under_it() {
        let peaks = WaveformPeaks::new(10, vec![[-0.1, 0.1], [-0.5, 0.2], [-0.2, 0.9], [0.0, 0.0]]);
        assert_eq!(peaks.range(0.0, 0.1), Some([-0.1, 0.1]));
        assert_eq!(peaks.range(0.1, 0.3), Some([-0.5, 0.9]));
        // Narrower than a bin (zoomed in): that bin.
        assert_eq!(peaks.range(0.21, 0.22), Some([-0.2, 0.9]));
        assert_eq!(peaks.range(0.35, 9.0), Some([0.0, 0.0]));
        assert_eq!(peaks.range(5.0, 6.0), None, "past the end of the sound");
    }

    /// Every range of a long odd-length waveform, edges included, against a plain scan.
    #[test]
    fn the_levels_give_what_a_scan_of_the_bins_gives() {
        let bins: Vec<[f32; 2]> = (0..1001u32)
            .map(|i| {
                let v = ((i * 7919) % 1000) as f32 / 1000.0;
                [-v, v * 0.5]
            })
            .collect();
        let peaks = WaveformPeaks::new(100, bins.clone());
        for (first, last) in [
            (0, 1001),
            (0, 1),
            (1000, 1001),
            (3, 4),
            (5, 700),
            (511, 513),
            (1, 1000),
        ] {
            let scan = bins[first..last].iter().copied().reduce(widen);
            let (start, end) = (first as f64 / 100.0 + 1e-6, last as f64 / 100.0 - 1e-6);
            assert_eq!(peaks.range(start, end), scan, "{first}..{last}");
        }
    }
}
