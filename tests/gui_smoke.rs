//! The real app in a real window: starts Xvfb on a free display, runs `keye-studio` on the sample
//! video, and checks what the window shows, pixel by pixel: the sample video's first frame as the
//! ffmpeg CLI decodes it, and text of the caption panel found where egui draws it. An annotator's
//! session is driven with the keyboard and mouse (xdotool), killed with SIGKILL and recovered.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eframe::egui;
use image::RgbaImage;
use keye_studio::demo::{questions::all_questions, world::Scene};

/// What the demo-model test asks about `assets/demo.mp4` (a question of the showcase scene), in
/// the panel's default thinking choice (auto: the model decides, here to answer at once).
const DEMO_QUESTION: &str = "What shape is the red one?";

/// One app window at a time: each test's app and Xvfb get the machine's cores to themselves, so
/// their time limits hold on a busy two-core machine.
static ONE_WINDOW_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_window_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    // A test that failed while holding it poisons it; the next one can still run.
    ONE_WINDOW_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

/// Where the video frame is drawn inside `area` (x, y, width, height): the bounding box of the
/// rows and columns that are mostly colour. The sample's picture is blue, red, green and yellow;
/// the letterbox is black and egui's panels, menus and text are grey.
fn video_rect(image: &RgbaImage, area: (u32, u32, u32, u32)) -> (u32, u32, u32, u32) {
    let (x0, y0, width, height) = area;
    let lit = |x: u32, y: u32| {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        r.max(g).max(b) - r.min(g).min(b) > 12
    };
    // The longest unbroken run: the timeline's thumbnails below are colour too.
    let longest = |lines: &[u32]| -> (u32, u32) {
        let mut best = (0, 0);
        let mut start = 0;
        for (i, &line) in lines.iter().enumerate() {
            if i > 0 && line != lines[i - 1] + 1 {
                start = i;
            }
            let run = (lines[start], line + 1);
            if run.1 - run.0 > best.1 - best.0 {
                best = run;
            }
        }
        best
    };
    // Rows first, then the columns within those rows, then the rows within those columns.
    let rows: Vec<u32> = (y0..y0 + height)
        .filter(|&y| (x0..x0 + width).filter(|&x| lit(x, y)).count() > width as usize / 4)
        .collect();
    let (mut top, mut bottom) = longest(&rows);
    let columns: Vec<u32> = (x0..x0 + width)
        .filter(|&x| (top..bottom).filter(|&y| lit(x, y)).count() > (bottom - top) as usize / 2)
        .collect();
    let (left, right) = longest(&columns);
    let rows: Vec<u32> = (y0..y0 + height)
        .filter(|&y| (left..right).filter(|&x| lit(x, y)).count() > (right - left) as usize / 2)
        .collect();
    (top, bottom) = longest(&rows);
    assert!(
        right > left && bottom > top,
        "no video in the area {area:?}"
    );
    (left, top, right - left, bottom - top)
}

