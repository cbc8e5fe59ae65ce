//! `keye-studio probe | frames | thumbs` as a user runs them: output files, JSON, exit codes and the
//! one-line error on stderr.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{Fixtures, ffprobe_frames};

fn keye_studio(args: &[&str], file: &Path, rest: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keye-studio"))
        .args(args)
        .arg(file)
        .args(rest)
        .output()
        .expect("run keye-studio")
}

fn clip(fixtures: &Fixtures) -> std::path::PathBuf {
    fixtures.ffmpeg(
        "clip.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48:r=10:d=2",
            "-f",
            "lavfi",
            "-i",
            "sine=d=2",
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "flac",
            "-shortest",
        ],
    )
}

#[test]
fn probe_prints_json_that_agrees_with_ffprobe() {
    let fixtures = Fixtures::new();
    let path = clip(&fixtures);
    let output = keye_studio(&["probe"], &path, &["--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["codec"], "h264");
    assert_eq!(json["display_width"], 64);
    assert_eq!(json["display_height"], 48);
    assert_eq!(json["has_audio"], true);
    assert_eq!(json["frame_count"]["exact"], true);
    assert_eq!(
        json["frame_count"]["frames"].as_u64().unwrap() as usize,
        ffprobe_frames(&path).len()
    );
    assert!(json["container"].as_str().unwrap().contains("matroska"));

    let text = keye_studio(&["probe"], &path, &[]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("64x48"), "{text}");
    assert!(text.contains("20 (exact)"), "{text}");
}

#[test]
fn frames_and_thumbs_write_pngs_named_by_index_and_time() {
    let fixtures = Fixtures::new();
    let path = clip(&fixtures);
    let out = fixtures.path("frames");
    let output = keye_studio(
        &["frames"],
        &path,
        &["--fps", "2", "--out", out.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // 20 frames at 10 fps sampled at 2 fps: 4 frames, linspace(0, 19, 4) rounded.
    assert_eq!(
        names,
        vec![
            "frame-000000-0000.000s.png",
            "frame-000006-0000.600s.png",
            "frame-000013-0001.300s.png",
            "frame-000019-0001.900s.png",
        ]
    );
    let image = image::open(out.join(&names[1])).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (64, 48));

    let thumbs = fixtures.path("thumbs");
    let output = keye_studio(
        &["thumbs"],
        &path,
        &[
            "--count",
            "5",
            "--size",
            "32x32",
            "--out",
            thumbs.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&thumbs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5);
    assert_eq!(names[0], "thumb-000-frame-000002-0000.200s.png");
    let image = image::open(thumbs.join(&names[4])).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (32, 24));
}

#[test]
fn errors_exit_non_zero_with_one_line_naming_the_file() {
    let fixtures = Fixtures::new();
    let garbage = fixtures.bytes("garbage.mp4", &[0x5a; 4096]);
    for args in [vec!["probe"], vec!["frames"], vec!["thumbs"]] {
        let rest: &[&str] = match args[0] {
            "probe" => &[],
            "frames" => &["--count", "2", "--out", "/tmp/keye-never-written"],
            _ => &["--out", "/tmp/keye-never-written"],
        };
        let output = keye_studio(&args, &garbage, rest);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains("garbage.mp4"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    assert!(!Path::new("/tmp/keye-never-written").exists());
}
