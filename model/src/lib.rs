//! Keye-VL and Mavors on candle.

pub mod attention;
pub mod bench;
pub mod budget;
pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod error;
pub mod evidence;
pub mod generate;
pub mod gguf;
pub mod golden;
pub mod keye;
pub mod layers;
pub mod mavors;
pub mod media;
pub mod mengzi;
pub mod preprocess;
pub mod quality;
pub mod quantize;
pub mod runtime;
pub mod tokenizer;
pub mod video;

/// The candle types callers need to pick a device and dtype.
pub use candle_core::{DType, Device};
pub use checkpoint::{LoadOptions, LoadProgress};
pub use config::{KeyeConfig, KeyeVariant};
pub use error::{Error, Result};
pub use keye::KeyeModel;
pub use runtime::Runtime;
pub use tokenizer::KeyeTokenizer;
