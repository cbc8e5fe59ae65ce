//! The desktop app: an eframe window (wgpu renderer) over the video engine and the `keye-ui`
//! panels. Decoding runs on the engine's worker threads; the UI thread only polls channels,
//! uploads finished frames and draws.

mod app;
/// Public for the demo model's heatmap test, which drives the ask controller as the GUI does.
pub mod ask;
mod captions;
mod fonts;
pub mod frame_view;
pub mod heatmap_view;
mod media;
mod model;
mod playback;
mod quad;
mod screenshot;
mod server;
mod settings;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::StudioApp;
pub use playback::{PlaybackReport, run_playback_bench};
pub use screenshot::ScreenshotRequest;

/// Window size on start (points); the smoke test checks screenshots against it.
pub const INITIAL_WINDOW_SIZE: [f32; 2] = [1152.0, 720.0];

/// What the command line asked the GUI to open.
#[derive(Clone, Debug, Default)]
pub struct LaunchOptions {
    pub video: Option<PathBuf>,
    /// A checkpoint folder (Hugging Face layout).
    pub model: Option<PathBuf>,
    /// `--device` / `--dtype` / `--quantize`: the model manager's choice, over the remembered
    /// one.
    pub device: Option<keye_model::device::DeviceChoice>,
    pub dtype: Option<keye_model::device::DTypeChoice>,
    pub quantize: Option<keye_model::quantize::QuantizeSpec>,
    /// A HAIC caption file (JSON or JSONL).
    pub captions: Option<PathBuf>,
    /// Ask this question once the model and the video are ready, as if typed and sent (smoke
    /// tests, demos).
    pub ask: Option<String>,
    /// The ask panel's thinking choice at launch (`None`: auto, the panel's default).
    pub thinking: Option<keye_ui::ThinkingChoice>,
    /// Write a PNG of the window after a while and exit (smoke tests, README images).
    pub screenshot: Option<ScreenshotRequest>,
}

#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    #[error("cannot open the window: {0}")]
    Window(String),
    #[error("{path}: cannot write the screenshot: {source}")]
    WriteScreenshot {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("the window closed before the screenshot for {path} was taken")]
    ScreenshotNotTaken { path: PathBuf },
    /// `bench playback` could not play the video (the message names the file).
    #[error("{0}")]
    Playback(String),
}

/// Opens the window and runs until it closes. With a screenshot request, returns once the PNG is
/// written (or with the reason it could not be).
pub fn run(options: LaunchOptions) -> Result<(), GuiError> {
    let screenshot_outcome: Arc<Mutex<Option<Result<(), GuiError>>>> = Arc::default();
    let wanted_screenshot = options.screenshot.as_ref().map(|s| s.path.clone());
    let native_options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("keye-studio")
            .with_app_id("keye-studio")
            .with_inner_size(INITIAL_WINDOW_SIZE)
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    let outcome = Arc::clone(&screenshot_outcome);
    eframe::run_native(
        "keye-studio",
        native_options,
        Box::new(move |cc| Ok(Box::new(StudioApp::new(cc, options, outcome)))),
    )
    .map_err(|error| GuiError::Window(error.to_string()))?;
    let outcome = screenshot_outcome
        .lock()
        .map(|mut slot| slot.take())
        .unwrap_or(None);
    match (wanted_screenshot, outcome) {
        (_, Some(result)) => result,
        (Some(path), None) => Err(GuiError::ScreenshotNotTaken { path }),
        (None, None) => Ok(()),
    }
}

/// How long a screenshot waits past its time for the first video frame before it is taken anyway.
const SCREENSHOT_FRAME_GRACE: Duration = Duration::from_secs(15);
