//! Which frames the model sees: uniform sampling by frames per second with frame-count limits (as
//! keye-vl-utils does), or an explicit list of frame indices.

use super::convert::{FrameSpec, VideoFrame};
use super::error::VideoError;
use super::reader::Video;

/// A rule for choosing frames of a video.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplingPlan {
    /// `n = clamp(frames / video_fps * fps, min_frames, min(max_frames, frames))`, rounded down to a
    /// multiple of `frame_factor`, then indices `linspace(0, frames - 1, n)` rounded half to even
    /// (numpy's `round`), as keye-vl-utils samples videos (`video_fps` is the measured average).
    UniformFps {
        fps: f64,
        min_frames: usize,
        max_frames: usize,
        /// Keep the count a multiple of this (Keye-VL Preview uses 2); 1 for no rounding.
        frame_factor: usize,
    },
    /// `count` frames spread evenly from the first to the last (`linspace`, rounded as above).
    Count(usize),
    /// Exactly these frame indices (presentation order), in the given order.
    Indices(Vec<usize>),
}

/// One sampled frame with its place in the video.
#[derive(Debug, Clone)]
pub struct SampledFrame {
    /// Presentation index.
    pub index: usize,
    /// Raw pts in the stream time base.
    pub pts: i64,
    /// Seconds since the first frame.
    pub time: f64,
    pub frame: VideoFrame,
}

impl SamplingPlan {
    /// The frame indices this plan picks in a video of `frame_count` frames lasting `duration` s.
    pub fn indices(&self, frame_count: usize, duration: f64) -> Result<Vec<usize>, String> {
        match self {
            Self::Indices(indices) => match indices.iter().find(|&&i| i >= frame_count) {
                Some(bad) => Err(format!(
                    "frame {bad} is out of range (the video has {frame_count} frames)"
                )),
                None => Ok(indices.clone()),
            },
            Self::Count(count) => Ok(linspace_rounded(
                frame_count.saturating_sub(1),
                (*count).min(frame_count),
            )),
            Self::UniformFps {
                fps,
                min_frames,
                max_frames,
                frame_factor,
            } => {
                if !(fps.is_finite() && *fps > 0.0) {
                    return Err(format!("sampling rate {fps} fps must be positive"));
                }
                if frame_count == 0 {
                    return Ok(Vec::new());
                }
                let video_fps = if duration > 0.0 {
                    frame_count as f64 / duration
                } else {
                    1.0
                };
                let wanted = frame_count as f64 / video_fps * fps;
                let upper = (*max_frames).min(frame_count) as f64;
                let clamped = wanted.max(*min_frames as f64).min(upper);
                let factor = (*frame_factor).max(1) as f64;
                let n = ((clamped / factor).floor() * factor).max(0.0) as usize;
                Ok(linspace_rounded(frame_count - 1, n))
            }
        }
    }

    /// Decodes the planned frames of `video` at `spec`, in plan order, calling `progress(done, total)`
    /// after each; stops with [`VideoError::Cancelled`] when `cancelled` returns true.
    pub fn sample(
        &self,
        video: &mut Video,
        spec: FrameSpec,
        cancelled: &dyn Fn() -> bool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<SampledFrame>, VideoError> {
        let indices = self
            .indices(video.frame_count(), video.info().duration)
            .map_err(|reason| VideoError::InvalidRequest {
                path: video.path().to_path_buf(),
                reason,
            })?;
        let mut frames = Vec::with_capacity(indices.len());
        for (done, &index) in indices.iter().enumerate() {
            if cancelled() {
                return Err(VideoError::Cancelled {
                    path: video.path().to_path_buf(),
                });
            }
            let frame = video.frame_index_or_cancel(index, spec, cancelled)?;
            frames.push(SampledFrame {
                index,
                pts: frame.pts,
                time: frame.time,
                frame,
            });
            progress(done + 1, indices.len());
        }
        Ok(frames)
    }
}

/// `numpy.linspace(0, last, n).round()` as indices (round half to even, like numpy).
fn linspace_rounded(last: usize, n: usize) -> Vec<usize> {
    match n {
        0 => Vec::new(),
        1 => vec![0],
        _ => (0..n)
            .map(|i| {
                let value = last as f64 * i as f64 / (n - 1) as f64;
                value.round_ties_even() as usize
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy_rounding() {
        // numpy: np.linspace(0, 9, 4).round() == [0, 3, 6, 9]; np.linspace(0, 5, 5).round() ==
        // [0, 1, 2, 4, 5] (1.25 -> 1, 2.5 -> 2 half to even, 3.75 -> 4).
        assert_eq!(linspace_rounded(9, 4), vec![0, 3, 6, 9]);
        assert_eq!(linspace_rounded(5, 5), vec![0, 1, 2, 4, 5]);
        assert_eq!(linspace_rounded(7, 1), vec![0]);
        assert!(linspace_rounded(7, 0).is_empty());
    }

    #[test]
    fn uniform_fps_clamps_and_keeps_the_frame_factor() {
        let plan = |fps, min_frames, max_frames, frame_factor| SamplingPlan::UniformFps {
            fps,
            min_frames,
            max_frames,
            frame_factor,
        };
        // 10 s at 30 fps sampled at 2 fps: 20 frames.
        assert_eq!(plan(2.0, 4, 768, 2).indices(300, 10.0).unwrap().len(), 20);
        // 1 s at 2 fps gives 2, raised to the minimum of 4.
        assert_eq!(plan(2.0, 4, 768, 2).indices(30, 1.0).unwrap().len(), 4);
        // 3 frames: the count is capped by the frames and rounded down to even.
        assert_eq!(plan(2.0, 4, 768, 2).indices(3, 0.1).unwrap(), vec![0, 2]);
        // The maximum wins over the rate.
        assert_eq!(plan(30.0, 1, 8, 1).indices(300, 10.0).unwrap().len(), 8);
        assert!(plan(0.0, 1, 8, 1).indices(300, 10.0).is_err());
    }

    #[test]
    fn explicit_indices_are_checked_against_the_frame_count() {
        assert_eq!(
            SamplingPlan::Indices(vec![5, 0, 2])
                .indices(6, 1.0)
                .unwrap(),
            vec![5, 0, 2]
        );
        assert!(SamplingPlan::Indices(vec![6]).indices(6, 1.0).is_err());
        assert_eq!(
            SamplingPlan::Count(3).indices(10, 1.0).unwrap(),
            vec![0, 4, 9]
        );
        assert_eq!(SamplingPlan::Count(5).indices(2, 1.0).unwrap(), vec![0, 1]);
    }
}
