//! `config.json` of a Keye-VL checkpoint. The real files are flat (text fields at top level, only
//! `vision_config` nested); the variant comes from `model_type` / `architectures`.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result, read_json};

/// Which Keye-VL release a checkpoint is. They differ in the projector (norm before vs after the
/// 2x2 merge), the ViT attention blocks of videos and the video rope index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyeVariant {
    /// Keye-VL-8B-Preview (`model_type` "Keye").
    Preview,
    /// Keye-VL-1.5 (`model_type` "KeyeVL1_5"), SlowFast video.
    V1_5,
}

/// The SigLIP-style vision tower (`vision_config`).
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    /// Side of the pretraining image; `image_size / patch_size` is the learned position grid.
    pub image_size: usize,
    pub patch_size: usize,
    #[serde(default = "default_vision_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_vision_act")]
    pub hidden_act: candle_nn::Activation,
    #[serde(default = "default_merge")]
    pub spatial_merge_size: usize,
    #[serde(default = "default_tokens_per_second")]
    pub tokens_per_second: f32,
    /// 2-D RoPE base of the ViT; the reference hard-codes 10000 when the config has none.
    #[serde(default = "default_vision_theta")]
    pub rope_theta: f64,
}

fn default_channels() -> usize {
    3
}
fn default_vision_eps() -> f64 {
    1e-6
}
fn default_vision_act() -> candle_nn::Activation {
    candle_nn::Activation::GeluPytorchTanh
}
fn default_merge() -> usize {
    2
}
fn default_tokens_per_second() -> f32 {
    2.0
}
fn default_vision_theta() -> f64 {
    10000.0
}

impl VisionConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
    /// Side of the learned position-embedding grid (27 for the real 384/14 tower).
    pub fn position_grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    /// Values in one flattened patch: channels x patch x patch (588 for RGB 14x14).
    pub fn patch_dim(&self) -> usize {
        self.num_channels * self.patch_size * self.patch_size
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RopeScaling {
    mrope_section: Vec<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// The fields of the flat config.json as they are on disk (`model_type` / `architectures` are
/// read before, to pick the variant).
#[derive(Debug, Clone, Deserialize)]
struct RawConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: usize,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    rope_theta: f64,
    rope_scaling: RopeScaling,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    tie_word_embeddings: bool,
    eos_token_id: Option<OneOrMany>,
    vision_start_token_id: u32,
    vision_end_token_id: u32,
    image_token_id: u32,
    video_token_id: u32,
    vision_config: VisionConfig,
}

/// The Qwen3 decoder.
#[derive(Debug, Clone)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// M-RoPE split of the half head dimension into (t, h, w) parts, e.g. [16, 24, 24].
    pub mrope_section: [usize; 3],
    pub attention_bias: bool,
    pub tie_word_embeddings: bool,
}

/// Token ids the model itself needs, all read from config.json.
#[derive(Debug, Clone)]
pub struct ConfigTokenIds {
    pub image: u32,
    pub video: u32,
    pub vision_start: u32,
    pub vision_end: u32,
    /// End-of-sequence ids (the config may list several).
    pub eos: Vec<u32>,
}

/// A parsed and checked Keye-VL config.
#[derive(Debug, Clone)]
pub struct KeyeConfig {
    pub variant: KeyeVariant,
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub tokens: ConfigTokenIds,
}

impl KeyeConfig {
    /// Reads `config.json`, detects the variant and checks that the sizes fit together.
    pub fn from_file(path: &Path) -> Result<Self> {
        let value: serde_json::Value = read_json(path)?;
        Self::from_json(value, path)
    }

