//! Turning decoded pictures into tightly packed RGB(A) frames, or 8-bit 4:2:0 Y'CbCr planes for
//! conversion on the GPU, at a requested size with swscale, and applying the display rotation, so a
//! frame can go straight into GPU textures or a PNG.

use std::sync::Arc;

use ffmpeg_next as ffmpeg;

use super::probe::Rotation;

/// Pixel layout of delivered frames: rows are tightly packed (no padding), top row first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PixelLayout {
    /// 3 bytes per pixel, R G B.
    #[default]
    Rgb24,
    /// 4 bytes per pixel, R G B A with A = 255.
    Rgba32,
    /// Planar 8-bit Y'CbCr 4:2:0 in the source's own matrix and range ([`VideoFrame::yuv`]): the
    /// Y plane (`width` x `height` bytes), then Cb and Cr (`ceil(width/2)` x `ceil(height/2)` each).
    /// Half the bytes of RGBA; the display turns it into RGB in `shaders/frame.wgsl`.
    Yuv420p,
}

impl PixelLayout {
    /// Bytes per pixel of the first (for `Yuv420p` the luma) plane.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgb24 => 3,
            Self::Rgba32 => 4,
            Self::Yuv420p => 1,
        }
    }

    fn ffmpeg_format(self) -> ffmpeg::format::Pixel {
        match self {
            Self::Rgb24 => ffmpeg::format::Pixel::RGB24,
            Self::Rgba32 => ffmpeg::format::Pixel::RGBA,
            Self::Yuv420p => ffmpeg::format::Pixel::YUV420P,
        }
    }
}

/// The Y'CbCr to R'G'B' matrix of a video (its luma coefficients Kr and Kb).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum YuvMatrix {
    /// BT.601 (SD, and what swscale assumes when the file does not say).
    #[default]
    Bt601,
    Bt709,
    Bt2020,
}

impl YuvMatrix {
    /// (Kr, Kb).
    pub fn coefficients(self) -> (f32, f32) {
        match self {
            Self::Bt601 => (0.299, 0.114),
            Self::Bt709 => (0.2126, 0.0722),
            Self::Bt2020 => (0.2627, 0.0593),
        }
    }

    fn of(space: ffmpeg::color::Space) -> Self {
        use ffmpeg::color::Space;
        match space {
            Space::BT709 => Self::Bt709,
            Space::BT2020NCL | Space::BT2020CL => Self::Bt2020,
            _ => Self::Bt601,
        }
    }

    fn ffmpeg_space(self) -> ffmpeg::color::Space {
        match self {
            Self::Bt601 => ffmpeg::color::Space::SMPTE170M,
            Self::Bt709 => ffmpeg::color::Space::BT709,
            Self::Bt2020 => ffmpeg::color::Space::BT2020NCL,
        }
    }
}

/// How to read a `Yuv420p` frame: its matrix and whether it uses the full 0..=255 range
/// (JPEG-style) or the limited 16..=235 / 16..=240 video range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct YuvColor {
    pub matrix: YuvMatrix,
    pub full_range: bool,
}

impl YuvColor {
    /// The R'G'B' (0..=1) of one sample, as `shaders/frame.wgsl` computes it.
    pub fn to_rgb(self, y: u8, cb: u8, cr: u8) -> [f32; 3] {
        let (y, cb, cr) = (f32::from(y), f32::from(cb), f32::from(cr));
        let (luma, blue, red) = if self.full_range {
            (y / 255.0, (cb - 128.0) / 255.0, (cr - 128.0) / 255.0)
        } else {
            (
                (y - 16.0) / 219.0,
                (cb - 128.0) / 224.0,
                (cr - 128.0) / 224.0,
            )
        };
        let (kr, kb) = self.matrix.coefficients();
        let kg = 1.0 - kr - kb;
        let r = luma + 2.0 * (1.0 - kr) * red;
        let b = luma + 2.0 * (1.0 - kb) * blue;
        let g = (luma - kr * r - kb * b) / kg;
        [r, g, b].map(|v| v.clamp(0.0, 1.0))
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
    /// The display size when it fits the box, else [`OutputSize::Fit`]: never scaled up.
    AtMost { max_width: u32, max_height: u32 },
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
            Self::AtMost {
                max_width,
                max_height,
            } if width > max_width || height > max_height => {
                fit_within(width, height, max_width, max_height)
            }
            Self::AtMost { .. } => (width.max(1), height.max(1)),
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
    /// `height` rows of `width * layout.bytes_per_pixel()` bytes (for `Yuv420p` followed by the
    /// two chroma planes).
    pub pixels: Arc<[u8]>,
    /// How to turn `Yuv420p` pixels into RGB; `None` for the RGB layouts.
    pub yuv: Option<YuvColor>,
}

impl VideoFrame {
    /// Bytes per row (of the luma plane for `Yuv420p`).
    pub fn row_bytes(&self) -> usize {
        self.width as usize * self.layout.bytes_per_pixel()
    }

