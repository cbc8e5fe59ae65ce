//! The ask controller: turns the ask panel's requests into [`inference::spawn_ask`] runs, pumps
//! their events into the panel every frame (tokens with their steps, so each stays selectable),
//! keeps each turn's attention capture in memory for the heatmap and the attention track, and
//! keeps the conversation of each video across restarts in a JSON file per video.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use keye_model::generate::{
    CaptureSpec, GenerationEvent, Phase, SamplingParams, StopReason, ThinkingMode, TokenAttention,
    VisionTokenMap, frame_totals,
};
use keye_model::video::VideoEncoderKind;
use keye_ui::{
    AskAction, AskAvailability, AskPanel, AskRequest, AskTurn, CapturedLayers, FrameSpeed,
    FrameValue, GenerationTiming, HeadChoice, HeatGrid, HeatmapControls, ModelTracks,
    NO_MODEL_HINT, ReasoningTrace, SamplingSettings, SlowFastFrame, ThinkingChoice, Toasts,
    TokenSelection, TraceDelta, TracePhase, TraceStatus, aggregate,
};
use serde::{Deserialize, Serialize};

use super::heatmap_view::HeatOverlay;
use crate::inference::{self, AskEvent, AskHandle, LoadedModel, MediaFrames, Question, Turn};

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

/// What one turn's generation captured, kept in memory (large; not saved).
struct TurnAttention {
    vision: VisionTokenMap,
    media: Vec<MediaFrames>,
    tokens: BTreeMap<usize, TokenAttention>,
}

impl TurnAttention {
    /// The video among the media (the token map numbers it after any images).
    fn video(&self) -> Option<usize> {
        self.media.iter().position(|m| m.encoder.is_some())
    }

    fn captured(&self) -> CapturedLayers {
        let first = self.tokens.values().next();
        CapturedLayers {
            layers: first
                .map(|t| t.layers.iter().map(|l| l.layer).collect())
                .unwrap_or_default(),
            heads: first
                .and_then(|t| t.layers.first())
                .and_then(|l| l.per_head.as_ref())
                .map(Vec::len),
        }
    }

    /// The selected tokens' attention over all vision tokens, combined as the controls say.
    fn combined_row(
        &self,
        steps: &std::ops::RangeInclusive<usize>,
        controls: &HeatmapControls,
    ) -> Option<Vec<f32>> {
        let captured = self.captured();
        let layer = controls.effective_layer(&captured)?;
        let head = controls.effective_head(&captured);
        let rows = self.tokens.range(steps.clone()).filter_map(|(_, token)| {
            let layer = token.layers.iter().find(|l| l.layer == layer)?;
            match head {
                HeadChoice::Mean => Some(layer.mean.as_slice()),
                HeadChoice::Head(h) => layer.per_head.as_ref()?.get(h).map(Vec::as_slice),
            }
        });
        aggregate(rows, controls.aggregation)
    }

    /// The decoder frame of the video shown at `time`: the one spanning it, else the nearest.
    fn frame_at(&self, video: usize, time: f64) -> Option<usize> {
        let frames = &self.media.get(video)?.frames;
        frames
            .iter()
            .position(|f| f.time <= time && time < f.end)
            .or_else(|| {
                frames
                    .iter()
                    .enumerate()
                    .min_by(|(_, a), (_, b)| {
                        let da = ((a.time + a.end) / 2.0 - time).abs();
                        let db = ((b.time + b.end) / 2.0 - time).abs();
                        da.total_cmp(&db)
                    })
                    .map(|(i, _)| i)
            })
    }

