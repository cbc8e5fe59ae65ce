//! egui widgets and panels of keye-studio. Pure presentation over data handed in: the app owns
//! decoding, models and files, and passes frames, thumbnails, tracks and streamed text here.

pub mod player;
pub mod timeline;
pub mod toasts;
pub mod trace;

pub use player::{Direction, PlayerState, Timebase, TransportBar, fit_frame_rect, format_time};
pub use timeline::{
    CaptionSegment, FrameSpeed, FrameValue, ModelTracks, SlowFastFrame, Thumbnail, Timeline,
    TimelineView,
};
pub use toasts::{ToastLevel, Toasts};
pub use trace::{GenerationTiming, ReasoningTrace, TraceDelta, TracePhase, TraceStatus};
