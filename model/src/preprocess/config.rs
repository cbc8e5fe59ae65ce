//! `preprocessor_config.json` of a Keye-VL checkpoint.

use std::path::Path;

use super::PreprocessError;

/// The HF image processor's settings; missing fields take the Preview processor class's
/// defaults (`image_processing_keye.SiglipImageProcessor`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ImageProcessorConfig {
    pub min_pixels: u64,
    pub max_pixels: u64,
    pub patch_size: u32,
    pub merge_size: u32,
    pub temporal_patch_size: u32,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    pub rescale_factor: f64,
}

impl Default for ImageProcessorConfig {
    fn default() -> Self {
        Self {
            min_pixels: 28 * 28 * 130,
            max_pixels: 28 * 28 * 1280,
            patch_size: 14,
            merge_size: 2,
            temporal_patch_size: 1,
            // OpenAI CLIP statistics, the class default; real checkpoints set 0.5.
            image_mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            image_std: [0.268_629_55, 0.261_302_6, 0.275_777_1],
            rescale_factor: 1.0 / 255.0,
        }
    }
}

impl ImageProcessorConfig {
    /// Reads and checks `preprocessor_config.json`; unknown fields are ignored.
    pub fn from_file(path: &Path) -> Result<Self, PreprocessError> {
        let text = std::fs::read_to_string(path).map_err(|cause| PreprocessError::ConfigRead {
            path: path.to_owned(),
            cause,
        })?;
        Self::from_text(&text, path)
    }

    /// Parses and checks the text of a `preprocessor_config.json`; `path` names it in errors.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, PreprocessError> {
        let cfg: Self =
            serde_json::from_str(text).map_err(|cause| PreprocessError::ConfigParse {
                path: path.to_owned(),
                cause,
            })?;
        let invalid = |problem: String| PreprocessError::ConfigInvalid {
            path: path.to_owned(),
            problem,
        };
        if cfg.patch_size == 0 || cfg.merge_size == 0 {
            return Err(invalid("patch_size and merge_size must be positive".into()));
        }
        if cfg.temporal_patch_size != 1 {
            return Err(invalid(format!(
                "temporal_patch_size {} is not supported: Keye-VL uses 1",
                cfg.temporal_patch_size
            )));
        }
        if cfg.min_pixels > cfg.max_pixels || cfg.max_pixels == 0 {
            return Err(invalid(format!(
                "pixel limits {}..{} are empty",
                cfg.min_pixels, cfg.max_pixels
            )));
        }
        if cfg.image_std.contains(&0.0) || cfg.rescale_factor == 0.0 {
            return Err(invalid(
                "image_std and rescale_factor must be non-zero".into(),
            ));
        }
        Ok(cfg)
    }
}
