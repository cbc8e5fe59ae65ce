//! The conversation about the open video: its turns (each a question and the streamed reasoning
//! and answer, tokens tagged with their phase and generation step), the event pump that takes
//! an ask worker's events into the running turn, each turn's captured attention and the views
//! built from it (heatmap grids, the timeline's tracks), and the history kept per video.
//!
//! Model types become view types here, once: generation events become [`TraceDelta`]s and
//! [`GenerationTiming`], a refusal becomes a message naming the front end's knobs. The GUI and
//! the CLI's `ask` drive the same pump; only what they show differs.

mod attention;
pub mod estimate;
mod history;
pub mod request;

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use keye_model::budget::Knob;
use keye_model::generate::{GenerationEvent, GenerationOutput, Phase, StopReason};
use keye_ui::{
    AskTurn, CapturedLayers, GenerationTiming, HeatGrid, HeatmapControls, ModelTracks,
    ReasoningTrace, ThinkingChoice, TokenSelection, TraceDelta, TracePhase, TraceStatus,
};

pub use attention::TurnAttention;
pub use history::history_file;
use history::{load_history, save_history};

use crate::inference::{AskEvent, AskHandle, InferenceError, Turn};

/// One question and what came back: the view the ask panel draws, and what the generation
/// captured of its attention (in memory only; restored and failed turns have none).
#[derive(Debug, Clone)]
pub struct ConversationTurn {
    pub view: AskTurn,
    pub attention: Option<TurnAttention>,
}

impl Borrow<AskTurn> for ConversationTurn {
    fn borrow(&self) -> &AskTurn {
        &self.view
    }
}

/// Why a turn failed, for each front end to tell in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Reading, sampling or encoding the media failed, or the budget refused the question.
    Preparing(String),
    /// The model failed while generating.
    Generating(String),
}

/// How a turn ended, handed back once by [`Conversation::pump`] / [`Conversation::wait`].
#[derive(Debug)]
pub struct TurnEnd {
    pub turn: usize,
    /// The turn's final status (finished, stopped, or failed with its message).
    pub status: TraceStatus,
    pub failure: Option<Failure>,
    /// The history could not be written (the message names the file).
    pub save_problem: Option<String>,
    /// The worker's result: the generation's output with its attention capture, or its error.
    pub output: Result<GenerationOutput, InferenceError>,
}

/// A turn being answered.
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

/// Where a conversation is kept between runs.
#[derive(Debug, Clone)]
struct Kept {
    file: PathBuf,
    video: PathBuf,
}

/// One conversation: its turns, the turn being answered, and where it is kept.
pub struct Conversation {
    turns: Vec<ConversationTurn>,
    running: Option<Running>,
    /// Video preparation of the running turn: stage and fraction.
    preparing: Option<(String, f32)>,
    kept: Option<Kept>,
    /// Bumped whenever a turn's capture changes, so views built from it are rebuilt.
    attention_version: usize,
    /// How a refusal names the knobs to turn (the GUI's field labels, the CLI's flags).
    knob_name: fn(Knob) -> String,
}

impl Conversation {
    /// An empty conversation kept nowhere; refusals name the knobs with `knob_name`.
    pub fn new(knob_name: fn(Knob) -> String) -> Self {
        Self {
            turns: Vec::new(),
            running: None,
            preparing: None,
            kept: None,
            attention_version: 0,
            knob_name,
        }
    }

    /// A conversation of `turns` kept nowhere (restored elsewhere, or made by hand).
    pub fn from_turns(turns: Vec<ConversationTurn>, knob_name: fn(Knob) -> String) -> Self {
        Self {
            turns,
            ..Self::new(knob_name)
        }
    }

    /// The conversation about `video` kept in `file` (see [`history_file`]), restored from it.
    /// A history that cannot be read is reported and left as it is; the conversation starts
    /// empty.
    pub fn restore(
        file: PathBuf,
        video: &Path,
        knob_name: fn(Knob) -> String,
    ) -> (Self, Option<String>) {
        let (turns, problem) = match load_history(&file) {
            Ok(turns) => (turns, None),
            Err(problem) => (Vec::new(), Some(problem)),
        };
        let mut conversation = Self::new(knob_name);
        conversation.turns = turns
            .into_iter()
            .map(|view| ConversationTurn {
                view,
                attention: None,
            })
            .collect();
        conversation.kept = Some(Kept {
            file,
            video: video.to_path_buf(),
        });
        (conversation, problem)
    }

    pub fn turns(&self) -> &[ConversationTurn] {
        &self.turns
    }

