//! Random-weight Keye-VL models of fixed sizes for `keye-studio bench model`: the real module tree
//! and tensor shapes (up to the public 8B configs), built straight into memory in the target
//! dtype, so a prefill or a decode step costs what it would with trained weights of that size.

use std::{collections::HashMap, path::Path, sync::Arc};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use half::{bf16, f16};

use crate::{
    config::KeyeConfig,
    error::Result,
    keye::{KeyeInputs, KeyeModel, VisionBatch},
    layers::{QuantizedWeights, Weights},
    quantize::{QuantizeSpec, quantize_rows},
};

/// Benchmark model sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchSize {
    /// The golden tiny Preview config (vision 32 wide, text 64 wide, 2 + 2 layers).
    Tiny,
    /// The real shape family scaled to a few hundred MB of f32 weights.
    Small,
    /// Keye-VL-1.5-8B: SigLIP-400M tower (27 layers, 1152 wide) and Qwen3-8B (36 layers, 4096
    /// wide, 32 query and 8 key/value heads), 8.6 billion parameters.
    Keye15_8b,
    /// Keye-VL-8B-Preview: the same shapes with the Preview's projector and rope base.
    Preview8b,
}

impl BenchSize {
    /// The name `bench model --config` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Small => "small",
            Self::Keye15_8b => "keye-1.5-8b",
            Self::Preview8b => "keye-preview-8b",
        }
    }

    /// The config of this size (the public config.json values for the 8B models, see
    /// `shared/docs/keye-vl.md` section 1).
    pub fn config(self) -> Result<KeyeConfig> {
        let (vision, text) = match self {
            BenchSize::Tiny => ((32, 64, 2, 2, 56), (64, 128, 2, 4, 2, 16, [2, 3, 3], 1024)),
            BenchSize::Small => (
                (384, 1536, 8, 6, 384),
                (768, 2304, 8, 12, 4, 64, [8, 12, 12], 32000),
            ),
            BenchSize::Keye15_8b | BenchSize::Preview8b => (
                (1152, 4304, 27, 16, 384),
                (4096, 12288, 36, 32, 8, 128, [16, 24, 24], 151_936),
            ),
        };
        let (v_hidden, v_inter, v_layers, v_heads, v_image) = vision;
        let (hidden, inter, layers, heads, kv_heads, head_dim, section, vocab) = text;
        let (model_type, architecture, rope_theta) = match self {
            // The 1.5 report resets the rope base to 8e6 for its 128K context.
            BenchSize::Keye15_8b => (
                "KeyeVL1_5",
                "KeyeVL1_5ForConditionalGeneration",
                8_000_000.0,
            ),
            _ => ("Keye", "KeyeForConditionalGeneration", 1_000_000.0),
        };
        let json = serde_json::json!({
            "architectures": [architecture],
            "model_type": model_type,
            "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": inter,
            "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv_heads, "head_dim": head_dim,
            "rms_norm_eps": 1e-6, "rope_theta": rope_theta,
            "rope_scaling": {"type": "mrope", "mrope_section": section},
            "eos_token_id": vocab - 22,
            "vision_start_token_id": vocab - 21, "vision_end_token_id": vocab - 20,
            "image_token_id": vocab - 18, "video_token_id": vocab - 17,
            "vision_config": {
                "hidden_size": v_hidden, "intermediate_size": v_inter,
                "num_hidden_layers": v_layers, "num_attention_heads": v_heads,
                "image_size": v_image, "patch_size": 14, "spatial_merge_size": 2,
            },
        });
        KeyeConfig::from_json(json, Path::new("<built-in bench config>"))
    }
}

/// Parameters of a config (every tensor the model reads).
pub fn parameter_count(config: &KeyeConfig) -> usize {
    config
        .expected_tensors()
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum()
}

