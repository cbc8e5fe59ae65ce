//! The chunk plan: which decoded frames Mavors samples, how they group into chunks of F frames, and where
//! each chunk sits on the video's own timeline. Plain data, so the UI can draw chunk boundaries and the
//! CLI can print them; frame timestamps come in as data (decoding lives in the app).

use serde::{Deserialize, Serialize};

use super::config::MavorsConfig;
use super::error::{MavorsError, Result};
use super::geometry::FrameGeometry;

/// Slack when comparing sample times with frame timestamps, far below any real frame interval.
const TIME_EPSILON: f64 = 1e-9;

/// One chunk of F frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position in the plan, from 0.
    pub index: usize,
    /// C-RoPE position: the chunk's index on the original (unaccelerated) timeline, from its first
    /// sample time. Equals `index` unless frames were dropped.
    pub position: u32,
    /// Seconds on the video's own timeline: the first sample time of this chunk up to the first sample
    /// time of the next one (the video end for the last chunk), so chunks tile the video.
    pub start: f64,
    pub end: f64,
    /// Indices of the decoded frames that fill the chunk, exactly F of them (padding repeats the last).
    pub frame_indices: Vec<usize>,
    /// Presentation timestamps (seconds) of those frames.
    pub timestamps: Vec<f64>,
    /// Whether the chunk was filled up by repeating its final frame.
    pub padded: bool,
    /// How many of the trailing frames are such repeats.
    pub pad_frames: usize,
    /// LLM tokens this chunk becomes.
    pub tokens: usize,
}

/// The sampling and chunking of one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPlan {
    pub chunk_frames: usize,
    pub sample_fps: f64,
    /// Frames on the fixed-rate sampling grid before any were dropped.
    pub sampled_frames: usize,
    /// Frames kept after fitting the chunk budget (without padding).
    pub kept_frames: usize,
    /// Whether frames were dropped to fit `max_chunks` ("accelerated playback").
    pub accelerated: bool,
    /// Size every frame is resized to, and its token grid.
    pub frame: FrameGeometry,
    pub chunks: Vec<Chunk>,
}

impl ChunkPlan {
    /// Plans the chunks of a video from its decoded frame timestamps (seconds, strictly increasing, on
    /// the video's own timeline, so a non-zero start and variable frame rates are kept as they are) and
    /// the end of the video on that timeline. An `end` before the last frame (imprecise container
    /// durations) is taken as the last frame's time.
    pub fn new(
        timestamps: &[f64],
        end: f64,
        frame: FrameGeometry,
        config: &MavorsConfig,
    ) -> Result<Self> {
        config.validate()?;
        let (first, last) = match (timestamps.first(), timestamps.last()) {
            (Some(&first), Some(&last)) => (first, last),
            _ => return Err(MavorsError::NoFrames),
        };
        check_timestamps(timestamps)?;
        let end = if end.is_finite() { end.max(last) } else { last };

        // Fixed-rate grid from the first frame; each sample shows the frame on screen at that time.
        let step = 1.0 / config.sample_fps;
        let sample_count =
            (((end - first) * config.sample_fps - TIME_EPSILON).ceil() as usize).max(1);
        let sample_time = |k: usize| first + k as f64 * step;
        let frame_at = |t: f64| timestamps.partition_point(|&ts| ts <= t + TIME_EPSILON) - 1;

        let f = config.chunk_frames;
        let budget = config.max_chunks * f;
        let accelerated = sample_count > budget;
        // Dropping frames keeps an even spread of the grid; kept samples keep their original times.
        let kept: Vec<usize> = if accelerated {
            (0..budget).map(|i| i * sample_count / budget).collect()
        } else {
            (0..sample_count).collect()
        };

        let chunks = kept
            .chunks(f)
            .enumerate()
            .map(|(index, samples)| {
                let first_sample = samples[0];
                let next_start = kept.get((index + 1) * f).map_or(end, |&k| sample_time(k));
                let mut frame_indices: Vec<usize> =
                    samples.iter().map(|&k| frame_at(sample_time(k))).collect();
                let pad_frames = f - samples.len();
                let last_frame = frame_indices[frame_indices.len() - 1];
                frame_indices.extend(std::iter::repeat_n(last_frame, pad_frames));
                Chunk {
                    index,
                    position: ((2 * first_sample + f) / (2 * f)) as u32,
                    start: sample_time(first_sample),
                    end: next_start,
                    timestamps: frame_indices.iter().map(|&i| timestamps[i]).collect(),
                    frame_indices,
                    padded: pad_frames > 0,
                    pad_frames,
                    tokens: frame.tokens(),
                }
            })
            .collect();
        Ok(Self {
            chunk_frames: f,
            sample_fps: config.sample_fps,
            sampled_frames: sample_count,
            kept_frames: kept.len(),
            accelerated,
            frame,
            chunks,
        })
    }

    /// C-RoPE positions of the chunks, in order.
    pub fn positions(&self) -> Vec<u32> {
        self.chunks.iter().map(|chunk| chunk.position).collect()
    }

    /// LLM tokens of the whole video.
    pub fn total_tokens(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.tokens).sum()
    }
}

fn check_timestamps(timestamps: &[f64]) -> Result<()> {
    let mut previous = f64::NEG_INFINITY;
    for (index, &timestamp) in timestamps.iter().enumerate() {
        if !timestamp.is_finite() || timestamp <= previous {
            return Err(MavorsError::BadTimestamp { index, timestamp });
        }
        previous = timestamp;
    }
    Ok(())
}
