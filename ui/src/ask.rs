//! The ask panel: a question box with the thinking switch, sampling and visual-token budget, the
//! estimate of what the question will cost (with the refusal when it would not fit), Ask / Stop,
//! and the conversation, each turn a [`ReasoningTrace`] whose tokens can be hovered, clicked or
//! drag-selected. The panel only collects what the user wants and draws the conversation the app
//! keeps (its session runs the model, works out the estimate and streams the text in token by
//! token); it owns no turn.

use std::borrow::Borrow;
use std::ops::RangeInclusive;

use crate::budget::{BudgetSettings, EstimateView};
use crate::trace::{ReasoningTrace, TraceStatus};

/// Keye-VL's thinking switch as the user picks it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThinkingChoice {
    /// The model decides (it may write an analysis first).
    #[default]
    Auto,
    Think,
    NoThink,
}

impl ThinkingChoice {
    pub const ALL: [Self; 3] = [Self::Auto, Self::Think, Self::NoThink];

    pub fn label(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Think => "think",
            Self::NoThink => "no think",
        }
    }
}

/// Sampling as the user sets it. The app starts it from the checkpoint's generation config.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingSettings {
    /// 0 is greedy (argmax).
    pub temperature: f32,
    /// 0 keeps every token.
    pub top_k: usize,
    pub top_p: f32,
    pub repetition_penalty: f32,
    pub max_new_tokens: usize,
    pub seed: u64,
}

impl Default for SamplingSettings {
    /// Greedy, as a fresh panel starts before a model is loaded.
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            max_new_tokens: 1024,
            seed: 0,
        }
    }
}

/// What the user asked for when pressing Ask.
#[derive(Clone, Debug, PartialEq)]
pub struct AskRequest {
    pub question: String,
    pub thinking: ThinkingChoice,
    pub sampling: SamplingSettings,
    pub budget: BudgetSettings,
}

/// What the panel wants the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum AskAction {
    /// Start a generation (the app opens its streaming turn).
    Ask(AskRequest),
    /// Cancel the running generation.
    Stop,
    /// Forget the conversation of this video (the panel has dropped its token selection).
    ClearHistory,
}

/// Tokens of one turn (generation steps, inclusive): what the heatmap and attention track show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSelection {
    pub turn: usize,
    pub steps: RangeInclusive<usize>,
}

/// One question and the model's streamed response to it.
#[derive(Clone, Debug, PartialEq)]
pub struct AskTurn {
    pub question: String,
    pub thinking: ThinkingChoice,
    pub trace: ReasoningTrace,
}

/// Whether the last of `turns` is still streaming (a turn is being answered).
pub fn is_streaming<T: Borrow<AskTurn>>(turns: &[T]) -> bool {
    turns
        .last()
        .is_some_and(|t| *t.borrow().trace.status() == TraceStatus::Streaming)
}

/// What the panel draws of the app's conversation: its turns, and the running turn's video
/// preparation (stage and fraction done).
pub struct ConversationView<'a, T> {
    pub turns: &'a [T],
    pub preparing: Option<(&'a str, f32)>,
}

impl<'a, T: Borrow<AskTurn>> ConversationView<'a, T> {
    pub fn new(turns: &'a [T]) -> Self {
        Self {
            turns,
            preparing: None,
        }
    }

    fn is_streaming(&self) -> bool {
        is_streaming(self.turns)
    }
}

/// Whether asking is possible now, and if not, why (shown instead of the Ask button's effect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AskAvailability {
    Ready,
    /// No model, a model loading, no video: the text says what to do.
    Unavailable(String),
}

/// Text shown when no model is loaded.
pub const NO_MODEL_HINT: &str = "No model loaded. Model > Open checkpoint folder… or drop a Hugging \
     Face checkpoint folder (config.json, *.safetensors, tokenizer.json) on the window.";

pub struct AskPanel {
    pub question: String,
    pub thinking: ThinkingChoice,
    pub sampling: SamplingSettings,
    pub budget: BudgetSettings,
    /// What "Model defaults" restores (the app sets it from the loaded model).
    pub budget_defaults: BudgetSettings,
    /// What the question in the box will cost; the app keeps it up to date.
    pub estimate: EstimateView,
    availability: AskAvailability,
    /// Clicked or drag-selected tokens.
    selection: Option<TokenSelection>,
    /// The token under the pointer this frame (previews over the selection).
    hovered: Option<(usize, usize)>,
    /// Turn and step a primary drag started on.
    drag_anchor: Option<(usize, usize)>,
}

impl Default for AskPanel {
    fn default() -> Self {
        Self::new()
    }
}

impl AskPanel {
    pub fn new() -> Self {
        Self {
            question: String::new(),
            thinking: ThinkingChoice::Auto,
            sampling: SamplingSettings::default(),
            budget: BudgetSettings::default(),
            budget_defaults: BudgetSettings::default(),
            estimate: EstimateView::default(),
            availability: AskAvailability::Unavailable(NO_MODEL_HINT.to_owned()),
            selection: None,
            hovered: None,
            drag_anchor: None,
        }
    }

