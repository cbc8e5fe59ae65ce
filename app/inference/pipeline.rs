//! Decoding the frames a video plan samples, pipelined with their preprocessing: a decode thread
//! (seeking or scanning as the frame index says, converting on its own worker pool) hands frames
//! over a bounded channel to the caller's thread, which turns each into the model's input (for a
//! Preview plan, the bicubic resize to the plan's size, the bulk of preprocessing) while later
//! frames are still decoding. The channel's bound keeps decoded-but-unprocessed frames few.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use image::RgbImage;
use keye_model::preprocess::resize_bicubic_antialias_torch;
use keye_model::video::{VideoEncoderKind, VideoPlan, VideoPlanSettings, VideoTimeline};

use super::{InferenceError, open_video, video_timeline};
use crate::video::{FrameSpec, IndexedVideo, StrategyChoice, VideoFrame};

/// Decoded frames waiting for preprocessing (at 1080p RGB about 6 MB each).
const PIPELINE_FRAMES: usize = 4;

/// A video planned for an encoder with its sampled frames decoded and preprocessed.
pub struct DecodedPlan {
    pub timeline: VideoTimeline,
    pub plan: VideoPlan,
    /// `frames[i]` is frame `i` of [`VideoPlan::frames_to_decode`], ready for
    /// [`VideoPlan::prepare`] (Preview plans: already at the plan's size).
    pub frames: Vec<RgbImage>,
    /// How the frames were decoded (seeking or one pass) and why.
    pub choice: StrategyChoice,
}

/// Plans `path` for `kind` and decodes the frames the plan samples (seeking or scanning, whichever
/// decodes less), preprocessing each while later ones decode. A video among `known` is read from
/// its index.
pub fn decode_planned(
    path: &Path,
    known: &[IndexedVideo],
    kind: VideoEncoderKind,
    settings: &VideoPlanSettings,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<DecodedPlan, InferenceError> {
    let mut video = open_video(path, known)?;
    let timeline = video_timeline(&video);
    let plan = VideoPlan::new(kind, &timeline, settings).map_err(|e| InferenceError::Media {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let wanted = plan.frames_to_decode();
    // `prepare` resizes Preview frames to this size; a frame already that size is taken as is.
    let resize_to = match &plan {
        VideoPlan::Preview(preview) => Some(preview.resized_hw),
        VideoPlan::SlowFast(_) | VideoPlan::Mavors(_) => None,
    };
    // Set when preprocessing fails, so the decode thread stops instead of finishing for nobody.
    let abandoned = AtomicBool::new(false);
    let stop = || cancel.load(Ordering::Relaxed) || abandoned.load(Ordering::Relaxed);
    let total = wanted.len();
    let (choice, frames) = std::thread::scope(|scope| {
        let (sender, receiver) = crossbeam_channel::bounded::<VideoFrame>(PIPELINE_FRAMES);
        let wanted = &wanted;
        let decoder = scope.spawn(move || {
            video.decode_frames(wanted, FrameSpec::native_rgb(), None, &stop, &mut |frame| {
                // A closed channel means preprocessing gave up; `stop` ends the decode.
                let _ = sender.send(frame);
            })
        });
        let mut frames = Vec::with_capacity(total);
        progress("decoding frames", 0, total);
        for frame in receiver {
            match preprocess_frame(path, &frame, resize_to) {
                Ok(image) => frames.push(image),
                Err(error) => {
                    abandoned.store(true, Ordering::Relaxed);
                    let _ = decoder.join();
                    return Err(error);
                }
            }
            progress("decoding frames", frames.len(), total);
        }
        let choice = match decoder.join() {
            Ok(result) => result?,
            Err(_) => {
                return Err(InferenceError::Media {
                    path: path.to_path_buf(),
                    message: "the decode thread stopped unexpectedly".into(),
                });
            }
        };
        Ok((choice, frames))
    })
    .map_err(|error| match error {
        InferenceError::Video(crate::video::VideoError::Cancelled { .. }) => {
            InferenceError::Cancelled
        }
        other => other,
    })?;
    if cancel.load(Ordering::Relaxed) {
        return Err(InferenceError::Cancelled);
    }
    Ok(DecodedPlan {
        timeline,
        plan,
        frames,
        choice,
    })
}

/// One decoded frame as the model's input: an RGB image, resized to `resize_to` (height, width)
/// exactly as [`VideoPlan::prepare`] would.
fn preprocess_frame(
    path: &Path,
    frame: &VideoFrame,
    resize_to: Option<(u32, u32)>,
) -> Result<RgbImage, InferenceError> {
    let image = rgb_image(path, frame.width, frame.height, &frame.pixels)?;
    let Some((height, width)) = resize_to else {
        return Ok(image);
    };
    resize_bicubic_antialias_torch(&image, width, height).map_err(|e| InferenceError::Media {
        path: path.to_path_buf(),
        message: format!("frame {}: {e}", frame.index),
    })
}

pub(super) fn rgb_image(
    path: &Path,
    width: u32,
    height: u32,
    pixels: &[u8],
) -> Result<RgbImage, InferenceError> {
    RgbImage::from_raw(width, height, pixels.to_vec()).ok_or_else(|| InferenceError::Media {
        path: path.to_path_buf(),
        message: format!(
            "decoded frame of {width}x{height} has {} bytes",
            pixels.len()
        ),
    })
}
