//! The real app in a real window: starts Xvfb on a free display, runs `keye-studio` on the sample
//! video with `--screenshot-after`, and checks the PNG it writes is the window, not a blank frame.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps a child process when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb, letting it pick a free display number (`-displayfd`), and returns it with ":N".
fn start_xvfb() -> (Reaped, String) {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is needed for this test: run scripts/install-deps (package xvfb)");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("Xvfb reports its display number");
    let number = line.trim();
    assert!(
        !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
        "Xvfb said {line:?}"
    );
    (Reaped(child), format!(":{number}"))
}

/// A fresh home, runtime dir and screenshot path for one run of the app.
struct Scratch {
    dir: tempfile::TempDir,
    runtime_dir: std::path::PathBuf,
    screenshot: std::path::PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime_dir = dir.path().join("runtime");
        std::fs::create_dir(&runtime_dir).expect("runtime dir");
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let screenshot = dir.path().join("window.png");
        Self {
            dir,
            runtime_dir,
            screenshot,
        }
    }

    fn data_home(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}

/// Runs `keye-studio ARGS` in a window on a fresh Xvfb with a fresh home, waits for it to exit
/// (within `limit`) and asserts it succeeded; returns its stderr.
fn run_app(args: &[&std::ffi::OsStr], scratch: &Scratch, limit: Duration) -> String {
    let (_xvfb, display) = start_xvfb();
    let mut app = Reaped(
        Command::new(env!("CARGO_BIN_EXE_keye-studio"))
            .args(args)
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_RUNTIME_DIR", &scratch.runtime_dir)
            // Settings and egui memory go to a fresh home, not the developer's.
            .env("HOME", scratch.dir.path())
            .env("XDG_DATA_HOME", scratch.data_home())
            .env("XDG_CONFIG_HOME", scratch.dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start keye-studio"),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = app.0.try_wait().expect("wait for keye-studio") {
            break status;
        }
        assert!(
            started.elapsed() < limit,
            "keye-studio did not exit in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = app.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("read stderr");
    }
    assert!(status.success(), "keye-studio failed ({status}):\n{stderr}");
    stderr
}

/// The screenshot, checked to be the whole window and not blank.
fn window_image(scratch: &Scratch) -> image::RgbaImage {
    let image = image::open(&scratch.screenshot)
        .expect("the screenshot is a PNG")
        .to_rgba8();
    let [width, height] = keye_studio::gui::INITIAL_WINDOW_SIZE;
    assert_eq!(
        image.dimensions(),
        (width as u32, height as u32),
        "the window's size"
    );
    let distinct: std::collections::HashSet<[u8; 4]> = image.pixels().map(|p| p.0).collect();
    assert!(
        distinct.len() > 200,
        "only {} distinct colours: blank window?",
        distinct.len()
    );
    image
}

/// Whether a region has content (text, pictures), not one flat colour.
fn has_content(image: &image::RgbaImage, x: u32, y: u32, width: u32, height: u32) -> bool {
    let region = image::imageops::crop_imm(image, x, y, width, height).to_image();
    let first = region.get_pixel(0, 0).0;
    let varied = region.pixels().filter(|p| p.0 != first).count();
    varied > (region.width() * region.height()) as usize / 50
}

#[test]
fn the_app_shows_the_sample_video_and_writes_a_screenshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let video = root.join("assets/sample-16x9.mp4");
    assert!(
        video.is_file(),
        "{} is missing (scripts/make-sample-media makes it)",
        video.display()
    );
    let scratch = Scratch::new();
    run_app(
        &[
            video.as_os_str(),
            "--screenshot-after".as_ref(),
            "1".as_ref(),
            scratch.screenshot.as_os_str(),
        ],
        &scratch,
        Duration::from_secs(120),
    );
    let image = window_image(&scratch);

    // The video sits in the central area, left of the inspector and above the timeline.
    let video_area = image::imageops::crop_imm(&image, 40, 60, 600, 260).to_image();
    let first = video_area.get_pixel(0, 0).0;
    let varied = video_area.pixels().filter(|p| p.0 != first).count();
    let video_colours: std::collections::HashSet<[u8; 4]> =
        video_area.pixels().map(|p| p.0).collect();
    assert!(
        varied > (video_area.width() * video_area.height()) as usize / 8
            && video_colours.len() > 50,
        "the video area is (almost) uniform: {} colours",
        video_colours.len()
    );
}

