//! `plan`: how an encoder samples and chunks a video, before any model runs: the frames it decodes
//! and the decoder's temporal steps (frames for Keye-VL, chunks for Mavors) on the video's own
//! timeline.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use keye_model::{
    KeyeConfig,
    attention::AttentionBlocks,
    bench::parameter_count,
    budget::{MemoryEstimate, VisualBudget, estimate_memory, gib},
    device::{available_memory, device_name, resolve_device, resolve_dtype},
    keye::DEFAULT_PREFILL_CHUNK,
    mavors::VideoEncoder,
    preprocess::ImageProcessorConfig,
    video::{VideoEncoderKind, VideoPlan, VideoPlanSettings},
};
use keye_studio::inference::{PromptEstimate, estimate_video_prompt, plan_video};
use keye_studio::video::FrameSpec;

use super::bench_decode::{ffmpeg_cli_decode, median, ms};
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
    #[command(flatten)]
    pub budget: super::BudgetArgs,
    /// With --model: where and in which precision it would run, for the memory estimate.
    #[command(flatten)]
    pub placement: super::PlacementArgs,
    /// With --model: tokens the answer may take (the KV cache holds them too).
    #[arg(long, default_value_t = 1024)]
    pub max_new_tokens: usize,
}

impl EncoderArg {
    fn kind(self) -> VideoEncoderKind {
        match self {
            Self::Keye => VideoEncoderKind::Keye,
            Self::Keye15 => VideoEncoderKind::Keye15,
            Self::Mavors => VideoEncoderKind::Mavors,
        }
    }
}

/// The planners' settings of a checkpoint's config.json, or the Keye-VL-8B defaults.
fn settings(model: Option<&Path>) -> anyhow::Result<VideoPlanSettings> {
    Ok(match model {
        Some(dir) => {
            let path = dir.join("config.json");
            let config = KeyeConfig::from_file(&path)?;
            let encoder = VideoEncoder::from_config_file(&path)?;
            VideoPlanSettings::for_model(&config, &encoder)
        }
        None => VideoPlanSettings::default(),
    })
}

/// What `plan --model` adds: the prompt's cost on that model, and whether it would be refused.
struct ModelCost {
    memory: MemoryEstimate,
    refusal: Option<String>,
    dtype: &'static str,
    device: String,
}

/// The memory a question about the planned video needs on the checkpoint in `dir` (built from its
/// config; no weights are read).
fn model_cost(
    dir: &Path,
    args: &PlanArgs,
    budget: &VisualBudget,
    estimate: &PromptEstimate,
) -> anyhow::Result<ModelCost> {
    let config = KeyeConfig::from_file(&dir.join("config.json"))?;
    let device = resolve_device(args.placement.device)?;
    let parameters = parameter_count(&config);
    let dtype = resolve_dtype(args.placement.dtype, &device, parameters);
    let weights = (parameters * dtype.size_in_bytes()) as u64;
    let memory = estimate_memory(
        &config,
        weights,
        dtype.size_in_bytes(),
        DEFAULT_PREFILL_CHUNK,
        AttentionBlocks::default(),
        estimate.shape,
    );
    let refusal = budget.check(estimate.visual.tokens).err().or_else(|| {
        // Free memory once the weights would be resident (CPU only).
        let free = device
            .is_cpu()
            .then(available_memory)
            .flatten()?
            .saturating_sub(weights);
        memory.check_fits(free).err()
    });
    Ok(ModelCost {
        memory,
        refusal: refusal.map(|r| r.to_string()),
        dtype: dtype.as_str(),
        device: device_name(&device),
    })
}

pub fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let kind = args.encoder.kind();
    let mut settings = settings(args.model.as_deref())?;
    let budget = args.budget.budget(VisualBudget::default());
    budget.apply(&mut settings, &mut ImageProcessorConfig::default());
    let (timeline, plan, chunks) = plan_video(&args.video, kind, &settings)?;
    // A short question's worth of text: the plan is about the video.
    let estimate = estimate_video_prompt(&args.video, kind, &settings, 16, args.max_new_tokens)?;
    let cost = args
        .model
        .as_deref()
        .map(|dir| model_cost(dir, &args, &budget, &estimate))
        .transpose()?;
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
            "visual_tokens": estimate.visual.tokens,
            "visual_tokens_exact": estimate.visual.exact,
            "vision_patches": estimate.visual.patches,
            "prompt_tokens_estimate": estimate.shape.prompt_tokens,
            "chunks": chunks,
        });
        if let Some(cost) = &cost {
            doc["memory"] = json!({
                "device": cost.device,
                "dtype": cost.dtype,
                "estimate": cost.memory,
                "refused": cost.refusal,
            });
        }
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
    writeln!(
        out,
        "{}{} visual tokens ({} vision patches); a prompt of about {} tokens",
        if estimate.visual.exact { "" } else { "up to " },
        estimate.visual.tokens,
        estimate.visual.patches,
        estimate.shape.prompt_tokens
    )?;
    if let Some(cost) = &cost {
        let m = &cost.memory;
        writeln!(
            out,
            "on the model ({} on {}): peak about {} (weights {}, KV cache {}, vision {}, decoder {})",
            cost.dtype,
            cost.device,
            gib(m.peak),
            gib(m.weights),
            gib(m.kv_cache),
            gib(m.vision),
            gib(m.decoder)
        )?;
        match &cost.refusal {
            Some(message) => writeln!(out, "would be refused: {message}")?,
            None => writeln!(out, "fits the budget and the free memory")?,
        }
    }
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

