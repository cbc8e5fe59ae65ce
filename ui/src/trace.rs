//! The reasoning trace: phase-tagged text deltas as the model streams them, kept in order and
//! shown as collapsible analysis / thinking / answer sections, so reasoning is never lost and never
//! mixed into the answer.

use std::time::Duration;

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

/// A run of consecutive deltas of one phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSection {
    pub phase: TracePhase,
    pub text: String,
}

/// One generation's streamed text, in arrival order, grouped into sections.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReasoningTrace {
    sections: Vec<TraceSection>,
    status: TraceStatus,
    timing: Option<GenerationTiming>,
}

impl ReasoningTrace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a delta: to the last section when the phase is unchanged, else as a new section.
    /// Empty deltas are dropped (a phase switch with no text yet shows nothing).
    pub fn push(&mut self, delta: TraceDelta) {
        if delta.text.is_empty() {
            return;
        }
        match self.sections.last_mut() {
            Some(last) if last.phase == delta.phase => last.text.push_str(&delta.text),
            _ => self.sections.push(TraceSection {
                phase: delta.phase,
                text: delta.text,
            }),
        }
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

    pub fn ui(&mut self, ui: &mut egui::Ui) {
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
                    let text = egui::RichText::new(&section.text);
                    let text = if section.phase == TracePhase::Answer {
                        text
                    } else {
                        text.italics().color(ui.visuals().weak_text_color())
                    };
                    ui.add(egui::Label::new(text).wrap().selectable(true));
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
    }
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
