//! How far a quantized model strays from its full-precision reference: both read the same prompts
//! and then the same continuation (the reference's own greedy tokens, fed to both), and at every
//! step their next-token distributions are compared: whether they pick the same top token, and
//! the KL divergence of the candidate's distribution from the reference's.

use candle_core::Tensor;
use serde::Serialize;

use crate::{
    error::Result,
    keye::{DecodeState, KeyeInputs, KeyeModel, KvCache, Prefill},
};

/// Agreement of one prompt's steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptQuality {
    pub name: String,
    pub steps: usize,
    /// Share of steps whose top-1 token is the same in both models.
    pub top1_agreement: f64,
    /// Mean over steps of KL(reference || candidate), in nats.
    pub mean_kl: f64,
}

/// Agreement over every prompt, pooled over all steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    pub prompts: Vec<PromptQuality>,
    pub steps: usize,
    pub top1_agreement: f64,
    pub mean_kl: f64,
}

/// Compares `candidate` with `reference` over `prompts` (name, inputs), `steps` next-token
/// distributions each (the prefill's, then one per fed token).
pub fn compare(
    reference: &KeyeModel,
    candidate: &KeyeModel,
    prompts: &[(String, KeyeInputs)],
    steps: usize,
) -> Result<QualityReport> {
    let mut report = QualityReport {
        prompts: Vec::new(),
        steps: 0,
        top1_agreement: 0.0,
        mean_kl: 0.0,
    };
    let (mut agreed, mut kl_sum) = (0usize, 0f64);
    for (name, inputs) in prompts {
        let run = |model: &KeyeModel| -> Result<(DecodeState, Vec<f32>)> {
            let mut state = DecodeState {
                cache: KvCache::with_capacity(inputs.input_ids.len() + steps),
                rope_delta: 0,
            };
            let out = model.prefill(
                inputs,
                &mut state,
                Prefill {
                    lean: true,
                    ..Prefill::default()
                },
            )?;
            let logits = model.logits(&out.hidden)?.flatten_all()?.to_vec1::<f32>()?;
            Ok((state, logits))
        };
        let (mut ref_state, mut ref_logits) = run(reference)?;
        let (mut cand_state, mut cand_logits) = run(candidate)?;
        let (mut prompt_agreed, mut prompt_kl) = (0usize, 0f64);
        for step in 0..steps {
            let ref_top = argmax(&ref_logits);
            prompt_agreed += usize::from(ref_top == argmax(&cand_logits));
            prompt_kl += kl_divergence(&ref_logits, &cand_logits);
            if step + 1 == steps {
                break;
            }
            let token = ref_top as u32;
            ref_logits = to_vec(reference.decode_step(token, &mut ref_state)?)?;
            cand_logits = to_vec(candidate.decode_step(token, &mut cand_state)?)?;
        }
        report.prompts.push(PromptQuality {
            name: name.clone(),
            steps,
            top1_agreement: prompt_agreed as f64 / steps.max(1) as f64,
            mean_kl: prompt_kl / steps.max(1) as f64,
        });
        agreed += prompt_agreed;
        kl_sum += prompt_kl;
        report.steps += steps;
    }
    report.top1_agreement = agreed as f64 / report.steps.max(1) as f64;
    report.mean_kl = kl_sum / report.steps.max(1) as f64;
    Ok(report)
}

fn to_vec(logits: Tensor) -> Result<Vec<f32>> {
    Ok(logits.to_vec1::<f32>()?)
}

/// Index of the largest logit (the first one on ties).
fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// KL(softmax(p) || softmax(q)) in nats, computed in f64 from logits.
pub fn kl_divergence(p_logits: &[f32], q_logits: &[f32]) -> f64 {
    let log_softmax = |logits: &[f32]| -> Vec<f64> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
        let log_sum = sum.ln() + max;
        logits.iter().map(|&x| x as f64 - log_sum).collect()
    };
    let (lp, lq) = (log_softmax(p_logits), log_softmax(q_logits));
    lp.iter()
        .zip(&lq)
        .map(|(&a, &b)| a.exp() * (a - b))
        .sum::<f64>()
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::kl_divergence;

    #[test]
    fn kl_is_zero_for_equal_distributions_and_matches_a_hand_computation() {
        assert!(kl_divergence(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).abs() < 1e-12);
        // Shifting every logit does not change the distribution.
        assert!(kl_divergence(&[1.0, 2.0], &[11.0, 12.0]).abs() < 1e-12);
        // p = (1/2, 1/2), q = (e/(1+e), 1/(1+e)) from logits (0, 0) and (1, 0).
        let e = std::f64::consts::E;
        let (q0, q1) = (e / (1.0 + e), 1.0 / (1.0 + e));
        let expected = 0.5 * (0.5 / q0).ln() + 0.5 * (0.5 / q1).ln();
        assert!((kl_divergence(&[0.0, 0.0], &[1.0, 0.0]) - expected).abs() < 1e-12);
    }
}