    /// Whether a turn is being answered.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The running turn's video preparation: stage and fraction done.
    pub fn preparing(&self) -> Option<(&str, f32)> {
        self.preparing
            .as_ref()
            .map(|(stage, fraction)| (stage.as_str(), *fraction))
    }

    /// Bumped whenever a turn's captured attention changes.
    pub fn attention_version(&self) -> usize {
        self.attention_version
    }

    /// Sets `turn`'s share of attention on the video per generation step (from its evidence),
    /// drawn as a thin track under its trace.
    pub fn set_vision_share(&mut self, turn: usize, shares: Vec<f32>) {
        if let Some(turn) = self.turns.get_mut(turn) {
            turn.view.trace.set_vision_share(shares);
        }
    }

    /// The finished turns, as the next question's history (failed and stopped turns are left
    /// out: the model never saw a complete answer to them).
    pub fn history(&self) -> Vec<Turn> {
        self.turns
            .iter()
            .map(|turn| &turn.view)
            .filter(|view| *view.trace.status() == TraceStatus::Finished)
            .map(|view| Turn {
                question: view.question.clone(),
                answer: view.trace.text(TracePhase::Answer),
            })
            .collect()
    }

    /// Starts a turn asking `question`, answered by the worker behind `handle` (a local model
    /// or a server); a running turn is stopped first. Returns the turn's index.
    pub fn start(
        &mut self,
        question: String,
        thinking: ThinkingChoice,
        handle: AskHandle,
    ) -> usize {
        self.stop_running();
        let turn = self.push_turn(question, thinking);
        self.running = Some(Running {
            handle,
            turn,
            step: 0,
            prompt_tokens: 0,
            prefill: Duration::ZERO,
            decode_started: None,
            stop_requested: false,
        });
        turn
    }

    /// Records a question that could not be sent (no model, invalid settings) as a failed turn.
    pub fn fail_to_start(&mut self, question: String, thinking: ThinkingChoice, problem: String) {
        let turn = self.push_turn(question, thinking);
        self.turns[turn]
            .view
            .trace
            .set_status(TraceStatus::Failed(problem));
    }

    fn push_turn(&mut self, question: String, thinking: ThinkingChoice) -> usize {
        self.preparing = None;
        self.turns.push(ConversationTurn {
            view: AskTurn {
                question,
                thinking,
                trace: ReasoningTrace::new(),
            },
            attention: None,
        });
        self.turns.len() - 1
    }

    /// Asks the running turn to stop; it ends as stopped, whatever the worker says then.
    pub fn stop(&mut self) {
        if let Some(running) = &mut self.running {
            running.stop_requested = true;
            running.handle.cancel();
        }
    }

    /// A flag that stops the running turn when set (the CLI's Ctrl-C).
    pub fn cancel_flag(&self) -> Option<Arc<AtomicBool>> {
        self.running.as_ref().map(|r| r.handle.cancel_flag())
    }

    /// Cancels the running turn without waiting for it (another video, a cleared conversation).
    fn stop_running(&mut self) {
        if let Some(running) = self.running.take() {
            running.handle.cancel();
        }
        self.preparing = None;
    }

    /// Forgets every turn and writes the empty history. Returns a save problem, if any.
    pub fn clear(&mut self) -> Option<String> {
        self.stop_running();
        self.turns.clear();
        self.attention_version += 1;
        self.save()
    }

    /// Takes every event the worker has sent so far into the running turn; `observe` sees each
    /// one first (the CLI prints them). Returns the end of the turn once, when it ends.
    pub fn pump(&mut self, observe: &mut dyn FnMut(&AskEvent)) -> Option<TurnEnd> {
        loop {
            let running = self.running.as_ref()?;
            let event = match running.handle.events.try_recv() {
                Ok(event) => Some(event),
                Err(crossbeam_channel::TryRecvError::Empty) => return None,
                Err(crossbeam_channel::TryRecvError::Disconnected) => None,
            };
            if let Some(end) = self.take(event, observe) {
                return Some(end);
            }
        }
    }

    /// Like [`Self::pump`], blocking until the running turn ends; `None` when none runs.
    pub fn wait(&mut self, observe: &mut dyn FnMut(&AskEvent)) -> Option<TurnEnd> {
        loop {
            let running = self.running.as_ref()?;
            let event = running.handle.events.recv().ok();
            if let Some(end) = self.take(event, observe) {
                return Some(end);
            }
        }
    }

