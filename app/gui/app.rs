//! The app shell: menus, panels, file opening (dialog, drag and drop, recent files), theme,
//! toasts, and the screenshot path. Panels come from `keye-ui`; this file only wires them.

use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use eframe::egui;
use keye_ui::{ModelAction, Toasts, TransportBar, fit_frame_rect, format_time};

use super::ask::AskController;
use super::captions::{CaptionSession, OpenVideo};
use super::media::{Media, MediaNotice};
use super::model::{self, ModelChange, ModelManager};
use super::screenshot::{Outcome, Screenshotter};
use super::settings::{Settings, Theme};
use super::{LaunchOptions, fonts, frame_view, heatmap_view};
use crate::files::{VIDEO_EXTENSIONS, is_caption_file};
use crate::inference::Placement;

/// Which dialog a picked path answers.
#[derive(Clone, Copy)]
enum Pick {
    Video,
    ModelFolder,
    /// A quantized model saved as one .gguf file.
    ModelFile,
}

/// A file dialog runs on its own thread (portal dialogs block) and answers here.
struct PendingDialog {
    pick: Pick,
    answer: Receiver<Option<PathBuf>>,
}

/// How long a screenshot with `--ask` waits for the answer past its time before it is taken
/// anyway (loading, decoding and a full-length answer on the CPU).
const SCREENSHOT_ANSWER_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

/// What the right-hand inspector shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InspectorTab {
    Details,
    Ask,
}

pub struct StudioApp {
    settings: Settings,
    media: Option<Media>,
    transport: TransportBar,
    toasts: Toasts,
    dialog: Option<PendingDialog>,
    models: ModelManager,
    ask: AskController,
    inspector: InspectorTab,
    /// `--ask QUESTION`: pressed once the model and the video are ready.
    launch_question: Option<String>,
    captions: CaptionSession,
    screenshot: Option<Screenshotter>,
    cjk_font: Option<&'static Path>,
    /// Whether our wgpu frame pipeline is installed (it is whenever eframe runs on wgpu).
    frame_pipeline: bool,
}

impl StudioApp {
    pub(super) fn new(
        cc: &eframe::CreationContext<'_>,
        launch: LaunchOptions,
        outcome: Outcome,
    ) -> Self {
        let ctx = &cc.egui_ctx;
        let mut settings = Settings::load(cc.storage);
        ctx.set_theme(settings.theme.egui_theme());
        let cjk_font = fonts::install_cjk_fallback(ctx);
        let frame_pipeline = cc
            .wgpu_render_state
            .as_ref()
            .inspect(|rs| {
                frame_view::install(rs);
                heatmap_view::install(rs);
            })
            .is_some();
        let mut toasts = Toasts::default();
        let media = launch.video.as_deref().map(|path| {
            settings.remember_video(path);
            Media::open(path, ctx)
        });
        let mut models = ModelManager::default();
        let remembered = settings.placement();
        models.panel.choice = model::load_choice(Placement {
            device: launch.device.unwrap_or(remembered.device),
            dtype: launch.dtype.unwrap_or(remembered.dtype),
            quantize: launch.quantize.unwrap_or(remembered.quantize),
        });
        // The remembered folder (or .gguf) loads again only while it still looks like a model.
        let model_path = launch.model.or_else(|| {
            settings
                .model_dir
                .clone()
                .filter(|path| model::looks_like_model(path))
        });
        if let Some(dir) = model_path {
            models.open(dir, &mut toasts);
        }
        let mut ask = AskController::default();
        if let Some(thinking) = launch.thinking {
            ask.panel.thinking = thinking;
        }
        ask.set_video(media.as_ref().map(Media::path), &mut toasts);
        let launch_question = launch.ask;
        let asking = launch_question.is_some();
        let mut captions = CaptionSession::new();
        if let Some(dir) = settings.mengzi_dir.clone() {
            let repaint = ctx.clone();
            captions.set_mengzi(Some(dir), &mut toasts, move || repaint.request_repaint());
        }
        if let Some(path) = &launch.captions {
            let repaint = ctx.clone();
            captions.open(path, &mut toasts, move || repaint.request_repaint());
        }
        Self {
            settings,
            media,
            transport: TransportBar::default(),
            toasts,
            dialog: None,
            models,
            ask,
            inspector: if launch_question.is_some() {
                InspectorTab::Ask
            } else {
                InspectorTab::Details
            },
            launch_question,
            captions,
            screenshot: launch.screenshot.map(|request| {
                let mut screenshotter = Screenshotter::new(request, outcome);
                if asking {
                    screenshotter.wait_longer(SCREENSHOT_ANSWER_GRACE);
                }
                screenshotter
            }),
            cjk_font,
            frame_pipeline,
        }
    }

