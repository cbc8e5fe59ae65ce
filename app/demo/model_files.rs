//! The demo model's checkpoint folder in the real Hugging Face layout: `config.json` (Keye-VL-1.5,
//! flat, with a `mavors_config` section for the Mavors checkpoint), `generation_config.json`,
//! `preprocessor_config.json`, and the tokenizer files; `model.safetensors` is written by the
//! trainer.

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::Tokenizer;

/// The demo model's sizes: small enough to train on two CPU cores in about an hour and to ship
/// (well under 25 MB of float32 weights).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DemoSizes {
    pub vision_hidden: usize,
    pub vision_layers: usize,
    pub vision_heads: usize,
    pub vision_intermediate: usize,
    pub text_hidden: usize,
    pub text_layers: usize,
    pub text_heads: usize,
    pub text_kv_heads: usize,
    pub text_intermediate: usize,
}

impl Default for DemoSizes {
    fn default() -> Self {
        Self {
            vision_hidden: 64,
            vision_layers: 3,
            vision_heads: 4,
            vision_intermediate: 192,
            text_hidden: 192,
            text_layers: 4,
            text_heads: 6,
            text_kv_heads: 2,
            text_intermediate: 512,
        }
    }
}

/// The Mavors settings of the demo's second checkpoint: chunks of two frames sampled at 4 fps.
pub fn mavors_section() -> Value {
    json!({
        "chunk_frames": 2,
        "sample_fps": 4.0,
        "max_chunks": 16,
        "ifa_layers": 1,
        "rope_theta": 10000.0,
        "max_slice_nums": 1,
        "projector_hidden_size": 256,
    })
}

/// Token ids config.json names, read off the tokenizer.
fn id(tokenizer: &Tokenizer, token: &str) -> Result<u32, String> {
    tokenizer
        .token_to_id(token)
        .ok_or_else(|| format!("the tokenizer has no {token}"))
}

/// The vocabulary size of the embedding: the tokenizer's, rounded up to a multiple of 64.
pub fn vocab_rows(tokenizer: &Tokenizer) -> usize {
    tokenizer.get_vocab_size(true).div_ceil(64) * 64
}

/// `config.json` for `sizes` and `tokenizer`; with `mavors`, the Mavors section too.
pub fn config_json(
    sizes: &DemoSizes,
    tokenizer: &Tokenizer,
    mavors: bool,
) -> Result<Value, String> {
    let head_dim = sizes.text_hidden / sizes.text_heads;
    let quarter = head_dim / 2;
    // M-RoPE split of half the head dim into (t, h, w): t a quarter, h and w the rest.
    let t = quarter / 4;
    let h = (quarter - t) / 2;
    let section = [t, h, quarter - t - h];
    let mut config = json!({
        "architectures": ["KeyeVL1_5ForConditionalGeneration"],
        "model_type": "KeyeVL1_5",
        "attention_bias": false,
        "attention_dropout": 0.0,
        "bos_token_id": id(tokenizer, "<|endoftext|>")?,
        "eos_token_id": id(tokenizer, "<|im_end|>")?,
        "pad_token_id": id(tokenizer, "<|endoftext|>")?,
        "vision_start_token_id": id(tokenizer, "<|vision_start|>")?,
        "vision_end_token_id": id(tokenizer, "<|vision_end|>")?,
        "vision_token_id": id(tokenizer, "<|vision_pad|>")?,
        "image_token_id": id(tokenizer, "<|image_pad|>")?,
        "video_token_id": id(tokenizer, "<|video_pad|>")?,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": sizes.text_hidden,
        "initializer_range": 0.02,
        "intermediate_size": sizes.text_intermediate,
        "max_position_embeddings": 8192,
        "max_window_layers": sizes.text_layers,
        "num_attention_heads": sizes.text_heads,
        "num_hidden_layers": sizes.text_layers,
        "num_key_value_heads": sizes.text_kv_heads,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": section},
        "sliding_window": null,
        "tie_word_embeddings": true,
        "torch_dtype": "float32",
        "use_cache": true,
        "use_sliding_window": false,
        "vocab_size": vocab_rows(tokenizer),
    });
    config["vision_config"] = json!({
        "architectures": ["SiglipVisionModel"],
        "model_type": "siglip_vision_model",
        "attention_dropout": 0.0,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_size": sizes.vision_hidden,
        "image_size": 112,
        "intermediate_size": sizes.vision_intermediate,
        "layer_norm_eps": 1e-6,
        "num_attention_heads": sizes.vision_heads,
        "num_channels": 3,
        "num_hidden_layers": sizes.vision_layers,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 1,
        "tokens_per_second": 2
    });
    if mavors {
        config["mavors_config"] = mavors_section();
    }
    Ok(config)
}

/// Writes config.json, generation_config.json and preprocessor_config.json into `dir`.
pub fn write_configs(
    dir: &Path,
    sizes: &DemoSizes,
    tokenizer: &Tokenizer,
    mavors: bool,
) -> Result<(), String> {
    let config = config_json(sizes, tokenizer, mavors)?;
    let generation = json!({
        "do_sample": false,
        "bos_token_id": id(tokenizer, "<|endoftext|>")?,
        "eos_token_id": [id(tokenizer, "<|im_end|>")?, id(tokenizer, "<|endoftext|>")?],
        "pad_token_id": id(tokenizer, "<|endoftext|>")?,
        "max_new_tokens": 256,
    });
    let preprocessor = json!({
        "min_pixels": 3136,
        "max_pixels": 1003520,
        "patch_size": 14,
        "temporal_patch_size": 1,
        "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "rescale_factor": 1.0 / 255.0,
        "processor_class": "KeyeProcessor",
    });
    for (name, value) in [
        ("config.json", config),
        ("generation_config.json", generation),
        ("preprocessor_config.json", preprocessor),
    ] {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())? + "\n";
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
