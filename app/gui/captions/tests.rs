//! The caption panel as the app drives it: the timeline's drags, the quit prompt, and typing that
//! reaches the journal, saves and autosaves. The caption file's own state (loading, autosave,
//! recovery, drafts) is tested in `session::captions`.

use egui_kittest::kittest::Queryable;

use haic::{Command, Edit};
use keye_ui::{CaptionEdgeDrag, SegmentEdge};

use super::*;
use crate::session::captions::AUTOSAVE_INTERVAL;

const FILE: &str = "{\"video\": \"a.mp4\", \"caption\": \"There is one person in the video. The person is the boy in a red cap.\\n\\nThe boy in a red cap jumps.\"}\n";

pub(super) fn open_blocking(path: &Path) -> CaptionSession {
    let mut session = CaptionSession::new();
    let mut toasts = Toasts::default();
    session.open(path, &mut toasts, || {});
    let deadline = Instant::now() + Duration::from_secs(20);
    while session.file.is_loading() && Instant::now() < deadline {
        session.poll_loading(&mut toasts);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(session.document().is_some(), "{path:?} did not open");
    session
}

fn set_action(action: &str) -> CaptionAction {
    CaptionAction::Edit(Command {
        record: 0,
        edit: Edit::SetAction {
            index: 0,
            action: action.into(),
        },
    })
}

fn action_of(session: &CaptionSession) -> String {
    let caption = session.document().unwrap().file().caption(0).unwrap();
    caption.structure().unwrap().events[0].action.clone()
}

#[test]
fn timeline_drags_become_timing_edits_of_the_selected_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.json");
    std::fs::write(
        &path,
        r#"[{"video": "a.mp4", "people": [{"id": "P1", "attributes": "the boy"}], "events": [{"who": ["P1"], "action": "jumps", "start": 1.0, "end": 2.0}], "caption": ""}]"#,
    )
    .unwrap();
    let mut session = open_blocking(&path);
    session.editor.select(0);
    let mut timeline = Timeline::new(10.0);
    let mut toasts = Toasts::default();
    session.sync_timeline(&mut timeline, &mut toasts);
    assert_eq!(timeline.tracks.caption_events.len(), 1);
    assert_eq!(timeline.tracks.caption_events[0].end, 2.0);
    // A drag's edit applied (as sync_timeline applies `drag_command`'s) shows on the next sync.
    let record = session.editor.selected().unwrap();
    let command = session
        .file
        .drag_command(
            record,
            CaptionEdgeDrag {
                event: 0,
                edge: SegmentEdge::End,
                time: 3.25,
            },
        )
        .unwrap();
    session.apply(CaptionAction::Edit(command), &mut toasts);
    session.sync_timeline(&mut timeline, &mut toasts);
    assert_eq!(timeline.tracks.caption_events[0].end, 3.25);
    assert!(session.is_dirty());
}

/// Runs one frame of `session.tick` with the window asked to close; returns whether the app
/// cancelled the close.
fn close_frame(session: &mut CaptionSession, ctx: &egui::Context) -> bool {
    let mut input = egui::RawInput::default();
    input
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    let mut toasts = Toasts::default();
    let mut output = ctx.run_ui(input, |ui| session.tick(ui.ctx(), &mut toasts));
    // No renderer here: the font atlas upload is dropped on purpose.
    output.textures_delta.clear();
    output
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .is_some_and(|viewport| {
            viewport
                .commands
                .contains(&egui::ViewportCommand::CancelClose)
        })
}

#[test]
fn closing_with_unsaved_edits_is_held_for_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let mut session = open_blocking(&path);
    let ctx = egui::Context::default();
    assert!(!close_frame(&mut session, &ctx), "a clean file closes");

    session.apply(set_action("waves"), &mut Toasts::default());
    assert!(
        close_frame(&mut session, &ctx),
        "unsaved edits hold the close"
    );
    assert_eq!(session.quit, Quit::Asking);

    session.close_without_asking();
    assert!(!close_frame(&mut session, &ctx), "a screenshot run closes");
    assert!(
        haic::document::journal_path(&path).exists(),
        "edits stay journaled"
    );
}