    pub fn set_availability(&mut self, availability: AskAvailability) {
        self.availability = availability;
    }
    pub fn availability(&self) -> &AskAvailability {
        &self.availability
    }

    /// Forgets the token selection (another video's conversation is shown).
    pub fn clear_selection(&mut self) {
        self.selection = None;
        self.hovered = None;
        self.drag_anchor = None;
    }

    /// The clicked or drag-selected tokens.
    pub fn selection(&self) -> Option<&TokenSelection> {
        self.selection.as_ref()
    }

    pub fn select(&mut self, selection: Option<TokenSelection>) {
        self.selection = selection;
    }

    /// What the heatmap shows: the hovered token, else the selection.
    pub fn focus(&self) -> Option<TokenSelection> {
        self.hovered
            .map(|(turn, step)| TokenSelection {
                turn,
                steps: step..=step,
            })
            .or_else(|| self.selection.clone())
    }

    /// The request the controls describe for `question`.
    pub fn request(&self, question: String) -> AskRequest {
        AskRequest {
            question,
            thinking: self.thinking,
            sampling: self.sampling.clone(),
            budget: self.budget,
        }
    }

    /// Whether Ask would send now: a question, no turn streaming (`running`), a model and a
    /// video, and no refusal on show.
    pub fn can_ask(&self, running: bool) -> bool {
        !running
            && self.availability == AskAvailability::Ready
            && self.estimate.refusal().is_none()
            && !self.question.trim().is_empty()
    }

    /// Presses Ask with the question box's text, as the button and Enter do: empties the box
    /// and asks the app to start the turn. `None` when there is nothing to ask, a turn is
    /// `running`, asking is not possible, or the estimate refuses the question (its message says
    /// which knob to turn).
    pub fn submit(&mut self, running: bool) -> Option<AskAction> {
        if !self.can_ask(running) {
            return None;
        }
        let question = self.question.trim().to_owned();
        self.question.clear();
        Some(AskAction::Ask(self.request(question)))
    }

    /// The conversation, then the question box and settings under it.
    pub fn ui<T: Borrow<AskTurn>>(
        &mut self,
        ui: &mut egui::Ui,
        conversation: ConversationView<'_, T>,
    ) -> Option<AskAction> {
        self.conversation_ui(ui, &conversation);
        ui.separator();
        self.controls_ui(ui, &conversation)
    }

    /// The question box, Ask / Stop / Clear, thinking mode and sampling (the app may pin these
    /// under a scrolling conversation).
    pub fn controls_ui<T: Borrow<AskTurn>>(
        &mut self,
        ui: &mut egui::Ui,
        conversation: &ConversationView<'_, T>,
    ) -> Option<AskAction> {
        let action = self.question_ui(ui, conversation);
        self.settings_ui(ui);
        action
    }

    /// Why asking is not possible (if so), the question box, the estimate and Ask / Stop / Clear.
    pub fn question_ui<T: Borrow<AskTurn>>(
        &mut self,
        ui: &mut egui::Ui,
        conversation: &ConversationView<'_, T>,
    ) -> Option<AskAction> {
        let mut action = None;
        if let AskAvailability::Unavailable(why) = &self.availability {
            ui.label(why);
        }
        let box_response = ui.add(
            egui::TextEdit::multiline(&mut self.question)
                .id_salt("ask-question")
                .hint_text("Ask about the video (Enter sends, Shift+Enter new line)")
                .desired_rows(2)
                .desired_width(f32::INFINITY)
                .return_key(Some(egui::KeyboardShortcut::new(
                    egui::Modifiers::SHIFT,
                    egui::Key::Enter,
                ))),
        );
        // Plain Enter sends; Shift+Enter is the box's own new line.
        let enter = box_response.has_focus()
            && ui.input(|i| {
                i.events.iter().any(|e| {
                matches!(e, egui::Event::Key { key: egui::Key::Enter, pressed: true, modifiers, .. }
                        if !modifiers.shift)
            })
            });
        if self.availability == AskAvailability::Ready {
            self.estimate.ui(ui);
        }
        ui.horizontal(|ui| {
            let running = conversation.is_streaming();
            let can_ask = self.can_ask(running);
            let ask = ui.add_enabled(can_ask, egui::Button::new("Ask"));
            if ask.clicked() || (enter && can_ask) {
                action = self.submit(running);
            }
            if ui.add_enabled(running, egui::Button::new("Stop")).clicked() {
                action = Some(AskAction::Stop);
            }
            if ui
                .add_enabled(
                    !running && !conversation.turns.is_empty(),
                    egui::Button::new("Clear"),
                )
                .on_hover_text("Forget this video's conversation")
                .clicked()
            {
                self.clear_selection();
                action = Some(AskAction::ClearHistory);
            }
        });
        action
    }

