//! The app shell: menus, panels, file opening (dialog, drag and drop, recent files), theme,
//! toasts, and the screenshot path. Panels come from `keye-ui`; this file only wires them.

use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use eframe::egui;
use keye_ui::{Toasts, TransportBar, fit_frame_rect, format_time};

use super::captions::{CaptionSession, OpenVideo, is_caption_file};
use super::media::{Media, MediaNotice};
use super::screenshot::{Outcome, Screenshotter};
use super::settings::{Settings, Theme};
use super::{LaunchOptions, fonts, frame_view};

/// File types offered by the open dialog; anything FFmpeg reads can still be dropped on the window.
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "mkv", "webm", "avi", "m4v", "ts", "flv"];

/// Which dialog a picked path answers.
enum Pick {
    Video,
    ModelFolder,
}

/// A file dialog runs on its own thread (portal dialogs block) and answers here.
struct PendingDialog {
    pick: Pick,
    answer: Receiver<Option<PathBuf>>,
}

/// A folder given as the model: only its existence can be checked until the runtime lands.
struct ModelFolder {
    path: PathBuf,
    problem: Option<String>,
}

impl ModelFolder {
    fn check(path: PathBuf) -> Self {
        let problem = if !path.exists() {
            Some("does not exist".to_owned())
        } else if !path.is_dir() {
            Some(
                "is not a folder (a checkpoint is a folder with config.json and *.safetensors)"
                    .to_owned(),
            )
        } else if !path.join("config.json").is_file() {
            Some("has no config.json, so it is not a Hugging Face checkpoint folder".to_owned())
        } else {
            None
        };
        Self { path, problem }
    }
}

pub struct StudioApp {
    settings: Settings,
    media: Option<Media>,
    transport: TransportBar,
    toasts: Toasts,
    dialog: Option<PendingDialog>,
    model: Option<ModelFolder>,
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
            .inspect(|rs| frame_view::install(rs))
            .is_some();
        let mut toasts = Toasts::default();
        let media = launch.video.as_deref().map(|path| {
            settings.remember_video(path);
            Media::open(path, ctx)
        });
        let model_path = launch.model.or_else(|| settings.model_dir.clone());
        let model = model_path.map(ModelFolder::check);
        if let Some(ModelFolder {
            path,
            problem: Some(problem),
        }) = &model
        {
            toasts.error(format!("Model folder {}: {problem}", path.display()));
        }
        let mut captions = CaptionSession::new();
        if let Some(path) = &launch.captions {
            let repaint = ctx.clone();
            captions.open(path, &mut toasts, move || repaint.request_repaint());
        }
        Self {
            settings,
            media,
            transport: TransportBar,
            toasts,
            dialog: None,
            model,
            captions,
            screenshot: launch
                .screenshot
                .map(|request| Screenshotter::new(request, outcome)),
            cjk_font,
            frame_pipeline,
        }
    }

    fn open_video(&mut self, path: &Path, ctx: &egui::Context) {
        self.settings.remember_video(path);
        self.media = Some(Media::open(path, ctx));
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
            Pick::ModelFolder => self.settings.model_dir.clone(),
        };
        let is_video = matches!(pick, Pick::Video);
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new();
                if let Some(dir) = start_dir {
                    dialog = dialog.set_directory(dir);
                }
                let picked = if is_video {
                    dialog
                        .set_title("Open a video")
                        .add_filter("Video", VIDEO_EXTENSIONS)
                        .pick_file()
                } else {
                    dialog
                        .set_title("Open a Keye-VL checkpoint folder")
                        .pick_folder()
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
            (Some(Pick::ModelFolder), Some(path)) => {
                let folder = ModelFolder::check(path.clone());
                match &folder.problem {
                    Some(problem) => self
                        .toasts
                        .error(format!("Model folder {}: {problem}", path.display())),
                    None => self.settings.model_dir = Some(path),
                }
                self.model = Some(folder);
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
                    self.media = None;
                    return;
                }
                MediaNotice::FrameFailed(error) => self.toasts.error(error.to_string()),
            }
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
        match dropped {
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
                    self.media = None;
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
            match &self.model {
                None => {
                    ui.label("No model configured. Everything else works without one.");
                    ui.weak(
                        "To ask questions, get a Keye-VL checkpoint folder (Hugging Face layout: \
                         config.json, tokenizer.json, *.safetensors), then use Model > Open \
                         checkpoint folder… or start with --model DIR.",
                    );
                }
                Some(ModelFolder {
                    path,
                    problem: Some(problem),
                }) => {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        format!("{}: {problem}", path.display()),
                    );
                }
                Some(ModelFolder {
                    path,
                    problem: None,
                }) => {
                    ui.label(format!("Checkpoint folder: {}", path.display()));
                    ui.weak(
                        "Found (config.json present). Only its existence is checked for now: \
                         loading a checkpoint in the app arrives with the model runtime.",
                    );
                }
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

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.poll_dialog(&ctx);
        self.handle_dropped_files(&ctx);
        self.poll_media(&ctx);
        self.captions.tick(&ctx, &mut self.toasts);

        if let Some(loaded) = self.media.as_mut().and_then(Media::loaded_mut)
            && loaded.player.is_playing()
        {
            let dt = ctx.input(|i| i.unstable_dt).min(0.25);
            loaded.player.advance(dt as f64);
            ctx.request_repaint();
        }

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        if let Some(loaded) = self.media.as_mut().and_then(Media::loaded_mut) {
            egui::Panel::bottom("timeline")
                .resizable(true)
                .show(ui, |ui| {
                    ui.add_space(4.0);
                    self.transport.ui(ui, &mut loaded.player);
                    ui.separator();
                    loaded.timeline.ui(ui, &mut loaded.player);
                    self.captions
                        .sync_timeline(&mut loaded.timeline, &mut self.toasts);
                    ui.add_space(4.0);
                });
        }
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| self.side_panel(ui));
        if self.captions.is_active() {
            let video = self.media.as_ref().and_then(|media| {
                let loaded = media.loaded()?;
                Some(OpenVideo {
                    path: media.path(),
                    playhead: loaded.player.position(),
                    duration: loaded.info.duration,
                })
            });
            egui::Panel::left("captions")
                .resizable(true)
                .default_size(420.0)
                .show(ui, |ui| self.captions.ui(ui, video, &mut self.toasts));
        }
        egui::CentralPanel::no_frame().show(ui, |ui| self.video_area(ui));
        self.toasts.ui(ui);

        if let Some(screenshot) = &mut self.screenshot {
            self.captions.close_without_asking();
            let ready = self
                .media
                .as_ref()
                .is_none_or(|media| media.frame().is_some() && media.thumbnail_progress().1);
            screenshot.tick(&ctx, ready);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.save(storage);
    }
}