#[derive(clap::Args)]
pub struct BenchSampleArgs {
    pub video: PathBuf,
    #[arg(long, value_enum)]
    pub encoder: EncoderArg,
    /// Take the planners' settings from this checkpoint's config.json.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Runs of each side (medians are compared).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Sampling knobs as on `plan` (e.g. a low --fps gives a sparse sample of a short clip).
    #[command(flatten)]
    pub budget: super::BudgetArgs,
}

/// Decoding the frames an encoder samples: ours (seeking to keyframes or decoding one pass, as the
/// frame index says; the choice is printed) against the ffmpeg CLI decoding the whole video
/// through a `select` filter that keeps the same frames, and against decoding every frame once.
pub fn bench_sample(args: BenchSampleArgs) -> anyhow::Result<ExitCode> {
    let kind = args.encoder.kind();
    let mut settings = settings(args.model.as_deref())?;
    let budget = args.budget.budget(VisualBudget::default());
    budget.apply(&mut settings, &mut ImageProcessorConfig::default());
    let (timeline, plan, _) = plan_video(&args.video, kind, &settings)?;
    let wanted = plan.frames_to_decode();
    // The frame index is built once when a video is opened; each run is a fresh reader of it.
    let video = keye_studio::video::Video::open(&args.video)?;
    let mut ours_runs = Vec::new();
    let mut choice = None;
    for _ in 0..args.repeat.max(1) {
        let mut reader = video.reopen(Default::default())?;
        let started = Instant::now();
        choice = Some(reader.decode_frames(
            &wanted,
            FrameSpec::native_rgb(),
            None,
            &|| false,
            &mut |_| {},
        )?);
        ours_runs.push(started.elapsed());
    }
    let select: Vec<String> = wanted.iter().map(|i| format!("eq(n\\,{i})")).collect();
    let filter = format!("select={}", balanced_sum(&select));
    let mut select_runs = Vec::new();
    let mut their_frames = 0;
    for _ in 0..args.repeat.max(1) {
        let (time, count) =
            ffmpeg_cli_decode(&args.video, timeline.width, timeline.height, Some(&filter))?;
        select_runs.push(time);
        their_frames = count;
    }
    // Every frame decoded once, ours (the ceiling a dense sample must stay under).
    let mut reader = video.reopen(Default::default())?;
    let all: Vec<usize> = (0..video.frame_count()).collect();
    let started = Instant::now();
    reader.decode_frames(&all, FrameSpec::native_rgb(), None, &|| false, &mut |_| {})?;
    let everything = started.elapsed();
    let ours = median(&mut ours_runs);
    let theirs = median(&mut select_runs);
    println!(
        "{}: {} of {} frames sampled for {} ({} GOPs); decoded by {}",
        args.video.display(),
        wanted.len(),
        timeline.frame_times.len(),
        kind.name(),
        video.index().keyframes().len(),
        choice.map(|c| c.to_string()).unwrap_or_default(),
    );
    println!(
        "keye-studio {:.1} ms (median of {}), ffmpeg CLI (select) {:.1} ms for {their_frames} \
         frames; speed-up {:.2}x (goal >= 3 when sparse); every frame decoded once {:.1} ms, \
         sampled / everything {:.2} (goal <= 1)",
        ms(ours),
        ours_runs.len(),
        ms(theirs),
        theirs.as_secs_f64() / ours.as_secs_f64().max(f64::EPSILON),
        ms(everything),
        ours.as_secs_f64() / everything.as_secs_f64().max(f64::EPSILON),
    );
    Ok(ExitCode::SUCCESS)
}

/// `a+b+...` as a balanced tree of parenthesised sums: FFmpeg's expression parser gives up on
/// long flat chains (a few hundred terms), not on nesting a handful of levels deep.
fn balanced_sum(terms: &[String]) -> String {
    if terms.len() <= 8 {
        return terms.join("+");
    }
    let (left, right) = terms.split_at(terms.len() / 2);
    format!("({})+({})", balanced_sum(left), balanced_sum(right))
}
