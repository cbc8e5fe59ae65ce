//! `golden-check` and `bench model`.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, time::Instant};

use anyhow::Context;
use keye_model::{
    DType, LoadOptions,
    bench::{
        BenchSize, bench_inputs, measure_copy_bandwidth, measure_matmul_flops, parameter_count,
        random_quantized_model,
    },
    budget::gib,
    device::{DTypeChoice, device_name, resolve_device, resolve_dtype},
    golden::{GoldenCase, GoldenReport},
    keye::{DecodeState, KvCache, Prefill},
    mengzi::golden as mengzi_golden,
    quantize::{QuantizeSpec, matrix_kernel_copy_bytes},
};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BenchConfig {
    /// The golden tiny Preview config.
    Tiny,
    /// The real shape family at a few hundred MB (f32).
    Small,
    /// Keye-VL-1.5-8B's real shapes (8.64 B parameters).
    #[value(name = "keye-1.5-8b")]
    Keye15_8b,
    /// Keye-VL-8B-Preview's real shapes.
    #[value(name = "keye-preview-8b")]
    Preview8b,
}

impl BenchConfig {
    pub fn size(self) -> BenchSize {
        match self {
            Self::Tiny => BenchSize::Tiny,
            Self::Small => BenchSize::Small,
            Self::Keye15_8b => BenchSize::Keye15_8b,
            Self::Preview8b => BenchSize::Preview8b,
        }
    }
}

#[derive(clap::Args)]
pub struct BenchModelArgs {
    /// Model size to build with random weights (made in memory, nothing is downloaded).
    #[arg(long, value_enum, default_value = "tiny")]
    pub config: BenchConfig,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
    /// Ordinary text tokens in the prompt (around the image).
    #[arg(long, default_value_t = 64)]
    pub text_tokens: usize,
    /// Side of the square image in pixels (a multiple of 28; 0 for a text-only prompt).
    #[arg(long, default_value_t = 448)]
    pub image_side: usize,
    /// Tokens decoded after the prefill.
    #[arg(long, default_value_t = 16)]
    pub decode_tokens: usize,
    /// Prompt tokens per decoder pass.
    #[arg(long, default_value_t = keye_model::keye::DEFAULT_PREFILL_CHUNK)]
    pub prefill_chunk: usize,
    /// Timed repetitions of the prefill (the best is reported; default 3 below 1 B parameters,
    /// else 1).
    #[arg(long)]
    pub repeats: Option<usize>,
}

#[derive(clap::Args)]
pub struct GoldenCheckArgs {
    /// A golden case folder: meta.json, inputs.safetensors, outputs.safetensors (a Keye case
    /// names its model folder; a Mengzi case holds its BERT checkpoint itself).
    pub dir: PathBuf,
    /// The goldens are float32 on a CPU: other placements show how far they drift (tolerances
    /// stay those of the goldens).
    #[command(flatten)]
    pub placement: super::PlacementArgs,
}

pub fn golden_check(args: GoldenCheckArgs) -> anyhow::Result<ExitCode> {
    let device = resolve_device(args.placement.device)?;
    if mengzi_golden::is_case(&args.dir) {
        // Mengzi cases hold their checkpoint and run in float32 (the goldens' precision).
        let report = mengzi_golden::MengziGoldenCase::open(&args.dir)?.run(&device)?;
        return print_report(&report, &args.dir);
    }
    let case = GoldenCase::open(&args.dir)?;
    let dtype = match args.placement.dtype {
        // The goldens are float32: auto keeps them comparable.
        DTypeChoice::Auto => DType::F32,
        other => resolve_dtype(other, &device, 0),
    };
    let (bar, progress) = super::loading_bar(std::io::stderr().is_terminal());
    let report = case.run(LoadOptions {
        device,
        dtype,
        quantize: args.placement.placement().quantize,
        progress: Some(progress),
        cancel: None,
    });
    bar.finish_and_clear();
    print_report(&report?, &args.dir)
}

