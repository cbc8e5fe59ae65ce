//! `golden-check` and `bench model`.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, time::Instant};

use anyhow::Context;
use keye_model::{
    DType, Device, LoadOptions,
    bench::{BenchSize, bench_inputs, random_model},
    golden::GoldenCase,
    keye::{DecodeState, KeyeModel},
};

#[derive(clap::Args)]
pub struct GoldenCheckArgs {
    /// A golden case folder: meta.json, inputs.safetensors, outputs.safetensors.
    pub dir: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BenchConfig {
    /// The golden tiny Preview config.
    Tiny,
    /// The real shape family at a few hundred MB (f32).
    Small,
}

#[derive(clap::Args)]
pub struct BenchModelArgs {
    /// Model size to build with random weights.
    #[arg(long, value_enum, default_value = "tiny")]
    pub config: BenchConfig,
    /// Ordinary text tokens in the prompt (around the image).
    #[arg(long, default_value_t = 64)]
    pub text_tokens: usize,
    /// Side of the square image in pixels (multiple of 28).
    #[arg(long, default_value_t = 448)]
    pub image_side: usize,
    /// Timed repetitions of each measurement (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
}

pub fn golden_check(args: GoldenCheckArgs) -> anyhow::Result<ExitCode> {
    let case = GoldenCase::open(&args.dir)?;
    let (bar, progress) = super::loading_bar(std::io::stderr().is_terminal());
    let report = case.run(LoadOptions {
        progress: Some(progress),
        ..LoadOptions::default()
    });
    bar.finish_and_clear();
    let report = report?;
    println!("case {} ({})", report.case, args.dir.display());
    if let Some(matches) = report.prompt_matches {
        println!(
            "  {:<28} {}",
            "prompt (chat template)",
            if matches { "identical" } else { "DIFFERENT" }
        );
    }
    for check in &report.checks {
        let verdict = if check.passed() { "ok" } else { "FAIL" };
        match check.max_abs_diff {
            Some(diff) => println!(
                "  {:<28} {:<16} max|diff| {diff:.3e} (tol {:.0e}) {verdict}",
                check.name,
                format!("{:?}", check.expected_shape),
                check.tolerance
            ),
            None => println!(
                "  {:<28} shape {:?} vs expected {:?} FAIL",
                check.name, check.actual_shape, check.expected_shape
            ),
        }
    }
    for name in &report.inputs_used {
        println!("  {name:<28} input (preprocessed by us)");
    }
    for name in &report.unmatched {
        println!("  {name:<28} not produced by the runner FAIL");
    }
    println!("  generated text: {:?}", report.generated_text);
    if report.passed() {
        println!("PASS");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAIL");
        Ok(ExitCode::FAILURE)
    }
}

/// Peak and current resident memory from /proc/self/status, in KiB.
fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Resets the kernel's peak-RSS counter so the next VmHWM is the peak of what follows.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Best wall time of `repeats` runs of `f`, in seconds.
fn best_of(repeats: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

pub fn bench_model(args: BenchModelArgs) -> anyhow::Result<ExitCode> {
    let size = match args.config {
        BenchConfig::Tiny => BenchSize::Tiny,
        BenchConfig::Small => BenchSize::Small,
    };
    if args.image_side == 0 || !args.image_side.is_multiple_of(28) {
        anyhow::bail!(
            "--image-side must be a positive multiple of 28, got {}",
            args.image_side
        );
    }
    let config = size.config()?;
    let before_build = memory_kib().map(|(_, rss)| rss);
    let model = random_model(&config, DType::F32, &Device::Cpu).context("building the model")?;
    let weights_kib = memory_kib()
        .map(|(_, rss)| rss)
        .zip(before_build)
        .map(|(a, b)| a.saturating_sub(b));
    let multimodal = bench_inputs(&model, args.text_tokens, Some(args.image_side))?;
    let seq = multimodal.input_ids.len();
    let text_only = bench_inputs(&model, seq, None)?;
    let prefill = |inputs: &keye_model::keye::KeyeInputs, model: &KeyeModel| {
        let mut state = DecodeState {
            cache: Default::default(),
            rope_delta: 0,
        };
        let out = model.forward(inputs, &mut state)?;
        model.logits(&out.hidden.narrow(1, seq - 1, 1)?)?;
        anyhow::Ok(state)
    };
    // Warm-up, then the peak memory of one forward above what was resident before it.
    prefill(&multimodal, &model)?;
    let rss_before = memory_kib().map(|(_, rss)| rss);
    let peak = if reset_peak_memory() {
        prefill(&multimodal, &model)?;
        memory_kib()
            .map(|(hwm, _)| hwm)
            .zip(rss_before)
            .map(|(hwm, rss)| hwm.saturating_sub(rss))
    } else {
        None
    };
    let t_mm = best_of(args.repeats, || prefill(&multimodal, &model).map(drop))?;
    let t_text = best_of(args.repeats, || prefill(&text_only, &model).map(drop))?;
    // Decoding 16 tokens with the KV cache vs re-running the whole prefix for each token.
    let steps = 16;
    let t_cached = best_of(args.repeats, || {
        let mut state = prefill(&text_only, &model)?;
        for i in 0..steps {
            model.decode_step(10 + i, &mut state)?;
        }
        Ok(())
    })? - t_text;
    let t_uncached = best_of(args.repeats.min(2), || {
        let mut ids = text_only.input_ids.clone();
        for i in 0..steps {
            ids.push(10 + i);
            let inputs = keye_model::keye::KeyeInputs {
                input_ids: ids.clone(),
                images: None,
                videos: None,
                encoded_videos: None,
            };
            let mut state = DecodeState {
                cache: Default::default(),
                rope_delta: 0,
            };
            model.forward(&inputs, &mut state)?;
        }
        Ok(())
    })?;
    let params: usize = config
        .expected_tensors()
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum();
    println!(
        "bench model --config {}: {:.1} M parameters (f32, CPU, {} threads)",
        match size {
            BenchSize::Tiny => "tiny",
            BenchSize::Small => "small",
        },
        params as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if let Some(kib) = weights_kib {
        println!(
            "  weights resident:            {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
    println!(
        "  prefill, {seq} tokens ({}px image + text): {:.1} tokens/s ({:.3} s)",
        args.image_side,
        seq as f64 / t_mm,
        t_mm
    );
    println!(
        "  baseline text-only prefill, {seq} tokens: {:.1} tokens/s; image prompt / text-only time = {:.2}x",
        seq as f64 / t_text,
        t_mm / t_text
    );
    match peak {
        Some(kib) => println!(
            "  peak memory of one prefill forward: {:.1} MiB above resident",
            kib as f64 / 1024.0
        ),
        None => println!("  peak memory: unavailable (no /proc/self/clear_refs)"),
    }
    println!(
        "  decode {steps} tokens: KV cache {:.1} tokens/s vs full re-forward {:.1} tokens/s = {:.1}x",
        steps as f64 / t_cached.max(1e-9),
        steps as f64 / t_uncached,
        t_uncached / t_cached.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