/// Checks that the window shows the sample video's first frame in `area`: the frame keeps its
/// 16:9 shape, its three boxes are there in their colours (red 0xe04040, green 0x40c060, yellow
/// 0xf0c030, drawn by `scripts/make-sample-media`), and the picture matches the frame the ffmpeg
/// CLI decodes, scaled to the same size.
fn assert_shows_first_frame(image: &RgbaImage, video: &Path, area: (u32, u32, u32, u32)) {
    let (x, y, width, height) = video_rect(image, area);
    let aspect = width as f64 / height as f64;
    assert!(
        (aspect - 16.0 / 9.0).abs() < 0.02,
        "the video is drawn {width}x{height} at ({x}, {y}), not 16:9"
    );
    let shown = image::imageops::crop_imm(image, x, y, width, height).to_image();
    let frames = support::ffmpeg_rgb_frames(video, 640, 360, &["-t", "0.02"]);
    let decoded = image::RgbImage::from_raw(640, 360, frames[0].clone()).expect("640x360 RGB");
    let expected = sampled_like_the_gpu(&decoded, width, height);
    let scale = (width * height) as f64 / (640.0 * 360.0);
    for (name, colour, size) in [
        ("red", [0xe0, 0x40, 0x40], 90.0 * 90.0),
        ("green", [0x40, 0xc0, 0x60], 60.0 * 60.0),
        ("yellow", [0xf0, 0xc0, 0x30], 90.0 * 60.0),
    ] {
        let near = |p: &image::Rgba<u8>| {
            p.0[..3]
                .iter()
                .zip(colour)
                .all(|(&a, b)| a.abs_diff(b) <= 24)
        };
        let count = shown.pixels().filter(|p| near(p)).count() as f64;
        // A box may be partly behind the title text or at the edge at t = 0: half is enough.
        assert!(
            count > 0.4 * size * scale,
            "the {name} box is missing from the video: {count} pixels near {colour:?}"
        );
    }
    let shown_rgb: Vec<u8> = shown
        .pixels()
        .flat_map(|p| [p.0[0], p.0[1], p.0[2]])
        .collect();
    let (_, mean) = support::pixel_difference(&shown_rgb, expected.as_raw());
    // Measured under Xvfb with lavapipe, with the video drawn 732x412 and 327x184: 1.3 against
    // frame 0, 2.5 against frame 1, 4.8 against frame 3, 7.5 against frame 5 (the boxes move);
    // a wrong colour matrix or range is off by more than 2 as well.
    assert!(
        mean < 2.0,
        "the video area differs from ffmpeg's first frame by {mean:.2} on average"
    );
}

/// `source` drawn at `width` x `height` the way the frame shader samples it: bilinear between
/// the four nearest pixels around each output pixel's centre (no mipmaps), edges clamped.
fn sampled_like_the_gpu(source: &image::RgbImage, width: u32, height: u32) -> image::RgbImage {
    let (sw, sh) = source.dimensions();
    let at = |x: i64, y: i64| {
        let x = x.clamp(0, i64::from(sw) - 1) as u32;
        let y = y.clamp(0, i64::from(sh) - 1) as u32;
        source.get_pixel(x, y).0.map(f64::from)
    };
    image::RgbImage::from_fn(width, height, |x, y| {
        let sx = (f64::from(x) + 0.5) * f64::from(sw) / f64::from(width) - 0.5;
        let sy = (f64::from(y) + 0.5) * f64::from(sh) / f64::from(height) - 0.5;
        let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let [a, b, c, d] = [
            at(x0, y0),
            at(x0 + 1, y0),
            at(x0, y0 + 1),
            at(x0 + 1, y0 + 1),
        ];
        image::Rgb(std::array::from_fn(|i| {
            let top = a[i] * (1.0 - fx) + b[i] * fx;
            let bottom = c[i] * (1.0 - fx) + d[i] * fx;
            (top * (1.0 - fy) + bottom * fy).round() as u8
        }))
    })
}

/// A widget as egui draws it in the app (dark theme, one point per pixel), cropped to the pixels
/// it paints: a template to look for in a screenshot.
fn drawn(mut add: impl FnMut(&mut egui::Ui)) -> RgbaImage {
    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(700.0, 60.0))
        .build_ui(|ui| {
            ui.ctx().set_visuals(egui::Visuals::dark());
            add(ui);
        });
    harness.run();
    let image = harness.render().expect("kittest renders with wgpu");
    let background = image.get_pixel(image.width() - 1, image.height() - 1).0;
    let ink: Vec<(u32, u32)> = image
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0 != background)
        .map(|(x, y, _)| (x, y))
        .collect();
    let left = ink.iter().map(|p| p.0).min().expect("something drawn");
    let right = ink.iter().map(|p| p.0).max().unwrap_or(left);
    let top = ink.iter().map(|p| p.1).min().unwrap_or(0);
    let bottom = ink.iter().map(|p| p.1).max().unwrap_or(top);
    image::imageops::crop_imm(&image, left, top, right - left + 1, bottom - top + 1).to_image()
}

