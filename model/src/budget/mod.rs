//! Visual-token budgets and memory estimates, worked out before a question runs: how many frames
//! and pixels the encoders may sample, how many visual tokens a prompt may hold, and what peak
//! memory a prompt will need on the loaded model. A request over budget is refused with a message
//! naming the knob to turn, instead of the machine running out of memory half-way.

pub mod refusal;

use serde::{Deserialize, Serialize};

pub use refusal::{Knob, MemoryEstimate, Refusal, gib};

use crate::{
    attention::AttentionBlocks,
    config::KeyeConfig,
    keye::vision::{FFN_ROWS, VISION_PASS_PATCHES},
    preprocess::ImageProcessorConfig,
    video::VideoPlanSettings,
};

/// Pixels of one merged vision token (a 28 x 28 square: 2 x 2 patches of 14).
const TOKEN_PIXELS: u64 = 28 * 28;

/// The sampling knobs and the ceiling on visual tokens per prompt. `None` keeps the encoder's
/// own default for that knob.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VisualBudget {
    /// At most this many sampled frames per video.
    pub max_frames: Option<usize>,
    /// Frames sampled per second of video.
    pub fps: Option<f64>,
    /// At most this many pixels per frame or image (after resizing).
    pub max_pixels: Option<u64>,
    /// At most this many visual tokens in one prompt.
    pub max_visual_tokens: usize,
}

impl Default for VisualBudget {
    /// The encoders' own sampling with the 1.5 processor's per-video ceiling (65,536 tokens).
    fn default() -> Self {
        Self {
            max_frames: None,
            fps: None,
            max_pixels: None,
            max_visual_tokens: 65_536,
        }
    }
}

impl VisualBudget {
    /// The default for a loaded model with `free_bytes` of memory left beside its weights: as
    /// many visual tokens as half of that memory holds at [`bytes_per_prompt_token`] each
    /// (between 1,024 and 65,536).
    pub fn for_memory(config: &KeyeConfig, act_bytes: usize, free_bytes: u64) -> Self {
        let per_token = bytes_per_prompt_token(config, act_bytes).max(1);
        let tokens = (free_bytes / 2 / per_token as u64).clamp(1024, 65_536);
        Self {
            max_visual_tokens: tokens as usize,
            ..Self::default()
        }
    }

    /// Applies the sampling knobs to the video planners and the image processor.
    pub fn apply(&self, settings: &mut VideoPlanSettings, processor: &mut ImageProcessorConfig) {
        if let Some(fps) = self.fps {
            settings.preview.fps = Some(fps);
            settings.slowfast.fps = Some(fps);
            settings.mavors.sample_fps = fps;
        }
        if let Some(frames) = self.max_frames {
            settings.preview.max_frames = Some(frames as f64);
            settings.slowfast.max_frames = Some(frames as u64);
            let per_chunk = settings.mavors.chunk_frames.max(1);
            settings.mavors.max_chunks = frames.div_ceil(per_chunk).max(1);
        }
        if let Some(pixels) = self.max_pixels {
            let pixels = pixels.max(TOKEN_PIXELS * 4);
            settings.preview.max_pixels = Some(pixels as f64);
            settings.slowfast.max_pixels = Some(pixels);
            processor.max_pixels = pixels.max(processor.min_pixels);
        }
    }

    /// Refuses `visual_tokens` over the ceiling.
    pub fn check(&self, visual_tokens: usize) -> std::result::Result<(), Refusal> {
        if visual_tokens <= self.max_visual_tokens {
            return Ok(());
        }
        Err(Refusal::OverBudget {
            tokens: visual_tokens,
            limit: self.max_visual_tokens,
        })
    }
}

/// Bytes one more prompt token costs while the model answers: its KV cache rows in every layer
/// and its input embedding row, plus (for a visual token) the vision tower's retained rows.
pub fn bytes_per_prompt_token(config: &KeyeConfig, act_bytes: usize) -> usize {
    let t = &config.text;
    let v = &config.vision;
    let kv = t.num_hidden_layers * 2 * t.num_key_value_heads * t.head_dim * act_bytes;
    let merge = v.spatial_merge_size * v.spatial_merge_size;
    // Each merged token is `merge` patches of the tower's width, kept as embeddings and output.
    let vision = merge * v.hidden_size * 2 * act_bytes;
    kv + t.hidden_size * act_bytes + vision
}

/// The sizes an estimate depends on, besides the model's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PromptShape {
    pub prompt_tokens: usize,
    pub max_new_tokens: usize,
    /// Patches the vision tower encodes (4 per merged visual token).
    pub vision_patches: usize,
    /// The largest single attention block of the tower, in patches (a Preview video is one).
    pub largest_vision_block: usize,
}

