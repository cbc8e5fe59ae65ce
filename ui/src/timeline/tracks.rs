//! What the timeline draws besides the video: thumbnails, the model's tracks (sampled frames,
//! SlowFast speeds, Mavors chunks, tokens, attention and deletion evidence per frame) and caption
//! segments.

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
}
