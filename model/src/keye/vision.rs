//! The SigLIP-style native-resolution vision tower: patch "conv" as a linear over flattened
//! patches, a bilinearly resized learned position grid, 2-D RoPE and block-diagonal attention
//! (one block per image, per Preview video, per 1.5 frame), then a post-LayerNorm.

use candle_core::{DType, Device, Module, Result, Tensor};

use crate::{
    attention::{AttentionBlocks, Visibility, attention},
    config::VisionConfig,
    layers::{LayerNorm, Linear, Weights, layer_norm, rope},
};

/// One ViT attention block: `t` frames of `h` x `w` patches that attend to each other.
pub type Grid = [usize; 3];

/// Patch embedding plus the interpolated learned absolute position embedding.
#[derive(Debug, Clone)]
struct VisionEmbeddings {
    patch_embedding: Linear,
    /// (grid*grid, hidden), row-major over the learned grid.
    position_embedding: Tensor,
    grid: usize,
}

impl VisionEmbeddings {
    fn new(cfg: &VisionConfig, w: Weights) -> Result<Self> {
        let vb = w.vb();
        let pvb = vb.pp("patch_embedding");
        let weight = pvb
            .get(
                (
                    cfg.hidden_size,
                    cfg.num_channels,
                    cfg.patch_size,
                    cfg.patch_size,
                ),
                "weight",
            )?
            .reshape((cfg.hidden_size, cfg.patch_dim()))?;
        let bias = pvb.get(cfg.hidden_size, "bias")?;
        let grid = cfg.position_grid();
        let position_embedding = vb
            .pp("position_embedding")
            .get((grid * grid, cfg.hidden_size), "weight")?;
        Ok(Self {
            patch_embedding: Linear::new(weight, Some(bias)),
            position_embedding,
            grid,
        })
    }

    /// `pixel_values` (N, C, P, P) -> (N, hidden). A stride-P conv with a PxP kernel on one patch
    /// is exactly a linear map over its C*P*P values in (c, y, x) order.
    fn forward(&self, pixel_values: &Tensor, grids: &[Grid]) -> Result<Tensor> {
        let n = pixel_values.dim(0)?;
        let patches = pixel_values
            .reshape((n, ()))?
            .to_dtype(self.position_embedding.dtype())?;
        let embedded = self.patch_embedding.forward(&patches)?;
        let mut positions = Vec::with_capacity(grids.len());
        for &[t, h, w] in grids {
            let resized = self.interpolated_positions(h, w)?;
            positions.push(if t == 1 {
                resized
            } else {
                resized.repeat((t, 1))?
            });
        }
        embedded.add(&Tensor::cat(&positions, 0)?)
    }

    /// torch `F.interpolate(mode="bilinear", align_corners=False)` of the learned grid to (h, w),
    /// written as a (h*w, grid*grid) weight matrix so it is one matmul on any device.
    fn interpolated_positions(&self, h: usize, w: usize) -> Result<Tensor> {
        let n = self.grid;
        let ys = bilinear_taps(n, h);
        let xs = bilinear_taps(n, w);
        let mut weights = vec![0f32; h * w * n * n];
        for (y, &(y0, y1, ly0, ly1)) in ys.iter().enumerate() {
            for (x, &(x0, x1, lx0, lx1)) in xs.iter().enumerate() {
                let row = &mut weights[(y * w + x) * n * n..][..n * n];
                row[y0 * n + x0] += ly0 * lx0;
                row[y0 * n + x1] += ly0 * lx1;
                row[y1 * n + x0] += ly1 * lx0;
                row[y1 * n + x1] += ly1 * lx1;
            }
        }
        let device = self.position_embedding.device();
        let weights = Tensor::from_vec(weights, (h * w, n * n), device)?;
        weights
            .matmul(&self.position_embedding.to_dtype(DType::F32)?)?
            .to_dtype(self.position_embedding.dtype())
    }
}

