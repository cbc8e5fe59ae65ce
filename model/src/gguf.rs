//! A quantized Keye-VL checkpoint saved as one GGUF file, so the second start reads 4-5 GB of
//! ready quantized weights instead of quantizing 17 GB again. The file is self-contained: the
//! checkpoint's small JSON files (config, tokenizer, processor, generation settings) are kept as
//! string metadata, the quantized matrices in their block format and every other tensor in the
//! checkpoint's own float type. Reading maps the file and copies each tensor once, in its stored
//! format, onto the device.

use std::{
    borrow::Cow,
    collections::HashMap,
    io::BufWriter,
    path::{Path, PathBuf},
};

use candle_core::{
    DType, Device, Tensor,
    quantized::{GgmlDType, QStorage, QTensor, gguf_file},
};

use crate::{
    error::{Error, Result},
    quantize::{QuantKind, QuantizeSpec},
};

/// The checkpoint files a GGUF carries, under `keye.file.<name>`.
pub const EMBEDDED_FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "generation_config.json",
];
const FILE_KEY: &str = "keye.file.";
const KIND_KEY: &str = "keye.quantization";
const VISION_KEY: &str = "keye.quantize_vision";

/// The file name a quantized copy gets beside its checkpoint: `model-q4k.gguf`, or
/// `model-q4k-vision.gguf` when the vision tower is quantized too.
pub fn file_name(spec: &QuantizeSpec) -> String {
    let vision = if spec.vision { "-vision" } else { "" };
    format!("model-{}{vision}.gguf", spec.kind.name())
}