    fn open_video(&mut self, path: &Path, ctx: &egui::Context) {
        self.settings.remember_video(path);
        self.media = Some(Media::open(path, ctx));
        self.ask.set_video(Some(path), &mut self.toasts);
    }

    fn close_video(&mut self) {
        self.media = None;
        self.ask.set_video(None, &mut self.toasts);
    }

    fn start_dialog(&mut self, pick: Pick, ctx: &egui::Context) {
        if self.dialog.is_some() {
            return;
        }
        let (sender, answer) = crossbeam_channel::bounded(1);
        let repaint = ctx.clone();
        let start_dir = match pick {
            Pick::Video => self
                .settings
                .recent_videos
                .first()
                .and_then(|p| p.parent())
                .map(Path::to_path_buf),
            Pick::ModelFolder | Pick::ModelFile => self.settings.model_dir.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new();
                if let Some(dir) = start_dir {
                    dialog = dialog.set_directory(dir);
                }
                let picked = match pick {
                    Pick::Video => dialog
                        .set_title("Open a video")
                        .add_filter("Video", VIDEO_EXTENSIONS)
                        .pick_file(),
                    Pick::ModelFolder => dialog
                        .set_title("Open a Keye-VL checkpoint folder")
                        .pick_folder(),
                    Pick::ModelFile => dialog
                        .set_title("Open a quantized Keye-VL model")
                        .add_filter("GGUF model", &["gguf"])
                        .pick_file(),
                };
                let _ = sender.send(picked);
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog = Some(PendingDialog { pick, answer }),
            Err(error) => self
                .toasts
                .error(format!("Cannot open the file dialog: {error}")),
        }
    }

    fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some(dialog) = &self.dialog else {
            return;
        };
        let Ok(answer) = dialog.answer.try_recv() else {
            return;
        };
        let pick = self.dialog.take().map(|d| d.pick);
        match (pick, answer) {
            (Some(Pick::Video), Some(path)) => self.open_video(&path, ctx),
            (Some(Pick::ModelFolder | Pick::ModelFile), Some(path)) => {
                self.models.open(path, &mut self.toasts)
            }
            _ => {}
        }
    }

    fn poll_media(&mut self, ctx: &egui::Context) {
        let Some(media) = &mut self.media else {
            return;
        };
        for notice in media.poll(ctx) {
            match notice {
                MediaNotice::OpenFailed(error) => {
                    self.settings.forget_video(media.path());
                    self.toasts.error(error.to_string());
                    self.close_video();
                    return;
                }
                MediaNotice::FrameFailed(error) => self.toasts.error(error.to_string()),
                MediaNotice::Silent(notice) => self.toasts.info(notice),
            }
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
        // A dropped folder or .gguf is a model, a .json/.jsonl file captions, any other file a
        // video.
        match dropped {
            Some(path) if path.is_dir() || keye_model::gguf::is_gguf(&path) => {
                self.models.open(path, &mut self.toasts)
            }
            Some(path) if is_caption_file(&path) => {
                let repaint = ctx.clone();
                self.captions
                    .open(&path, &mut self.toasts, move || repaint.request_repaint());
            }
            Some(path) => self.open_video(&path, ctx),
            None => {}
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open video…").clicked() {
                    self.start_dialog(Pick::Video, ui.ctx());
                }
                let recent = self.settings.recent_videos.clone();
                ui.add_enabled_ui(!recent.is_empty(), |ui| {
                    ui.menu_button("Open recent", |ui| {
                        for path in &recent {
                            if ui.button(path.display().to_string()).clicked() {
                                self.open_video(path, ui.ctx());
                            }
                        }
                    });
                });
                if ui.add_enabled(self.media.is_some(), egui::Button::new("Close video")).clicked() {
                    self.close_video();
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Model", |ui| {
                if ui.button("Open checkpoint folder…").clicked() {
                    self.start_dialog(Pick::ModelFolder, ui.ctx());
                }
                if ui.button("Open quantized model (.gguf)…").clicked() {
                    self.start_dialog(Pick::ModelFile, ui.ctx());
                }
            });
            ui.menu_button("Captions", |ui| self.captions.menu(ui, &mut self.toasts));
            ui.menu_button("View", |ui| {
                let before = self.settings.theme;
                ui.radio_value(&mut self.settings.theme, Theme::Dark, "Dark theme");
                ui.radio_value(&mut self.settings.theme, Theme::Light, "Light theme");
                if self.settings.theme != before {
                    ui.ctx().set_theme(self.settings.theme.egui_theme());
                }
                ui.separator();
                match self.cjk_font {
                    Some(path) => ui.weak(format!("CJK text: {}", path.display())),
                    None => ui.weak("No CJK font found: install Noto Sans CJK (fonts-noto-cjk) for Chinese text"),
                };
            });
            if let Some(media) = &self.media {
                ui.separator();
                ui.weak(media.path().display().to_string());
            }
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.inspector, InspectorTab::Details, "Details");
            ui.selectable_value(&mut self.inspector, InspectorTab::Ask, "Ask");
        });
        ui.separator();
        if self.inspector == InspectorTab::Ask {
            // Controls pinned at the bottom, the conversation scrolling above them.
            // At most most of the inspector: the settings scroll inside it.
            let most = ui.available_height() * 0.7;
            let jump = egui::Panel::bottom("ask-controls")
                .resizable(true)
                .max_size(most)
                .show(ui, |ui| {
                    self.ask
                        .controls_ui(ui, self.models.loaded(), &mut self.toasts, most)
                })
                .inner;
            self.ask.conversation_ui(ui);
            if let Some(time) = self.ask.take_seek()
                && let Some(loaded) = self.media.as_mut().and_then(Media::loaded_mut)
            {
                loaded.player.pause();
                loaded.player.seek(time);
            }
            if jump
                && let Some(loaded) = self.media.as_mut().and_then(Media::loaded_mut)
                && let Some(time) = loaded.timeline.tracks.most_attended()
            {
                loaded.player.pause();
                loaded.player.seek(time);
            }
            return;
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Video");
            match self.media.as_ref().and_then(Media::loaded) {
                Some(loaded) => {
                    let info = &loaded.info;
                    egui::Grid::new("video-info").num_columns(2).show(ui, |ui| {
                        let rows = [
                            ("Codec", format!("{} ({})", info.codec, info.pixel_format)),
                            (
                                "Size",
                                format!("{} x {}", info.display_width, info.display_height),
                            ),
                            ("Rotation", format!("{}°", info.rotation.degrees())),
                            (
                                "Frame rate",
                                format!(
                                    "{:.3} fps{}",
                                    loaded.player.timebase().fps,
                                    if info.variable_frame_rate {
                                        " (variable)"
                                    } else {
                                        ""
                                    }
                                ),
                            ),
                            (
                                "Frames",
                                format!(
                                    "{}{}",
                                    info.frame_count.frames,
                                    if info.frame_count.exact {
                                        ""
                                    } else {
                                        " (estimated)"
                                    }
                                ),
                            ),
                            ("Duration", format_time(info.duration)),
                        ];
                        for (name, value) in rows {
                            ui.label(name);
                            ui.label(value);
                            ui.end_row();
                        }
                    });
                    for warning in &info.warnings {
                        ui.colored_label(ui.visuals().warn_fg_color, warning);
                    }
                    if let Some(media) = &self.media {
                        let (count, done, failed) = media.thumbnail_progress();
                        if !done {
                            ui.weak(format!("thumbnails: {count} decoded…"));
                        } else if failed > 0 {
                            ui.weak(format!("thumbnails: {count} decoded, {failed} failed"));
                        }
                    }
                }
                None if self.media.is_some() => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Indexing the video…");
                    });
                }
                None => {
                    ui.weak("No video open.");
                }
            }
            ui.separator();
            ui.heading("Model");
            let action = self.models.panel.ui(ui);
            if action == Some(ModelAction::Open) {
                self.start_dialog(Pick::ModelFolder, ui.ctx());
            } else if action == Some(ModelAction::OpenFile) {
                self.start_dialog(Pick::ModelFile, ui.ctx());
            } else if let Some(action) = action
                && self.models.handle(action) == Some(ModelChange::Unloaded)
            {
                // Unload, or Reload dropping the current model first: nothing keeps it alive.
                self.settings.model_dir = None;
                self.captions.set_model(None);
            }
            ui.separator();
            ui.heading("Captions");
            match self.captions.document() {
                None => {
                    ui.weak(
                        "No caption file. Captions > Open caption file…, drop a .json/.jsonl \
                         here, or start with --captions FILE.",
                    );
                }
                Some(document) => {
                    ui.label(format!(
                        "Caption file: {}",
                        document.file().path().display()
                    ));
                    ui.weak("Edit it in the Captions panel on the left.");
                }
            }
        });
    }

    fn video_area(&mut self, ui: &mut egui::Ui) {
        let hovering_file = ui.input(|i| !i.raw.hovered_files.is_empty());
        let rect = ui.available_rect_before_wrap();
        ui.painter().rect_filled(rect, 0.0, egui::Color32::BLACK);
        match &self.media {
            Some(media) => match (media.frame(), media.loaded()) {
                (Some(frame), Some(loaded)) => {
                    let (num, den) = loaded.info.sample_aspect_ratio;
                    let pixel_aspect = if num > 0 && den > 0 {
                        num as f32 / den as f32
                    } else {
                        1.0
                    };
                    let display = [
                        (frame.width as f32 * pixel_aspect).round() as u32,
                        frame.height,
                    ];
                    let target = fit_frame_rect(rect, display);
                    if self.frame_pipeline {
                        frame_view::paint(ui.painter(), target, frame.clone());
                        if let Some(overlay) = self.ask.overlay(loaded.player.position()) {
                            let grid = (overlay.grid.rows, overlay.grid.cols);
                            let sinks = overlay.sinks.clone();
                            heatmap_view::paint(ui.painter(), target, overlay);
                            heatmap_view::ring_cells(ui.painter(), target, grid, &sinks);
                        }
                    } else {
                        ui.painter().text(
                            rect.center(),
                            egui::Align2::CENTER_CENTER,
                            "Video needs the wgpu renderer, which did not start",
                            egui::FontId::proportional(16.0),
                            egui::Color32::WHITE,
                        );
                    }
                }
                _ => {
                    ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
                        ui.centered_and_justified(|ui| ui.spinner());
                    });
                }
            },
            None => self.open_prompt(ui, rect),
        }
        if hovering_file {
            ui.painter()
                .rect_filled(rect, 0.0, egui::Color32::from_black_alpha(160));
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop to open",
                egui::FontId::proportional(28.0),
                egui::Color32::WHITE,
            );
        }
        ui.allocate_rect(rect, egui::Sense::hover());
    }

    fn open_prompt(&mut self, ui: &mut egui::Ui, rect: egui::Rect) {
        ui.scope_builder(egui::UiBuilder::new().max_rect(rect.shrink(24.0)), |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(rect.height() * 0.25);
                ui.heading("Open a video to start");
                ui.add_space(8.0);
                if ui.button("Open video…").clicked() {
                    self.start_dialog(Pick::Video, ui.ctx());
                }
                ui.weak("or drop a video file on this window");
                let recent = self.settings.recent_videos.clone();
                if !recent.is_empty() {
                    ui.add_space(16.0);
                    ui.label("Recent");
                    for path in recent.iter().take(5) {
                        if ui.link(path.display().to_string()).clicked() {
                            self.open_video(path, ui.ctx());
                        }
                    }
                }
            });
        });
    }
}

