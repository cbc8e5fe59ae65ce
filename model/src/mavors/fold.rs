//! Keye-VL's projector (`mlp_AR`: 2x2 merge, LayerNorm, GELU MLP) folded into a Mavors projector
//! (LayerNorm, GELU MLP over one 2x2-pooled token), so a Mavors encoder grown from a Keye-VL
//! checkpoint hands the LLM rows it already reads. The fold is exact wherever the four patches of a
//! merge window are alike, the case the pooled token stands for: the merge concatenates
//! `[x, x, x, x]`, whose normalisation is four copies of the normalised `x`, so the first linear
//! layer's four column blocks (each scaled by its slice of the norm's gain) act as their sum.

use std::collections::HashMap;

use candle_core::{D, Tensor};
use candle_nn::VarBuilder;

use super::error::Result;
use crate::config::VisionConfig;
use crate::keye::projector::WEIGHT_PREFIX as KEYE_PROJECTOR;

/// The Mavors projector's tensors (names below `projector.`) folded from `keye`'s `mlp_AR`, or
/// `None` when the checkpoint has no projector or its widths do not match Mavors' (the first layer
/// of both must be `hidden` wide, and Keye's must merge 2x2 patches of the ViT's width).
pub fn fold_keye_projector(
    keye: &VarBuilder,
    vision: &VisionConfig,
    hidden: usize,
    llm_hidden: usize,
) -> Result<Option<HashMap<String, Tensor>>> {
    let d = vision.hidden_size;
    let windows = vision.spatial_merge_size * vision.spatial_merge_size;
    let merged = d * windows;
    let name = |n: &str| format!("{KEYE_PROJECTOR}.{n}");
    let needed = [
        "pre_norm.weight",
        "pre_norm.bias",
        "linear_1.weight",
        "linear_1.bias",
        "linear_2.weight",
        "linear_2.bias",
    ];
    if hidden != merged || !needed.iter().all(|n| keye.contains_tensor(&name(n))) {
        return Ok(None);
    }
    let get = |n: &str| keye.get_unchecked(&name(n));
    let (gain, shift) = (get("pre_norm.weight")?, get("pre_norm.bias")?);
    let (w1, b1) = (get("linear_1.weight")?, get("linear_1.bias")?);
    let (w2, b2) = (get("linear_2.weight")?, get("linear_2.bias")?);
    if w1.dims() != [merged, merged] || w2.dims() != [llm_hidden, merged] {
        return Ok(None);
    }
    let device = w1.device().clone();
    let dtype = w1.dtype();
    let (weight, bias, norm_gain, norm_shift) = match gain.dims1()? {
        // Keye-VL-1.5 normalises the merged vector: each block of `linear_1` takes its slice of the
        // gain, and the shifts pass through `linear_1` into its bias.
        n if n == merged => {
            let scaled = w1.broadcast_mul(&gain.unsqueeze(0)?)?;
            let bias = (&b1 + w1.matmul(&shift.unsqueeze(1)?)?.squeeze(1)?)?;
            (
                sum_blocks(&scaled, windows, d)?,
                bias,
                Tensor::ones(d, dtype, &device)?,
                Tensor::zeros(d, dtype, &device)?,
            )
        }
        // The Preview normalises each patch before the merge, as Mavors' projector does.
        n if n == d => (sum_blocks(&w1, windows, d)?, b1, gain, shift),
        _ => return Ok(None),
    };
    let tensors = [
        ("pre_norm.weight", norm_gain),
        ("pre_norm.bias", norm_shift),
        ("linear_1.weight", weight),
        ("linear_1.bias", bias),
        ("linear_2.weight", w2),
        ("linear_2.bias", b2),
    ];
    Ok(Some(
        tensors
            .into_iter()
            .map(|(n, t)| (format!("projector.{n}"), t))
            .collect(),
    ))
}

