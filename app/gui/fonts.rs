//! CJK-capable text: egui's bundled fonts have no Chinese, Japanese or Korean glyphs, and Keye-VL
//! answers and HAIC captions are often Chinese. A system Noto CJK (or platform CJK) font is added
//! as a fallback when one is installed; without one, text still renders (with missing-glyph boxes).

use std::{path::Path, sync::Arc};

use eframe::egui::{self, FontData, FontFamily};
use eframe::epaint::text::{FontInsert, FontPriority, InsertFontFamily};

/// Where common systems keep a CJK font, with the face index to use inside a collection:
/// Noto Sans CJK collections list JP, KR, SC, TC, HK in that order; SC suits Keye-VL's Chinese.
const CANDIDATES: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("C:\\Windows\\Fonts\\msyh.ttc", 0),
];

/// Adds the first CJK font found as a fallback to both families. Returns its path, or `None`
/// when no candidate exists or none could be read.
pub fn install_cjk_fallback(ctx: &egui::Context) -> Option<&'static Path> {
    CANDIDATES.iter().find_map(|&(path, index)| {
        let bytes = std::fs::read(path).ok()?;
        let data = FontData::from_blob(Arc::new(bytes), index);
        let families = [FontFamily::Proportional, FontFamily::Monospace]
            .into_iter()
            .map(|family| InsertFontFamily {
                family,
                priority: FontPriority::Lowest,
            })
            .collect();
        ctx.add_font(FontInsert::new("system-cjk", data, families));
        Some(Path::new(path))
    })
}
