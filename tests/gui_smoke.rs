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

#[test]
fn the_app_shows_the_sample_video_and_writes_a_screenshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let video = root.join("assets/sample-16x9.mp4");
    assert!(
        video.is_file(),
        "{} is missing (scripts/make-sample-media makes it)",
        video.display()
    );
    let scratch = tempfile::tempdir().expect("temp dir");
    let runtime_dir = scratch.path().join("runtime");
    std::fs::create_dir(&runtime_dir).expect("runtime dir");
    std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let screenshot = scratch.path().join("window.png");

    let (_xvfb, display) = start_xvfb();
    let mut app = Reaped(
        Command::new(env!("CARGO_BIN_EXE_keye-studio"))
            .arg(&video)
            .arg("--screenshot-after")
            .arg("1")
            .arg(&screenshot)
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            // Settings and egui memory go to a fresh home, not the developer's.
            .env("HOME", scratch.path())
            .env("XDG_DATA_HOME", scratch.path().join("data"))
            .env("XDG_CONFIG_HOME", scratch.path().join("config"))
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
            started.elapsed() < Duration::from_secs(120),
            "keye-studio did not exit in 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = app.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("read stderr");
    }
    assert!(status.success(), "keye-studio failed ({status}):\n{stderr}");

    let image = image::open(&screenshot)
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

/// The caption editor in the real app: a caption file whose journal holds an edit from a session
/// that did not save opens with the edit recovered, and nothing is written to the file before the
/// annotator keeps or discards it.
#[test]
fn the_app_opens_captions_and_leaves_recovered_edits_to_the_annotator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let video = root.join("assets/sample-16x9.mp4");
    let scratch = tempfile::tempdir().expect("temp dir");
    let runtime_dir = scratch.path().join("runtime");
    std::fs::create_dir(&runtime_dir).expect("runtime dir");
    std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let screenshot = scratch.path().join("window.png");
    let captions = scratch.path().join("captions.jsonl");
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

    let (_xvfb, display) = start_xvfb();
    let mut app = Reaped(
        Command::new(env!("CARGO_BIN_EXE_keye-studio"))
            .arg(&video)
            .arg("--captions")
            .arg(&captions)
            .arg("--screenshot-after")
            .arg("2")
            .arg(&screenshot)
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("HOME", scratch.path())
            .env("XDG_DATA_HOME", scratch.path().join("data"))
            .env("XDG_CONFIG_HOME", scratch.path().join("config"))
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
            started.elapsed() < Duration::from_secs(120),
            "keye-studio did not exit in 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = app.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("read stderr");
    }
    assert!(status.success(), "keye-studio failed ({status}):\n{stderr}");

    assert_eq!(
        std::fs::read(&captions).expect("read captions"),
        saved,
        "the file is untouched until the annotator keeps the recovered edit"
    );
    let journal_text = std::fs::read_to_string(&journal).expect("the journal is still there");
    assert!(journal_text.contains("claps"), "{journal_text}");

    // The caption panel fills the left of the window with text and widgets.
    let image = image::open(&screenshot)
        .expect("the screenshot is a PNG")
        .to_rgba8();
    let panel = image::imageops::crop_imm(&image, 8, 40, 300, 300).to_image();
    let colours: std::collections::HashSet<[u8; 4]> = panel.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 20,
        "the caption panel looks empty: {} colours",
        colours.len()
    );
}