    /// Thinking mode, sampling and the visual-token budget.
    pub fn settings_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Thinking mode");
            for choice in ThinkingChoice::ALL {
                ui.radio_value(&mut self.thinking, choice, choice.label());
            }
        });
        egui::CollapsingHeader::new("Sampling")
            .id_salt("ask-sampling")
            .show(ui, |ui| {
                let s = &mut self.sampling;
                egui::Grid::new("ask-sampling-grid")
                    .num_columns(2)
                    .show(ui, |ui| {
                        let label = ui.label("Temperature");
                        ui.add(
                            egui::DragValue::new(&mut s.temperature)
                                .range(0.0..=2.0)
                                .speed(0.01)
                                .max_decimals(2),
                        )
                        .labelled_by(label.id)
                        .on_hover_text("0 is greedy: always the most likely token");
                        ui.end_row();
                        let label = ui.label("Top-k");
                        ui.add(egui::DragValue::new(&mut s.top_k).range(0..=1000))
                            .labelled_by(label.id)
                            .on_hover_text("0 keeps every token");
                        ui.end_row();
                        let label = ui.label("Top-p");
                        ui.add(
                            egui::DragValue::new(&mut s.top_p)
                                .range(0.01..=1.0)
                                .speed(0.01)
                                .max_decimals(2),
                        )
                        .labelled_by(label.id);
                        ui.end_row();
                        let label = ui.label("Repetition penalty");
                        ui.add(
                            egui::DragValue::new(&mut s.repetition_penalty)
                                .range(1.0..=2.0)
                                .speed(0.01)
                                .max_decimals(2),
                        )
                        .labelled_by(label.id);
                        ui.end_row();
                        let label = ui.label("Max new tokens");
                        ui.add(egui::DragValue::new(&mut s.max_new_tokens).range(1..=32768))
                            .labelled_by(label.id);
                        ui.end_row();
                        let label = ui.label("Seed");
                        ui.add(egui::DragValue::new(&mut s.seed))
                            .labelled_by(label.id);
                        ui.end_row();
                    });
                if s.temperature == 0.0 {
                    ui.weak("greedy: top-k, top-p and seed do not matter");
                }
            });
        egui::CollapsingHeader::new("Visual-token budget")
            .id_salt("ask-budget")
            .show(ui, |ui| self.budget.ui(ui, &self.budget_defaults));
    }

    /// Each turn: the question, its streamed trace with selectable tokens, its timing.
    pub fn conversation_ui<T: Borrow<AskTurn>>(
        &mut self,
        ui: &mut egui::Ui,
        conversation: &ConversationView<'_, T>,
    ) {
        if conversation.turns.is_empty() {
            ui.weak("No questions yet.");
            return;
        }
        let mut hovered = None;
        let mut clicked = None;
        let mut drag_started = None;
        let selection = self.selection.clone();
        let preparing = conversation.preparing;
        let last = conversation.turns.len() - 1;
        for (index, turn) in conversation.turns.iter().enumerate() {
            let turn = turn.borrow();
            ui.push_id(("ask-turn", index), |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.strong("Q:");
                    ui.label(&turn.question);
                    if turn.thinking != ThinkingChoice::Auto {
                        ui.weak(format!("({})", turn.thinking.label()));
                    }
                });
                if index == last
                    && let Some((stage, fraction)) = preparing
                {
                    ui.add(
                        egui::ProgressBar::new(fraction.clamp(0.0, 1.0))
                            .text(stage)
                            .desired_height(14.0),
                    );
                }
                let highlight = selection
                    .as_ref()
                    .filter(|s| s.turn == index)
                    .map(|s| s.steps.clone());
                let interaction = turn.trace.ui_with_tokens(ui, highlight);
                hovered = hovered.or(interaction.hovered.map(|s| (index, s)));
                clicked = clicked.or(interaction.clicked.map(|(s, shift)| (index, s, shift)));
                drag_started = drag_started.or(interaction.drag_started.map(|s| (index, s)));
            });
            ui.separator();
        }
        self.update_selection(ui, hovered, clicked, drag_started);
    }

    /// Click selects one token, Shift+click extends to a range, a drag selects the tokens from
    /// where it started to where the pointer is (within one turn).
    fn update_selection(
        &mut self,
        ui: &egui::Ui,
        hovered: Option<(usize, usize)>,
        clicked: Option<(usize, usize, bool)>,
        drag_started: Option<(usize, usize)>,
    ) {
        if drag_started.is_some() {
            self.drag_anchor = drag_started;
        }
        let primary_down = ui.input(|i| i.pointer.primary_down());
        if let Some((turn, anchor)) = self.drag_anchor {
            if let Some((_, step)) = hovered.filter(|(t, _)| *t == turn) {
                self.selection = Some(TokenSelection {
                    turn,
                    steps: anchor.min(step)..=anchor.max(step),
                });
            }
            if !primary_down {
                self.drag_anchor = None;
            }
        }
        if let Some((turn, step, shift)) = clicked {
            let steps = match &self.selection {
                Some(current) if shift && current.turn == turn => {
                    let start = *current.steps.start();
                    start.min(step)..=start.max(step)
                }
                _ => step..=step,
            };
            self.selection = Some(TokenSelection { turn, steps });
        }
        // While a drag selects, the selection itself is what the heatmap follows.
        self.hovered = if self.drag_anchor.is_some() {
            None
        } else {
            hovered
        };
    }
}
