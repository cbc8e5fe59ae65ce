//! The `mavors_config` section of a model's config.json: the Mavors knobs the paper fixes or leaves open.
//! The widths of the encoder come from the Keye-VL `vision_config` (Mavors starts from that tower), so this
//! section only holds what Mavors adds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{MavorsError, Result};

/// Key of the Mavors section in config.json; its presence switches the video encoder to Mavors.
pub const CONFIG_SECTION: &str = "mavors_config";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MavorsConfig {
    /// F: consecutive frames per chunk, also the temporal kernel and stride of the 3-D patch embedding.
    pub chunk_frames: usize,
    /// Fixed sampling rate (frames per second on the video's own timeline).
    pub sample_fps: f64,
    /// Chunk budget: longer videos drop frames ("accelerate") to fit it.
    pub max_chunks: usize,
    /// Inter-chunk feature aggregator depth (the paper's L_Inter).
    pub ifa_layers: usize,
    /// Base of the chunk-level rotary embedding (C-RoPE).
    pub rope_theta: f64,
    /// Upper bound of sub-images per still image (MiniCPM-V's `max_slice_nums`).
    pub max_slice_nums: usize,
    /// Hidden width of the projector MLP; `None` uses 4 x the ViT width, the width of Keye-VL's projector.
    pub projector_hidden_size: Option<usize>,
}

impl Default for MavorsConfig {
    fn default() -> Self {
        Self {
            chunk_frames: 16,
            sample_fps: 2.0,
            max_chunks: 32,
            ifa_layers: 3,
            rope_theta: 10_000.0,
            max_slice_nums: 9,
            projector_hidden_size: None,
        }
    }
}

impl MavorsConfig {
    /// Rejects values the planner and the encoder cannot work with.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(MavorsError::InvalidConfig(what.to_string()));
        if self.chunk_frames == 0 {
            return bad("chunk_frames must be at least 1");
        }
        if !(self.sample_fps.is_finite() && self.sample_fps > 0.0) {
            return bad("sample_fps must be a positive number");
        }
        if self.max_chunks == 0 {
            return bad("max_chunks must be at least 1");
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad("rope_theta must be greater than 1");
        }
        if self.max_slice_nums == 0 {
            return bad("max_slice_nums must be at least 1");
        }
        if self.projector_hidden_size == Some(0) {
            return bad("projector_hidden_size must be at least 1");
        }
        Ok(())
    }

    /// The `mavors_config` section of a parsed config.json, validated; `None` when the section is absent.
    pub fn from_model_config(config: &serde_json::Value) -> Result<Option<Self>> {
        let Some(section) = config.get(CONFIG_SECTION) else {
            return Ok(None);
        };
        let parsed: Self = serde_json::from_value(section.clone())
            .map_err(|e| MavorsError::InvalidConfig(e.to_string()))?;
        parsed.validate()?;
        Ok(Some(parsed))
    }

    /// Reads the `mavors_config` section of a config.json file; `None` when the model has no Mavors encoder.
    pub fn from_config_file(path: &Path) -> Result<Option<Self>> {
        let text = std::fs::read_to_string(path).map_err(|cause| MavorsError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|cause| MavorsError::ConfigJson {
                path: path.to_path_buf(),
                cause,
            })?;
        Self::from_model_config(&value).map_err(|error| MavorsError::Checkpoint {
            path: path.to_path_buf(),
            message: error.to_string(),
        })
    }
}

/// Which encoder turns a video into LLM tokens; chosen by the presence of `mavors_config` in config.json.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoEncoder {
    /// Keye-VL's own path: per-frame ViT tokens merged 2x2 by the projector.
    Keye,
    /// Mavors chunks: 3-D patch embedding, ViT, 2x2 pooling, causal inter-chunk aggregation.
    Mavors(MavorsConfig),
}

impl VideoEncoder {
    /// The encoder a model directory's config.json asks for.
    pub fn from_config_file(path: &Path) -> Result<Self> {
        Ok(MavorsConfig::from_config_file(path)?.map_or(Self::Keye, Self::Mavors))
    }
}
