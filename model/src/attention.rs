//! Exact attention in bounded memory, shared by the decoder (causal, grouped-query heads), the
//! vision tower (full attention inside each block) and Mavors' aggregator (causal across chunks).
//!
//! Queries go in blocks against keys in blocks with an online softmax: each query row keeps its
//! running maximum, running sum of exponentials and running weighted sum of values, rescaled
//! whenever a later key block raises the maximum. The largest score tensor that ever exists is
//! (heads, query block, key block), so memory grows linearly with the sequence while the result is
//! the same softmax (up to float rounding). Grouped-query heads read their shared key/value head
//! directly: the query heads of one group are stacked as extra rows instead of the keys being
//! repeated. Everything is plain candle ops, so gradients flow through it for training.

use candle_core::{D, DType, Device, Result, Tensor};

/// Which keys each query may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every query sees every key (the vision tower inside one block).
    All,
    /// Query `i` sits at absolute position `offset + i` and sees keys `0..=offset + i` (the
    /// decoder: `offset` tokens are already in the cache).
    Causal { offset: usize },
    /// Queries and keys come in chunks of `size` tokens; a query sees its own chunk and the ones
    /// before it (Mavors' inter-chunk aggregator).
    ChunkCausal { size: usize },
}

impl Visibility {
    /// One past the last key that query row `i` may see (keys before it are all visible).
    fn key_limit(self, i: usize, keys: usize) -> usize {
        match self {
            Visibility::All => keys,
            Visibility::Causal { offset } => (offset + i + 1).min(keys),
            Visibility::ChunkCausal { size } => ((i / size + 1) * size).min(keys),
        }
    }
}

/// Rows of queries and keys per block. Larger blocks mean fewer, larger matrix products and more
/// memory: the score block is `heads x query x key` floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionBlocks {
    pub query: usize,
    pub key: usize,
}

impl Default for AttentionBlocks {
    /// 256 x 1024: a 32 MiB f32 score block for 32 heads.
    fn default() -> Self {
        Self {
            query: 256,
            key: 1024,
        }
    }
}

impl AttentionBlocks {
    /// Blocks of `query` x `key` rows (each at least 1).
    pub fn new(query: usize, key: usize) -> Self {
        Self {
            query: query.max(1),
            key: key.max(1),
        }
    }
}

