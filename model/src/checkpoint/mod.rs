//! Hugging Face checkpoint folders: find the shards, memory-map and validate them, then load exactly
//! the tensors the model reads (unused `visual.vision_model.head.*` and `packing_position_embedding`
//! are never touched, present or not), with progress and cancellation between tensors. Tensors are
//! converted straight from the mapped bytes to the target dtype and device, one shard at a time.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

mod header;

use crate::{
    config::KeyeConfig,
    error::{Error, Result, read_json},
    quantize::QuantizeSpec,
};

/// Where loading is; handed to the progress callback after each shard check and each tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadProgress {
    /// `done` of `total` shard files were memory-mapped and their headers checked.
    CheckedShard { done: usize, total: usize },
    /// `done` of `total` tensors were loaded onto the device.
    LoadedTensor { done: usize, total: usize },
    /// `done` of `total` tensors were loaded, the linear layers among them quantized on the way.
    QuantizedTensor { done: usize, total: usize },
}

/// How to load a checkpoint: target device and dtype of the dense weights, what to quantize, a
/// progress callback and a cancel flag that is checked between shards and tensors.
pub struct LoadOptions {
    pub device: Device,
    pub dtype: DType,
    pub quantize: QuantizeSpec,
    pub progress: Option<Box<dyn FnMut(LoadProgress) + Send>>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for LoadOptions {
    /// CPU, float32, nothing quantized, no progress, not cancellable.
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            quantize: QuantizeSpec::default(),
            progress: None,
            cancel: None,
        }
    }
}

