//! The Mengzi golden case (`mengzi-bert-tiny`): the checkpoint sits in the case folder; the
//! sentences of `meta.json` are tokenized by us, batched with right padding, and every stored
//! tensor is compared: ids, masks and type ids exactly, hidden states, mean pooling and MLM
//! logits within 1e-4.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use super::MengziModel;
use crate::{
    error::{Error, Result},
    golden::{GoldenReport, compare},
};

/// The parts of the case's `meta.json` the runner reads.
#[derive(Debug, Clone, Deserialize)]
pub struct MengziGoldenMeta {
    #[serde(default)]
    pub case: Option<String>,
    pub sentences: Vec<String>,
    #[serde(default)]
    pub pair: Option<(String, String)>,
    /// Which sentence's MLM logits the case stores.
    #[serde(default)]
    pub masked_sentence_index: Option<usize>,
}

/// Whether `dir` is a Mengzi case: its `meta.json` lists sentences and its `config.json` is a
/// BERT (Keye cases name a model folder and chat messages instead).
pub fn is_case(dir: &Path) -> bool {
    let has_sentences = std::fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|meta| meta.get("sentences").is_some());
    has_sentences && dir.join("config.json").is_file()
}

pub struct MengziGoldenCase {
    pub dir: PathBuf,
    pub meta: MengziGoldenMeta,
    pub tensors: BTreeMap<String, Tensor>,
}

impl MengziGoldenCase {
    pub fn open(dir: &Path) -> Result<Self> {
        let meta: MengziGoldenMeta = crate::error::read_json(&dir.join("meta.json"))?;
        let tensors = crate::golden::read_case_tensors(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            tensors,
        })
    }

    /// Loads the case's checkpoint on `device` and runs it.
    pub fn run(&self, device: &Device) -> Result<GoldenReport> {
        self.run_with(&MengziModel::load(&self.dir, device)?)
    }

    /// Runs an already loaded model (the tests load it from either weight format).
    pub fn run_with(&self, model: &MengziModel) -> Result<GoldenReport> {
        let mut produced: HashMap<&str, Tensor> = HashMap::new();
        let tokenizer = model.tokenizer();
        let encodings = self
            .meta
            .sentences
            .iter()
            .map(|s| tokenizer.encode(s))
            .collect::<Result<Vec<_>>>()?;
        let batch = model.batch(&encodings)?;
        let hidden = model.hidden_states(&batch)?;
        let as_i64 = |t: &Tensor| t.to_dtype(DType::I64);
        produced.insert("input_ids", as_i64(&batch.input_ids)?);
        produced.insert("attention_mask", as_i64(&batch.attention_mask)?);
        produced.insert("token_type_ids", as_i64(&batch.token_type_ids)?);
        produced.insert(
            "mean_pooled",
            MengziModel::mean_pooled(&hidden, &batch.attention_mask)?,
        );
        if let Some(index) = self.meta.masked_sentence_index {
            if index >= encodings.len() {
                return Err(Error::Golden {
                    path: self.dir.clone(),
                    message: format!(
                        "masked_sentence_index {index} but only {} sentences",
                        encodings.len()
                    ),
                });
            }
            produced.insert(
                "mlm_logits_masked_sentence",
                model.mlm_logits(&hidden.get(index)?)?,
            );
        }
        produced.insert("last_hidden_state", hidden);
        if let Some((first, second)) = &self.meta.pair {
            let pair = model.batch(&[tokenizer.encode_pair(first, second)?])?;
            let hidden = model.hidden_states(&pair)?;
            produced.insert("pair_input_ids", as_i64(&pair.input_ids)?);
            produced.insert("pair_attention_mask", as_i64(&pair.attention_mask)?);
            produced.insert("pair_token_type_ids", as_i64(&pair.token_type_ids)?);
            produced.insert(
                "pair_mean_pooled",
                MengziModel::mean_pooled(&hidden, &pair.attention_mask)?,
            );
            produced.insert("pair_last_hidden_state", hidden);
        }
        let mut checks = Vec::new();
        let mut unmatched = Vec::new();
        for (name, expected) in &self.tensors {
            match produced.get(name.as_str()) {
                Some(actual) => checks.push(compare(name, expected, actual)?),
                None => unmatched.push(name.clone()),
            }
        }
        Ok(GoldenReport {
            case: self
                .meta
                .case
                .clone()
                .unwrap_or_else(|| self.dir.display().to_string()),
            prompt_matches: None,
            checks,
            inputs_used: Vec::new(),
            unmatched,
            generated_text: String::new(),
        })
    }
}
