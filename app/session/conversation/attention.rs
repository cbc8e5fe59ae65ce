//! What one turn's generation captured, kept in memory for the heatmap and the timeline tracks
//! (the token map, where each frame sits on the video, each generated token's attention), and
//! the arithmetic behind both: the selected tokens' combined row, one frame's grid, the attention
//! mass per frame.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use keye_model::generate::{TokenAttention, VisionTokenMap, frame_totals};
use keye_model::video::VideoEncoderKind;
use keye_ui::{
    CapturedLayers, FrameSpeed, FrameValue, HeadChoice, HeatGrid, HeatmapControls, ModelTracks,
    SlowFastFrame, aggregate,
};

use crate::inference::MediaFrames;

/// What one turn's generation captured, kept in memory (large; not saved).
#[derive(Debug, Clone)]
pub struct TurnAttention {
    pub vision: VisionTokenMap,
    /// Where each frame of each media item sits on its source, numbered as `vision` numbers them.
    pub media: Vec<MediaFrames>,
    /// Each generated token's attention, by generation step.
    pub tokens: BTreeMap<usize, TokenAttention>,
}

impl TurnAttention {
    /// The video among the media (the token map numbers it after any images).
    pub fn video(&self) -> Option<usize> {
        self.media.iter().position(|m| m.encoder.is_some())
    }

    /// For each generated step, the share of its attention on the vision tokens (the captured
    /// layers' mean): what the trace draws under itself until "Test frames" measures every layer.
    pub fn vision_share(&self) -> Vec<f32> {
        self.tokens
            .values()
            .map(|t| {
                let total: f32 = t.layers.iter().map(|l| l.mean.iter().sum::<f32>()).sum();
                total / t.layers.len().max(1) as f32
            })
            .collect()
    }

    pub fn captured(&self) -> CapturedLayers {
        let first = self.tokens.values().next();
        CapturedLayers {
            layers: first
                .map(|t| t.layers.iter().map(|l| l.layer).collect())
                .unwrap_or_default(),
            heads: first
                .and_then(|t| t.layers.first())
                .and_then(|l| l.per_head.as_ref())
                .map(Vec::len),
        }
    }

    /// The selected tokens' attention over all vision tokens, combined as the controls say.
    pub fn combined_row(
        &self,
        steps: &RangeInclusive<usize>,
        controls: &HeatmapControls,
    ) -> Option<Vec<f32>> {
        let captured = self.captured();
        let layer = controls.effective_layer(&captured)?;
        let head = controls.effective_head(&captured);
        let rows = self.tokens.range(steps.clone()).filter_map(|(_, token)| {
            let layer = token.layers.iter().find(|l| l.layer == layer)?;
            match head {
                HeadChoice::Mean => Some(layer.mean.as_slice()),
                HeadChoice::Head(h) => layer.per_head.as_ref()?.get(h).map(Vec::as_slice),
            }
        });
        aggregate(rows, controls.aggregation)
    }

    /// The decoder frame of the video shown at `time`: the one spanning it, else the nearest.
    pub fn frame_at(&self, video: usize, time: f64) -> Option<usize> {
        let frames = &self.media.get(video)?.frames;
        frames
            .iter()
            .position(|f| f.time <= time && time < f.end)
            .or_else(|| {
                frames
                    .iter()
                    .enumerate()
                    .min_by(|(_, a), (_, b)| {
                        let da = ((a.time + a.end) / 2.0 - time).abs();
                        let db = ((b.time + b.end) / 2.0 - time).abs();
                        da.total_cmp(&db)
                    })
                    .map(|(i, _)| i)
            })
    }

    /// The map of the tokens `steps` over decoder frame `frame` of media item `video`, normalised
    /// for the colormap: what the heatmap overlay draws.
    pub fn frame_grid(
        &self,
        steps: &RangeInclusive<usize>,
        controls: &HeatmapControls,
        video: usize,
        frame: usize,
    ) -> Option<HeatGrid> {
        let row = self.combined_row(steps, controls)?;
        let &(rows, cols) = self.vision.media.get(video)?.frames.get(frame)?;
        let values: Vec<f32> = self
            .vision
            .refs
            .iter()
            .zip(&row)
            .filter(|(r, _)| r.media == video && r.frame == frame)
            .map(|(_, &w)| w)
            .collect();
        HeatGrid::normalized(rows, cols, &values)
    }

    /// The tokens `steps`' attention mass on each sampled frame of the video, at the frame's
    /// time: the timeline's attention track.
    pub fn attention_mass(
        &self,
        steps: &RangeInclusive<usize>,
        controls: &HeatmapControls,
    ) -> Vec<FrameValue> {
        let Some(video) = self.video() else {
            return Vec::new();
        };
        let Some(row) = self.combined_row(steps, controls) else {
            return Vec::new();
        };
        let totals = frame_totals(&self.vision, &row);
        self.media[video]
            .frames
            .iter()
            .zip(totals.get(video).cloned().unwrap_or_default())
            .map(|(frame, value)| FrameValue {
                time: frame.time,
                value,
            })
            .collect()
    }

    /// Sampled frames, tokens per frame, SlowFast speeds or Mavors chunks of the video.
    pub fn fill_structure_tracks(&self, tracks: &mut ModelTracks) {
        let Some(video) = self.video() else {
            return;
        };
        let frames = &self.media[video].frames;
        let tokens: Vec<usize> = self
            .vision
            .media
            .get(video)
            .map(|grid| grid.frames.iter().map(|(r, c)| r * c).collect())
            .unwrap_or_default();
        tracks.sampled_frames = frames.iter().map(|f| f.time).collect();
        tracks.tokens_per_frame = frames
            .iter()
            .zip(&tokens)
            .map(|(f, &n)| FrameValue {
                time: f.time,
                value: n as f32,
            })
            .collect();
        tracks.slowfast.clear();
        tracks.chunk_boundaries.clear();
        match self.media[video].encoder {
            // Slow frames keep the full token budget; fast ones get fewer.
            Some(VideoEncoderKind::Keye15) => {
                let slow = tokens.iter().copied().max().unwrap_or(0);
                tracks.slowfast = frames
                    .iter()
                    .zip(&tokens)
                    .map(|(f, &n)| SlowFastFrame {
                        time: f.time,
                        speed: if n == slow {
                            FrameSpeed::Slow
                        } else {
                            FrameSpeed::Fast
                        },
                    })
                    .collect();
            }
            Some(VideoEncoderKind::Mavors) => {
                tracks.chunk_boundaries = frames.iter().skip(1).map(|f| f.time).collect();
            }
            _ => {}
        }
    }
}
