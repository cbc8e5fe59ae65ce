//! Player state (playhead, rate, in/out marks) kept apart from drawing, the transport controls with
//! the keyboard shortcuts video people expect, and the aspect-correct placement of the video.

use std::sync::Arc;

use egui::{Key, Modifiers, Rect, Vec2};

/// How a video's frames map to time. The playhead lives in seconds; frame stepping needs the rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timebase {
    /// Frames per second (average frame rate of the stream).
    pub fps: f64,
    /// Number of frames in the stream.
    pub frame_count: u64,
}

impl Timebase {
    /// Duration of the stream in seconds: the end of the last frame.
    pub fn duration(&self) -> f64 {
        if self.fps > 0.0 {
            self.frame_count as f64 / self.fps
        } else {
            0.0
        }
    }

    /// The frame shown at `seconds` (the last frame whose start is not after it), clamped to the stream.
    pub fn frame_at(&self, seconds: f64) -> u64 {
        if self.frame_count == 0 || self.fps <= 0.0 {
            return 0;
        }
        // A small epsilon so that `frame_start(i)` maps back to `i` despite rounding.
        let index = (seconds * self.fps + 1e-6).floor().max(0.0) as u64;
        index.min(self.frame_count - 1)
    }

    /// Start time of frame `index` in seconds.
    pub fn frame_start(&self, index: u64) -> f64 {
        if self.fps > 0.0 {
            index as f64 / self.fps
        } else {
            0.0
        }
    }

    /// Start time of the last frame: where End puts the playhead, so that a frame is still shown.
    pub fn last_frame_start(&self) -> f64 {
        self.frame_start(self.frame_count.saturating_sub(1))
    }
}

/// The playback speeds offered, slowest first. J/L step through the ones from 1x up; the
/// caption editor's speed keys step through all of them.
pub const SPEEDS: [f64; 9] = [0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0];

/// A stretch that playback is held to: played once (pausing at its end) or looped, as an
/// annotator replays one event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlaySpan {
    pub start: f64,
    pub end: f64,
    pub looping: bool,
}

/// Which way the playhead moves while playing (J plays backwards, L forwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// Everything the player knows, apart from any drawing, so the app, the timeline and the tests share it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayerState {
    timebase: Timebase,
    /// When each frame starts, in seconds since the first (presentation timestamps, ascending);
    /// `None`: the constant rate of `timebase`.
    frame_starts: Option<Arc<[f64]>>,
    position: f64,
    playing: bool,
    direction: Direction,
    speed: f64,
    in_mark: Option<f64>,
    out_mark: Option<f64>,
    span: Option<PlaySpan>,
    /// Sound volume, 0..=1, and whether it is muted (the sound plays on, silent).
    volume: f32,
    muted: bool,
}

/// How much one volume key press changes the volume.
pub const VOLUME_STEP: f32 = 0.1;

impl PlayerState {
    /// A paused player at the start of a stream.
    pub fn new(timebase: Timebase) -> Self {
        Self {
            timebase,
            frame_starts: None,
            position: 0.0,
            playing: false,
            direction: Direction::Forward,
            speed: 1.0,
            in_mark: None,
            out_mark: None,
            span: None,
            volume: 1.0,
            muted: false,
        }
    }

    /// A paused player at the start of a stream whose frames start at `frame_starts` seconds
    /// (presentation timestamps since the first frame, one per frame, ascending): the frame
    /// under the playhead, frame stepping and the end follow them, so on a variable-frame-rate
    /// video the player names the frame the decoder shows at each time.
    pub fn with_frame_starts(timebase: Timebase, frame_starts: Arc<[f64]>) -> Self {
        Self {
            frame_starts: (!frame_starts.is_empty()).then_some(frame_starts),
            ..Self::new(timebase)
        }
    }

    pub fn timebase(&self) -> Timebase {
        self.timebase
    }

    /// The frame shown at `seconds`: the last one starting at or before it (the first before
    /// the stream starts), clamped to the stream.
    pub fn frame_at(&self, seconds: f64) -> u64 {
        match &self.frame_starts {
            // A small epsilon so that a frame's own start maps back to it despite rounding.
            Some(starts) => starts
                .partition_point(|&start| start <= seconds + 1e-6)
                .saturating_sub(1) as u64,
            None => self.timebase.frame_at(seconds),
        }
    }

    /// Start time of frame `index` in seconds (clamped to the stream).
    pub fn frame_start(&self, index: u64) -> f64 {
        match &self.frame_starts {
            Some(starts) => starts[(index as usize).min(starts.len() - 1)],
            None => self
                .timebase
                .frame_start(index.min(self.timebase.frame_count.saturating_sub(1))),
        }
    }

