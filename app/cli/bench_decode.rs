//! `bench decode`: full decode to RGB24 against the ffmpeg CLI (several alternating runs, so the
//! spread shows how steady the machine was), single-threaded decoding for scale, and random-seek
//! latency against one GOP decode.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keye_studio::video::{DecodeThreads, FrameSpec, Video, VideoOptions};

use super::video::{interrupt_flag, progress_bar};

#[derive(clap::Args)]
pub struct BenchDecodeArgs {
    pub file: PathBuf,
    /// Number of random seeks to time.
    #[arg(long, default_value_t = 100)]
    pub seeks: usize,
    /// Seed of the random seek times, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Full-decode runs, each ours then the ffmpeg CLI's (the ratio's median and spread are printed).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
}

pub fn bench_decode(args: BenchDecodeArgs) -> anyhow::Result<ExitCode> {
    let interrupted = interrupt_flag();
    let stop = || interrupted.load(Ordering::SeqCst);
    let mut video = Video::open(&args.file)?;
    let info = Arc::clone(video.info());
    let count = video.frame_count();
    println!(
        "{}: {} {}x{} ({}x{} shown), {count} frames, {} keyframes, longest GOP {} frames; {}",
        args.file.display(),
        info.codec,
        info.coded_width,
        info.coded_height,
        info.display_width,
        info.display_height,
        info.keyframes.unwrap_or(0),
        info.max_gop_length.unwrap_or(0),
        machine(),
    );

    // 1. Full decode to RGB24 at display size, ours and the ffmpeg CLI's, alternating.
    let spec = FrameSpec::native_rgb();
    let all: Vec<usize> = (0..count).collect();
    let mut ratios = Vec::with_capacity(args.repeat);
    for run in 1..=args.repeat.max(1) {
        let bar = progress_bar(count, "full decode (keye-studio)");
        let started = Instant::now();
        let mut delivered = 0usize;
        video.decode_frames(&all, spec, None, &stop, &mut |_| {
            delivered += 1;
            bar.inc(1);
        })?;
        let ours = started.elapsed();
        bar.finish_and_clear();
        let (ffmpeg_time, ffmpeg_frames) =
            ffmpeg_cli_decode(&args.file, info.display_width, info.display_height, None)?;
        if ffmpeg_frames != delivered {
            println!(
                "  note: the ffmpeg CLI output {ffmpeg_frames} frames, keye-studio {delivered}"
            );
        }
        let ours_fps = delivered as f64 / ours.as_secs_f64();
        let ffmpeg_fps = ffmpeg_frames as f64 / ffmpeg_time.as_secs_f64();
        let ratio = ours_fps / ffmpeg_fps;
        ratios.push(ratio);
        println!(
            "full decode to RGB24, run {run}: {ours_fps:.1} frames/s ({delivered} frames in \
             {:.3} s); ffmpeg CLI {ffmpeg_fps:.1} frames/s ({ffmpeg_frames} frames in {:.3} s); \
             ratio {ratio:.2}",
            ours.as_secs_f64(),
            ffmpeg_time.as_secs_f64(),
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "full decode ratio: median {:.2}, spread {:.2}..{:.2} over {} runs (goal >= 0.95)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        ratios.len()
    );

    // 2. The same decode on one thread, to show what threading buys on this machine.
    let mut single = Video::open_with(
        &args.file,
        VideoOptions {
            threads: DecodeThreads::Single,
            ..Default::default()
        },
    )?;
    let started = Instant::now();
    let mut delivered = 0usize;
    single.decode_frames(&all, spec, None, &stop, &mut |_| delivered += 1)?;
    let single_time = started.elapsed();
    println!(
        "single-threaded decode to RGB24: {:.1} frames/s",
        delivered as f64 / single_time.as_secs_f64()
    );

    // 3. One GOP decode: from each keyframe (cold cache) to the last frame of its GOP.
    let keyframes = video.index().keyframes().to_vec();
    let mut gop_times = Vec::new();
    for (position, &start) in keyframes.iter().enumerate() {
        let end = keyframes.get(position + 1).copied().unwrap_or(count) - 1;
        if end < start {
            continue;
        }
        video.clear_cache();
        let started = Instant::now();
        video.frame_index_or_cancel(start, spec, &stop)?;
        video.frame_index_or_cancel(end, spec, &stop)?;
        gop_times.push(started.elapsed());
    }
    let gop = median(&mut gop_times);

    // 4. Random seeks: frame_at at random times with a cold cache.
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let mut seek_times = Vec::with_capacity(args.seeks);
    let bar = progress_bar(args.seeks, "random seeks");
    for _ in 0..args.seeks {
        let time = rng.f64() * info.duration;
        video.clear_cache();
        let started = Instant::now();
        video.frame_at_or_cancel(time, spec, &stop)?;
        seek_times.push(started.elapsed());
        bar.inc(1);
    }
    bar.finish_and_clear();
    seek_times.sort();
    let percentile = |p: f64| {
        seek_times
            .get(((seek_times.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let (p50, p95) = (percentile(0.50), percentile(0.95));
    println!(
        "random seek (frame_at, cold cache, {} seeks): p50 {:.2} ms, p95 {:.2} ms; \
         one GOP decode (median of {} GOPs) {:.2} ms; p95 / GOP {:.2} (goal <= 1.20)",
        seek_times.len(),
        ms(p50),
        ms(p95),
        gop_times.len(),
        ms(gop),
        p95.as_secs_f64() / gop.as_secs_f64().max(f64::EPSILON)
    );
    Ok(ExitCode::SUCCESS)
}

/// Cores and the load average when the bench starts: timings on a busy machine say so.
pub(super) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .map_or_else(String::new, |load| format!(", load average {load}"));
    format!("{cores} cores{load}")
}

pub(super) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub(super) fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Runs `ffmpeg -i FILE [-vf FILTER] -f rawvideo -pix_fmt rgb24 -` as a child, drains its output
/// and times it. Returns the wall time and the number of frames it produced.
pub(super) fn ffmpeg_cli_decode(
    file: &Path,
    width: u32,
    height: u32,
    filter: Option<&str>,
) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-nostdin", "-i"]).arg(file);
    if let Some(filter) = filter {
        command.args(["-vf", filter, "-fps_mode", "passthrough"]);
    }
    let mut child = command
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run the ffmpeg CLI (install ffmpeg) for the baseline")?;
    let mut stdout = child
        .stdout
        .take()
        .context("no stdout from the ffmpeg CLI")?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        match stdout.read(&mut buffer)? {
            0 => break,
            read => total += read,
        }
    }
    let status = child.wait()?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!(
            "the ffmpeg CLI baseline failed on {} ({status})",
            file.display()
        );
    }
    let frame_bytes = width as usize * height as usize * 3;
    Ok((elapsed, total / frame_bytes.max(1)))
}
