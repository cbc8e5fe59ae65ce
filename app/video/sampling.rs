//! Which frames to sample: uniform sampling by frames per second with frame-count limits (keye-vl-
//! utils' rule, through `keye_model::preprocess`, the one implementation of it), evenly spread
//! frames, or an explicit list of frame indices.

use keye_model::preprocess::{uniform_frame_count, uniform_frame_indices};

use super::convert::{FrameSpec, VideoFrame};
use super::error::VideoError;
use super::reader::Video;

/// A rule for choosing frames of a video.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplingPlan {
    /// `n = clamp(frames / video_fps * fps, min_frames, min(max_frames, frames))`, rounded down to a
    /// multiple of `frame_factor`, then indices `torch.linspace(0, frames - 1, n).round()`, as
    /// keye-vl-utils samples videos (`video_fps` is [`super::VideoInfo::frame_rate`]).
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
    /// The frame indices this plan picks in a video of `frame_count` frames at `video_fps`.
    pub fn indices(&self, frame_count: usize, video_fps: f64) -> Result<Vec<usize>, String> {
        match self {
            Self::Indices(indices) => match indices.iter().find(|&&i| i >= frame_count) {
                Some(bad) => Err(format!(
                    "frame {bad} is out of range (the video has {frame_count} frames)"
                )),
                None => Ok(indices.clone()),
            },
            Self::Count(count) => Ok(uniform_frame_indices(
                0,
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
                if !(video_fps.is_finite() && video_fps > 0.0) {
                    return Err(format!(
                        "the video's frame rate {video_fps} must be positive"
                    ));
                }
                if frame_count == 0 {
                    return Ok(Vec::new());
                }
                let n = uniform_frame_count(
                    frame_count,
                    video_fps,
                    *fps,
                    *min_frames as f64,
                    *max_frames as f64,
                    *frame_factor,
                );
                Ok(uniform_frame_indices(0, frame_count - 1, n))
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
            .indices(video.frame_count(), video.info().frame_rate())
            .map_err(|reason| VideoError::InvalidRequest {
                path: video.path().to_path_buf(),
                reason,
            })?;
        // Decoded once each in ascending order (seeking or in one pass, as the index says), then
        // handed out in plan order.
        let total = indices.len();
        let mut decoded = std::collections::HashMap::with_capacity(total);
        video.decode_frames(&indices, spec, None, cancelled, &mut |frame| {
            decoded.insert(frame.index, frame);
            progress(decoded.len(), total);
        })?;
        let mut frames = Vec::with_capacity(total);
        for index in indices {
            let Some(frame) = decoded.get(&index).cloned() else {
                return Err(VideoError::Decode {
                    path: video.path().to_path_buf(),
                    index,
                    reason: "the decoder produced no picture for it".into(),
                });
            };
            frames.push(SampledFrame {
                index,
                pts: frame.pts,
                time: frame.time,
                frame,
            });
        }
        progress(total, total);
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_fps_clamps_and_keeps_the_frame_factor() {
        let plan = |fps, min_frames, max_frames, frame_factor| SamplingPlan::UniformFps {
            fps,
            min_frames,
            max_frames,
            frame_factor,
        };
        // 10 s at 30 fps sampled at 2 fps: 20 frames.
        assert_eq!(plan(2.0, 4, 768, 2).indices(300, 30.0).unwrap().len(), 20);
        // 1 s at 2 fps gives 2, raised to the minimum of 4.
        assert_eq!(plan(2.0, 4, 768, 2).indices(30, 30.0).unwrap().len(), 4);
        // 3 frames: the count is capped by the frames and rounded down to even.
        assert_eq!(plan(2.0, 4, 768, 2).indices(3, 30.0).unwrap(), vec![0, 2]);
        // The maximum wins over the rate.
        assert_eq!(plan(30.0, 1, 8, 1).indices(300, 30.0).unwrap().len(), 8);
        assert!(plan(0.0, 1, 8, 1).indices(300, 30.0).is_err());
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

    #[test]
    fn uniform_fps_picks_the_frames_the_preview_model_samples() {
        // keye-vl-utils 1.0's defaults: 2 fps, 4 to 768 frames, even counts. An hour at 30 fps is
        // where a float32 linspace (torch's) and a float64 one part ways.
        let plan = SamplingPlan::UniformFps {
            fps: 2.0,
            min_frames: 4,
            max_frames: 768,
            frame_factor: 2,
        };
        for (frames, fps) in [(75, 25.0), (300, 30.0), (108_000, 30.0), (1_799, 29.97)] {
            let model = keye_model::preprocess::plan_preview_video(
                frames,
                fps,
                (224, 224),
                &Default::default(),
            )
            .unwrap();
            assert_eq!(
                plan.indices(frames, fps).unwrap(),
                model.indices,
                "{frames} frames at {fps} fps"
            );
        }
    }
}