    /// Sampled frames, tokens per frame, SlowFast speeds or Mavors chunks of the video.
    fn fill_structure_tracks(&self, tracks: &mut ModelTracks) {
        let Some(video) = self.video() else {
            return;
        };
        let frames = &self.media[video].frames;
        let tokens: Vec<usize> = self
            .vision
            .media
            .get(video)
            .map(|grid| grid.frames.iter().map(|(r, c)| r * c).collect())
            .unwrap_or_default();
        tracks.sampled_frames = frames.iter().map(|f| f.time).collect();
        tracks.tokens_per_frame = frames
            .iter()
            .zip(&tokens)
            .map(|(f, &n)| FrameValue {
                time: f.time,
                value: n as f32,
            })
            .collect();
        tracks.slowfast.clear();
        tracks.chunk_boundaries.clear();
        match self.media[video].encoder {
            // Slow frames keep the full token budget; fast ones get fewer.
            Some(VideoEncoderKind::Keye15) => {
                let slow = tokens.iter().copied().max().unwrap_or(0);
                tracks.slowfast = frames
                    .iter()
                    .zip(&tokens)
                    .map(|(f, &n)| SlowFastFrame {
                        time: f.time,
                        speed: if n == slow {
                            FrameSpeed::Slow
                        } else {
                            FrameSpeed::Fast
                        },
                    })
                    .collect();
            }
            Some(VideoEncoderKind::Mavors) => {
                tracks.chunk_boundaries = frames.iter().skip(1).map(|f| f.time).collect();
            }
            _ => {}
        }
    }
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

