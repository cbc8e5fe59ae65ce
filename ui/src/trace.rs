//! The reasoning trace: phase-tagged text deltas as the model streams them, kept in order and
//! shown as collapsible analysis / thinking / answer sections, so reasoning is never lost and never
//! mixed into the answer. Text that arrives with its generation step stays cut per token, so each
//! token can be hovered, clicked or drag-selected (the attention heatmaps follow the selection).

use std::{ops::RangeInclusive, time::Duration};

/// Which part of a Keye-VL response a piece of text belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TracePhase {
    /// The auto-think analysis of whether to think (`<analysis>` in Keye-VL-1.5).
    Analysis,
    /// The reasoning (`<think>`).
    Thinking,
    /// The answer shown to the user.
    Answer,
}

impl TracePhase {
    pub fn title(self) -> &'static str {
        match self {
            Self::Analysis => "Analysis",
            Self::Thinking => "Thinking",
            Self::Answer => "Answer",
        }
    }
}

/// A piece of streamed text with the phase the generator was in when it produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceDelta {
    pub phase: TracePhase,
    pub text: String,
}

impl TraceDelta {
    pub fn new(phase: TracePhase, text: impl Into<String>) -> Self {
        Self {
            phase,
            text: text.into(),
        }
    }
}

/// Prefill and decode timing of one generation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenerationTiming {
    pub prompt_tokens: usize,
    pub prefill: Duration,
    pub generated_tokens: usize,
    pub decode: Duration,
}

impl GenerationTiming {
    /// Decode speed; `None` before any decode time has passed.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let secs = self.decode.as_secs_f64();
        (secs > 0.0).then(|| self.generated_tokens as f64 / secs)
    }
}

/// Where the generation stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TraceStatus {
    #[default]
    Streaming,
    Finished,
    /// The user pressed Stop; what arrived so far stays.
    Stopped,
    Failed(String),
}

/// Text of one generated token (`step` is its generation step), or text that came without a step
/// (restored history), which is shown but cannot be selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenPiece {
    pub step: Option<usize>,
    pub text: String,
}

/// A run of consecutive deltas of one phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSection {
    pub phase: TracePhase,
    pub text: String,
    /// `text` cut by generation step, in order (their concatenation is `text`).
    pub pieces: Vec<TokenPiece>,
}

impl TraceSection {
    fn append(&mut self, step: Option<usize>, text: &str) {
        self.text.push_str(text);
        match self.pieces.last_mut() {
            Some(last) if last.step == step => last.text.push_str(text),
            _ => self.pieces.push(TokenPiece {
                step,
                text: text.to_owned(),
            }),
        }
    }
}

/// What the pointer did to the tokens of a trace in one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenInteraction {
    /// The token under the pointer.
    pub hovered: Option<usize>,
    /// A token clicked, and whether Shift was held (extend the selection).
    pub clicked: Option<(usize, bool)>,
    /// The token a primary drag started on.
    pub drag_started: Option<usize>,
}

/// One generation's streamed text, in arrival order, grouped into sections.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReasoningTrace {
    sections: Vec<TraceSection>,
    status: TraceStatus,
    timing: Option<GenerationTiming>,
    /// For each generation step, the share of its attention on vision tokens (0..=1), when
    /// evidence was computed for this answer.
    vision_share: Vec<f32>,
}

