//! egui widgets and panels of keye-studio. Pure presentation over data handed in: the app owns
//! decoding, models and files, and passes frames, thumbnails, tracks and streamed text here.

pub mod ask;
pub mod budget;
pub mod captions;
pub mod capture;
pub mod evidence;
pub mod heatmap;
pub mod model_panel;
pub mod player;
pub mod timeline;
pub mod toasts;
pub mod trace;

pub use ask::{
    AskAction, AskAvailability, AskPanel, AskRequest, AskTurn, ConversationView, NO_MODEL_HINT,
    SamplingSettings, ThinkingChoice, TokenSelection,
};
pub use budget::{BudgetSettings, EstimateView, PromptCost};
pub use captions::score::{MissedQuestion, ScoreAction, ScorePanel, ScoreSummary, ScoreView};
pub use captions::{
    CaptionAction, CaptionEditor, CaptionSearch, Comparison, DraftAvailability, EditorCommand,
    EditorEnv, PlayerCommand, SearchAction, SearchHitView, SuggestionMark, SuspectMark,
};
pub use capture::CaptureControls;
pub use evidence::{
    AggregationInfo, EvidenceAction, EvidenceControls, EvidenceRow, EvidenceView, RawHeads,
};
pub use heatmap::{
    Aggregation, CapturedLayers, HeadChoice, HeatGrid, HeatmapControls, HeatmapResponse, aggregate,
};
pub use model_panel::{
    BuildDevices, DevicePick, DtypePick, HOW_TO_GET_A_MODEL, LoadChoice, ModelAction, ModelPanel,
    ModelState, ModelSummary, QuantizePick, REMOTE_ATTENTION_NOTE, SaveProgress, ServerForm,
    ServerSummary,
};
pub use player::{
    Direction, PlaySpan, PlayerState, Timebase, TransportBar, fit_frame_rect, format_time,
};
pub use timeline::{
    CaptionEdgeDrag, CaptionSegment, FrameSpeed, FrameValue, ModelTracks, SegmentEdge,
    SlowFastFrame, Thumbnail, Timeline, TimelineView, WaveformPeaks, WaveformTrack,
};
pub use toasts::{ToastLevel, Toasts};
pub use trace::{
    GenerationTiming, ReasoningTrace, TokenInteraction, TokenPiece, TraceDelta, TracePhase,
    TraceStatus,
};