/// A person's path through asking: the tiny Keye-VL-1.5 checkpoint loads, the question goes out
/// through the ask panel (`--ask` fills the box and presses Ask), the answer streams in, the
/// conversation is saved for next time, and the window shows it.
#[test]
fn the_app_answers_a_question_about_the_sample_video() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let video = root.join("assets/sample-16x9.mp4");
    let model = root.join("tests/fixtures/models/keye-1.5-tiny");
    let scratch = Scratch::new();
    let started = Instant::now();
    let stderr = run_app(
        &[
            video.as_os_str(),
            "--model".as_ref(),
            model.as_os_str(),
            "--ask".as_ref(),
            "What happens in this video?".as_ref(),
            "--screenshot-after".as_ref(),
            "1".as_ref(),
            scratch.screenshot.as_os_str(),
        ],
        &scratch,
        // About 35 s on two busy cores: 1024 tokens of the random tiny model, rendered live.
        Duration::from_secs(90),
    );
    eprintln!("asked and answered in {:?}", started.elapsed());

    // The answer went through the panel: the conversation file holds the finished turn.
    let conversations = scratch.data_home().join("keye-studio/conversations");
    let saved: Vec<_> = std::fs::read_dir(&conversations)
        .unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", conversations.display()))
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(saved.len(), 1, "one conversation file: {saved:?}");
    let conversation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved[0]).expect("read")).expect("json");
    let turn = &conversation["turns"][0];
    assert_eq!(turn["question"], "What happens in this video?");
    assert_eq!(turn["status"], "finished", "{turn}\n{stderr}");
    let streamed: usize = turn["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| s["text"].as_str().map_or(0, str::len))
        .sum();
    assert!(streamed > 0, "no text streamed: {turn}");
    assert!(turn["timing"]["generated_tokens"].as_u64() > Some(0));

    let image = window_image(&scratch);
    let [width, _] = keye_studio::gui::INITIAL_WINDOW_SIZE;
    // The inspector (right, ~300 points) shows the ask tab with the conversation at its top.
    assert!(
        has_content(&image, width as u32 - 280, 60, 260, 200),
        "the answer region of the inspector is empty"
    );
}

/// The caption editor in the real app: a caption file whose journal holds an edit from a session
/// that did not save opens with the edit recovered, and nothing is written to the file before the
/// annotator keeps or discards it.
#[test]
fn the_app_opens_captions_and_leaves_recovered_edits_to_the_annotator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let video = root.join("assets/sample-16x9.mp4");
    let scratch = Scratch::new();
    let captions = scratch.dir.path().join("captions.jsonl");
    std::fs::write(
        &captions,
        "{\"video\": \"sample-16x9.mp4\", \"people\": [{\"id\": \"P1\", \"attributes\": \"the boy in a red cap\"}], \"events\": [{\"who\": [\"P1\"], \"action\": \"jumps\", \"start\": 1.0, \"end\": 3.0}], \"caption\": \"\"}\n",
    )
    .expect("write captions");
    // A session that edits and ends without saving, as a crash would.
    {
        let (mut document, _) = haic::Document::open(&captions, &haic::FieldNames::default())
            .expect("open the captions");
        document
            .apply(haic::Command {
                record: 0,
                edit: haic::Edit::SetAction {
                    index: 0,
                    action: "claps".into(),
                },
            })
            .expect("edit");
    }
    let saved = std::fs::read(&captions).expect("read captions");
    let journal = haic::document::journal_path(&captions);
    assert!(journal.is_file());

    run_app(
        &[
            video.as_os_str(),
            "--captions".as_ref(),
            captions.as_os_str(),
            "--screenshot-after".as_ref(),
            "2".as_ref(),
            scratch.screenshot.as_os_str(),
        ],
        &scratch,
        Duration::from_secs(120),
    );
    assert_eq!(
        std::fs::read(&captions).expect("read captions"),
        saved,
        "the file is untouched until the annotator keeps the recovered edit"
    );
    let journal_text = std::fs::read_to_string(&journal).expect("the journal is still there");
    assert!(journal_text.contains("claps"), "{journal_text}");

    // The caption panel fills the left of the window with text and widgets.
    let image = window_image(&scratch);
    assert!(
        has_content(&image, 8, 40, 300, 300),
        "the caption panel looks empty"
    );
}