/// Where `template` is drawn in `image` inside `area` (x, y, width, height): the top-left corner
/// of the best match, if the pixels there differ from it by less than 10 on average.
fn find(image: &RgbaImage, template: &RgbaImage, area: (u32, u32, u32, u32)) -> Option<(u32, u32)> {
    let (x0, y0, width, height) = area;
    let (tw, th) = template.dimensions();
    let pixels: Vec<(u32, u32, [u8; 4])> = template
        .enumerate_pixels()
        .map(|(x, y, p)| (x, y, p.0))
        .collect();
    let budget = 10 * 3 * pixels.len() as u64;
    let mut best: Option<(u64, u32, u32)> = None;
    for y in y0..(y0 + height).saturating_sub(th).min(image.height() - th) {
        for x in x0..(x0 + width).saturating_sub(tw).min(image.width() - tw) {
            let limit = best.map_or(budget, |(score, _, _)| score.min(budget));
            let mut score = 0u64;
            for &(tx, ty, p) in &pixels {
                let q = image.get_pixel(x + tx, y + ty).0;
                score += (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>();
                if score >= limit {
                    break;
                }
            }
            if score < limit {
                best = Some((score, x, y));
            }
        }
    }
    best.map(|(_, x, y)| (x, y))
}

#[test]
fn the_app_shows_the_sample_video_and_writes_a_screenshot() {
    let _window = one_window_at_a_time();
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
    // The video sits in the central area: below the menu bar, left of the inspector (about 300
    // points) and above the timeline.
    assert_shows_first_frame(&image, &video, (0, 0, 900, 600));
}

/// A person's path through asking: the demo model loads, a question about the demo video goes
/// out through the ask panel (`--ask` fills the box and presses Ask), the answer streams in, the
/// conversation is saved for next time, and the window shows it. The question is one the demo
/// world can answer (the showcase scene's ground truth), so the answer text is checked.
#[test]
fn the_app_answers_a_question_about_the_demo_video() {
    let _window = one_window_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let video = root.join("assets/demo.mp4");
    let model = root.join("assets/models/keye-demo");
    let question = all_questions(&Scene::showcase())
        .into_iter()
        .find(|q| q.question == DEMO_QUESTION)
        .expect("the showcase scene is asked this");
    let scratch = Scratch::new();
    let started = Instant::now();
    let stderr = run_app(
        &[
            video.as_os_str(),
            "--model".as_ref(),
            model.as_os_str(),
            "--ask".as_ref(),
            question.question.as_ref(),
            "--screenshot-after".as_ref(),
            "1".as_ref(),
            scratch.screenshot.as_os_str(),
        ],
        &scratch,
        // A few seconds alone; much longer when other builds share the cores.
        Duration::from_secs(180),
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
    assert_eq!(turn["question"], question.question.as_str());
    assert_eq!(turn["thinking"], "auto", "the panel's default: {turn}");
    assert_eq!(turn["status"], "finished", "{turn}\n{stderr}");
    let answer: String = turn["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .filter(|s| s["phase"] == "answer")
        .filter_map(|s| s["text"].as_str())
        .collect();
    assert_eq!(answer.trim(), question.answer, "{turn}");

    // The video area carries the answer's attention heatmap over the frame here, so the frame
    // itself is checked by the other tests.
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
    let _window = one_window_at_a_time();
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

    // The caption panel on the left tells the recovery; the video is beside it.
    let image = window_image(&scratch);
    let message = drawn(|ui| {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "Recovered 1 unsaved edit to captions.jsonl",
        );
    });
    assert!(
        find(&image, &message, (0, 25, 450, 200)).is_some(),
        "the caption panel does not show the recovery message"
    );
    // The match is the text, not any orange line: another count is not found.
    let other = drawn(|ui| {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "Recovered 2 unsaved edits to captions.jsonl",
        );
    });
    assert!(find(&image, &other, (0, 25, 450, 200)).is_none());
    assert_shows_first_frame(&image, &video, (300, 0, 600, 600));
}

/// A keye-studio window on its own Xvfb display, driven like a person drives it (xdotool), and
/// killed like a crash kills it.
struct Session {
    display: String,
    app: Option<Reaped>,
    window: String,
}

impl Session {
    /// Starts the app with `args` and waits until its window shows `title`.
    fn start(display: &str, scratch: &Scratch, args: &[&std::ffi::OsStr], title: &str) -> Self {
        let app = Command::new(env!("CARGO_BIN_EXE_keye-studio"))
            .args(args)
            .env("DISPLAY", display)
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_RUNTIME_DIR", &scratch.runtime_dir)
            .env("HOME", scratch.dir.path())
            .env("XDG_DATA_HOME", scratch.data_home())
            .env("XDG_CONFIG_HOME", scratch.dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keye-studio");
        let mut session = Session {
            display: display.to_owned(),
            app: Some(Reaped(app)),
            window: String::new(),
        };
        let started = Instant::now();
        session.window = loop {
            let found = session.xdotool(&["search", "--name", "^keye-studio"]);
            if let Some(id) = found.lines().next() {
                break id.to_owned();
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no window");
            std::thread::sleep(Duration::from_millis(100));
        };
        session.wait_for_title(title);
        // No window manager gives the window the keyboard: ask X for it.
        session.xdotool(&["windowfocus", "--sync", &session.window.clone()]);
        session
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let output = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .expect("xdotool is needed for this test: run scripts/install-deps");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn title(&self) -> String {
        self.xdotool(&["getwindowname", &self.window])
            .trim()
            .to_owned()
    }

    fn wait_for_title(&self, title: &str) {
        let started = Instant::now();
        while self.title() != title {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the window title stays {:?}, not {title:?}",
                self.title()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The window's pixels now (the window sits at the screen's top left without a window
    /// manager).
    fn screen(&self) -> RgbaImage {
        let output = Command::new("import")
            .args(["-window", "root", "png:-"])
            .env("DISPLAY", &self.display)
            .stderr(Stdio::null())
            .output()
            .expect("ImageMagick's import is needed for this test");
        let [width, height] = keye_studio::gui::INITIAL_WINDOW_SIZE;
        let screen = image::load_from_memory(&output.stdout)
            .expect("a PNG of the screen")
            .to_rgba8();
        image::imageops::crop_imm(&screen, 0, 0, width as u32, height as u32).to_image()
    }

    /// Looks at the window until `look` finds what it is after (the window may still be filling
    /// in: the video and the caption file load in the background).
    fn find_on_screen<T>(&self, what: &str, look: impl Fn(&RgbaImage) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if let Some(found) = look(&screen) {
                return found;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let path = std::env::temp_dir().join("keye-studio-gui-smoke.png");
                let _ = screen.save(&path);
                panic!("{what} is not on the screen (saved as {})", path.display());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, (x, y): (u32, u32)) {
        self.xdotool(&[
            "mousemove",
            "--window",
            &self.window,
            &x.to_string(),
            &y.to_string(),
            "click",
            "1",
        ]);
    }

    /// SIGKILL: nothing of the app runs on the way out.
    fn kill(mut self) {
        if let Some(mut app) = self.app.take() {
            app.0.kill().expect("SIGKILL");
            app.0.wait().expect("reap");
        }
    }
}

/// The tallest text field (egui's darkest grey, 10) in the left `width` pixels: the caption text
/// of a free-text record, four rows high. Its left, top, right and bottom.
fn caption_field(image: &RgbaImage, width: u32) -> Option<(u32, u32, u32, u32)> {
    let field = |x: u32, y: u32| image.get_pixel(x, y).0[..3] == [10, 10, 10];
    let rows: Vec<(u32, u32, u32)> = (0..image.height())
        .filter_map(|y| {
            let xs: Vec<u32> = (0..width).filter(|&x| field(x, y)).collect();
            (xs.len() > 250).then(|| (y, xs[0], xs[xs.len() - 1]))
        })
        .collect();
    let mut best: (usize, usize) = (0, 0);
    let mut start = 0;
    for i in 0..rows.len() {
        if i > 0 && rows[i].0 != rows[i - 1].0 + 1 {
            start = i;
        }
        if i + 1 - start > best.1 - best.0 {
            best = (start, i + 1);
        }
    }
    if best.1 - best.0 < 40 {
        return None;
    }
    let (top, left, right) = rows[best.0];
    let bottom = rows[best.1 - 1].0;
    Some((left, top, right, bottom))
}

/// Whether the text field at `rect` has the keyboard: egui outlines it in the selection colour
/// (light blue) just outside its fill.
fn has_focus_outline(image: &RgbaImage, (left, top, right, bottom): (u32, u32, u32, u32)) -> bool {
    let y = (top + bottom) / 2;
    let mut x = (left + right) / 2;
    while x > 0 && image.get_pixel(x, y).0[..3] == [10, 10, 10] {
        x -= 1;
    }
    let [r, g, b, _] = image.get_pixel(x, y).0;
    b > 200 && g > 180 && r > 150 && b > r
}

/// The annotator's worst day, in a real window: they type into a caption and, without leaving
/// the field, the app is killed. Within a second of typing the text was in the journal; the next
/// start offers it back, Keep and Ctrl+S put it in the file, and the file is exactly the old one
/// with the typed text.
#[test]
fn typing_survives_kill_9_and_is_recovered_into_the_file() {
    let _window = one_window_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let video = root.join("assets/sample-16x9.mp4");
    let scratch = Scratch::new();
    let captions: PathBuf = scratch.dir.path().join("captions.jsonl");
    let original =
        "{\"video\": \"sample-16x9.mp4\", \"caption\": \"Two people talk by the window.\"}\n";
    std::fs::write(&captions, original).expect("write captions");
    let journal = haic::document::journal_path(&captions);
    let (_xvfb, display) = start_xvfb();
    let args = [
        video.as_os_str(),
        "--captions".as_ref(),
        captions.as_os_str(),
    ];

    let session = Session::start(&display, &scratch, &args, "keye-studio - captions.jsonl");
    let field = session.find_on_screen("the caption text field", |screen| {
        caption_field(screen, 450)
    });
    let (left, top, right, bottom) = field;
    session.click(((left + right) / 2, (top + bottom) / 2));
    // Keys sent before a frame has given the field the keyboard would go nowhere.
    session.find_on_screen("the focused caption text field", |screen| {
        caption_field(screen, 450).filter(|field| has_focus_outline(screen, *field))
    });
    session.xdotool(&["key", "ctrl+End"]);
    session.xdotool(&["type", "--delay", "40", " Then they wave."]);
    let typed = Instant::now();
    let typed_text = "Two people talk by the window. Then they wave.";
    // Within a second of egui's time (kittests pin that); wall time here includes a busy
    // machine's slow frames.
    while !std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains(typed_text)
    {
        assert!(
            typed.elapsed() < Duration::from_secs(5),
            "the journal does not hold the typed text: {:?}",
            std::fs::read_to_string(&journal)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("journaled {:?} after the last key", typed.elapsed());
    session.wait_for_title("keye-studio - captions.jsonl *");
    session.kill();
    assert_eq!(
        std::fs::read_to_string(&captions).expect("read"),
        original,
        "nothing was saved"
    );

    let session = Session::start(&display, &scratch, &args, "keye-studio - captions.jsonl *");
    // How many undo steps the typing made depends on the pauses xdotool's keys had on a busy
    // machine; the caption screenshot test pins the whole message.
    let message = drawn(|ui| {
        ui.colored_label(ui.visuals().warn_fg_color, "Recovered");
    });
    session.find_on_screen("the recovery message", |screen| {
        find(screen, &message, (0, 25, 450, 200))
    });
    let keep = drawn(|ui| {
        let _ = ui.button("Keep");
    });
    let (x, y) = session.find_on_screen("the Keep button", |screen| {
        find(screen, &keep, (0, 25, 450, 250))
    });
    session.click((x + keep.width() / 2, y + keep.height() / 2));
    session.xdotool(&["key", "ctrl+s"]);
    session.wait_for_title("keye-studio - captions.jsonl");
    assert_eq!(
        std::fs::read_to_string(&captions).expect("read"),
        format!("{{\"video\": \"sample-16x9.mp4\", \"caption\": \"{typed_text}\"}}\n")
    );
    assert_eq!(
        std::fs::read_to_string(haic::save::backup_path(&captions)).expect("backup"),
        original
    );
    assert!(!journal.exists(), "the save took the journal's edits");
    session.kill();
}