    /// Says whether asking is possible, and takes the model's sampling defaults once per model.
    pub fn update_availability(
        &mut self,
        model: Option<&Arc<LoadedModel>>,
        loading: bool,
        has_video: bool,
    ) {
        let availability = match (model, has_video) {
            (None, _) if loading => {
                AskAvailability::Unavailable("The model is loading…".to_owned())
            }
            (None, _) => AskAvailability::Unavailable(NO_MODEL_HINT.to_owned()),
            (Some(_), false) => AskAvailability::Unavailable(
                "Open a video to ask about it (File > Open video…).".to_owned(),
            ),
            (Some(_), true) => AskAvailability::Ready,
        };
        if *self.panel.availability() != availability {
            self.panel.set_availability(availability);
        }
        if let Some(model) = model
            && self.sampling_from.as_ref() != Some(&model.runtime.dir)
        {
            self.sampling_from = Some(model.runtime.dir.clone());
            self.panel.sampling = settings_from(&model.runtime.sampling);
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

    /// The question box, settings and heatmap controls. Returns whether "jump to most attended
    /// frame" was pressed.
    pub fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        model: Option<&Arc<LoadedModel>>,
        toasts: &mut Toasts,
    ) -> bool {
        if let Some(action) = self.panel.controls_ui(ui) {
            self.handle(action, model, toasts);
        }
        ui.separator();
        let focus = self.panel.focus();
        let captured = focus
            .as_ref()
            .and_then(|f| self.turn_attention(f.turn))
            .or_else(|| self.attention.iter().rev().flatten().next())
            .map(TurnAttention::captured)
            .unwrap_or_default();
        let label = focus.as_ref().map(|f| self.describe(f));
        egui::CollapsingHeader::new("Attention heatmap")
            .id_salt("ask-heatmap")
            .show(ui, |ui| {
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
        let (Some(model), Some((video, _))) = (model, &self.video) else {
            self.panel
                .finish(TraceStatus::Failed("no model or no video".to_owned()));
            return;
        };
        let history = self.panel.turns()[..turn]
            .iter()
            .filter(|t| *t.trace.status() == TraceStatus::Finished)
            .map(|t| Turn {
                question: t.question.clone(),
                answer: t.trace.text(TracePhase::Answer),
            })
            .collect();
        let mut sampling = model.runtime.sampling.clone();
        apply_settings(&mut sampling, &request.sampling);
        if let Err(problem) = sampling.validate() {
            toasts.error(format!("Sampling settings: {problem}"));
            self.panel.finish(TraceStatus::Failed(problem));
            return;
        }
        let layers = model.runtime.model.config().text.num_hidden_layers;
        let question = Question {
            media: vec![video.clone()],
            history,
            text: request.question,
            system: None,
            thinking: match request.thinking {
                ThinkingChoice::Auto => ThinkingMode::Auto,
                ThinkingChoice::Think => ThinkingMode::Think,
                ThinkingChoice::NoThink => ThinkingMode::NoThink,
            },
            sampling,
            capture: Some(CaptureSpec {
                layers: capture_layers(layers),
                per_head: self.heatmap.capture_per_head,
            }),
            budget: model.default_budget(),
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

    /// Drains the running ask's events into the panel; repaints while it runs.
    pub fn poll(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
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
                    if self.panel.is_running() {
                        let stopped = running.stop_requested;
                        if !stopped {
                            toasts.error(format!("Asking failed: {message}"));
                        }
                        self.panel.finish(if stopped {
                            TraceStatus::Stopped
                        } else {
                            TraceStatus::Failed(message)
                        });
                    }
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

    fn save(&self, toasts: &mut Toasts) {
        let Some((video, Some(file))) = &self.video else {
            return;
        };
        if let Err(message) = save_history(file, video, self.panel.turns()) {
            toasts.error(message);
        }
    }
}

/// A few layers spread over the decoder (first, middle, last): enough to compare shallow and
/// deep attention without keeping every layer of every token.
fn capture_layers(num_layers: usize) -> Vec<usize> {
    let mut layers = vec![0, num_layers / 2, num_layers.saturating_sub(1)];
    layers.dedup();
    layers.retain(|&l| l < num_layers);
    layers
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
fn apply_settings(sampling: &mut SamplingParams, settings: &SamplingSettings) {
    sampling.temperature = settings.temperature;
    sampling.top_k = (settings.top_k > 0).then_some(settings.top_k);
    sampling.top_p = settings.top_p;
    sampling.repetition_penalty = settings.repetition_penalty;
    sampling.max_new_tokens = settings.max_new_tokens;
    sampling.seed = settings.seed;
}

/// A conversation as saved: text only (attention is too large to keep).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedConversation {
    video: PathBuf,
    turns: Vec<SavedTurn>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedTurn {
    question: String,
    thinking: String,
    sections: Vec<SavedSection>,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timing: Option<SavedTiming>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedSection {
    phase: String,
    text: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedTiming {
    prompt_tokens: usize,
    prefill_ms: f64,
    generated_tokens: usize,
    decode_ms: f64,
}

/// `<data dir>/conversations/<video name>-<hash of its full path>.json`: one file per video,
/// readable names, no clash between equally named videos in different folders.
fn history_file(video: &Path) -> Option<PathBuf> {
    let dir = eframe::storage_dir("keye-studio")?.join("conversations");
    let full = std::fs::canonicalize(video).unwrap_or_else(|_| video.to_path_buf());
    // FNV-1a: stable across runs and Rust versions, unlike the std hasher.
    let hash = full
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
    let stem: String = video
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    Some(dir.join(format!("{stem}-{hash:016x}.json")))
}

fn load_history(file: &Path) -> Result<Vec<AskTurn>, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(format!(
                "Conversation history {}: cannot read it: {error}",
                file.display()
            ));
        }
    };
    let saved: SavedConversation = serde_json::from_str(&text).map_err(|error| {
        format!(
            "Conversation history {}: not a saved conversation ({error}); it is left as is",
            file.display()
        )
    })?;
    Ok(saved.turns.into_iter().map(restore_turn).collect())
}

fn restore_turn(saved: SavedTurn) -> AskTurn {
    let mut trace = ReasoningTrace::new();
    for section in saved.sections {
        let phase = match section.phase.as_str() {
            "analysis" => TracePhase::Analysis,
            "thinking" => TracePhase::Thinking,
            _ => TracePhase::Answer,
        };
        trace.push(TraceDelta::new(phase, section.text));
    }
    trace.set_status(match saved.status.as_str() {
        "stopped" => TraceStatus::Stopped,
        "failed" => TraceStatus::Failed(saved.error.unwrap_or_default()),
        // A turn saved while streaming (the app closed) ends where it stopped.
        "streaming" => TraceStatus::Stopped,
        _ => TraceStatus::Finished,
    });
    if let Some(t) = saved.timing {
        trace.set_timing(GenerationTiming {
            prompt_tokens: t.prompt_tokens,
            prefill: Duration::from_secs_f64(t.prefill_ms.max(0.0) / 1000.0),
            generated_tokens: t.generated_tokens,
            decode: Duration::from_secs_f64(t.decode_ms.max(0.0) / 1000.0),
        });
    }
    AskTurn {
        question: saved.question,
        thinking: match saved.thinking.as_str() {
            "think" => ThinkingChoice::Think,
            "no_think" => ThinkingChoice::NoThink,
            _ => ThinkingChoice::Auto,
        },
        trace,
    }
}

fn saved_turn(turn: &AskTurn) -> SavedTurn {
    let (status, error) = match turn.trace.status() {
        TraceStatus::Streaming => ("streaming", None),
        TraceStatus::Finished => ("finished", None),
        TraceStatus::Stopped => ("stopped", None),
        TraceStatus::Failed(message) => ("failed", Some(message.clone())),
    };
    SavedTurn {
        question: turn.question.clone(),
        thinking: match turn.thinking {
            ThinkingChoice::Auto => "auto",
            ThinkingChoice::Think => "think",
            ThinkingChoice::NoThink => "no_think",
        }
        .to_owned(),
        sections: turn
            .trace
            .sections()
            .iter()
            .map(|s| SavedSection {
                phase: match s.phase {
                    TracePhase::Analysis => "analysis",
                    TracePhase::Thinking => "thinking",
                    TracePhase::Answer => "answer",
                }
                .to_owned(),
                text: s.text.clone(),
            })
            .collect(),
        status: status.to_owned(),
        error,
        timing: turn.trace.timing().map(|t| SavedTiming {
            prompt_tokens: t.prompt_tokens,
            prefill_ms: t.prefill.as_secs_f64() * 1000.0,
            generated_tokens: t.generated_tokens,
            decode_ms: t.decode.as_secs_f64() * 1000.0,
        }),
    }
}

/// Writes the conversation through a temporary file and a rename, so a crash mid-write never
/// leaves half a history.
fn save_history(file: &Path, video: &Path, turns: &[AskTurn]) -> Result<(), String> {
    let fail = |what: &str, error: &dyn std::fmt::Display| {
        format!(
            "Conversation history {}: cannot {what}: {error}",
            file.display()
        )
    };
    let saved = SavedConversation {
        video: video.to_path_buf(),
        turns: turns.iter().map(saved_turn).collect(),
    };
    let json = serde_json::to_string_pretty(&saved).map_err(|e| fail("encode it", &e))?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail("create its folder", &e))?;
    }
    let mut temporary = file.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, json).map_err(|e| fail("write it", &e))?;
    std::fs::rename(&temporary, file).map_err(|e| fail("replace it", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("conversations/clip.json");
        let mut trace = ReasoningTrace::new();
        trace.push_token(
            0,
            TraceDelta::new(TracePhase::Thinking, "<think>hm</think>"),
        );
        trace.push_token(1, TraceDelta::new(TracePhase::Answer, "Two people."));
        trace.set_status(TraceStatus::Finished);
        trace.set_timing(GenerationTiming {
            prompt_tokens: 12,
            prefill: Duration::from_millis(30),
            generated_tokens: 2,
            decode: Duration::from_millis(10),
        });
        let turns = vec![AskTurn {
            question: "How many?".into(),
            thinking: ThinkingChoice::Think,
            trace,
        }];
        save_history(&file, Path::new("/videos/clip.mp4"), &turns).expect("saved");
        let restored = load_history(&file).expect("loaded");
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0].question, "How many?");
        assert_eq!(restored[0].thinking, ThinkingChoice::Think);
        assert_eq!(restored[0].trace.text(TracePhase::Answer), "Two people.");
        assert_eq!(
            restored[0].trace.text(TracePhase::Thinking),
            "<think>hm</think>"
        );
        assert_eq!(
            restored[0].trace.timing().map(|t| t.prompt_tokens),
            Some(12)
        );
        assert!(!file.with_extension("json.partial").exists());
    }

    #[test]
    fn a_damaged_history_file_is_reported_not_overwritten_silently() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("clip.json");
        std::fs::write(&file, "{ not json").expect("write");
        let error = load_history(&file).expect_err("damaged");
        assert!(error.contains("clip.json"), "{error}");
        assert_eq!(load_history(&dir.path().join("none.json")), Ok(Vec::new()));
    }

    /// A two-frame video of 1x2 merged tokens each, and two generated tokens whose layer-0
    /// attention looks at frame 0's right token and at frame 1's left token.
    fn controller_with_capture() -> AskController {
        use keye_model::generate::{
            LayerAttention, MediaGrid, MediaKind, VisionTokenMap, VisionTokenRef,
        };
        let vision = VisionTokenMap {
            media: vec![MediaGrid {
                kind: MediaKind::Video,
                frames: vec![(1, 2), (1, 2)],
            }],
            positions: vec![5, 6, 7, 8],
            refs: (0..4)
                .map(|i| VisionTokenRef {
                    media: 0,
                    frame: i / 2,
                    row: 0,
                    col: i % 2,
                })
                .collect(),
        };
        let token = |step: usize, mean: Vec<f32>| {
            let frame_totals = frame_totals(&vision, &mean);
            (
                step,
                TokenAttention {
                    step,
                    token: 1,
                    layers: vec![LayerAttention {
                        layer: 0,
                        mean,
                        per_head: None,
                        frame_totals,
                    }],
                },
            )
        };
        let tokens = BTreeMap::from([
            token(0, vec![0.1, 0.3, 0.0, 0.0]),
            token(1, vec![0.0, 0.0, 0.6, 0.2]),
        ]);
        let media = vec![MediaFrames {
            path: PathBuf::from("clip.mp4"),
            encoder: Some(VideoEncoderKind::Keye15),
            frames: vec![
                inference::FrameRef {
                    index: 0,
                    time: 0.0,
                    end: 1.0,
                },
                inference::FrameRef {
                    index: 30,
                    time: 1.0,
                    end: 2.0,
                },
            ],
        }];
        let mut controller = AskController::default();
        let mut trace = ReasoningTrace::new();
        trace.push_token(0, TraceDelta::new(TracePhase::Answer, "A"));
        trace.push_token(1, TraceDelta::new(TracePhase::Answer, " dog"));
        trace.set_status(TraceStatus::Finished);
        controller.panel.set_turns(vec![AskTurn {
            question: "Where?".into(),
            thinking: ThinkingChoice::Auto,
            trace,
        }]);
        controller.attention = vec![Some(TurnAttention {
            vision,
            media,
            tokens,
        })];
        controller
    }

    #[test]
    fn the_overlay_is_the_selected_tokens_map_on_the_frame_under_the_playhead() {
        let mut controller = controller_with_capture();
        assert!(controller.overlay(0.5).is_none(), "nothing selected");
        controller.panel.select(Some(TokenSelection {
            turn: 0,
            steps: 0..=0,
        }));
        let first = controller.overlay(0.5).expect("map of token 0 on frame 0");
        assert_eq!((first.grid.rows, first.grid.cols), (1, 2));
        let [left, right] = first.grid.values[..] else {
            panic!("two values: {:?}", first.grid.values);
        };
        assert!(
            (left - 1.0 / 3.0).abs() < 1e-6 && right == 1.0,
            "{left} {right}"
        );
        let again = controller.overlay(0.7).expect("same frame");
        assert_eq!(
            again.generation, first.generation,
            "unchanged: no new upload"
        );
        let second = controller.overlay(1.5).expect("frame 1");
        assert_ne!(second.generation, first.generation);
        assert_eq!(
            second.grid.values,
            [0.0, 0.0],
            "token 0 did not look at frame 1"
        );
        // Past the end, the nearest frame.
        assert_eq!(
            controller.overlay(9.0).map(|o| o.grid.values.clone()),
            Some(second.grid.values.to_vec())
        );
    }

    #[test]
    fn the_tracks_show_the_sampled_frames_and_the_selection_attention_mass() {
        let mut controller = controller_with_capture();
        controller.panel.select(Some(TokenSelection {
            turn: 0,
            steps: 0..=1,
        }));
        let mut tracks = ModelTracks::default();
        controller.update_tracks(&mut tracks);
        assert_eq!(tracks.sampled_frames, [0.0, 1.0]);
        let tokens: Vec<f32> = tracks.tokens_per_frame.iter().map(|v| v.value).collect();
        assert_eq!(tokens, [2.0, 2.0]);
        let mass: Vec<f32> = tracks.attention_mass.iter().map(|v| v.value).collect();
        // Mean of the two tokens: frame 0 gets (0.4 + 0) / 2, frame 1 (0 + 0.8) / 2.
        assert!(
            (mass[0] - 0.2).abs() < 1e-6 && (mass[1] - 0.4).abs() < 1e-6,
            "{mass:?}"
        );
        assert_eq!(tracks.most_attended(), Some(1.0));
        controller.heatmap.aggregation = keye_ui::Aggregation::Max;
        controller.update_tracks(&mut tracks);
        let mass: Vec<f32> = tracks.attention_mass.iter().map(|v| v.value).collect();
        assert!(
            (mass[0] - 0.4).abs() < 1e-6 && (mass[1] - 0.8).abs() < 1e-6,
            "{mass:?}"
        );
    }

    fn tiny_model_and_video() -> (Arc<LoadedModel>, PathBuf) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = Arc::new(
            LoadedModel::load(
                &root.join("tests/fixtures/models/keye-1.5-tiny"),
                Default::default(),
                None,
                None,
            )
            .expect("tiny checkpoint"),
        );
        (model, root.join("assets/sample-16x9.mp4"))
    }