/// Estimates the peak memory of answering a prompt of `shape` with a model of `config` whose
/// weights take `weights_bytes`, computing in `act_bytes`-byte floats, prefilling in chunks of
/// `prefill_chunk` with attention `blocks`.
pub fn estimate_memory(
    config: &KeyeConfig,
    weights_bytes: u64,
    act_bytes: usize,
    prefill_chunk: usize,
    blocks: AttentionBlocks,
    shape: PromptShape,
) -> MemoryEstimate {
    let t = &config.text;
    let v = &config.vision;
    let act = act_bytes as u64;
    let tokens = (shape.prompt_tokens + shape.max_new_tokens) as u64;
    let kv_cache =
        t.num_hidden_layers as u64 * 2 * (t.num_key_value_heads * t.head_dim) as u64 * tokens * act;
    // Score blocks are f32 whatever the weights: scores, exponentials and the mask.
    let score_block = |heads: usize| (heads * blocks.query * blocks.key) as u64 * 4 * 3;
    let vision = if shape.vision_patches == 0 {
        0
    } else {
        let pass = shape
            .largest_vision_block
            .max(VISION_PASS_PATCHES.min(shape.vision_patches)) as u64;
        let ffn_rows = (FFN_ROWS as u64).min(pass);
        // Live in one layer: residual, normed, q, k, v, attention output (f32 for rope), plus the
        // feed-forward's rows and the score blocks.
        let pass_bytes = pass * v.hidden_size as u64 * (act * 6 + 4 * 2)
            + ffn_rows * v.intermediate_size as u64 * act * 2
            + score_block(v.num_attention_heads);
        // Kept for the decoder: embeddings and output of every patch, projected rows.
        let kept = shape.vision_patches as u64 * v.hidden_size as u64 * act * 2
            + (shape.vision_patches / (v.spatial_merge_size * v.spatial_merge_size).max(1)) as u64
                * t.hidden_size as u64
                * act;
        pass_bytes + kept
    };
    let chunk = prefill_chunk.min(shape.prompt_tokens.max(1)) as u64;
    let q_width = (t.num_attention_heads * t.head_dim) as u64;
    let decoder = shape.prompt_tokens as u64 * t.hidden_size as u64 * act
        + chunk * (t.hidden_size as u64 * 4 + q_width * 3 + t.intermediate_size as u64 * 3) * act
        + score_block(t.num_attention_heads)
        + t.vocab_size as u64 * 4 * 2;
    // The tower runs before the cache is allocated, and its rows are freed before the decoder's
    // chunks run (the projected rows live on inside the embeddings the decoder counts).
    let peak = weights_bytes + vision.max(kv_cache + decoder);
    MemoryEstimate {
        weights: weights_bytes,
        kv_cache,
        vision,
        decoder,
        kernel_copies: 0,
        peak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::BenchSize;

    #[test]
    fn the_estimate_grows_linearly_with_the_prompt() {
        let config = BenchSize::Keye15_8b.config().unwrap();
        let at = |tokens: usize| {
            estimate_memory(
                &config,
                0,
                2,
                512,
                AttentionBlocks::default(),
                PromptShape {
                    prompt_tokens: tokens,
                    max_new_tokens: 0,
                    vision_patches: 0,
                    largest_vision_block: 0,
                },
            )
            .peak
        };
        let (a, b, c) = (at(2048), at(4096), at(8192));
        // Equal steps in tokens give equal steps in bytes (no quadratic term).
        assert_eq!(c - b, 2 * (b - a));
        // Qwen3-8B's bf16 KV cache is 144 KiB a token.
        let kv_per_token = 36 * 2 * 8 * 128 * 2;
        assert_eq!(kv_per_token, 147_456);
        assert!(b - a >= 2048 * kv_per_token as u64);
    }

    #[test]
    fn over_budget_requests_name_the_knobs() {
        let budget = VisualBudget {
            max_visual_tokens: 100,
            ..VisualBudget::default()
        };
        assert!(budget.check(100).is_ok());
        let message = budget.check(101).unwrap_err().to_string();
        assert!(
            message.contains("101 visual tokens, over the budget of 100"),
            "{message}"
        );
        assert!(message.contains("--max-pixels") && message.contains("--fps"));
        let estimate = MemoryEstimate {
            weights: 10,
            kv_cache: 3 << 30,
            vision: 0,
            decoder: 1 << 30,
            kernel_copies: 0,
            peak: (4 << 30) + 10,
        };
        assert!(estimate.check_fits(5 << 30).is_ok());
        let message = estimate.check_fits(1 << 30).unwrap_err().to_string();
        assert!(
            message.contains("needs about 4.00 GiB beyond the weights"),
            "{message}"
        );
        // Tiles the kernels have yet to make count against the free memory, and are named.
        let first_prompt = estimate.with_kernel_copies(2 << 30);
        let message = first_prompt.check_fits(5 << 30).unwrap_err().to_string();
        assert!(
            message.contains("needs about 6.00 GiB beyond the weights")
                && message.contains("first use 2.00 GiB"),
            "{message}"
        );
    }

    #[test]
    fn sampling_knobs_reach_every_planner_and_the_image_processor() {
        let mut settings = VideoPlanSettings::default();
        let mut processor = ImageProcessorConfig::default();
        VisualBudget {
            max_frames: Some(40),
            fps: Some(1.0),
            max_pixels: Some(200_704),
            max_visual_tokens: 8192,
        }
        .apply(&mut settings, &mut processor);
        assert_eq!(settings.preview.fps, Some(1.0));
        assert_eq!(settings.slowfast.max_frames, Some(40));
        assert_eq!(settings.mavors.sample_fps, 1.0);
        assert_eq!(settings.mavors.max_chunks, 40usize.div_ceil(16));
        assert_eq!(processor.max_pixels, 200_704);
        assert_eq!(settings.slowfast.max_pixels, Some(200_704));
    }
}
