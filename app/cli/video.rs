//! `probe`, `frames` and `thumbs`: the video engine on the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use keye_studio::video::{
    FrameSpec, OutputSize, PixelLayout, SamplingPlan, ThumbnailEvent, ThumbnailJob, Video,
    VideoFrame, VideoInfo, VideoOptions, probe as probe_video,
};

#[derive(clap::Args)]
pub struct ProbeArgs {
    pub file: PathBuf,
    /// Print the description as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("plan").required(true).args(["fps", "count"])))]
pub struct FramesArgs {
    pub file: PathBuf,
    /// Sample uniformly at this many frames per second.
    #[arg(long)]
    pub fps: Option<f64>,
    /// Sample this many frames spread evenly over the video.
    #[arg(long)]
    pub count: Option<usize>,
    /// With --fps: at least this many frames (capped by the frame count).
    #[arg(long, default_value_t = 1, requires = "fps")]
    pub min_frames: usize,
    /// With --fps: at most this many frames.
    #[arg(long, default_value_t = 10_000, requires = "fps")]
    pub max_frames: usize,
    /// Fit frames into WIDTHxHEIGHT keeping the aspect ratio (default: display size).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Directory for the PNG files (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct ThumbsArgs {
    pub file: PathBuf,
    /// Number of thumbnails.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Fit thumbnails into WIDTHxHEIGHT keeping the aspect ratio.
    #[arg(long, value_parser = parse_size, default_value = "160x160")]
    pub size: (u32, u32),
    /// Directory for the PNG files (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let parse = |part: &str| part.trim().parse::<u32>().ok().filter(|&v| v > 0);
    text.split_once(['x', 'X'])
        .and_then(|(w, h)| Some((parse(w)?, parse(h)?)))
        .ok_or_else(|| format!("'{text}' is not a size like 320x240"))
}

/// Ctrl-C sets a flag that long work polls, so it stops cleanly and says so.
pub(super) fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    // Only one handler per process; if one is already set, Ctrl-C keeps its default behaviour.
    let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
    flag
}

