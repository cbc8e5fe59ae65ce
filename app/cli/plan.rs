//! `plan`: how an encoder samples and chunks a video, before any model runs: the frames it decodes
//! and the decoder's temporal steps (frames for Keye-VL, chunks for Mavors) on the video's own
//! timeline.

use std::{io::Write, path::PathBuf, process::ExitCode};

use keye_model::{
    KeyeConfig,
    mavors::VideoEncoder,
    video::{VideoEncoderKind, VideoPlan, VideoPlanSettings},
};
use keye_studio::inference::plan_video;
use serde_json::json;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EncoderArg {
    /// Keye-VL-8B-Preview: uniform frames.
    Keye,
    /// Keye-VL-1.5: SlowFast frames.
    Keye15,
    /// Mavors chunks of F frames.
    Mavors,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    pub video: PathBuf,
    #[arg(long, value_enum)]
    pub encoder: EncoderArg,
    /// Take patch size, frame size and `mavors_config` from this checkpoint's config.json
    /// (default: the Keye-VL-8B family with each package's defaults).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let kind = match args.encoder {
        EncoderArg::Keye => VideoEncoderKind::Keye,
        EncoderArg::Keye15 => VideoEncoderKind::Keye15,
        EncoderArg::Mavors => VideoEncoderKind::Mavors,
    };
    let settings = match &args.model {
        Some(dir) => {
            let path = dir.join("config.json");
            let config = KeyeConfig::from_file(&path)?;
            let encoder = VideoEncoder::from_config_file(&path)?;
            VideoPlanSettings::for_model(&config, &encoder)
        }
        None => VideoPlanSettings::default(),
    };
    let (timeline, plan, chunks) = plan_video(&args.video, kind, &settings)?;
    let tokens_per_step: Option<usize> = match &plan {
        VideoPlan::Mavors(p) => Some(p.frame.tokens()),
        VideoPlan::Preview(p) => {
            let (h, w) = p.resized_hw;
            let side = settings.patch_size * settings.merge_size;
            Some(((h / side) * (w / side)) as usize)
        }
        // Slow and fast frames differ in size; their sizes depend on the pixels.
        VideoPlan::SlowFast(_) => None,
    };
    let decoded = plan.frames_to_decode().len();
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut doc = json!({
            "video": args.video,
            "encoder": kind.name(),
            "start": timeline.frame_times[0],
            "end": timeline.end,
            "frames": timeline.frame_times.len(),
            "fps": timeline.fps,
            "decoded_frames": decoded,
            "tokens_per_step": tokens_per_step,
            "chunks": chunks,
        });
        if let VideoPlan::Mavors(p) = &plan {
            doc["chunk_frames"] = json!(p.chunk_frames);
            doc["sample_fps"] = json!(p.sample_fps);
            doc["sampled_frames"] = json!(p.sampled_frames);
            doc["accelerated"] = json!(p.accelerated);
            doc["frame_size"] = json!([p.frame.width, p.frame.height]);
            doc["positions"] = json!(p.positions());
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}: {} frames, {:.3}s to {:.3}s, {:.3} fps; encoder {}: {} steps from {decoded} decoded frames{}",
        args.video.display(),
        timeline.frame_times.len(),
        timeline.frame_times[0],
        timeline.end,
        timeline.fps,
        kind.name(),
        chunks.len(),
        tokens_per_step.map_or(String::new(), |t| format!(", {t} tokens per step")),
    )?;
    if let VideoPlan::Mavors(p) = &plan
        && p.accelerated
    {
        writeln!(
            out,
            "accelerated: {} of {} sampled frames kept to fit {} chunks",
            p.kept_frames,
            p.sampled_frames,
            p.chunks.len()
        )?;
    }
    writeln!(out, "{:>5} {:>10} {:>10}  frames", "step", "start", "end")?;
    for chunk in &chunks {
        let first = chunk.frame_indices[0];
        let last = chunk.frame_indices[chunk.frame_indices.len() - 1];
        let frames = if first == last {
            format!("{first}")
        } else {
            format!("{first}..={last} ({} frames)", chunk.frame_indices.len())
        };
        writeln!(
            out,
            "{:>5} {:>10.3} {:>10.3}  {frames}{}",
            chunk.index,
            chunk.start,
            chunk.end,
            if chunk.padded { "  padded" } else { "" }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