impl ReasoningTrace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a delta: to the last section when the phase is unchanged, else as a new section.
    /// Empty deltas are dropped (a phase switch with no text yet shows nothing).
    pub fn push(&mut self, delta: TraceDelta) {
        self.push_piece(None, delta);
    }

    /// Like [`push`](Self::push), for text produced at generation step `step`: it stays a
    /// selectable token.
    pub fn push_token(&mut self, step: usize, delta: TraceDelta) {
        self.push_piece(Some(step), delta);
    }

    fn push_piece(&mut self, step: Option<usize>, delta: TraceDelta) {
        if delta.text.is_empty() {
            return;
        }
        match self.sections.last_mut() {
            Some(last) if last.phase == delta.phase => last.append(step, &delta.text),
            _ => {
                let mut section = TraceSection {
                    phase: delta.phase,
                    text: String::new(),
                    pieces: Vec::new(),
                };
                section.append(step, &delta.text);
                self.sections.push(section);
            }
        }
    }

    /// The first and last generation step of `phase`'s text (e.g. the whole answer).
    pub fn steps_of(&self, phase: TracePhase) -> Option<RangeInclusive<usize>> {
        let mut steps = self
            .sections
            .iter()
            .filter(|s| s.phase == phase)
            .flat_map(|s| &s.pieces)
            .filter_map(|p| p.step);
        let first = steps.next()?;
        let last = steps.next_back().unwrap_or(first);
        Some(first..=last)
    }

    /// The text of generation step `step` (all its pieces, whatever their sections).
    pub fn token_text(&self, step: usize) -> String {
        self.steps_text(&(step..=step))
    }

    /// The text of the generation steps in `steps`, in order (one pass over the trace).
    pub fn steps_text(&self, steps: &RangeInclusive<usize>) -> String {
        self.sections
            .iter()
            .flat_map(|s| &s.pieces)
            .filter(|p| p.step.is_some_and(|step| steps.contains(&step)))
            .map(|p| p.text.as_str())
            .collect()
    }

    pub fn sections(&self) -> &[TraceSection] {
        &self.sections
    }

    /// All text of one phase, in order.
    pub fn text(&self, phase: TracePhase) -> String {
        self.sections
            .iter()
            .filter(|s| s.phase == phase)
            .map(|s| s.text.as_str())
            .collect()
    }

    pub fn status(&self) -> &TraceStatus {
        &self.status
    }
    pub fn set_status(&mut self, status: TraceStatus) {
        self.status = status;
    }
    pub fn timing(&self) -> Option<GenerationTiming> {
        self.timing
    }
    pub fn set_timing(&mut self, timing: GenerationTiming) {
        self.timing = Some(timing);
    }

    pub fn vision_share(&self) -> &[f32] {
        &self.vision_share
    }

    /// Sets each step's share of attention on vision tokens, drawn as a thin track under the
    /// trace so a researcher sees where the reasoning stops looking at the video.
    pub fn set_vision_share(&mut self, shares: Vec<f32>) {
        self.vision_share = shares;
    }

    pub fn ui(&self, ui: &mut egui::Ui) {
        self.ui_with_tokens(ui, None);
    }

    /// Draws the trace with the tokens of `highlight` (generation steps) marked, and reports
    /// what the pointer did to the tokens.
    pub fn ui_with_tokens(
        &self,
        ui: &mut egui::Ui,
        highlight: Option<RangeInclusive<usize>>,
    ) -> TokenInteraction {
        let mut interaction = TokenInteraction::default();
        if self.sections.is_empty() && self.status == TraceStatus::Streaming {
            ui.weak("waiting for the first tokens…");
        }
        let streaming = self.status == TraceStatus::Streaming;
        let last = self.sections.len().saturating_sub(1);
        for (index, section) in self.sections.iter().enumerate() {
            let live = streaming && index == last;
            let title = if live {
                format!("{} …", section.phase.title())
            } else {
                section.phase.title().to_owned()
            };
            egui::CollapsingHeader::new(title)
                .id_salt(("trace-section", index))
                .default_open(true)
                .show(ui, |ui| {
                    section_ui(ui, section, highlight.as_ref(), &mut interaction);
                });
        }
        match &self.status {
            TraceStatus::Streaming | TraceStatus::Finished => {}
            TraceStatus::Stopped => {
                ui.weak("stopped; the text above is what arrived before Stop");
            }
            TraceStatus::Failed(message) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("generation failed: {message}"),
                );
            }
        }
        if !self.vision_share.is_empty() {
            vision_share_ui(ui, &self.vision_share, highlight.as_ref());
        }
        if let Some(timing) = self.timing {
            let speed = timing
                .tokens_per_second()
                .map_or_else(|| "—".to_owned(), |tps| format!("{tps:.1}"));
            ui.weak(format!(
                "prefill {} tokens in {:.0} ms · {} tokens at {speed} tokens/s",
                timing.prompt_tokens,
                timing.prefill.as_secs_f64() * 1000.0,
                timing.generated_tokens,
            ));
        }
        interaction
    }
}

/// A thin strip, one bar per generation step as tall as the step's attention share on vision
/// tokens; hovering it names the step and its share. Highlighted steps are outlined.
fn vision_share_ui(ui: &mut egui::Ui, shares: &[f32], highlight: Option<&RangeInclusive<usize>>) {
    let width = ui.available_width().max(40.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 14.0), egui::Sense::hover());
    let visuals = ui.visuals();
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, visuals.faint_bg_color);
    let step_width = rect.width() / shares.len() as f32;
    for (step, &share) in shares.iter().enumerate() {
        let left = rect.left() + step as f32 * step_width;
        let top = rect.bottom() - share.clamp(0.0, 1.0) * rect.height();
        let bar = egui::Rect::from_min_max(
            egui::pos2(left, top),
            egui::pos2(left + (step_width - 1.0).max(1.0), rect.bottom()),
        );
        painter.rect_filled(bar, 0.0, crate::heatmap::heat_color(share));
        if highlight.is_some_and(|h| h.contains(&step)) {
            painter.rect_stroke(
                bar,
                0.0,
                egui::Stroke::new(1.0, visuals.strong_text_color()),
                egui::StrokeKind::Inside,
            );
        }
    }
    let response = response.on_hover_text("share of each step's attention on the video");
    if let Some(pos) = response.hover_pos() {
        let step = (((pos.x - rect.left()) / step_width) as usize).min(shares.len() - 1);
        response.on_hover_text_at_pointer(format!(
            "step {step}: {:.0}% of attention on the video",
            shares[step] * 100.0
        ));
    }
    ui.weak("vision share per step (attention on the video)");
}