/// `(out, windows x d)` -> `(out, d)`: the sum of the column blocks, one per merged patch.
fn sum_blocks(weight: &Tensor, windows: usize, d: usize) -> Result<Tensor> {
    let out = weight.dim(0)?;
    Ok(weight
        .reshape((out, windows, d))?
        .sum(D::Minus2)?
        .contiguous()?)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Module, Tensor};
    use candle_nn::{VarBuilder, VarMap};

    use super::*;
    use crate::layers::LayerNorm;
    use crate::mavors::Projector;

    const D: usize = 8;
    const MERGED: usize = 4 * D;
    const LLM: usize = 12;

    fn vision() -> VisionConfig {
        serde_json::from_value(serde_json::json!({
            "hidden_size": D,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 28,
            "patch_size": 14,
        }))
        .unwrap()
    }

    fn randn(shape: &[usize], mean: f32) -> Tensor {
        Tensor::randn(mean, 0.3f32, shape, &Device::Cpu).unwrap()
    }

    /// A Keye projector whose norm covers `norm` features, random everywhere (gains around 1).
    fn keye_projector(norm: usize) -> HashMap<String, Tensor> {
        [
            ("pre_norm.weight", randn(&[norm], 1.0)),
            ("pre_norm.bias", randn(&[norm], 0.0)),
            ("linear_1.weight", randn(&[MERGED, MERGED], 0.0)),
            ("linear_1.bias", randn(&[MERGED], 0.0)),
            ("linear_2.weight", randn(&[LLM, MERGED], 0.0)),
            ("linear_2.bias", randn(&[LLM], 0.0)),
        ]
        .into_iter()
        .map(|(n, t)| (format!("{KEYE_PROJECTOR}.{n}"), t))
        .collect()
    }

    /// Keye's projector on a merge window of four copies of each row of `xs`.
    fn keye_on_uniform_windows(keye: &HashMap<String, Tensor>, xs: &Tensor) -> Tensor {
        let t = |n: &str| keye[&format!("{KEYE_PROJECTOR}.{n}")].clone();
        let norm = LayerNorm::new(t("pre_norm.weight"), t("pre_norm.bias"), 1e-5);
        let merged = if t("pre_norm.weight").dims1().unwrap() == D {
            let normed = norm.forward(xs).unwrap();
            Tensor::cat(&[&normed, &normed, &normed, &normed], 1).unwrap()
        } else {
            norm.forward(&Tensor::cat(&[xs, xs, xs, xs], 1).unwrap())
                .unwrap()
        };
        let hidden = merged
            .matmul(&t("linear_1.weight").t().unwrap())
            .unwrap()
            .broadcast_add(&t("linear_1.bias"))
            .unwrap()
            .gelu_erf()
            .unwrap();
        hidden
            .matmul(&t("linear_2.weight").t().unwrap())
            .unwrap()
            .broadcast_add(&t("linear_2.bias"))
            .unwrap()
    }

    /// Largest difference, infinite on any NaN (candle's `max` would skip one).
    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        crate::golden::max_abs_diff(&flat(a), &flat(b))
    }

    #[test]
    fn the_folded_projector_equals_keyes_on_uniform_merge_windows() {
        // 1.5 normalises the merged vector; the Preview each patch.
        for norm in [MERGED, D] {
            let keye = keye_projector(norm);
            let vb = VarBuilder::from_tensors(keye.clone(), DType::F32, &Device::Cpu);
            let folded = fold_keye_projector(&vb, &vision(), MERGED, LLM)
                .unwrap()
                .expect("the widths allow a fold");
            let mavors = Projector::new(
                D,
                MERGED,
                LLM,
                VarBuilder::from_tensors(folded, DType::F32, &Device::Cpu).pp("projector"),
            )
            .unwrap();
            let xs = randn(&[5, D], 0.5);
            let diff = max_diff(
                &mavors.forward(&xs).unwrap(),
                &keye_on_uniform_windows(&keye, &xs),
            );
            assert!(diff < 1e-4, "norm over {norm}: differs by {diff}");
        }
    }

    #[test]
    fn no_fold_without_a_keye_projector_or_with_other_widths() {
        let keye = keye_projector(MERGED);
        let vb = VarBuilder::from_tensors(keye, DType::F32, &Device::Cpu);
        assert!(
            fold_keye_projector(&vb, &vision(), MERGED + 1, LLM)
                .unwrap()
                .is_none()
        );
        assert!(
            fold_keye_projector(&vb, &vision(), MERGED, LLM + 1)
                .unwrap()
                .is_none()
        );
        let empty = VarBuilder::from_varmap(&VarMap::new(), DType::F32, &Device::Cpu);
        assert!(
            fold_keye_projector(&empty, &vision(), MERGED, LLM)
                .unwrap()
                .is_none()
        );
    }
}
