//! The caption editor over a real `haic::Document` (a file in a temporary folder), driven by
//! kittest: every action the panel returns is applied as the app applies it, and logged.
//!
//! Time in the harness is egui's: every frame (each queued input event is one) moves it on by
//! [`STEP`] seconds, so `wait` lets time pass the way an annotator pausing lets it.
#![allow(dead_code)] // each test binary uses a different subset

use egui::Vec2;
use egui_kittest::{Harness, kittest::Queryable};
use haic::{Command, Document, FieldNames, Structure};
use keye_ui::{
    CaptionAction, CaptionEditor, DraftAvailability, EditorEnv, PlayerCommand, PlayerState,
    Timebase,
};

/// Record 0 is valid and timed, record 1 names a person nobody declared, record 2 is empty.
pub const FILE: &str = r#"{"video": "clips/a.mp4", "duration": 8.0, "people": [{"id": "P1", "attributes": "the young woman in a white crop top"}, {"id": "P2", "attributes": "the old man in a grey suit"}], "events": [{"who": ["P1"], "action": "walks toward", "with": ["P2"], "start": 0.5, "end": 2.0}, {"who": ["P2"], "action": "nods", "start": 2.5, "end": 3.0}], "caption": ""}
{"video": "clips/b.mp4", "people": [{"id": "P1", "attributes": "the boy in a red cap"}], "events": [{"who": ["P1"], "action": "jumps"}, {"who": ["P3"], "action": "claps"}], "caption": ""}
{"video": "clips/c.mp4", "caption": ""}
"#;

/// Frame rate of the video the bench pretends is open (8 s of it).
pub const FPS: f64 = 25.0;

/// A paused player over the bench's 8 s video.
pub fn player() -> PlayerState {
    PlayerState::new(Timebase {
        fps: FPS,
        frame_count: 200,
    })
}

pub struct Bench {
    pub editor: CaptionEditor,
    pub document: Document,
    pub playhead: Option<f64>,
    /// A running player, when a test plays the video: it advances with egui's time, gives the
    /// playhead, and takes the editor's player commands as the app's does.
    pub player: Option<PlayerState>,
    pub draft: DraftAvailability,
    /// Another file's name, the record compared and the comparison, when a test compares.
    pub comparison: Option<(String, usize, haic::agree::Agreement)>,
    /// Every action the panel emitted, in order.
    pub log: Vec<CaptionAction>,
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Bench {
    pub fn caption(&self, record: usize) -> haic::CaptionRecord {
        self.document
            .file()
            .caption(record)
            .expect("a caption record")
            .clone()
    }

    pub fn structure(&self, record: usize) -> Structure {
        self.caption(record)
            .structure()
            .cloned()
            .expect("a structured record")
    }

    /// The edits the panel asked for: commands, and the text of fields sent as it was typed.
    pub fn edits(&self) -> Vec<Command> {
        self.log
            .iter()
            .filter_map(|action| match action {
                CaptionAction::Edit(command) | CaptionAction::Typing { command, .. } => {
                    Some(command.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// What typing sent, and whether each send closed its burst.
    pub fn typed(&self) -> Vec<(Command, bool)> {
        self.log
            .iter()
            .filter_map(|action| match action {
                CaptionAction::Typing {
                    command,
                    burst_ends,
                } => Some((command.clone(), *burst_ends)),
                _ => None,
            })
            .collect()
    }

    pub fn journal(&self) -> String {
        std::fs::read_to_string(haic::document::journal_path(&self.path)).unwrap_or_default()
    }
}

pub fn bench_harness() -> Harness<'static, Bench> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).expect("write the caption file");
    let (document, _) = Document::open(&path, &FieldNames::default()).expect("open");
    let bench = Bench {
        editor: CaptionEditor::new(),
        document,
        playhead: Some(1.25),
        player: None,
        draft: DraftAvailability::default(),
        comparison: None,
        log: Vec::new(),
        path,
        _dir: dir,
    };
    Harness::builder()
        .with_size(Vec2::new(700.0, 900.0))
        .with_step_dt(STEP)
        .build_ui_state(
            |ui, bench: &mut Bench| {
                if let Some(player) = &mut bench.player {
                    player.advance(ui.input(|input| input.unstable_dt).min(0.25) as f64);
                    bench.playhead = Some(player.position());
                }
                let env = EditorEnv {
                    playhead: bench.playhead,
                    video_name: Some("a.mp4"),
                    video_duration: Some(8.0),
                    draft: bench.draft.clone(),
                    frame_seconds: Some(1.0 / FPS),
                    looping: bench
                        .player
                        .as_ref()
                        .is_some_and(|player| player.span().is_some_and(|span| span.looping)),
                    author: Some("lee"),
                    comparison: bench.comparison.as_ref().map(|(name, record, agreement)| {
                        keye_ui::Comparison {
                            other_name: name,
                            record: *record,
                            agreement,
                        }
                    }),
                };
                let actions = bench.editor.ui(ui, &bench.document, &env);
                for action in actions {
                    bench.log.push(action.clone());
                    match action {
                        CaptionAction::Edit(command) => {
                            bench.document.apply(command).expect("the command applies")
                        }
                        CaptionAction::Typing {
                            command,
                            burst_ends,
                        } => bench
                            .document
                            .apply_typing(command, burst_ends)
                            .expect("the typing applies"),
                        CaptionAction::Undo => {
                            bench.document.undo().expect("undo");
                        }
                        CaptionAction::Redo => {
                            bench.document.redo().expect("redo");
                        }
                        CaptionAction::Save => {
                            bench.document.save().expect("save");
                        }
                        CaptionAction::Draft { .. } => {}
                        CaptionAction::Player(command) => {
                            if let Some(player) = &mut bench.player {
                                match command {
                                    PlayerCommand::Seek(seconds) => player.seek(seconds),
                                    PlayerCommand::PlaySpan(span) => player.play_span(span),
                                    PlayerCommand::StopSpan => player.stop_span(),
                                    PlayerCommand::StepSpeed(steps) => player.step_speed(steps),
                                }
                            }
                        }
                    }
                }
                let changed = bench.document.drain_changes();
                bench.editor.records_changed(changed.into_iter().filter_map(
                    |change| match change {
                        haic::Change::Record { record } => Some(record),
                        haic::Change::Saved => None,
                    },
                ));
            },
            bench,
        )
}

/// Seconds of egui time per frame: short enough that a few queued key events stay well inside
/// the typing pause (`keye_ui::captions::typing::BURST_PAUSE`).
pub const STEP: f32 = 0.05;

/// Lets `seconds` pass without input, then runs the frames the panel asks for to show what it
/// did.
pub fn wait(harness: &mut Harness<'_, Bench>, seconds: f32) {
    for _ in 0..(seconds / STEP).ceil() as usize {
        harness.step();
    }
    harness.run();
}

pub fn select_record(harness: &mut Harness<'_, Bench>, number: usize) {
    harness
        .get_by_label_contains(&format!("#{number} clips/"))
        .click();
    harness.run();
    assert_eq!(harness.state().editor.selected(), Some(number));
}