/// A section's text: untokenized runs as one selectable label, tokens as small clickable labels
/// flowing like text (a token's newlines break the row).
fn section_ui(
    ui: &mut egui::Ui,
    section: &TraceSection,
    highlight: Option<&RangeInclusive<usize>>,
    interaction: &mut TokenInteraction,
) {
    let style = |text: &str, ui: &egui::Ui| {
        let text = egui::RichText::new(text);
        if section.phase == TracePhase::Answer {
            text
        } else {
            text.italics().color(ui.visuals().weak_text_color())
        }
    };
    if section.pieces.iter().all(|p| p.step.is_none()) {
        ui.add(
            egui::Label::new(style(&section.text, ui))
                .wrap()
                .selectable(true),
        );
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for piece in &section.pieces {
            let selected = piece
                .step
                .zip(highlight)
                .is_some_and(|(step, range)| range.contains(&step));
            for (index, line) in piece.text.split('\n').enumerate() {
                if index > 0 {
                    ui.end_row();
                }
                if line.is_empty() {
                    continue;
                }
                let mut text = style(line, ui);
                if selected {
                    text = text
                        .background_color(ui.visuals().selection.bg_fill)
                        .color(ui.visuals().selection.stroke.color);
                }
                let Some(step) = piece.step else {
                    ui.add(egui::Label::new(text).selectable(false));
                    continue;
                };
                let response = ui.add(
                    egui::Label::new(text)
                        .selectable(false)
                        .sense(egui::Sense::click_and_drag()),
                );
                if response.hovered() || ui.rect_contains_pointer(response.rect) {
                    interaction.hovered = Some(step);
                }
                if response.clicked() {
                    let shift = ui.input(|i| i.modifiers.shift);
                    interaction.clicked = Some((step, shift));
                }
                if response.drag_started_by(egui::PointerButton::Primary) {
                    interaction.drag_started = Some(step);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_of_one_phase_merge_and_phase_changes_open_sections() {
        let mut trace = ReasoningTrace::new();
        for (phase, text) in [
            (TracePhase::Thinking, "a "),
            (TracePhase::Thinking, "b"),
            (TracePhase::Answer, ""),
            (TracePhase::Answer, "yes"),
            (TracePhase::Thinking, "c"),
        ] {
            trace.push(TraceDelta::new(phase, text));
        }
        let phases: Vec<_> = trace.sections().iter().map(|s| s.phase).collect();
        assert_eq!(
            phases,
            [
                TracePhase::Thinking,
                TracePhase::Answer,
                TracePhase::Thinking
            ]
        );
        assert_eq!(trace.text(TracePhase::Thinking), "a bc");
        assert_eq!(trace.text(TracePhase::Answer), "yes");
    }

    #[test]
    fn token_pieces_keep_their_steps_and_concatenate_to_the_text() {
        let mut trace = ReasoningTrace::new();
        trace.push_token(0, TraceDelta::new(TracePhase::Thinking, "Two"));
        trace.push_token(1, TraceDelta::new(TracePhase::Thinking, " peo"));
        trace.push_token(1, TraceDelta::new(TracePhase::Thinking, "ple"));
        trace.push_token(2, TraceDelta::new(TracePhase::Answer, "Two"));
        let thinking = &trace.sections()[0];
        let steps: Vec<_> = thinking.pieces.iter().map(|p| p.step).collect();
        assert_eq!(steps, [Some(0), Some(1)]);
        assert_eq!(thinking.text, "Two people");
        assert_eq!(trace.token_text(1), " people");
        assert_eq!(trace.token_text(2), "Two");
        assert_eq!(trace.steps_text(&(1..=2)), " peopleTwo");
        assert_eq!(trace.steps_of(TracePhase::Thinking), Some(0..=1));
        assert_eq!(trace.steps_of(TracePhase::Answer), Some(2..=2));
        assert_eq!(trace.steps_of(TracePhase::Analysis), None);
    }

    #[test]
    fn tokens_per_second_needs_decode_time() {
        let mut timing = GenerationTiming {
            prompt_tokens: 10,
            prefill: Duration::from_millis(5),
            generated_tokens: 20,
            decode: Duration::ZERO,
        };
        assert_eq!(timing.tokens_per_second(), None);
        timing.decode = Duration::from_secs(2);
        assert_eq!(timing.tokens_per_second(), Some(10.0));
    }
}
