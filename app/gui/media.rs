//! One open video as the GUI sees it: the engine's decode worker, the player and timeline state,
//! the frame on screen and the thumbnail textures. Everything here is polled from the UI thread;
//! no call blocks on decoding.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;
use keye_ui::{PlayerState, Thumbnail, Timebase, Timeline};

use super::frame_view::FramePixels;
use crate::video::{
    DecodeWorker, FrameRequest, FrameSpec, OutputSize, PixelLayout, RequestId, ThumbnailEvent,
    VideoError, VideoFrame, VideoInfo, VideoOptions, WorkerEvent,
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
                WorkerEvent::Opened(info) => self.on_opened(info),
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

    fn on_opened(&mut self, info: Arc<VideoInfo>) {
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
        self.loaded = Some(Loaded {
            player: PlayerState::new(timebase),
            timeline: Timeline::new(timebase.duration()),
            info,
        });
        self.worker
            .request_thumbnails(THUMBNAIL_COUNT, THUMBNAIL_SPEC);
    }

    fn request_current_frame(&mut self) {
        let Some(loaded) = &self.loaded else {
            return;
        };
        if loaded.info.frame_count.frames == 0 {
            return;
        }
        let index = (loaded.player.frame() as usize).min(loaded.info.frame_count.frames - 1);
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
