//! What the app remembers between runs (theme, recent videos, the model folder and where it
//! loads), stored with eframe's storage next to egui's own memory (panel sizes and layout).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use keye_model::quantize::QuantizeSpec;

use crate::inference::Placement;

/// Key of the settings in eframe's storage.
pub const STORAGE_KEY: &str = "keye-studio/settings";

/// How many recent videos the File menu lists.
pub const MAX_RECENT: usize = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

impl Theme {
    pub fn egui_theme(self) -> eframe::egui::Theme {
        match self {
            Self::Dark => eframe::egui::Theme::Dark,
            Self::Light => eframe::egui::Theme::Light,
        }
    }
}

/// Unknown or missing fields fall back to defaults, so older or newer stored settings still load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub theme: Theme,
    /// Most recent first, no duplicates.
    pub recent_videos: Vec<PathBuf>,
    /// The checkpoint folder last chosen, offered again on the next start.
    pub model_dir: Option<PathBuf>,
    /// The model manager's device and dtype, in `--device` / `--dtype` words ("cuda:1",
    /// "bf16"), so a settings file stays readable and survives new choices.
    pub model_device: Option<String>,
    pub model_dtype: Option<String>,
    /// `--quantize` words ("q4k") and whether the vision tower is quantized too.
    pub model_quantize: Option<String>,
    pub model_quantize_vision: bool,
    /// The Mengzi BERT checkpoint folder the caption editor checks Chinese text and re-ranks
    /// search with (Captions > Mengzi model folder); kept only while it loads.
    pub mengzi_dir: Option<PathBuf>,
}

impl Settings {
    pub fn load(storage: Option<&dyn eframe::Storage>) -> Self {
        storage
            .and_then(|s| eframe::get_value(s, STORAGE_KEY))
            .unwrap_or_default()
    }

    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, self);
    }

    /// Puts `path` first in the recent list, dropping an older entry for it and the oldest beyond
    /// [`MAX_RECENT`].
    pub fn remember_video(&mut self, path: &Path) {
        self.recent_videos.retain(|p| p != path);
        self.recent_videos.insert(0, path.to_path_buf());
        self.recent_videos.truncate(MAX_RECENT);
    }

    /// Drops a recent entry that no longer opens (moved or deleted file).
    pub fn forget_video(&mut self, path: &Path) {
        self.recent_videos.retain(|p| p != path);
    }

    /// The remembered device, dtype and quantization; a word this version does not know reads
    /// as the default (`auto`, `none`).
    pub fn placement(&self) -> Placement {
        Placement {
            device: parse_or_default(self.model_device.as_deref()),
            dtype: parse_or_default(self.model_dtype.as_deref()),
            quantize: QuantizeSpec {
                kind: parse_or_default(self.model_quantize.as_deref()),
                vision: self.model_quantize_vision,
            },
        }
    }

    pub fn remember_placement(&mut self, placement: Placement) {
        self.model_device = Some(placement.device.to_string());
        self.model_dtype = Some(placement.dtype.to_string());
        self.model_quantize = Some(placement.quantize.kind.to_string());
        self.model_quantize_vision = placement.quantize.vision;
    }
}

fn parse_or_default<T: std::str::FromStr + Default>(word: Option<&str>) -> T {
    word.and_then(|w| w.parse().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_videos_are_most_recent_first_unique_and_bounded() {
        let mut settings = Settings::default();
        for i in 0..12 {
            settings.remember_video(Path::new(&format!("/v/{i}.mp4")));
        }
        settings.remember_video(Path::new("/v/5.mp4"));
        assert_eq!(settings.recent_videos.len(), MAX_RECENT);
        assert_eq!(settings.recent_videos[0], Path::new("/v/5.mp4"));
        assert_eq!(settings.recent_videos[1], Path::new("/v/11.mp4"));
        assert_eq!(
            settings
                .recent_videos
                .iter()
                .filter(|p| p.ends_with("5.mp4"))
                .count(),
            1
        );
        settings.forget_video(Path::new("/v/5.mp4"));
        assert_eq!(settings.recent_videos[0], Path::new("/v/11.mp4"));
    }

    #[test]
    fn settings_round_trip_and_tolerate_missing_fields() {
        let settings = Settings {
            theme: Theme::Light,
            recent_videos: vec![PathBuf::from("/a.mp4")],
            model_dir: Some(PathBuf::from("/models/keye")),
            model_device: Some("cuda:1".into()),
            model_dtype: Some("bf16".into()),
            model_quantize: Some("q4k".into()),
            model_quantize_vision: true,
            mengzi_dir: Some(PathBuf::from("/models/mengzi-bert-base")),
        };
        let text = serde_json::to_string(&settings).expect("serialize");
        assert_eq!(
            serde_json::from_str::<Settings>(&text).expect("parse"),
            settings
        );
        let partial: Settings =
            serde_json::from_str(r#"{"theme":"Light","later":1}"#).expect("parse partial");
        assert_eq!(partial.theme, Theme::Light);
        assert!(partial.recent_videos.is_empty());
        assert_eq!(partial.mengzi_dir, None);
        assert_eq!(partial.placement(), Placement::default());
    }

    #[test]
    fn the_model_placement_is_remembered_in_command_line_words() {
        use keye_model::device::{DTypeChoice, DeviceChoice};
        use keye_model::quantize::QuantKind;
        let mut settings = Settings::default();
        assert_eq!(
            settings.placement(),
            Placement::default(),
            "auto, auto, none"
        );
        let picked = Placement {
            device: DeviceChoice::Cuda(1),
            dtype: DTypeChoice::Bf16,
            quantize: QuantizeSpec {
                kind: QuantKind::Q4K,
                vision: true,
            },
        };
        settings.remember_placement(picked);
        assert_eq!(settings.model_device.as_deref(), Some("cuda:1"));
        assert_eq!(settings.model_dtype.as_deref(), Some("bf16"));
        assert_eq!(settings.model_quantize.as_deref(), Some("q4k"));
        let text = serde_json::to_string(&settings).expect("serialize");
        let restored: Settings = serde_json::from_str(&text).expect("parse");
        assert_eq!(restored.placement(), picked);
        // A word from a newer version (or a hand edit) falls back to auto instead of failing.
        settings.model_device = Some("tpu".into());
        assert_eq!(settings.placement().device, DeviceChoice::Auto);
        assert_eq!(settings.placement().dtype, DTypeChoice::Bf16);
    }
}
