//! The images and videos of a request, made into files the video engine reads. `data:` URLs are
//! decoded into a scratch folder the request owns (removed when it is answered); local paths
//! (`file://` URLs or plain paths) are read only under the media roots the server was started
//! with; remote URLs are refused, because nothing at run time touches the network.

use std::{
    io::ErrorKind,
    path::{Component, Path, PathBuf},
};

use base64::Engine;
use tempfile::TempDir;

use super::error::ApiError;
use crate::files::is_image;

/// Which part of a message a URL came from: it decides how the file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub fn part_type(self) -> &'static str {
        match self {
            MediaKind::Image => "image_url",
            MediaKind::Video => "video_url",
        }
    }
}

/// Image types read as stills, with the extension the file gets (the video engine picks the
/// still decoder by extension).
const IMAGE_TYPES: &[(&str, &str)] = &[
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("image/jpg", "jpg"),
    ("image/webp", "webp"),
    ("image/bmp", "bmp"),
    ("image/tiff", "tif"),
];

/// Video types with their usual extension; FFmpeg reads the container from the bytes, so any
/// other `video/*` type is tried as well.
const VIDEO_TYPES: &[(&str, &str)] = &[
    ("video/mp4", "mp4"),
    ("video/webm", "webm"),
    ("video/quicktime", "mov"),
    ("video/x-matroska", "mkv"),
    ("video/x-msvideo", "avi"),
    ("video/mpeg", "mpg"),
    ("video/ogg", "ogv"),
];

/// The folders local paths may point into, resolved once at start.
#[derive(Debug, Clone, Default)]
pub struct MediaRoots {
    roots: Vec<PathBuf>,
}

impl MediaRoots {
    /// Resolves each root (symlinks included); a missing folder is an error naming it.
    pub fn new(roots: &[PathBuf]) -> Result<Self, String> {
        let roots = roots
            .iter()
            .map(|root| {
                let resolved = root
                    .canonicalize()
                    .map_err(|e| format!("{}: cannot use as a media root: {e}", root.display()))?;
                if !resolved.is_dir() {
                    return Err(format!(
                        "{}: cannot use as a media root: not a folder",
                        root.display()
                    ));
                }
                Ok(resolved)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { roots })
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    fn contains(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| path.starts_with(root))
    }
}

/// The scratch folder of one request, made when its first `data:` URL is decoded.
#[derive(Debug, Default)]
pub struct Scratch {
    dir: Option<TempDir>,
}

impl Scratch {
    fn file(&mut self, name: &str) -> Result<PathBuf, ApiError> {
        if self.dir.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("keye-serve-")
                .tempdir()
                .map_err(|e| {
                    ApiError::internal(format!("cannot make a scratch folder for media: {e}"))
                })?;
            self.dir = Some(dir);
        }
        Ok(self
            .dir
            .as_ref()
            .map_or_else(PathBuf::new, |d| d.path().join(name)))
    }
}

/// The file `url` names, made readable: `param` names the part in errors, `index` keeps the
/// request's decoded files apart.
pub fn resolve(
    url: &str,
    kind: MediaKind,
    param: &str,
    index: usize,
    roots: &MediaRoots,
    scratch: &mut Scratch,
) -> Result<PathBuf, ApiError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(ApiError::bad_field(param, "the URL is empty"));
    }
    if let Some(data) = url.strip_prefix("data:") {
        return decode_data_url(data, kind, param, index, scratch);
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Err(ApiError::bad_field(
            param,
            "remote URLs are not fetched (keye-studio never touches the network); send the file \
             as a data: URL, or as a path under a --media-root of the server",
        ));
    }
    let path = match url.strip_prefix("file://") {
        Some(rest) => percent_encoding::percent_decode_str(rest)
            .decode_utf8()
            .map_err(|e| ApiError::bad_field(param, format!("the file URL is not UTF-8: {e}")))?
            .into_owned(),
        None if url.contains("://") => {
            return Err(ApiError::bad_field(
                param,
                format!("unsupported URL {url:?}: give a data: URL, a file:// URL or a local path"),
            ));
        }
        None => url.to_owned(),
    };
    let path = local_file(Path::new(&path), param, roots)?;
    match (kind, is_image(&path)) {
        (MediaKind::Image, false) => Err(ApiError::bad_field(
            param,
            format!(
                "{} is not an image (png, jpg, webp, bmp, tiff); send videos as video_url parts",
                path.display()
            ),
        )),
        (MediaKind::Video, true) => Err(ApiError::bad_field(
            param,
            format!(
                "{} is an image; send it as an image_url part",
                path.display()
            ),
        )),
        _ => Ok(path),
    }
}

