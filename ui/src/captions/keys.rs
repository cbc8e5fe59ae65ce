//! Captioning from the keyboard while the video plays: every editor command with its key, run
//! from the key, from the shortcut sheet (`?`) or from the command palette (Ctrl+Shift+P).
//!
//! Single keys act when no text field has the keyboard (Esc leaves a field); the commands marked
//! "while typing" also act from inside a field. Commands that move the video come back as
//! [`CaptionAction::Player`] for the app to apply to its player.

use egui::{Key, KeyboardShortcut, Modifiers};
use haic::{Document, Edit, Event, Record, ReviewStatus, Structure};

use super::{CaptionAction, CaptionEditor, EditorEnv, EventField, Field};
use crate::player::PlaySpan;

/// What the caption editor asks of the player.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PlayerCommand {
    Seek(f64),
    /// Play this stretch (once, or looped).
    PlaySpan(PlaySpan),
    /// Let playback run free again.
    StopSpan,
    /// Step through the offered speeds (negative: slower).
    StepSpeed(i32),
}

/// How far the edge nudges with Shift move, in seconds.
const COARSE_NUDGE: f64 = 0.1;
/// How much of the video before or after an event "play before/after" plays, in seconds.
const ROLL: f64 = 0.5;

/// Every command of the caption editor that has a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditorCommand {
    StartEvent,
    EndEvent,
    SplitEvent,
    MergeWithNext,
    EdgeBackFrame,
    EdgeForwardFrame,
    EdgeBackCoarse,
    EdgeForwardCoarse,
    PreviousEdge,
    NextEdge,
    EdgeToPlayhead,
    SwitchEdge,
    LoopEvent,
    PlayBefore,
    PlayAfter,
    Slower,
    Faster,
    MarkDoneAndNext,
    ToggleFlag,
    Approve,
    NextFlagged,
    Undo,
    Redo,
    Save,
    ShortcutSheet,
    CommandPalette,
}

struct Binding {
    command: EditorCommand,
    shortcut: KeyboardShortcut,
    /// Whether the key acts inside a text field too (it types nothing there).
    while_typing: bool,
}

const fn key(command: EditorCommand, modifiers: Modifiers, key: Key) -> Binding {
    Binding {
        command,
        shortcut: KeyboardShortcut::new(modifiers, key),
        while_typing: false,
    }
}

const fn typing_key(command: EditorCommand, modifiers: Modifiers, key: Key) -> Binding {
    Binding {
        command,
        shortcut: KeyboardShortcut::new(modifiers, key),
        while_typing: true,
    }
}

const CTRL_SHIFT: Modifiers = Modifiers::COMMAND.plus(Modifiers::SHIFT);

/// The key map, most specific first: a shortcut with Shift comes before the same key without,
/// since a plain key also matches when Shift is held.
const BINDINGS: &[Binding] = &[
    typing_key(EditorCommand::CommandPalette, CTRL_SHIFT, Key::P),
    key(EditorCommand::Redo, CTRL_SHIFT, Key::Z),
    typing_key(EditorCommand::Save, Modifiers::COMMAND, Key::S),
    typing_key(EditorCommand::EndEvent, Modifiers::COMMAND, Key::Enter),
    key(EditorCommand::Redo, Modifiers::COMMAND, Key::Y),
    key(EditorCommand::Undo, Modifiers::COMMAND, Key::Z),
    key(
        EditorCommand::PreviousEdge,
        Modifiers::COMMAND,
        Key::ArrowLeft,
    ),
    key(EditorCommand::NextEdge, Modifiers::COMMAND, Key::ArrowRight),
    key(EditorCommand::EdgeBackCoarse, Modifiers::SHIFT, Key::Comma),
    key(
        EditorCommand::EdgeForwardCoarse,
        Modifiers::SHIFT,
        Key::Period,
    ),
    key(EditorCommand::EdgeBackFrame, Modifiers::NONE, Key::Comma),
    key(
        EditorCommand::EdgeForwardFrame,
        Modifiers::NONE,
        Key::Period,
    ),
    key(EditorCommand::StartEvent, Modifiers::NONE, Key::I),
    key(EditorCommand::EndEvent, Modifiers::NONE, Key::O),
    key(EditorCommand::SplitEvent, Modifiers::NONE, Key::S),
    key(EditorCommand::MergeWithNext, Modifiers::NONE, Key::M),
    key(EditorCommand::EdgeToPlayhead, Modifiers::NONE, Key::T),
    key(EditorCommand::SwitchEdge, Modifiers::NONE, Key::E),
    key(EditorCommand::LoopEvent, Modifiers::NONE, Key::R),
    key(EditorCommand::PlayBefore, Modifiers::NONE, Key::B),
    key(EditorCommand::PlayAfter, Modifiers::NONE, Key::A),
    key(EditorCommand::Slower, Modifiers::NONE, Key::Minus),
    key(EditorCommand::Faster, Modifiers::NONE, Key::Equals),
    key(EditorCommand::MarkDoneAndNext, Modifiers::NONE, Key::D),
    key(EditorCommand::ToggleFlag, Modifiers::NONE, Key::F),
    key(EditorCommand::Approve, Modifiers::NONE, Key::Y),
    key(EditorCommand::NextFlagged, Modifiers::NONE, Key::G),
    key(
        EditorCommand::ShortcutSheet,
        Modifiers::NONE,
        Key::Questionmark,
    ),
];

