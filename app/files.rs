//! Which files the app opens as what, by extension: the one list of each kind. Videos are what the
//! open dialog offers (anything FFmpeg reads can still be dropped on the window or given on the
//! command line), still images are read as one frame, caption files are HAIC JSON or JSON Lines.

use std::path::Path;

/// Offered by the video dialog, and taken as videos when `keye-studio caption` searches a folder.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "flv", "wmv", "ogv",
    "3gp",
];

/// Read as still images; everything else goes through the video engine as a video.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"];

/// Opened as caption files (when dropped, or offered by the caption dialog).
pub const CAPTION_EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson"];

/// Whether `path` is read as a still image.
pub fn is_image(path: &Path) -> bool {
    has_extension(path, IMAGE_EXTENSIONS)
}

/// Whether `path` has a video's extension.
pub fn is_video(path: &Path) -> bool {
    has_extension(path, VIDEO_EXTENSIONS)
}

/// Whether `path` is a caption file rather than a video.
pub fn is_caption_file(path: &Path) -> bool {
    has_extension(path, CAPTION_EXTENSIONS)
}

/// Whether `path`'s extension is one of `extensions`, in any case.
fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            extensions
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_told_apart_by_extension_in_any_case() {
        assert!(is_caption_file(Path::new("a/b.JSONL")));
        assert!(is_caption_file(Path::new("b.json")));
        assert!(!is_caption_file(Path::new("b.mp4")));
        assert!(is_image(Path::new("still.PNG")));
        assert!(!is_image(Path::new("clip.mp4")));
        assert!(!is_image(Path::new("no-extension")));
        assert!(is_video(Path::new("clip.MP4")));
        assert!(is_video(Path::new("old.mpeg")));
        assert!(!is_video(Path::new("still.png")));
    }
}
