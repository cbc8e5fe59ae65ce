//! One checkpoint folder loaded for use: the Keye-VL model, its tokenizer, image processor settings,
//! generation defaults, and the video encoder its config picks (Keye's own tower, or Mavors when
//! config.json has a `mavors_config` section). This is what the CLI and the GUI hold.

use std::path::{Path, PathBuf};

use candle_core::DType;
use candle_nn::VarBuilder;

use crate::{
    checkpoint::{LoadOptions, WeightFiles, check_folder, load_tensors},
    config::{KeyeConfig, KeyeVariant},
    error::{Error, Result},
    generate::SamplingParams,
    keye::KeyeModel,
    mavors::{Mavors, MavorsWeights, VideoEncoder, WEIGHT_PREFIX},
    preprocess::ImageProcessorConfig,
    tokenizer::KeyeTokenizer,
    video::{VideoEncoderKind, VideoPlanSettings},
};

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Runtime {
    pub dir: PathBuf,
    pub model: KeyeModel,
    pub tokenizer: KeyeTokenizer,
    pub processor: ImageProcessorConfig,
    /// generation_config.json defaults (greedy without one).
    pub sampling: SamplingParams,
    /// Present when the config asks for Mavors as the video encoder.
    pub mavors: Option<Mavors>,
    pub video_settings: VideoPlanSettings,
    pub video_encoder: VideoEncoderKind,
    /// Tensors read (parameters), the bytes they take in memory, and bytes of the weight files
    /// on disk.
    pub parameters: usize,
    pub weights_bytes: u64,
    pub bytes_on_disk: u64,
}

impl Runtime {
    /// Loads `dir`. Mavors weights come from the checkpoint's `mavors.*` tensors when it has the
    /// whole encoder; otherwise Mavors is initialised from the Keye tower as the paper describes
    /// (with the checkpoint's IFA and projector when only those are present, else fresh ones).
    pub fn load(dir: &Path, mut options: LoadOptions) -> Result<Self> {
        check_folder(dir)?;
        let config_path = dir.join("config.json");
        let config = KeyeConfig::from_file(&config_path)?;
        let encoder = VideoEncoder::from_config_file(&config_path)?;
        let prefix = format!("{WEIGHT_PREFIX}.");
        let optional = matches!(encoder, VideoEncoder::Mavors(_)).then_some(prefix.as_str());
        let tensors = load_tensors(dir, &config, optional, &mut options)?;
        let parameters = tensors.values().map(|t| t.elem_count()).sum();
        let weights_bytes = tensors
            .values()
            .map(|t| (t.elem_count() * t.dtype().size_in_bytes()) as u64)
            .sum();
        let vb = VarBuilder::from_tensors(tensors, options.dtype, &options.device);
        let model = KeyeModel::new(&config, vb.clone())?;
        let mavors = match &encoder {
            VideoEncoder::Keye => None,
            VideoEncoder::Mavors(mavors_config) => {
                let llm_hidden = config.text.hidden_size;
                let full = format!("{WEIGHT_PREFIX}.ive.embeddings.patch_embedding.weight");
                let mavors_vb = if vb.contains_tensor(&full) {
                    vb.clone()
                } else {
                    MavorsWeights::from_keye(&vb, mavors_config, &config.vision, llm_hidden)?
                        .var_builder(options.dtype, &options.device)
                };
                Some(Mavors::new(
                    mavors_config,
                    &config.vision,
                    llm_hidden,
                    mavors_vb,
                )?)
            }
        };
        let tokenizer = KeyeTokenizer::from_dir(dir, &config)?;
        let processor = ImageProcessorConfig::from_file(&dir.join("preprocessor_config.json"))?;
        let sampling = SamplingParams::from_model_dir(dir, &config)?;
        let files = WeightFiles::locate(dir)?;
        let bytes_on_disk = files
            .shards
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()))
            .sum::<std::io::Result<u64>>()
            .map_err(|cause| Error::Io {
                path: dir.to_path_buf(),
                cause,
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            video_settings: VideoPlanSettings::for_model(&config, &encoder),
            video_encoder: VideoEncoderKind::for_model(&config, &encoder),
            model,
            tokenizer,
            processor,
            sampling,
            mavors,
            parameters,
            weights_bytes,
            bytes_on_disk,
        })
    }

    /// "Keye-VL-8B-Preview" or "Keye-VL-1.5", as the config identifies it.
    pub fn model_kind(&self) -> &'static str {
        match self.model.config().variant {
            KeyeVariant::Preview => "Keye-VL-8B-Preview",
            KeyeVariant::V1_5 => "Keye-VL-1.5",
        }
    }

    pub fn dtype(&self) -> DType {
        self.model.dtype()
    }
}
