//! The Qwen3 decoder with M-RoPE: q/k RMSNorm per head before the rotation, GQA, SiLU-gated MLP,
//! and a per-layer KV cache so decoding feeds one token at a time.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{
    Embedding, Linear, RmsNorm, VarBuilder, embedding, linear_b, linear_no_bias, rms_norm,
};

use crate::config::TextConfig;

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
    /// (layer, probabilities (1, heads, 1, keys) in f32) of the last forward, in layer order.
    pub recorded: Vec<(usize, Tensor)>,
}

/// Keys and values of every layer seen so far.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Tokens already in the cache (the next token's cache position).
    pub fn seq_len(&self) -> usize {
        match self.layers.first() {
            Some(Some((k, _))) => k.dim(2).unwrap_or(0),
            _ => 0,
        }
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
    fn new(cfg: &TextConfig, vb: VarBuilder) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let q = cfg.num_attention_heads * hd;
        let kv = cfg.num_key_value_heads * hd;
        let bias = cfg.attention_bias;
        Ok(Self {
            q_proj: linear_b(h, q, bias, vb.pp("q_proj"))?,
            k_proj: linear_b(h, kv, bias, vb.pp("k_proj"))?,
            v_proj: linear_b(h, kv, bias, vb.pp("v_proj"))?,
            o_proj: linear_b(q, h, bias, vb.pp("o_proj"))?,
            q_norm: rms_norm(hd, cfg.rms_norm_eps, vb.pp("q_norm"))?,
            k_norm: rms_norm(hd, cfg.rms_norm_eps, vb.pp("k_norm"))?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        })
    }

    /// Also returns the last query row's attention probabilities (1, heads, 1, keys) in f32
    /// when `record` is set (attention capture reads them; nothing extra is computed).
    fn forward(
        &self,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: &mut Option<(Tensor, Tensor)>,
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
        let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        let (k, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        let groups = self.num_heads / self.num_kv_heads;
        let k = repeat_kv(k, groups)?;
        let v = repeat_kv(v, groups)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let recorded = record.then(|| probs.narrow(2, s - 1, 1)).transpose()?;
        let out = probs
            .to_dtype(v.dtype())?
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, s, self.num_heads * self.head_dim))?;
        Ok((self.o_proj.forward(&out)?, recorded))
    }
}

/// Repeats each KV head `groups` times along the head axis (GQA), as `repeat_kv` does.
fn repeat_kv(xs: Tensor, groups: usize) -> Result<Tensor> {
    if groups == 1 {
        return Ok(xs);
    }
    let (b, kv, s, d) = xs.dims4()?;
    Tensor::cat(&vec![&xs; groups], 2)?.reshape((b, kv * groups, s, d))
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
    fn new(cfg: &TextConfig, vb: VarBuilder) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mvb = vb.pp("mlp");
        Ok(Self {
            input_layernorm: rms_norm(h, cfg.rms_norm_eps, vb.pp("input_layernorm"))?,
            self_attn: Attention::new(cfg, vb.pp("self_attn"))?,
            post_attention_layernorm: rms_norm(
                h,
                cfg.rms_norm_eps,
                vb.pp("post_attention_layernorm"),
            )?,
            mlp: Mlp {
                gate_proj: linear_no_bias(h, i, mvb.pp("gate_proj"))?,
                up_proj: linear_no_bias(h, i, mvb.pp("up_proj"))?,
                down_proj: linear_no_bias(i, h, mvb.pp("down_proj"))?,
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
    pub fn new(cfg: &TextConfig, vb: VarBuilder) -> Result<Self> {
        let mvb = vb.pp("model");
        let embed_tokens = embedding(cfg.vocab_size, cfg.hidden_size, mvb.pp("embed_tokens"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(cfg, mvb.pp("layers").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear::new(embed_tokens.embeddings().clone(), None)
        } else {
            linear_no_bias(cfg.hidden_size, cfg.vocab_size, vb.pp("lm_head"))?
        };
        Ok(Self {
            embed_tokens,
            layers,
            norm: rms_norm(cfg.hidden_size, cfg.rms_norm_eps, mvb.pp("norm"))?,
            lm_head,
            rotary: MultimodalRotary::new(cfg),
        })
    }

    /// Token embeddings (1, S, hidden) of `ids`.
    pub fn embed(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        let ids = Tensor::new(ids, device)?.unsqueeze(0)?;
        self.embed_tokens.forward(&ids)
    }

    /// Runs the decoder over `embeds` (1, S, hidden) at M-RoPE `positions`, appending to `cache`.
    /// Returns the hidden states after the final norm (1, S, hidden).
    pub fn forward_embeds(
        &self,
        embeds: &Tensor,
        positions: &[Vec<i64>; 3],
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        self.forward_embeds_recording(embeds, positions, cache, None)
    }

    /// `forward_embeds` that also fills `recorder` (when given) with the last position's
    /// attention probabilities in the layers it selects.
    pub fn forward_embeds_recording(
        &self,
        embeds: &Tensor,
        positions: &[Vec<i64>; 3],
        cache: &mut KvCache,
        mut recorder: Option<&mut AttentionRecorder>,
    ) -> Result<Tensor> {
        let (_, s, _) = embeds.dims3()?;
        if positions.iter().any(|axis| axis.len() != s) {
            candle_core::bail!("positions for {s} tokens expected");
        }
        let past = cache.seq_len();
        cache.layers.resize(self.layers.len(), None);
        let (cos, sin) = self
            .rotary
            .cos_sin(positions, embeds.dtype(), embeds.device())?;
        let mask = (s > 1)
            .then(|| causal_mask(s, past, embeds.device()))
            .transpose()?;
        if let Some(recorder) = recorder.as_deref_mut() {
            recorder.recorded.clear();
        }
        let mut xs = embeds.clone();
        for (i, (layer, layer_cache)) in self.layers.iter().zip(cache.layers.iter_mut()).enumerate()
        {
            let record = recorder.as_ref().is_some_and(|r| r.layers.contains(&i));
            let (attn, probs) = layer.self_attn.forward(
                &layer.input_layernorm.forward(&xs)?,
                &cos,
                &sin,
                mask.as_ref(),
                layer_cache,
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
        self.norm.forward(&xs)
    }

    /// Logits (…, vocab) from final hidden states.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }
}

/// (S, past + S) additive mask: token i sees cache entries and tokens up to itself.
fn causal_mask(s: usize, past: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..s)
        .flat_map(|i| {
            (0..past + s).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 })
        })
        .collect();
    Tensor::from_vec(mask, (s, past + s), device)
}