/// Prints each compared tensor and the verdict; PASS exits 0.
fn print_report(report: &GoldenReport, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    println!("case {} ({})", report.case, dir.display());
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
    if !report.generated_text.is_empty() {
        println!("  generated text: {:?}", report.generated_text);
    }
    if report.passed() {
        println!("PASS");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAIL");
        Ok(ExitCode::FAILURE)
    }
}

/// Peak resident memory of this process so far (Linux VmHWM), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
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

/// Bytes of the weights one decode step reads: every decoder layer, the final norm and the
/// output projection (the embedding table is read one row at a time), each at its stored size:
/// `bytes_per_weight` for dense tensors, its block format's for quantized ones.
fn decode_weight_bytes(
    config: &keye_model::KeyeConfig,
    bytes_per_weight: f64,
    quantize: &QuantizeSpec,
) -> f64 {
    let tied = config.text.tie_word_embeddings;
    config
        .expected_tensors()
        .iter()
        .filter(|(name, _)| {
            name.starts_with("model.layers.")
                || name == "model.norm.weight"
                || name == "lm_head.weight"
                || (tied && name == "model.embed_tokens.weight")
        })
        .map(|(name, shape)| {
            let elements = shape.iter().product::<usize>() as f64;
            let format = match shape.as_slice() {
                [_, columns] if quantize.covers(name) => quantize.format_for(*columns),
                _ => None,
            };
            match format {
                Some(f) => elements / f.block_size() as f64 * f.type_size() as f64,
                None => elements * bytes_per_weight,
            }
        })
        .sum()
}

/// Floating-point operations of a prefill of `tokens` prompt tokens with `patches` vision
/// patches: two per weight per row for every matrix product, plus the attention products.
fn prefill_flops(config: &keye_model::KeyeConfig, tokens: usize, patches: usize) -> f64 {
    let t = &config.text;
    let v = &config.vision;
    let decoder_weights = decode_weight_bytes(config, 1.0, &QuantizeSpec::default())
        - (t.vocab_size * t.hidden_size) as f64;
    let vision_weights = 4.0 * (v.hidden_size * v.hidden_size) as f64
        + 2.0 * (v.hidden_size * v.intermediate_size) as f64;
    let attention =
        |layers: usize, width: usize, n: usize| 2.0 * layers as f64 * (n * n * width) as f64;
    2.0 * decoder_weights * tokens as f64
        + 2.0 * vision_weights * v.num_hidden_layers as f64 * patches as f64
        + attention(
            t.num_hidden_layers,
            t.num_attention_heads * t.head_dim,
            tokens,
        )
        + 2.0 * attention(v.num_hidden_layers, v.hidden_size, patches)
        + 2.0 * (t.vocab_size * t.hidden_size) as f64
}

