//! The ask controller: turns the ask panel's requests into [`inference::spawn_ask`] runs with the
//! panel's visual-token budget and the chosen capture layers, keeps the estimate of the next
//! question's cost up to date (on a worker), pumps the ask's events into the panel every frame
//! (tokens with their steps, so each stays selectable), keeps each turn's attention capture in
//! memory for the heatmap and the attention track, and keeps the conversation of each video
//! across restarts in a JSON file per video.

mod attention;
mod estimate;
mod history;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use keye_model::generate::{
    CaptureSpec, GenerationEvent, Phase, SamplingParams, StopReason, ThinkingMode, frame_totals,
};
use keye_ui::{
    AskAction, AskAvailability, AskPanel, AskRequest, AskTurn, CaptureControls, FrameValue,
    GenerationTiming, HeatGrid, HeatmapControls, ModelTracks, NO_MODEL_HINT, REMOTE_ATTENTION_NOTE,
    SamplingSettings, ThinkingChoice, Toasts, TokenSelection, TraceDelta, TracePhase, TraceStatus,
};

use self::attention::TurnAttention;
use self::estimate::{Estimator, Inputs, budget_settings, knob_label, visual_budget};
use self::history::{history_file, load_history, save_history};
use super::heatmap_view::HeatOverlay;
use super::server::Connection;
use crate::inference::{self, AskEvent, AskHandle, LoadedModel, Question, Turn};
use crate::remote::{RemoteMediaKnobs, RemoteQuestion, RemoteSampling, spawn_remote_ask};

/// A generation in flight.
struct Running {
    handle: AskHandle,
    turn: usize,
    /// The step of the last `Token` event: the text that follows belongs to it.
    step: usize,
    prompt_tokens: usize,
    prefill: Duration,
    decode_started: Option<Instant>,
    /// Stop was pressed: however the worker ends, the turn ends as stopped, not failed.
    stop_requested: bool,
}

/// The map for the current focus, computed once per change of focus, controls or frame.
#[derive(Clone, PartialEq)]
struct OverlayKey {
    selection: TokenSelection,
    controls: HeatmapControls,
    frame: usize,
}

pub struct AskController {
    pub panel: AskPanel,
    pub heatmap: HeatmapControls,
    running: Option<Running>,
    /// Per turn of the panel (same index); `None` for restored or failed turns.
    attention: Vec<Option<TurnAttention>>,
    /// The open video and where its conversation is kept.
    video: Option<(PathBuf, Option<PathBuf>)>,
    overlay: Option<(OverlayKey, HeatOverlay)>,
    overlay_generation: u64,
    /// What the attention track was last filled for.
    tracks_for: Option<(Option<TokenSelection>, HeatmapControls, usize)>,
    /// Bumped whenever a turn's capture changes, so the tracks refill.
    attention_version: usize,
    /// The model whose generation config the sampling settings came from.
    sampling_from: Option<PathBuf>,
    /// Which decoder layers the next question captures.
    pub capture: CaptureControls,
    /// The next question's cost, worked out on a worker.
    estimator: Estimator,
    /// The loaded model, as last handed to [`Self::update_availability`].
    model: Option<Arc<LoadedModel>>,
    /// The server that answers when no model is loaded.
    remote: Option<Connection>,
}

impl Default for AskController {
    fn default() -> Self {
        Self {
            panel: AskPanel::new(),
            heatmap: HeatmapControls::default(),
            running: None,
            attention: Vec::new(),
            video: None,
            overlay: None,
            overlay_generation: 0,
            tracks_for: None,
            attention_version: 0,
            sampling_from: None,
            capture: CaptureControls::default(),
            estimator: Estimator::default(),
            model: None,
            remote: None,
        }
    }
}

