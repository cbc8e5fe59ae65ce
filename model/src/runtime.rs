//! One checkpoint loaded for use: the Keye-VL model, its tokenizer, image processor settings,
//! generation defaults, and the video encoder its config picks (Keye's own tower, or Mavors when
//! config.json has a `mavors_config` section). This is what the CLI and the GUI hold.
//!
//! A checkpoint is a Hugging Face folder (safetensors, single or sharded), quantized while it
//! loads when asked, or a GGUF file written by `keye-studio quantize` (given directly, found in a
//! folder that holds only it, or found beside the safetensors when the same quantization is asked
//! for, so a second start skips quantizing).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::{
    checkpoint::{LoadOptions, LoadProgress, WeightFiles, check_folder, read_tensors},
    config::{KeyeConfig, KeyeVariant},
    error::{Error, Result},
    generate::SamplingParams,
    gguf::{self, GgufCheckpoint},
    keye::KeyeModel,
    layers::{QuantizedWeights, Weights},
    mavors::{Mavors, MavorsConfig, MavorsWeights, VideoEncoder, WEIGHT_PREFIX},
    preprocess::ImageProcessorConfig,
    quantize::{QuantizeSpec, quantize_matrix},
    tokenizer::KeyeTokenizer,
    video::{VideoEncoderKind, VideoPlanSettings},
};

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Runtime {
    /// The folder or GGUF file the user named.
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
    /// Which linear layers are quantized, and how.
    pub quantization: QuantizeSpec,
    /// The file the weights came from when it is a GGUF.
    pub gguf: Option<PathBuf>,
    /// Parameters read, the bytes they take in memory (quantized ones at their block size), and
    /// bytes of the weight files on disk.
    pub parameters: usize,
    pub weights_bytes: u64,
    pub bytes_on_disk: u64,
    /// Bytes the CPU kernels will add beside the quantized matrices on their first use
    /// ([`crate::quantize::kernel_copy_bytes`]).
    pub kernel_copy_bytes: u64,
}

/// Where a checkpoint's weights and small files are.
enum Source {
    Folder(PathBuf),
    Gguf(PathBuf),
}

impl Source {
    fn find(path: &Path, spec: &QuantizeSpec) -> Result<Self> {
        if path.is_file() {
            return if gguf::is_gguf(path) {
                Ok(Self::Gguf(path.to_path_buf()))
            } else {
                Err(Error::Input(format!(
                    "{}: a model is a checkpoint folder or a .gguf file written by `keye-studio \
                     quantize`",
                    path.display()
                )))
            };
        }
        check_folder(path)?;
        if !spec.is_none() {
            let beside = path.join(gguf::file_name(spec));
            if beside.is_file() {
                return Ok(Self::Gguf(beside));
            }
        }
        // A folder with its config is a safetensors checkpoint (its weights are looked for when
        // read, after the config says what model it is); without one, a lone GGUF stands for it.
        if path.join("config.json").is_file() {
            return Ok(Self::Folder(path.to_path_buf()));
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| gguf::is_gguf(p))
            .collect();
        match found.len() {
            0 => Ok(Self::Folder(path.to_path_buf())),
            1 => Ok(Self::Gguf(found.remove(0))),
            _ => Err(Error::Input(format!(
                "{}: several .gguf files and no config.json; name the one to load",
                path.display()
            ))),
        }
    }
}

/// The checkpoint's small JSON files, from its folder or embedded in its GGUF.
struct Files<'a> {
    folder: Option<&'a Path>,
    embedded: Option<&'a GgufCheckpoint>,
}

impl Files<'_> {
    /// The text of `name` and the path errors name it by; `None` when the checkpoint has none.
    fn read(&self, name: &str) -> Result<Option<(String, PathBuf)>> {
        if let Some(gguf) = self.embedded {
            let path = PathBuf::from(format!("{}[{name}]", gguf.path.display()));
            return Ok(gguf.files.get(name).map(|t| (t.clone(), path)));
        }
        let path = self.folder.unwrap_or(Path::new(".")).join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Some((text, path)))
    }

    /// As `read`, for a file the checkpoint must have.
    fn require(&self, name: &str) -> Result<(String, PathBuf)> {
        self.read(name)?.ok_or_else(|| {
            let path = match self.embedded {
                Some(gguf) => PathBuf::from(format!("{}[{name}]", gguf.path.display())),
                None => self.folder.unwrap_or(Path::new(".")).join(name),
            };
            Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            )
        })
    }
}

/// Dense tensors and quantized matrices as they come off the disk.
#[derive(Default)]
struct LoadedWeights {
    dense: HashMap<String, Tensor>,
    quantized: QuantizedWeights,
}