/// A path under the media roots, symlinks resolved; anything else is refused with 403.
fn local_file(path: &Path, param: &str, roots: &MediaRoots) -> Result<PathBuf, ApiError> {
    if roots.is_empty() {
        return Err(ApiError::forbidden(
            param,
            "local paths are not served: this server was started without --media-root",
        ));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(ApiError::forbidden(
            param,
            format!("{}: paths may not contain \"..\"", path.display()),
        ));
    }
    let candidates: Vec<PathBuf> = if path.is_absolute() {
        vec![path.to_path_buf()]
    } else {
        roots.roots.iter().map(|root| root.join(path)).collect()
    };
    let found = candidates.iter().find(|c| c.exists());
    let Some(candidate) = found else {
        let lexically_inside = candidates.iter().any(|c| roots.contains(c));
        return Err(if lexically_inside {
            ApiError::bad_field(
                param,
                format!("{}: no such file under the media roots", path.display()),
            )
        } else {
            outside(param, path)
        });
    };
    let resolved = candidate.canonicalize().map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            ApiError::bad_field(param, format!("{}: no such file", path.display()))
        }
        _ => ApiError::bad_field(param, format!("{}: cannot read: {e}", path.display())),
    })?;
    if !roots.contains(&resolved) {
        return Err(outside(param, path));
    }
    if !resolved.is_file() {
        return Err(ApiError::bad_field(
            param,
            format!("{}: not a file", path.display()),
        ));
    }
    Ok(resolved)
}

fn outside(param: &str, path: &Path) -> ApiError {
    ApiError::forbidden(
        param,
        format!(
            "{} is outside the media roots this server reads",
            path.display()
        ),
    )
}

/// Decodes `data:<type>;base64,<bytes>` (the part after `data:`) into the scratch folder.
fn decode_data_url(
    data: &str,
    kind: MediaKind,
    param: &str,
    index: usize,
    scratch: &mut Scratch,
) -> Result<PathBuf, ApiError> {
    let Some((meta, payload)) = data.split_once(',') else {
        return Err(ApiError::bad_field(
            param,
            "a data: URL needs a comma before its data",
        ));
    };
    let mut fields = meta.split(';');
    let mime = fields
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !fields.any(|f| f.trim().eq_ignore_ascii_case("base64")) {
        return Err(ApiError::bad_field(
            param,
            "data: URLs must be base64-encoded (data:<type>;base64,...)",
        ));
    }
    let extension =
        extension_for(&mime, kind).map_err(|message| ApiError::bad_field(param, message))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| ApiError::bad_field(param, format!("the data is not valid base64: {e}")))?;
    if bytes.is_empty() {
        return Err(ApiError::bad_field(param, "the data: URL holds no bytes"));
    }
    let path = scratch.file(&format!("media-{index}.{extension}"))?;
    std::fs::write(&path, &bytes)
        .map_err(|e| ApiError::internal(format!("cannot write the media of {param}: {e}")))?;
    Ok(path)
}