/// The caption session driven by kittest as the app drives it: `tick` once per frame.
struct QuitBench {
    session: CaptionSession,
    toasts: Toasts,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A session over a file with one unsaved edit ("waves"), whose window was asked to close:
/// the prompt is up.
fn quit_prompt_harness() -> egui_kittest::Harness<'static, QuitBench> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let mut session = open_blocking(&path);
    let mut toasts = Toasts::default();
    session.apply(set_action("waves"), &mut toasts);
    let bench = QuitBench {
        session,
        toasts,
        _dir: dir,
        path,
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(640.0, 400.0))
        .build_ui_state(
            |ui, bench: &mut QuitBench| bench.session.tick(ui.ctx(), &mut bench.toasts),
            bench,
        );
    harness.run();
    let commands = request_close(&mut harness);
    assert!(
        commands.contains(&egui::ViewportCommand::CancelClose),
        "unsaved edits hold the close: {commands:?}"
    );
    harness.run();
    harness.get_by_label("Unsaved caption edits");
    harness
}

/// One frame with the window's close button pressed; the viewport commands the app sent.
fn request_close(harness: &mut egui_kittest::Harness<'_, QuitBench>) -> Vec<egui::ViewportCommand> {
    harness
        .input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    harness.step();
    root_commands(harness)
}

fn root_commands(harness: &egui_kittest::Harness<'_, QuitBench>) -> Vec<egui::ViewportCommand> {
    harness
        .output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .map(|viewport| viewport.commands.clone())
        .unwrap_or_default()
}

/// Clicks a button of the prompt; the viewport commands of the frame that handled the click.
fn click_prompt(
    harness: &mut egui_kittest::Harness<'_, QuitBench>,
    button: &str,
) -> Vec<egui::ViewportCommand> {
    harness.get_by_label(button).click();
    harness.step();
    root_commands(harness)
}

fn errors(bench: &QuitBench) -> Vec<String> {
    bench
        .toasts
        .items()
        .iter()
        .map(|toast| toast.text.clone())
        .collect()
}

#[test]
fn quit_prompt_save_writes_the_file_and_closes() {
    let mut harness = quit_prompt_harness();
    let commands = click_prompt(&mut harness, "Save");
    assert!(
        commands.contains(&egui::ViewportCommand::Close),
        "{commands:?}"
    );
    let bench = harness.state();
    let saved = std::fs::read_to_string(&bench.path).unwrap();
    assert!(saved.contains("The boy in a red cap waves."), "{saved}");
    assert!(!haic::document::journal_path(&bench.path).exists());
    assert!(!bench.session.is_dirty());
    assert!(errors(bench).is_empty(), "{:?}", errors(bench));
    harness.run();
    assert!(harness.query_by_label("Unsaved caption edits").is_none());
    assert!(
        !request_close(&mut harness).contains(&egui::ViewportCommand::CancelClose),
        "the close goes through"
    );
}

#[test]
fn quit_prompt_discard_keeps_the_file_sets_the_journal_aside_and_closes() {
    let mut harness = quit_prompt_harness();
    let commands = click_prompt(&mut harness, "Discard");
    assert!(
        commands.contains(&egui::ViewportCommand::Close),
        "{commands:?}"
    );
    let bench = harness.state();
    assert_eq!(
        std::fs::read_to_string(&bench.path).unwrap(),
        FILE,
        "the file is as it was"
    );
    assert!(!haic::document::journal_path(&bench.path).exists());
    let aside = bench
        .path
        .with_file_name("captions.jsonl.journal.discarded");
    let journal = std::fs::read_to_string(&aside).expect("the journal is kept aside");
    assert!(journal.contains("waves"), "{journal}");
    assert!(bench.session.document().is_none());
    assert!(errors(bench).is_empty(), "{:?}", errors(bench));
    assert!(
        !request_close(&mut harness).contains(&egui::ViewportCommand::CancelClose),
        "the close goes through"
    );
}

#[test]
fn quit_prompt_cancel_keeps_the_window_and_the_edits() {
    let mut harness = quit_prompt_harness();
    let commands = click_prompt(&mut harness, "Cancel");
    assert!(
        !commands.contains(&egui::ViewportCommand::Close),
        "{commands:?}"
    );
    harness.run();
    assert!(harness.query_by_label("Unsaved caption edits").is_none());
    let bench = harness.state();
    assert!(bench.session.is_dirty(), "the edit is still there, unsaved");
    assert_eq!(action_of(&bench.session), "waves");
    assert_eq!(std::fs::read_to_string(&bench.path).unwrap(), FILE);
    assert!(haic::document::journal_path(&bench.path).exists());
    // Asking to close again asks again.
    assert!(request_close(&mut harness).contains(&egui::ViewportCommand::CancelClose));
    harness.run();
    harness.get_by_label("Unsaved caption edits");
}

