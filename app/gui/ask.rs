//! The ask controller: wires the ask panel to the app's [`Conversation`] (the session keeps the
//! turns, pumps the worker's events and does the attention arithmetic), keeps the estimate of
//! the next question's cost current, and draws: the conversation, the question box and
//! settings, the heatmap controls, and the overlay of the focused tokens' map.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eframe::egui;
use keye_ui::{
    AskAction, AskAvailability, AskPanel, AskRequest, CaptureControls, ConversationView,
    EvidenceAction, EvidenceControls, HeatmapControls, ModelTracks, NO_MODEL_HINT,
    REMOTE_ATTENTION_NOTE, Toasts, TokenSelection, TracePhase, TraceStatus,
};

use super::heatmap_view::HeatOverlay;
use super::server::Connection;
use crate::inference::{self, LoadedModel, Question};
use crate::remote::spawn_remote_ask;
use crate::session::conversation::estimate::{Estimator, Inputs};
use crate::session::conversation::request::{
    budget_settings, knob_label, question_for, remote_question_for, sampling_settings,
};
use crate::session::conversation::{Conversation, Failure, history_file};
use crate::session::evidence::EvidenceSession;
use crate::video::IndexedVideo;

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
    /// The open video's conversation.
    conversation: Conversation,
    /// The open video.
    video: Option<PathBuf>,
    /// The open video once the player has indexed it: the estimate and the ask worker read its
    /// frame index instead of scanning the file again.
    indexed: Option<IndexedVideo>,
    /// Where conversations are kept (`None`: nowhere, as in tests).
    data_dir: Option<PathBuf>,
    overlay: Option<(OverlayKey, HeatOverlay)>,
    overlay_generation: u64,
    /// What the attention track was last filled for.
    tracks_for: Option<(Option<TokenSelection>, HeatmapControls, usize)>,
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
    /// Which frames mattered for an answer: the inspector's choices and the job's state.
    pub evidence_controls: EvidenceControls,
    evidence: EvidenceSession,
    /// The evidence map on the frame, computed once per change of turn, controls, frame or
    /// result, with its sink cells.
    evidence_overlay: Option<(EvidenceKey, HeatOverlay)>,
    /// A time the inspector's frame list asked to seek to.
    seek: Option<f64>,
}

#[derive(Clone, PartialEq)]
struct EvidenceKey {
    turn: usize,
    controls: EvidenceControls,
    frame: usize,
    version: usize,
}

impl Default for AskController {
    fn default() -> Self {
        Self {
            panel: AskPanel::new(),
            heatmap: HeatmapControls::default(),
            conversation: Conversation::new(knob_label),
            video: None,
            indexed: None,
            data_dir: eframe::storage_dir("keye-studio"),
            overlay: None,
            overlay_generation: 0,
            tracks_for: None,
            sampling_from: None,
            capture: CaptureControls::default(),
            estimator: Estimator::default(),
            model: None,
            remote: None,
            evidence_controls: EvidenceControls::default(),
            evidence: EvidenceSession::default(),
            evidence_overlay: None,
            seek: None,
        }
    }
}

impl AskController {
    pub fn is_running(&self) -> bool {
        self.conversation.is_running()
    }

    /// The open video's conversation, as the panel draws it.
    pub fn conversation(&self) -> &Conversation {
        &self.conversation
    }

    /// Switches to `video`'s conversation (restored from disk), stopping a running ask.
    pub fn set_video(&mut self, video: Option<&Path>, toasts: &mut Toasts) {
        if self.video.as_deref() == video {
            return;
        }
        self.overlay = None;
        self.tracks_for = None;
        self.evidence.clear();
        self.evidence_overlay = None;
        self.panel.clear_selection();
        self.video = video.map(Path::to_path_buf);
        // The old conversation's running turn, if any, is cancelled before it is dropped.
        self.conversation.stop();
        self.conversation = match (video, &self.data_dir) {
            (Some(video), Some(data_dir)) => {
                let file = history_file(data_dir, video);
                let (conversation, problem) = Conversation::restore(file, video, knob_label);
                if let Some(problem) = problem {
                    toasts.error(problem);
                }
                conversation
            }
            _ => Conversation::new(knob_label),
        };
    }