    /// Start time of the last frame: where End puts the playhead, so that a frame is still shown.
    pub fn last_frame_start(&self) -> f64 {
        match &self.frame_starts {
            Some(starts) => starts[starts.len() - 1],
            None => self.timebase.last_frame_start(),
        }
    }
    /// Playhead in seconds.
    pub fn position(&self) -> f64 {
        self.position
    }
    /// The frame under the playhead: what the app asks the decoder for.
    pub fn frame(&self) -> u64 {
        self.frame_at(self.position)
    }
    pub fn is_playing(&self) -> bool {
        self.playing
    }
    pub fn direction(&self) -> Direction {
        self.direction
    }
    /// Playback speed magnitude (0.1x to 4x).
    pub fn speed(&self) -> f64 {
        self.speed
    }
    pub fn in_mark(&self) -> Option<f64> {
        self.in_mark
    }
    pub fn out_mark(&self) -> Option<f64> {
        self.out_mark
    }

    pub fn volume(&self) -> f32 {
        self.volume
    }
    pub fn muted(&self) -> bool {
        self.muted
    }
    /// Sets the volume, clamped to 0..=1 (a volume change unmutes, as on every player).
    pub fn set_volume(&mut self, volume: f32) {
        if volume.is_finite() {
            self.volume = volume.clamp(0.0, 1.0);
            self.muted = false;
        }
    }
    pub fn toggle_mute(&mut self) {
        self.muted = !self.muted;
    }

    /// Puts the playhead where the sound is (the audio clock), while playing forward: the
    /// sound card's clock paces the picture so the two cannot drift apart. Clamped to the span
    /// being played and to the stream; reaching the end is left to [`PlayerState::advance`].
    pub fn follow_clock(&mut self, seconds: f64) {
        if !self.playing || self.direction != Direction::Forward || !seconds.is_finite() {
            return;
        }
        let mut end = self.last_frame_start();
        let mut start = 0.0;
        if let Some(span) = self.span {
            (start, end) = (span.start, span.end);
        }
        self.position = seconds.clamp(start, end);
    }

    /// Moves the playhead, clamped to the stream. A seek out of the span being played ends it.
    pub fn seek(&mut self, seconds: f64) {
        let end = self.last_frame_start();
        self.position = if seconds.is_finite() {
            seconds.clamp(0.0, end)
        } else {
            0.0
        };
        if self
            .span
            .is_some_and(|span| self.position < span.start || self.position > span.end)
        {
            self.span = None;
        }
    }

    /// The span playback is held to, if any.
    pub fn span(&self) -> Option<PlaySpan> {
        self.span
    }

    /// Plays `span` forward from its start: once, or round and round when it loops. A span
    /// reaching past the stream is cut to it; an empty one is ignored.
    pub fn play_span(&mut self, span: PlaySpan) {
        let last = self.last_frame_start();
        let start = span.start.clamp(0.0, last);
        let end = span.end.clamp(0.0, last);
        if end.is_nan() || start.is_nan() || end <= start {
            return;
        }
        self.span = Some(PlaySpan { start, end, ..span });
        self.position = start;
        self.direction = Direction::Forward;
        self.playing = true;
    }

    /// Lets playback run free again (it keeps playing where it is).
    pub fn stop_span(&mut self) {
        self.span = None;
    }

    /// Steps the speed `steps` places through [`SPEEDS`] (negative: slower), from the offered
    /// speed nearest the current one.
    pub fn step_speed(&mut self, steps: i32) {
        let nearest = SPEEDS
            .iter()
            .enumerate()
            .min_by(|a, b| {
                (a.1 - self.speed)
                    .abs()
                    .total_cmp(&(b.1 - self.speed).abs())
            })
            .map_or(0, |(index, _)| index) as i32;
        let index = (nearest + steps).clamp(0, SPEEDS.len() as i32 - 1) as usize;
        self.speed = SPEEDS[index];
    }

    /// Moves to the start of frame `index` (clamped).
    pub fn seek_frame(&mut self, index: u64) {
        self.position = self.frame_start(index);
    }

    /// Steps `frames` frames (negative: back) from the frame under the playhead and pauses,
    /// as frame stepping does in every editor.
    pub fn step_frames(&mut self, frames: i64) {
        self.playing = false;
        let target = self.frame() as i64 + frames;
        self.seek_frame(target.max(0) as u64);
    }

