//! Hugging Face checkpoint folders: find the shards, memory-map and validate them, then load exactly
//! the tensors the model reads (unused `visual.vision_model.head.*` and `packing_position_embedding`
//! are never touched, present or not), with progress and cancellation between tensors.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use candle_core::{DType, Device, Tensor, safetensors::Load};
use serde::Deserialize;

use crate::{
    config::KeyeConfig,
    error::{Error, Result, read_json},
};

/// Where loading is; handed to the progress callback after each shard check and each tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadProgress {
    /// `done` of `total` shard files were memory-mapped and their headers checked.
    CheckedShard { done: usize, total: usize },
    /// `done` of `total` tensors were loaded onto the device.
    LoadedTensor { done: usize, total: usize },
}

/// How to load a checkpoint: target device and dtype, a progress callback and a cancel flag that
/// is checked between shards and tensors.
pub struct LoadOptions {
    pub device: Device,
    pub dtype: DType,
    pub progress: Option<Box<dyn FnMut(LoadProgress) + Send>>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for LoadOptions {
    /// CPU, float32, no progress, not cancellable.
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            progress: None,
            cancel: None,
        }
    }
}

impl LoadOptions {
    fn report(&mut self, progress: LoadProgress) {
        if let Some(callback) = self.progress.as_mut() {
            callback(progress);
        }
    }
    fn check_cancel(&self) -> Result<()> {
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

impl WeightFiles {
    /// Finds `model.safetensors.index.json` (preferred) or `model.safetensors` in `dir`.
    pub fn locate(dir: &Path) -> Result<Self> {
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

/// Memory-maps every shard, validates the expected tensors (present, float dtype, right shape),
/// then loads them, plus every other tensor whose name starts with `optional_prefix` (a video
/// encoder's weights, whose shapes its own builder checks), to `options.device` as
/// `options.dtype`. Returns name -> tensor, ready for `VarBuilder::from_tensors`.
pub fn load_tensors(
    dir: &Path,
    config: &KeyeConfig,
    optional_prefix: Option<&str>,
    options: &mut LoadOptions,
) -> Result<HashMap<String, Tensor>> {
    let files = WeightFiles::locate(dir)?;
    let mut mapped = Vec::with_capacity(files.shards.len());
    for (i, shard) in files.shards.iter().enumerate() {
        options.check_cancel()?;
        // SAFETY: the file is mapped read-only; like every mmap-based loader (candle, safetensors)
        // we rely on nobody truncating the checkpoint while it is loaded.
        let file = unsafe { candle_core::safetensors::MmapedFile::new(shard) }
            .map_err(|e| Error::io(shard, std::io::Error::other(e.to_string())))?;
        // Deserializing checks the header and that the data length matches every tensor's offsets.
        file.deserialize().map_err(|e| Error::CorruptSafetensors {
            path: shard.clone(),
            message: root_message(&e),
        })?;
        mapped.push(file);
        options.report(LoadProgress::CheckedShard {
            done: i + 1,
            total: files.shards.len(),
        });
    }
    let views = mapped
        .iter()
        .map(|m| m.deserialize())
        .collect::<candle_core::Result<Vec<_>>>()?;

    // Where each expected tensor is: the index says which shard; a single file holds all.
    let expected = config.expected_tensors();
    let mut located = Vec::with_capacity(expected.len());
    for (name, shape) in &expected {
        let shard = match files.weight_map.get(name) {
            Some(path) => files.shards.iter().position(|s| s == path),
            None if files.index.is_none() => Some(0),
            None => None,
        };
        let Some(shard) = shard else {
            return Err(Error::MissingTensor {
                dir: dir.to_path_buf(),
                name: name.clone(),
            });
        };
        let path = &files.shards[shard];
        let view = match views[shard].tensor(name) {
            Ok(view) => view,
            Err(_) if files.index.is_some() => {
                return Err(Error::MisplacedTensor {
                    index: dir.join("model.safetensors.index.json"),
                    shard: path.clone(),
                    name: name.clone(),
                });
            }
            Err(_) => {
                return Err(Error::MissingTensor {
                    dir: dir.to_path_buf(),
                    name: name.clone(),
                });
            }
        };
        use safetensors::Dtype as D;
        if !matches!(view.dtype(), D::F32 | D::F16 | D::BF16) {
            return Err(Error::WrongDtype {
                path: path.clone(),
                name: name.clone(),
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != shape.as_slice() {
            return Err(Error::WrongShape {
                path: path.clone(),
                name: name.clone(),
                found: view.shape().to_vec(),
                expected: shape.clone(),
            });
        }
        located.push((name.clone(), view));
    }
    if let Some(prefix) = optional_prefix {
        for (view_set, _) in views.iter().zip(&files.shards) {
            for (name, view) in view_set.tensors() {
                if name.starts_with(prefix) && !located.iter().any(|(n, _)| *n == name) {
                    located.push((name, view));
                }
            }
        }
    }

    let total = located.len();
    let mut tensors = HashMap::with_capacity(total);
    for (i, (name, view)) in located.into_iter().enumerate() {
        options.check_cancel()?;
        let tensor = view.load(&options.device)?.to_dtype(options.dtype)?;
        tensors.insert(name, tensor);
        options.report(LoadProgress::LoadedTensor { done: i + 1, total });
    }
    Ok(tensors)
}

/// The innermost message of a candle error (drops the "with path" wrapper we replace).
fn root_message(error: &candle_core::Error) -> String {
    match error {
        candle_core::Error::WithPath { inner, .. } => root_message(inner),
        other => other.to_string(),
    }
}
