//! Mengzi-BERT (Langboat's light Chinese BERTs: mengzi-bert-base, -base-fin, -L6-H768) for
//! caption work: candle-transformers' BERT encoder and MLM head over checkpoints as published,
//! masked-LM character scores for typo checks, and mean-pooled sentence embeddings for search.

pub mod check;
pub mod config;
pub mod golden;
pub mod tokenizer;
pub mod weights;

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, BertOnlyMLMHead};

pub use check::{CharacterScore, CheckOptions};
pub use config::MengziConfig;
pub use tokenizer::{Encoded, MengziTokenizer, SpecialIds};

use crate::error::{Error, Result};

/// A Mengzi-BERT masked language model with its tokenizer.
pub struct MengziModel {
    config: MengziConfig,
    bert: BertModel,
    mlm: BertOnlyMLMHead,
    tokenizer: MengziTokenizer,
    device: Device,
    dir: PathBuf,
    weights: PathBuf,
}

impl std::fmt::Debug for MengziModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MengziModel")
            .field("dir", &self.dir)
            .field("weights", &self.weights)
            .finish()
    }
}

/// Padded model input for a batch of encodings.
pub struct Batch {
    /// (B, S) u32.
    pub input_ids: Tensor,
    /// (B, S) u32.
    pub token_type_ids: Tensor,
    /// (B, S) u32: 1 on tokens, 0 on padding.
    pub attention_mask: Tensor,
}

impl MengziModel {
    /// Loads `dir` (config.json; tokenizer.json or vocab.txt; model.safetensors or
    /// pytorch_model.bin) in float32 on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        crate::checkpoint::check_folder(dir)?;
        let config = MengziConfig::from_dir(dir)?;
        let weights = weights::weights_file(dir)?;
        let stored = weights::read_state_dict(&weights)?;
        Self::from_state_dict(dir, config, stored, &weights, device)
    }

    /// Builds the model from an already read state dict; `weights` names it in errors.
    pub fn from_state_dict(
        dir: &Path,
        config: MengziConfig,
        stored: std::collections::HashMap<String, Tensor>,
        weights: &Path,
        device: &Device,
    ) -> Result<Self> {
        let tokenizer = MengziTokenizer::from_dir(dir)?;
        let vocab = tokenizer.vocab_size();
        if vocab > config.bert.vocab_size {
            return Err(Error::Tokenizer {
                path: tokenizer.path().to_path_buf(),
                message: format!(
                    "{vocab} tokens, more than config.json's vocab_size {}",
                    config.bert.vocab_size
                ),
            });
        }
        let tensors = weights::prepare(stored, &config, weights, device, DType::F32)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let bert = BertModel::load(vb.pp("bert"), &config.bert)?;
        let mlm = BertOnlyMLMHead::load(vb.pp("cls"), &config.bert)?;
        Ok(Self {
            config,
            bert,
            mlm,
            tokenizer,
            device: device.clone(),
            dir: dir.to_path_buf(),
            weights: weights.to_path_buf(),
        })
    }

    pub fn config(&self) -> &MengziConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &MengziTokenizer {
        &self.tokenizer
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The checkpoint folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The weight file the model was read from.
    pub fn weights_path(&self) -> &Path {
        &self.weights
    }

    /// Longest input the position table allows, [CLS] and [SEP] included.
    pub fn max_tokens(&self) -> usize {
        self.config.bert.max_position_embeddings
    }

    /// Right-pads encodings with [PAD] into one batch. Encodings longer than the position table
    /// are cut to it (keeping the final [SEP]).
    pub fn batch(&self, encodings: &[Encoded]) -> Result<Batch> {
        let max = self.max_tokens();
        let width = encodings
            .iter()
            .map(|e| e.ids.len().min(max))
            .max()
            .unwrap_or(0);
        let pad = self.tokenizer.special().pad;
        let mut ids = Vec::with_capacity(encodings.len() * width);
        let mut types = Vec::with_capacity(encodings.len() * width);
        let mut mask = Vec::with_capacity(encodings.len() * width);
        for encoding in encodings {
            let mut row = encoding.ids.clone();
            let mut row_types = encoding.type_ids.clone();
            if row.len() > max {
                row.truncate(max);
                row_types.truncate(max);
                row[max - 1] = self.tokenizer.special().sep;
            }
            let len = row.len();
            ids.extend(
                row.iter()
                    .copied()
                    .chain(std::iter::repeat_n(pad, width - len)),
            );
            types.extend(
                row_types
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, width - len)),
            );
            mask.extend((0..width).map(|i| u32::from(i < len)));
        }
        let shape = (encodings.len(), width);
        Ok(Batch {
            input_ids: Tensor::from_vec(ids, shape, &self.device)?,
            token_type_ids: Tensor::from_vec(types, shape, &self.device)?,
            attention_mask: Tensor::from_vec(mask, shape, &self.device)?,
        })
    }

    /// The encoder's last hidden states, (B, S, H); padded positions hold values that mean nothing.
    pub fn hidden_states(&self, batch: &Batch) -> Result<Tensor> {
        Ok(self.bert.forward(
            &batch.input_ids,
            &batch.token_type_ids,
            Some(&batch.attention_mask),
        )?)
    }

    /// MLM logits over the vocabulary for hidden states (N, H) or (B, S, H): (N, V) or (B, S, V).
    pub fn mlm_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.mlm.forward(hidden)?)
    }

    /// The hidden state at one position of each row: (B, S, H) and B positions -> (B, H).
    pub fn gather_rows(hidden: &Tensor, positions: &[usize]) -> Result<Tensor> {
        let rows = positions
            .iter()
            .enumerate()
            .map(|(row, &position)| hidden.i((row, position)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Tensor::stack(&rows, 0)?)
    }

    /// Mean of the hidden states over the tokens of each row ([CLS] and [SEP] included, padding
    /// excluded), (B, H).
    pub fn mean_pooled(hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let mask = attention_mask
            .to_dtype(hidden.dtype())?
            .unsqueeze(D::Minus1)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?;
        Ok(summed.broadcast_div(&counts)?)
    }

    /// Mean-pooled sentence embeddings of `texts`, L2-normalised so a dot product is the cosine.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = texts
            .iter()
            .map(|text| self.tokenizer.encode(text))
            .collect::<Result<Vec<_>>>()?;
        let batch = self.batch(&encodings)?;
        let hidden = self.hidden_states(&batch)?;
        let pooled = Self::mean_pooled(&hidden, &batch.attention_mask)?;
        let norms = pooled
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(pooled.broadcast_div(&norms)?.to_vec2()?)
    }
}
