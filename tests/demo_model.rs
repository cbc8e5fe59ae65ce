//! The shipped demo checkpoints (`assets/models/*`): they load through the same `Runtime::load`
//! as real checkpoints, answer a fixed set of generated questions (greedy, so deterministic) at
//! least as well as measured when they were shipped, less a stated margin, and the heatmap the
//! GUI draws for a colour answer peaks on the named actor.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use keye_model::generate::ThinkingMode;
use keye_studio::{
    demo::{
        dataset::scenes,
        encode::write_video,
        eval::{EvalOptions, EvalReport, evaluate},
        questions::{Kind, all_questions},
        world::{cell_region, overlaps},
    },
    gui::ask::AskController,
    inference::{LoadedModel, Placement},
    video::Video,
};
use keye_ui::{ModelTracks, ThinkingChoice, Toasts, TokenSelection, TracePhase};

/// Videos of the fixed question set; not a seed the trainer or `eval demo` defaults use.
const TEST_SEED: u64 = 2024;
const TEST_VIDEOS: usize = 6;
/// The heatmap test's videos (the first `TEST_VIDEOS` and more): one colour question each. Thirty,
/// since on ten the verdict swung with two or three videos (the checkpoint shipped before this one
/// passed on 3 of 4 while its rate on 30 other videos was 0.46; this one failed on 3 of 6 at 0.70).
const HEATMAP_VIDEOS: usize = 30;
/// Answers are a word or two; this bounds a model that runs on.
const TEST_MAX_NEW_TOKENS: usize = 16;

/// What one shipped checkpoint answered right on the fixed questions when it was shipped.
struct Measured {
    /// Folder under `assets/models/`.
    folder: &'static str,
    /// Per kind: (questions, answered right).
    kinds: &'static [(Kind, usize, usize)],
}

/// One row per folder under `assets/models/` (a test fails when a folder has none). To update
/// after replacing a checkpoint's `model.safetensors`, measure the very questions these tests ask:
///
/// ```text
/// cargo run --release -- eval demo --model assets/models/FOLDER \
///     --count 6 --seed 2024 --max-new-tokens 16 --json
/// ```
///
/// and copy each entry of `kinds` as `(Kind::…, questions, correct)`.
///
/// Margin rule: each kind may answer [`KIND_MARGIN`] question fewer, all kinds together
/// [`TOTAL_MARGIN`] fewer (where two logits are close, float differences between machines can
/// flip an answer; a regression loses more). The question counts must match exactly: they pin
/// the question set, so a change to the world or the questions asks for a new measurement.
const MEASURED: &[Measured] = &[
    Measured {
        folder: "keye-demo",
        kinds: &[
            (Kind::Colour, 9, 9),
            (Kind::Shape, 8, 8),
            (Kind::Count, 6, 6),
            (Kind::Direction, 5, 2),
            (Kind::Order, 6, 2),
            (Kind::Interaction, 4, 0),
        ],
    },
    Measured {
        folder: "keye-demo-mavors",
        kinds: &[
            (Kind::Colour, 9, 7),
            (Kind::Shape, 8, 2),
            (Kind::Count, 6, 6),
            (Kind::Direction, 5, 3),
            (Kind::Order, 6, 2),
            (Kind::Interaction, 4, 0),
        ],
    },
];
const KIND_MARGIN: usize = 1;
const TOTAL_MARGIN: usize = 2;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models")
}

fn load(folder: &str) -> Arc<LoadedModel> {
    let dir = models_dir().join(folder);
    let model = LoadedModel::load(&dir, Placement::default(), None, None)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    Arc::new(model)
}

/// The report `eval demo --count 6 --seed 2024 --max-new-tokens 16` prints for `folder`.
fn evaluated(folder: &str) -> EvalReport {
    let videos = tempfile::tempdir().unwrap();
    let options = EvalOptions {
        count: TEST_VIDEOS,
        seed: TEST_SEED,
        thinking: ThinkingMode::NoThink,
        describe: false,
        max_new_tokens: TEST_MAX_NEW_TOKENS,
    };
    evaluate(
        &load(folder),
        videos.path(),
        &options,
        &mut |_, _| {},
        &AtomicBool::new(false),
    )
    .expect("evaluation runs")
}

#[test]
fn every_shipped_checkpoint_has_measured_figures() {
    let mut folders: Vec<String> = std::fs::read_dir(models_dir())
        .expect("assets/models")
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut rows: Vec<String> = MEASURED.iter().map(|m| m.folder.to_owned()).collect();
    rows.sort();
    assert_eq!(folders, rows, "assets/models folders and MEASURED rows");
}

#[test]
fn the_shipped_checkpoints_answer_the_fixed_questions() {
    for measured in MEASURED {
        let report = evaluated(measured.folder);
        let table = report.table();
        let name = measured.folder;
        let (mut expected, mut got) = (0, 0);
        for &(kind, questions, correct) in measured.kinds {
            let summary = report
                .kind(kind)
                .unwrap_or_else(|| panic!("{name}: no {kind:?} questions\n{table}"));
            assert_eq!(
                summary.questions, questions,
                "{name} {kind:?}: the question set changed; measure again\n{table}"
            );
            assert!(
                summary.correct + KIND_MARGIN >= correct,
                "{name} {kind:?}: {} of {questions} right, {correct} when shipped\n{table}",
                summary.correct
            );
            expected += correct;
            got += summary.correct;
        }
        assert!(
            got + TOTAL_MARGIN >= expected,
            "{name}: {got} right in all, {expected} when shipped\n{table}"
        );
        eprintln!("{name}:\n{table}");
    }
}