    /// The open video as the player indexed it (`None` until it has, or with no video).
    pub fn set_indexed(&mut self, video: Option<&IndexedVideo>) {
        let same = match (&self.indexed, video) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.indexed = video.cloned();
        }
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
            self.panel.sampling = sampling_settings(&model.runtime.sampling);
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
        match self.panel.submit(self.conversation.is_running()) {
            Some(action) => {
                self.handle(action, model, toasts);
                true
            }
            None => false,
        }
    }

    /// The conversation, scrolling and following the stream.
    pub fn conversation_ui(&mut self, ui: &mut egui::Ui) {
        let view = ConversationView {
            turns: self.conversation.turns(),
            preparing: self.conversation.preparing(),
        };
        let panel = &mut self.panel;
        egui::ScrollArea::vertical()
            .id_salt("ask-conversation")
            .stick_to_bottom(true)
            .auto_shrink(false)
            .show(ui, |ui| panel.conversation_ui(ui, &view));
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
        let view = ConversationView {
            turns: self.conversation.turns(),
            preparing: self.conversation.preparing(),
        };
        if let Some(action) = self.panel.question_ui(ui, &view) {
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
                let jump = self.heatmap_ui(ui);
                self.evidence_ui(ui, toasts);
                jump
            })
            .inner
    }

    /// The turn the evidence inspector is about: the focused turn, else the latest finished one.
    fn evidence_turn(&self) -> Option<usize> {
        let finished = |t: &&crate::session::conversation::ConversationTurn| {
            *t.view.trace.status() == TraceStatus::Finished
        };
        self.panel
            .focus()
            .map(|f| f.turn)
            .filter(|&t| {
                self.conversation
                    .turns()
                    .get(t)
                    .is_some_and(|t| finished(&t))
            })
            .or_else(|| self.conversation.turns().iter().rposition(|t| finished(&t)))
    }

    /// The evidence inspector: aggregation, sinks, "Test frames" and the frames it ranked.
    fn evidence_ui(&mut self, ui: &mut egui::Ui, toasts: &mut Toasts) {
        let turn = self.evidence_turn();
        let can_test = turn.is_some() && self.model.is_some() && self.indexed.is_some();
        let view = self.evidence.view(turn, &self.evidence_controls, can_test);
        let action = egui::CollapsingHeader::new("Evidence: which frames mattered")
            .id_salt("ask-evidence")
            .show(ui, |ui| self.evidence_controls.ui(ui, &view))
            .body_returned
            .flatten();
        match action {
            Some(EvidenceAction::TestFrames) => {
                if let (Some(turn), Some(model)) = (turn, self.model.clone()) {
                    match self.evidence_request(turn, &model) {
                        Ok(request) => self.evidence.start(model, request, turn),
                        Err(problem) => toasts.error(format!("Testing frames: {problem}")),
                    }
                }
            }
            Some(EvidenceAction::Cancel) => self.evidence.cancel(),
            Some(EvidenceAction::Seek(time)) => self.seek = Some(time),
            Some(EvidenceAction::Changed) => self.tracks_for = None,
            None => {}
        }
    }

    /// The evidence job's request for `turn`: its question as asked (the finished turns before
    /// it as history, the panel's budget), and its answer's tokens when they were captured
    /// (otherwise the job generates the answer again with the panel's sampling).
    fn evidence_request(
        &self,
        turn: usize,
        model: &LoadedModel,
    ) -> Result<crate::evidence::EvidenceRequest, String> {
        let Some(video) = &self.indexed else {
            return Err("no video is open".to_owned());
        };
        let turns = self.conversation.turns();
        let asked = &turns.get(turn).ok_or("no such turn")?.view;
        let history = turns[..turn]
            .iter()
            .map(|t| &t.view)
            .filter(|v| *v.trace.status() == TraceStatus::Finished)
            .map(|v| inference::Turn {
                question: v.question.clone(),
                answer: v.trace.text(TracePhase::Answer),
            })
            .collect();
        let mut request = self.panel.request(asked.question.clone());
        request.thinking = asked.thinking;
        let question = question_for(&request, model, video, history, [], false)?;
        let stops = &model.runtime.sampling.stop_ids;
        let answer = self.conversation.attention(turn).map(|attention| {
            attention
                .tokens
                .values()
                .map(|t| t.token)
                .filter(|id| !stops.contains(id))
                .collect::<Vec<_>>()
        });
        // One selected token of this turn: its maps (the gradient of its own log-probability);
        // otherwise the whole answer's.
        let answer = answer.filter(|a| !a.is_empty());
        let target = match self.panel.focus() {
            Some(focus)
                if focus.turn == turn
                    && focus.steps.start() == focus.steps.end()
                    && answer
                        .as_ref()
                        .is_some_and(|a| *focus.steps.start() < a.len()) =>
            {
                keye_model::evidence::Target::Step(*focus.steps.start())
            }
            _ => keye_model::evidence::Target::Answer,
        };
        Ok(crate::evidence::EvidenceRequest {
            question,
            answer,
            target,
            deletion: true,
        })
    }

    /// A time the evidence list asked to seek to, once.
    pub fn take_seek(&mut self) -> Option<f64> {
        self.seek.take()
    }

    /// Which layers to capture and the heatmap's controls.
    fn heatmap_ui(&mut self, ui: &mut egui::Ui) -> bool {
        let focus = self.panel.focus();
        let captured = self.conversation.captured(focus.as_ref());
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
            .conversation
            .turns()
            .get(selection.turn)
            .map(|turn| turn.view.trace.steps_text(&selection.steps))
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

    fn handle(&mut self, action: AskAction, model: Option<&Arc<LoadedModel>>, toasts: &mut Toasts) {
        match action {
            AskAction::Ask(request) => self.start(request, model, toasts),
            AskAction::Stop => self.conversation.stop(),
            AskAction::ClearHistory => {
                self.overlay = None;
                self.tracks_for = None;
                self.evidence.clear();
                self.evidence_overlay = None;
                if let Some(problem) = self.conversation.clear() {
                    toasts.error(problem);
                }
            }
        }
    }

    fn start(
        &mut self,
        request: AskRequest,
        model: Option<&Arc<LoadedModel>>,
        toasts: &mut Toasts,
    ) {
        let Some(model) = model else {
            match self.remote.clone() {
                Some(connection) => self.start_remote(request, &connection),
                None => self.conversation.fail_to_start(
                    request.question,
                    request.thinking,
                    "no model is loaded".to_owned(),
                ),
            }
            return;
        };
        match self.question_for(&request, model) {
            Ok(question) => {
                let handle = inference::spawn_ask(Arc::clone(model), question);
                self.conversation
                    .start(request.question, request.thinking, handle);
            }
            Err(problem) => {
                toasts.error(problem.clone());
                self.conversation
                    .fail_to_start(request.question, request.thinking, problem);
            }
        }
    }

    /// Asks the connected server: the same events as a local ask (without attention), pumped
    /// by the same conversation.
    fn start_remote(&mut self, request: AskRequest, connection: &Connection) {
        let Some(video) = &self.video else {
            self.conversation.fail_to_start(
                request.question,
                request.thinking,
                "no video is open".to_owned(),
            );
            return;
        };
        let question = remote_question_for(
            &request,
            connection.model.clone(),
            video,
            self.conversation.history(),
        );
        let handle = spawn_remote_ask(connection.server.clone(), question);
        self.conversation
            .start(request.question, request.thinking, handle);
    }

    /// The question `request` asks of `model` about the open video: the finished turns as
    /// history, the panel's sampling and budget, the chosen capture layers.
    fn question_for(&self, request: &AskRequest, model: &LoadedModel) -> Result<Question, String> {
        let Some(video) = &self.indexed else {
            return Err("no video is open".to_owned());
        };
        question_for(
            request,
            model,
            video,
            self.conversation.history(),
            self.capture.layers.iter().copied(),
            self.heatmap.capture_per_head,
        )
    }

    /// Keeps the estimate of the next question current, and pumps the running ask's events into
    /// the conversation; repaints while it runs.
    pub fn poll(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        self.update_estimate(ctx);
        if self.evidence.is_running() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        if self.evidence.pump() {
            self.tracks_for = None;
            self.evidence_overlay = None;
            for turn in 0..self.conversation.turns().len() {
                if let Some(evidence) = self.evidence.result_for(turn) {
                    let shares = evidence.vision_share.clone();
                    self.conversation.set_vision_share(turn, shares);
                }
            }
        }
        if !self.conversation.is_running() {
            return;
        }
        // Ten updates a second read as live text and leave the CPU to the model.
        ctx.request_repaint_after(Duration::from_millis(100));
        let Some(end) = self.conversation.pump(&mut |_| {}) else {
            return;
        };
        match &end.failure {
            Some(Failure::Preparing(message)) => toasts.error(format!("Asking failed: {message}")),
            Some(Failure::Generating(message)) => {
                toasts.error(format!("Generation failed: {message}"));
            }
            None => {}
        }
        if let Some(problem) = end.save_problem {
            toasts.error(problem);
        }
        if let Some(shares) = self
            .conversation
            .attention(end.turn)
            .map(|a| a.vision_share())
        {
            self.conversation.set_vision_share(end.turn, shares);
        }
        // Until the user picks tokens, the map shows the whole answer.
        if matches!(end.status, TraceStatus::Finished | TraceStatus::Stopped)
            && self.panel.selection().is_none()
            && let Some(steps) = self
                .conversation
                .turns()
                .get(end.turn)
                .and_then(|t| t.view.trace.steps_of(TracePhase::Answer))
        {
            self.panel.select(Some(TokenSelection {
                turn: end.turn,
                steps,
            }));
        }
    }

    /// Fills the timeline tracks from the focused (or latest) turn: sampled frames, SlowFast,
    /// chunks, tokens per frame, and the selected tokens' attention mass per frame.
    pub fn update_tracks(&mut self, tracks: &mut ModelTracks) {
        let focus = self.panel.focus();
        let key = (
            focus.clone(),
            self.heatmap.clone(),
            self.conversation.attention_version(),
        );
        if self.tracks_for.as_ref() == Some(&key) {
            return;
        }
        self.tracks_for = Some(key);
        self.conversation
            .fill_tracks(focus.as_ref(), &self.heatmap, tracks);
        tracks.evidence = self.evidence.track(self.evidence_turn());
    }

    /// The heatmap on the decoder frame under the playhead, if any: the evidence map of the
    /// chosen aggregation (with its sink cells) when there is one to show, else the focused
    /// tokens' attention.
    pub fn overlay(&mut self, playhead: f64) -> Option<HeatOverlay> {
        if !self.heatmap.visible {
            return None;
        }
        if self.evidence_controls.show_on_frame
            && let Some(turn) = self.evidence_turn()
            && let Some(frame) = self.evidence.frame_at(turn, playhead)
        {
            let key = EvidenceKey {
                turn,
                controls: self.evidence_controls.clone(),
                frame,
                version: self.evidence.version(),
            };
            if let Some((cached, overlay)) = &mut self.evidence_overlay
                && *cached == key
            {
                overlay.opacity = self.heatmap.opacity;
                return Some(overlay.clone());
            }
            let (grid, sinks) = self.evidence.grid(turn, &self.evidence_controls, frame)?;
            self.overlay_generation += 1;
            let overlay = HeatOverlay {
                generation: self.overlay_generation,
                grid: Arc::new(grid),
                opacity: self.heatmap.opacity,
                sinks: Arc::new(sinks),
            };
            self.evidence_overlay = Some((key, overlay.clone()));
            return Some(overlay);
        }
        self.token_overlay(playhead)
    }

    /// The heatmap of the focused tokens on the decoder frame under the playhead, if any.
    fn token_overlay(&mut self, playhead: f64) -> Option<HeatOverlay> {
        let selection = self.panel.focus()?;
        let frame = self.conversation.heat_frame(&selection, playhead)?;
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
        let grid = self
            .conversation
            .heat_grid(&key.selection, &self.heatmap, frame)?;
        self.overlay_generation += 1;
        let overlay = HeatOverlay {
            generation: self.overlay_generation,
            grid: Arc::new(grid),
            opacity: self.heatmap.opacity,
            sinks: Arc::default(),
        };
        self.overlay = Some((key, overlay.clone()));
        Some(overlay)
    }

    fn update_estimate(&mut self, ctx: &egui::Context) {
        let panel = &self.panel;
        let conversation = &self.conversation;
        let finished = conversation
            .turns()
            .iter()
            .filter(|t| *t.view.trace.status() == TraceStatus::Finished)
            .count();
        let inputs = Inputs {
            model: self.model.as_ref(),
            video: self.indexed.as_ref(),
            budget: panel.budget,
            max_new_tokens: panel.sampling.max_new_tokens,
            turns: finished,
            question_chars: panel.question.chars().count(),
        };
        // The history goes into the prompt: count its tokens with the question's.
        let prompt_text = || {
            let mut text = String::new();
            for turn in conversation.history() {
                text.push_str(&turn.question);
                text.push('\n');
                text.push_str(&turn.answer);
                text.push('\n');
            }
            text.push_str(&panel.question);
            text
        };
        let wake = ctx.clone();
        let again = self
            .estimator
            .update(inputs, prompt_text, move || wake.request_repaint());
        if let Some(after) = again {
            ctx.request_repaint_after(after);
        }
        if self.panel.estimate != self.estimator.view {
            self.panel.estimate = self.estimator.view.clone();
        }
    }
}

#[cfg(test)]
mod tests;