    /// Size of each chroma plane of a `Yuv420p` frame.
    pub fn chroma_size(&self) -> (u32, u32) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// The Y, Cb and Cr planes of a `Yuv420p` frame; `None` for the RGB layouts.
    pub fn yuv_planes(&self) -> Option<[&[u8]; 3]> {
        if self.layout != PixelLayout::Yuv420p {
            return None;
        }
        let luma = self.width as usize * self.height as usize;
        let (cw, ch) = self.chroma_size();
        let chroma = cw as usize * ch as usize;
        let (y, rest) = self.pixels.split_at_checked(luma)?;
        let (u, v) = rest.split_at_checked(chroma)?;
        (v.len() == chroma).then_some([y, u, v])
    }
}

/// swscale state, rebuilt only when the source or target changes, and the output buffers it recycles.
#[derive(Default)]
pub(crate) struct Converter {
    scaler: Option<(ScalerKey, Scaler)>,
    /// Buffers handed out recently: one the caller has dropped again (the only reference left is
    /// ours) is written in place, so a steady stream of frames allocates (and page-faults) nothing.
    recycled: Vec<Arc<[u8]>>,
    /// Scratch space for frames that are rotated after scaling.
    unrotated: Vec<u8>,
    /// Scratch space with aligned, padded rows for sizes whose rows swscale may write past.
    padded: Vec<u8>,
}

/// How many handed-out buffers are watched for reuse (a player holds one or two, a pipeline a few).
const RECYCLED_BUFFERS: usize = 6;

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
    /// swscale writes straight into the delivered buffer (no intermediate frame, no repacking)
    /// unless the frame is rotated.
    pub fn convert(
        &mut self,
        frame: &ffmpeg::frame::Video,
        rotation: Rotation,
        spec: FrameSpec,
        placement: Placement,
    ) -> Result<VideoFrame, ffmpeg::Error> {
        let (coded_width, coded_height) = (frame.width(), frame.height());
        if coded_width == 0 || coded_height == 0 {
            return Err(ffmpeg::Error::InvalidData);
        }
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
        let planes = plane_sizes(spec.layout, scaled_width, scaled_height);
        let total: usize = planes.iter().map(|&(row, height)| row * height).sum();
        let mut pixels = self.buffer(total);
        let Some(target) = Arc::get_mut(&mut pixels) else {
            unreachable!("a fresh or recycled buffer has no other owner");
        };
        let scaler = scaler_for(&mut self.scaler, key)?;
        if rotation == Rotation::None {
            scale_into(scaler, frame, target, &planes, &mut self.padded)?;
        } else {
            self.unrotated.resize(total, 0);
            scale_into(
                scaler,
                frame,
                &mut self.unrotated,
                &planes,
                &mut self.padded,
            )?;
            let mut offset = 0;
            for &(row, height) in &planes {
                let width = (row / spec.layout.bytes_per_pixel()) as u32;
                let plane = &self.unrotated[offset..offset + row * height];
                rotate_into(
                    plane,
                    width,
                    height as u32,
                    spec.layout,
                    rotation,
                    &mut target[offset..offset + row * height],
                );
                offset += row * height;
            }
        }
        self.recycled.push(Arc::clone(&pixels));
        if self.recycled.len() > RECYCLED_BUFFERS {
            self.recycled.remove(0);
        }
        Ok(VideoFrame {
            index: placement.index,
            pts: placement.pts,
            time: placement.time,
            width: out_width,
            height: out_height,
            layout: spec.layout,
            pixels,
            yuv: (spec.layout == PixelLayout::Yuv420p).then(|| yuv_color(key)),
        })
    }

    /// A buffer of `len` bytes nobody else holds: a recycled one when the caller let one go.
    fn buffer(&mut self, len: usize) -> Arc<[u8]> {
        if let Some(position) = self
            .recycled
            .iter_mut()
            .position(|buffer| buffer.len() == len && Arc::get_mut(buffer).is_some())
        {
            return self.recycled.remove(position);
        }
        // SAFETY: all-zero bytes are initialised `u8`s.
        unsafe { Arc::<[u8]>::new_zeroed_slice(len).assume_init() }
    }
}

