//! `quantize`: a checkpoint's linear layers quantized once and saved as one GGUF file beside it,
//! which `--model` (the folder with the same `--quantize`, or the file itself) then loads directly.
//! `bench quality`: how far a quantization strays from the full-precision model.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::bail;
use keye_model::{
    DType, Device, LoadOptions, Runtime,
    bench::{bench_inputs, random_model, random_quantized_model},
    chat::{ChatMessage, ContentPart, MessageContent},
    generate::{PromptMedia, ThinkingMode, prepare_prompt},
    gguf::quantize_checkpoint,
    keye::KeyeInputs,
    quality::{QualityReport, compare},
    quantize::{QuantKind, QuantizeSpec},
};

#[derive(clap::Args)]
pub struct QuantizeArgs {
    /// Checkpoint folder (config.json, safetensors, tokenizer.json, preprocessor_config.json).
    pub dir: PathBuf,
    /// Block format of the quantized linear layers: q8_0, q6k or q4k.
    #[arg(long)]
    pub to: QuantKind,
    /// Quantize the vision tower's linear layers too.
    #[arg(long)]
    pub vision: bool,
    /// Where to write (default: model-<format>.gguf in the checkpoint folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn quantize(args: QuantizeArgs) -> anyhow::Result<ExitCode> {
    let spec = QuantizeSpec {
        kind: args.to,
        vision: args.vision,
    };
    if spec.is_none() {
        bail!("--to none saves nothing: choose q8_0, q6k or q4k");
    }
    let (bar, progress) = super::loading_bar(std::io::stderr().is_terminal());
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    bar.set_prefix(format!("quantizing to {}", spec.kind));
    let started = std::time::Instant::now();
    let mut options = LoadOptions {
        progress: Some(progress),
        cancel: Some(cancel),
        ..LoadOptions::default()
    };
    let written = quantize_checkpoint(&args.dir, &spec, args.out.as_deref(), &mut options);
    bar.finish_and_clear();
    let written = written?;
    let size = std::fs::metadata(&written).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{} ({}, {:.2} GiB) in {:.1} s; load it with --model {} --quantize {}{}",
        written.display(),
        spec.kind,
        size as f64 / (1u64 << 30) as f64,
        started.elapsed().as_secs_f64(),
        args.dir.display(),
        spec.kind,
        if spec.vision {
            " --quantize-vision"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct BenchQualityArgs {
    /// A checkpoint folder; its tokenizer builds the prompts (the golden cases' images and
    /// questions, and the sample video). Or use --config for random weights.
    #[arg(long, conflicts_with = "config")]
    pub model: Option<PathBuf>,
    /// Random weights of a bench size (tiny or small), with synthetic image prompts.
    #[arg(long, value_enum)]
    pub config: Option<super::model::BenchConfig>,
    /// The quantization to measure.
    #[arg(long)]
    pub quantize: QuantKind,
    #[arg(long)]
    pub quantize_vision: bool,
    /// Next-token distributions compared per prompt.
    #[arg(long, default_value_t = 16)]
    pub steps: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The prompts `bench quality` uses with a real tokenizer: each golden image with its question,
/// both golden images together, and the sample video.
fn checkpoint_prompts(runtime: &Runtime) -> anyhow::Result<Vec<(String, KeyeInputs)>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("tests/fixtures");
    let image = |name: &str| -> anyhow::Result<image::RgbImage> {
        Ok(image::open(fixtures.join(name))?.to_rgb8())
    };
    let user = |parts: Vec<ContentPart>, text: &str| {
        let mut parts = parts;
        parts.push(ContentPart::Text { text: text.into() });
        vec![ChatMessage {
            role: "user".into(),
            content: MessageContent::Parts(parts),
        }]
    };
    let mut prompts = Vec::new();
    let mut add = |name: &str, messages: Vec<ChatMessage>, media: Vec<PromptMedia>| {
        let prompt = prepare_prompt(
            &runtime.model,
            &runtime.tokenizer,
            &runtime.processor,
            &messages,
            media,
            ThinkingMode::Auto,
        )?;
        prompts.push((name.to_string(), prompt.inputs));
        anyhow::Ok(())
    };
    add(
        "golden image",
        user(vec![ContentPart::Image], "Describe this image."),
        vec![PromptMedia::Image(image("keye-preview-image/image.png")?)],
    )?;
    add(
        "golden two images",
        user(
            vec![ContentPart::Image, ContentPart::Image],
            "What differs between these images?",
        ),
        vec![
            PromptMedia::Image(image("keye-preview-two-images/image_a.png")?),
            PromptMedia::Image(image("keye-preview-two-images/image_b.png")?),
        ],
    )?;
    let video = root.join("assets/sample-16x9.mp4");
    if video.is_file() {
        let media = keye_studio::inference::prepare_video(runtime, &video)?;
        add(
            "sample video",
            user(vec![ContentPart::Video], "What happens in this video?"),
            vec![media],
        )?;
    }
    Ok(prompts)
}

pub fn bench_quality(args: BenchQualityArgs) -> anyhow::Result<ExitCode> {
    let spec = QuantizeSpec {
        kind: args.quantize,
        vision: args.quantize_vision,
    };
    let (reference, candidate, prompts, what) = match (&args.model, args.config) {
        (Some(dir), _) => {
            let options = || LoadOptions::default();
            let reference = Runtime::load(dir, options())?;
            let candidate = Runtime::load(
                dir,
                LoadOptions {
                    quantize: spec,
                    ..options()
                },
            )?;
            let prompts = checkpoint_prompts(&reference)?;
            (
                reference.model,
                candidate.model,
                prompts,
                dir.display().to_string(),
            )
        }
        (None, Some(config)) => {
            let size = config.size();
            let config = size.config()?;
            let reference = random_model(&config, DType::F32, &Device::Cpu)?;
            let candidate = random_quantized_model(&config, DType::F32, &Device::Cpu, &spec)?;
            let prompts = [(16, 224), (48, 448), (96, 336)]
                .into_iter()
                .map(|(text, side)| {
                    Ok((
                        format!("{text} text tokens + {side} px image"),
                        bench_inputs(&reference, text, Some(side))?,
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            (
                reference,
                candidate,
                prompts,
                format!("--config {}", size.name()),
            )
        }
        (None, None) => bail!("give --model DIR or --config tiny|small"),
    };
    let report = compare(&reference, &candidate, &prompts, args.steps)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_quality(&what, &spec, &report);
        println!(
            "  formats used: {}",
            format_counts(reference.config(), &spec)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// "168 q4k, 2 q8_0 (rows the 256-weight blocks do not divide), 3 dense": how many of the
/// covered matrices got each format.
fn format_counts(config: &keye_model::KeyeConfig, spec: &QuantizeSpec) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, shape) in config.expected_tensors() {
        if let [_, columns] = shape.as_slice()
            && spec.covers(&name)
        {
            let format = spec
                .format_for(*columns)
                .map_or("dense (no block size divides the rows)".into(), |f| {
                    format!("{f:?}").to_lowercase()
                });
            *counts.entry(format).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(format, n)| format!("{n} {format}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_quality(what: &str, spec: &QuantizeSpec, report: &QualityReport) {
    println!(
        "bench quality {what}: {}{} against f32, {} next-token distributions",
        spec.kind,
        if spec.vision { " (vision too)" } else { "" },
        report.steps
    );
    for prompt in &report.prompts {
        println!(
            "  {:<36} top-1 agreement {:.3}  mean KL {:.2e} nats",
            prompt.name, prompt.top1_agreement, prompt.mean_kl
        );
    }
    println!(
        "  {:<36} top-1 agreement {:.3}  mean KL {:.2e} nats",
        "all", report.top1_agreement, report.mean_kl
    );
}