    /// Parses a config already in memory; `path` only names the source in errors.
    pub fn from_json(value: serde_json::Value, path: &Path) -> Result<Self> {
        let model_type = value
            .get("model_type")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let architectures: Vec<String> = value
            .get("architectures")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let variant = detect_variant(model_type.as_deref(), &architectures).ok_or_else(|| {
            Error::UnknownModelType {
                path: path.to_path_buf(),
                model_type: model_type.clone(),
                architectures: architectures.clone(),
            }
        })?;
        let raw: RawConfig = serde_json::from_value(value).map_err(|cause| Error::Json {
            path: path.to_path_buf(),
            cause,
        })?;
        let invalid = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let head_dim = raw
            .head_dim
            .unwrap_or(raw.hidden_size / raw.num_attention_heads.max(1));
        let mrope_section: [usize; 3] = raw
            .rope_scaling
            .mrope_section
            .as_slice()
            .try_into()
            .map_err(|_| {
                invalid(format!(
                    "rope_scaling.mrope_section must have 3 entries, found {:?}",
                    raw.rope_scaling.mrope_section
                ))
            })?;
        if mrope_section.iter().sum::<usize>() * 2 != head_dim {
            return Err(invalid(format!(
                "mrope_section {mrope_section:?} must sum to head_dim/2 = {}",
                head_dim / 2
            )));
        }
        if raw.num_attention_heads == 0
            || raw.num_key_value_heads == 0
            || !raw
                .num_attention_heads
                .is_multiple_of(raw.num_key_value_heads)
        {
            return Err(invalid(format!(
                "num_attention_heads {} must be a positive multiple of num_key_value_heads {}",
                raw.num_attention_heads, raw.num_key_value_heads
            )));
        }
        let vision = raw.vision_config;
        if vision.num_attention_heads == 0
            || !vision
                .hidden_size
                .is_multiple_of(vision.num_attention_heads)
            || !vision.head_dim().is_multiple_of(4)
        {
            return Err(invalid(format!(
                "vision hidden_size {} must split into heads of a multiple of 4 ({} heads)",
                vision.hidden_size, vision.num_attention_heads
            )));
        }
        if vision.patch_size == 0 || vision.position_grid() == 0 || vision.spatial_merge_size == 0 {
            return Err(invalid(format!(
                "vision image_size {} / patch_size {} / spatial_merge_size {} must be positive",
                vision.image_size, vision.patch_size, vision.spatial_merge_size
            )));
        }
        for (name, id) in [
            ("image_token_id", raw.image_token_id),
            ("video_token_id", raw.video_token_id),
            ("vision_start_token_id", raw.vision_start_token_id),
            ("vision_end_token_id", raw.vision_end_token_id),
        ] {
            if id as usize >= raw.vocab_size {
                return Err(invalid(format!(
                    "{name} {id} is outside the vocabulary ({})",
                    raw.vocab_size
                )));
            }
        }
        let eos = match raw.eos_token_id {
            Some(OneOrMany::One(id)) => vec![id],
            Some(OneOrMany::Many(ids)) => ids,
            None => Vec::new(),
        };
        Ok(Self {
            variant,
            text: TextConfig {
                vocab_size: raw.vocab_size,
                hidden_size: raw.hidden_size,
                intermediate_size: raw.intermediate_size,
                num_hidden_layers: raw.num_hidden_layers,
                num_attention_heads: raw.num_attention_heads,
                num_key_value_heads: raw.num_key_value_heads,
                head_dim,
                rms_norm_eps: raw.rms_norm_eps,
                rope_theta: raw.rope_theta,
                mrope_section,
                attention_bias: raw.attention_bias,
                tie_word_embeddings: raw.tie_word_embeddings,
            },
            vision,
            tokens: ConfigTokenIds {
                image: raw.image_token_id,
                video: raw.video_token_id,
                vision_start: raw.vision_start_token_id,
                vision_end: raw.vision_end_token_id,
                eos,
            },
        })
    }