/// The scaler in `slot`, rebuilt when `key` differs from the one it was made for.
fn scaler_for(
    slot: &mut Option<(ScalerKey, Scaler)>,
    key: ScalerKey,
) -> Result<&mut ffmpeg::software::scaling::Context, ffmpeg::Error> {
    if !matches!(slot, Some((existing, _)) if *existing == key) {
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
        *slot = Some((key, Scaler(scaler)));
    }
    match slot {
        Some((_, Scaler(scaler))) => Ok(scaler),
        None => unreachable!("the slot was filled above"),
    }
}

/// (row bytes, rows) of each plane of a tightly packed frame of `layout`.
fn plane_sizes(layout: PixelLayout, width: u32, height: u32) -> Vec<(usize, usize)> {
    let (w, h) = (width as usize, height as usize);
    match layout {
        PixelLayout::Yuv420p => {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            vec![(w, h), (cw, ch), (cw, ch)]
        }
        PixelLayout::Rgb24 | PixelLayout::Rgba32 => vec![(w * layout.bytes_per_pixel(), h)],
    }
}

/// Row alignment at which swscale's vector code stays within each row.
const SWSCALE_ALIGN: usize = 64;

/// Runs swscale from `frame` into `target`, whose planes follow each other tightly packed.
///
/// swscale's vector output code writes whole vectors, so on a row whose length is not a multiple
/// of the vector size it writes past the row's end, and past the buffer's end on the last row
/// (heap corruption on a 9:16 video scaled to an odd width). Rows that are multiples of
/// [`SWSCALE_ALIGN`] bytes (1080p and 4K RGB24 and YUV 4:2:0 are) are written in place; other
/// sizes go through `padded`, whose rows are aligned with room to spare, and are copied out.
fn scale_into(
    scaler: &mut ffmpeg::software::scaling::Context,
    frame: &ffmpeg::frame::Video,
    target: &mut [u8],
    planes: &[(usize, usize)],
    padded: &mut Vec<u8>,
) -> Result<(), ffmpeg::Error> {
    let needed: usize = planes.iter().map(|&(row, height)| row * height).sum();
    if target.len() < needed || planes.len() > 4 {
        return Err(ffmpeg::Error::InvalidData);
    }
    if planes.iter().all(|&(row, _)| row % SWSCALE_ALIGN == 0) {
        let strides: Vec<usize> = planes.iter().map(|&(row, _)| row).collect();
        return run_swscale(scaler, frame, target, planes, &strides);
    }
    let strides: Vec<usize> = planes
        .iter()
        .map(|&(row, _)| row.next_multiple_of(SWSCALE_ALIGN))
        .collect();
    let padded_len: usize = planes
        .iter()
        .zip(&strides)
        .map(|(&(_, height), stride)| stride * height + SWSCALE_ALIGN)
        .sum();
    padded.resize(padded_len, 0);
    run_swscale(scaler, frame, padded, planes, &strides)?;
    let (mut from, mut to) = (0, 0);
    for (&(row, height), &stride) in planes.iter().zip(&strides) {
        for line in 0..height {
            let source = from + line * stride;
            target[to + line * row..to + (line + 1) * row]
                .copy_from_slice(&padded[source..source + row]);
        }
        from += stride * height + SWSCALE_ALIGN;
        to += row * height;
    }
    Ok(())
}

/// One sws_scale call writing plane `i` at `strides[i]` bytes per row, planes one after another
/// in `target` (each followed by [`SWSCALE_ALIGN`] spare bytes when the strides are padded).
fn run_swscale(
    scaler: &mut ffmpeg::software::scaling::Context,
    frame: &ffmpeg::frame::Video,
    target: &mut [u8],
    planes: &[(usize, usize)],
    strides: &[usize],
) -> Result<(), ffmpeg::Error> {
    let tight = planes
        .iter()
        .zip(strides)
        .all(|(&(row, _), &stride)| row == stride);
    let mut pointers = [std::ptr::null_mut::<u8>(); 4];
    let mut linesizes = [0i32; 4];
    let mut offset = 0;
    for (plane, (&(_, height), &stride)) in planes.iter().zip(strides).enumerate() {
        let end = offset + stride * height;
        if end > target.len() {
            return Err(ffmpeg::Error::InvalidData);
        }
        pointers[plane] = target[offset..].as_mut_ptr();
        linesizes[plane] = i32::try_from(stride).map_err(|_| ffmpeg::Error::InvalidData)?;
        offset = if tight { end } else { end + SWSCALE_ALIGN };
    }
    // SAFETY: the source frame is a decoded picture whose size and format the scaler was made for;
    // each destination plane points into `target` with room for `rows x stride` bytes (checked
    // above), and every stride is a multiple of SWSCALE_ALIGN, so swscale's whole-vector writes
    // end within each row (padded planes also have spare bytes after their last row).
    let result = unsafe {
        let source = frame.as_ptr();
        ffmpeg::ffi::sws_scale(
            scaler.as_mut_ptr(),
            (*source).data.as_ptr() as *const *const u8,
            (*source).linesize.as_ptr(),
            0,
            frame.height() as i32,
            pointers.as_ptr(),
            linesizes.as_ptr(),
        )
    };
    if result < 0 {
        return Err(ffmpeg::Error::from(result));
    }
    Ok(())
}

