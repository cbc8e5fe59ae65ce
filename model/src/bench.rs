//! Random-weight Keye-VL models of fixed sizes for `keye-studio bench model`: the real module tree
//! and tensor shapes, so a prefill costs what it would with trained weights of that size.

use std::{collections::HashMap, path::Path};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::{
    config::KeyeConfig,
    error::Result,
    keye::{KeyeInputs, KeyeModel, VisionBatch},
};

/// Benchmark model sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchSize {
    /// The golden tiny Preview config (vision 32 wide, text 64 wide, 2 + 2 layers).
    Tiny,
    /// The real shape family scaled to a few hundred MB of f32 weights.
    Small,
}

impl BenchSize {
    /// A Preview config of this size.
    pub fn config(self) -> Result<KeyeConfig> {
        let (vision, text) = match self {
            BenchSize::Tiny => ((32, 64, 2, 2, 56), (64, 128, 2, 4, 2, 16, [2, 3, 3], 1024)),
            BenchSize::Small => (
                (384, 1536, 8, 6, 384),
                (768, 2304, 8, 12, 4, 64, [8, 12, 12], 32000),
            ),
        };
        let (v_hidden, v_inter, v_layers, v_heads, v_image) = vision;
        let (hidden, inter, layers, heads, kv_heads, head_dim, section, vocab) = text;
        let json = serde_json::json!({
            "architectures": ["KeyeForConditionalGeneration"],
            "model_type": "Keye",
            "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": inter,
            "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv_heads, "head_dim": head_dim,
            "rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0,
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

/// A model with deterministic random weights scaled like the goldens' (N(0, 1/fan_in) for
/// matrices, 1 for norm weights) so activations stay O(1).
pub fn random_model(config: &KeyeConfig, dtype: DType, device: &Device) -> Result<KeyeModel> {
    let mut tensors = HashMap::new();
    for (name, shape) in config.expected_tensors() {
        // 1-D weights are norm scales; 1-D anything else is a bias.
        let tensor = if shape.len() == 1 && name.ends_with(".weight") {
            Tensor::ones(shape.as_slice(), DType::F32, device)?
        } else if shape.len() == 1 {
            Tensor::zeros(shape.as_slice(), DType::F32, device)?
        } else {
            let fan_in: usize = shape[1..].iter().product();
            Tensor::randn(
                0f32,
                (1.0 / fan_in as f64).sqrt() as f32,
                shape.as_slice(),
                device,
            )?
        };
        tensors.insert(name, tensor.to_dtype(dtype)?);
    }
    KeyeModel::new(config, VarBuilder::from_tensors(tensors, dtype, device))
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
