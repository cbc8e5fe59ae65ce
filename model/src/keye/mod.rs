//! Keye-VL (8B-Preview and 1.5): vision tower -> projector -> placeholder scatter -> Qwen3 with
//! M-RoPE. `forward` exposes every intermediate the goldens check; `DecodeState` + `decode_step`
//! continue from a prefill one token at a time (the base of streaming generation).

pub mod projector;
pub mod rope_index;
pub mod text;
pub mod vision;

use std::{
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use rope_index::{RopeBlock, RopeIndex, RopeIndexSpec, get_rope_index};
pub use text::{AttentionRecorder, ExplicitForward, KvCache};
pub use vision::{Grid, VisionAttentionMaps, VisionOutput};

use crate::{
    attention::AttentionBlocks,
    checkpoint::LoadOptions,
    config::KeyeConfig,
    error::{Error, Result},
    layers::Weights,
};

/// Patches of one packed ViT call and the blocks they form. Each block is one attention block,
/// one projector merge unit and one rope-index block.
#[derive(Debug, Clone)]
pub struct VisionBatch {
    /// (N, C, P, P), blocks concatenated in order, raster order inside each frame.
    pub pixel_values: Tensor,
    pub blocks: Vec<RopeBlock>,
}

impl VisionBatch {
    /// Images: one block per image grid (t = 1).
    pub fn images(pixel_values: Tensor, grids: Vec<Grid>) -> Self {
        let blocks = grids
            .into_iter()
            .map(|grid| RopeBlock {
                grid,
                second_per_grid_t: 0.0,
            })
            .collect();
        Self {
            pixel_values,
            blocks,
        }
    }

    /// Preview videos: one block per whole video (T, h, w) with its seconds per frame (1/fps).
    pub fn preview_videos(pixel_values: Tensor, videos: Vec<(Grid, f32)>) -> Self {
        let blocks = videos
            .into_iter()
            .map(|(grid, second_per_grid_t)| RopeBlock {
                grid,
                second_per_grid_t,
            })
            .collect();
        Self {
            pixel_values,
            blocks,
        }
    }

    /// 1.5 SlowFast videos: one block per frame of (h, w) patches, every frame's t index 0.
    pub fn slowfast_frames(pixel_values: Tensor, frames: &[(usize, usize)]) -> Self {
        let blocks = frames
            .iter()
            .map(|&(h, w)| RopeBlock {
                grid: [1, h, w],
                second_per_grid_t: 0.0,
            })
            .collect();
        Self {
            pixel_values,
            blocks,
        }
    }

    pub fn grids(&self) -> Vec<Grid> {
        self.blocks.iter().map(|b| b.grid).collect()
    }
}

/// Video tokens already in the decoder's width, from an encoder other than Keye's own tower
/// (Mavors): one row per video placeholder token, and the rope blocks that place them.
#[derive(Debug, Clone)]
pub struct EncodedVideos {
    /// (tokens, text hidden), videos and their blocks in prompt order.
    pub tokens: Tensor,
    pub blocks: Vec<RopeBlock>,
}

/// A tokenized prompt with its vision inputs. Videos come either as pixels for Keye's tower
/// (`videos`) or already encoded (`encoded_videos`), never both.
#[derive(Debug, Clone)]
pub struct KeyeInputs {
    pub input_ids: Vec<u32>,
    pub images: Option<VisionBatch>,
    pub videos: Option<VisionBatch>,
    pub encoded_videos: Option<EncodedVideos>,
}

/// ViT and projector outputs of one vision batch.
#[derive(Debug, Clone)]
pub struct VisionEncoding {
    pub vit: VisionOutput,
    /// (tokens, text hidden): one row per placeholder token, in prompt order.
    pub projected: Tensor,
}

/// Everything one prefill forward computed.
#[derive(Debug, Clone)]
pub struct ForwardOutput {
    pub images: Option<VisionEncoding>,
    pub videos: Option<VisionEncoding>,
    /// (1, S, hidden): token embeddings with the vision rows scattered in.
    pub inputs_embeds: Tensor,
    /// (1, S, hidden): after the final RMSNorm. `KeyeModel::logits` turns it into logits.
    pub hidden: Tensor,
    pub rope: RopeIndex,
}

/// The prompt ready for the decoder (what [`KeyeModel::prefill`] feeds it).
struct Embedded {
    images: Option<VisionEncoding>,
    videos: Option<VisionEncoding>,
    inputs_embeds: Tensor,
    rope: RopeIndex,
}

/// What decoding after a prefill needs: the KV cache and the M-RoPE offset.
#[derive(Debug, Clone, Default)]
pub struct DecodeState {
    pub cache: KvCache,
    /// Added to the cache position to get every axis' position of a decoded token.
    pub rope_delta: i64,
}

/// A loaded Keye-VL model.
#[derive(Debug, Clone)]
pub struct KeyeModel {
    config: KeyeConfig,
    visual: vision::VisionModel,
    projector: projector::Projector,
    text: text::TextModel,
    device: Device,
    dtype: DType,
    attention_blocks: AttentionBlocks,
    prefill_chunk: usize,
}

/// How a prefill runs beyond its inputs: what it records and keeps, and when it stops.
#[derive(Debug, Default)]
pub struct Prefill<'a> {
    /// Records the last prompt position's attention in the layers it selects (the row that
    /// predicts the first generated token).
    pub recorder: Option<&'a mut AttentionRecorder>,
    /// Checked between vision encoding and each prompt chunk.
    pub cancel: Option<&'a AtomicBool>,
    /// Keep only what generation needs: the last position's hidden state, and no vision
    /// intermediates (`ForwardOutput::images` / `videos` are `None`). Without it every row and
    /// intermediate is kept, as the golden checks compare them all.
    pub lean: bool,
}