impl EditorCommand {
    /// Every command, in the order the sheet and the palette list them.
    pub fn all() -> impl Iterator<Item = EditorCommand> {
        let mut commands: Vec<EditorCommand> = Vec::new();
        for binding in BINDINGS {
            if !commands.contains(&binding.command) {
                commands.push(binding.command);
            }
        }
        commands.into_iter()
    }

    /// What the command does, as the sheet and the palette say it.
    pub fn name(self) -> &'static str {
        match self {
            EditorCommand::StartEvent => "Start an event at the playhead (selected person)",
            EditorCommand::EndEvent => "End the event at the playhead",
            EditorCommand::SplitEvent => "Split the event at the playhead",
            EditorCommand::MergeWithNext => "Merge the event with the next one",
            EditorCommand::EdgeBackFrame => "Nudge the selected edge back one frame",
            EditorCommand::EdgeForwardFrame => "Nudge the selected edge on one frame",
            EditorCommand::EdgeBackCoarse => "Nudge the selected edge back 100 ms",
            EditorCommand::EdgeForwardCoarse => "Nudge the selected edge on 100 ms",
            EditorCommand::PreviousEdge => "Jump to the previous event edge",
            EditorCommand::NextEdge => "Jump to the next event edge",
            EditorCommand::EdgeToPlayhead => "Set the selected edge to the playhead",
            EditorCommand::SwitchEdge => "Select the event's other edge",
            EditorCommand::LoopEvent => "Loop the event (again: stop looping)",
            EditorCommand::PlayBefore => "Play the 500 ms before the event",
            EditorCommand::PlayAfter => "Play the 500 ms after the event",
            EditorCommand::Slower => "Slower (down to 0.1x)",
            EditorCommand::Faster => "Faster (up to 4x)",
            EditorCommand::MarkDoneAndNext => "Mark the record done and go to the next open one",
            EditorCommand::ToggleFlag => "Flag the record for review (again: unflag)",
            EditorCommand::Approve => "Approve the record",
            EditorCommand::NextFlagged => "Go to the next flagged record",
            EditorCommand::Undo => "Undo",
            EditorCommand::Redo => "Redo",
            EditorCommand::Save => "Save",
            EditorCommand::ShortcutSheet => "Show the keyboard shortcuts",
            EditorCommand::CommandPalette => "Command palette",
        }
    }

    /// The keys of the command, as the platform writes them ("Ctrl+Shift+P").
    pub fn keys(self, ctx: &egui::Context) -> String {
        BINDINGS
            .iter()
            .filter(|binding| binding.command == self)
            .map(|binding| ctx.format_shortcut(&binding.shortcut))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The palette's state: open or not, and what is typed into it.
#[derive(Default)]
pub(super) struct Palette {
    open: bool,
    query: String,
    just_opened: bool,
}

impl CaptionEditor {
    /// Runs the commands whose keys were pressed this frame (consuming the keys).
    pub(super) fn keyboard(&mut self, ui: &egui::Ui, document: &Document, env: &EditorEnv<'_>) {
        let typing = ui.ctx().text_edit_focused();
        let pressed: Vec<EditorCommand> = ui.input_mut(|input| {
            BINDINGS
                .iter()
                .filter(|binding| binding.while_typing || !typing)
                .filter(|binding| input.consume_shortcut(&binding.shortcut))
                .map(|binding| binding.command)
                .collect()
        });
        for command in pressed {
            self.run(command, document, env);
        }
    }

    /// Runs one command, from its key, the sheet or the palette.
    pub fn run(&mut self, command: EditorCommand, document: &Document, env: &EditorEnv<'_>) {
        self.key_problem = None;
        if let Err(problem) = self.try_run(command, document, env) {
            self.key_problem = Some(problem);
        }
    }

    fn try_run(
        &mut self,
        command: EditorCommand,
        document: &Document,
        env: &EditorEnv<'_>,
    ) -> Result<(), String> {
        match command {
            EditorCommand::Undo => {
                if document.can_undo() || self.has_unsent_typing() {
                    self.deferred.push(CaptionAction::Undo);
                }
                return Ok(());
            }
            EditorCommand::Redo => {
                if document.can_redo() {
                    self.deferred.push(CaptionAction::Redo);
                }
                return Ok(());
            }
            EditorCommand::Save => {
                self.deferred.push(CaptionAction::Save);
                return Ok(());
            }
            EditorCommand::ShortcutSheet => {
                self.sheet_open = !self.sheet_open;
                return Ok(());
            }
            EditorCommand::CommandPalette => {
                self.palette.open = true;
                self.palette.just_opened = true;
                self.palette.query.clear();
                return Ok(());
            }
            EditorCommand::Slower | EditorCommand::Faster => {
                let steps = if command == EditorCommand::Faster {
                    1
                } else {
                    -1
                };
                self.player(PlayerCommand::StepSpeed(steps));
                return Ok(());
            }
            EditorCommand::NextFlagged => {
                return self.next_with_status(document, |status| status == ReviewStatus::Flagged);
            }
            _ => {}
        }
        let record = self.selected.ok_or("select a record first")?;
        let caption = match document.file().record(record) {
            Some(Record::Caption(caption)) => caption,
            _ => return Err(format!("#{record} is not a caption record")),
        };
        match command {
            EditorCommand::MarkDoneAndNext => {
                self.edit(record, set_status(ReviewStatus::Done));
                return self.next_with_status(document, |status| {
                    matches!(status, ReviewStatus::Todo | ReviewStatus::Flagged)
                });
            }
            EditorCommand::ToggleFlag => {
                let status = if caption.review.status == ReviewStatus::Flagged {
                    ReviewStatus::Todo
                } else {
                    ReviewStatus::Flagged
                };
                self.edit(record, set_status(status));
                return Ok(());
            }
            EditorCommand::Approve => {
                self.edit(record, set_status(ReviewStatus::Approved));
                return Ok(());
            }
            _ => {}
        }
        let structure = caption
            .structure()
            .ok_or("the caption is free text: rewrite it in the HAIC form to time its events")?;
        self.event_command(command, record, structure, env)
    }

    fn event_command(
        &mut self,
        command: EditorCommand,
        record: usize,
        structure: &Structure,
        env: &EditorEnv<'_>,
    ) -> Result<(), String> {
        let playhead = env
            .playhead
            .ok_or("open the video first: there is no playhead");
        let frame = env.frame_seconds.unwrap_or(1.0 / 30.0);
        match command {
            EditorCommand::StartEvent => {
                let playhead = playhead?;
                let person = self
                    .selected_person(structure)
                    .ok_or("add a person first: every event has someone doing it")?;
                let mut event = Event::new(&[person.as_str()], "");
                event.start = Some(playhead);
                // Kept in time order: before the first event that starts later.
                let at = structure
                    .events
                    .iter()
                    .position(|other| other.start.is_some_and(|start| start > playhead))
                    .unwrap_or(structure.events.len());
                self.edit(record, Edit::AddEvent { event, at });
                self.located = Some(Field::Event(at, EventField::Action));
                self.scroll_to_located = true;
            }
            EditorCommand::EndEvent => {
                let playhead = playhead?;
                let index = self.selected_event(structure, env)?;
                let event = &structure.events[index];
                if event.start.is_some_and(|start| playhead <= start) {
                    return Err(format!(
                        "event {} starts at {:.2} s: move the playhead past it to end it",
                        index + 1,
                        event.start.unwrap_or_default()
                    ));
                }
                self.edit(record, set_times(index, event.start, Some(playhead)));
                self.select_edge(index, EventField::End);
            }
            EditorCommand::SplitEvent => {
                let playhead = playhead?;
                let index = self.selected_event(structure, env)?;
                let event = &structure.events[index];
                let inside = matches!((event.start, event.end),
                    (Some(start), Some(end)) if start < playhead && playhead < end);
                if !inside {
                    return Err(format!(
                        "the playhead is not inside event {}: split it where it plays",
                        index + 1
                    ));
                }
                self.edit(
                    record,
                    Edit::SplitEvent {
                        index,
                        first: event.action.clone(),
                        second: event.action.clone(),
                        at: Some(playhead),
                    },
                );
                // The first half stays selected, so M joins the halves again.
                self.located = Some(Field::Event(index, EventField::Action));
            }
            EditorCommand::MergeWithNext => {
                let index = self.selected_event(structure, env)?;
                if index + 1 >= structure.events.len() {
                    return Err(format!(
                        "event {} is the last: nothing follows it",
                        index + 1
                    ));
                }
                self.edit(record, Edit::MergeEvents { index });
                self.located = Some(Field::Event(index, EventField::Action));
            }
            EditorCommand::EdgeBackFrame => self.nudge(record, structure, env, -frame)?,
            EditorCommand::EdgeForwardFrame => self.nudge(record, structure, env, frame)?,
            EditorCommand::EdgeBackCoarse => self.nudge(record, structure, env, -COARSE_NUDGE)?,
            EditorCommand::EdgeForwardCoarse => self.nudge(record, structure, env, COARSE_NUDGE)?,
            EditorCommand::PreviousEdge | EditorCommand::NextEdge => {
                let playhead = playhead?;
                let forward = command == EditorCommand::NextEdge;
                // Pressed again while the video plays on from the edge just jumped to, the
                // next jump goes on from that edge, not back to it.
                let from = self
                    .selected_edge()
                    .and_then(|(index, edge)| edge_time(structure, index, edge))
                    .filter(|time| (playhead - time).abs() < SAME_EDGE)
                    .unwrap_or(playhead);
                let (index, edge, time) =
                    neighbour_edge(structure, from, forward).ok_or(if forward {
                        "no event edge after the playhead"
                    } else {
                        "no event edge before the playhead"
                    })?;
                self.select_edge(index, edge);
                self.player(PlayerCommand::Seek(time));
            }
            EditorCommand::EdgeToPlayhead => {
                let playhead = playhead?;
                let (index, edge) = self.selected_edge().ok_or(NO_EDGE)?;
                let event = structure.events.get(index).ok_or(NO_EDGE)?;
                let edit = match edge {
                    EventField::Start => set_times(index, Some(playhead), event.end),
                    _ => set_times(index, event.start, Some(playhead)),
                };
                self.edit(record, edit);
            }
            EditorCommand::SwitchEdge => {
                let index = self.selected_event(structure, env)?;
                let edge = match self.selected_edge() {
                    Some((_, EventField::Start)) => EventField::End,
                    _ => EventField::Start,
                };
                self.select_edge(index, edge);
            }
            EditorCommand::LoopEvent | EditorCommand::PlayBefore | EditorCommand::PlayAfter => {
                if command == EditorCommand::LoopEvent && env.looping {
                    self.player(PlayerCommand::StopSpan);
                    return Ok(());
                }
                let index = self.selected_event(structure, env)?;
                let event = &structure.events[index];
                let (Some(start), Some(end)) = (event.start, event.end) else {
                    return Err(format!(
                        "event {} needs a start and an end to be played",
                        index + 1
                    ));
                };
                let span = match command {
                    EditorCommand::LoopEvent => PlaySpan {
                        start,
                        end,
                        looping: true,
                    },
                    EditorCommand::PlayBefore => PlaySpan {
                        start: (start - ROLL).max(0.0),
                        end: start,
                        looping: false,
                    },
                    _ => PlaySpan {
                        start: end,
                        end: end + ROLL,
                        looping: false,
                    },
                };
                self.player(PlayerCommand::PlaySpan(span));
            }
            _ => {}
        }
        Ok(())
    }

    fn nudge(
        &mut self,
        record: usize,
        structure: &Structure,
        env: &EditorEnv<'_>,
        by: f64,
    ) -> Result<(), String> {
        let (index, edge) = self.selected_edge().ok_or(NO_EDGE)?;
        let event = structure.events.get(index).ok_or(NO_EDGE)?;
        let current = match edge {
            EventField::Start => event.start,
            _ => event.end,
        }
        .ok_or("the selected edge is unset: set it to the playhead first (T)")?;
        let moved = (current + by).max(0.0);
        let edit = match edge {
            EventField::Start => set_times(index, Some(moved), event.end),
            _ => set_times(index, event.start, Some(moved)),
        };
        self.edit(record, edit);
        // The picture follows the edge, so the annotator sees the frame it now sits on.
        if env.playhead.is_some() {
            self.player(PlayerCommand::Seek(moved));
        }
        Ok(())
    }

    /// The person a new event goes to: the one whose field was last selected, the doer of the
    /// selected event, or the first person.
    fn selected_person(&self, structure: &Structure) -> Option<String> {
        let from_field = match self.located {
            Some(Field::Person(index) | Field::PersonDetail(index, _)) => {
                structure.people.get(index).map(|person| person.id.clone())
            }
            Some(Field::Event(index, _)) => structure
                .events
                .get(index)
                .and_then(|event| event.who.first().cloned()),
            _ => None,
        };
        from_field.or_else(|| structure.people.first().map(|person| person.id.clone()))
    }

    /// The event last selected, or else the one under the playhead (the latest to start).
    fn selected_event(&self, structure: &Structure, env: &EditorEnv<'_>) -> Result<usize, String> {
        if let Some(Field::Event(index, _)) = self.located
            && index < structure.events.len()
        {
            return Ok(index);
        }
        let playhead = env.playhead.unwrap_or(f64::NAN);
        structure
            .events
            .iter()
            .enumerate()
            .filter(|(_, event)| {
                event.start.is_some_and(|start| start <= playhead)
                    && event.end.is_none_or(|end| playhead < end)
            })
            .max_by(|a, b| {
                a.1.start
                    .unwrap_or(0.0)
                    .total_cmp(&b.1.start.unwrap_or(0.0))
            })
            .map(|(index, _)| index)
            .ok_or_else(|| "select an event first (or put the playhead inside one)".to_string())
    }

    fn selected_edge(&self) -> Option<(usize, EventField)> {
        match self.located {
            Some(Field::Event(index, edge @ (EventField::Start | EventField::End))) => {
                Some((index, edge))
            }
            _ => None,
        }
    }

    /// Outlines an edge without giving it the keyboard, so the next key still reaches the editor.
    fn select_edge(&mut self, index: usize, edge: EventField) {
        self.located = Some(Field::Event(index, edge));
        self.scroll_to_located = false;
    }

    fn player(&mut self, command: PlayerCommand) {
        self.actions.push(CaptionAction::Player(command));
    }

    /// Selects the next record after the selected one (in the list's order) whose status fits.
    fn next_with_status(
        &mut self,
        document: &Document,
        wanted: impl Fn(ReviewStatus) -> bool,
    ) -> Result<(), String> {
        let order: Vec<usize> = match &self.list {
            Some((_, list)) => list.clone(),
            None => document.file().records().map(|(index, _)| index).collect(),
        };
        let after = self
            .selected
            .and_then(|selected| order.iter().position(|&index| index == selected))
            .map_or(0, |position| position + 1);
        let next = order[after.min(order.len())..]
            .iter()
            .copied()
            .find(|&index| {
                matches!(document.file().record(index),
                Some(Record::Caption(caption)) if wanted(caption.review.status))
            });
        match next {
            Some(index) => {
                self.select(index);
                Ok(())
            }
            None => Err("no further record to go to in this list".into()),
        }
    }

    /// The shortcut sheet and the command palette, when open.
    pub(super) fn key_windows(&mut self, ui: &egui::Ui, document: &Document, env: &EditorEnv<'_>) {
        let ctx = ui.ctx().clone();
        if self.sheet_open {
            let mut open = true;
            egui::Window::new("Keyboard shortcuts")
                .open(&mut open)
                .collapsible(false)
                .show(&ctx, |ui| {
                    ui.weak(
                        "Single keys act when no text field has the keyboard (Esc leaves one).",
                    );
                    egui::Grid::new("caption-shortcuts")
                        .striped(true)
                        .show(ui, |ui| {
                            for command in EditorCommand::all() {
                                ui.monospace(command.keys(&ctx));
                                ui.label(command.name());
                                ui.end_row();
                            }
                        });
                });
            self.sheet_open = open;
        }
        if !self.palette.open {
            return;
        }
        let mut chosen = None;
        let mut open = true;
        egui::Window::new("Command palette")
            .open(&mut open)
            .collapsible(false)
            .show(&ctx, |ui| {
                let field = ui.add(
                    egui::TextEdit::singleline(&mut self.palette.query)
                        .hint_text("type to find a command"),
                );
                let field = field.accessible_name("Find a command");
                if std::mem::take(&mut self.palette.just_opened) {
                    field.request_focus();
                }
                let query = self.palette.query.to_lowercase();
                let matching: Vec<EditorCommand> = EditorCommand::all()
                    .filter(|command| command.name().to_lowercase().contains(&query))
                    .collect();
                for command in &matching {
                    let label = format!("{}    {}", command.name(), command.keys(&ctx));
                    if ui.selectable_label(false, label).clicked() {
                        chosen = Some(*command);
                    }
                }
                if field.lost_focus() && ui.input(|input| input.key_pressed(Key::Enter)) {
                    chosen = matching.first().copied();
                }
            });
        if ctx.input(|input| input.key_pressed(Key::Escape)) {
            open = false;
        }
        self.palette.open = open && chosen.is_none();
        if let Some(command) = chosen {
            self.run(command, document, env);
        }
    }
}

/// How near the playhead must be to the selected edge for a jump to count from the edge.
const SAME_EDGE: f64 = 0.5;

fn edge_time(structure: &Structure, index: usize, edge: EventField) -> Option<f64> {
    let event = structure.events.get(index)?;
    match edge {
        EventField::Start => event.start,
        _ => event.end,
    }
}

const NO_EDGE: &str = "select an event edge first (Ctrl+Left/Right jumps to one, E switches)";

fn set_status(status: ReviewStatus) -> Edit {
    Edit::SetStatus { status }
}

fn set_times(index: usize, start: Option<f64>, end: Option<f64>) -> Edit {
    Edit::SetTimes { index, start, end }
}

/// The nearest event edge strictly before (or after) `time`.
fn neighbour_edge(
    structure: &Structure,
    time: f64,
    forward: bool,
) -> Option<(usize, EventField, f64)> {
    let edges = structure
        .events
        .iter()
        .enumerate()
        .flat_map(|(index, event)| {
            [
                event.start.map(|t| (index, EventField::Start, t)),
                event.end.map(|t| (index, EventField::End, t)),
            ]
            .into_iter()
            .flatten()
        });
    const EPSILON: f64 = 1e-6;
    if forward {
        edges
            .filter(|edge| edge.2 > time + EPSILON)
            .min_by(|a, b| a.2.total_cmp(&b.2))
    } else {
        edges
            .filter(|edge| edge.2 < time - EPSILON)
            .max_by(|a, b| a.2.total_cmp(&b.2))
    }
}
