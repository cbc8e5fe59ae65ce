//! The caption file as plain state: opening it on a worker, autosave, recovery through the
//! journal, load problems told once, and drafts from the tiny model through the parser.

use std::path::Path;
use std::time::{Duration, Instant};

use haic::{Command, Edit};
use keye_ui::DraftAvailability;

use super::draft::{draft_prompt, parse_draft_answer};
use super::*;

const FILE: &str = "{\"video\": \"a.mp4\", \"caption\": \"There is one person in the video. The person is the boy in a red cap.\\n\\nThe boy in a red cap jumps.\"}\n";

fn open_blocking(path: &Path) -> CaptionFile {
    let mut session = CaptionFile::new();
    let mut toasts = Toasts::default();
    session.open(path, &mut toasts, || {});
    assert!(
        session.wait_loading(&mut toasts, Duration::from_secs(20)),
        "{path:?} did not open: {:?}",
        errors_of(&toasts)
    );
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

fn action_of(session: &CaptionFile) -> String {
    let caption = session.document().unwrap().file().caption(0).unwrap();
    caption.structure().unwrap().events[0].action.clone()
}

fn errors_of(toasts: &Toasts) -> Vec<String> {
    toasts
        .items()
        .iter()
        .map(|toast| toast.text.clone())
        .collect()
}

#[test]
fn an_edit_reports_its_record_and_marks_the_file_dirty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let mut session = open_blocking(&path);
    let mut toasts = Toasts::default();
    assert!(!session.is_dirty());
    let applied = session.apply(set_action("waves"), &mut toasts);
    assert_eq!(
        applied,
        Applied {
            records: vec![0],
            undoing: false
        }
    );
    assert!(session.is_dirty());
    assert_eq!(session.title(true), "keye-studio - captions.jsonl *");
    let applied = session.apply(CaptionAction::Undo, &mut toasts);
    assert_eq!(
        applied,
        Applied {
            records: vec![0],
            undoing: true
        }
    );
    assert!(!session.is_dirty(), "undone to the saved state");
    assert_eq!(session.title(false), "keye-studio - captions.jsonl");
    assert_eq!(
        session.title(true),
        "keye-studio - captions.jsonl *",
        "typing not yet sent"
    );
    // An edit that does not fit is told, naming the file.
    let applied = session.apply(
        CaptionAction::Edit(Command {
            record: 0,
            edit: Edit::SetAction {
                index: 9,
                action: "runs".into(),
            },
        }),
        &mut toasts,
    );
    assert!(applied.records.is_empty());
    let errors = errors_of(&toasts);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("captions.jsonl: edit not applied"),
        "{errors:?}"
    );
}

#[test]
fn edge_drags_become_timing_edits_and_events_become_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.json");
    std::fs::write(
        &path,
        r#"[{"video": "a.mp4", "people": [{"id": "P1", "attributes": "the boy"}], "events": [{"who": ["P1"], "action": "jumps", "start": 1.0, "end": 2.0}, {"who": ["P1"], "action": "lands", "start": 2.5}], "caption": ""}]"#,
    )
    .unwrap();
    let session = open_blocking(&path);
    let segments = session.segments(0);
    assert_eq!(segments.len(), 2);
    assert_eq!((segments[0].start, segments[0].end), (1.0, 2.0));
    assert_eq!(
        (segments[1].start, segments[1].end),
        (2.5, 2.5),
        "an instant"
    );
    assert!(session.segments(7).is_empty(), "no such record");
    let command = session
        .drag_command(
            0,
            keye_ui::CaptionEdgeDrag {
                event: 0,
                edge: SegmentEdge::Start,
                time: 0.12345,
            },
        )
        .unwrap();
    assert_eq!(
        command.edit,
        Edit::SetTimes {
            index: 0,
            start: Some(0.123),
            end: Some(2.0)
        }
    );
}

