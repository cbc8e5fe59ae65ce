//! Next-token choice as Hugging Face `generate` does it: repetition penalty, then temperature,
//! top-k and top-p warping, then a draw from a seeded generator (or argmax when greedy).
//! Defaults come from the checkpoint's `generation_config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    config::KeyeConfig,
    error::{Error, Result},
};

/// How tokens are chosen and when generation stops.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SamplingParams {
    /// 0 means greedy (argmax); otherwise logits are divided by it before sampling.
    pub temperature: f32,
    /// Keep only the k most likely tokens (None or 0: all).
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches top_p (1: all).
    pub top_p: f32,
    /// > 1 discourages tokens already in the prompt or the output (HF's CTRL-style penalty).
    pub repetition_penalty: f32,
    pub seed: u64,
    pub max_new_tokens: usize,
    /// Generation ends after any of these ids; their text is not streamed.
    pub stop_ids: Vec<u32>,
}

/// Default for `max_new_tokens` when generation_config.json sets none (the 1.5 README's value).
pub const DEFAULT_MAX_NEW_TOKENS: usize = 1024;

impl SamplingParams {
    /// Greedy decoding stopping at the model's EOS ids.
    pub fn greedy(config: &KeyeConfig) -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            stop_ids: config.tokens.eos.clone(),
        }
    }

    /// Defaults of a checkpoint folder: its `generation_config.json` when present (do_sample,
    /// temperature, top_k, top_p, repetition_penalty, max_new_tokens, eos_token_id), else greedy.
    pub fn from_model_dir(dir: &Path, config: &KeyeConfig) -> Result<Self> {
        let path = dir.join("generation_config.json");
        if !path.is_file() {
            return Ok(Self::greedy(config));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Self::from_generation_config(&text, &path, config)
    }

    /// The defaults a `generation_config.json` text sets; `path` names it in errors.
    pub fn from_generation_config(text: &str, path: &Path, config: &KeyeConfig) -> Result<Self> {
        let path = path.to_path_buf();
        let file: GenerationConfigFile =
            serde_json::from_str(text).map_err(|cause| Error::Json {
                path: path.clone(),
                cause,
            })?;
        let mut params = Self::greedy(config);
        if file.do_sample.unwrap_or(false) {
            params.temperature = file.temperature.unwrap_or(1.0);
            params.top_k = file.top_k;
            params.top_p = file.top_p.unwrap_or(1.0);
        }
        params.repetition_penalty = file.repetition_penalty.unwrap_or(1.0);
        if let Some(n) = file.max_new_tokens {
            params.max_new_tokens = n;
        }
        if let Some(eos) = file.eos_token_id {
            params.stop_ids = match eos {
                OneOrMany::One(id) => vec![id],
                OneOrMany::Many(ids) => ids,
            };
        }
        params
            .validate()
            .map_err(|message| Error::Config { path, message })?;
        Ok(params)
    }

    /// Checks the ranges HF enforces; the message says which value is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(format!(
                "temperature must be >= 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(format!(
                "repetition_penalty must be > 0, got {}",
                self.repetition_penalty
            ));
        }
        Ok(())
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

