//! One open video as the GUI sees it: the engine's decode worker, the player and timeline state,
//! the frame on screen and the thumbnail textures. Everything here is polled from the UI thread;
//! no call blocks on decoding.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;
use keye_ui::{PlayerState, Thumbnail, Timebase, Timeline};

use super::frame_view::FramePixels;
use crate::video::{
    DecodeWorker, FrameRequest, FrameSpec, IndexedVideo, OutputSize, PixelLayout, RequestId,
    ThumbnailEvent, VideoError, VideoFrame, VideoInfo, VideoOptions, WorkerEvent,
};

/// Frames are delivered no larger than this (4K either way), as Y'CbCr planes that the frame
/// shader converts to RGB on the GPU.
const DISPLAY_SPEC: FrameSpec = FrameSpec {
    size: OutputSize::Fit {
        max_width: 3840,
        max_height: 3840,
    },
    layout: PixelLayout::Yuv420p,
};
/// Thumbnails of the scrubber strip.
const THUMBNAIL_SPEC: FrameSpec = FrameSpec {
    size: OutputSize::Fit {
        max_width: 192,
        max_height: 108,
    },
    layout: PixelLayout::Rgba32,
};
const THUMBNAIL_COUNT: usize = 48;

/// Player and timeline exist once the worker has opened and indexed the file.
pub struct Loaded {
    pub info: Arc<VideoInfo>,
    /// The file's one frame index (every frame's presentation timestamp): the frame shown at
    /// the playhead is the one the index puts there, so on a variable-frame-rate video it is the
    /// frame the thumbnails and the model's sampled frames name at that time; the ask worker
    /// and the estimate read the same index.
    pub video: IndexedVideo,
    pub player: PlayerState,
    pub timeline: Timeline,
}

/// Something the app should tell the user about.
pub enum MediaNotice {
    /// The file could not be opened; the media should be closed.
    OpenFailed(VideoError),
    FrameFailed(VideoError),
}

pub struct Media {
    path: PathBuf,
    worker: DecodeWorker,
    loaded: Option<Loaded>,
    /// The frame on screen, with a generation counter for the GPU upload.
    frame: Option<FramePixels>,
    /// Index and id of the frame last asked for.
    requested: Option<(usize, RequestId)>,
    /// Textures are created once per thumbnail and kept alive here.
    thumbnail_textures: Vec<egui::TextureHandle>,
    thumbnails_done: bool,
    thumbnail_failures: usize,
}

