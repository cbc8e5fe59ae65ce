//! `config.json` of a Mengzi-BERT checkpoint, checked to be a BERT before candle's BERT reads it.

use std::path::{Path, PathBuf};

use candle_transformers::models::bert;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The fields that say what kind of model a `config.json` describes.
#[derive(Deserialize)]
struct Kind {
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
}

/// A BERT config as candle-transformers reads it, with the file it came from.
#[derive(Debug, Clone)]
pub struct MengziConfig {
    pub bert: bert::Config,
    /// `architectures` as the checkpoint states it (`BertForMaskedLM` for the Mengzi-BERTs).
    pub architectures: Vec<String>,
    pub path: PathBuf,
}

impl MengziConfig {
    /// Reads `dir/config.json`; a config of another family (T5, GPT-Neo, ...) is refused here,
    /// naming the file, before any weight is read.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let json = |cause| Error::Json {
            path: path.clone(),
            cause,
        };
        let kind: Kind = serde_json::from_str(&text).map_err(json)?;
        let is_bert = match kind.model_type.as_deref() {
            Some(model_type) => model_type == "bert",
            None => kind.architectures.iter().any(|a| a.starts_with("Bert")),
        };
        if !is_bert {
            return Err(Error::NotBertMlm {
                path,
                message: format!(
                    "model_type {:?} (architectures {:?}); Mengzi checks need a BERT masked \
                     language model such as Langboat/mengzi-bert-base",
                    kind.model_type.unwrap_or_default(),
                    kind.architectures
                ),
            });
        }
        let bert: bert::Config = serde_json::from_str(&text).map_err(json)?;
        let invalid = |message: String| Error::Config {
            path: path.clone(),
            message,
        };
        if bert.num_attention_heads == 0
            || !bert.hidden_size.is_multiple_of(bert.num_attention_heads)
        {
            return Err(invalid(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                bert.hidden_size, bert.num_attention_heads
            )));
        }
        if bert.vocab_size == 0 || bert.max_position_embeddings < 3 || bert.type_vocab_size == 0 {
            return Err(invalid(format!(
                "vocab_size {}, max_position_embeddings {} and type_vocab_size {} must be positive \
                 (and room for [CLS] x [SEP])",
                bert.vocab_size, bert.max_position_embeddings, bert.type_vocab_size
            )));
        }
        Ok(Self {
            bert,
            architectures: kind.architectures,
            path,
        })
    }

    /// Every tensor a BERT masked LM has, with its shape, under `bert.` and `cls.`. The decoder
    /// of the MLM head is tied to the word embeddings; checkpoints may or may not store it.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let c = &self.bert;
        let (h, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
        let mut tensors: Vec<(String, Vec<usize>)> = vec![
            ("bert.embeddings.word_embeddings.weight".into(), vec![v, h]),
            (
                "bert.embeddings.position_embeddings.weight".into(),
                vec![c.max_position_embeddings, h],
            ),
            (
                "bert.embeddings.token_type_embeddings.weight".into(),
                vec![c.type_vocab_size, h],
            ),
            ("bert.embeddings.LayerNorm.weight".into(), vec![h]),
            ("bert.embeddings.LayerNorm.bias".into(), vec![h]),
        ];
        for layer in 0..c.num_hidden_layers {
            let p = format!("bert.encoder.layer.{layer}");
            for (name, shape) in [
                ("attention.self.query.weight", vec![h, h]),
                ("attention.self.query.bias", vec![h]),
                ("attention.self.key.weight", vec![h, h]),
                ("attention.self.key.bias", vec![h]),
                ("attention.self.value.weight", vec![h, h]),
                ("attention.self.value.bias", vec![h]),
                ("attention.output.dense.weight", vec![h, h]),
                ("attention.output.dense.bias", vec![h]),
                ("attention.output.LayerNorm.weight", vec![h]),
                ("attention.output.LayerNorm.bias", vec![h]),
                ("intermediate.dense.weight", vec![i, h]),
                ("intermediate.dense.bias", vec![i]),
                ("output.dense.weight", vec![h, i]),
                ("output.dense.bias", vec![h]),
                ("output.LayerNorm.weight", vec![h]),
                ("output.LayerNorm.bias", vec![h]),
            ] {
                tensors.push((format!("{p}.{name}"), shape));
            }
        }
        for (name, shape) in [
            ("cls.predictions.transform.dense.weight", vec![h, h]),
            ("cls.predictions.transform.dense.bias", vec![h]),
            ("cls.predictions.transform.LayerNorm.weight", vec![h]),
            ("cls.predictions.transform.LayerNorm.bias", vec![h]),
            ("cls.predictions.bias", vec![v]),
            (DECODER_WEIGHT, vec![v, h]),
            (DECODER_BIAS, vec![v]),
        ] {
            tensors.push((name.into(), shape));
        }
        tensors
    }
}

/// The MLM decoder's weight: tied to `bert.embeddings.word_embeddings.weight`.
pub const DECODER_WEIGHT: &str = "cls.predictions.decoder.weight";
/// The MLM decoder's bias: tied to `cls.predictions.bias`.
pub const DECODER_BIAS: &str = "cls.predictions.decoder.bias";
