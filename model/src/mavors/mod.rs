//! Mavors (arXiv 2504.10068): a video as chunks of F consecutive frames. An intra-chunk encoder
//! (3-D patch embedding, the Keye-VL ViT, 2x2 pooling) keeps spatial detail; an inter-chunk causal
//! transformer with chunk-level rotary positions (C-RoPE) links the chunks in time. Keye-studio's choices
//! where the paper is silent are in `shared/docs/mavors.md`, "Our instantiation".

mod config;
mod crope;
pub(crate) mod error;
mod fold;
mod geometry;
mod ifa;
mod ive;
mod model;
mod pixels;
mod plan;

pub use config::{CONFIG_SECTION, MavorsConfig, VideoEncoder};
pub use crope::ChunkRotary;
pub use error::{MavorsError, Result};
pub use geometry::{FrameGeometry, ImageSlicing, SliceRect, best_slice_grid};
pub use ifa::{InterChunkAggregator, Projector};
pub use ive::{IntraChunkEncoder, IveOutput};
pub use model::{Mavors, MavorsOutput, MavorsWeights, WEIGHT_PREFIX};
pub use pixels::{frame_patches, image_patches};
pub use plan::{Chunk, ChunkPlan};
