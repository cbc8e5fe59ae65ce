//! Why a request is refused before the model runs, and the knobs that make it fit: plain data
//! that the crate's error type carries (so it sits below everything else in the crate).

use serde::Serialize;

/// A knob a user can turn to make a request fit, named by the caller's vocabulary (the CLI's
/// flags, the GUI's field labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Knob {
    Fps,
    MaxFrames,
    MaxPixels,
    MaxVisualTokens,
    MaxNewTokens,
}

impl Knob {
    /// The command line's flag.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Fps => "--fps",
            Self::MaxFrames => "--max-frames",
            Self::MaxPixels => "--max-pixels",
            Self::MaxVisualTokens => "--max-visual-tokens",
            Self::MaxNewTokens => "--max-new-tokens",
        }
    }
}

/// Why a request is refused before the model runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Refusal {
    /// More visual tokens than the budget allows.
    OverBudget { tokens: usize, limit: usize },
    /// The memory estimate exceeds what is free.
    OutOfMemory { estimate: MemoryEstimate, free: u64 },
}

impl Refusal {
    /// The knobs that make the request fit.
    pub fn knobs(&self) -> &'static [Knob] {
        match self {
            Self::OverBudget { .. } => &[
                Knob::Fps,
                Knob::MaxFrames,
                Knob::MaxPixels,
                Knob::MaxVisualTokens,
            ],
            Self::OutOfMemory { .. } => &[
                Knob::Fps,
                Knob::MaxFrames,
                Knob::MaxPixels,
                Knob::MaxNewTokens,
            ],
        }
    }

    /// The message, naming each knob with `name`.
    pub fn describe(&self, name: &dyn Fn(Knob) -> String) -> String {
        match self {
            Self::OverBudget { tokens, limit } => format!(
                "the media give {tokens} visual tokens, over the budget of {limit}: sample fewer \
                 frames ({}, {}), make them smaller ({}), or raise {} if the memory estimate \
                 allows it",
                name(Knob::Fps),
                name(Knob::MaxFrames),
                name(Knob::MaxPixels),
                name(Knob::MaxVisualTokens)
            ),
            Self::OutOfMemory { estimate, free } => format!(
                "this prompt needs about {} beyond the weights (KV cache {}, vision {}, decoder \
                 {}{}) but {} is free: sample fewer frames ({}, {}), make them smaller ({}), or \
                 lower {}",
                gib(estimate.peak.saturating_sub(estimate.weights)),
                gib(estimate.kv_cache),
                gib(estimate.vision),
                gib(estimate.decoder),
                if estimate.kernel_copies > 0 {
                    format!(
                        ", tiled copies of the quantized weights made on first use {}",
                        gib(estimate.kernel_copies)
                    )
                } else {
                    String::new()
                },
                gib(*free),
                name(Knob::Fps),
                name(Knob::MaxFrames),
                name(Knob::MaxPixels),
                name(Knob::MaxNewTokens)
            ),
        }
    }
}

impl std::fmt::Display for Refusal {
    /// The message with the command line's flags.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(&|knob| knob.flag().to_string()))
    }
}

/// What a prompt will need at its peak, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryEstimate {
    pub weights: u64,
    /// Keys and values of every layer for the prompt and the tokens to generate.
    pub kv_cache: u64,
    /// The vision tower's largest pass plus the rows it keeps for the decoder.
    pub vision: u64,
    /// The prompt's embeddings and the decoder's activations for one prompt chunk.
    pub decoder: u64,
    /// Tiled copies of quantized matrices the CPU kernels will make on first use (as
    /// `quantize::kernel_copy_bytes` counts them); zero once made (they are then part of what is
    /// resident) or where none are made.
    pub kernel_copies: u64,
    pub peak: u64,
}

impl MemoryEstimate {
    /// This estimate with `bytes` of kernel copies still to be made on the first prompt.
    pub fn with_kernel_copies(self, bytes: u64) -> Self {
        Self {
            kernel_copies: self.kernel_copies + bytes,
            peak: self.peak + bytes,
            ..self
        }
    }

    /// Refuses an estimate whose memory beyond the (already loaded) weights exceeds `free`
    /// bytes.
    pub fn check_fits(&self, free: u64) -> std::result::Result<(), Refusal> {
        if self.peak.saturating_sub(self.weights) <= free {
            return Ok(());
        }
        Err(Refusal::OutOfMemory {
            estimate: *self,
            free,
        })
    }
}

/// Bytes as "x.y GiB".
pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}
