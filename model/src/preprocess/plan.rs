//! What the UI draws about a video's sampling.

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
