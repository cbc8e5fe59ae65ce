//! The Qwen3 decoder with M-RoPE: q/k RMSNorm per head before the rotation, GQA, SiLU-gated MLP,
//! and a per-layer KV cache so decoding feeds one token at a time. A prompt goes through in
//! chunks against the cache and attention is computed block-wise, so no (heads, S, S) tensor
//! exists and memory grows linearly with the prompt.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, embedding};

use crate::{
    attention::{AttentionBlocks, Visibility, attention, last_row_probabilities},
    config::TextConfig,
    layers::{Linear, RmsNorm, Weights, rms_norm, rope},
};

/// Multimodal rotary embedding: the half head dimension is split into (t, h, w) sections, each
/// rotated by the token's position on that axis.
#[derive(Debug, Clone)]
struct MultimodalRotary {
    inv_freq: Vec<f32>,
    section: [usize; 3],
}

impl MultimodalRotary {
    fn new(cfg: &TextConfig) -> Self {
        let dim = cfg.head_dim;
        let inv_freq = (0..dim / 2)
            .map(|i| 1.0 / (cfg.rope_theta as f32).powf((2 * i) as f32 / dim as f32))
            .collect();
        Self {
            inv_freq,
            section: cfg.mrope_section,
        }
    }

    /// cos/sin of shape (S, head_dim/2) for positions `[t, h, w]` (each of length S), computed in
    /// f32 and cast to the activation dtype as the reference does.
    fn cos_sin(
        &self,
        positions: &[Vec<i64>; 3],
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let s = positions[0].len();
        let half = self.inv_freq.len();
        let mut angles = Vec::with_capacity(s * half);
        let [t, h, w] = positions;
        for ((&t, &h), &w) in t.iter().zip(h).zip(w) {
            let mut j = 0;
            for (p, &len) in [t, h, w].into_iter().zip(&self.section) {
                let p = p as f32;
                angles.extend(self.inv_freq[j..j + len].iter().map(|f| p * f));
                j += len;
            }
        }
        let angles = Tensor::from_vec(angles, (s, half), device)?;
        Ok((
            angles.cos()?.to_dtype(dtype)?,
            angles.sin()?.to_dtype(dtype)?,
        ))
    }
}

/// Selected decoder layers whose last-row attention probabilities a forward records.
#[derive(Debug, Clone, Default)]
pub struct AttentionRecorder {
    /// Layer indices to record.
    pub layers: Vec<usize>,
    /// (layer, probabilities (heads, keys) in f32) of the last position of the last forward, in
    /// layer order: freshly computed rows, not views of a larger tensor.
    pub recorded: Vec<(usize, Tensor)>,
}

/// Keys and values of every layer seen so far, in buffers that grow in amortised steps (or are
/// reserved up front) so that appending a token copies only that token.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    /// Tokens the buffers are sized for when they are first allocated.
    reserved: usize,
}

#[derive(Debug, Clone)]
struct LayerCache {
    /// (1, kv_heads, capacity, head_dim); only the first `len` positions hold data.
    keys: Tensor,
    values: Tensor,
    len: usize,
}

impl KvCache {
    /// A cache whose buffers hold `tokens` positions before they need to grow (a prompt plus the
    /// tokens to generate), so a generation never reallocates.
    pub fn with_capacity(tokens: usize) -> Self {
        Self {
            layers: Vec::new(),
            reserved: tokens,
        }
    }