/// The caption panel as the app draws it (tick, then the panel), over a file in a temporary
/// folder. Frames are 50 ms of egui time apart.
struct PanelBench {
    session: CaptionSession,
    toasts: Toasts,
    path: PathBuf,
}

const FRAME: f32 = 0.05;

fn panel_harness(path: &Path) -> egui_kittest::Harness<'static, PanelBench> {
    let bench = PanelBench {
        session: open_blocking(path),
        toasts: Toasts::default(),
        path: path.to_path_buf(),
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(640.0, 700.0))
        .with_step_dt(FRAME)
        .build_ui_state(
            |ui, bench: &mut PanelBench| {
                bench.session.tick(ui.ctx(), &mut bench.toasts);
                bench.session.ui(ui, None, &mut bench.toasts);
            },
            bench,
        );
    harness.run();
    harness
}

/// Lets `seconds` of egui time pass without input.
fn wait(harness: &mut egui_kittest::Harness<'_, PanelBench>, seconds: f32) {
    for _ in 0..(seconds / FRAME).ceil() as usize {
        harness.step();
    }
}

/// Clicks into "Event 1 action" and types `text` at its end, leaving the keyboard there.
fn type_into_action(harness: &mut egui_kittest::Harness<'_, PanelBench>, text: &str) {
    harness.get_by_label("Event 1 action").focus();
    harness.step();
    harness.key_press(egui::Key::End);
    harness.get_by_label("Event 1 action").type_text(text);
    harness.step();
}

fn journal_of(path: &Path) -> String {
    std::fs::read_to_string(haic::document::journal_path(path)).unwrap_or_default()
}

#[test]
fn typing_without_leaving_the_field_is_journaled_within_a_second_and_recovered_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let mut harness = panel_harness(&path);
    type_into_action(&mut harness, " high");
    wait(&mut harness, 1.0);
    assert!(harness.get_by_label("Event 1 action").is_focused());
    let journal = journal_of(&path);
    assert!(journal.contains("jumps high"), "journal: {journal}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        FILE,
        "not saved yet"
    );
    assert_eq!(
        harness.state().session.title(),
        "keye-studio - captions.jsonl *"
    );
    // The app is killed: nothing runs on the way out.
    std::mem::forget(harness);

    let mut harness = panel_harness(&path);
    harness.get_by_label_contains("Recovered 1 unsaved edit to captions.jsonl");
    assert_eq!(
        harness.get_by_label("Event 1 action").value().as_deref(),
        Some("jumps high")
    );
    harness.get_by_label("Keep").click();
    harness.run();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    harness.run();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        saved.contains("The boy in a red cap jumps high."),
        "{saved}"
    );
}

#[test]
fn ctrl_s_with_the_keyboard_in_a_field_writes_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let mut harness = panel_harness(&path);
    // Nothing changed: Ctrl+S writes nothing (no backup appears).
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    harness.run();
    assert!(!haic::save::backup_path(&path).exists());

    type_into_action(&mut harness, " twice");
    // At once, before any pause.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    harness.run();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        saved.contains("The boy in a red cap jumps twice."),
        "{saved}"
    );
    assert_eq!(
        std::fs::read_to_string(haic::save::backup_path(&path)).unwrap(),
        FILE
    );
    assert!(!haic::document::journal_path(&path).exists());
    let bench = harness.state();
    assert!(!bench.session.is_dirty());
    assert!(
        bench.toasts.items().is_empty(),
        "{:?}",
        errors_of(&bench.toasts)
    );
    assert!(harness.get_by_label("Event 1 action").is_focused());
}