impl StudioApp {
    /// Model loading, the running ask, `--ask`, and the model tracks of the timeline.
    fn poll_model_and_ask(&mut self, ctx: &egui::Context) {
        match self.models.poll(ctx, &mut self.toasts) {
            Some(ModelChange::Loaded(dir)) => {
                self.settings.model_dir = Some(dir);
                self.captions.set_model(self.models.loaded().cloned());
            }
            Some(ModelChange::Unloaded) => self.captions.set_model(None),
            None => {}
        }
        self.captions.set_judge(crate::haicbench::judge_of(
            self.models.loaded(),
            self.models
                .connection()
                .map(|c| (&c.server, &c.model, &c.url)),
        ));
        let loaded_video = self.media.as_ref().and_then(Media::loaded);
        let has_video = loaded_video.is_some();
        self.ask
            .set_indexed(loaded_video.map(|loaded| &loaded.video));
        self.ask.update_availability(
            self.models.loaded(),
            self.models.connection(),
            self.models.is_loading(),
            has_video,
        );
        self.ask.poll(ctx, &mut self.toasts);
        if let Some(question) = &self.launch_question {
            let model = self.models.loaded();
            if model.is_some() && has_video {
                self.inspector = InspectorTab::Ask;
                self.ask.ask_now(question, model, &mut self.toasts);
                self.launch_question = None;
            } else if model.is_none() && !self.models.is_loading() {
                self.toasts
                    .error("--ask: no model could be loaded, so the question was not asked");
                self.launch_question = None;
            } else if self.media.is_none() {
                self.toasts
                    .error("--ask: no video is open, so the question was not asked");
                self.launch_question = None;
            }
        }
        if let Some(loaded) = self.media.as_mut().and_then(Media::loaded_mut) {
            self.ask.update_tracks(&mut loaded.timeline.tracks);
        }
    }
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.poll_dialog(&ctx);
        self.handle_dropped_files(&ctx);
        self.poll_media(&ctx);
        self.captions.tick(&ctx, &mut self.toasts);
        self.poll_model_and_ask(&ctx);