impl LoadOptions {
    pub(crate) fn report(&mut self, progress: LoadProgress) {
        if let Some(callback) = self.progress.as_mut() {
            callback(progress);
        }
    }
    pub(crate) fn check_cancel(&self) -> Result<()> {
        match &self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

/// The weight files of a checkpoint folder, in the order they are opened.
#[derive(Debug, Clone)]
pub struct WeightFiles {
    /// Each shard file, and for sharded checkpoints the index that named it.
    pub shards: Vec<PathBuf>,
    /// `model.safetensors.index.json`, when the checkpoint is sharded.
    pub index: Option<PathBuf>,
    /// Tensor name -> shard, from the index (empty for a single file).
    pub weight_map: HashMap<String, PathBuf>,
}

/// Fails when `dir` is not a folder, or is an empty one, before any of its files is looked for.
pub fn check_folder(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::NoFolder {
            dir: dir.to_path_buf(),
        });
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .next()
        .is_none();
    if empty {
        return Err(Error::EmptyFolder {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

impl WeightFiles {
    /// Finds `model.safetensors.index.json` (preferred) or `model.safetensors` in `dir`.
    pub fn locate(dir: &Path) -> Result<Self> {
        check_folder(dir)?;
        let index = dir.join("model.safetensors.index.json");
        if index.is_file() {
            let parsed: ShardIndex = read_json(&index)?;
            let mut shards: Vec<PathBuf> = Vec::new();
            let mut weight_map = HashMap::new();
            for (name, file) in parsed.weight_map {
                let shard = dir.join(&file);
                if !shards.contains(&shard) {
                    shards.push(shard.clone());
                }
                weight_map.insert(name, shard);
            }
            for shard in &shards {
                if !shard.is_file() {
                    return Err(Error::MissingShard {
                        index,
                        shard: shard.clone(),
                    });
                }
            }
            return Ok(Self {
                shards,
                index: Some(index),
                weight_map,
            });
        }
        let single = dir.join("model.safetensors");
        if single.is_file() {
            return Ok(Self {
                shards: vec![single],
                index: None,
                weight_map: HashMap::new(),
            });
        }
        Err(Error::NoWeights {
            dir: dir.to_path_buf(),
        })
    }
}

/// One shard memory-mapped read-only, its header already checked.
struct MappedShard {
    path: PathBuf,
    map: memmap2::Mmap,
}

impl MappedShard {
    fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file is mapped read-only; like every mmap-based loader (candle, safetensors)
        // we rely on nobody truncating the checkpoint while it is being loaded.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        header::check(&map).map_err(|message| Error::CorruptSafetensors {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            map,
        })
    }

    fn tensors(&self) -> Result<safetensors::SafeTensors<'_>> {
        safetensors::SafeTensors::deserialize(&self.map).map_err(|e| Error::CorruptSafetensors {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

/// One tensor of a checkpoint as its bytes sit in the mapped shard, before any conversion.
pub struct RawTensor<'a> {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Little-endian elements in `dtype`, row-major.
    pub bytes: &'a [u8],
    /// The shard it is read from (for errors).
    pub path: &'a Path,
}

impl RawTensor<'_> {
    /// The tensor on `device` in `dtype`, converted straight from the mapped bytes.
    pub fn to_tensor(&self, device: &Device, dtype: DType) -> Result<Tensor> {
        Tensor::from_raw_buffer(self.bytes, self.dtype, &self.shape, device)
            .and_then(|t| t.to_dtype(dtype))
            .map_err(|e| Error::CorruptSafetensors {
                path: self.path.to_path_buf(),
                message: format!("tensor {}: {e}", self.name),
            })
    }
}

/// One planned tensor: its name, stored dtype and shape.
pub type PlannedTensor = (String, DType, Vec<usize>);

/// The tensors a checkpoint will be read as, in reading order, with their stored dtype and shape:
/// every expected tensor (checked present, a float type and the right shape) and every other
/// tensor whose name starts with the optional prefix, shard by shard.
pub struct ReadPlan {
    dir: PathBuf,
    shards: Vec<PathBuf>,
    /// Per shard, the tensors in reading order.
    tensors: Vec<Vec<PlannedTensor>>,
}

impl ReadPlan {
    /// Checks every shard's header and the expected tensors of `config`.
    pub fn new(
        dir: &Path,
        config: &KeyeConfig,
        optional_prefix: Option<&str>,
        options: &mut LoadOptions,
    ) -> Result<Self> {
        let files = WeightFiles::locate(dir)?;
        let tensors = plan_reads(dir, &files, config, optional_prefix, options)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            shards: files.shards,
            tensors,
        })
    }

    /// (name, stored dtype, shape) of every tensor, in the order [`ReadPlan::read`] hands them.
    pub fn tensors(&self) -> impl Iterator<Item = &PlannedTensor> {
        self.tensors.iter().flatten()
    }

    /// Hands each planned tensor to `accept` as its mapped bytes, shard by shard. A shard is
    /// unmapped once its tensors are read, so the file pages held at any time are one shard's;
    /// `accept` converts (or quantizes) each tensor straight from those bytes, so a
    /// half-precision checkpoint never gets a full f32 copy.
    pub fn read(
        &self,
        options: &mut LoadOptions,
        accept: &mut dyn FnMut(RawTensor) -> Result<()>,
    ) -> Result<()> {
        let total: usize = self.tensors.iter().map(Vec::len).sum();
        let mut done = 0;
        for (shard, names) in self.shards.iter().zip(&self.tensors) {
            if names.is_empty() {
                continue;
            }
            let mapped = MappedShard::open(shard)?;
            let views = mapped.tensors()?;
            for (name, dtype, _) in names {
                options.check_cancel()?;
                let view = views.tensor(name).map_err(|e| Error::CorruptSafetensors {
                    path: shard.clone(),
                    message: format!("tensor {name}: {e}"),
                })?;
                accept(RawTensor {
                    shape: view.shape().to_vec(),
                    bytes: view.data(),
                    name: name.clone(),
                    dtype: *dtype,
                    path: shard,
                })?;
                done += 1;
                options.report(if options.quantize.is_none() {
                    LoadProgress::LoadedTensor { done, total }
                } else {
                    LoadProgress::QuantizedTensor { done, total }
                });
            }
        }
        Ok(())
    }

    /// The checkpoint folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// [`ReadPlan::new`] then [`ReadPlan::read`].
pub fn read_tensors(
    dir: &Path,
    config: &KeyeConfig,
    optional_prefix: Option<&str>,
    options: &mut LoadOptions,
    accept: &mut dyn FnMut(RawTensor) -> Result<()>,
) -> Result<()> {
    ReadPlan::new(dir, config, optional_prefix, options)?.read(options, accept)
}

/// [`read_tensors`] collected into name -> tensor, ready for `VarBuilder::from_tensors`.
pub fn load_tensors(
    dir: &Path,
    config: &KeyeConfig,
    optional_prefix: Option<&str>,
    options: &mut LoadOptions,
) -> Result<HashMap<String, Tensor>> {
    let mut tensors = HashMap::new();
    let (device, dtype) = (options.device.clone(), options.dtype);
    read_tensors(dir, config, optional_prefix, options, &mut |raw| {
        tensors.insert(raw.name.clone(), raw.to_tensor(&device, dtype)?);
        Ok(())
    })?;
    Ok(tensors)
}

/// Checks every shard's header and the expected tensors; returns, per shard, the tensors to read
/// from it (expected ones in config order, then the optional ones) with their dtype and shape.
fn plan_reads(
    dir: &Path,
    files: &WeightFiles,
    config: &KeyeConfig,
    optional_prefix: Option<&str>,
    options: &mut LoadOptions,
) -> Result<Vec<Vec<PlannedTensor>>> {
    let mut plan = vec![Vec::new(); files.shards.len()];
    let mut names_in_shard = Vec::with_capacity(files.shards.len());
    let mut headers = Vec::with_capacity(files.shards.len());
    for (i, shard) in files.shards.iter().enumerate() {
        options.check_cancel()?;
        let mapped = MappedShard::open(shard)?;
        let views = mapped.tensors()?;
        let mut info = HashMap::new();
        for (name, view) in views.tensors() {
            info.insert(name, (view.dtype(), view.shape().to_vec()));
        }
        names_in_shard.push(info.keys().cloned().collect::<Vec<_>>());
        headers.push(info);
        options.report(LoadProgress::CheckedShard {
            done: i + 1,
            total: files.shards.len(),
        });
    }
    let mut wanted = std::collections::HashSet::new();
    for (name, shape) in config.expected_tensors() {
        let shard = match files.weight_map.get(&name) {
            Some(path) => files.shards.iter().position(|s| s == path),
            None if files.index.is_none() => Some(0),
            None => None,
        };
        let Some(shard) = shard else {
            return Err(Error::MissingTensor {
                dir: dir.to_path_buf(),
                name,
            });
        };
        let path = &files.shards[shard];
        let Some((dtype, found)) = headers[shard].get(&name) else {
            return Err(if files.index.is_some() {
                Error::MisplacedTensor {
                    index: dir.join("model.safetensors.index.json"),
                    shard: path.clone(),
                    name,
                }
            } else {
                Error::MissingTensor {
                    dir: dir.to_path_buf(),
                    name,
                }
            });
        };
        use safetensors::Dtype as D;
        if !matches!(dtype, D::F32 | D::F16 | D::BF16) {
            return Err(Error::WrongDtype {
                path: path.clone(),
                name,
                found: format!("{dtype:?}"),
            });
        }
        if *found != shape {
            return Err(Error::WrongShape {
                path: path.clone(),
                name,
                found: found.clone(),
                expected: shape,
            });
        }
        wanted.insert(name.clone());
        let dtype = candle_dtype(*dtype).ok_or_else(|| Error::WrongDtype {
            path: path.clone(),
            name: name.clone(),
            found: format!("{dtype:?}"),
        })?;
        plan[shard].push((name, dtype, shape));
    }
    if let Some(prefix) = optional_prefix {
        for (shard, names) in names_in_shard.into_iter().enumerate() {
            let mut extra: Vec<String> = names
                .into_iter()
                .filter(|n| n.starts_with(prefix) && !wanted.contains(n))
                .collect();
            extra.sort();
            for name in extra {
                if !wanted.insert(name.clone()) {
                    continue;
                }
                let (dtype, shape) = &headers[shard][&name];
                let dtype = candle_dtype(*dtype).ok_or_else(|| Error::WrongDtype {
                    path: files.shards[shard].clone(),
                    name: name.clone(),
                    found: format!("{dtype:?}"),
                })?;
                plan[shard].push((name, dtype, shape.clone()));
            }
        }
    }
    Ok(plan)
}

/// The candle dtype of a safetensors dtype this loader reads.
fn candle_dtype(dtype: safetensors::Dtype) -> Option<DType> {
    use safetensors::Dtype as D;
    Some(match dtype {
        D::F32 => DType::F32,
        D::F16 => DType::F16,
        D::BF16 => DType::BF16,
        D::F64 => DType::F64,
        D::U8 => DType::U8,
        D::U32 => DType::U32,
        D::I64 => DType::I64,
        _ => return None,
    })
}