/// The fields of `generation_config.json` that shape sampling.
#[derive(Debug, Deserialize)]
struct GenerationConfigFile {
    do_sample: Option<bool>,
    temperature: Option<f32>,
    top_k: Option<usize>,
    top_p: Option<f32>,
    repetition_penalty: Option<f32>,
    max_new_tokens: Option<usize>,
    eos_token_id: Option<OneOrMany>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// Chooses tokens from logits; owns the seeded random generator so a seed replays a run.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: fastrand::Rng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let rng = fastrand::Rng::with_seed(params.seed);
        Self { params, rng }
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// The next token given raw logits (vocab) and every token so far (prompt and output).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::Input("empty logits".into()));
        }
        let penalty = self.params.repetition_penalty;
        if penalty != 1.0 {
            let mut seen = vec![false; logits.len()];
            for &id in history {
                if let Some(s) = seen.get_mut(id as usize).filter(|s| !**s) {
                    *s = true;
                    let l = &mut logits[id as usize];
                    *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
                }
            }
        }
        if self.params.is_greedy() {
            return Ok(argmax(logits));
        }
        let t = self.params.temperature;
        // Candidates sorted by logit, most likely first (stable: lower id first on ties).
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        if let Some(k) = self.params.top_k.filter(|&k| k > 0 && k < order.len()) {
            // HF keeps every token tied with the k-th logit.
            let kth = logits[order[k - 1]];
            let keep = order.iter().take_while(|&&i| logits[i] >= kth).count();
            order.truncate(keep);
        }
        let max = logits[order[0]] / t;
        let mut probs: Vec<f64> = order
            .iter()
            .map(|&i| f64::from(logits[i] / t - max).exp())
            .collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if self.params.top_p < 1.0 {
            let mut cumulative = 0.0;
            let mut keep = 0;
            for p in &probs {
                keep += 1;
                cumulative += p;
                if cumulative >= f64::from(self.params.top_p) {
                    break;
                }
            }
            probs.truncate(keep);
            order.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut draw = self.rng.f64() * total;
        for (&id, &p) in order.iter().zip(&probs) {
            if draw < p {
                return Ok(id as u32);
            }
            draw -= p;
        }
        Ok(order[order.len() - 1] as u32)
    }
}

/// Index of the largest value, the first on ties (as torch.argmax).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k: None,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 7,
            max_new_tokens: 4,
            stop_ids: vec![],
        }
    }

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(params(0.0));
        assert_eq!(s.sample(&mut [1.0, 3.0, 3.0, 2.0], &[]).unwrap(), 1);
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits() {
        let mut p = params(0.0);
        p.repetition_penalty = 2.0;
        let mut s = Sampler::new(p);
        let mut logits = [3.0, 2.0, -1.0];
        // Token 0 seen twice is penalised once: 3 / 2 = 1.5 < 2.
        assert_eq!(s.sample(&mut logits, &[0, 0, 2]).unwrap(), 1);
        assert_eq!(logits, [1.5, 2.0, -2.0]);
    }

    #[test]
    fn top_k_one_and_tiny_top_p_are_greedy() {
        let logits = [0.5, 2.0, 1.9, -3.0];
        let mut k = params(1.0);
        k.top_k = Some(1);
        let mut p = params(1.0);
        p.top_p = 0.01;
        for seed in 0..20 {
            k.seed = seed;
            p.seed = seed;
            assert_eq!(
                Sampler::new(k.clone())
                    .sample(&mut logits.clone(), &[])
                    .unwrap(),
                1
            );
            assert_eq!(
                Sampler::new(p.clone())
                    .sample(&mut logits.clone(), &[])
                    .unwrap(),
                1
            );
        }
    }

    #[test]
    fn top_k_never_picks_outside_the_k_best() {
        let mut p = params(5.0);
        p.top_k = Some(2);
        let mut s = Sampler::new(p);
        let mut seen = [0; 4];
        for _ in 0..400 {
            seen[s.sample(&mut [1.0, 0.9, 0.8, 1.1], &[]).unwrap() as usize] += 1;
        }
        assert_eq!((seen[1], seen[2]), (0, 0));
        assert!(seen[0] > 0 && seen[3] > 0, "{seen:?}");
    }

    #[test]
    fn same_seed_same_draws_and_frequencies_follow_the_softmax() {
        let logits = [0.0f32, (3.0f32).ln()];
        let draw = |seed| {
            let mut p = params(1.0);
            p.seed = seed;
            let mut s = Sampler::new(p);
            (0..2000)
                .map(|_| s.sample(&mut logits.clone(), &[]).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let ones = draw(3).iter().filter(|&&t| t == 1).count() as f64 / 2000.0;
        assert!((ones - 0.75).abs() < 0.05, "{ones}");
    }

    #[test]
    fn bad_ranges_are_rejected() {
        let mut p = params(-1.0);
        assert!(p.validate().is_err());
        p.temperature = 0.5;
        p.top_p = 0.0;
        assert!(p.validate().unwrap_err().contains("top_p"));
    }
}