/// `softmax(q k^T * scale + mask) v` for `q` (b, heads, Sq, d) and `k`, `v` (b, kv_heads, Sk, d),
/// where `heads` is a multiple of `kv_heads` and query head `h` reads key/value head
/// `h / (heads / kv_heads)` (Hugging Face's `repeat_kv`). Scores and the softmax are in f32; the
/// products with `v` run in `v`'s dtype. Returns (b, heads, Sq, d) in `v`'s dtype.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    visibility: Visibility,
    blocks: AttentionBlocks,
) -> Result<Tensor> {
    let (b, heads, sq, d) = q.dims4()?;
    let (kb, kv_heads, sk, kd) = k.dims4()?;
    if kb != b || kd != d || v.dims4()? != (b, kv_heads, sk, d) {
        candle_core::bail!(
            "attention shapes disagree: q {:?}, k {:?}, v {:?}",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    if kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
        candle_core::bail!("{heads} query heads do not group over {kv_heads} key/value heads");
    }
    if sk == 0 {
        candle_core::bail!("attention over no keys");
    }
    let groups = heads / kv_heads;
    let blocks = AttentionBlocks::new(blocks.query, blocks.key);
    let mut outputs = Vec::with_capacity(sq.div_ceil(blocks.query));
    let mut q0 = 0;
    while q0 < sq {
        let rows = blocks.query.min(sq - q0);
        // (b, kv_heads, groups * rows, d): the group's query heads stacked as rows.
        let q_block =
            q.narrow(2, q0, rows)?
                .contiguous()?
                .reshape((b, kv_heads, groups * rows, d))?;
        let out = attend_block(
            &q_block, k, v, scale, visibility, q0, rows, groups, blocks.key,
        )?;
        outputs.push(out.reshape((b, heads, rows, d))?);
        q0 += rows;
    }
    if outputs.len() == 1 {
        return Ok(outputs.remove(0));
    }
    Tensor::cat(&outputs, 2)
}

/// Online softmax of one query block (rows `q0..q0 + rows` of each head) over every visible key
/// block; returns (b, kv_heads, groups * rows, d) in `v`'s dtype.
#[allow(clippy::too_many_arguments)]
fn attend_block(
    q_block: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    visibility: Visibility,
    q0: usize,
    rows: usize,
    groups: usize,
    key_block: usize,
) -> Result<Tensor> {
    let sk = k.dim(2)?;
    // Keys below `all_visible` are seen by every row of the block; none at or past `any_visible`.
    let all_visible = visibility.key_limit(q0, sk);
    let any_visible = visibility.key_limit(q0 + rows - 1, sk);
    let mut state: Option<(Tensor, Tensor, Tensor)> = None; // running max, sum, weighted values
    let mut k0 = 0;
    while k0 < any_visible {
        let len = key_block.min(any_visible - k0);
        let k_block = k.narrow(2, k0, len)?;
        let v_block = v.narrow(2, k0, len)?;
        let mut scores = (q_block.matmul(&k_block.t()?)? * scale)?.to_dtype(DType::F32)?;
        if k0 + len > all_visible {
            let mask = block_mask(visibility, q0, rows, groups, k0, len, sk, q_block.device())?;
            scores = scores.broadcast_add(&mask)?;
        }
        let block_max = scores.max_keepdim(D::Minus1)?;
        let max = match &state {
            Some((max, _, _)) => max.maximum(&block_max)?,
            None => block_max,
        };
        let weights = scores.broadcast_sub(&max)?.exp()?;
        let sum = weights.sum_keepdim(D::Minus1)?;
        let values = weights
            .to_dtype(v.dtype())?
            .matmul(&v_block)?
            .to_dtype(DType::F32)?;
        state = Some(match state {
            None => (max, sum, values),
            Some((old_max, old_sum, old_values)) => {
                let rescale = (old_max - &max)?.exp()?;
                (
                    max,
                    ((old_sum * &rescale)? + sum)?,
                    (old_values.broadcast_mul(&rescale)? + values)?,
                )
            }
        });
        k0 += len;
    }
    let Some((_, sum, values)) = state else {
        candle_core::bail!("a query block saw no keys");
    };
    values.broadcast_div(&sum)?.to_dtype(v.dtype())
}

/// Additive mask (groups * rows, len): 0 where row `i` of the block may see key `k0 + j`, -inf
/// elsewhere; the same for every group.
#[allow(clippy::too_many_arguments)]
fn block_mask(
    visibility: Visibility,
    q0: usize,
    rows: usize,
    groups: usize,
    k0: usize,
    len: usize,
    keys: usize,
    device: &Device,
) -> Result<Tensor> {
    let mut mask = Vec::with_capacity(groups * rows * len);
    for _ in 0..groups {
        for i in 0..rows {
            let limit = visibility.key_limit(q0 + i, keys);
            mask.extend((k0..k0 + len).map(|j| if j < limit { 0f32 } else { f32::NEG_INFINITY }));
        }
    }
    Tensor::from_vec(mask, (groups * rows, len), device)
}

/// Softmax probabilities of the last query row of every head, (b, heads, Sk) in f32, under the
/// same visibility: what attention capture records for the token that row predicts. One row is
/// `heads x Sk` floats, so this stays small however long the sequence.
pub fn last_row_probabilities(
    q: &Tensor,
    k: &Tensor,
    scale: f64,
    visibility: Visibility,
) -> Result<Tensor> {
    let (b, heads, sq, d) = q.dims4()?;
    let (_, kv_heads, sk, _) = k.dims4()?;
    let groups = heads / kv_heads.max(1);
    let last = q
        .narrow(2, sq - 1, 1)?
        .contiguous()?
        .reshape((b, kv_heads, groups, d))?;
    let mut scores = (last.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
    let limit = visibility.key_limit(sq - 1, sk);
    if limit < sk {
        let mask: Vec<f32> = (0..sk)
            .map(|j| if j < limit { 0.0 } else { f32::NEG_INFINITY })
            .collect();
        scores = scores.broadcast_add(&Tensor::from_vec(mask, sk, q.device())?)?;
    }
    let max = scores.max_keepdim(D::Minus1)?;
    let weights = scores.broadcast_sub(&max)?.exp()?;
    let probs = weights.broadcast_div(&weights.sum_keepdim(D::Minus1)?)?;
    probs.reshape((b, heads, sk))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain (heads, S, S) computation, as the reference writes it.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, vis: Visibility) -> Tensor {
        let (_, heads, sq, _) = q.dims4().unwrap();
        let (_, kv, sk, _) = k.dims4().unwrap();
        let groups = heads / kv;
        let repeat = |t: &Tensor| {
            let (b, kv, s, d) = t.dims4().unwrap();
            Tensor::cat(&vec![t; groups], 2)
                .unwrap()
                .reshape((b, kv * groups, s, d))
                .unwrap()
        };
        let (k, v) = (repeat(k), repeat(v));
        let scores = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        let mask: Vec<f32> = (0..sq)
            .flat_map(|i| {
                let limit = vis.key_limit(i, sk);
                (0..sk).map(move |j| if j < limit { 0.0 } else { f32::NEG_INFINITY })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (sq, sk), q.device()).unwrap();
        let probs =
            candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask).unwrap()).unwrap();
        probs.matmul(&v).unwrap()
    }

    /// Largest absolute difference; NaN when any element is not finite.
    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        let diff: Vec<f32> = (a - b).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        diff.iter().map(|d| d.abs()).fold(0.0, |m, d| {
            if d.is_finite() && m.is_finite() {
                m.max(d)
            } else {
                f32::NAN
            }
        })
    }

    #[test]
    fn block_attention_equals_the_full_softmax_at_every_block_edge() {
        let device = Device::Cpu;
        let (heads, kv, d) = (6, 2, 8);
        for (sq, offset) in [(11, 0), (5, 9), (1, 13)] {
            let sk = offset + sq;
            let q = Tensor::randn(0f32, 1.0, (1, heads, sq, d), &device).unwrap();
            let k = Tensor::randn(0f32, 1.0, (1, kv, sk, d), &device).unwrap();
            let v = Tensor::randn(0f32, 1.0, (1, kv, sk, d), &device).unwrap();
            for vis in [
                Visibility::All,
                Visibility::Causal { offset },
                Visibility::ChunkCausal { size: 3 },
            ] {
                let expected = reference(&q, &k, &v, 0.35, vis);
                for (bq, bk) in [(1, 1), (3, 3), (7, 7), (3, 7), (64, 64), (1, 64)] {
                    let got =
                        attention(&q, &k, &v, 0.35, vis, AttentionBlocks::new(bq, bk)).unwrap();
                    let diff = max_abs_diff(&got, &expected);
                    assert!(diff < 1e-5, "{vis:?} blocks {bq}x{bk} sq {sq}: {diff}");
                }
            }
        }
    }

    #[test]
    fn last_row_probabilities_are_the_last_row_of_the_softmax() {
        let device = Device::Cpu;
        let (heads, kv, sq, sk, d) = (4, 2, 5, 9, 8);
        let q = Tensor::randn(0f32, 1.0, (1, heads, sq, d), &device).unwrap();
        let k = Tensor::randn(0f32, 1.0, (1, kv, sk, d), &device).unwrap();
        for vis in [
            Visibility::Causal { offset: 4 },
            Visibility::Causal { offset: 2 },
        ] {
            let probs = last_row_probabilities(&q, &k, 0.5, vis).unwrap();
            assert_eq!(probs.dims(), &[1, heads, sk]);
            // With v = one-hot rows of each key, attention returns the probabilities themselves.
            let eye = Tensor::eye(sk, DType::F32, &device).unwrap();
            let v = eye.unsqueeze(0).unwrap().unsqueeze(0).unwrap();
            let v = v
                .broadcast_as((1, kv, sk, sk))
                .unwrap()
                .contiguous()
                .unwrap();
            let q_wide = q.pad_with_zeros(3, 0, sk - d).unwrap();
            let k_wide = k.pad_with_zeros(3, 0, sk - d).unwrap();
            let expected = reference(&q_wide, &k_wide, &v, 0.5, vis)
                .narrow(2, sq - 1, 1)
                .unwrap()
                .squeeze(2)
                .unwrap();
            let diff = max_abs_diff(&probs, &expected);
            assert!(diff < 1e-6, "{vis:?}: {diff}");
        }
    }
}