    pub fn play(&mut self) {
        if self.direction == Direction::Forward && self.position >= self.last_frame_start() {
            // Play at the end starts over, as people expect.
            self.position = 0.0;
        }
        self.playing = true;
    }

    pub fn pause(&mut self) {
        self.playing = false;
    }

    pub fn toggle_play(&mut self) {
        if self.playing {
            self.pause()
        } else {
            self.play()
        }
    }

    /// Sets the speed magnitude, clamped to 0.1x..4x.
    pub fn set_speed(&mut self, speed: f64) {
        self.speed = speed.clamp(SPEEDS[0], SPEEDS[SPEEDS.len() - 1]);
    }

    /// L (or J backwards): starts playing that way at 1x; pressed again while playing that way it
    /// doubles the speed up to 4x; pressed while playing the other way it turns around at 1x.
    pub fn shuttle(&mut self, direction: Direction) {
        if self.playing && self.direction == direction {
            self.set_speed((self.speed * 2.0).max(1.0));
        } else {
            self.direction = direction;
            self.speed = 1.0;
            self.play();
        }
    }

    /// Sets the in mark at the playhead; an out mark before it is dropped.
    pub fn mark_in(&mut self) {
        self.in_mark = Some(self.position);
        if self.out_mark.is_some_and(|out| out < self.position) {
            self.out_mark = None;
        }
    }

    /// Sets the out mark at the playhead; an in mark after it is dropped.
    pub fn mark_out(&mut self) {
        self.out_mark = Some(self.position);
        if self.in_mark.is_some_and(|start| start > self.position) {
            self.in_mark = None;
        }
    }

    /// Advances the playhead by `dt` seconds of wall time while playing; stops at either end.
    pub fn advance(&mut self, dt: f64) {
        if !self.playing || !dt.is_finite() || dt <= 0.0 {
            return;
        }
        let step = dt * self.speed;
        let end = self.last_frame_start();
        match self.direction {
            Direction::Forward => {
                self.position += step;
                if let Some(span) = self.span
                    && self.position >= span.end
                {
                    if span.looping {
                        let length = span.end - span.start;
                        self.position = span.start + (self.position - span.end) % length;
                    } else {
                        self.position = span.end;
                        self.playing = false;
                        self.span = None;
                    }
                } else if self.position >= end {
                    self.position = end;
                    self.playing = false;
                }
            }
            Direction::Backward => {
                self.position -= step;
                if self.position <= 0.0 {
                    self.position = 0.0;
                    self.playing = false;
                }
            }
        }
    }

    /// Applies the player's keyboard shortcuts from this frame's input and consumes them.
    /// Ignored while a text field has focus, so typing a question never moves the video.
    pub fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.text_edit_focused() {
            return;
        }
        let one_second = self.timebase.fps.round().max(1.0) as i64;
        ctx.input_mut(|input| {
            // Shift variants first: consume_key ignores extra Shift when matching plain keys.
            if input.consume_key(Modifiers::SHIFT, Key::ArrowLeft) {
                self.step_frames(-one_second);
            }
            if input.consume_key(Modifiers::SHIFT, Key::ArrowRight) {
                self.step_frames(one_second);
            }
            if input.consume_key(Modifiers::NONE, Key::ArrowLeft) {
                self.step_frames(-1);
            }
            if input.consume_key(Modifiers::NONE, Key::ArrowRight) {
                self.step_frames(1);
            }
            if input.consume_key(Modifiers::NONE, Key::Space) {
                self.toggle_play();
            }
            if input.consume_key(Modifiers::NONE, Key::J) {
                self.shuttle(Direction::Backward);
            }
            if input.consume_key(Modifiers::NONE, Key::K) {
                self.pause();
            }
            if input.consume_key(Modifiers::NONE, Key::L) {
                self.shuttle(Direction::Forward);
            }
            if input.consume_key(Modifiers::NONE, Key::Home) {
                self.pause();
                self.seek(0.0);
            }
            if input.consume_key(Modifiers::NONE, Key::End) {
                self.pause();
                self.seek(self.last_frame_start());
            }
            if input.consume_key(Modifiers::NONE, Key::Num9) {
                self.set_volume(self.volume - VOLUME_STEP);
            }
            if input.consume_key(Modifiers::NONE, Key::Num0) {
                self.set_volume(self.volume + VOLUME_STEP);
            }
            if input.consume_key(Modifiers::COMMAND, Key::M) {
                self.toggle_mute();
            }
            if input.consume_key(Modifiers::NONE, Key::OpenBracket) {
                self.mark_in();
            }
            if input.consume_key(Modifiers::NONE, Key::CloseBracket) {
                self.mark_out();
            }
        });
    }
}

