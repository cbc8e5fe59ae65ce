//! Mengzi and search in the caption panel: the Mengzi folder (Captions menu, remembered in the
//! settings), the suspects of the record being edited handed to the editor, and the search box
//! whose results jump to their record and field. The state is the session's [`CaptionAssist`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use eframe::egui;
use keye_ui::{SearchAction, Toasts, captions::Field};

use super::{CaptionSession, repaint_with};
use crate::session::captions::assist::MengziState;

impl CaptionSession {
    /// Uses the Mengzi checkpoint folder `dir` for checks and re-ranking (or none).
    pub fn set_mengzi(
        &mut self,
        dir: Option<PathBuf>,
        toasts: &mut Toasts,
        repaint: impl Fn() + Send + 'static,
    ) {
        self.assist.set_model(dir, toasts, repaint);
    }

    /// The Mengzi folder to remember in the settings (none when it failed to load).
    pub fn mengzi_dir(&self) -> Option<&Path> {
        self.assist.model_dir()
    }

    /// Once per frame: the worker's answers, a check of the settled record, and the suspects
    /// and search results handed to the panels.
    pub(super) fn tick_assist(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        self.poll_mengzi_dialog(ctx, toasts);
        let now = Instant::now();
        self.assist
            .tick(self.file.document(), self.editor.selected(), now, toasts);
        if let Some(marks) = self.assist.take_marks() {
            self.editor.set_suspects(marks);
        }
        if let Some(results) = self.assist.take_results() {
            match results {
                Some(results) => self.search.show_results(results.heading, results.hits),
                None => self.search.clear(),
            }
        }
        if let Some(wait) = self.assist.wake_in(now) {
            ctx.request_repaint_after(wait);
        }
    }

    /// The Captions menu's Mengzi entries.
    pub(super) fn mengzi_menu(&mut self, ui: &mut egui::Ui, toasts: &mut Toasts) {
        ui.separator();
        if ui
            .button("Mengzi model folder…")
            .on_hover_text(
                "A Mengzi BERT checkpoint (e.g. mengzi-bert-base) to check Chinese text and re-rank search",
            )
            .clicked()
        {
            self.start_mengzi_dialog(ui.ctx(), toasts);
        }
        if ui
            .add_enabled(
                *self.assist.model() != MengziState::Off,
                egui::Button::new("Stop using Mengzi"),
            )
            .clicked()
        {
            self.set_mengzi(None, toasts, repaint_with(ui.ctx()));
        }
    }

    fn start_mengzi_dialog(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        if self.mengzi_dialog.is_some() {
            return;
        }
        let start_dir = self
            .mengzi_dir()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let (sender, answer) = crossbeam_channel::bounded(1);
        let repaint = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("mengzi-dialog".into())
            .spawn(move || {
                let mut dialog =
                    rfd::FileDialog::new().set_title("Choose a Mengzi BERT checkpoint folder");
                if let Some(dir) = start_dir {
                    dialog = dialog.set_directory(dir);
                }
                let _ = sender.send(dialog.pick_folder());
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => self.mengzi_dialog = Some(answer),
            Err(error) => toasts.error(format!("Cannot open the folder dialog: {error}")),
        }
    }

    fn poll_mengzi_dialog(&mut self, ctx: &egui::Context, toasts: &mut Toasts) {
        let Some(answer) = self.mengzi_dialog.as_ref().and_then(|d| d.try_recv().ok()) else {
            return;
        };
        self.mengzi_dialog = None;
        if let Some(dir) = answer {
            self.set_mengzi(Some(dir), toasts, repaint_with(ctx));
        }
    }

    /// The search box, "Find similar", the results, and the Mengzi line.
    pub(super) fn search_ui(&mut self, ui: &mut egui::Ui) {
        let Some(document) = self.file.document() else {
            return;
        };
        egui::CollapsingHeader::new("Search")
            .id_salt("caption-search")
            .default_open(true)
            .show(ui, |ui| {
                if let Some(line) = self.assist.model_line() {
                    let failed = matches!(self.assist.model(), MengziState::Failed(..));
                    if failed {
                        ui.colored_label(ui.visuals().error_fg_color, line);
                    } else {
                        ui.weak(line);
                    }
                }
                for action in self.search.ui(ui, self.editor.selected()) {
                    match action {
                        SearchAction::Search(words) => {
                            self.assist.search(document, words, repaint_with(ui.ctx()))
                        }
                        SearchAction::Similar(record) => {
                            self.assist
                                .similar(document, record, repaint_with(ui.ctx()))
                        }
                        SearchAction::Jump { record, path } => {
                            self.editor.locate(record, Field::from_path(&path))
                        }
                    }
                }
            });
    }
}