/// Whether pictures of `format` are Y'CbCr (three or more components, not flagged RGB).
fn is_yuv(format: ffmpeg::format::Pixel) -> bool {
    format.descriptor().is_some_and(|d| {
        // SAFETY: the descriptor points at libavutil's static pixel format table.
        let flags = unsafe { (*d.as_ptr()).flags };
        d.nb_components() >= 3 && flags & ffmpeg::ffi::AV_PIX_FMT_FLAG_RGB as u64 == 0
    })
}

/// The matrix and range of the planes a `Yuv420p` conversion writes: the source's own when the
/// source is Y'CbCr (swscale then only resamples), else swscale's BT.601 limited range.
fn yuv_color(key: ScalerKey) -> YuvColor {
    if is_yuv(key.source_format) {
        YuvColor {
            matrix: YuvMatrix::of(key.source_space),
            full_range: key.source_full_range,
        }
    } else {
        YuvColor::default()
    }
}

/// Tells swscale the source's colour matrix and range (BT.709 HD video would otherwise be
/// converted with BT.601 coefficients and look off).
fn configure_colorspace(scaler: &mut ffmpeg::software::scaling::Context, key: ScalerKey) {
    let yuv_to_yuv =
        key.target_format == ffmpeg::format::Pixel::YUV420P && is_yuv(key.source_format);
    let space = match key.source_space {
        _ if yuv_to_yuv => YuvMatrix::of(key.source_space).ffmpeg_space(),
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
        let src_range = i32::from(key.source_full_range) | src_range;
        // Y'CbCr to Y'CbCr keeps the matrix and the range: the shader reads them from the frame.
        let (table, dst_range) = if yuv_to_yuv {
            (coefficients.cast_mut(), src_range)
        } else {
            (table, dst_range)
        };
        ffmpeg::ffi::sws_setColorspaceDetails(
            context,
            coefficients,
            src_range,
            table,
            dst_range,
            brightness,
            contrast,
            saturation,
        );
    }
}

/// Writes `pixels` (`width` x `height`, packed) rotated clockwise by the display rotation into
/// `target` (image's exact quarter turns).
fn rotate_into(
    pixels: &[u8],
    width: u32,
    height: u32,
    layout: PixelLayout,
    rotation: Rotation,
    target: &mut [u8],
) {
    use image::imageops;
    macro_rules! turn {
        ($buffer:ty) => {{
            let Some(image) = <$buffer>::from_raw(width, height, pixels) else {
                unreachable!("packed buffer has exactly width * height pixels");
            };
            let turned = match rotation {
                Rotation::Clockwise90 => imageops::rotate90(&image),
                Rotation::Rotate180 => imageops::rotate180(&image),
                Rotation::Clockwise270 => imageops::rotate270(&image),
                Rotation::None => {
                    target.copy_from_slice(pixels);
                    return;
                }
            };
            target.copy_from_slice(turned.as_raw());
        }};
    }
    match layout {
        PixelLayout::Rgb24 => turn!(image::ImageBuffer<image::Rgb<u8>, &[u8]>),
        PixelLayout::Rgba32 => turn!(image::ImageBuffer<image::Rgba<u8>, &[u8]>),
        PixelLayout::Yuv420p => turn!(image::ImageBuffer<image::Luma<u8>, &[u8]>),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_never_scales_up_and_fits_what_is_larger() {
        let at_most = OutputSize::AtMost {
            max_width: 3840,
            max_height: 3840,
        };
        assert_eq!(at_most.resolve(1920, 1080), (1920, 1080));
        assert_eq!(at_most.resolve(7680, 4320), (3840, 2160));
        // Fit scales a small frame up to the box.
        let fit = OutputSize::Fit {
            max_width: 3840,
            max_height: 3840,
        };
        assert_eq!(fit.resolve(1920, 1080), (3840, 2160));
    }
}
