//! One error type for the crate: every variant names the file (or input) and the problem, so the
//! CLI and GUI can show it as one line the user can act on.

use std::path::PathBuf;

/// Errors from loading, tokenizing, preparing inputs and running Keye-VL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The causes are part of each message and deliberately not exposed as `source()`, so that a
    // printed error chain does not repeat them.
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: invalid JSON: {cause}")]
    Json {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error(
        "{path}: unknown model type {model_type:?} (architectures {architectures:?}); expected \
         \"Keye\" (Keye-VL-8B-Preview) or \"KeyeVL1_5\" (Keye-VL-1.5)"
    )]
    UnknownModelType {
        path: PathBuf,
        model_type: Option<String>,
        architectures: Vec<String>,
    },
    #[error("{path}: invalid config: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{dir}: no such folder")]
    NoFolder { dir: PathBuf },
    #[error(
        "{dir}: the folder is empty; a checkpoint folder holds config.json, tokenizer.json and \
         model.safetensors (or its shards with model.safetensors.index.json)"
    )]
    EmptyFolder { dir: PathBuf },
    #[error("{dir}: no model.safetensors and no model.safetensors.index.json")]
    NoWeights { dir: PathBuf },
    #[error("{dir}: no model.safetensors and no pytorch_model.bin")]
    NoBertWeights { dir: PathBuf },
    #[error("{path}: not a BERT masked language model: {message}")]
    NotBertMlm { path: PathBuf, message: String },
    #[error("{path}: not a readable PyTorch checkpoint (truncated or corrupt): {message}")]
    CorruptPytorch { path: PathBuf, message: String },
    #[error("{index}: shard {shard} is listed but missing")]
    MissingShard { index: PathBuf, shard: PathBuf },
    #[error("{path}: not a valid safetensors file (truncated or corrupt): {message}")]
    CorruptSafetensors { path: PathBuf, message: String },
    #[error("{path}: not a valid keye-studio GGUF checkpoint: {message}")]
    CorruptGguf { path: PathBuf, message: String },
    #[error("{dir}: tensor {name} is missing from the checkpoint")]
    MissingTensor { dir: PathBuf, name: String },
    #[error("{index}: tensor {name} is mapped to {shard}, which does not contain it")]
    MisplacedTensor {
        index: PathBuf,
        shard: PathBuf,
        name: String,
    },
    #[error("{path}: tensor {name} has shape {found:?}, expected {expected:?}")]
    WrongShape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("{path}: tensor {name} has dtype {found}, expected F32, F16 or BF16")]
    WrongDtype {
        path: PathBuf,
        name: String,
        found: String,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("device {0}")]
    Device(String),
    #[error("{0}")]
    Budget(crate::budget::refusal::Refusal),
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("{path}: the tokenizer has no token {token:?}, which {why}")]
    MissingToken {
        path: PathBuf,
        token: String,
        why: &'static str,
    },
    #[error("prompt: {0}")]
    Prompt(String),
    #[error("model input: {0}")]
    Input(String),
    #[error("preprocessing: {0}")]
    Preprocess(crate::preprocess::PreprocessError),
    #[error("Mavors: {0}")]
    Mavors(crate::mavors::error::MavorsError),
    #[error("{path}: golden case: {message}")]
    Golden { path: PathBuf, message: String },
    #[error("tensor computation: {0}")]
    Candle(candle_core::Error),
}

// Plain `From`s rather than `#[from]`: the wrapped error is printed inside the message, so it must
// not also be the `source()` that a chain printer would print again.
impl From<crate::preprocess::PreprocessError> for Error {
    fn from(error: crate::preprocess::PreprocessError) -> Self {
        Self::Preprocess(error)
    }
}

impl From<crate::mavors::error::MavorsError> for Error {
    fn from(error: crate::mavors::error::MavorsError) -> Self {
        Self::Mavors(error)
    }
}

impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Self {
        Self::Candle(error)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            cause,
        }
    }
}

/// Reads and parses a JSON file, naming the file in either error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|cause| Error::Json {
        path: path.to_path_buf(),
        cause,
    })
}