    /// A controller on `video` with the model ready, keeping no history file (the test must not
    /// write into the developer's data folder).
    fn ready_controller(model: &Arc<LoadedModel>, video: &Path) -> AskController {
        let mut controller = AskController {
            video: Some((video.to_path_buf(), None)),
            ..AskController::default()
        };
        controller.update_availability(Some(model), false, true);
        controller
    }

    /// Polls like the UI does until the ask ends.
    fn poll_until_done(controller: &mut AskController, toasts: &mut Toasts) {
        let ctx = egui::Context::default();
        let started = Instant::now();
        while controller.is_running() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no end in 2 min"
            );
            controller.poll(&ctx, toasts);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The real path: the tiny checkpoint, the sample video, the panel's Ask, the event pump.
    #[test]
    fn asking_the_tiny_model_streams_every_token_into_the_panel() {
        let (model, video) = tiny_model_and_video();
        let mut toasts = Toasts::default();
        let mut controller = ready_controller(&model, &video);
        controller.panel.sampling.max_new_tokens = 12;
        controller.panel.thinking = ThinkingChoice::NoThink;
        assert!(controller.ask_now("What moves?", Some(&model), &mut toasts));
        assert!(controller.is_running());
        poll_until_done(&mut controller, &mut toasts);
        assert!(toasts.items().is_empty(), "{:?}", toasts.items());
        let turn = &controller.panel.turns()[0];
        assert_eq!(*turn.trace.status(), TraceStatus::Finished);

        // The same question straight through inference: every character arrived, in order.
        let mut sampling = model.runtime.sampling.clone();
        sampling.max_new_tokens = 12;
        let direct = inference::spawn_ask(
            Arc::clone(&model),
            Question {
                media: vec![video],
                history: Vec::new(),
                text: "What moves?".into(),
                system: None,
                thinking: ThinkingMode::NoThink,
                sampling,
                capture: None,
                budget: model.default_budget(),
            },
        )
        .join()
        .expect("direct ask");
        let streamed: String = turn
            .trace
            .sections()
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(streamed, direct.summary.text);
        let timing = turn.trace.timing().expect("timing");
        assert_eq!(timing.generated_tokens, direct.summary.timing.decode_steps);
        assert!(timing.prompt_tokens > 0);

        // Every token with text is selectable and its attention was captured.
        let attention = controller.turn_attention(0).expect("capture");
        for section in turn.trace.sections() {
            for piece in &section.pieces {
                let step = piece.step.expect("streamed text has its step");
                assert!(attention.tokens.contains_key(&step), "step {step}");
            }
        }
        assert!(
            controller.panel.selection().is_some(),
            "the answer is selected"
        );
        assert!(
            controller.overlay(0.0).is_some(),
            "a map on the first frame"
        );
        let mut tracks = ModelTracks::default();
        controller.update_tracks(&mut tracks);
        assert!(!tracks.sampled_frames.is_empty());
        assert_eq!(tracks.attention_mass.len(), tracks.sampled_frames.len());
        assert!(tracks.most_attended().is_some());
    }

    #[test]
    fn stop_ends_the_turn_as_stopped_without_an_error() {
        let (model, video) = tiny_model_and_video();
        let mut toasts = Toasts::default();
        let mut controller = ready_controller(&model, &video);
        assert!(controller.ask_now("What moves?", Some(&model), &mut toasts));
        controller.handle(AskAction::Stop, Some(&model), &mut toasts);
        poll_until_done(&mut controller, &mut toasts);
        assert!(toasts.items().is_empty(), "{:?}", toasts.items());
        let status = controller.panel.turns()[0].trace.status().clone();
        assert_eq!(status, TraceStatus::Stopped);
        assert_eq!(*controller.panel.availability(), AskAvailability::Ready);
        assert!(!controller.panel.is_running(), "asking again is possible");
    }

    #[test]
    fn captured_layers_spread_over_the_decoder() {
        assert_eq!(capture_layers(36), [0, 18, 35]);
        assert_eq!(capture_layers(2), [0, 1]);
        assert_eq!(capture_layers(1), [0]);
    }
}
