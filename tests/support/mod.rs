//! Shared helpers of the video tests: fixtures made with the ffmpeg CLI into a temporary directory,
//! and the ffprobe / ffmpeg CLI's view of the same files to compare the engine against.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A temporary directory holding the fixtures of one test.
pub struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `ffmpeg -v error -y ARGS... name` and returns the output path.
    pub fn ffmpeg(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = self.path(name);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y"])
            .args(args)
            .arg(&out)
            .status()
            .expect("run ffmpeg (install it with ./scripts/install-deps)");
        assert!(status.success(), "ffmpeg failed making {name}: {args:?}");
        out
    }

    /// A lavfi `testsrc2` clip (moving colour pattern with a counter) encoded with `codec_args`.
    pub fn testsrc(
        &self,
        name: &str,
        size: &str,
        rate: u32,
        seconds: f64,
        codec_args: &[&str],
    ) -> PathBuf {
        let source = format!("testsrc2=s={size}:r={rate}:d={seconds}");
        let mut args = vec!["-f", "lavfi", "-i", source.as_str()];
        args.extend_from_slice(codec_args);
        self.ffmpeg(name, &args)
    }

    /// A one-second H.264 clip with a variable frame rate and a start offset: frames 0..10 every
    /// 40 ms, then every 100 ms, timestamps starting at 10 s.
    pub fn vfr_with_start_offset(&self, name: &str, size: &str, codec_args: &[&str]) -> PathBuf {
        let mut args = vec![
            "-vf",
            "setpts='(if(lt(N,10),N*0.04,0.4+(N-10)*0.1))/TB'",
            "-fps_mode",
            "vfr",
            "-output_ts_offset",
            "10",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ];
        args.extend_from_slice(codec_args);
        self.testsrc(name, size, 25, 1.0, &args)
    }

    /// Writes raw bytes as a file.
    pub fn bytes(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write fixture");
        path
    }

    /// A copy of `source` cut to `fraction` of its length.
    pub fn truncated(&self, source: &Path, name: &str, fraction: f64) -> PathBuf {
        let bytes = std::fs::read(source).expect("read fixture");
        let keep = (bytes.len() as f64 * fraction) as usize;
        self.bytes(name, &bytes[..keep])
    }
}

/// One frame as ffprobe decodes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeFrame {
    pub pts: i64,
    pub key: bool,
}

/// The decoded frames of the first video stream per ffprobe, in output (presentation) order.
pub fn ffprobe_frames(path: &Path) -> Vec<ProbeFrame> {
    let json = ffprobe_json(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp,key_frame",
        ],
    );
    json["frames"]
        .as_array()
        .expect("frames array")
        .iter()
        .map(|frame| ProbeFrame {
            pts: frame["best_effort_timestamp"]
                .as_i64()
                .expect("best_effort_timestamp"),
            key: frame["key_frame"].as_i64() == Some(1),
        })
        .collect()
}

/// The first video stream's description per ffprobe (fields as ffprobe names them).
pub fn ffprobe_stream(path: &Path) -> Value {
    let json = ffprobe_json(path, &["-select_streams", "v:0", "-show_streams"]);
    json["streams"][0].clone()
}

fn ffprobe_json(path: &Path, args: &[&str]) -> Value {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        output.status.success(),
        "ffprobe failed on {}",
        path.display()
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe JSON")
}

/// Every frame as the ffmpeg CLI decodes it to RGB24 (autorotate on, no frame dropping or
/// duplication), each `width * height * 3` bytes.
pub fn ffmpeg_rgb_frames(
    path: &Path,
    width: u32,
    height: u32,
    extra_input_args: &[&str],
) -> Vec<Vec<u8>> {
    ffmpeg_raw_frames(
        path,
        extra_input_args,
        &["-pix_fmt", "rgb24"],
        (width * height * 3) as usize,
    )
}

/// Every frame as the ffmpeg CLI outputs it through the filter chain `filter` in `pix_fmt`
/// (each `frame_bytes` long), e.g. `scale=32:20:flags=bicubic` to compare scaled output.
pub fn ffmpeg_filtered_frames(
    path: &Path,
    filter: &str,
    pix_fmt: &str,
    frame_bytes: usize,
) -> Vec<Vec<u8>> {
    ffmpeg_raw_frames(
        path,
        &[],
        &["-vf", filter, "-pix_fmt", pix_fmt],
        frame_bytes,
    )
}

fn ffmpeg_raw_frames(
    path: &Path,
    input_args: &[&str],
    output_args: &[&str],
    frame_bytes: usize,
) -> Vec<Vec<u8>> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(input_args)
        .arg("-i")
        .arg(path)
        .args(["-fps_mode", "passthrough", "-f", "rawvideo"])
        .args(output_args)
        .arg("-")
        .output()
        .expect("run ffmpeg");
    assert!(
        output.status.success(),
        "ffmpeg decode failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.stdout.len() % frame_bytes,
        0,
        "ffmpeg output is not whole frames"
    );
    output
        .stdout
        .chunks_exact(frame_bytes)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Largest and mean absolute difference between two equally long byte buffers.
pub fn pixel_difference(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len(), "buffers differ in length");
    let mut max = 0u8;
    let mut sum = 0u64;
    for (&x, &y) in a.iter().zip(b) {
        let d = x.abs_diff(y);
        max = max.max(d);
        sum += u64::from(d);
    }
    (max, sum as f64 / a.len().max(1) as f64)
}
