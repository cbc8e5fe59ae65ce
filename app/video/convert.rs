//! Turning decoded pictures into tightly packed RGB(A) frames at a requested size with swscale, and
//! applying the display rotation, so a frame can go straight into a GPU texture or a PNG.

use std::sync::Arc;

use ffmpeg_next as ffmpeg;

use super::probe::Rotation;

/// Pixel layout of delivered frames: rows are tightly packed (no padding), top row first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PixelLayout {
    /// 3 bytes per pixel, R G B.
    #[default]
    Rgb24,
    /// 4 bytes per pixel, R G B A with A = 255 (what GPU textures want).
    Rgba32,
}

impl PixelLayout {
    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgb24 => 3,
            Self::Rgba32 => 4,
        }
    }

    fn ffmpeg_format(self) -> ffmpeg::format::Pixel {
        match self {
            Self::Rgb24 => ffmpeg::format::Pixel::RGB24,
            Self::Rgba32 => ffmpeg::format::Pixel::RGBA,
        }
    }
}

/// Output size of delivered frames, in display orientation (after rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputSize {
    /// The display size of the video.
    #[default]
    Native,
    /// Exactly this size (the aspect ratio may change).
    Exact { width: u32, height: u32 },
    /// The largest size that fits the box and keeps the display aspect ratio.
    Fit { max_width: u32, max_height: u32 },
}

impl OutputSize {
    /// The concrete size for a video whose display size is `width` x `height`.
    pub fn resolve(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Self::Native => (width, height),
            Self::Exact { width, height } => (width.max(1), height.max(1)),
            Self::Fit {
                max_width,
                max_height,
            } => fit_within(width, height, max_width, max_height),
        }
    }
}

/// How a frame should be delivered: size and pixel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FrameSpec {
    pub size: OutputSize,
    pub layout: PixelLayout,
}

impl FrameSpec {
    /// RGB24 at the display size.
    pub fn native_rgb() -> Self {
        Self::default()
    }

    /// RGB24 fitted into a box, keeping the aspect ratio.
    pub fn fit_rgb(max_width: u32, max_height: u32) -> Self {
        Self {
            size: OutputSize::Fit {
                max_width,
                max_height,
            },
            layout: PixelLayout::Rgb24,
        }
    }
}

/// The largest size with the aspect ratio of `width` x `height` that fits `max_width` x `max_height`
/// (each side at least 1 pixel).
pub fn fit_within(width: u32, height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    if width == 0 || height == 0 {
        return (max_width.max(1), max_height.max(1));
    }
    let scale = f64::min(
        f64::from(max_width) / f64::from(width),
        f64::from(max_height) / f64::from(height),
    );
    let fitted = |side: u32| ((f64::from(side) * scale).round() as u32).max(1);
    (
        fitted(width).min(max_width.max(1)),
        fitted(height).min(max_height.max(1)),
    )
}

/// A decoded frame ready to show: tightly packed pixels plus where it sits in the video.
/// Cloning is cheap (the pixels are shared).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    /// Position in presentation order, 0-based.
    pub index: usize,
    /// Raw presentation timestamp in the stream time base (as stored in the file).
    pub pts: i64,
    /// Seconds since the first frame of the stream (pts relative to the first frame's pts).
    pub time: f64,
    pub width: u32,
    pub height: u32,
    pub layout: PixelLayout,
    /// `height` rows of `width * layout.bytes_per_pixel()` bytes.
    pub pixels: Arc<[u8]>,
}

impl VideoFrame {
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.width as usize * self.layout.bytes_per_pixel()
    }
}

/// swscale state, rebuilt only when the source or target changes.
#[derive(Default)]
pub(crate) struct Converter {
    scaler: Option<(ScalerKey, Scaler)>,
}

/// An owned swscale context that may move to another thread.
struct Scaler(ffmpeg::software::scaling::Context);

// SAFETY: an SwsContext has no thread affinity; it is owned here and only used through `&mut`, so
// it is never touched from two threads at once. (ffmpeg-next leaves Send off because of the raw
// pointer, not because of a libswscale rule.)
unsafe impl Send for Scaler {}

#[derive(Clone, Copy, PartialEq, Eq)]
struct ScalerKey {
    source_format: ffmpeg::format::Pixel,
    source_width: u32,
    source_height: u32,
    source_full_range: bool,
    source_space: ffmpeg::color::Space,
    target_format: ffmpeg::format::Pixel,
    target_width: u32,
    target_height: u32,
}

/// Where the converted pixels go and how they are labelled.
pub(crate) struct Placement {
    pub index: usize,
    pub pts: i64,
    pub time: f64,
}

