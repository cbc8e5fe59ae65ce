//! Helpers shared by the library's own unit tests.

use std::path::Path;

/// Makes `output` with the ffmpeg command-line tool (quiet, overwriting); a failure panics with
/// what ffmpeg said.
pub fn ffmpeg_cli(args: &[&str], output: &Path) {
    let run = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(output)
        .output()
        .expect("the ffmpeg command-line tool runs");
    assert!(
        run.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}
