//! `bench playback`: plays a video at 1x in a real window through the GUI's own parts (the
//! session's decode worker asked for the frame under the playhead, the Y'CbCr planes uploaded to
//! the frame shader's textures) and counts what a viewer would see: frames presented, frames the
//! playhead passed that never reached the screen, and where the time per frame went. Playback
//! starts after the thumbnail strip is done, so the figures are those of steady playback.
//!
//! With sound, the playhead follows the audio clock as in the GUI, and the bench measures A/V
//! drift: at each new frame on screen, its start time against the time being heard then.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;
use keye_ui::fit_frame_rect;

use super::GuiError;
use super::frame_view::{self, UploadStats};
use super::media::{Media, MediaNotice};

/// How long the video may take to open and show its first frame before the bench gives up.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(60);

/// Xvfb has no display refresh; with vsync on, lavapipe's X11 presentation paced repaints at about
/// half the rate the app reached without it (10.6 against 21.9 a second, same machine and load), so
/// the bench measures the app, not that emulated pacing. On a real display the GUI syncs to it.
const PRESENT_MODE: eframe::wgpu::PresentMode = eframe::wgpu::PresentMode::AutoNoVsync;

/// What one playback run measured.
#[derive(Debug, Clone, Default)]
pub struct PlaybackReport {
    /// Seconds of video played (wall time from the first frame on screen).
    pub played: f64,
    /// The video's frame rate (frames over duration).
    pub fps: f64,
    /// Distinct frames that reached the screen.
    pub presented: usize,
    /// Frames the playhead passed that never reached the screen.
    pub dropped: usize,
    /// The decode worker's time per frame shown (decode and conversion; with read-ahead mostly
    /// the conversion): mean and 95th percentile.
    pub decode_mean: Duration,
    pub decode_p95: Duration,
    /// From the playhead reaching a frame to the frame in hand (the worker's time plus waiting for
    /// the next repaint to notice): mean.
    pub latency_mean: Duration,
    /// Handing each new frame's planes to the GPU.
    pub uploads: UploadStats,
    /// Window repaints per second and the 95th percentile of the time between repaints.
    pub repaints_per_second: f64,
    pub repaint_p95: Duration,
    /// Size of the frames shown.
    pub frame_size: (u32, u32),
    /// The sound notice (device and codec, or why it is silent).
    pub sound: String,
    /// Picture minus sound at each new frame shown while sound played (seconds; positive: the
    /// picture is ahead), in the order shown.
    pub av_drift: Vec<f64>,
    /// Media seconds the sound clock advanced minus wall seconds since the sound last
    /// (re)started: how far a picture paced by the system clock would have drifted from it.
    pub audio_clock_vs_wall: Option<f64>,
}