impl Runtime {
    /// Loads the checkpoint at `path` (see the module docs for what it may be) as `options` say,
    /// quantizing its linear layers while they stream in when `options.quantize` asks for it.
    /// Mavors weights come from the checkpoint's `mavors.*` tensors when it has the whole
    /// encoder; otherwise Mavors is initialised from the Keye tower as the paper describes (with
    /// the checkpoint's IFA and projector when only those are present, else fresh ones).
    pub fn load(path: &Path, mut options: LoadOptions) -> Result<Self> {
        let source = Source::find(path, &options.quantize)?;
        let opened = match &source {
            Source::Gguf(file) => Some(GgufCheckpoint::open(file)?),
            Source::Folder(_) => None,
        };
        let files = Files {
            folder: match &source {
                Source::Folder(dir) => Some(dir),
                Source::Gguf(_) => None,
            },
            embedded: opened.as_ref(),
        };
        let (config_text, config_path) = files.require("config.json")?;
        let config_value: serde_json::Value =
            serde_json::from_str(&config_text).map_err(|cause| Error::Json {
                path: config_path.clone(),
                cause,
            })?;
        let config = KeyeConfig::from_json(config_value.clone(), &config_path)?;
        let encoder = match MavorsConfig::from_model_config(&config_value) {
            Ok(mavors) => mavors.map_or(VideoEncoder::Keye, VideoEncoder::Mavors),
            Err(e) => {
                return Err(Error::Config {
                    path: config_path,
                    message: e.to_string(),
                });
            }
        };
        let (weights, quantization, bytes_on_disk) = match (&source, &opened) {
            (Source::Gguf(file), Some(gguf)) => {
                let weights = read_gguf(gguf, &config, &encoder, &mut options)?;
                let size = std::fs::metadata(file)
                    .map_err(|e| Error::io(file, e))?
                    .len();
                (weights, gguf.spec, size)
            }
            (Source::Folder(dir), _) => {
                if options.quantize.vision && matches!(encoder, VideoEncoder::Mavors(_)) {
                    return Err(Error::Input(format!(
                        "{}: quantizing the vision tower is not supported for a Mavors \
                         checkpoint (its encoder starts from the tower); quantize the decoder only",
                        dir.display()
                    )));
                }
                let weights = read_folder(dir, &config, &encoder, &mut options)?;
                let size = WeightFiles::locate(dir)?
                    .shards
                    .iter()
                    .map(|p| std::fs::metadata(p).map(|m| m.len()))
                    .sum::<std::io::Result<u64>>()
                    .map_err(|cause| Error::Io {
                        path: dir.clone(),
                        cause,
                    })?;
                (weights, options.quantize, size)
            }
            (Source::Gguf(_), None) => unreachable!("a GGUF source is opened above"),
        };
        let dense_elements: usize = weights.dense.values().map(|t| t.elem_count()).sum();
        let quantized_elements: usize = weights
            .quantized
            .values()
            .map(|q| q.shape().elem_count())
            .sum();
        let weights_bytes = weights
            .dense
            .values()
            .map(|t| (t.elem_count() * t.dtype().size_in_bytes()) as u64)
            .sum::<u64>()
            + crate::quantize::quantized_bytes(&weights.quantized);
        let kernel_copy_bytes =
            crate::quantize::kernel_copy_bytes(&weights.quantized, &options.device);
        let vb = VarBuilder::from_tensors(weights.dense, options.dtype, &options.device);
        let model = KeyeModel::from_weights(
            &config,
            Weights::with_quantized(vb.clone(), weights.quantized),
        )?;
        let mavors = match &encoder {
            VideoEncoder::Keye => None,
            VideoEncoder::Mavors(mavors_config) => {
                let llm_hidden = config.text.hidden_size;
                let full =
                    format!("{WEIGHT_PREFIX}.ive.vision_model.embeddings.patch_embedding.weight");
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
        let (tokenizer_text, tokenizer_path) = files.require("tokenizer.json")?;
        let tokenizer =
            KeyeTokenizer::from_bytes(tokenizer_text.as_bytes(), &tokenizer_path, &config)?;
        let (processor_text, processor_path) = files.require("preprocessor_config.json")?;
        let processor = ImageProcessorConfig::from_text(&processor_text, &processor_path)?;
        let sampling = match files.read("generation_config.json")? {
            Some((text, path)) => SamplingParams::from_generation_config(&text, &path, &config)?,
            None => SamplingParams::greedy(&config),
        };
        Ok(Self {
            dir: path.to_path_buf(),
            video_settings: VideoPlanSettings::for_model(&config, &encoder),
            video_encoder: VideoEncoderKind::for_model(&config, &encoder),
            model,
            tokenizer,
            processor,
            sampling,
            mavors,
            quantization,
            gguf: match source {
                Source::Gguf(file) => Some(file),
                Source::Folder(_) => None,
            },
            parameters: dense_elements + quantized_elements,
            weights_bytes,
            kernel_copy_bytes,
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

/// The config of the checkpoint `Runtime::load` would load for `path` and `quantize` (a folder,
/// a GGUF file, or the GGUF it would pick in a folder), without reading any weights.
pub fn checkpoint_config(path: &Path, quantize: &QuantizeSpec) -> Result<KeyeConfig> {
    let source = Source::find(path, quantize)?;
    let opened = match &source {
        Source::Gguf(file) => Some(GgufCheckpoint::open(file)?),
        Source::Folder(_) => None,
    };
    let files = Files {
        folder: match &source {
            Source::Folder(dir) => Some(dir),
            Source::Gguf(_) => None,
        },
        embedded: opened.as_ref(),
    };
    let (text, config_path) = files.require("config.json")?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|cause| Error::Json {
        path: config_path.clone(),
        cause,
    })?;
    KeyeConfig::from_json(value, &config_path)
}

/// The prefix of the optional Mavors tensors, when the encoder is Mavors.
fn optional_prefix(encoder: &VideoEncoder) -> Option<String> {
    matches!(encoder, VideoEncoder::Mavors(_)).then(|| format!("{WEIGHT_PREFIX}."))
}

/// Reads a safetensors folder, quantizing the tensors `options.quantize` covers as they stream
/// in (a few rows at a time, straight from the mapped bytes).
fn read_folder(
    dir: &Path,
    config: &KeyeConfig,
    encoder: &VideoEncoder,
    options: &mut LoadOptions,
) -> Result<LoadedWeights> {
    let mut weights = LoadedWeights::default();
    let (device, dtype, spec) = (options.device.clone(), options.dtype, options.quantize);
    let prefix = optional_prefix(encoder);
    read_tensors(dir, config, prefix.as_deref(), options, &mut |raw| {
        let format = match raw.shape.as_slice() {
            [_, columns] if spec.covers(&raw.name) => spec.format_for(*columns),
            _ => None,
        };
        match format {
            Some(format) => {
                let (rows, columns) = (raw.shape[0], raw.shape[1]);
                let quantized =
                    quantize_matrix(raw.bytes, raw.dtype, (rows, columns), format, &device)?;
                weights
                    .quantized
                    .insert(raw.name.clone(), std::sync::Arc::new(quantized));
            }
            None => {
                weights
                    .dense
                    .insert(raw.name.clone(), raw.to_tensor(&device, dtype)?);
            }
        }
        Ok(())
    })?;
    Ok(weights)
}

/// Reads a GGUF checkpoint's tensors, checking each expected one's shape against the config.
fn read_gguf(
    gguf: &GgufCheckpoint,
    config: &KeyeConfig,
    encoder: &VideoEncoder,
    options: &mut LoadOptions,
) -> Result<LoadedWeights> {
    let shapes = gguf.tensor_shapes();
    let mut names = Vec::new();
    for (name, expected) in config.expected_tensors() {
        match shapes.get(name.as_str()) {
            Some(found) if *found == expected => names.push(name),
            Some(found) => {
                return Err(Error::WrongShape {
                    path: gguf.path.clone(),
                    name,
                    found: found.clone(),
                    expected,
                });
            }
            None => {
                return Err(Error::MissingTensor {
                    dir: gguf.path.clone(),
                    name,
                });
            }
        }
    }
    if let Some(prefix) = optional_prefix(encoder) {
        let mut extra: Vec<String> = shapes
            .keys()
            .filter(|n| n.starts_with(&prefix))
            .map(|n| n.to_string())
            .collect();
        extra.sort();
        names.extend(extra);
    }
    let total = names.len();
    let mut weights = LoadedWeights::default();
    for (done, name) in names.into_iter().enumerate() {
        options.check_cancel()?;
        if gguf.is_quantized(&name) {
            let tensor = gguf.quantized(&name, &options.device)?;
            weights.quantized.insert(name, std::sync::Arc::new(tensor));
        } else {
            let tensor = gguf.dense(&name, &options.device, options.dtype)?;
            weights.dense.insert(name, tensor);
        }
        options.report(LoadProgress::LoadedTensor {
            done: done + 1,
            total,
        });
    }
    Ok(weights)
}