impl AskController {
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Switches to `video`'s conversation (restored from disk), stopping a running ask.
    pub fn set_video(&mut self, video: Option<&Path>, toasts: &mut Toasts) {
        if self.video.as_ref().map(|(p, _)| p.as_path()) == video {
            return;
        }
        if let Some(running) = self.running.take() {
            running.handle.cancel();
        }
        self.attention.clear();
        self.overlay = None;
        self.tracks_for = None;
        self.video = video.map(|path| (path.to_path_buf(), history_file(path)));
        let turns = match self.video.as_ref().and_then(|(_, file)| file.as_deref()) {
            Some(file) => match load_history(file) {
                Ok(turns) => turns,
                Err(message) => {
                    toasts.error(message);
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        self.attention = turns.iter().map(|_| None).collect();
        self.panel.set_turns(turns);
    }

    /// Says whether asking is possible, takes the model's sampling defaults once per checkpoint,
    /// its budget defaults once per load (memory differs per device and dtype) and its decoder's
    /// depth for the capture choice.
    /// A connected server (`remote`) answers when no model is loaded.
    pub fn update_availability(
        &mut self,
        model: Option<&Arc<LoadedModel>>,
        remote: Option<&Connection>,
        loading: bool,
        has_video: bool,
    ) {
        let answerer = model.is_some() || remote.is_some();
        let availability = match (answerer, has_video) {
            (false, _) if loading => {
                AskAvailability::Unavailable("The model is loading…".to_owned())
            }
            (false, _) => AskAvailability::Unavailable(NO_MODEL_HINT.to_owned()),
            (true, false) => AskAvailability::Unavailable(
                "Open a video to ask about it (File > Open video…).".to_owned(),
            ),
            (true, true) => AskAvailability::Ready,
        };
        if self.remote.as_ref() != remote {
            self.remote = remote.cloned();
        }
        if *self.panel.availability() != availability {
            self.panel.set_availability(availability);
        }
        if let Some(model) = model
            && self.sampling_from.as_ref() != Some(&model.runtime.dir)
        {
            self.sampling_from = Some(model.runtime.dir.clone());
            self.panel.sampling = settings_from(&model.runtime.sampling);
        }
        let same = match (&self.model, model) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.model = model.cloned();
            if let Some(model) = model {
                let defaults = budget_settings(model.default_budget());
                // Knobs the user left alone follow the new model; turned ones stay.
                if self.panel.budget == self.panel.budget_defaults {
                    self.panel.budget = defaults;
                }
                self.panel.budget_defaults = defaults;
                let text = &model.runtime.model.config().text;
                self.capture
                    .set_decoder(text.num_hidden_layers, text.num_attention_heads);
            }
        }
    }

    /// Fills the question box and presses Ask, as `--ask` does: the same path as the button.
    /// Returns whether the question went out.
    pub fn ask_now(
        &mut self,
        question: &str,
        model: Option<&Arc<LoadedModel>>,
        toasts: &mut Toasts,
    ) -> bool {
        self.panel.question = question.to_owned();
        match self.panel.submit() {
            Some(action) => {
                self.handle(action, model, toasts);
                true
            }
            None => false,
        }
    }

    /// The conversation, scrolling and following the stream.
    pub fn conversation_ui(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical()
            .id_salt("ask-conversation")
            .stick_to_bottom(true)
            .auto_shrink(false)
            .show(ui, |ui| self.panel.conversation_ui(ui));
    }

    /// The question box (always in view), then settings and heatmap controls, which grow until
    /// all of it is `max_height` tall and then scroll. Returns whether "jump to most attended
    /// frame" was pressed.
    pub fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        model: Option<&Arc<LoadedModel>>,
        toasts: &mut Toasts,
        max_height: f32,
    ) -> bool {
        if let Some(action) = self.panel.question_ui(ui) {
            self.handle(action, model, toasts);
        }
        // Less the panel's own margins and separator, so the question box never slides under them.
        let margins = 24.0;
        let settings_height = (max_height - ui.min_rect().height() - margins).max(80.0);
        egui::ScrollArea::vertical()
            .id_salt("ask-settings")
            .max_height(settings_height)
            .min_scrolled_height(settings_height)
            .show(ui, |ui| {
                self.panel.settings_ui(ui);
                ui.separator();
                self.heatmap_ui(ui)
            })
            .inner
    }

    /// Which layers to capture and the heatmap's controls.
    fn heatmap_ui(&mut self, ui: &mut egui::Ui) -> bool {
        let focus = self.panel.focus();
        let captured = focus
            .as_ref()
            .and_then(|f| self.turn_attention(f.turn))
            .or_else(|| self.attention.iter().rev().flatten().next())
            .map(TurnAttention::captured)
            .unwrap_or_default();
        let label = focus.as_ref().map(|f| self.describe(f));
        let vision_tokens = self.panel.estimate.cost.as_ref().map(|c| c.visual_tokens);
        let remote = self.model.is_none() && self.remote.is_some();
        egui::CollapsingHeader::new("Attention heatmap")
            .id_salt("ask-heatmap")
            .show(ui, |ui| {
                if remote {
                    ui.weak(REMOTE_ATTENTION_NOTE);
                    return false;
                }
                self.capture
                    .ui(ui, self.heatmap.capture_per_head, vision_tokens);
                self.heatmap.ui(ui, &captured, label.as_deref()).jump
            })
            .body_returned
            .unwrap_or(false)
    }

    fn describe(&self, selection: &TokenSelection) -> String {
        let text: String = self
            .panel
            .turns()
            .get(selection.turn)
            .map(|turn| turn.trace.steps_text(&selection.steps))
            .unwrap_or_default();
        let text = text.trim();
        let short: String = text.chars().take(40).collect();
        let ellipsis = if text.chars().count() > 40 { "…" } else { "" };
        if selection.steps.start() == selection.steps.end() {
            format!("token {} \"{short}{ellipsis}\"", selection.steps.start())
        } else {
            format!(
                "tokens {}-{} \"{short}{ellipsis}\"",
                selection.steps.start(),
                selection.steps.end()
            )
        }
    }

    fn turn_attention(&self, turn: usize) -> Option<&TurnAttention> {
        self.attention.get(turn).and_then(Option::as_ref)
    }

    fn handle(&mut self, action: AskAction, model: Option<&Arc<LoadedModel>>, toasts: &mut Toasts) {
        match action {
            AskAction::Ask(request) => self.start(request, model, toasts),
            AskAction::Stop => {
                if let Some(running) = &mut self.running {
                    running.stop_requested = true;
                    running.handle.cancel();
                }
            }
            AskAction::ClearHistory => {
                self.attention.clear();
                self.overlay = None;
                self.tracks_for = None;
                self.save(toasts);
            }
        }
    }

    fn start(
        &mut self,
        request: AskRequest,
        model: Option<&Arc<LoadedModel>>,
        toasts: &mut Toasts,
    ) {
        let turn = self.panel.turns().len().saturating_sub(1);
        self.attention
            .resize_with(self.panel.turns().len(), || None);
        let Some(model) = model else {
            match self.remote.clone() {
                Some(connection) => self.start_remote(request, &connection, turn),
                None => self
                    .panel
                    .finish(TraceStatus::Failed("no model is loaded".to_owned())),
            }
            return;
        };
        let question = match self.question_for(request, model, turn) {
            Ok(question) => question,
            Err(problem) => {
                toasts.error(problem.clone());
                self.panel.finish(TraceStatus::Failed(problem));
                return;
            }
        };
        self.running = Some(Running {
            handle: inference::spawn_ask(Arc::clone(model), question),
            turn,
            step: 0,
            prompt_tokens: 0,
            prefill: Duration::ZERO,
            decode_started: None,
            stop_requested: false,
        });
    }

    /// Asks the connected server: the same events as a local ask, without attention.
    fn start_remote(&mut self, request: AskRequest, connection: &Connection, turn: usize) {
        let Some((video, _)) = &self.video else {
            self.panel
                .finish(TraceStatus::Failed("no video is open".to_owned()));
            return;
        };
        let settings = &request.sampling;
        let question = RemoteQuestion {
            model: connection.model.clone(),
            media: vec![video.clone()],
            history: self.history(turn),
            text: request.question,
            system: None,
            thinking: thinking_mode(request.thinking),
            sampling: RemoteSampling {
                temperature: Some(settings.temperature),
                top_k: Some(settings.top_k),
                top_p: Some(settings.top_p),
                repetition_penalty: Some(settings.repetition_penalty),
                max_new_tokens: Some(settings.max_new_tokens),
                seed: Some(settings.seed),
            },
            media_knobs: RemoteMediaKnobs {
                fps: request.budget.fps,
                max_frames: request.budget.max_frames,
                max_pixels: request.budget.max_pixels,
            },
            send_paths: false,
        };
        self.running = Some(Running {
            handle: spawn_remote_ask(connection.server.clone(), question),
            turn,
            step: 0,
            prompt_tokens: 0,
            prefill: Duration::ZERO,
            decode_started: None,
            stop_requested: false,
        });
    }

    /// The finished turns before turn `turn`, as the conversation so far.
    fn history(&self, turn: usize) -> Vec<Turn> {
        self.panel.turns()[..turn]
            .iter()
            .filter(|t| *t.trace.status() == TraceStatus::Finished)
            .map(|t| Turn {
                question: t.question.clone(),
                answer: t.trace.text(TracePhase::Answer),
            })
            .collect()
    }

    /// The question `request` asks of `model` about the open video as turn `turn`: the finished
    /// turns before it as history, the panel's sampling and budget, the chosen capture layers.
    fn question_for(
        &self,
        request: AskRequest,
        model: &LoadedModel,
        turn: usize,
    ) -> Result<Question, String> {
        let Some((video, _)) = &self.video else {
            return Err("no video is open".to_owned());
        };
        let history = self.history(turn);
        let mut sampling = model.runtime.sampling.clone();
        apply_settings(&mut sampling, &request.sampling);
        sampling
            .validate()
            .map_err(|problem| format!("Sampling settings: {problem}"))?;
        let decoder_layers = model.runtime.model.config().text.num_hidden_layers;
        let layers: Vec<usize> = (self.capture.layers.iter().copied())
            .filter(|&l| l < decoder_layers)
            .collect();
        Ok(Question {
            media: vec![video.clone()],
            history,
            text: request.question,
            system: None,
            thinking: thinking_mode(request.thinking),
            sampling,
            // No layers chosen: nothing captured, no memory spent on it.
            capture: (!layers.is_empty()).then_some(CaptureSpec {
                layers,
                per_head: self.heatmap.capture_per_head,
            }),
            budget: visual_budget(&request.budget),
        })
    }

    /// Keeps the estimate of the next question current, and drains the running ask's events
    /// into the panel; repaints while it runs.
    pub fn poll(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        self.update_estimate(ctx);
        let Some(running) = &mut self.running else {
            return;
        };
        // Ten updates a second read as live text and leave the CPU to the model.
        ctx.request_repaint_after(Duration::from_millis(100));
        let mut ended = false;
        loop {
            let event = match running.handle.events.try_recv() {
                Ok(event) => event,
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    if self.panel.is_running() {
                        self.panel.finish(TraceStatus::Failed(
                            "the ask worker stopped without an answer".to_owned(),
                        ));
                    }
                    ended = true;
                    break;
                }
            };
            match event {
                AskEvent::Preparing { stage, done, total } => {
                    let fraction = if total > 0 {
                        done as f32 / total as f32
                    } else {
                        0.0
                    };
                    self.panel.set_preparing(stage, fraction);
                }
                AskEvent::Prepared {
                    vision,
                    media,
                    prompt_tokens,
                } => {
                    running.prompt_tokens = prompt_tokens;
                    if let Some(slot) = self.attention.get_mut(running.turn) {
                        *slot = Some(TurnAttention {
                            vision,
                            media,
                            tokens: BTreeMap::new(),
                        });
                    }
                    self.attention_version += 1;
                    self.panel.set_preparing("prefilling the prompt", 1.0);
                }
                AskEvent::Generation(event) => match event {
                    GenerationEvent::Prefilled {
                        prompt_tokens,
                        prefill_ms,
                    } => {
                        running.prompt_tokens = prompt_tokens;
                        running.prefill = Duration::from_secs_f64(prefill_ms.max(0.0) / 1000.0);
                        running.decode_started = Some(Instant::now());
                        self.panel.set_timing(GenerationTiming {
                            prompt_tokens,
                            prefill: running.prefill,
                            generated_tokens: 0,
                            decode: Duration::ZERO,
                        });
                    }
                    GenerationEvent::Token { step, .. } => {
                        running.step = step;
                        self.panel.set_timing(GenerationTiming {
                            prompt_tokens: running.prompt_tokens,
                            prefill: running.prefill,
                            generated_tokens: step + 1,
                            decode: running
                                .decode_started
                                .map_or(Duration::ZERO, |t| t.elapsed()),
                        });
                    }
                    GenerationEvent::Text { phase, delta } => {
                        self.panel
                            .push_token(running.step, TraceDelta::new(trace_phase(phase), delta));
                    }
                    GenerationEvent::Attention(token) => {
                        if let Some(Some(turn)) = self.attention.get_mut(running.turn) {
                            turn.tokens.insert(token.step, *token);
                            self.attention_version += 1;
                        }
                    }
                    GenerationEvent::Done(summary) => {
                        let timing = summary.timing;
                        self.panel.set_timing(GenerationTiming {
                            prompt_tokens: timing.prompt_tokens,
                            prefill: Duration::from_secs_f64(timing.prefill_ms.max(0.0) / 1000.0),
                            generated_tokens: timing.decode_steps,
                            decode: Duration::from_secs_f64(timing.decode_ms.max(0.0) / 1000.0),
                        });
                        self.panel.finish(match summary.stop {
                            StopReason::Cancelled => TraceStatus::Stopped,
                            _ => TraceStatus::Finished,
                        });
                        // Until the user picks tokens, the map shows the whole answer.
                        if self.panel.selection().is_none()
                            && let Some(steps) = self
                                .panel
                                .turns()
                                .get(running.turn)
                                .and_then(|t| t.trace.steps_of(TracePhase::Answer))
                        {
                            self.panel.select(Some(TokenSelection {
                                turn: running.turn,
                                steps,
                            }));
                        }
                        ended = true;
                    }
                    GenerationEvent::Error { message } => {
                        if running.stop_requested {
                            self.panel.finish(TraceStatus::Stopped);
                        } else {
                            toasts.error(format!("Generation failed: {message}"));
                            self.panel.finish(TraceStatus::Failed(message));
                        }
                        ended = true;
                    }
                    GenerationEvent::Phase { .. } | GenerationEvent::Boxed { .. } => {}
                },
                AskEvent::Failed(message) => {
                    fail_turn(&mut self.panel, running.stop_requested, message, toasts);
                    ended = true;
                }
                AskEvent::Refused(refusal) => {
                    let message = refusal.describe(&knob_label);
                    fail_turn(&mut self.panel, running.stop_requested, message, toasts);
                    ended = true;
                }
            }
            if ended {
                break;
            }
        }
        if ended {
            self.running = None;
            self.save(toasts);
        }
    }

