//! A quantized Keye-VL checkpoint saved as one GGUF file, so the second start reads 4-5 GB of
//! ready quantized weights instead of quantizing 17 GB again. The file is self-contained: the
//! checkpoint's small JSON files (config, tokenizer, processor, generation settings) are kept as
//! string metadata, the quantized matrices in their block format and every other tensor in the
//! checkpoint's own float type. Reading maps the file and copies each tensor once, in its stored
//! format, onto the device.

use std::{
    borrow::Cow,
    collections::HashMap,
    io::{BufWriter, Write},
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

/// One tensor of a GGUF being written: its name, shape and stored format (a block format, or a
/// float type for dense tensors).
#[derive(Debug, Clone)]
pub struct TensorEntry {
    pub name: String,
    pub shape: Vec<usize>,
    pub format: GgmlDType,
}

impl TensorEntry {
    /// Bytes of its data in the file.
    pub fn size(&self) -> usize {
        let elements: usize = self.shape.iter().product();
        elements / self.format.block_size() * self.format.type_size()
    }
}

/// The stored format of a dense tensor of `dtype`.
pub fn float_format(dtype: DType) -> Result<GgmlDType> {
    match dtype {
        DType::F32 => Ok(GgmlDType::F32),
        DType::F16 => Ok(GgmlDType::F16),
        DType::BF16 => Ok(GgmlDType::BF16),
        other => Err(Error::Input(format!(
            "{other:?} tensors cannot be saved in a GGUF file"
        ))),
    }
}

/// GGUF's number for a tensor format.
fn format_id(format: GgmlDType) -> u32 {
    match format {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}

/// GGUF aligns tensor data to 32 bytes unless told otherwise.
const ALIGNMENT: usize = 32;

/// Writes a GGUF file tensor by tensor: the header (metadata and every tensor's entry) first, then
/// each tensor's data as it is ready, so saving holds one tensor in memory, not the model. The
/// file is written under a temporary name in the same folder and renamed into place by
/// [`GgufWriter::finish`]; dropped unfinished, it removes the temporary file.
pub struct GgufWriter {
    file: Option<BufWriter<std::fs::File>>,
    temporary: PathBuf,
    target: PathBuf,
    entries: Vec<TensorEntry>,
    next: usize,
}

impl GgufWriter {
    /// Starts `path` with the checkpoint `files` (name, text), the `spec` they were quantized with
    /// and the tensors to come, in order.
    pub fn create(
        path: &Path,
        files: &[(String, String)],
        spec: &QuantizeSpec,
        entries: Vec<TensorEntry>,
    ) -> Result<Self> {
        let folder = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model.gguf".into());
        let temporary = folder.join(format!(".{name}.{}.partial", std::process::id()));
        let file = std::fs::File::create(&temporary).map_err(|e| Error::io(&temporary, e))?;
        let mut writer = Self {
            file: Some(BufWriter::new(file)),
            temporary,
            target: path.to_path_buf(),
            entries,
            next: 0,
        };
        writer.write_header(files, spec)?;
        Ok(writer)
    }

    fn write_header(&mut self, files: &[(String, String)], spec: &QuantizeSpec) -> Result<()> {
        let mut header = Vec::new();
        let put_u32 = |h: &mut Vec<u8>, v: u32| h.extend_from_slice(&v.to_le_bytes());
        let put_u64 = |h: &mut Vec<u8>, v: u64| h.extend_from_slice(&v.to_le_bytes());
        let put_str = |h: &mut Vec<u8>, s: &str| {
            h.extend_from_slice(&(s.len() as u64).to_le_bytes());
            h.extend_from_slice(s.as_bytes());
        };
        // GGUF version 3: magic, version, tensor count, metadata count.
        header.extend_from_slice(b"GGUF");
        put_u32(&mut header, 3);
        put_u64(&mut header, self.entries.len() as u64);
        put_u64(&mut header, 3 + files.len() as u64);
        const STRING: u32 = 8;
        const BOOL: u32 = 7;
        let text = |h: &mut Vec<u8>, key: &str, value: &str| {
            put_str(h, key);
            put_u32(h, STRING);
            put_str(h, value);
        };
        text(&mut header, "general.architecture", "keye-vl");
        text(&mut header, KIND_KEY, spec.kind.name());
        for (name, body) in files {
            text(&mut header, &format!("{FILE_KEY}{name}"), body);
        }
        put_str(&mut header, VISION_KEY);
        put_u32(&mut header, BOOL);
        header.push(u8::from(spec.vision));
        let mut offset = 0u64;
        for entry in &self.entries {
            put_str(&mut header, &entry.name);
            put_u32(&mut header, entry.shape.len() as u32);
            for &dim in entry.shape.iter().rev() {
                put_u64(&mut header, dim as u64);
            }
            put_u32(&mut header, format_id(entry.format));
            put_u64(&mut header, offset);
            offset += entry.size().next_multiple_of(ALIGNMENT) as u64;
        }
        header.resize(header.len().next_multiple_of(ALIGNMENT), 0);
        self.put(&header)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::io(&self.temporary, std::io::Error::other("already finished")))?;
        file.write_all(bytes)
            .map_err(|e| Error::io(&self.temporary, e))
    }

    /// Writes the data of the next tensor, which must be `name` with exactly its size in bytes.
    pub fn write_tensor(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let Some(entry) = self.entries.get(self.next) else {
            return Err(Error::Input(format!(
                "tensor {name} is more than the {} announced",
                self.entries.len()
            )));
        };
        if entry.name != name || entry.size() != bytes.len() {
            return Err(Error::Input(format!(
                "tensor {name} ({} bytes) written where {} ({} bytes) was announced",
                bytes.len(),
                entry.name,
                entry.size()
            )));
        }
        let padding = bytes.len().next_multiple_of(ALIGNMENT) - bytes.len();
        self.put(bytes)?;
        self.put(&vec![0; padding])?;
        self.next += 1;
        Ok(())
    }

    /// Checks every announced tensor was written, then syncs the file and renames it into place.
    pub fn finish(mut self) -> Result<()> {
        if self.next != self.entries.len() {
            return Err(Error::Input(format!(
                "{} of {} tensors were written",
                self.next,
                self.entries.len()
            )));
        }
        let Some(writer) = self.file.take() else {
            return Ok(());
        };
        let file = writer
            .into_inner()
            .map_err(|e| Error::io(&self.temporary, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.temporary, e))?;
        std::fs::rename(&self.temporary, &self.target).map_err(|e| Error::io(&self.target, e))
    }
}

impl Drop for GgufWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
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
/// `out` (default: [`file_name`] beside the checkpoint), with its JSON files inside. Each tensor
/// is quantized as it streams in and written at once, so saving holds one tensor, not the model;
/// `options.progress` sees each one and `options.cancel` stops it (nothing is left behind then).
/// Returns the file written.
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
    // Progress then reports the quantizing stage.
    options.quantize = *spec;
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
    let plan =
        crate::checkpoint::ReadPlan::new(dir, &config, mavors.then_some(prefix.as_str()), options)?;
    let quantized_format = |name: &str, shape: &[usize]| match shape {
        [_, columns] if spec.covers(name) => spec.format_for(*columns),
        _ => None,
    };
    let entries = plan
        .tensors()
        .map(|(name, dtype, shape)| {
            Ok(TensorEntry {
                name: name.clone(),
                shape: shape.clone(),
                format: match quantized_format(name, shape) {
                    Some(format) => format,
                    None => float_format(*dtype)?,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let out = out.map_or_else(|| dir.join(file_name(spec)), Path::to_path_buf);
    let mut writer = GgufWriter::create(&out, &files, spec, entries)?;
    plan.read(
        options,
        &mut |raw| match quantized_format(&raw.name, &raw.shape) {
            Some(format) => {
                let quantized = crate::quantize::quantize_matrix(
                    raw.bytes,
                    raw.dtype,
                    (raw.shape[0], raw.shape[1]),
                    format,
                    &Device::Cpu,
                )?;
                writer.write_tensor(&raw.name, &quantized.data()?)
            }
            None => writer.write_tensor(&raw.name, raw.bytes),
        },
    )?;
    writer.finish()?;
    Ok(out)
}