/// Deterministic random weights of `config`'s tensors, each made directly in `dtype` on `device`
/// (no f32 copy of the whole model): uniform with the variance of N(0, 1/fan_in) for matrices, 1
/// for norm weights, 0 for biases, so activations stay O(1). The matrices `quantize` covers are
/// made a block of rows at a time and quantized as they are made, so neither a dense copy of them
/// nor of the model ever exists.
pub fn random_weights(
    config: &KeyeConfig,
    dtype: DType,
    device: &Device,
    quantize: &QuantizeSpec,
) -> Result<(HashMap<String, Tensor>, QuantizedWeights)> {
    let mut rng = SplitMix64(0x6b65_7965);
    let mut dense = HashMap::new();
    let mut quantized = QuantizedWeights::new();
    for (name, shape) in config.expected_tensors() {
        let count: usize = shape.iter().product();
        // 1-D weights are norm scales; 1-D anything else is a bias.
        let (centre, half_width) = if shape.len() == 1 && name.ends_with(".weight") {
            (1.0, 0.0)
        } else if shape.len() == 1 {
            (0.0, 0.0)
        } else {
            let fan_in: usize = shape[1..].iter().product();
            (0.0, (3.0 / fan_in as f64).sqrt() as f32)
        };
        let format = match shape.as_slice() {
            [_, columns] if quantize.covers(&name) => quantize.format_for(*columns),
            _ => None,
        };
        if let Some(format) = format {
            let (rows, columns) = (shape[0], shape[1]);
            let block = (crate::quantize::SCRATCH_FLOATS / columns).max(1);
            let tensor = quantize_rows((rows, columns), block, format, device, |_, n| {
                let data: Vec<f32> = (0..n * columns)
                    .map(|_| centre + half_width * rng.symmetric_unit())
                    .collect();
                Ok(Tensor::from_vec(data, (n, columns), &Device::Cpu)?)
            })?;
            quantized.insert(name, Arc::new(tensor));
            continue;
        }
        let mut value = || centre + half_width * rng.symmetric_unit();
        let tensor = match dtype {
            DType::BF16 => {
                let data: Vec<bf16> = (0..count).map(|_| bf16::from_f32(value())).collect();
                Tensor::from_vec(data, shape.as_slice(), device)?
            }
            DType::F16 => {
                let data: Vec<f16> = (0..count).map(|_| f16::from_f32(value())).collect();
                Tensor::from_vec(data, shape.as_slice(), device)?
            }
            _ => {
                let data: Vec<f32> = (0..count).map(|_| value()).collect();
                Tensor::from_vec(data, shape.as_slice(), device)?.to_dtype(dtype)?
            }
        };
        dense.insert(name, tensor);
    }
    Ok((dense, quantized))
}

/// A model with [`random_weights`].
pub fn random_model(config: &KeyeConfig, dtype: DType, device: &Device) -> Result<KeyeModel> {
    random_quantized_model(config, dtype, device, &QuantizeSpec::default())
}

/// A model with [`random_weights`], the linear layers `quantize` covers quantized.
pub fn random_quantized_model(
    config: &KeyeConfig,
    dtype: DType,
    device: &Device,
    quantize: &QuantizeSpec,
) -> Result<KeyeModel> {
    let (dense, quantized) = random_weights(config, dtype, device, quantize)?;
    let vb = VarBuilder::from_tensors(dense, dtype, device);
    KeyeModel::from_weights(config, Weights::with_quantized(vb, quantized))
}

/// SplitMix64: a tiny, fast, deterministic generator; benchmark weights need no better.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn symmetric_unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A chat-shaped prompt of `text_tokens` ordinary tokens around one image of
/// `image_side` x `image_side` pixels (a multiple of 28) with random pixel values; or text only.
pub fn bench_inputs(
    model: &KeyeModel,
    text_tokens: usize,
    image_side: Option<usize>,
) -> Result<KeyeInputs> {
    let cfg = model.config();
    let filler = (0..text_tokens as u32).map(|i| i % 200 + 10);
    let Some(side) = image_side else {
        return Ok(KeyeInputs {
            input_ids: filler.collect(),
            images: None,
            videos: None,
            encoded_videos: None,
        });
    };
    let patches = side / cfg.vision.patch_size;
    let merge = cfg.vision.spatial_merge_size;
    let image_tokens = patches * patches / (merge * merge);
    let mut input_ids: Vec<u32> = filler.clone().take(text_tokens / 2).collect();
    input_ids.push(cfg.tokens.vision_start);
    input_ids.extend(std::iter::repeat_n(cfg.tokens.image, image_tokens));
    input_ids.push(cfg.tokens.vision_end);
    input_ids.extend(filler.skip(text_tokens / 2));
    let p = cfg.vision.patch_size;
    let pixel_values = Tensor::rand(
        -1f32,
        1f32,
        (patches * patches, cfg.vision.num_channels, p, p),
        model.device(),
    )?;
    Ok(KeyeInputs {
        input_ids,
        images: Some(VisionBatch::images(
            pixel_values,
            vec![[1, patches, patches]],
        )),
        videos: None,
        encoded_videos: None,
    })
}