    /// Fills the timeline tracks from the focused (or latest) turn: sampled frames, SlowFast,
    /// chunks, tokens per frame, and the selected tokens' attention mass per frame.
    pub fn update_tracks(&mut self, tracks: &mut ModelTracks) {
        let focus = self.panel.focus();
        let key = (focus.clone(), self.heatmap.clone(), self.attention_version);
        if self.tracks_for.as_ref() == Some(&key) {
            return;
        }
        self.tracks_for = Some(key);
        let turn = focus
            .as_ref()
            .map(|f| f.turn)
            .filter(|&t| self.turn_attention(t).is_some())
            .or_else(|| self.attention.iter().rposition(Option::is_some));
        let Some(attention) = turn.and_then(|t| self.turn_attention(t)) else {
            tracks.sampled_frames.clear();
            tracks.slowfast.clear();
            tracks.chunk_boundaries.clear();
            tracks.tokens_per_frame.clear();
            tracks.attention_mass.clear();
            return;
        };
        attention.fill_structure_tracks(tracks);
        tracks.attention_mass = match (&focus, attention.video()) {
            (Some(focus), Some(video)) if Some(focus.turn) == turn => attention
                .combined_row(&focus.steps, &self.heatmap)
                .map(|row| {
                    let totals = frame_totals(&attention.vision, &row);
                    attention.media[video]
                        .frames
                        .iter()
                        .zip(totals.get(video).cloned().unwrap_or_default())
                        .map(|(frame, value)| FrameValue {
                            time: frame.time,
                            value,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
    }

    /// The heatmap of the focused tokens on the decoder frame under the playhead, if any.
    pub fn overlay(&mut self, playhead: f64) -> Option<HeatOverlay> {
        if !self.heatmap.visible {
            return None;
        }
        let selection = self.panel.focus()?;
        let (video, frame) = {
            let attention = self.turn_attention(selection.turn)?;
            let video = attention.video()?;
            (video, attention.frame_at(video, playhead)?)
        };
        let key = OverlayKey {
            selection,
            controls: HeatmapControls {
                opacity: 0.0,
                ..self.heatmap.clone()
            },
            frame,
        };
        if let Some((cached, overlay)) = &mut self.overlay
            && *cached == key
        {
            overlay.opacity = self.heatmap.opacity;
            return Some(overlay.clone());
        }
        let attention = self.turn_attention(key.selection.turn)?;
        let row = attention.combined_row(&key.selection.steps, &self.heatmap)?;
        let &(rows, cols) = attention.vision.media.get(video)?.frames.get(frame)?;
        let values: Vec<f32> = attention
            .vision
            .refs
            .iter()
            .zip(&row)
            .filter(|(r, _)| r.media == video && r.frame == frame)
            .map(|(_, &w)| w)
            .collect();
        let grid = HeatGrid::normalized(rows, cols, &values)?;
        self.overlay_generation += 1;
        let overlay = HeatOverlay {
            generation: self.overlay_generation,
            grid: Arc::new(grid),
            opacity: self.heatmap.opacity,
        };
        self.overlay = Some((key, overlay.clone()));
        Some(overlay)
    }

    fn update_estimate(&mut self, ctx: &egui::Context) {
        let panel = &self.panel;
        let finished = |t: &&AskTurn| *t.trace.status() == TraceStatus::Finished;
        let inputs = Inputs {
            model: self.model.as_ref(),
            video: self.video.as_ref().map(|(path, _)| path.as_path()),
            budget: panel.budget,
            max_new_tokens: panel.sampling.max_new_tokens,
            turns: panel.turns().iter().filter(finished).count(),
            question_chars: panel.question.chars().count(),
        };
        // The history goes into the prompt: count its tokens with the question's.
        self.estimator.update(ctx, inputs, || {
            let mut text = String::new();
            for turn in panel.turns().iter().filter(finished) {
                text.push_str(&turn.question);
                text.push('\n');
                text.push_str(&turn.trace.text(TracePhase::Answer));
                text.push('\n');
            }
            text.push_str(&panel.question);
            text
        });
        if self.panel.estimate != self.estimator.view {
            self.panel.estimate = self.estimator.view.clone();
        }
    }

    fn save(&self, toasts: &mut Toasts) {
        let Some((video, Some(file))) = &self.video else {
            return;
        };
        if let Err(message) = save_history(file, video, self.panel.turns()) {
            toasts.error(message);
        }
    }
}

fn trace_phase(phase: Phase) -> TracePhase {
    match phase {
        Phase::Analysis => TracePhase::Analysis,
        Phase::Thinking => TracePhase::Thinking,
        Phase::Answer => TracePhase::Answer,
    }
}

fn settings_from(sampling: &SamplingParams) -> SamplingSettings {
    SamplingSettings {
        temperature: sampling.temperature,
        top_k: sampling.top_k.unwrap_or(0),
        top_p: sampling.top_p,
        repetition_penalty: sampling.repetition_penalty,
        max_new_tokens: sampling.max_new_tokens,
        seed: sampling.seed,
    }
}

/// The user's settings over the model's (which keep their stop ids).
fn thinking_mode(choice: ThinkingChoice) -> ThinkingMode {
    match choice {
        ThinkingChoice::Auto => ThinkingMode::Auto,
        ThinkingChoice::Think => ThinkingMode::Think,
        ThinkingChoice::NoThink => ThinkingMode::NoThink,
    }
}

fn apply_settings(sampling: &mut SamplingParams, settings: &SamplingSettings) {
    sampling.temperature = settings.temperature;
    sampling.top_k = (settings.top_k > 0).then_some(settings.top_k);
    sampling.top_p = settings.top_p;
    sampling.repetition_penalty = settings.repetition_penalty;
    sampling.max_new_tokens = settings.max_new_tokens;
    sampling.seed = settings.seed;
}

/// Ends the running turn after the worker failed or refused: stopped when the user asked it to,
/// failed with `message` (and a toast) otherwise.
fn fail_turn(panel: &mut AskPanel, stopped: bool, message: String, toasts: &mut Toasts) {
    if !panel.is_running() {
        return;
    }
    if stopped {
        panel.finish(TraceStatus::Stopped);
    } else {
        toasts.error(format!("Asking failed: {message}"));
        panel.finish(TraceStatus::Failed(message));
    }
}

#[cfg(test)]
mod tests;