    /// Applies one event of the running turn (`None`: the worker went away); the turn's end when
    /// this event ends it.
    fn take(
        &mut self,
        event: Option<AskEvent>,
        observe: &mut dyn FnMut(&AskEvent),
    ) -> Option<TurnEnd> {
        let Some(event) = event else {
            let (status, failure) = if self.is_streaming() {
                let status =
                    TraceStatus::Failed("the ask worker stopped without an answer".to_owned());
                self.finish(status.clone());
                (status, None)
            } else {
                (self.last_status(), None)
            };
            return self.end(status, failure);
        };
        observe(&event);
        let running = self.running.as_mut()?;
        let turn = running.turn;
        match event {
            AskEvent::Preparing { stage, done, total } => {
                let fraction = if total > 0 {
                    done as f32 / total as f32
                } else {
                    0.0
                };
                self.preparing = Some((stage, fraction.clamp(0.0, 1.0)));
                None
            }
            AskEvent::Prepared {
                vision,
                media,
                prompt_tokens,
            } => {
                running.prompt_tokens = prompt_tokens;
                if let Some(slot) = self.turns.get_mut(turn) {
                    slot.attention = Some(TurnAttention {
                        vision,
                        media,
                        tokens: BTreeMap::new(),
                    });
                }
                self.attention_version += 1;
                self.preparing = Some(("prefilling the prompt".to_owned(), 1.0));
                None
            }
            AskEvent::Generation(event) => self.take_generation(event),
            AskEvent::Failed(message) => self.fail(Failure::Preparing(message)),
            AskEvent::Refused(refusal) => {
                let message = refusal.describe(&|knob| (self.knob_name)(knob));
                self.fail(Failure::Preparing(message))
            }
        }
    }

    fn take_generation(&mut self, event: GenerationEvent) -> Option<TurnEnd> {
        let running = self.running.as_mut()?;
        let turn = running.turn;
        match event {
            GenerationEvent::Prefilled {
                prompt_tokens,
                prefill_ms,
            } => {
                running.prompt_tokens = prompt_tokens;
                running.prefill = millis(prefill_ms);
                running.decode_started = Some(Instant::now());
                let timing = GenerationTiming {
                    prompt_tokens,
                    prefill: running.prefill,
                    generated_tokens: 0,
                    decode: Duration::ZERO,
                };
                self.set_timing(timing);
                None
            }
            GenerationEvent::Token { step, .. } => {
                running.step = step;
                let timing = GenerationTiming {
                    prompt_tokens: running.prompt_tokens,
                    prefill: running.prefill,
                    generated_tokens: step + 1,
                    decode: running
                        .decode_started
                        .map_or(Duration::ZERO, |t| t.elapsed()),
                };
                self.set_timing(timing);
                None
            }
            GenerationEvent::Text { phase, delta } => {
                let step = running.step;
                self.preparing = None;
                if let Some(view) = self.streaming_turn() {
                    view.trace
                        .push_token(step, TraceDelta::new(trace_phase(phase), delta));
                }
                None
            }
            GenerationEvent::Attention(token) => {
                if let Some(Some(attention)) = self.turns.get_mut(turn).map(|t| &mut t.attention) {
                    attention.tokens.insert(token.step, *token);
                    self.attention_version += 1;
                }
                None
            }
            GenerationEvent::Done(summary) => {
                let timing = summary.timing;
                self.set_timing(GenerationTiming {
                    prompt_tokens: timing.prompt_tokens,
                    prefill: millis(timing.prefill_ms),
                    generated_tokens: timing.decode_steps,
                    decode: millis(timing.decode_ms),
                });
                let status = match summary.stop {
                    StopReason::Cancelled => TraceStatus::Stopped,
                    _ => TraceStatus::Finished,
                };
                self.finish(status.clone());
                self.end(status, None)
            }
            GenerationEvent::Error { message } => {
                if running.stop_requested {
                    self.finish(TraceStatus::Stopped);
                    self.end(TraceStatus::Stopped, None)
                } else {
                    let status = TraceStatus::Failed(message.clone());
                    self.finish(status.clone());
                    self.end(status, Some(Failure::Generating(message)))
                }
            }
            GenerationEvent::Phase { .. } | GenerationEvent::Boxed { .. } => None,
        }
    }

    /// Ends the running turn after the worker failed or refused: stopped when the user asked it
    /// to, failed with the message otherwise.
    fn fail(&mut self, failure: Failure) -> Option<TurnEnd> {
        if !self.is_streaming() {
            return self.end(self.last_status(), None);
        }
        let stopped = self.running.as_ref().is_some_and(|r| r.stop_requested);
        if stopped {
            self.finish(TraceStatus::Stopped);
            return self.end(TraceStatus::Stopped, None);
        }
        let (Failure::Preparing(message) | Failure::Generating(message)) = &failure;
        let status = TraceStatus::Failed(message.clone());
        self.finish(status.clone());
        self.end(status, Some(failure))
    }