        if let Some(media) = self.media.as_mut() {
            let dt = f64::from(ctx.input(|i| i.unstable_dt).min(0.25));
            if let Some(loaded) = media.loaded_mut()
                && loaded.player.is_playing()
            {
                loaded.player.advance(dt);
                ctx.request_repaint();
            }
            media.follow_audio(dt);
        }

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        // The inspector runs the window's full height, beside the timeline too: a conversation's
        // reasoning trace needs the room more than the timeline needs the last 300 pixels.
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| self.side_panel(ui));
        let sound_notice = self
            .media
            .as_ref()
            .map(Media::sound_notice)
            .unwrap_or_default();
        if let Some(loaded) = self.media.as_mut().and_then(Media::loaded_mut) {
            egui::Panel::bottom("timeline")
                .resizable(true)
                .show(ui, |ui| {
                    ui.add_space(4.0);
                    self.transport.sound = sound_notice;
                    self.transport.ui(ui, &mut loaded.player);
                    ui.separator();
                    loaded.timeline.ui(ui, &mut loaded.player);
                    self.captions
                        .sync_timeline(&mut loaded.timeline, &mut self.toasts);
                    ui.add_space(4.0);
                });
        }
        if self.captions.is_active() {
            let video = self.media.as_ref().and_then(|media| {
                let loaded = media.loaded()?;
                let fps = loaded.player.timebase().fps;
                Some(OpenVideo {
                    path: media.path(),
                    playhead: loaded.player.position(),
                    duration: loaded.info.duration,
                    frame_seconds: if fps > 0.0 { 1.0 / fps } else { 1.0 / 30.0 },
                    looping: loaded.player.span().is_some_and(|span| span.looping),
                })
            });
            egui::Panel::left("captions")
                .resizable(true)
                .default_size(420.0)
                .show(ui, |ui| self.captions.ui(ui, video, &mut self.toasts));
            if let Some(loaded) = self.media.as_mut().and_then(Media::loaded_mut) {
                self.captions.drive_player(&mut loaded.player);
            }
        }
        egui::CentralPanel::no_frame().show(ui, |ui| self.video_area(ui));
        self.toasts.ui(ui);

        if let Some(screenshot) = &mut self.screenshot {
            self.captions.close_without_asking();
            // With --ask, the picture is of the answer: wait until it has been given.
            let ready = self
                .media
                .as_ref()
                .is_none_or(|media| media.frame().is_some() && media.thumbnail_progress().1)
                && self.launch_question.is_none()
                && !self.ask.is_running()
                && !self.models.is_loading();
            screenshot.tick(&ctx, ready);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings
            .remember_placement(model::placement(self.models.panel.choice));
        self.settings.mengzi_dir = self.captions.mengzi_dir().map(Path::to_path_buf);
        self.settings.save(storage);
    }
}
