//! `--screenshot-after SECS PATH`: after SECS (and once the first video frame is on screen, if a
//! video was given) the window asks eframe for its own pixels, writes them as a PNG and closes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;

use super::{GuiError, SCREENSHOT_FRAME_GRACE};

#[derive(Clone, Debug, PartialEq)]
pub struct ScreenshotRequest {
    pub after: Duration,
    pub path: PathBuf,
}

pub(super) type Outcome = Arc<Mutex<Option<Result<(), GuiError>>>>;

/// Drives one screenshot from the request to the closed window.
pub(super) struct Screenshotter {
    request: ScreenshotRequest,
    started: Instant,
    asked: bool,
    outcome: Outcome,
    /// How long past `after` the picture waits for `ready`.
    grace: Duration,
}

impl Screenshotter {
    pub fn new(request: ScreenshotRequest, outcome: Outcome) -> Self {
        Self {
            request,
            started: Instant::now(),
            asked: false,
            outcome,
            grace: SCREENSHOT_FRAME_GRACE,
        }
    }

    /// Waits up to `grace` past the requested time for what should be in the picture (an
    /// answer takes longer than a first frame).
    pub fn wait_longer(&mut self, grace: Duration) {
        self.grace = self.grace.max(grace);
    }

    /// Called every frame. `ready` says whether what should be in the picture is on screen.
    pub fn tick(&mut self, ctx: &egui::Context, ready: bool) {
        let elapsed = self.started.elapsed();
        if self.outcome.lock().is_ok_and(|slot| slot.is_some()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        let due =
            elapsed >= self.request.after && (ready || elapsed >= self.request.after + self.grace);
        if !due {
            ctx.request_repaint_after(Duration::from_millis(100));
            return;
        }
        if !self.asked {
            self.asked = true;
            let path = self.request.path.clone();
            let outcome = Arc::clone(&self.outcome);
            let repaint = ctx.clone();
            ctx.request_screenshot(move |image| {
                let result = write_png(&path, &image);
                if let Ok(mut slot) = outcome.lock() {
                    *slot = Some(result);
                }
                repaint.request_repaint();
            });
        }
        ctx.request_repaint_after(Duration::from_millis(50));
    }
}

/// Writes the window's pixels as an RGBA PNG, atomically and durably (`haic::save::write_atomic`),
/// so a reader never sees half a picture.
fn write_png(path: &std::path::Path, image: &egui::ColorImage) -> Result<(), GuiError> {
    let [width, height] = image.size;
    let bytes: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|pixel| pixel.to_array())
        .collect();
    let error = |source| GuiError::WriteScreenshot {
        path: path.to_path_buf(),
        source,
    };
    let buffer =
        image::RgbaImage::from_raw(width as u32, height as u32, bytes).ok_or_else(|| {
            error(image::ImageError::Parameter(
                image::error::ParameterError::from_kind(
                    image::error::ParameterErrorKind::DimensionMismatch,
                ),
            ))
        })?;
    let mut png = std::io::Cursor::new(Vec::new());
    buffer
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(error)?;
    haic::save::write_atomic(path, png.get_ref(), false).map_err(|e| {
        error(image::ImageError::IoError(match e {
            haic::Error::Io { error, .. } => error,
            other => std::io::Error::other(other.to_string()),
        }))
    })
}