impl Media {
    /// Starts opening `path` on the engine's worker thread.
    pub fn open(path: &Path, ctx: &egui::Context) -> Self {
        let repaint = ctx.clone();
        let worker = DecodeWorker::spawn(path, VideoOptions::default(), move || {
            repaint.request_repaint()
        });
        Self {
            path: path.to_path_buf(),
            worker,
            loaded: None,
            frame: None,
            requested: None,
            thumbnail_textures: Vec::new(),
            thumbnails_done: false,
            thumbnail_failures: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn loaded(&self) -> Option<&Loaded> {
        self.loaded.as_ref()
    }
    pub fn loaded_mut(&mut self) -> Option<&mut Loaded> {
        self.loaded.as_mut()
    }
    pub fn frame(&self) -> Option<&FramePixels> {
        self.frame.as_ref()
    }
    /// Thumbnails decoded so far and whether the strip is complete.
    pub fn thumbnail_progress(&self) -> (usize, bool, usize) {
        (
            self.thumbnail_textures.len(),
            self.thumbnails_done,
            self.thumbnail_failures,
        )
    }

    /// Handles every event the worker sent since the last frame, then asks for the frame under
    /// the playhead if it changed.
    pub fn poll(&mut self, ctx: &egui::Context) -> Vec<MediaNotice> {
        let mut notices = Vec::new();
        while let Ok(event) = self.worker.events().try_recv() {
            match event {
                WorkerEvent::Opened(video) => self.on_opened(video),
                WorkerEvent::OpenFailed(error) => notices.push(MediaNotice::OpenFailed(error)),
                WorkerEvent::Frame { id, frame } => {
                    if self.requested.is_some_and(|(_, current)| current == id) {
                        self.show(frame);
                    }
                }
                WorkerEvent::FrameFailed { error, .. } => {
                    notices.push(MediaNotice::FrameFailed(error))
                }
                WorkerEvent::Thumbnails(event) => self.on_thumbnail(ctx, event),
            }
        }
        self.request_current_frame();
        notices
    }

    fn on_opened(&mut self, video: IndexedVideo) {
        let info = Arc::clone(video.info());
        let index = video.index();
        let frames = info.frame_count.frames as u64;
        // Frames over duration keeps the player's frame <-> time mapping on the engine's for
        // constant-rate video; the declared rate is the fallback for odd headers.
        let fps = if frames > 0 && info.duration > 0.0 {
            frames as f64 / info.duration
        } else {
            info.average_frame_rate.filter(|r| *r > 0.0).unwrap_or(25.0)
        };
        let timebase = Timebase {
            fps,
            frame_count: frames,
        };
        // The player's clock is the index's: each frame starts at its presentation timestamp.
        let starts: Arc<[f64]> = (0..index.len()).filter_map(|i| index.time_of(i)).collect();
        self.loaded = Some(Loaded {
            player: PlayerState::with_frame_starts(timebase, starts),
            timeline: Timeline::new(timebase.duration()),
            info,
            video,
        });
        self.worker
            .request_thumbnails(THUMBNAIL_COUNT, THUMBNAIL_SPEC);
    }

    fn request_current_frame(&mut self) {
        let Some(loaded) = &self.loaded else {
            return;
        };
        // By presentation timestamp, not by a constant rate: the player's seconds are the
        // index's seconds since the first frame.
        let Some(index) = loaded.video.index().index_at_time(loaded.player.position()) else {
            return;
        };
        if self.requested.is_none_or(|(asked, _)| asked != index) {
            let id = self
                .worker
                .request_frame(FrameRequest::Index(index), DISPLAY_SPEC);
            self.requested = Some((index, id));
        }
    }

    fn show(&mut self, frame: VideoFrame) {
        let generation = self.frame.as_ref().map_or(0, |f| f.generation + 1);
        if let Some(pixels) = FramePixels::from_frame(&frame, generation) {
            self.frame = Some(pixels);
        }
    }

    fn on_thumbnail(&mut self, ctx: &egui::Context, event: ThumbnailEvent) {
        match event {
            ThumbnailEvent::Thumbnail {
                position, frame, ..
            } => {
                let size = [frame.width as usize, frame.height as usize];
                if frame.pixels.len() != size[0] * size[1] * 4 {
                    self.thumbnail_failures += 1;
                    return;
                }
                let image = egui::ColorImage::from_rgba_unmultiplied(size, &frame.pixels);
                let texture = ctx.load_texture(
                    format!("thumbnail-{position}"),
                    image,
                    egui::TextureOptions::LINEAR,
                );
                if let Some(loaded) = &mut self.loaded {
                    let thumbnails = &mut loaded.timeline.thumbnails;
                    let thumbnail = Thumbnail {
                        time: frame.time,
                        texture: texture.id(),
                        size: [frame.width, frame.height],
                    };
                    let at = thumbnails.partition_point(|t| t.time < frame.time);
                    thumbnails.insert(at, thumbnail);
                }
                self.thumbnail_textures.push(texture);
            }
            ThumbnailEvent::Failed { .. } => self.thumbnail_failures += 1,
            ThumbnailEvent::Done { .. } => self.thumbnails_done = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use keye_model::video::{VideoEncoderKind, VideoPlan, VideoPlanSettings};

    use super::*;
    use crate::inference::video_timeline;
    use crate::video::Video;

    /// A variable-frame-rate clip (runs of frames 0.1 s apart with longer gaps) whose first
    /// frame is 1.5 s into the file, made with the ffmpeg command-line tool.
    fn vfr_clip_with_a_late_start(dir: &Path) -> PathBuf {
        let path = dir.join("vfr-late-start.mkv");
        let output = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg("testsrc=size=64x48:rate=10:duration=3")
            .args(["-vf", "setpts='(N+2*floor(N/4))/10/TB'", "-vsync", "vfr"])
            .args(["-output_ts_offset", "1.5", "-c:v", "mpeg4", "-q:v", "5"])
            .arg(&path)
            .output()
            .expect("the ffmpeg command-line tool runs");
        assert!(
            output.status.success(),
            "ffmpeg: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        path
    }

    fn poll_until(
        media: &mut Media,
        ctx: &egui::Context,
        what: &str,
        done: impl Fn(&Media) -> bool,
    ) {
        let started = Instant::now();
        while !done(media) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no {what} in 30 s"
            );
            if let Some(MediaNotice::OpenFailed(error) | MediaNotice::FrameFailed(error)) =
                media.poll(ctx).into_iter().next()
            {
                panic!("{what}: {error}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Selecting a sampled frame puts the playhead at its time; the frame the player then shows
    /// is that frame, by presentation timestamp, where a constant rate would show another.
    #[test]
    fn selecting_a_sampled_frame_shows_it_on_a_vfr_clip_with_a_late_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = vfr_clip_with_a_late_start(dir.path());
        let mut video = Video::open(&path).unwrap();
        assert!(video.info().variable_frame_rate, "the clip is VFR");
        assert!(video.info().start_time > 1.0, "{}", video.info().start_time);
        // The model's sampled frames, placed as the ask worker places them on the player's clock.
        let timeline = video_timeline(&video);
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

        let ctx = egui::Context::default();
        let mut media = Media::open(&path, &ctx);
        poll_until(&mut media, &ctx, "open", |m| m.loaded().is_some());
        let constant_rate = media.loaded().unwrap().player.timebase();
        let mut a_constant_rate_differs = false;
        for &(index, time) in &sampled {
            let before = media.frame().map(|f| f.generation);
            media.loaded_mut().unwrap().player.seek(time);
            // One frame of the app: the frame under the playhead is asked for.
            media.poll(&ctx);
            assert_eq!(
                media.requested.map(|(asked, _)| asked),
                Some(index),
                "at {time} s the player asks for the sampled frame"
            );
            // Only the answer to the current request is shown: a new picture is that frame's.
            poll_until(&mut media, &ctx, "the frame on screen", |m| {
                m.frame().map(|f| f.generation) != before
            });
            let expected = video.frame_index(index, DISPLAY_SPEC).unwrap();
            assert_eq!(
                media.frame().unwrap().planes,
                expected.pixels,
                "the picture at {time} s is sampled frame {index}"
            );
            let player = &media.loaded().unwrap().player;
            assert_eq!(
                player.frame(),
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
}