pub(super) fn progress_bar(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

pub fn probe(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let info = probe_video(&args.file)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", describe(&info));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(info: &VideoInfo) -> String {
    let rate = |r: Option<f64>| r.map_or_else(|| "unknown".to_string(), |r| format!("{r:.3}"));
    let mut text = String::new();
    let mut line = |label: &str, value: String| text.push_str(&format!("{label:<14}{value}\n"));
    line("file", info.path.display().to_string());
    line(
        "container",
        format!("{} ({})", info.container, info.container_long_name),
    );
    let streams: Vec<String> = info
        .streams
        .iter()
        .map(|s| format!("#{} {} {}", s.index, s.kind, s.codec))
        .collect();
    line("streams", streams.join(", "));
    line(
        "video",
        format!(
            "stream #{}: {} ({}), {} {}-bit",
            info.video_stream, info.codec, info.codec_long_name, info.pixel_format, info.bit_depth
        ),
    );
    line(
        "coded size",
        format!("{}x{}", info.coded_width, info.coded_height),
    );
    line(
        "display size",
        format!(
            "{}x{} (rotation {} degrees clockwise, pixel aspect {}:{})",
            info.display_width,
            info.display_height,
            info.rotation.degrees(),
            info.sample_aspect_ratio.0,
            info.sample_aspect_ratio.1
        ),
    );
    line(
        "frame rate",
        format!(
            "average {}, real {}, measured {}, {}",
            rate(info.average_frame_rate),
            rate(info.real_frame_rate),
            rate(info.measured_frame_rate),
            if info.variable_frame_rate {
                "variable"
            } else {
                "constant"
            }
        ),
    );
    line("duration", format!("{:.3} s", info.duration));
    line(
        "start time",
        format!(
            "{:.3} s (time base {}/{})",
            info.start_time, info.time_base.0, info.time_base.1
        ),
    );
    line(
        "frames",
        format!(
            "{} ({})",
            info.frame_count.frames,
            if info.frame_count.exact {
                "exact"
            } else {
                "estimated"
            }
        ),
    );
    if let (Some(keyframes), Some(gop)) = (info.keyframes, info.max_gop_length) {
        line(
            "keyframes",
            format!("{keyframes} (longest GOP {gop} frames)"),
        );
    }
    line(
        "audio",
        if info.has_audio { "yes" } else { "no" }.to_string(),
    );
    for warning in &info.warnings {
        line("warning", warning.clone());
    }
    text
}

/// `frame-000012-0000.400s.png`: index and seconds since the first frame.
fn frame_file_name(prefix: &str, frame: &VideoFrame) -> String {
    format!("{prefix}frame-{:06}-{:08.3}s.png", frame.index, frame.time)
}

fn save_png(frame: &VideoFrame, path: &Path) -> anyhow::Result<()> {
    let image = image::RgbImage::from_raw(frame.width, frame.height, frame.pixels.to_vec())
        .context("frame buffer does not match its size")?;
    image
        .save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn rgb_spec(size: Option<(u32, u32)>) -> FrameSpec {
    FrameSpec {
        size: size.map_or(OutputSize::Native, |(max_width, max_height)| {
            OutputSize::Fit {
                max_width,
                max_height,
            }
        }),
        layout: PixelLayout::Rgb24,
    }
}

pub fn frames(args: FramesArgs) -> anyhow::Result<ExitCode> {
    let mut video = Video::open(&args.file)?;
    let plan = match (args.fps, args.count) {
        (Some(fps), _) => SamplingPlan::UniformFps {
            fps,
            min_frames: args.min_frames,
            max_frames: args.max_frames,
            frame_factor: 1,
        },
        (None, Some(count)) => SamplingPlan::Count(count),
        (None, None) => bail!("give --fps or --count"),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let interrupted = interrupt_flag();
    let planned = plan
        .indices(video.frame_count(), video.info().frame_rate())
        .map_err(|reason| anyhow::anyhow!("{}: {reason}", args.file.display()))?;
    let bar = progress_bar(planned.len(), "frames");
    let spec = rgb_spec(args.size);
    let mut written = 0;
    for index in planned {
        let frame =
            video.frame_index_or_cancel(index, spec, &|| interrupted.load(Ordering::SeqCst))?;
        save_png(&frame, &args.out.join(frame_file_name("", &frame)))?;
        written += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    for warning in video.warnings() {
        eprintln!("warning: {}: {warning}", args.file.display());
    }
    println!("wrote {written} frames to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn thumbs(args: ThumbsArgs) -> anyhow::Result<ExitCode> {
    let video = Video::open_with(
        &args.file,
        VideoOptions {
            cache_bytes: 16 << 20,
            ..Default::default()
        },
    )?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let bar = progress_bar(args.count.min(video.frame_count()), "thumbnails");
    let (sender, events) = crossbeam_channel::unbounded();
    let job = ThumbnailJob::spawn(video, args.count, rgb_spec(Some(args.size)), move |event| {
        let _ = sender.send(event);
    });
    let interrupted = interrupt_flag();
    let mut failures = Vec::new();
    loop {
        if interrupted.load(Ordering::SeqCst) {
            job.cancel();
        }
        let event = match events.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => event,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                bail!("the thumbnail job stopped unexpectedly")
            }
        };
        match event {
            ThumbnailEvent::Thumbnail {
                position, frame, ..
            } => {
                let name = frame_file_name(&format!("thumb-{position:03}-"), &frame);
                save_png(&frame, &args.out.join(name))?;
                bar.inc(1);
            }
            ThumbnailEvent::Failed { error, .. } => failures.push(error),
            ThumbnailEvent::Done {
                completed,
                cancelled,
            } => {
                bar.finish_and_clear();
                if cancelled {
                    bail!(
                        "{}: interrupted after {completed} thumbnails",
                        args.file.display()
                    );
                }
                if let Some(first) = failures.first()
                    && completed == 0
                {
                    bail!("{first}");
                }
                for failure in &failures {
                    eprintln!("warning: {failure}");
                }
                println!("wrote {completed} thumbnails to {}", args.out.display());
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}