/// Source taps of torch's bilinear resize (align_corners=False) from `input` to `output` samples:
/// per output index (i0, i1, weight of i0, weight of i1), computed in f32 as torch does.
fn bilinear_taps(input: usize, output: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(input - 1);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            let l1 = src - i0 as f32;
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

#[derive(Debug, Clone)]
struct VisionAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    num_heads: usize,
    head_dim: usize,
}

impl VisionAttention {
    fn new(cfg: &VisionConfig, w: Weights) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            q_proj: w.pp("q_proj").linear(d, d, true)?,
            k_proj: w.pp("k_proj").linear(d, d, true)?,
            v_proj: w.pp("v_proj").linear(d, d, true)?,
            out_proj: w.pp("out_proj").linear(d, d, true)?,
            num_heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// `xs` (L, hidden); attention only inside each `blocks` range (cu_seqlens), computed
    /// block-wise in bounded memory. With `probs_out`, each block's full softmax weights (1,
    /// heads, len, len) are computed as well and kept there: that is the inspection a researcher
    /// asks for on one frame, and its size is checked before (see `frame_attention`).
    fn forward(
        &self,
        xs: &Tensor,
        rope: &RopeTables,
        blocks: &[(usize, usize)],
        attention_blocks: AttentionBlocks,
        mut probs_out: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let l = xs.dim(0)?;
        let heads = |t: Tensor| {
            t.reshape((1, l, self.num_heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = rope.apply(&heads(self.q_proj.forward(xs)?)?)?;
        let k = rope.apply(&heads(self.k_proj.forward(xs)?)?)?;
        let v = heads(self.v_proj.forward(xs)?)?;
        let scale = (self.head_dim as f64).powf(-0.5);
        let mut outputs = Vec::with_capacity(blocks.len());
        for &(start, len) in blocks {
            let q = q.narrow(2, start, len)?;
            let k = k.narrow(2, start, len)?;
            let v = v.narrow(2, start, len)?;
            if let Some(kept) = probs_out.as_deref_mut() {
                let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
                kept.push(candle_nn::ops::softmax_last_dim(&scores)?);
            }
            outputs.push(attention(
                &q,
                &k,
                &v,
                scale,
                Visibility::All,
                attention_blocks,
            )?);
        }
        let attended = if outputs.len() == 1 {
            outputs.remove(0)
        } else {
            Tensor::cat(&outputs, 2)?
        }
        .transpose(1, 2)?
        .reshape((l, self.num_heads * self.head_dim))?;
        self.out_proj.forward(&attended)
    }
}

/// cos/sin of the 2-D rotary embedding for every packed patch.
struct RopeTables {
    cos: Tensor,
    sin: Tensor,
}

impl RopeTables {
    /// Per patch: row index and column index inside its own frame; the first half of the rotary
    /// frequencies turn with the row, the second half with the column (layout [h, w, h, w]).
    fn new(cfg: &VisionConfig, grids: &[Grid], device: &Device) -> Result<Self> {
        let rope_dim = cfg.head_dim() / 2;
        let inv_freq: Vec<f32> = (0..rope_dim / 2)
            .map(|i| 1.0 / (cfg.rope_theta as f32).powf((2 * i) as f32 / rope_dim as f32))
            .collect();
        let mut angles = Vec::new();
        for &[t, h, w] in grids {
            for idx in 0..t * h * w {
                let row = ((idx % (h * w)) / w) as f32;
                let col = (idx % w) as f32;
                angles.extend(inv_freq.iter().map(|f| row * f));
                angles.extend(inv_freq.iter().map(|f| col * f));
            }
        }
        let n = angles.len() / rope_dim;
        let angles = Tensor::from_vec(angles, (n, rope_dim), device)?;
        Ok(Self {
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    /// Rotates in f32 and casts back, as the reference does for half-precision weights.
    fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        rope(&xs.to_dtype(DType::F32)?, &self.cos, &self.sin)?.to_dtype(xs.dtype())
    }
}

/// Rows of the feed-forward computed at once: (rows x intermediate) is its largest activation.
pub const FFN_ROWS: usize = 4096;

/// Patches the tower processes in one pass when a batch holds several independent blocks (1.5
/// frames, images): blocks are grouped up to this many patches, so memory follows the pass, not
/// the whole video. A single larger block (a Preview video) still runs as one pass.
pub const VISION_PASS_PATCHES: usize = 16384;

/// The second half of a pre-LN ViT layer, `xs + fc2(act(fc1(layer_norm2(xs))))`, under the ViT's
/// weight names; Mavors' aggregator layers are built the same way and reuse it.
#[derive(Debug, Clone)]
pub(crate) struct FeedForward {
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    act: candle_nn::Activation,
}

impl FeedForward {
    /// `w` is the layer's root (`layer_norm2`, `mlp.fc1`, `mlp.fc2` below it).
    pub(crate) fn new(cfg: &VisionConfig, w: Weights) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            layer_norm2: layer_norm(d, cfg.layer_norm_eps, w.vb().pp("layer_norm2"))?,
            fc1: w
                .pp("mlp")
                .pp("fc1")
                .linear(d, cfg.intermediate_size, true)?,
            fc2: w
                .pp("mlp")
                .pp("fc2")
                .linear(cfg.intermediate_size, d, true)?,
            act: cfg.hidden_act,
        })
    }

    /// `xs` (rows, hidden) plus the MLP of its normalised self, over at most [`FFN_ROWS`] rows at
    /// a time so the wide intermediate activation stays bounded for long inputs.
    pub(crate) fn forward_residual(&self, xs: &Tensor) -> Result<Tensor> {
        let rows = xs.dim(0)?;
        let mlp = |xs: &Tensor| -> Result<Tensor> {
            self.fc2.forward(
                &self
                    .fc1
                    .forward(&self.layer_norm2.forward(xs)?)?
                    .apply(&self.act)?,
            )
        };
        if rows <= FFN_ROWS {
            return xs + mlp(xs)?;
        }
        let mut parts = Vec::with_capacity(rows.div_ceil(FFN_ROWS));
        let mut start = 0;
        while start < rows {
            let len = FFN_ROWS.min(rows - start);
            let part = xs.narrow(0, start, len)?;
            parts.push((&part + mlp(&part)?)?);
            start += len;
        }
        Tensor::cat(&parts, 0)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    layer_norm1: LayerNorm,
    self_attn: VisionAttention,
    feed_forward: FeedForward,
}

impl EncoderLayer {
    fn new(cfg: &VisionConfig, w: Weights) -> Result<Self> {
        Ok(Self {
            layer_norm1: layer_norm(
                cfg.hidden_size,
                cfg.layer_norm_eps,
                w.vb().pp("layer_norm1"),
            )?,
            self_attn: VisionAttention::new(cfg, w.pp("self_attn"))?,
            feed_forward: FeedForward::new(cfg, w)?,
        })
    }

    fn forward(
        &self,
        xs: &Tensor,
        rope: &RopeTables,
        blocks: &[(usize, usize)],
        attention_blocks: AttentionBlocks,
        probs: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let attn = self.self_attn.forward(
            &self.layer_norm1.forward(xs)?,
            rope,
            blocks,
            attention_blocks,
            probs,
        )?;
        self.feed_forward.forward_residual(&(xs + attn)?)
    }
}

/// Output of one packed ViT call.
#[derive(Debug, Clone)]
pub struct VisionOutput {
    /// Patch + position embeddings, before the encoder layers (N, hidden).
    pub embeddings: Tensor,
    /// After the encoder and post-LayerNorm (N, hidden): the projector input.
    pub last_hidden: Tensor,
}

/// `visual.vision_model`.
#[derive(Debug, Clone)]
pub struct VisionModel {
    embeddings: VisionEmbeddings,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm,
    cfg: VisionConfig,
    attention_blocks: AttentionBlocks,
}

/// The largest set of attention maps `frame_attention` builds: each inspected layer keeps a
/// (heads, patches, patches) f32 tensor, so a large frame is refused rather than exhausting memory.
pub const MAX_FRAME_ATTENTION_BYTES: usize = 2 << 30;

impl VisionModel {
    pub fn new(cfg: &VisionConfig, w: Weights) -> Result<Self> {
        let w = w.pp("vision_model");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| EncoderLayer::new(cfg, w.pp("encoder").pp("layers").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embeddings: VisionEmbeddings::new(cfg, w.pp("embeddings"))?,
            layers,
            post_layernorm: layer_norm(
                cfg.hidden_size,
                cfg.layer_norm_eps,
                w.vb().pp("post_layernorm"),
            )?,
            cfg: cfg.clone(),
            attention_blocks: AttentionBlocks::default(),
        })
    }

    /// Query and key rows per attention block (results are the same for every size).
    pub fn set_attention_blocks(&mut self, blocks: AttentionBlocks) {
        self.attention_blocks = blocks;
    }

    /// One packed call over all `grids` (patches concatenated in grid order); each grid is one
    /// attention block. The caller picks the blocks: per image, per Preview video, per 1.5 frame.
    pub fn forward(&self, pixel_values: &Tensor, grids: &[Grid]) -> Result<VisionOutput> {
        let total: usize = grids.iter().map(|[t, h, w]| t * h * w).sum();
        let n = pixel_values.dim(0)?;
        if n != total {
            candle_core::bail!("{n} patches given for grids {grids:?}, which need {total}");
        }
        if total <= VISION_PASS_PATCHES || grids.len() == 1 {
            return self
                .forward_inspecting(pixel_values, grids, &[])
                .map(|(output, _)| output);
        }
        // Blocks never attend to each other, so consecutive groups of them are separate passes.
        let (mut embeddings, mut last_hidden) = (Vec::new(), Vec::new());
        let (mut first, mut start) = (0, 0);
        while first < grids.len() {
            let mut end = first;
            let mut patches = 0;
            while end < grids.len() {
                let [t, h, w] = grids[end];
                if end > first && patches + t * h * w > VISION_PASS_PATCHES {
                    break;
                }
                patches += t * h * w;
                end += 1;
            }
            let (output, _) = self.forward_inspecting(
                &pixel_values.narrow(0, start, patches)?,
                &grids[first..end],
                &[],
            )?;
            embeddings.push(output.embeddings);
            last_hidden.push(output.last_hidden);
            first = end;
            start += patches;
        }
        Ok(VisionOutput {
            embeddings: Tensor::cat(&embeddings, 0)?,
            last_hidden: Tensor::cat(&last_hidden, 0)?,
        })
    }

    /// The tower's own attention on one frame (or image) of `grid` = `[1, h, w]` patches: for each
    /// layer in `layers`, the softmax weights `(heads, h*w, h*w)` in f32, patches in raster order.
    /// For researchers: where each patch looks inside the frame.
    pub fn frame_attention(
        &self,
        pixel_values: &Tensor,
        grid: Grid,
        layers: &[usize],
    ) -> Result<VisionAttentionMaps> {
        if grid[0] != 1 {
            candle_core::bail!("frame attention is for one frame, got grid {grid:?}");
        }
        if let Some(bad) = layers.iter().find(|&&l| l >= self.layers.len()) {
            candle_core::bail!(
                "vision layer {bad} does not exist (the tower has {})",
                self.layers.len()
            );
        }
        let patches = grid[1] * grid[2];
        let bytes = layers.len() * self.cfg.num_attention_heads * patches * patches * 4;
        if bytes > MAX_FRAME_ATTENTION_BYTES {
            candle_core::bail!(
                "the frame has {patches} patches; the attention maps of {} layer(s) would take {:.1} \
                 GiB (at most {:.1} GiB): ask for fewer layers or a smaller frame (lower max_pixels)",
                layers.len(),
                bytes as f64 / (1u64 << 30) as f64,
                MAX_FRAME_ATTENTION_BYTES as f64 / (1u64 << 30) as f64
            );
        }
        let (output, maps) = self.forward_inspecting(pixel_values, &[grid], layers)?;
        Ok(VisionAttentionMaps {
            grid: (grid[1], grid[2]),
            layers: layers
                .iter()
                .copied()
                .zip(maps.into_iter().map(|m| m.squeeze(0)))
                .map(|(layer, probs)| probs.map(|p| (layer, p)))
                .collect::<Result<_>>()?,
            output,
        })
    }

    /// `forward`, keeping the attention weights of `inspect` layers (one block each).
    fn forward_inspecting(
        &self,
        pixel_values: &Tensor,
        grids: &[Grid],
        inspect: &[usize],
    ) -> Result<(VisionOutput, Vec<Tensor>)> {
        let total: usize = grids.iter().map(|[t, h, w]| t * h * w).sum();
        let n = pixel_values.dim(0)?;
        if n != total {
            candle_core::bail!("{n} patches given for grids {grids:?}, which need {total}");
        }
        let embeddings = self.embeddings.forward(pixel_values, grids)?;
        let rope = RopeTables::new(&self.cfg, grids, embeddings.device())?;
        let mut blocks = Vec::with_capacity(grids.len());
        let mut start = 0;
        for [t, h, w] in grids {
            blocks.push((start, t * h * w));
            start += t * h * w;
        }
        let mut xs = embeddings.clone();
        let mut kept = Vec::new();
        let mut maps = Vec::with_capacity(inspect.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let wanted = inspect.contains(&i);
            xs = layer.forward(
                &xs,
                &rope,
                &blocks,
                self.attention_blocks,
                wanted.then_some(&mut kept),
            )?;
            if wanted {
                maps.append(&mut kept);
            }
        }
        // In the order asked for.
        let maps = inspect
            .iter()
            .map(|l| {
                let rank = inspect.iter().filter(|&&o| o < *l).count();
                maps[rank].clone()
            })
            .collect();
        let last_hidden = self.post_layernorm.forward(&xs)?;
        Ok((
            VisionOutput {
                embeddings,
                last_hidden,
            },
            maps,
        ))
    }
}

/// The vision tower's attention inside one frame.
#[derive(Debug, Clone)]
pub struct VisionAttentionMaps {
    /// (rows, cols) of patches.
    pub grid: (usize, usize),
    /// (layer, weights (heads, rows*cols, rows*cols)) in the order asked for.
    pub layers: Vec<(usize, Tensor)>,
    /// The tower's output for the frame (identical to a plain forward).
    pub output: VisionOutput,
}

impl VisionAttentionMaps {
    /// Writes every inspected layer as `layer.L` (heads, patches, patches) in f32.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let tensors = self
            .layers
            .iter()
            .map(|(layer, probs)| Ok((format!("layer.{layer}"), probs.to_dtype(DType::F32)?)))
            .collect::<Result<std::collections::HashMap<_, _>>>()?;
        candle_core::safetensors::save(&tensors, path)
    }

    /// Where the patch at (`row`, `col`) looks in `layer`: `rows*cols` weights summing to 1,
    /// averaged over heads or for one `head`.
    pub fn map_for_patch(
        &self,
        layer: usize,
        row: usize,
        col: usize,
        head: Option<usize>,
    ) -> Result<Vec<f32>> {
        let (rows, cols) = self.grid;
        if row >= rows || col >= cols {
            candle_core::bail!("patch ({row}, {col}) is outside the {rows}x{cols} grid");
        }
        let Some((_, probs)) = self.layers.iter().find(|(l, _)| *l == layer) else {
            candle_core::bail!("layer {layer} was not inspected");
        };
        let query = probs.narrow(1, row * cols + col, 1)?.squeeze(1)?;
        let map = match head {
            Some(h) => query.get(h)?,
            None => query.mean(0)?,
        };
        map.to_vec1::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::bilinear_taps;

    #[test]
    fn bilinear_taps_match_torch_align_corners_false() {
        // torch: 4 -> 8 samples: src = (o + 0.5) * 0.5 - 0.5, clamped at 0.
        let taps = bilinear_taps(4, 8);
        assert_eq!(taps[0], (0, 1, 1.0, 0.0));
        assert_eq!(taps[1], (0, 1, 0.75, 0.25));
        assert_eq!(taps[7], (3, 3, 0.75, 0.25));
        // Same size is the identity.
        for (o, tap) in bilinear_taps(5, 5).into_iter().enumerate() {
            assert_eq!((tap.0, tap.2), (o, 1.0));
        }
    }
}