#[test]
fn autosave_writes_edits_and_an_unsaved_session_is_recovered_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(&path, FILE).unwrap();
    let mut toasts = Toasts::default();

    let mut session = open_blocking(&path);
    assert_eq!(session.title(false), "keye-studio - captions.jsonl");
    session.apply(set_action("waves"), &mut toasts);
    assert_eq!(session.title(false), "keye-studio - captions.jsonl *");
    assert_eq!(
        session.autosave_in().map(|left| left <= AUTOSAVE_INTERVAL),
        Some(true)
    );
    assert!(!session.autosave_due(Instant::now()), "not due yet");
    assert!(session.autosave_due(Instant::now() + AUTOSAVE_INTERVAL));
    assert!(session.save(&mut toasts));
    assert!(!session.is_dirty(), "autosaved");
    assert_eq!(session.autosave_in(), None, "nothing waits");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("The boy in a red cap waves."), "{saved}");
    assert!(!haic::document::journal_path(&path).exists());

    // An edit, then the app goes away without saving (a crash, a kill).
    session.apply(set_action("claps"), &mut toasts);
    drop(session);
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert!(!on_disk.contains("claps"), "not saved: {on_disk}");

    let session = open_blocking(&path);
    assert_eq!(action_of(&session), "claps", "the journal brought it back");
    assert!(session.is_dirty());
    let message = session.recovery_message().expect("recovery is told");
    assert!(
        message.contains("Recovered 1 unsaved edit to captions.jsonl"),
        "{message}"
    );
    let mut session = session;
    assert!(
        !session.autosave_due(Instant::now() + 2 * AUTOSAVE_INTERVAL),
        "recovered edits wait for Keep or Discard before autosave writes them"
    );
    assert!(toasts.items().is_empty(), "no errors");

    // Discard reopens the file as saved and keeps the journal aside, unreplayed.
    session.discard_recovered(&mut toasts, || {});
    assert!(session.wait_loading(&mut toasts, Duration::from_secs(20)));
    assert_eq!(action_of(&session), "waves");
    assert!(!session.is_dirty());
    assert!(session.recovery_message().is_none());
    assert!(
        dir.path()
            .join("captions.jsonl.journal.discarded")
            .is_file()
    );
    assert!(!haic::document::journal_path(&path).exists());
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.json");
    let mut session = CaptionFile::new();
    let mut toasts = Toasts::default();
    session.open(&path, &mut toasts, || {});
    assert!(!session.wait_loading(&mut toasts, Duration::from_secs(20)));
    assert!(!session.is_loading());
    assert!(session.document().is_none());
    let shown: Vec<_> = toasts
        .items()
        .iter()
        .map(|toast| toast.text.clone())
        .collect();
    let shown = shown.join("\n");
    assert!(shown.contains("nope.json"), "{shown}");
}

#[test]
fn a_record_that_cannot_be_read_is_told_once_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(
        &path,
        format!("{FILE}{{\"video\": \"b.mp4\", \"caption\": \"bad \\udc00 surrogate\"}}\n"),
    )
    .unwrap();
    let mut session = CaptionFile::new();
    let mut toasts = Toasts::default();
    session.open(&path, &mut toasts, || {});
    assert!(session.wait_loading(&mut toasts, Duration::from_secs(20)));
    assert_eq!(
        errors_of(&toasts),
        [format!(
            "{}:2:36: record 1: JSON syntax error: invalid escape \\udc00: a low surrogate without a high surrogate escape (\\ud800 to \\udbff) before it (kept as it is in the file)",
            path.display()
        )]
    );
}

#[test]
fn model_answers_parse_past_reasoning_fences_and_preamble() {
    let answer = "<think>two people, a wave</think>Sure! Here is the caption:\n```text\nThere are two people in the video. The first person is the man in a red shirt. The second person is the woman in a blue dress.\n\nThe man in a red shirt waves to the woman in a blue dress.\n```";
    let structure = parse_draft_answer(answer).expect("parses");
    assert_eq!(structure.people.len(), 2);
    assert_eq!(structure.events.len(), 1);
    assert_eq!(structure.events[0].with, ["P2"]);
    assert!(parse_draft_answer("I cannot see any video.").is_err());
    assert!(parse_draft_answer(&draft_prompt()[draft_prompt().find("There").unwrap()..]).is_ok());
}

#[test]
fn a_draft_from_the_tiny_model_goes_through_the_parser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = LoadedModel::load(
        &root.join("tests/fixtures/models/keye-preview-tiny"),
        Default::default(),
        None,
        None,
    )
    .expect("the tiny checkpoint loads");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captions.jsonl");
    std::fs::write(
        &path,
        "{\"video\": \"sample-16x9.mp4\", \"caption\": \"\"}\n",
    )
    .unwrap();
    let mut session = open_blocking(&path);
    // A small still keeps the test quick; the job is the same for a video.
    let video = dir.path().join("still.png");
    image::RgbImage::from_fn(56, 56, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
    })
    .save(&video)
    .unwrap();
    assert!(matches!(
        session.draft_availability(Some(video.as_path())),
        DraftAvailability::Unavailable(_)
    ));
    session.set_model(Some(Arc::new(model)));
    assert!(matches!(
        session.draft_availability(None),
        DraftAvailability::Unavailable(_)
    ));
    assert_eq!(
        session.draft_availability(Some(video.as_path())),
        DraftAvailability::Ready
    );
    let mut toasts = Toasts::default();
    session.draft_max_new_tokens = 24;
    session.start_draft(0, &video, &mut toasts);
    assert_eq!(
        session.draft_availability(Some(video.as_path())),
        DraftAvailability::Running
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut shown_draft = None;
    while session.is_drafting() && Instant::now() < deadline {
        shown_draft = shown_draft.or(session.poll_draft(&mut toasts));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!session.is_drafting(), "the draft finished");
    // Random weights write the same gibberish every time (greedy decoding): the answer reaches
    // haic's parser, which refuses it, and no draft is shown.
    assert_eq!(shown_draft, None, "no draft from gibberish");
    let shown: Vec<_> = toasts
        .items()
        .iter()
        .map(|toast| toast.text.clone())
        .collect();
    assert_eq!(
        shown,
        [
            "Draft for caption record #0: the model's answer is not a HAIC caption (it does not start with \"There is/are ... people\")"
        ]
    );
}