    /// Every tensor the model reads, with its shape, in load order. Used both to validate a
    /// checkpoint before building and to make random-weight models for benchmarks.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let v = &self.vision;
        let t = &self.text;
        let mut out: Vec<(String, Vec<usize>)> = Vec::new();
        let mut push = |name: String, shape: Vec<usize>| out.push((name, shape));
        let vp = "visual.vision_model";
        push(
            format!("{vp}.embeddings.patch_embedding.weight"),
            vec![v.hidden_size, v.num_channels, v.patch_size, v.patch_size],
        );
        push(
            format!("{vp}.embeddings.patch_embedding.bias"),
            vec![v.hidden_size],
        );
        push(
            format!("{vp}.embeddings.position_embedding.weight"),
            vec![v.position_grid() * v.position_grid(), v.hidden_size],
        );
        for i in 0..v.num_hidden_layers {
            let p = format!("{vp}.encoder.layers.{i}");
            for norm in ["layer_norm1", "layer_norm2"] {
                push(format!("{p}.{norm}.weight"), vec![v.hidden_size]);
                push(format!("{p}.{norm}.bias"), vec![v.hidden_size]);
            }
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                push(
                    format!("{p}.self_attn.{proj}.weight"),
                    vec![v.hidden_size, v.hidden_size],
                );
                push(format!("{p}.self_attn.{proj}.bias"), vec![v.hidden_size]);
            }
            push(
                format!("{p}.mlp.fc1.weight"),
                vec![v.intermediate_size, v.hidden_size],
            );
            push(format!("{p}.mlp.fc1.bias"), vec![v.intermediate_size]);
            push(
                format!("{p}.mlp.fc2.weight"),
                vec![v.hidden_size, v.intermediate_size],
            );
            push(format!("{p}.mlp.fc2.bias"), vec![v.hidden_size]);
        }
        push(format!("{vp}.post_layernorm.weight"), vec![v.hidden_size]);
        push(format!("{vp}.post_layernorm.bias"), vec![v.hidden_size]);

        let merged = v.hidden_size * v.spatial_merge_size * v.spatial_merge_size;
        let norm = match self.variant {
            KeyeVariant::Preview => v.hidden_size,
            KeyeVariant::V1_5 => merged,
        };
        push("mlp_AR.pre_norm.weight".into(), vec![norm]);
        push("mlp_AR.pre_norm.bias".into(), vec![norm]);
        push("mlp_AR.linear_1.weight".into(), vec![merged, merged]);
        push("mlp_AR.linear_1.bias".into(), vec![merged]);
        push("mlp_AR.linear_2.weight".into(), vec![t.hidden_size, merged]);
        push("mlp_AR.linear_2.bias".into(), vec![t.hidden_size]);

        push(
            "model.embed_tokens.weight".into(),
            vec![t.vocab_size, t.hidden_size],
        );
        let q = t.num_attention_heads * t.head_dim;
        let kv = t.num_key_value_heads * t.head_dim;
        for i in 0..t.num_hidden_layers {
            let p = format!("model.layers.{i}");
            push(format!("{p}.input_layernorm.weight"), vec![t.hidden_size]);
            push(
                format!("{p}.post_attention_layernorm.weight"),
                vec![t.hidden_size],
            );
            for (proj, out) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
                push(
                    format!("{p}.self_attn.{proj}.weight"),
                    vec![out, t.hidden_size],
                );
                if t.attention_bias {
                    push(format!("{p}.self_attn.{proj}.bias"), vec![out]);
                }
            }
            push(
                format!("{p}.self_attn.o_proj.weight"),
                vec![t.hidden_size, q],
            );
            if t.attention_bias {
                push(format!("{p}.self_attn.o_proj.bias"), vec![t.hidden_size]);
            }
            push(format!("{p}.self_attn.q_norm.weight"), vec![t.head_dim]);
            push(format!("{p}.self_attn.k_norm.weight"), vec![t.head_dim]);
            push(
                format!("{p}.mlp.gate_proj.weight"),
                vec![t.intermediate_size, t.hidden_size],
            );
            push(
                format!("{p}.mlp.up_proj.weight"),
                vec![t.intermediate_size, t.hidden_size],
            );
            push(
                format!("{p}.mlp.down_proj.weight"),
                vec![t.hidden_size, t.intermediate_size],
            );
        }
        push("model.norm.weight".into(), vec![t.hidden_size]);
        if !t.tie_word_embeddings {
            push("lm_head.weight".into(), vec![t.vocab_size, t.hidden_size]);
        }
        out
    }
}

fn detect_variant(model_type: Option<&str>, architectures: &[String]) -> Option<KeyeVariant> {
    match model_type {
        Some(m) if m.contains("KeyeVL1_5") => return Some(KeyeVariant::V1_5),
        Some("Keye") => return Some(KeyeVariant::Preview),
        _ => {}
    }
    architectures.iter().find_map(|a| match a.as_str() {
        "KeyeVL1_5ForConditionalGeneration" => Some(KeyeVariant::V1_5),
        "KeyeForConditionalGeneration" => Some(KeyeVariant::Preview),
        _ => None,
    })
}
