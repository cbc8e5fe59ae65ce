//! "Compare with…": another annotator's file opened beside the one being edited. Its events of
//! the selected record become a second caption track, and the editor lists the differences.

use std::path::Path;

use eframe::egui;
use haic::FieldNames;
use keye_ui::{Timeline, Toasts};

use super::{CaptionSession, repaint_with};
use crate::session::captions::compare::CompareFile;

impl CaptionSession {
    /// Starts reading `path` to compare the open file with; the comparison shows once it is read.
    pub fn compare_with(&mut self, path: &Path, ctx: &egui::Context, toasts: &mut Toasts) {
        match CompareFile::load_in_background(
            path.to_path_buf(),
            FieldNames::default(),
            repaint_with(ctx),
        ) {
            Ok(receiver) => self.compare_loading = Some(receiver),
            Err(error) => toasts.error(error),
        }
    }

    /// The file being compared with, once read.
    pub fn compared_file(&self) -> Option<&Path> {
        self.compare.as_ref().map(CompareFile::path)
    }

    pub fn stop_comparing(&mut self) {
        self.compare = None;
        self.compare_loading = None;
    }

    pub(super) fn poll_compare(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        if let Some(answer) = self.compare_dialog.as_ref().and_then(|d| d.try_recv().ok()) {
            self.compare_dialog = None;
            if let Some(path) = answer {
                self.compare_with(&path, ctx, toasts);
            }
        }
        let Some(result) = self
            .compare_loading
            .as_ref()
            .and_then(|r| r.try_recv().ok())
        else {
            return;
        };
        self.compare_loading = None;
        match result {
            Ok(file) => {
                toasts.info(format!(
                    "Comparing with {}: its events of the selected record are on the timeline",
                    file.name()
                ));
                self.compare = Some(file);
            }
            Err(error) => toasts.error(format!("Compare with…: {error}")),
        }
    }

    pub(super) fn start_compare_dialog(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        if self.compare_dialog.is_some() {
            return;
        }
        match self.pick_caption_file(ctx, "Compare with another annotator's caption file") {
            Ok(answer) => self.compare_dialog = Some(answer),
            Err(error) => toasts.error(error),
        }
    }

    /// The Captions menu's comparison entries.
    pub(super) fn compare_menu(&mut self, ui: &mut egui::Ui, toasts: &mut Toasts) {
        if ui
            .add_enabled(
                self.document().is_some(),
                egui::Button::new("Compare with…"),
            )
            .on_hover_text("Open another annotator's file of the same videos beside this one")
            .clicked()
        {
            self.start_compare_dialog(ui.ctx(), toasts);
        }
        if let Some(path) = self.compared_file() {
            ui.weak(format!("comparing with {}", path.display()));
            if ui.button("Stop comparing").clicked() {
                self.stop_comparing();
            }
        }
    }

    /// The other file's events of the selected record, on their own timeline track.
    pub(super) fn sync_compare_track(&mut self, timeline: &mut Timeline) {
        if let (Some(compare), Some(document), Some(record)) = (
            self.compare.as_mut(),
            self.file.document(),
            self.editor.selected(),
        ) {
            compare.refresh(document, record);
        }
        let segments = self
            .compare
            .as_ref()
            .and_then(CompareFile::current)
            .filter(|comparison| Some(comparison.record) == self.editor.selected())
            .map_or(&[][..], |comparison| &comparison.segments);
        // Copied only when they change, not every frame.
        if timeline.tracks.compare_events != segments {
            timeline.tracks.compare_events = segments.to_vec();
        }
    }
}