    /// Tokens already in the cache (the next token's cache position).
    pub fn seq_len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len)
    }

    /// Bytes the cache's buffers take (capacity, not only what is filled).
    pub fn allocated_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| 2 * l.keys.elem_count() * l.keys.dtype().size_in_bytes())
            .sum()
    }

    /// A copy of the cache in fresh buffers with room for `extra` more tokens: appending to the
    /// copy never writes into this cache's buffers (a clone shares them), so one cached prefix can
    /// be continued several ways.
    pub fn fork(&self, extra: usize) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let (_, kv_heads, _, head_dim) = l.keys.dims4()?;
                let copy = |t: &Tensor| -> Result<Tensor> {
                    let buffer = Tensor::zeros(
                        (1, kv_heads, l.len + extra.max(1), head_dim),
                        t.dtype(),
                        t.device(),
                    )?;
                    if l.len > 0 {
                        buffer.slice_set(&t.narrow(2, 0, l.len)?.contiguous()?, 2, 0)?;
                    }
                    Ok(buffer)
                };
                Ok(LayerCache {
                    keys: copy(&l.keys)?,
                    values: copy(&l.values)?,
                    len: l.len,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            reserved: self.seq_len() + extra,
        })
    }

    /// Appends `k`, `v` (1, kv_heads, s, head_dim) to `layer` and returns every cached key and
    /// value so far (views into the buffers).
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (_, kv_heads, s, head_dim) = k.dims4()?;
        if self.layers.len() <= layer {
            let capacity = self.reserved.max(s);
            let zeros = || Tensor::zeros((1, kv_heads, capacity, head_dim), k.dtype(), k.device());
            self.layers.push(LayerCache {
                keys: zeros()?,
                values: zeros()?,
                len: 0,
            });
        }
        let cache = &mut self.layers[layer];
        let needed = cache.len + s;
        let capacity = cache.keys.dim(2)?;
        if needed > capacity {
            // Grow by half again (at least to what is needed): amortised O(1) copies per token.
            let grown = needed.max(capacity + capacity / 2).max(64);
            let grow = |old: &Tensor| -> Result<Tensor> {
                let buffer =
                    Tensor::zeros((1, kv_heads, grown, head_dim), old.dtype(), old.device())?;
                if cache.len > 0 {
                    buffer.slice_set(&old.narrow(2, 0, cache.len)?.contiguous()?, 2, 0)?;
                }
                Ok(buffer)
            };
            cache.keys = grow(&cache.keys)?;
            cache.values = grow(&cache.values)?;
        }
        cache.keys.slice_set(&k.contiguous()?, 2, cache.len)?;
        cache.values.slice_set(&v.contiguous()?, 2, cache.len)?;
        cache.len = needed;
        Ok((
            cache.keys.narrow(2, 0, needed)?,
            cache.values.narrow(2, 0, needed)?,
        ))
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &TextConfig, w: Weights) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let q = cfg.num_attention_heads * hd;
        let kv = cfg.num_key_value_heads * hd;
        let bias = cfg.attention_bias;
        Ok(Self {
            q_proj: w.pp("q_proj").linear(h, q, bias)?,
            k_proj: w.pp("k_proj").linear(h, kv, bias)?,
            v_proj: w.pp("v_proj").linear(h, kv, bias)?,
            o_proj: w.pp("o_proj").linear(q, h, bias)?,
            q_norm: rms_norm(hd, cfg.rms_norm_eps, w.pp("q_norm").vb().clone())?,
            k_norm: rms_norm(hd, cfg.rms_norm_eps, w.pp("k_norm").vb().clone())?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        })
    }

    /// Attends the chunk `xs` (1, S, hidden) to everything cached before it and to itself
    /// (causally), appending its keys and values to `cache`. With `record`, also returns the last
    /// row's probabilities (heads, keys) in f32.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut KvCache,
        layer: usize,
        past: usize,
        blocks: AttentionBlocks,
        record: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (b, s, _) = xs.dims3()?;
        let split = |t: Tensor, heads: usize| -> Result<Tensor> {
            t.reshape((b, s, heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q_proj.forward(xs)?, self.num_heads)?.apply(&self.q_norm)?;
        let k = split(self.k_proj.forward(xs)?, self.num_kv_heads)?.apply(&self.k_norm)?;
        let v = split(self.v_proj.forward(xs)?, self.num_kv_heads)?;
        let q = rope(&q, cos, sin)?;
        let k = rope(&k, cos, sin)?;
        // A training forward keeps the graph: no in-place cache, keys are only this chunk's.
        let (k, v) = if k.track_op() {
            (k, v)
        } else {
            cache.append(layer, &k, &v)?
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let visibility = Visibility::Causal { offset: past };
        let recorded = record
            .then(|| last_row_probabilities(&q, &k, scale, visibility)?.squeeze(0))
            .transpose()?;
        let out = attention(&q, &k, &v, scale, visibility, blocks)?
            .transpose(1, 2)?
            .reshape((b, s, self.num_heads * self.head_dim))?;
        Ok((self.o_proj.forward(&out)?, recorded))
    }
}

impl Attention {
    /// Attention over the whole sequence `xs` (1, S, hidden) with the causal probabilities
    /// (heads, S, S) in f32 materialised and returned; `probe` (heads, S, S), when given, is added
    /// to them before they weigh the values (a zero `Var` there yields the gradient with respect
    /// to the probabilities; a small perturbation, a finite difference).
    fn forward_explicit(
        &self,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        probe: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let (b, s, _) = xs.dims3()?;
        let split = |t: Tensor, heads: usize| -> Result<Tensor> {
            t.reshape((b, s, heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = rope(
            &split(self.q_proj.forward(xs)?, self.num_heads)?.apply(&self.q_norm)?,
            cos,
            sin,
        )?;
        let k = rope(
            &split(self.k_proj.forward(xs)?, self.num_kv_heads)?.apply(&self.k_norm)?,
            cos,
            sin,
        )?;
        let v = split(self.v_proj.forward(xs)?, self.num_kv_heads)?;
        // Hugging Face's repeat_kv: query head h reads key/value head h / groups.
        let groups = self.num_heads / self.num_kv_heads;
        let repeat = |t: &Tensor| -> Result<Tensor> {
            let (b, kv, s, d) = t.dims4()?;
            t.unsqueeze(2)?
                .broadcast_as((b, kv, groups, s, d))?
                .reshape((b, kv * groups, s, d))
        };
        let (k, v) = (repeat(&k)?, repeat(&v)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
        let mask: Vec<f32> = (0..s)
            .flat_map(|i| (0..s).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let mask = Tensor::from_vec(mask, (s, s), xs.device())?;
        // The plain-ops softmax: the fused kernel has no backward pass.
        let probs = candle_nn::ops::softmax(&scores.broadcast_add(&mask)?, candle_core::D::Minus1)?
            .squeeze(0)?;
        let weights = match probe {
            Some(probe) => (&probs + probe)?,
            None => probs.clone(),
        };
        let out = weights
            .unsqueeze(0)?
            .to_dtype(v.dtype())?
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, s, self.num_heads * self.head_dim))?;
        Ok((self.o_proj.forward(&out)?, probs))
    }
}

/// What [`TextModel::forward_explicit`] returns.
#[derive(Debug, Clone)]
pub struct ExplicitForward {
    /// (1, S, hidden) after the final norm.
    pub hidden: Tensor,
    /// Per layer, the attention probabilities (heads, S, S) in f32, before any probe is added.
    pub probs: Vec<Tensor>,
    /// Per layer, the L2 norm (S,) in f32 of each position's hidden state entering the layer.
    pub norms: Vec<Tensor>,
}

#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let gate = self.gate_proj.forward(xs)?.silu()?;
        self.down_proj.forward(&(gate * self.up_proj.forward(xs)?)?)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl DecoderLayer {
    fn new(cfg: &TextConfig, w: Weights) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mlp = w.pp("mlp");
        Ok(Self {
            input_layernorm: rms_norm(h, cfg.rms_norm_eps, w.vb().pp("input_layernorm"))?,
            self_attn: Attention::new(cfg, w.pp("self_attn"))?,
            post_attention_layernorm: rms_norm(
                h,
                cfg.rms_norm_eps,
                w.vb().pp("post_attention_layernorm"),
            )?,
            mlp: Mlp {
                gate_proj: mlp.pp("gate_proj").linear(h, i, false)?,
                up_proj: mlp.pp("up_proj").linear(h, i, false)?,
                down_proj: mlp.pp("down_proj").linear(i, h, false)?,
            },
        })
    }
}

/// The causal LM: `model.*` plus `lm_head`.
#[derive(Debug, Clone)]
pub struct TextModel {
    embed_tokens: Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Linear,
    rotary: MultimodalRotary,
}

impl TextModel {
    pub fn new(cfg: &TextConfig, w: Weights) -> Result<Self> {
        let mw = w.pp("model");
        let embed_tokens = embedding(cfg.vocab_size, cfg.hidden_size, mw.vb().pp("embed_tokens"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(cfg, mw.pp("layers").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear::new(embed_tokens.embeddings().clone(), None)
        } else {
            w.pp("lm_head")
                .linear(cfg.hidden_size, cfg.vocab_size, false)?
        };
        Ok(Self {
            embed_tokens,
            layers,
            norm: rms_norm(cfg.hidden_size, cfg.rms_norm_eps, mw.vb().pp("norm"))?,
            lm_head,
            rotary: MultimodalRotary::new(cfg),
        })
    }

    /// Token embeddings (1, S, hidden) of `ids`.
    pub fn embed(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        let ids = Tensor::new(ids, device)?.unsqueeze(0)?;
        self.embed_tokens.forward(&ids)
    }

    /// One pass of the decoder layers over `embeds` (1, S, hidden) at M-RoPE `positions`,
    /// attending to the cache and appending to it; returns the hidden states before the final
    /// norm. `recorder`, when given, gets the last position's attention in the layers it selects.
    /// `KeyeModel` feeds a prompt through this in chunks.
    pub fn forward_chunk(
        &self,
        embeds: &Tensor,
        positions: &[Vec<i64>; 3],
        cache: &mut KvCache,
        mut recorder: Option<&mut AttentionRecorder>,
        blocks: AttentionBlocks,
    ) -> Result<Tensor> {
        let (_, s, _) = embeds.dims3()?;
        if s == 0 || positions.iter().any(|axis| axis.len() != s) {
            candle_core::bail!("positions for {s} tokens expected");
        }
        if let Some(recorder) = recorder.as_deref_mut() {
            recorder.recorded.clear();
        }
        let (cos, sin) = self
            .rotary
            .cos_sin(positions, embeds.dtype(), embeds.device())?;
        // Tokens cached before this chunk (every layer's cache grows by the chunk in the loop).
        let past = cache.seq_len();
        let mut xs = embeds.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let record = recorder.as_ref().is_some_and(|r| r.layers.contains(&i));
            let (attn, probs) = layer.self_attn.forward(
                &layer.input_layernorm.forward(&xs)?,
                &cos,
                &sin,
                cache,
                i,
                past,
                blocks,
                record,
            )?;
            if let (Some(recorder), Some(probs)) = (recorder.as_deref_mut(), probs) {
                recorder.recorded.push((i, probs));
            }
            xs = (xs + attn)?;
            let mlp = layer
                .mlp
                .forward(&layer.post_attention_layernorm.forward(&xs)?)?;
            xs = (xs + mlp)?;
        }
        Ok(xs)
    }

    /// The decoder over a whole sequence without a cache, every layer's attention probabilities
    /// materialised (for attribution: memory grows with heads x S x S per layer, so this is for
    /// one prompt at a time, never for generating). `probes[l]` (heads, S, S) is added to layer
    /// `l`'s probabilities when given.
    pub fn forward_explicit(
        &self,
        embeds: &Tensor,
        positions: &[Vec<i64>; 3],
        probes: Option<&[Tensor]>,
    ) -> Result<ExplicitForward> {
        let (_, s, _) = embeds.dims3()?;
        if s == 0 || positions.iter().any(|axis| axis.len() != s) {
            candle_core::bail!("positions for {s} tokens expected");
        }
        if probes.is_some_and(|p| p.len() != self.layers.len()) {
            candle_core::bail!(
                "one probe per decoder layer ({}) expected",
                self.layers.len()
            );
        }
        let (cos, sin) = self
            .rotary
            .cos_sin(positions, embeds.dtype(), embeds.device())?;
        let mut xs = embeds.clone();
        let (mut probs, mut norms) = (Vec::new(), Vec::new());
        for (i, layer) in self.layers.iter().enumerate() {
            norms.push(
                xs.to_dtype(DType::F32)?
                    .sqr()?
                    .sum(candle_core::D::Minus1)?
                    .sqrt()?
                    .squeeze(0)?
                    .detach(),
            );
            let (attn, p) = layer.self_attn.forward_explicit(
                &layer.input_layernorm.forward(&xs)?,
                &cos,
                &sin,
                probes.map(|p| &p[i]),
            )?;
            probs.push(p.detach());
            xs = (xs + attn)?;
            let mlp = layer
                .mlp
                .forward(&layer.post_attention_layernorm.forward(&xs)?)?;
            xs = (xs + mlp)?;
        }
        Ok(ExplicitForward {
            hidden: self.norm.forward(&xs)?,
            probs,
            norms,
        })
    }

    /// The final RMSNorm.
    pub fn final_norm(&self, hidden: &Tensor) -> Result<Tensor> {
        self.norm.forward(hidden)
    }

    /// Logits (…, vocab) from final hidden states.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }
}