/// Prompt tokens per decoder pass unless set otherwise: a prompt goes through in chunks of this
/// many against the KV cache, so activations stay bounded however long it is.
pub const DEFAULT_PREFILL_CHUNK: usize = 512;

impl KeyeModel {
    /// Builds the model from dense weights named as in the real checkpoints.
    pub fn new(config: &KeyeConfig, vb: VarBuilder) -> Result<Self> {
        Self::from_weights(config, Weights::dense(vb))
    }

    /// Builds the model from weights named as in the real checkpoints, some linear layers
    /// possibly quantized.
    pub fn from_weights(config: &KeyeConfig, w: Weights) -> Result<Self> {
        Ok(Self {
            visual: vision::VisionModel::new(&config.vision, w.pp("visual"))?,
            projector: projector::Projector::new(config, w.pp(projector::WEIGHT_PREFIX))?,
            text: text::TextModel::new(&config.text, w.clone())?,
            config: config.clone(),
            device: w.vb().device().clone(),
            dtype: w.vb().dtype(),
            attention_blocks: AttentionBlocks::default(),
            prefill_chunk: DEFAULT_PREFILL_CHUNK,
        })
    }

    /// Query and key rows per attention block, in the decoder and the vision tower. Results are
    /// the same for every size; larger blocks are faster and take more memory.
    pub fn set_attention_blocks(&mut self, blocks: AttentionBlocks) {
        self.attention_blocks = blocks;
        self.visual.set_attention_blocks(blocks);
    }

    /// Prompt tokens per decoder pass (at least 1).
    pub fn set_prefill_chunk(&mut self, tokens: usize) {
        self.prefill_chunk = tokens.max(1);
    }

    pub fn prefill_chunk(&self) -> usize {
        self.prefill_chunk
    }

    pub fn attention_blocks(&self) -> AttentionBlocks {
        self.attention_blocks
    }

    /// Loads a checkpoint (a Hugging Face folder or a keye-studio GGUF) through the one loader,
    /// [`crate::Runtime::load`], and keeps only the model.
    pub fn load(path: &Path, options: LoadOptions) -> Result<Self> {
        Ok(crate::Runtime::load(path, options)?.model)
    }