/// The extension a decoded file gets, or why the type does not fit the part.
fn extension_for(mime: &str, kind: MediaKind) -> Result<&'static str, String> {
    let image = IMAGE_TYPES
        .iter()
        .find(|(m, _)| *m == mime)
        .map(|(_, e)| *e);
    match kind {
        MediaKind::Image => image.ok_or_else(|| {
            if mime.starts_with("video/") {
                format!("holds {mime} data; send videos as video_url parts")
            } else {
                format!("unsupported image type {mime:?} (png, jpeg, webp, bmp or tiff)")
            }
        }),
        MediaKind::Video => {
            if image.is_some() {
                return Err(format!("holds {mime} data; send images as image_url parts"));
            }
            if let Some((_, extension)) = VIDEO_TYPES.iter().find(|(m, _)| *m == mime) {
                return Ok(extension);
            }
            if mime.starts_with("video/") || mime == "application/octet-stream" || mime.is_empty() {
                return Ok("video");
            }
            Err(format!(
                "unsupported video type {mime:?} (video/mp4, video/webm, ...)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> MediaRoots {
        MediaRoots::new(&[dir.to_path_buf()]).unwrap()
    }

    #[test]
    fn paths_inside_the_roots_resolve_and_others_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("clip.mp4"), b"x").unwrap();
        std::fs::write(other.path().join("secret.mp4"), b"x").unwrap();
        let roots = roots(root.path());
        let mut scratch = Scratch::default();
        let inside = root.path().join("clip.mp4");
        let resolve = |url: &str, scratch: &mut Scratch| {
            resolve(url, MediaKind::Video, "p", 0, &roots, scratch)
        };
        assert_eq!(
            resolve(inside.to_str().unwrap(), &mut scratch).unwrap(),
            inside.canonicalize().unwrap()
        );
        assert!(
            resolve("clip.mp4", &mut scratch).is_ok(),
            "relative to the root"
        );
        let file_url = format!("file://{}", inside.display());
        assert!(resolve(&file_url, &mut scratch).is_ok());

        let secret = other.path().join("secret.mp4");
        let error = resolve(secret.to_str().unwrap(), &mut scratch).unwrap_err();
        assert_eq!(error.status, 403, "{error:?}");
        assert!(
            error.message.contains("outside the media roots"),
            "{error:?}"
        );
        let error = resolve("../secret.mp4", &mut scratch).unwrap_err();
        assert_eq!(error.status, 403, "{error:?}");
        let missing = root.path().join("missing.mp4");
        let error = resolve(missing.to_str().unwrap(), &mut scratch).unwrap_err();
        assert_eq!(error.status, 400, "{error:?}");
        assert!(error.message.contains("no such file"), "{error:?}");

        // A symlink inside the root that points out of it is outside too.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&secret, root.path().join("link.mp4")).unwrap();
            let error = resolve("link.mp4", &mut scratch).unwrap_err();
            assert_eq!(error.status, 403, "{error:?}");
        }
    }

    #[test]
    fn data_urls_are_decoded_to_files_with_the_right_extension() {
        let mut scratch = Scratch::default();
        let roots = MediaRoots::default();
        let path = resolve(
            "data:image/png;base64,aGVsbG8=",
            MediaKind::Image,
            "p",
            3,
            &roots,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(path.file_name().unwrap(), "media-3.png");
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");

        let refuse = |url: &str, kind| resolve(url, kind, "p", 0, &roots, &mut Scratch::default());
        for (url, kind, needle) in [
            (
                "data:image/png;base64,@@@",
                MediaKind::Image,
                "not valid base64",
            ),
            ("data:image/png,hello", MediaKind::Image, "base64-encoded"),
            (
                "data:video/mp4;base64,aGVsbG8=",
                MediaKind::Image,
                "video_url",
            ),
            (
                "data:image/png;base64,aGVsbG8=",
                MediaKind::Video,
                "image_url",
            ),
            (
                "data:image/gif;base64,aGVsbG8=",
                MediaKind::Image,
                "unsupported image type",
            ),
            ("data:video/mp4;base64,", MediaKind::Video, "no bytes"),
            ("https://example.com/a.mp4", MediaKind::Video, "not fetched"),
            ("clip.mp4", MediaKind::Video, "without --media-root"),
        ] {
            let error = refuse(url, kind).unwrap_err();
            assert!(error.message.contains(needle), "{url}: {error:?}");
            assert!(error.status.is_client_error(), "{url}: {error:?}");
        }
    }
}
