//! The weights of a Mengzi-BERT checkpoint as published: `model.safetensors`, or the
//! `pytorch_model.bin` Langboat ships (read by candle's PyTorch reader, which interprets the
//! pickle without running any of it). Names are brought to today's BERT layout, the tied MLM
//! decoder is filled in when the file leaves it out, and every tensor is checked before the
//! model is built, so a wrong file is named with what is wrong.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use candle_core::{DType, Device, Tensor};

use super::config::{DECODER_BIAS, DECODER_WEIGHT, MengziConfig};
use crate::error::{Error, Result};

/// The weight files looked for, in order of preference.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// The weight file of a checkpoint folder: `model.safetensors`, else `pytorch_model.bin`.
pub fn weights_file(dir: &Path) -> Result<PathBuf> {
    crate::checkpoint::check_folder(dir)?;
    WEIGHT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| Error::NoBertWeights {
            dir: dir.to_path_buf(),
        })
}

/// Every tensor stored in `path` (safetensors, or a PyTorch zip checkpoint), on the CPU, as stored.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    if is_safetensors {
        return candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            Error::CorruptSafetensors {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        });
    }
    let corrupt = |message: String| Error::CorruptPytorch {
        path: path.to_path_buf(),
        message,
    };
    // A file that is not a zip at all (the pre-1.6 torch format, or something else).
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .map_err(|e| Error::io(path, e))?;
    if read < 4 || &magic != b"PK\x03\x04" {
        return Err(corrupt(
            "not a zip archive (torch.save's format since PyTorch 1.6); re-save it with a \
             recent PyTorch or convert it to model.safetensors"
                .into(),
        ));
    }
    // candle's pickle reader indexes into tuples it expects to be torch's, so a damaged pickle
    // can panic inside it: that too becomes an error naming the file, and the only thing said.
    let tensors = catch_quietly(|| candle_core::pickle::read_all(path))
        .map_err(|_| corrupt("its pickle does not describe torch tensors".into()))?
        .map_err(|e| corrupt(e.to_string()))?;
    if tensors.is_empty() {
        return Err(corrupt("it holds no tensors (no state dict found)".into()));
    }
    Ok(tensors.into_iter().collect())
}

thread_local! {
    /// Whether a panic on this thread is caught by [`catch_quietly`] and told as an error.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `catch_unwind` without the panic message: the panic hook (installed once, wrapping the one
/// in place) stays silent for panics of this thread while `f` runs, and reports every other
/// panic (other threads, or this one outside `f`) through the previous hook as before.
fn catch_quietly<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> std::thread::Result<R> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was_quiet = QUIET_PANICS.with(|quiet| quiet.replace(true));
    let result = std::panic::catch_unwind(f);
    QUIET_PANICS.with(|quiet| quiet.set(was_quiet));
    result
}

/// The name a tensor has in today's BERT layout: older checkpoints call LayerNorm's weight and
/// bias `gamma` and `beta`.
fn modern_name(name: &str) -> String {
    if let Some(stem) = name.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = name.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        name.to_string()
    }
}

/// Checks a state dict against `config` and returns exactly the tensors the model reads, in
/// `dtype` on `device`. `path` names the weight file in errors.
pub fn prepare(
    stored: HashMap<String, Tensor>,
    config: &MengziConfig,
    path: &Path,
    device: &Device,
    dtype: DType,
) -> Result<HashMap<String, Tensor>> {
    let mut stored: HashMap<String, Tensor> = stored
        .into_iter()
        .map(|(name, tensor)| (modern_name(&name), tensor))
        .collect();
    let has = |prefix: &str| stored.keys().any(|name| name.starts_with(prefix));
    if !has("cls.predictions.transform.") {
        let what = if has("bert.") || has("embeddings.") {
            "it has a BERT encoder but no masked-language-model head (cls.predictions.*): a \
             BertModel or fine-tuned checkpoint, not BertForMaskedLM"
        } else {
            "it has neither bert.* nor cls.predictions.* tensors"
        };
        return Err(Error::NotBertMlm {
            path: path.to_path_buf(),
            message: what.into(),
        });
    }
    // Tied in the model: a checkpoint may store them or leave them to be tied on load.
    for (tied, source) in [
        (DECODER_WEIGHT, "bert.embeddings.word_embeddings.weight"),
        (DECODER_BIAS, "cls.predictions.bias"),
    ] {
        if !stored.contains_key(tied)
            && let Some(tensor) = stored.get(source).cloned()
        {
            stored.insert(tied.to_string(), tensor);
        }
    }
    let mut tensors = HashMap::new();
    for (name, shape) in config.expected_tensors() {
        let tensor = stored.remove(&name).ok_or_else(|| Error::MissingTensor {
            dir: path.to_path_buf(),
            name: name.clone(),
        })?;
        if tensor.dims() != shape.as_slice() {
            return Err(Error::WrongShape {
                path: path.to_path_buf(),
                name,
                found: tensor.dims().to_vec(),
                expected: shape,
            });
        }
        if !tensor.dtype().is_float() {
            return Err(Error::WrongDtype {
                path: path.to_path_buf(),
                name,
                found: format!("{:?}", tensor.dtype()),
            });
        }
        let converted = tensor.to_dtype(dtype)?.to_device(device)?;
        tensors.insert(name, converted);
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_layer_norm_names_become_weight_and_bias() {
        assert_eq!(
            modern_name("bert.embeddings.LayerNorm.gamma"),
            "bert.embeddings.LayerNorm.weight"
        );
        assert_eq!(
            modern_name("cls.predictions.transform.LayerNorm.beta"),
            "cls.predictions.transform.LayerNorm.bias"
        );
        assert_eq!(modern_name("cls.predictions.bias"), "cls.predictions.bias");
    }
}