    /// The running turn is over: joins its worker and keeps the conversation.
    fn end(&mut self, status: TraceStatus, failure: Option<Failure>) -> Option<TurnEnd> {
        self.preparing = None;
        let running = self.running.take()?;
        let output = running.handle.join();
        Some(TurnEnd {
            turn: running.turn,
            status,
            failure,
            save_problem: self.save(),
            output,
        })
    }

    /// The last turn, while it is still streaming.
    fn streaming_turn(&mut self) -> Option<&mut AskTurn> {
        self.turns
            .last_mut()
            .map(|turn| &mut turn.view)
            .filter(|view| *view.trace.status() == TraceStatus::Streaming)
    }

    fn is_streaming(&self) -> bool {
        self.turns
            .last()
            .is_some_and(|turn| *turn.view.trace.status() == TraceStatus::Streaming)
    }

    fn last_status(&self) -> TraceStatus {
        self.turns.last().map_or(TraceStatus::Stopped, |turn| {
            turn.view.trace.status().clone()
        })
    }

    fn set_timing(&mut self, timing: GenerationTiming) {
        if let Some(turn) = self.turns.last_mut() {
            turn.view.trace.set_timing(timing);
        }
    }

    /// Ends the streaming turn; later text is ignored.
    fn finish(&mut self, status: TraceStatus) {
        self.preparing = None;
        if let Some(view) = self.streaming_turn() {
            view.trace.set_status(status);
        }
    }

    /// Writes the conversation where it is kept; the problem, if writing failed.
    fn save(&self) -> Option<String> {
        let kept = self.kept.as_ref()?;
        save_history(&kept.file, &kept.video, &self.turns).err()
    }

    /// The turn whose capture the views show: `focus`'s turn when it has one, else the latest
    /// turn with a capture.
    fn shown_turn(&self, focus: Option<&TokenSelection>) -> Option<usize> {
        focus
            .map(|f| f.turn)
            .filter(|&t| self.attention(t).is_some())
            .or_else(|| self.turns.iter().rposition(|t| t.attention.is_some()))
    }

    /// Turn `turn`'s capture.
    pub fn attention(&self, turn: usize) -> Option<&TurnAttention> {
        self.turns.get(turn)?.attention.as_ref()
    }

    /// The layers (and heads) captured for `focus`'s turn, else for the latest captured turn:
    /// what the heatmap controls offer.
    pub fn captured(&self, focus: Option<&TokenSelection>) -> CapturedLayers {
        focus
            .and_then(|f| self.attention(f.turn))
            .or_else(|| self.turns.iter().rev().find_map(|t| t.attention.as_ref()))
            .map(TurnAttention::captured)
            .unwrap_or_default()
    }

    /// Fills the timeline's model tracks from `focus`'s turn (or the latest captured one):
    /// sampled frames, SlowFast speeds, chunks, tokens per frame, and the focused tokens'
    /// attention mass per frame.
    pub fn fill_tracks(
        &self,
        focus: Option<&TokenSelection>,
        controls: &HeatmapControls,
        tracks: &mut ModelTracks,
    ) {
        let turn = self.shown_turn(focus);
        let Some(attention) = turn.and_then(|t| self.attention(t)) else {
            tracks.sampled_frames.clear();
            tracks.slowfast.clear();
            tracks.chunk_boundaries.clear();
            tracks.tokens_per_frame.clear();
            tracks.attention_mass.clear();
            return;
        };
        attention.fill_structure_tracks(tracks);
        tracks.attention_mass = match focus {
            Some(focus) if Some(focus.turn) == turn => {
                attention.attention_mass(&focus.steps, controls)
            }
            _ => Vec::new(),
        };
    }

    /// The decoder frame of `focus`'s video shown at `playhead` (seconds on the player's clock):
    /// the one spanning it, else the nearest.
    pub fn heat_frame(&self, focus: &TokenSelection, playhead: f64) -> Option<usize> {
        let attention = self.attention(focus.turn)?;
        attention.frame_at(attention.video()?, playhead)
    }

    /// The focused tokens' map over decoder frame `frame` of their turn's video.
    pub fn heat_grid(
        &self,
        focus: &TokenSelection,
        controls: &HeatmapControls,
        frame: usize,
    ) -> Option<HeatGrid> {
        let attention = self.attention(focus.turn)?;
        attention.frame_grid(&focus.steps, controls, attention.video()?, frame)
    }
}

fn trace_phase(phase: Phase) -> TracePhase {
    match phase {
        Phase::Analysis => TracePhase::Analysis,
        Phase::Thinking => TracePhase::Thinking,
        Phase::Answer => TracePhase::Answer,
    }
}

fn millis(ms: f64) -> Duration {
    Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

#[cfg(test)]
pub(crate) mod tests;
