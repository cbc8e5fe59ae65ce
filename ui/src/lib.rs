//! egui widgets and panels of keye-studio. Pure presentation over data handed in: the app owns
//! decoding, models and files, and passes frames, thumbnails, tracks and streamed text here.

pub mod captions;
pub mod player;
pub mod timeline;
pub mod toasts;
pub mod trace;

pub use captions::{CaptionAction, CaptionEditor, DraftAvailability, EditorEnv};
pub use player::{Direction, PlayerState, Timebase, TransportBar, fit_frame_rect, format_time};
pub use timeline::{
    CaptionEdgeDrag, CaptionSegment, FrameSpeed, FrameValue, ModelTracks, SegmentEdge,
    SlowFastFrame, Thumbnail, Timeline, TimelineView,
};
pub use toasts::{ToastLevel, Toasts};
pub use trace::{GenerationTiming, ReasoningTrace, TraceDelta, TracePhase, TraceStatus};