impl Converter {
    /// Converts `frame` to `spec` in display orientation. Scaling happens in coded orientation
    /// (bicubic, the ffmpeg CLI's default) and the rotation is applied to the small result.
    pub fn convert(
        &mut self,
        frame: &ffmpeg::frame::Video,
        rotation: Rotation,
        spec: FrameSpec,
        placement: Placement,
    ) -> Result<VideoFrame, ffmpeg::Error> {
        let (coded_width, coded_height) = (frame.width(), frame.height());
        let (display_width, display_height) = if rotation.swaps_axes() {
            (coded_height, coded_width)
        } else {
            (coded_width, coded_height)
        };
        let (out_width, out_height) = spec.size.resolve(display_width, display_height);
        let (scaled_width, scaled_height) = if rotation.swaps_axes() {
            (out_height, out_width)
        } else {
            (out_width, out_height)
        };
        let key = ScalerKey {
            source_format: frame.format(),
            source_width: coded_width,
            source_height: coded_height,
            source_full_range: frame.color_range() == ffmpeg::color::Range::JPEG,
            source_space: frame.color_space(),
            target_format: spec.layout.ffmpeg_format(),
            target_width: scaled_width,
            target_height: scaled_height,
        };
        let scaler = match &mut self.scaler {
            Some((existing, Scaler(scaler))) if *existing == key => scaler,
            slot => {
                let mut scaler = ffmpeg::software::scaling::Context::get(
                    key.source_format,
                    key.source_width,
                    key.source_height,
                    key.target_format,
                    key.target_width,
                    key.target_height,
                    ffmpeg::software::scaling::Flags::BICUBIC,
                )?;
                configure_colorspace(&mut scaler, key);
                &mut slot.insert((key, Scaler(scaler))).1.0
            }
        };
        let mut scaled = ffmpeg::frame::Video::empty();
        scaler.run(frame, &mut scaled)?;
        let bytes_per_pixel = spec.layout.bytes_per_pixel();
        let row = scaled_width as usize * bytes_per_pixel;
        let stride = scaled.stride(0);
        let data = scaled.data(0);
        let mut packed = Vec::with_capacity(row * scaled_height as usize);
        for y in 0..scaled_height as usize {
            packed.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        let packed = rotate(packed, scaled_width, scaled_height, spec.layout, rotation);
        Ok(VideoFrame {
            index: placement.index,
            pts: placement.pts,
            time: placement.time,
            width: out_width,
            height: out_height,
            layout: spec.layout,
            pixels: packed.into(),
        })
    }
}

/// Tells swscale the source's colour matrix and range (BT.709 HD video would otherwise be
/// converted with BT.601 coefficients and look off).
fn configure_colorspace(scaler: &mut ffmpeg::software::scaling::Context, key: ScalerKey) {
    let space = match key.source_space {
        ffmpeg::color::Space::Unspecified | ffmpeg::color::Space::RGB => return,
        space => space,
    };
    // SAFETY: the scaler is live; the coefficient tables are static; sws_getColorspaceDetails fills
    // the out-parameters for a valid context and we only write back what it returned plus the matrix.
    unsafe {
        let context = scaler.as_mut_ptr();
        let mut inv_table: *mut i32 = std::ptr::null_mut();
        let mut table: *mut i32 = std::ptr::null_mut();
        let (mut src_range, mut dst_range) = (0, 0);
        let (mut brightness, mut contrast, mut saturation) = (0, 0, 0);
        if ffmpeg::ffi::sws_getColorspaceDetails(
            context,
            &mut inv_table,
            &mut src_range,
            &mut table,
            &mut dst_range,
            &mut brightness,
            &mut contrast,
            &mut saturation,
        ) < 0
        {
            return;
        }
        let coefficients =
            ffmpeg::ffi::sws_getCoefficients(ffmpeg::ffi::AVColorSpace::from(space) as i32);
        ffmpeg::ffi::sws_setColorspaceDetails(
            context,
            coefficients,
            i32::from(key.source_full_range) | src_range,
            table,
            dst_range,
            brightness,
            contrast,
            saturation,
        );
    }
}

/// Rotates packed pixels clockwise by the display rotation (image's exact quarter turns).
fn rotate(
    pixels: Vec<u8>,
    width: u32,
    height: u32,
    layout: PixelLayout,
    rotation: Rotation,
) -> Vec<u8> {
    use image::imageops;
    if rotation == Rotation::None {
        return pixels;
    }
    macro_rules! turn {
        ($buffer:ty) => {{
            let Some(image) = <$buffer>::from_raw(width, height, pixels) else {
                unreachable!("packed buffer has exactly width * height pixels");
            };
            match rotation {
                Rotation::Clockwise90 => imageops::rotate90(&image).into_raw(),
                Rotation::Rotate180 => imageops::rotate180(&image).into_raw(),
                Rotation::Clockwise270 => imageops::rotate270(&image).into_raw(),
                Rotation::None => image.into_raw(),
            }
        }};
    }
    match layout {
        PixelLayout::Rgb24 => turn!(image::RgbImage),
        PixelLayout::Rgba32 => turn!(image::RgbaImage),
    }
}