/// `m:ss.mmm` (or `h:mm:ss.mmm`), the way video tools print a playhead.
pub fn format_time(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000,
    );
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("{m}:{s:02}.{ms:03}")
    }
}

/// The transport bar: buttons, speed, time and marks. Keyboard shortcuts go through
/// [`PlayerState::handle_keys`], which this panel calls, so they work wherever the pointer is.
#[derive(Default)]
pub struct TransportBar {
    /// What the sound can do (device and codec, or why the video is silent), shown when
    /// hovering the Mute button.
    pub sound: String,
}

impl TransportBar {
    pub fn ui(&mut self, ui: &mut egui::Ui, player: &mut PlayerState) {
        player.handle_keys(ui.ctx());
        // Wrapped: beside a full-height inspector the bar may not fit one line.
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("Start")
                .on_hover_text("Go to start (Home)")
                .clicked()
            {
                player.pause();
                player.seek(0.0);
            }
            if ui
                .button("Prev frame")
                .on_hover_text("Previous frame (Left)")
                .clicked()
            {
                player.step_frames(-1);
            }
            let (icon, tip) = if player.is_playing() {
                ("Pause", "Pause (Space, K)")
            } else {
                ("Play", "Play (Space, L)")
            };
            if ui.button(icon).on_hover_text(tip).clicked() {
                player.toggle_play();
            }
            if ui
                .button("Next frame")
                .on_hover_text("Next frame (Right)")
                .clicked()
            {
                player.step_frames(1);
            }
            if ui.button("End").on_hover_text("Go to end (End)").clicked() {
                player.pause();
                player.seek(player.last_frame_start());
            }
            let speed_label = ui.label("Speed");
            let mut speed = player.speed();
            egui::ComboBox::from_id_salt("player-speed")
                .selected_text(format_speed(speed))
                .show_ui(ui, |ui| {
                    for option in SPEEDS {
                        ui.selectable_value(&mut speed, option, format_speed(option));
                    }
                })
                .response
                .labelled_by(speed_label.id);
            if speed != player.speed() {
                player.set_speed(speed);
            }
            ui.separator();
            let mute = if player.muted() { "Unmute" } else { "Mute" };
            let hover = if self.sound.is_empty() {
                "Sound on or off (Ctrl+M)".to_owned()
            } else {
                format!("Sound on or off (Ctrl+M)\n{}", self.sound)
            };
            if ui.button(mute).on_hover_text(hover).clicked() {
                player.toggle_mute();
            }
            let mut volume = player.volume();
            let slider = ui
                .add(
                    egui::Slider::new(&mut volume, 0.0..=1.0)
                        .text("Volume")
                        .show_value(false),
                )
                .on_hover_text("Volume (9 quieter, 0 louder)");
            if slider.changed() {
                player.set_volume(volume);
            }
            ui.separator();
            let timebase = player.timebase();
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!(
                        "{} / {}  frame {} / {}",
                        format_time(player.position()),
                        format_time(timebase.duration()),
                        player.frame() + 1,
                        timebase.frame_count
                    ))
                    .monospace(),
                )
                .wrap_mode(egui::TextWrapMode::Extend),
            );
            if player.is_playing() && player.direction() == Direction::Backward {
                ui.label("playing in reverse");
            }
            ui.separator();
            let marks = match (player.in_mark(), player.out_mark()) {
                (None, None) => "no in/out marks ([ and ])".to_owned(),
                (start, end) => format!(
                    "in {}  out {}",
                    start.map_or("—".to_owned(), format_time),
                    end.map_or("—".to_owned(), format_time)
                ),
            };
            ui.add(
                egui::Label::new(egui::RichText::new(marks).weak())
                    .wrap_mode(egui::TextWrapMode::Extend),
            );
        });
    }
}

fn format_speed(speed: f64) -> String {
    format!("{speed}x")
}

/// The largest rect inside `available`, centred, with the aspect of a `frame_size` picture (square
/// pixels; the video engine delivers frames already turned by the display rotation).
pub fn fit_frame_rect(available: Rect, frame_size: [u32; 2]) -> Rect {
    let [w, h] = frame_size.map(|v| v.max(1) as f32);
    let scale = (available.width() / w).min(available.height() / h).max(0.0);
    Rect::from_center_size(available.center(), Vec2::new(w * scale, h * scale))
}