#[test]
fn the_menu_save_autosave_and_the_quit_prompt_take_the_field_text_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let mut harness = panel_harness(&path);

    // Captions > Save captions calls `save` with the keyboard still in the field.
    type_into_action(&mut harness, " once");
    {
        let bench = harness.state_mut();
        assert!(bench.session.save(&mut bench.toasts));
    }
    let saved = std::fs::read_to_string(bench_path(&harness)).unwrap();
    assert!(saved.contains("jumps once."), "{saved}");

    // Autosave falls due while the annotator types: what the field holds goes in too.
    type_into_action(&mut harness, " more");
    wait(&mut harness, 1.0);
    assert!(harness.state().session.is_dirty());
    type_into_action(&mut harness, " still");
    {
        let bench = harness.state_mut();
        bench
            .session
            .autosave(Instant::now() + 2 * AUTOSAVE_INTERVAL, &mut bench.toasts);
    }
    let saved = std::fs::read_to_string(bench_path(&harness)).unwrap();
    assert!(saved.contains("jumps once more still."), "{saved}");

    // Closing the window a moment after typing asks first; Save writes the text.
    type_into_action(&mut harness, " again");
    harness
        .input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    harness.step();
    harness.run();
    harness.get_by_label("Unsaved caption edits");
    // The prompt's Save (the panel's toolbar has one too), drawn last, on top.
    harness
        .get_all_by_label("Save")
        .last()
        .expect("the prompt's Save")
        .click();
    harness.run();
    let saved = std::fs::read_to_string(bench_path(&harness)).unwrap();
    assert!(saved.contains("jumps once more still again."), "{saved}");
    assert!(
        harness.query_by_label("Unsaved caption edits").is_none(),
        "the prompt's Save was clicked, and closed it"
    );
    assert!(errors_of(&harness.state().toasts).is_empty());
}

fn bench_path(harness: &egui_kittest::Harness<'_, PanelBench>) -> PathBuf {
    harness.state().path.clone()
}

fn errors_of(toasts: &Toasts) -> Vec<String> {
    toasts
        .items()
        .iter()
        .map(|toast| toast.text.clone())
        .collect()
}

#[test]
fn compare_with_another_file_lists_the_differences_and_draws_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.jsonl");
    let theirs = dir.path().join("theirs.jsonl");
    let record = |events: &str| {
        format!(
            "{{\"video\": \"a.mp4\", \"people\": [{{\"id\": \"P1\", \"attributes\": \"the boy in a red cap\"}}], \"events\": [{events}], \"caption\": \"\"}}\n"
        )
    };
    std::fs::write(
        &ours,
        record(r#"{"who": ["P1"], "action": "jumps", "start": 1.0, "end": 2.0}, {"who": ["P1"], "action": "waves", "start": 3.0, "end": 4.0}"#),
    )
    .unwrap();
    std::fs::write(
        &theirs,
        record(r#"{"who": ["P1"], "action": "jumps", "start": 1.5, "end": 2.5}"#),
    )
    .unwrap();
    let mut session = open_blocking(&ours);
    session.editor.select(0);
    let ctx = egui::Context::default();
    let mut toasts = Toasts::default();
    session.compare_with(&theirs, &ctx, &mut toasts);
    let deadline = Instant::now() + Duration::from_secs(20);
    while session.compared_file().is_none() && Instant::now() < deadline {
        session.poll_compare(&ctx, &mut toasts);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(session.compared_file(), Some(theirs.as_path()));

    let mut timeline = Timeline::new(10.0);
    session.sync_timeline(&mut timeline, &mut toasts);
    assert_eq!(timeline.tracks.compare_events.len(), 1);
    assert_eq!(
        (
            timeline.tracks.compare_events[0].start,
            timeline.tracks.compare_events[0].end
        ),
        (1.5, 2.5)
    );

    let mut harness = egui_kittest::Harness::new_ui_state(
        |ui, session: &mut CaptionSession| {
            let mut toasts = Toasts::default();
            session.ui(ui, None, &mut toasts);
        },
        session,
    );
    harness.run();
    harness.get_by_label("Compared with theirs.jsonl");
    // "jumps" overlaps 0.5 s of 1.5 s; "waves" is only in ours.
    harness.get_by_label_contains("Only here: event 2 \"waves\" 3.00-4.00 s");
    harness.get_by_label_contains("Timed differently (IoU 0.33): event 1");
    harness.get_by_label_contains("Only here: event 2").click();
    harness.run();
    assert_eq!(
        harness.state().editor.located(),
        Some(keye_ui::captions::Field::Event(
            1,
            keye_ui::captions::EventField::Action
        ))
    );

    harness.state_mut().stop_comparing();
    session_sync_clears(harness.state_mut(), &mut timeline);
}

fn session_sync_clears(session: &mut CaptionSession, timeline: &mut Timeline) {
    let mut toasts = Toasts::default();
    session.sync_timeline(timeline, &mut toasts);
    assert!(timeline.tracks.compare_events.is_empty());
}