/// Plays `video` for `seconds` in a window and reports; the window closes by itself.
pub fn run_playback_bench(video: PathBuf, seconds: f64) -> Result<PlaybackReport, GuiError> {
    let outcome: Arc<Mutex<Option<Result<PlaybackReport, String>>>> = Arc::default();
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("keye-studio playback bench")
            .with_inner_size(super::INITIAL_WINDOW_SIZE),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            surface: eframe::egui_wgpu::SurfaceConfig {
                present_mode: PRESENT_MODE,
                ..eframe::egui_wgpu::SurfaceConfig::LOW_LATENCY
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let result = Arc::clone(&outcome);
    eframe::run_native(
        "keye-studio-playback",
        native_options,
        Box::new(move |cc| {
            if let Some(render_state) = &cc.wgpu_render_state {
                frame_view::install(render_state);
            }
            Ok(Box::new(PlaybackBench {
                media: Media::open(&video, &cc.egui_ctx),
                seconds,
                opened: Instant::now(),
                run: None,
                outcome: result,
            }))
        }),
    )
    .map_err(|error| GuiError::Window(error.to_string()))?;
    let outcome = outcome.lock().map(|mut slot| slot.take()).unwrap_or(None);
    match outcome {
        Some(Ok(report)) => Ok(report),
        Some(Err(message)) => Err(GuiError::Playback(message)),
        None => Err(GuiError::Playback(
            "the window closed before playback finished".into(),
        )),
    }
}

struct PlaybackBench {
    media: Media,
    seconds: f64,
    opened: Instant,
    run: Option<Run>,
    outcome: Arc<Mutex<Option<Result<PlaybackReport, String>>>>,
}

/// Counters of a run under way.
struct Run {
    started: Instant,
    last_repaint: Instant,
    first_index: usize,
    presented: std::collections::BTreeSet<usize>,
    /// When each frame was asked of the worker.
    asked: std::collections::HashMap<usize, Instant>,
    decode_times: Vec<Duration>,
    latencies: Vec<Duration>,
    repaint_gaps: Vec<Duration>,
    last_shown: Option<usize>,
    frame_size: (u32, u32),
    av_drift: Vec<f64>,
    /// The first and the latest reading of the sound clock, with the wall time of each.
    audio_first: Option<(Instant, f64)>,
    audio_last: Option<(Instant, f64)>,
}

impl PlaybackBench {
    fn finish(&mut self, ctx: &egui::Context, result: Result<PlaybackReport, String>) {
        if let Ok(mut slot) = self.outcome.lock() {
            slot.get_or_insert(result);
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl Run {
    fn report(&self, media: &Media, uploads: UploadStats) -> PlaybackReport {
        let run = self;
        let played = run.started.elapsed().as_secs_f64();
        let fps = media
            .loaded()
            .map_or(0.0, |loaded| loaded.player.timebase().fps);
        let reached = media.requested_index().unwrap_or(run.first_index);
        let passed = reached + 1 - run.first_index;
        let presented = run.presented.range(run.first_index..=reached).count();
        let mut decode = run.decode_times.clone();
        let mut gaps = run.repaint_gaps.clone();
        PlaybackReport {
            played,
            fps,
            presented,
            dropped: passed.saturating_sub(presented),
            decode_mean: mean(&decode),
            decode_p95: percentile(&mut decode, 0.95),
            latency_mean: mean(&run.latencies),
            uploads,
            repaints_per_second: gaps.len() as f64 / played.max(f64::EPSILON),
            repaint_p95: percentile(&mut gaps, 0.95),
            frame_size: run.frame_size,
            sound: format!(
                "{}; the sound ran dry {} times",
                media.sound_notice(),
                media.audio_underruns()
            ),
            av_drift: run.av_drift.clone(),
            audio_clock_vs_wall: run.audio_first.zip(run.audio_last).map(
                |((wall0, media0), (wall1, media1))| {
                    (media1 - media0) - wall1.duration_since(wall0).as_secs_f64()
                },
            ),
        }
    }
}

impl eframe::App for PlaybackBench {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        for notice in self.media.poll(&ctx) {
            match notice {
                MediaNotice::OpenFailed(error) | MediaNotice::FrameFailed(error) => {
                    return self.finish(&ctx, Err(error.to_string()));
                }
                // The report says it.
                MediaNotice::Silent(_) => {}
            }
        }
        let now = Instant::now();
        match &mut self.run {
            None => {
                // Playback starts once the scrubber's thumbnail strip is done: its decoding would
                // otherwise compete with playback for the first seconds.
                let (_, thumbnails_done, _) = self.media.thumbnail_progress();
                if let (Some(index), true, Some(loaded)) = (
                    self.media.shown_index(),
                    thumbnails_done,
                    self.media.loaded_mut(),
                ) {
                    loaded.player.play();
                    self.run = Some(Run {
                        started: now,
                        last_repaint: now,
                        first_index: index,
                        presented: [index].into(),
                        asked: Default::default(),
                        decode_times: Vec::new(),
                        latencies: Vec::new(),
                        repaint_gaps: Vec::new(),
                        last_shown: Some(index),
                        frame_size: (0, 0),
                        av_drift: Vec::new(),
                        audio_first: None,
                        audio_last: None,
                    });
                } else if self.opened.elapsed() > FIRST_FRAME_TIMEOUT {
                    return self.finish(&ctx, Err("no frame shown within a minute".into()));
                }
            }
            Some(run) => {
                let dt = now.duration_since(run.last_repaint);
                run.repaint_gaps.push(dt);
                run.last_repaint = now;
                if let Some(loaded) = self.media.loaded_mut() {
                    loaded.player.advance(dt.as_secs_f64());
                }
                self.media.follow_audio(dt.as_secs_f64());
                let heard = self.media.audio_clock();
                if let Some(heard) = heard {
                    // A restart of the sound (its start-up) begins the comparison again.
                    let restarted = run.audio_last.is_some_and(|(wall, media)| {
                        let wall = now.duration_since(wall).as_secs_f64();
                        (heard - media - wall).abs() > 0.2
                    });
                    if restarted || run.audio_first.is_none() {
                        run.audio_first = Some((now, heard));
                    }
                    run.audio_last = Some((now, heard));
                }
                if let Some(asked) = self.media.requested_index() {
                    run.asked.entry(asked).or_insert(now);
                }
                let shown = self.media.shown_index();
                if shown != run.last_shown
                    && let Some(index) = shown
                {
                    run.presented.insert(index);
                    if let (Some(heard), Some(loaded)) = (heard, self.media.loaded()) {
                        run.av_drift
                            .push(loaded.player.frame_start(index as u64) - heard);
                    }
                    if let Some(asked) = run.asked.remove(&index) {
                        run.latencies.push(now.duration_since(asked));
                    }
                    if let Some(took) = self.media.last_decode_time() {
                        run.decode_times.push(took);
                    }
                    run.last_shown = shown;
                }
                let playing = self
                    .media
                    .loaded()
                    .is_some_and(|loaded| loaded.player.is_playing());
                if run.started.elapsed().as_secs_f64() >= self.seconds || !playing {
                    let uploads = frame
                        .wgpu_render_state()
                        .map(frame_view::upload_stats)
                        .unwrap_or_default();
                    let report = run.report(&self.media, uploads);
                    return self.finish(&ctx, Ok(report));
                }
            }
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(egui::Color32::BLACK))
            .show(ui, |ui| {
                if let Some(pixels) = self.media.frame() {
                    let target = fit_frame_rect(ui.max_rect(), [pixels.width, pixels.height]);
                    if let Some(run) = &mut self.run {
                        run.frame_size = (pixels.width, pixels.height);
                    }
                    frame_view::paint(ui.painter(), target, pixels.clone());
                }
            });
        // As the GUI does while playing: repaint continuously, the player's clock picks the frame.
        ctx.request_repaint();
    }
}

fn mean(times: &[Duration]) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    times.iter().sum::<Duration>() / times.len() as u32
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    times
        .get(((times.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}
