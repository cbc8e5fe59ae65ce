//! One open video as the GUI shows it: the session's [`OpenVideo`] (worker, frame index, player
//! and timeline, the frame under the playhead asked for by presentation timestamp), the frame on
//! screen as GPU planes and the thumbnail textures. Everything here is polled from the UI thread;
//! no call blocks on decoding.

use std::path::Path;

use eframe::egui;
use keye_ui::{Thumbnail, WaveformTrack};

use super::frame_view::FramePixels;
use crate::audio::{AudioPlayer, AudioStatus, WaveformJob};
use crate::session::video::{Loaded, OpenVideo, VideoUpdate};
use crate::video::{ThumbnailEvent, VideoError, VideoFrame};

/// Something the app should tell the user about.
pub enum MediaNotice {
    /// The file could not be opened; the media should be closed.
    OpenFailed(VideoError),
    FrameFailed(VideoError),
    /// The video plays silently, and why (said once per video).
    Silent(String),
}

pub struct Media {
    video: OpenVideo,
    /// The frame on screen, with a generation counter for the GPU upload, and its index.
    frame: Option<FramePixels>,
    shown_index: Option<usize>,
    /// Textures are created once per thumbnail and kept alive here.
    thumbnail_textures: Vec<egui::TextureHandle>,
    thumbnails_done: bool,
    thumbnail_failures: usize,
    /// The sound, played in step with the picture, and its waveform for the timeline.
    audio: AudioPlayer,
    waveform: WaveformJob,
    /// Whether the silent notice was handed out.
    told_silent: bool,
}

impl Media {
    /// Starts opening `path` on the engine's worker thread.
    pub fn open(path: &Path, ctx: &egui::Context) -> Self {
        let repaint = ctx.clone();
        let audio_repaint = ctx.clone();
        let waveform_repaint = ctx.clone();
        let cache = eframe::storage_dir("keye-studio").map(|dir| dir.join("waveforms"));
        Self {
            audio: AudioPlayer::spawn(path, move || audio_repaint.request_repaint()),
            waveform: WaveformJob::spawn(path, cache.as_deref(), move || {
                waveform_repaint.request_repaint()
            }),
            video: OpenVideo::open(path, move || repaint.request_repaint()),
            told_silent: false,
            frame: None,
            shown_index: None,
            thumbnail_textures: Vec::new(),
            thumbnails_done: false,
            thumbnail_failures: 0,
        }
    }

    pub fn path(&self) -> &Path {
        self.video.path()
    }
    pub fn loaded(&self) -> Option<&Loaded> {
        self.video.loaded()
    }
    pub fn loaded_mut(&mut self) -> Option<&mut Loaded> {
        self.video.loaded_mut()
    }
    pub fn frame(&self) -> Option<&FramePixels> {
        self.frame.as_ref()
    }
    /// The presentation index of the frame on screen.
    pub fn shown_index(&self) -> Option<usize> {
        self.shown_index
    }
    /// How long the decode worker took for the frame on screen (decode and conversion).
    pub fn last_decode_time(&self) -> Option<std::time::Duration> {
        self.video.last_decode_time()
    }
    /// The presentation index of the frame last asked of the decoder.
    pub fn requested_index(&self) -> Option<usize> {
        self.video.requested_frame()
    }
    /// Thumbnails decoded so far and whether the strip is complete.
    pub fn thumbnail_progress(&self) -> (usize, bool, usize) {
        (
            self.thumbnail_textures.len(),
            self.thumbnails_done,
            self.thumbnail_failures,
        )
    }

    /// What the sound can do, in one line (the Mute button's hover text, the silent notice,
    /// the playback bench's report).
    pub fn sound_notice(&self) -> String {
        match self.audio.status() {
            AudioStatus::Opening => "sound: opening…".to_owned(),
            AudioStatus::Ready {
                device,
                rate,
                codec,
            } => {
                format!("sound: {codec} on {device} at {rate} Hz (muted below 0.5x and above 2x)")
            }
            AudioStatus::Silent(reason) => {
                let name = self.path().file_name().map_or_else(
                    || self.path().display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                );
                format!("{name}: plays silently ({reason})")
            }
        }
    }

    /// After the player advanced by `dt` seconds of wall time: the sound follows the player
    /// (start, seek, speed, volume) and the playhead follows the sound's clock.
    pub fn follow_audio(&mut self, dt: f64) {
        if let Some(loaded) = self.video.loaded_mut() {
            self.audio.follow(&mut loaded.player, dt);
        }
    }

    /// Times the sound ran dry since the video opened (the decoder fell behind).
    pub fn audio_underruns(&self) -> u64 {
        self.audio.underruns()
    }

    /// The media time being heard now, while sound plays (for the playback bench).
    pub fn audio_clock(&self) -> Option<f64> {
        self.audio.clock()
    }

    /// Takes what the worker sent since the last frame (the frame under the playhead,
    /// thumbnails, problems) and asks for the frame under the playhead if it changed.
    pub fn poll(&mut self, ctx: &egui::Context) -> Vec<MediaNotice> {
        let mut notices = Vec::new();
        for update in self.video.poll() {
            match update {
                VideoUpdate::Frame(frame) => self.show(frame),
                VideoUpdate::Thumbnail(event) => self.on_thumbnail(ctx, event),
                VideoUpdate::OpenFailed(error) => notices.push(MediaNotice::OpenFailed(error)),
                VideoUpdate::FrameFailed(error) => notices.push(MediaNotice::FrameFailed(error)),
            }
        }
        if !self.told_silent && matches!(self.audio.status(), AudioStatus::Silent(_)) {
            self.told_silent = true;
            notices.push(MediaNotice::Silent(self.sound_notice()));
        }
        if let Some(loaded) = self.video.loaded_mut() {
            // Handed over until the job settles: a finished waveform is not looked at again.
            if matches!(
                loaded.timeline.waveform,
                WaveformTrack::Pending | WaveformTrack::Computing(_)
            ) {
                loaded.timeline.waveform = self.waveform.state();
            }
        }
        notices
    }

    fn show(&mut self, frame: VideoFrame) {
        let generation = self.frame.as_ref().map_or(0, |f| f.generation + 1);
        if let Some(pixels) = FramePixels::from_frame(&frame, generation) {
            self.frame = Some(pixels);
            self.shown_index = Some(frame.index);
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
                if let Some(loaded) = self.video.loaded_mut() {
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
