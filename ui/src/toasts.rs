//! Error and info toasts: problems are shown to the user instead of panicking or printing.

use egui::{Align2, Vec2};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToastLevel {
    Info,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub level: ToastLevel,
    pub text: String,
    /// `egui` time when first shown; set on the first frame it is drawn.
    shown_at: Option<f64>,
}

/// Info toasts fade after this long; errors stay until dismissed, so none is missed.
pub const INFO_SECONDS: f64 = 5.0;

/// A stack of toasts in the bottom-right corner.
#[derive(Clone, Debug, Default)]
pub struct Toasts {
    items: Vec<Toast>,
}

impl Toasts {
    pub fn error(&mut self, text: impl Into<String>) {
        self.push(ToastLevel::Error, text.into());
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.push(ToastLevel::Info, text.into());
    }

    fn push(&mut self, level: ToastLevel, text: String) {
        self.items.push(Toast {
            level,
            text,
            shown_at: None,
        });
    }

    pub fn items(&self) -> &[Toast] {
        &self.items
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let now = ui.input(|i| i.time);
        self.items.retain(|toast| {
            toast.level == ToastLevel::Error
                || toast
                    .shown_at
                    .is_none_or(|shown| now - shown < INFO_SECONDS)
        });
        if self.items.is_empty() {
            return;
        }
        let mut dismissed = None;
        egui::Area::new(egui::Id::unique("keye-toasts"))
            .anchor(Align2::RIGHT_BOTTOM, Vec2::new(-12.0, -12.0))
            .order(egui::Order::Foreground)
            .show(ui.ctx(), |ui| {
                for (index, toast) in self.items.iter_mut().enumerate() {
                    toast.shown_at.get_or_insert(now);
                    let (fill, title) = match toast.level {
                        ToastLevel::Error => (ui.visuals().error_fg_color, "Error"),
                        ToastLevel::Info => (ui.visuals().selection.bg_fill, "Note"),
                    };
                    egui::Frame::popup(ui.style())
                        .stroke(egui::Stroke::new(1.5, fill))
                        .show(ui, |ui| {
                            ui.set_max_width(420.0);
                            ui.horizontal(|ui| {
                                ui.colored_label(fill, title);
                                if ui.small_button("Dismiss").clicked() {
                                    dismissed = Some(index);
                                }
                            });
                            ui.add(egui::Label::new(&toast.text).wrap());
                        });
                }
            });
        if let Some(index) = dismissed {
            self.items.remove(index);
        }
        if self.items.iter().any(|t| t.level == ToastLevel::Info) {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(500));
        }
    }
}
