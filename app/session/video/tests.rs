//! The one clock on a variable-frame-rate clip with a late start: selecting a sampled frame puts
//! the playhead at its time, and the frame then shown is that frame.

use std::time::{Duration, Instant};

use keye_model::video::{VideoEncoderKind, VideoPlan, VideoPlanSettings};

use super::*;
use crate::inference::video_timeline;
use crate::test_support::ffmpeg_cli;
use crate::video::Video;

/// A variable-frame-rate clip (runs of frames 0.1 s apart with longer gaps) whose first frame is
/// 1.5 s into the file, made with the ffmpeg command-line tool.
fn vfr_clip_with_a_late_start(dir: &Path) -> PathBuf {
    let path = dir.join("vfr-late-start.mkv");
    ffmpeg_cli(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10:duration=3",
            "-vf",
            "setpts='(N+2*floor(N/4))/10/TB'",
            "-vsync",
            "vfr",
            "-output_ts_offset",
            "1.5",
            "-c:v",
            "mpeg4",
            "-q:v",
            "5",
        ],
        &path,
    );
    path
}

/// Polls like the app does once per frame until `done` says so; the frames that came back.
fn poll_until(
    video: &mut OpenVideo,
    what: &str,
    done: impl Fn(&OpenVideo, &[VideoFrame]) -> bool,
) -> Vec<VideoFrame> {
    let started = Instant::now();
    let mut frames = Vec::new();
    while !done(video, &frames) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {what} in 30 s"
        );
        for update in video.poll() {
            match update {
                VideoUpdate::Frame(frame) => frames.push(frame),
                VideoUpdate::OpenFailed(error) | VideoUpdate::FrameFailed(error) => {
                    panic!("{what}: {error}")
                }
                VideoUpdate::Thumbnail(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    frames
}

/// Selecting a sampled frame puts the playhead at its time; the frame then asked for and shown
/// is that frame, by presentation timestamp, where a constant rate would show another.
#[test]
fn selecting_a_sampled_frame_shows_it_on_a_vfr_clip_with_a_late_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = vfr_clip_with_a_late_start(dir.path());
    let mut reference = Video::open(&path).unwrap();
    assert!(reference.info().variable_frame_rate, "the clip is VFR");
    let start = reference.info().start_time;
    assert!(start > 1.0, "{start}");
    // The model's sampled frames, placed as the ask worker places them on the player's clock.
    let timeline = video_timeline(&reference);
    let plan = VideoPlan::new(
        VideoEncoderKind::Keye,
        &timeline,
        &VideoPlanSettings::default(),
    )
    .unwrap();
    let sampled: Vec<(usize, f64)> = plan
        .frames_to_decode()
        .into_iter()
        .map(|index| (index, timeline.frame_times[index] - timeline.frame_times[0]))
        .collect();
    assert!(sampled.len() >= 4, "{sampled:?}");

    let mut video = OpenVideo::open(&path, || {});
    poll_until(&mut video, "open", |video, _| video.loaded().is_some());
    let constant_rate = video.loaded().unwrap().player.timebase();
    let mut a_constant_rate_differs = false;
    for &(index, time) in &sampled {
        video.loaded_mut().unwrap().player.seek(time);
        // One frame of the app: the frame under the playhead is asked for, and comes back.
        let frames = poll_until(&mut video, "the frame on screen", |video, frames| {
            frames.last().map(|frame| frame.index) == video.requested_frame()
        });
        assert_eq!(
            video.requested_frame(),
            Some(index),
            "at {time} s the player asks for sampled frame {index}"
        );
        let shown = frames.last().unwrap();
        assert_eq!(shown.index, index);
        let expected = reference.frame_index(index, DISPLAY_SPEC).unwrap();
        assert_eq!(shown.pixels, expected.pixels, "the picture at {time} s");
        assert_eq!(
            video.loaded().unwrap().player.frame(),
            index as u64,
            "the player names the same frame"
        );
        a_constant_rate_differs |= constant_rate.frame_at(time) as usize != index;
    }
    assert!(
        a_constant_rate_differs,
        "the clip must be uneven enough that frames by a constant rate are other frames"
    );
}
