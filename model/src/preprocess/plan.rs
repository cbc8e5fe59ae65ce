//! What the UI draws about a video's sampling, and the 1.5 prompt expansion.

use super::FrameKind;

/// How a sampled frame is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FrameLabel {
    /// 1.5: full token budget.
    Slow,
    /// 1.5: reduced token budget, wrapped in fast markers.
    Fast,
    /// Preview: every frame alike.
    Uniform,
}

/// One sampled frame as the model will see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlannedFrame {
    /// Index of the frame in the decoded source (or in the given frame list).
    pub source_index: usize,
    /// Seconds from the start; `None` for a frame list given without fps.
    pub timestamp_s: Option<f64>,
    pub label: FrameLabel,
    /// `[t, h, w]` in patches of this frame.
    pub grid_thw: [usize; 3],
    /// Placeholder tokens this frame occupies in the prompt (after the 2x2 merge).
    pub tokens: usize,
}

/// The sampling of one video, frame by frame.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SamplingPlan {
    pub frames: Vec<PlannedFrame>,
    /// Preview: the sampled frame rate that sets the temporal rope stride; `None` for 1.5.
    pub sample_fps: Option<f64>,
}

impl SamplingPlan {
    /// Vision tokens of the whole video.
    pub fn total_tokens(&self) -> usize {
        self.frames.iter().map(|f| f.tokens).sum()
    }
}

/// The token strings of the 1.5 video prompt; read them from the tokenizer's added tokens when
/// they differ from the defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoPromptTokens {
    pub frame: String,
    pub fast_start: String,
    pub fast_end: String,
    pub video_pad: String,
}

impl Default for VideoPromptTokens {
    fn default() -> Self {
        Self {
            frame: "<|frame|>".into(),
            fast_start: "<|fast_start|>".into(),
            fast_end: "<|fast_end|>".into(),
            video_pad: "<|video_pad|>".into(),
        }
    }
}

/// The 1.5 processor's replacement for a video's single `<|video_pad|>`: per frame
/// `<|frame|>` + `format(ts, ".1f")` (no number without timestamps), then the frame's pads,
/// wrapped in `<|fast_start|>`/`<|fast_end|>` for fast frames. `frames` holds each frame's kind
/// and resized `(height, width)`.
pub fn slowfast_video_prompt(
    frames: &[(FrameKind, (u32, u32))],
    timestamps: Option<&[f32]>,
    patch_size: u32,
    merge_size: u32,
    tokens: &VideoPromptTokens,
) -> String {
    let (p, m) = (patch_size.max(1), merge_size.max(1));
    let mut out = String::new();
    for (i, &(kind, (h, w))) in frames.iter().enumerate() {
        out.push_str(&tokens.frame);
        if let Some(ts) = timestamps.and_then(|t| t.get(i)) {
            // Python formats the float32 value widened to a double; Rust's exact decimal
            // expansion with ties to even gives the same digits.
            out.push_str(&format!("{:.1}", *ts as f64));
        }
        let pads = ((h / p) * (w / p) / (m * m)) as usize;
        let body = tokens.video_pad.repeat(pads);
        match kind {
            FrameKind::Slow => out.push_str(&body),
            FrameKind::Fast => {
                out.push_str(&tokens.fast_start);
                out.push_str(&body);
                out.push_str(&tokens.fast_end);
            }
        }
    }
    out
}