    pub fn config(&self) -> &KeyeConfig {
        &self.config
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Runs one packed ViT call and the projector.
    pub fn encode_vision(&self, batch: &VisionBatch) -> Result<VisionEncoding> {
        let grids = batch.grids();
        let v = &self.config.vision;
        let dims = batch.pixel_values.dims();
        if dims.len() != 4 || dims[1..] != [v.num_channels, v.patch_size, v.patch_size] {
            return Err(Error::Input(format!(
                "pixel values must be (N, {}, {p}, {p}), got {dims:?}",
                v.num_channels,
                p = v.patch_size
            )));
        }
        let m = v.spatial_merge_size;
        if let Some(bad) = grids
            .iter()
            .find(|[t, h, w]| *t == 0 || h % m != 0 || w % m != 0 || *h == 0 || *w == 0)
        {
            return Err(Error::Input(format!(
                "grid {bad:?} must be non-empty with h and w divisible by the merge size {m}"
            )));
        }
        let pixel_values = batch
            .pixel_values
            .to_device(&self.device)?
            .to_dtype(self.dtype)?;
        let vit = self.visual.forward(&pixel_values, &grids)?;
        let projected = self.projector.forward(&vit.last_hidden, &grids)?;
        Ok(VisionEncoding { vit, projected })
    }

    /// The vision tower's own attention inside one frame or image (`(1, h, w)` patches, in the
    /// processor's patch layout), for the selected tower layers.
    pub fn vision_attention(
        &self,
        pixel_values: &Tensor,
        grid: Grid,
        layers: &[usize],
    ) -> Result<VisionAttentionMaps> {
        let pixel_values = pixel_values.to_device(&self.device)?.to_dtype(self.dtype)?;
        Ok(self.visual.frame_attention(&pixel_values, grid, layers)?)
    }

    /// [`KeyeModel::vision_attention`] on an image (or a decoded video frame) preprocessed as the
    /// processor prepares images.
    pub fn image_vision_attention(
        &self,
        image: &image::RgbImage,
        processor: &crate::preprocess::ImageProcessorConfig,
        layers: &[usize],
    ) -> Result<VisionAttentionMaps> {
        let patches = crate::preprocess::preprocess_image(image, processor)?;
        let p = self.config.vision.patch_size;
        let n = patches.num_patches();
        let grid = patches.grid_thw;
        let pixels = Tensor::from_vec(patches.pixel_values, (n, 3, p, p), &self.device)?;
        self.vision_attention(&pixels, grid, layers)
    }

    /// M-RoPE positions for a prompt with these vision blocks.
    pub fn rope_index(
        &self,
        input_ids: &[u32],
        images: &[RopeBlock],
        videos: &[RopeBlock],
    ) -> Result<RopeIndex> {
        let spec = RopeIndexSpec {
            image_token_id: self.config.tokens.image,
            video_token_id: self.config.tokens.video,
            spatial_merge_size: self.config.vision.spatial_merge_size,
            tokens_per_second: self.config.vision.tokens_per_second,
            images,
            videos,
        };
        get_rope_index(input_ids, &spec)
    }

    /// Prefill: vision encoding, scatter into the placeholder rows, rope index, decoder. Fills
    /// `state` so decoding can continue. Keeps every intermediate (see [`Prefill::lean`]).
    pub fn forward(&self, inputs: &KeyeInputs, state: &mut DecodeState) -> Result<ForwardOutput> {
        self.prefill(inputs, state, Prefill::default())
    }

    /// [`KeyeModel::forward`] with recording, cancellation and what to keep chosen by `how`. The
    /// prompt goes through the decoder in chunks of [`KeyeModel::prefill_chunk`] tokens.
    pub fn prefill(
        &self,
        inputs: &KeyeInputs,
        state: &mut DecodeState,
        how: Prefill,
    ) -> Result<ForwardOutput> {
        let Embedded {
            images,
            videos,
            inputs_embeds,
            rope,
        } = self.embed_inputs(inputs, how.cancel)?;
        // Lean: the ViT activations are not needed past the scatter.
        let (images, videos) = if how.lean {
            (None, None)
        } else {
            (images, videos)
        };
        let past = state.cache.seq_len() as i64;
        let positions = if past == 0 {
            rope.positions.clone()
        } else {
            // A follow-up prompt continues after the cached tokens.
            let shift = past + state.rope_delta;
            rope.positions
                .clone()
                .map(|axis| axis.into_iter().map(|p| p + shift).collect())
        };
        let hidden = self.run_decoder(
            &inputs_embeds,
            &positions,
            &mut state.cache,
            how.recorder,
            how.cancel,
            !how.lean,
        )?;
        // The prompt's own offset adds to what the cached tokens already had.
        state.rope_delta = if past == 0 {
            rope.rope_delta
        } else {
            state.rope_delta + rope.rope_delta
        };
        Ok(ForwardOutput {
            images,
            videos,
            inputs_embeds,
            hidden,
            rope,
        })
    }

    /// The prompt as the decoder sees it: validated ids, vision encodings scattered into the
    /// placeholder rows, and the M-RoPE positions. `cancel` is checked after each vision batch.
    fn embed_inputs(&self, inputs: &KeyeInputs, cancel: Option<&AtomicBool>) -> Result<Embedded> {
        let ids = &inputs.input_ids;
        if ids.is_empty() {
            return Err(Error::Input("the prompt has no tokens".into()));
        }
        let vocab = self.config.text.vocab_size;
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::Input(format!(
                "token id {bad} is outside the vocabulary ({vocab})"
            )));
        }
        let video_blocks = match (&inputs.videos, &inputs.encoded_videos) {
            (Some(_), Some(_)) => {
                return Err(Error::Input(
                    "videos come either as pixels or already encoded, not both".into(),
                ));
            }
            (Some(batch), None) => batch.blocks.as_slice(),
            (None, Some(encoded)) => encoded.blocks.as_slice(),
            (None, None) => &[],
        };
        let image_blocks = inputs.images.as_ref().map_or(&[][..], |b| &b.blocks);
        let rope = self.rope_index(ids, image_blocks, video_blocks)?;
        let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        let images = inputs
            .images
            .as_ref()
            .map(|b| self.encode_vision(b))
            .transpose()?;
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let videos = inputs
            .videos
            .as_ref()
            .map(|b| self.encode_vision(b))
            .transpose()?;
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let video_rows = match (&videos, &inputs.encoded_videos) {
            (Some(encoding), _) => Some(encoding.projected.clone()),
            (None, Some(encoded)) => Some(encoded.tokens.to_dtype(self.dtype)?),
            (None, None) => None,
        };
        let inputs_embeds = self.scatter_vision(
            ids,
            images.as_ref().map(|e| &e.projected),
            video_rows.as_ref(),
        )?;
        Ok(Embedded {
            images,
            videos,
            inputs_embeds,
            rope,
        })
    }

    /// [`KeyeModel::prefill`]'s input side alone: the prompt's embeddings (1, S, hidden), vision
    /// rows scattered in, and its rope index. The decoder does not run.
    pub fn embed_prompt(&self, inputs: &KeyeInputs) -> Result<(Tensor, RopeIndex)> {
        let embedded = self.embed_inputs(inputs, None)?;
        Ok((embedded.inputs_embeds, embedded.rope))
    }

    /// Token embeddings (1, S, hidden) of text ids.
    pub fn embed_tokens(&self, ids: &[u32]) -> Result<Tensor> {
        if let Some(bad) = ids
            .iter()
            .find(|&&id| id as usize >= self.config.text.vocab_size)
        {
            return Err(Error::Input(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        Ok(self.text.embed(ids, &self.device)?)
    }

    /// The decoder over `embeds` (1, S, hidden) at `positions`, continuing `cache` (in chunks of
    /// [`KeyeModel::prefill_chunk`]); the final-normed hidden states of every row.
    pub fn decode_embeds(
        &self,
        embeds: &Tensor,
        positions: &[Vec<i64>; 3],
        cache: &mut KvCache,
        cancel: Option<&AtomicBool>,
    ) -> Result<Tensor> {
        self.run_decoder(embeds, positions, cache, None, cancel, true)
    }

    /// The decoder over a whole sequence with every layer's attention probabilities
    /// materialised (see [`text::TextModel::forward_explicit`]), for attribution.
    pub fn forward_explicit(
        &self,
        embeds: &Tensor,
        positions: &[Vec<i64>; 3],
        probes: Option<&[Tensor]>,
    ) -> Result<ExplicitForward> {
        Ok(self.text.forward_explicit(embeds, positions, probes)?)
    }

    /// The decoder over `embeds` in chunks of `prefill_chunk` tokens against the cache; the final
    /// hidden states of every row, or of the last one.
    fn run_decoder(
        &self,
        embeds: &Tensor,
        positions: &[Vec<i64>; 3],
        cache: &mut KvCache,
        mut recorder: Option<&mut AttentionRecorder>,
        cancel: Option<&AtomicBool>,
        all_rows: bool,
    ) -> Result<Tensor> {
        let s = embeds.dim(1)?;
        let mut rows = Vec::new();
        let mut start = 0;
        while start < s {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::Cancelled);
            }
            let len = self.prefill_chunk.min(s - start);
            let last = start + len == s;
            let chunk_positions = positions
                .each_ref()
                .map(|axis| axis[start..start + len].to_vec());
            let hidden = self.text.forward_chunk(
                &embeds.narrow(1, start, len)?,
                &chunk_positions,
                cache,
                if last { recorder.as_deref_mut() } else { None },
                self.attention_blocks,
            )?;
            if all_rows {
                rows.push(hidden);
            } else if last {
                rows.push(hidden.narrow(1, len - 1, 1)?);
            }
            start += len;
        }
        let hidden = if rows.len() == 1 {
            rows.remove(0)
        } else {
            Tensor::cat(&rows, 1)?
        };
        Ok(self.text.final_norm(&hidden)?)
    }

    /// Feeds one generated token; returns its logits (vocab,) in f32.
    pub fn decode_step(&self, token: u32, state: &mut DecodeState) -> Result<Tensor> {
        self.decode_step_recording(token, state, None)
    }

    /// `decode_step` that also records the token's attention in the layers `recorder` selects.
    pub fn decode_step_recording(
        &self,
        token: u32,
        state: &mut DecodeState,
        recorder: Option<&mut AttentionRecorder>,
    ) -> Result<Tensor> {
        if token as usize >= self.config.text.vocab_size {
            return Err(Error::Input(format!(
                "token id {token} is outside the vocabulary"
            )));
        }
        let position = state.cache.seq_len() as i64 + state.rope_delta;
        let positions = [vec![position], vec![position], vec![position]];
        let embeds = self.text.embed(&[token], &self.device)?;
        let hidden = self.text.forward_chunk(
            &embeds,
            &positions,
            &mut state.cache,
            recorder,
            self.attention_blocks,
        )?;
        let hidden = self.text.final_norm(&hidden)?;
        Ok(self
            .text
            .logits(&hidden)?
            .flatten_all()?
            .to_dtype(DType::F32)?)
    }

    /// Logits (…, vocab) in f32 for hidden states from `forward`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.text.logits(hidden)?.to_dtype(DType::F32)?)
    }

    /// Token embeddings with vision rows (decoder width) in place of the image / video
    /// placeholders.
    fn scatter_vision(
        &self,
        ids: &[u32],
        images: Option<&Tensor>,
        videos: Option<&Tensor>,
    ) -> Result<Tensor> {
        let text = self.text.embed(ids, &self.device)?.squeeze(0)?;
        let s = ids.len();
        let n_images = images.map_or(Ok(0), |t| t.dim(0))?;
        let n_videos = videos.map_or(Ok(0), |t| t.dim(0))?;
        let (mut next_image, mut next_video) = (s, s + n_images);
        let mut index = Vec::with_capacity(s);
        for (i, &id) in ids.iter().enumerate() {
            if id == self.config.tokens.image {
                index.push(next_image as u32);
                next_image += 1;
            } else if id == self.config.tokens.video {
                index.push(next_video as u32);
                next_video += 1;
            } else {
                index.push(i as u32);
            }
        }
        if next_image != s + n_images || next_video != s + n_images + n_videos {
            return Err(Error::Input(format!(
                "placeholder tokens ({} image, {} video) do not match the vision features \
                 ({n_images} image, {n_videos} video)",
                next_image - s,
                next_video - s - n_images
            )));
        }
        let mut rows = vec![text];
        rows.extend(images.cloned());
        rows.extend(videos.cloned());
        let source = Tensor::cat(&rows, 0)?;
        let index = Tensor::new(index, &self.device)?;
        Ok(source.index_select(&index, 0)?.unsqueeze(0)?)
    }
}