/// Whether `path` names a GGUF file (by extension).
pub fn is_gguf(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// One tensor to save: a quantized matrix, or dense bytes in a float dtype.
pub enum SavedTensor {
    Quantized(QTensor),
    Dense {
        dtype: DType,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    },
}

/// Writes `tensors` with the checkpoint `files` (name, text) and the `spec` they were quantized
/// with to `path`, through a temporary file in the same folder renamed into place.
pub fn write(
    path: &Path,
    files: &[(String, String)],
    spec: &QuantizeSpec,
    tensors: Vec<(String, SavedTensor)>,
) -> Result<()> {
    let mut qtensors = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let qtensor = match tensor {
            SavedTensor::Quantized(q) => q,
            SavedTensor::Dense {
                dtype,
                shape,
                bytes,
            } => {
                let format = match dtype {
                    DType::F32 => GgmlDType::F32,
                    DType::F16 => GgmlDType::F16,
                    DType::BF16 => GgmlDType::BF16,
                    other => {
                        return Err(Error::Input(format!(
                            "tensor {name}: {other:?} cannot be saved in a GGUF file"
                        )));
                    }
                };
                let storage = QStorage::from_data(Cow::Owned(bytes), &Device::Cpu, format)?;
                QTensor::new(storage, shape)?
            }
        };
        qtensors.push((name, qtensor));
    }
    let mut metadata: Vec<(String, gguf_file::Value)> = vec![
        (
            "general.architecture".into(),
            gguf_file::Value::String("keye-vl".into()),
        ),
        (
            KIND_KEY.into(),
            gguf_file::Value::String(spec.kind.name().into()),
        ),
        (VISION_KEY.into(), gguf_file::Value::Bool(spec.vision)),
    ];
    for (name, text) in files {
        metadata.push((
            format!("{FILE_KEY}{name}"),
            gguf_file::Value::String(text.clone()),
        ));
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let temporary = tempfile_in(folder, path)?;
    let result = (|| -> Result<()> {
        let file = std::fs::File::create(&temporary).map_err(|e| Error::io(&temporary, e))?;
        let mut writer = BufWriter::new(file);
        let metadata: Vec<(&str, &gguf_file::Value)> =
            metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let tensors: Vec<(&str, &QTensor)> =
            qtensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        gguf_file::write(&mut writer, &metadata, &tensors)
            .map_err(|e| Error::io(&temporary, std::io::Error::other(e.to_string())))?;
        let file = writer
            .into_inner()
            .map_err(|e| Error::io(&temporary, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&temporary, e))?;
        std::fs::rename(&temporary, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// A temporary name beside `target` in `folder` (renamed into place once complete).
fn tempfile_in(folder: &Path, target: &Path) -> Result<PathBuf> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.gguf".into());
    Ok(folder.join(format!(".{name}.{}.partial", std::process::id())))
}

/// An opened GGUF checkpoint: its embedded files and spec, and the mapped tensor data.
pub struct GgufCheckpoint {
    pub path: PathBuf,
    pub files: HashMap<String, String>,
    pub spec: QuantizeSpec,
    content: gguf_file::Content,
    map: memmap2::Mmap,
}

impl GgufCheckpoint {
    /// Opens `path`, checking that it is a keye-studio GGUF with its config inside and that every
    /// tensor's data lies within the file.
    pub fn open(path: &Path) -> Result<Self> {
        let corrupt = |message: String| Error::CorruptGguf {
            path: path.to_path_buf(),
            message,
        };
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| corrupt(format!("not a readable GGUF file: {e}")))?;
        // SAFETY: mapped read-only; we rely on nobody truncating the file while it is loaded.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let text = |key: &str| match content.metadata.get(key) {
            Some(gguf_file::Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let mut files = HashMap::new();
        for name in EMBEDDED_FILES {
            if let Some(body) = text(&format!("{FILE_KEY}{name}")) {
                files.insert(name.to_string(), body);
            }
        }
        if !files.contains_key("config.json") {
            return Err(corrupt(
                "it carries no Keye-VL config (keye.file.config.json): was it written by \
                 `keye-studio quantize`?"
                    .into(),
            ));
        }
        let kind = text(KIND_KEY)
            .and_then(|k| k.parse::<QuantKind>().ok())
            .unwrap_or_default();
        let vision = matches!(
            content.metadata.get(VISION_KEY),
            Some(gguf_file::Value::Bool(true))
        );
        for (name, info) in &content.tensor_infos {
            let (start, len) = data_range(&content, info);
            if start.saturating_add(len) > map.len() {
                return Err(corrupt(format!(
                    "tensor {name} needs bytes {start}..{} but the file has {} (truncated?)",
                    start + len,
                    map.len()
                )));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            files,
            spec: QuantizeSpec { kind, vision },
            content,
            map,
        })
    }

    /// Names and shapes of every tensor in the file.
    pub fn tensor_shapes(&self) -> HashMap<&str, Vec<usize>> {
        self.content
            .tensor_infos
            .iter()
            .map(|(n, i)| (n.as_str(), i.shape.dims().to_vec()))
            .collect()
    }

    /// Whether the tensor is stored quantized (a block format, not a float type).
    pub fn is_quantized(&self, name: &str) -> bool {
        self.content
            .tensor_infos
            .get(name)
            .is_some_and(|i| QuantKind::from_ggml(i.ggml_dtype).is_some())
    }

    /// A quantized tensor onto `device`.
    pub fn quantized(&self, name: &str, device: &Device) -> Result<QTensor> {
        let info = self.info(name)?;
        let (start, len) = data_range(&self.content, info);
        let storage = QStorage::from_data(
            Cow::Borrowed(&self.map[start..start + len]),
            device,
            info.ggml_dtype,
        )?;
        Ok(QTensor::new(storage, info.shape.clone())?)
    }

    /// A float tensor onto `device` in `dtype`.
    pub fn dense(&self, name: &str, device: &Device, dtype: DType) -> Result<Tensor> {
        let info = self.info(name)?;
        let stored = match info.ggml_dtype {
            GgmlDType::F32 => DType::F32,
            GgmlDType::F16 => DType::F16,
            GgmlDType::BF16 => DType::BF16,
            other => {
                return Err(Error::CorruptGguf {
                    path: self.path.clone(),
                    message: format!("tensor {name} is stored as {other:?}, expected a float type"),
                });
            }
        };
        let (start, len) = data_range(&self.content, info);
        Ok(Tensor::from_raw_buffer(
            &self.map[start..start + len],
            stored,
            info.shape.dims(),
            device,
        )?
        .to_dtype(dtype)?)
    }

    fn info(&self, name: &str) -> Result<&gguf_file::TensorInfo> {
        self.content
            .tensor_infos
            .get(name)
            .ok_or_else(|| Error::CorruptGguf {
                path: self.path.clone(),
                message: format!("tensor {name} is missing"),
            })
    }
}

/// Byte offset and length of a tensor's data in the file.
fn data_range(content: &gguf_file::Content, info: &gguf_file::TensorInfo) -> (usize, usize) {
    let elements = info.shape.elem_count();
    let len = elements / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
    ((content.tensor_data_offset + info.offset) as usize, len)
}

/// Quantizes the safetensors checkpoint in `dir` as `spec` says and saves it as one GGUF file at
/// `out` (default: [`file_name`] beside the checkpoint), with its JSON files inside. Tensors are
/// quantized as they stream in; `options.progress` sees each one and `options.cancel` stops it
/// (nothing is written then). Returns the file written.
pub fn quantize_checkpoint(
    dir: &Path,
    spec: &QuantizeSpec,
    out: Option<&Path>,
    options: &mut crate::checkpoint::LoadOptions,
) -> Result<PathBuf> {
    if spec.is_none() {
        return Err(Error::Input(
            "choose a quantization (q8_0, q6k or q4k) to save".into(),
        ));
    }
    crate::checkpoint::check_folder(dir)?;
    let config_path = dir.join("config.json");
    let config = crate::config::KeyeConfig::from_file(&config_path)?;
    let value: serde_json::Value = crate::error::read_json(&config_path)?;
    let mavors = crate::mavors::MavorsConfig::from_model_config(&value)
        .map_err(|e| Error::Config {
            path: config_path.clone(),
            message: e.to_string(),
        })?
        .is_some();
    let mut files = Vec::new();
    for name in EMBEDDED_FILES {
        let path = dir.join(name);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            files.push((name.to_string(), text));
        }
    }
    let prefix = format!("{}.", crate::mavors::WEIGHT_PREFIX);
    let mut tensors = Vec::new();
    crate::checkpoint::read_tensors(
        dir,
        &config,
        mavors.then_some(prefix.as_str()),
        options,
        &mut |raw| {
            let format = match raw.shape.as_slice() {
                [_, columns] if spec.covers(&raw.name) => spec.format_for(*columns),
                _ => None,
            };
            let saved = match format {
                Some(format) => SavedTensor::Quantized(crate::quantize::quantize_matrix(
                    raw.bytes,
                    raw.dtype,
                    (raw.shape[0], raw.shape[1]),
                    format,
                    &Device::Cpu,
                )?),
                None => SavedTensor::Dense {
                    dtype: raw.dtype,
                    shape: raw.shape.clone(),
                    bytes: raw.bytes.to_vec(),
                },
            };
            tensors.push((raw.name, saved));
            Ok(())
        },
    )?;
    let out = out.map_or_else(|| dir.join(file_name(spec)), Path::to_path_buf);
    write(&out, &files, spec, tensors)?;
    Ok(out)
}
