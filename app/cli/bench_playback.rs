//! `bench playback VIDEO [--seconds S]`: plays the video at 1x in a real window (the GUI's decode
//! worker, texture upload and frame shader) and reports frames presented and dropped, and where the
//! time per frame goes, naming what limits playback when frames are dropped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use keye_studio::gui::{PlaybackReport, run_playback_bench};

#[derive(clap::Args)]
pub struct BenchPlaybackArgs {
    pub video: PathBuf,
    /// Seconds to play.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
}

pub fn bench_playback(args: BenchPlaybackArgs) -> anyhow::Result<ExitCode> {
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        anyhow::bail!("--seconds {} must be a positive number", args.seconds);
    }
    let machine = super::bench_decode::machine();
    let report = run_playback_bench(args.video.clone(), args.seconds)?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let uploads = report.uploads;
    let upload_mean = if uploads.frames > 0 {
        uploads.total / uploads.frames as u32
    } else {
        Duration::ZERO
    };
    println!(
        "{}: {}x{} at {:.2} fps, played {:.2} s at 1x: {} frames presented, {} dropped ({machine})",
        args.video.display(),
        report.frame_size.0,
        report.frame_size.1,
        report.fps,
        report.played,
        report.presented,
        report.dropped,
    );
    println!(
        "decode (worker, per frame shown) mean {:.1} ms, p95 {:.1} ms; playhead to frame in hand \
         {:.1} ms; upload mean {:.2} ms, longest {:.2} ms over {} frames; {:.1} repaints/s, p95 \
         gap {:.1} ms; frame interval {:.1} ms",
        ms(report.decode_mean),
        ms(report.decode_p95),
        ms(report.latency_mean),
        ms(upload_mean),
        ms(uploads.longest),
        uploads.frames,
        report.repaints_per_second,
        ms(report.repaint_p95),
        1000.0 / report.fps.max(f64::EPSILON),
    );
    println!("{}", limit(&report, upload_mean));
    println!("{}", report.sound);
    println!("{}", av_sync(&report));
    Ok(ExitCode::SUCCESS)
}

/// The A/V line: picture minus sound at each new frame. The mean is the constant offset (the
/// frame shown is the one asked for a repaint or two earlier); the drift is how much the mean
/// of the last minute moved from that of the first, which is what grows over a long file.
fn av_sync(report: &PlaybackReport) -> String {
    let drift = &report.av_drift;
    if drift.is_empty() {
        return "A/V: not measured (no sound played)".into();
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64 * 1000.0;
    let worst = |values: &[f64]| values.iter().fold(0.0_f64, |m, v| m.max(v.abs())) * 1000.0;
    let minute = ((report.fps * 60.0) as usize).clamp(1, drift.len());
    let (first, last) = (&drift[..minute], &drift[drift.len() - minute..]);
    let mut sorted: Vec<f64> = drift.iter().map(|d| d.abs()).collect();
    sorted.sort_by(f64::total_cmp);
    let p95 = sorted[((sorted.len() - 1) as f64 * 0.95).round() as usize] * 1000.0;
    let wall = report.audio_clock_vs_wall.map_or(String::new(), |d| {
        format!(
            "; the sound clock ran {:+.1} ms against the system clock since the sound started",
            d * 1000.0
        )
    });
    format!(
        "A/V (picture minus sound at each of {} new frames): mean {:+.1} ms, 95% within {p95:.1} \
         ms, worst {:.1} ms; drift from the first minute's mean ({:+.1}) to the last minute's \
         ({:+.1}): {:+.1} ms (goal: under 40 ms){wall}",
        drift.len(),
        mean(drift),
        worst(drift),
        mean(first),
        mean(last),
        mean(last) - mean(first),
    )
}

/// Which stage keeps up with the frame interval and which does not.
fn limit(report: &PlaybackReport, upload_mean: Duration) -> String {
    if report.dropped == 0 {
        return "no frame dropped".into();
    }
    let interval = Duration::from_secs_f64(1.0 / report.fps.max(f64::EPSILON));
    let mut reasons = Vec::new();
    if report.decode_mean > interval {
        reasons.push(format!(
            "decoding ({:.1} ms a frame > {:.1} ms)",
            report.decode_mean.as_secs_f64() * 1000.0,
            interval.as_secs_f64() * 1000.0
        ));
    }
    if report.repaints_per_second < report.fps {
        reasons.push(format!(
            "the window's repaint rate ({:.1}/s < {:.2} fps: drawing and uploading at {:.1} ms)",
            report.repaints_per_second,
            report.fps,
            upload_mean.as_secs_f64() * 1000.0
        ));
    }
    if reasons.is_empty() {
        reasons.push("jitter: decode p95 or repaint gaps past the frame interval".into());
    }
    format!("dropped frames limited by {}", reasons.join(" and "))
}