/// Memory bandwidth of this machine in bytes per second, measured now as a copy: `threads`
/// threads each copy their share of a `bytes`-byte buffer (larger than any cache) into another,
/// and the bytes read plus written per second are the figure, best of `repeats`. Decoding one
/// token streams every weight once, so weight bytes / this is the fastest a decode step can be on
/// a CPU. (The copy is the C library's memcpy, so the figure does not depend on how this crate is
/// compiled.)
pub fn measure_copy_bandwidth(bytes: usize, threads: usize, repeats: usize) -> f64 {
    let threads = threads.max(1);
    let len = bytes.max(threads);
    let source = vec![1u8; len];
    let mut target = vec![0u8; len];
    let share = len.div_ceil(threads);
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = std::time::Instant::now();
        std::thread::scope(|scope| {
            for (from, to) in source.chunks(share).zip(target.chunks_mut(share)) {
                scope.spawn(move || to.copy_from_slice(from));
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
        std::hint::black_box(&target);
    }
    2.0 * len as f64 / best
}

/// Floating-point operations per second of one (m x k) by (k x n) matrix product in `dtype` on
/// `device`, best of `repeats`: the compute ceiling a prefill is compared with.
pub fn measure_matmul_flops(
    m: usize,
    k: usize,
    n: usize,
    dtype: DType,
    device: &Device,
    repeats: usize,
) -> Result<f64> {
    let a = Tensor::rand(-1f32, 1f32, (m, k), device)?.to_dtype(dtype)?;
    let b = Tensor::rand(-1f32, 1f32, (k, n), device)?.to_dtype(dtype)?;
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = std::time::Instant::now();
        let c = a.matmul(&b)?;
        device.synchronize()?;
        std::hint::black_box(c);
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(2.0 * (m * k * n) as f64 / best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_8b_configs_have_the_published_parameter_count() {
        let params = parameter_count(&BenchSize::Keye15_8b.config().unwrap());
        // 8.64 billion, as the model card says.
        assert!((8_500_000_000..8_700_000_000).contains(&params), "{params}");
        let preview = parameter_count(&BenchSize::Preview8b.config().unwrap());
        // The Preview normalises before the merge: a smaller pre_norm, same otherwise.
        assert!(preview < params && params - preview < 10_000);
    }

    #[test]
    fn random_weights_are_deterministic_and_scaled() {
        let config = BenchSize::Tiny.config().unwrap();
        let none = QuantizeSpec::default();
        let (a, _) = random_weights(&config, DType::F32, &Device::Cpu, &none).unwrap();
        let (b, _) = random_weights(&config, DType::BF16, &Device::Cpu, &none).unwrap();
        let name = "model.layers.0.mlp.up_proj.weight";
        let wa: Vec<f32> = a[name].flatten_all().unwrap().to_vec1().unwrap();
        let wb: Vec<f32> = b[name]
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (x, y) in wa.iter().zip(&wb) {
            assert!((x - y).abs() <= x.abs() / 128.0 + 1e-6);
        }
        let variance = wa.iter().map(|x| x * x).sum::<f32>() / wa.len() as f32;
        let fan_in = config.text.hidden_size as f32;
        assert!(
            (variance * fan_in - 1.0).abs() < 0.15,
            "{}",
            variance * fan_in
        );
        let norm: Vec<f32> = a["model.norm.weight"].to_vec1().unwrap();
        assert!(norm.iter().all(|&x| x == 1.0));
    }
}