/// Runs `inner` in a child process whose data folders are temporary: the ask controller keeps
/// each video's conversation under the user's data folder, which a test must not touch.
fn in_private_home(inner: &str) {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            inner,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .output()
        .expect("run the test binary again");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "{inner} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_gui_heatmap_of_a_colour_answer_peaks_on_the_named_actor() {
    in_private_home("colour_heatmaps_peak_on_the_actor");
}

/// For each test video: asks the colour of one actor through the GUI's ask controller, selects
/// the answer's colour word as a click would, and takes the overlay the GUI draws at each sampled
/// frame where the actor is visible. On most videos answered right, the brightest cell is on the
/// actor (overlaps its box, the cells the hit ratio counts) on most of those frames, so a wrong
/// patch order, a flipped axis or a wrong frame mapping fails: the actor covers 4 to 9 of a
/// frame's 48 to 54 cells. Not the cell's centre inside the box: the cells an actor straddles
/// draw nearly equal attention (five cells at 7.1 to 8.7 % each, the rest under 0.01 %, on a
/// circle of the seed-1 videos), so that rule picked among them by chance.
#[test]
#[ignore = "run by the_gui_heatmap_of_a_colour_answer_peaks_on_the_named_actor"]
fn colour_heatmaps_peak_on_the_actor() {
    let model = load("keye-demo");
    let dir = tempfile::tempdir().unwrap();
    let ctx = eframe::egui::Context::default();
    let (mut passed, mut answered) = (0, 0);
    let mut log = String::new();
    for (index, scene) in scenes(TEST_SEED, HEATMAP_VIDEOS).iter().enumerate() {
        let Some(question) = all_questions(scene)
            .into_iter()
            .find(|q| q.kind == Kind::Colour && q.question.starts_with("What colour is"))
        else {
            continue;
        };
        let actor = question.named[0];
        let path = dir.path().join(format!("{index}.mp4"));
        write_video(scene, &path).unwrap();
        let mut toasts = Toasts::default();
        let mut controller = AskController::default();
        controller.set_video(Some(&path), &mut toasts);
        // As the player does once it has opened the video: the ask reads its frame index.
        let indexed = Video::open(&path).expect("the video opens").indexed();
        controller.set_indexed(Some(&indexed));
        controller.update_availability(Some(&model), None, false, true);
        controller.panel.thinking = ThinkingChoice::NoThink;
        assert!(controller.ask_now(&question.question, Some(&model), &mut toasts));
        let started = Instant::now();
        while controller.is_running() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no answer in 2 min"
            );
            controller.poll(&ctx, &mut toasts);
            std::thread::sleep(Duration::from_millis(5));
        }
        let turn = &controller.conversation().turns()[0].view;
        let answer = turn
            .trace
            .sections()
            .iter()
            .filter(|s| s.phase == TracePhase::Answer)
            .flat_map(|s| s.pieces.iter())
            .find(|p| p.text.trim() == question.answer)
            .and_then(|p| p.step);
        let Some(step) = answer else {
            log.push_str(&format!(
                "video {index}: {:?} answered {:?}, not {:?}\n",
                question.question,
                turn.trace.text(TracePhase::Answer),
                question.answer
            ));
            continue;
        };
        answered += 1;
        controller.panel.select(Some(TokenSelection {
            turn: 0,
            steps: step..=step,
        }));
        let mut tracks = ModelTracks::default();
        controller.update_tracks(&mut tracks);
        let (mut on, mut frames) = (0, 0);
        for &time in &tracks.sampled_frames {
            let frame = (time * f64::from(scene.fps)).round() as usize;
            let Some(actor_box) = scene.box_at_frame(actor, frame) else {
                continue;
            };
            let overlay = controller
                .overlay(time)
                .expect("a heatmap on a sampled frame");
            let grid = &overlay.grid;
            let peak = (0..grid.values.len())
                .max_by(|&a, &b| grid.values[a].total_cmp(&grid.values[b]))
                .unwrap();
            let (row, col) = (peak / grid.cols, peak % grid.cols);
            let cell = cell_region(row, col, grid.rows, grid.cols, scene.width, scene.height);
            frames += 1;
            if overlaps(cell, actor_box) {
                on += 1;
            }
        }
        log.push_str(&format!(
            "video {index}: {:?} -> {:?}; peak on the actor on {on} of {frames} frames\n",
            question.question, question.answer
        ));
        if frames > 0 && on * 2 > frames {
            passed += 1;
        }
    }
    eprint!("{log}");
    assert!(
        answered >= 3,
        "too few colour questions answered right\n{log}"
    );
    assert!(
        passed * 2 > answered,
        "the heatmap peaked on the actor in {passed} of {answered} videos\n{log}"
    );
}