pub fn bench_model(args: BenchModelArgs) -> anyhow::Result<ExitCode> {
    let size = match args.config {
        BenchConfig::Tiny => BenchSize::Tiny,
        BenchConfig::Small => BenchSize::Small,
        BenchConfig::Keye15_8b => BenchSize::Keye15_8b,
        BenchConfig::Preview8b => BenchSize::Preview8b,
    };
    if !args.image_side.is_multiple_of(28) {
        anyhow::bail!(
            "--image-side must be a multiple of 28 (or 0 for text only), got {}",
            args.image_side
        );
    }
    let config = size.config()?;
    let parameters = parameter_count(&config);
    let placement = args.placement.placement();
    let device = resolve_device(placement.device)?;
    let dtype = placement.dense_dtype(&device, parameters);
    let quantize = placement.quantize;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "bench model --config {}: {:.1} M parameters, {}{} on {} ({threads} CPU threads)",
        size.name(),
        parameters as f64 / 1e6,
        dtype.as_str(),
        if quantize.is_none() {
            String::new()
        } else {
            format!(
                " with {} linear layers{}",
                quantize.kind,
                if quantize.vision { " (vision too)" } else { "" }
            )
        },
        device_name(&device),
    );

    // The ceilings first, so their buffers are freed before the model exists and do not count in
    // its peak memory.
    let ceiling = measure_matmul_flops(
        args.prefill_chunk.min(args.text_tokens).max(16),
        config.text.hidden_size,
        config.text.intermediate_size,
        dtype,
        &device,
        3,
    )?;
    // 2 x 128 MiB: far past any cache, small beside a model.
    let bandwidth = measure_copy_bandwidth(128 << 20, threads, 5);
    // From here the peak is the model's (Linux: VmHWM reset).
    let _ = std::fs::write("/proc/self/clear_refs", "5");

    let started = Instant::now();
    let mut model =
        random_quantized_model(&config, dtype, &device, &quantize).context("building the model")?;
    device.synchronize()?;
    println!(
        "  load: {:.1} s to make the random weights in memory (and quantize them)",
        started.elapsed().as_secs_f64(),
    );
    model.set_prefill_chunk(args.prefill_chunk);

    let image = (args.image_side > 0).then_some(args.image_side);
    let inputs = bench_inputs(&model, args.text_tokens, image)?;
    let seq = inputs.input_ids.len();
    let patches = image.map_or(0, |side| (side / 14) * (side / 14));
    let repeats = args
        .repeats
        .unwrap_or(if parameters < 1_000_000_000 { 3 } else { 1 });
    let mut state = DecodeState::default();
    let t_prefill = best_of(repeats, || {
        state = DecodeState {
            cache: KvCache::with_capacity(seq + args.decode_tokens),
            rope_delta: 0,
        };
        let out = model.prefill(
            &inputs,
            &mut state,
            Prefill {
                lean: true,
                ..Prefill::default()
            },
        )?;
        model.logits(&out.hidden)?;
        device.synchronize()?;
        Ok(())
    })?;
    let achieved = prefill_flops(&config, seq, patches) / t_prefill;
    println!(
        "  prefill {seq} tokens ({}): {:.1} tokens/s ({:.2} s), {:.1} GFLOP/s = {:.2}x a {} matrix product's {:.1} GFLOP/s",
        match image {
            Some(side) => format!("{side} px image + {} text", args.text_tokens),
            None => "text only".into(),
        },
        seq as f64 / t_prefill,
        t_prefill,
        achieved / 1e9,
        achieved / ceiling,
        dtype.as_str(),
        ceiling / 1e9
    );

    let decode_start = Instant::now();
    for i in 0..args.decode_tokens {
        model.decode_step(10 + i as u32, &mut state)?;
    }
    device.synchronize()?;
    let t_decode = decode_start.elapsed().as_secs_f64();
    let rate = args.decode_tokens as f64 / t_decode.max(1e-9);
    let per_token = decode_weight_bytes(&config, dtype.size_in_bytes() as f64, &quantize);
    if device.is_cpu() {
        let limit = bandwidth / per_token;
        println!(
            "  decode {} tokens: {rate:.2} tokens/s; memory-bandwidth limit {limit:.2} tokens/s \
             ({} of weights per token, copy bandwidth {:.1} GB/s measured now) = {:.2}x the limit",
            args.decode_tokens,
            gib(per_token as u64),
            bandwidth / 1e9,
            rate / limit
        );
    } else {
        println!(
            "  decode {} tokens: {rate:.2} tokens/s ({} of weights read per token)",
            args.decode_tokens,
            gib(per_token as u64)
        );
    }
    println!(
        "  KV cache {} for {} tokens",
        gib(state.cache.allocated_bytes() as u64),
        state.cache.seq_len()
    );
    let kernel_copies: u64 = config
        .expected_tensors()
        .iter()
        .filter_map(|(name, shape)| match shape.as_slice() {
            [rows, columns] if quantize.covers(name) => quantize
                .format_for(*columns)
                .map(|f| matrix_kernel_copy_bytes(f, *rows, *columns, &device)),
            _ => None,
        })
        .sum();
    if kernel_copies > 0 {
        println!(
            "  tiled copies of the quantized matrices made by candle's CPU kernels on first use \
             (kept beside the compact blocks): {}",
            gib(kernel_copies)
        );
    }
    match peak_rss_bytes() {
        Some(peak) => println!("  peak resident memory: {}", gib(peak)),
        None => println!("  peak resident memory: unavailable (no /proc/self/status)"),
    }
    Ok(ExitCode::SUCCESS)
}
