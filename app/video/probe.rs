//! Opening a file and describing it: container, streams, codec, sizes (rotation applied), frame rates,
//! duration, start time, frame count and audio presence.

use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use serde::Serialize;

use super::error::VideoError;
use super::index::FrameIndex;

/// Files larger than this are not scanned by [`probe`]: their frame count is estimated from the
/// container header instead (a full packet pass would read the whole file).
pub const EXACT_COUNT_SCAN_LIMIT_BYTES: u64 = 4 << 30;

/// Clockwise rotation a player applies to decoded frames (from the display matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Rotation {
    None,
    Clockwise90,
    Rotate180,
    Clockwise270,
}

impl Rotation {
    /// The rotation in degrees clockwise (0, 90, 180 or 270).
    pub fn degrees(self) -> u32 {
        match self {
            Self::None => 0,
            Self::Clockwise90 => 90,
            Self::Rotate180 => 180,
            Self::Clockwise270 => 270,
        }
    }

    /// Whether width and height swap on display.
    pub fn swaps_axes(self) -> bool {
        matches!(self, Self::Clockwise90 | Self::Clockwise270)
    }

    /// Nearest quarter turn to `degrees` clockwise (any value, normalised to 0..360), as the ffmpeg
    /// CLI's autorotate does.
    fn from_clockwise_degrees(degrees: f64) -> Self {
        match (degrees / 90.0).round().rem_euclid(4.0) as u32 {
            1 => Self::Clockwise90,
            2 => Self::Rotate180,
            3 => Self::Clockwise270,
            _ => Self::None,
        }
    }
}

/// A frame count, and whether it was counted or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameCount {
    pub frames: usize,
    /// True when every packet was counted; false when estimated from the header (huge files).
    pub exact: bool,
}

/// One stream of the container, for the overview.
#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    pub index: usize,
    /// "video", "audio", "subtitle", "data", "attachment" or "unknown".
    pub kind: String,
    pub codec: String,
}

/// Everything `probe` reports about a video file. Sizes are in pixels, times in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct VideoInfo {
    pub path: PathBuf,
    pub file_size: u64,
    /// Container short name(s) as FFmpeg names the demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    pub container: String,
    pub container_long_name: String,
    pub streams: Vec<StreamSummary>,
    /// Index of the video stream used (FFmpeg's best video stream).
    pub video_stream: usize,
    pub codec: String,
    pub codec_long_name: String,
    pub pixel_format: String,
    /// Bits per colour component of the decoded pixels (8, 10, 12...).
    pub bit_depth: u8,
    /// Size of the decoded pictures.
    pub coded_width: u32,
    pub coded_height: u32,
    /// Rotation a player applies, from the display matrix.
    pub rotation: Rotation,
    /// Size as shown, after rotation.
    pub display_width: u32,
    pub display_height: u32,
    /// Sample (pixel) aspect ratio as (num, den); (1, 1) for square pixels.
    pub sample_aspect_ratio: (i32, i32),
    /// The stream time base as (num, den): raw timestamps count in these units of seconds.
    pub time_base: (i32, i32),
    /// Container average frame rate (frames / duration), if declared.
    pub average_frame_rate: Option<f64>,
    /// FFmpeg's "real" base frame rate (r_frame_rate), the lowest rate all timestamps fit.
    pub real_frame_rate: Option<f64>,
    /// Frames per second over the scanned frames (exact counts only).
    pub measured_frame_rate: Option<f64>,
    /// True when frame spacing varies beyond timestamp rounding (exact counts only).
    pub variable_frame_rate: bool,
    /// Seconds from the first frame to the end of the last.
    pub duration: f64,
    /// Start of the video stream in seconds on the container timeline (raw, non-zero for files cut
    /// from a broadcast or with an offset).
    pub start_time: f64,
    /// Raw pts of the first frame shown: relative frame times count from here.
    pub first_pts: Option<i64>,
    pub frame_count: FrameCount,
    /// Number of keyframes and the longest keyframe-to-keyframe run (exact counts only).
    pub keyframes: Option<usize>,
    pub max_gop_length: Option<usize>,
    pub has_audio: bool,
    /// Problems found while reading: the file is usable but partly broken.
    pub warnings: Vec<String>,
}

impl VideoInfo {
    /// Frames per second, the one rate the app works with (the model's sampling, the player's
    /// one-second step, what the inspector shows): the container's average rate, as decord
    /// reports it to keye-vl-utils; else the rate measured over the frame index; else frames over
    /// duration; else 1.
    pub fn frame_rate(&self) -> f64 {
        let known = |rate: Option<f64>| rate.filter(|r| r.is_finite() && *r > 0.0);
        known(self.average_frame_rate)
            .or(known(self.measured_frame_rate))
            .unwrap_or_else(|| {
                let frames = self.frame_count.frames;
                if self.duration > 0.0 && frames > 0 {
                    frames as f64 / self.duration
                } else {
                    1.0
                }
            })
    }
}

/// Describes `path`. Counts frames exactly with a demux-only pass unless the file is larger than
/// [`EXACT_COUNT_SCAN_LIMIT_BYTES`]; then the count is estimated and marked so.
pub fn probe(path: impl AsRef<Path>) -> Result<VideoInfo, VideoError> {
    let path = path.as_ref();
    let mut opened = OpenedInput::open(path)?;
    if opened.file_size <= EXACT_COUNT_SCAN_LIMIT_BYTES {
        let (info, _index) = opened.scan()?;
        Ok(info)
    } else {
        Ok(opened.describe(None, Vec::new()))
    }
}

/// A demuxer opened on the file with the video stream chosen and its decoder checked to exist.
pub(crate) struct OpenedInput {
    pub path: PathBuf,
    pub file_size: u64,
    pub input: ffmpeg::format::context::Input,
    pub stream_index: usize,
    pub codec: ffmpeg::Codec,
}

impl OpenedInput {
    /// Opens `path` and picks its video stream, turning every failure into a typed error.
    pub fn open(path: &Path) -> Result<Self, VideoError> {
        super::init();
        let path_buf = path.to_path_buf();
        let metadata = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                VideoError::NotFound {
                    path: path_buf.clone(),
                }
            } else {
                VideoError::Io {
                    path: path_buf.clone(),
                    cause: source,
                }
            }
        })?;
        if metadata.is_dir() {
            return Err(VideoError::Io {
                path: path_buf,
                cause: std::io::Error::other("it is a directory"),
            });
        }
        if metadata.len() == 0 {
            return Err(VideoError::Empty { path: path_buf });
        }
        // Read access is checked here so a permission problem is reported as such, not as a format error.
        std::fs::File::open(path).map_err(|cause| VideoError::Io {
            path: path_buf.clone(),
            cause,
        })?;
        let input = ffmpeg::format::input(path).map_err(|error| open_error(path, error))?;
        if input.nb_streams() == 0 {
            // The MP4 demuxer opens a file whose moov atom is missing but finds no streams in it.
            return Err(open_error(path, ffmpeg::Error::InvalidData));
        }
        let stream_index = {
            let Some(stream) = input.streams().best(ffmpeg::media::Type::Video) else {
                return Err(VideoError::NotAVideo {
                    path: path_buf,
                    streams: describe_streams(&input),
                });
            };
            stream.index()
        };
        let stream = input
            .stream(stream_index)
            .ok_or_else(|| VideoError::NotAVideo {
                path: path_buf.clone(),
                streams: describe_streams(&input),
            })?;
        let parameters = stream.parameters();
        let codec =
            ffmpeg::decoder::find(parameters.id()).ok_or_else(|| VideoError::UnsupportedCodec {
                path: path_buf.clone(),
                codec: codec_label(&parameters),
            })?;
        Ok(Self {
            path: path_buf,
            file_size: metadata.len(),
            input,
            stream_index,
            codec,
        })
    }

    /// Opens a decoder for the video stream with the threading `threads` (frame
    /// threading only delays output, which the pts-based frame matching does not mind).
    pub fn decoder(&self, threads: DecodeThreads) -> Result<ffmpeg::decoder::Video, VideoError> {
        let stream = self
            .input
            .stream(self.stream_index)
            .ok_or_else(|| VideoError::NoFrames {
                path: self.path.clone(),
                reason: "the video stream disappeared".into(),
            })?;
        let decode_error = |error: ffmpeg::Error| VideoError::UnsupportedCodec {
            path: self.path.clone(),
            codec: format!("{} ({error})", self.codec.name()),
        };
        let mut context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .map_err(decode_error)?;
        set_threading(&mut context, threads);
        let mut decoder = context.decoder();
        decoder.set_packet_time_base(stream.time_base());
        decoder
            .open_as(self.codec)
            .and_then(|opened| opened.video())
            .map_err(decode_error)
    }

    /// Scans all packets into a [`FrameIndex`] and describes the file with exact counts.
    pub fn scan(&mut self) -> Result<(VideoInfo, FrameIndex), VideoError> {
        let (index, report) = FrameIndex::scan(&mut self.input, self.stream_index);
        if index.is_empty() {
            return Err(VideoError::NoFrames {
                path: self.path.clone(),
                reason: report
                    .warnings
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no video packets".into()),
            });
        }
        let mut warnings = report.warnings;
        let declared = self
            .input
            .stream(self.stream_index)
            .map_or(0, |s| s.frames().max(0) as usize);
        if declared > index.len() + 1 {
            warnings.push(format!(
                "the file looks truncated: its header declares {declared} frames, {} are readable",
                index.len()
            ));
        } else if let Some(declared) = self.declared_video_duration() {
            let readable = index.duration_seconds();
            if declared > readable * 1.05 + 0.2 {
                warnings.push(format!(
                    "the file looks truncated: its header declares {declared:.3} s of video, \
                     the readable frames cover {readable:.3} s"
                ));
            }
        }
        Ok((self.describe(Some(&index), warnings), index))
    }

    /// The video duration the header promises: the stream's own, or the container's when the video
    /// is the only stream (otherwise a longer audio track would count).
    fn declared_video_duration(&self) -> Option<f64> {
        let stream = self.input.stream(self.stream_index)?;
        if stream.duration() > 0 {
            return Some(stream.duration() as f64 * f64::from(stream.time_base()));
        }
        (self.input.nb_streams() == 1 && self.input.duration() > 0)
            .then(|| self.input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE))
    }

    /// Builds the description; with `index` the counts and rates are exact, else header estimates.
    pub fn describe(&self, index: Option<&FrameIndex>, warnings: Vec<String>) -> VideoInfo {
        let input = &self.input;
        let stream = input
            .stream(self.stream_index)
            .expect("stream index was validated when the input was opened");
        let parameters = stream.parameters();
        // SAFETY: the parameters belong to a live stream; these are plain fields.
        let (coded_width, coded_height, raw_format, sar) = unsafe {
            let p = &*parameters.as_ptr();
            (
                p.width.max(0) as u32,
                p.height.max(0) as u32,
                p.format,
                p.sample_aspect_ratio,
            )
        };
        let pixel = if raw_format >= 0 {
            // SAFETY: a non-negative format in codec parameters is a valid AVPixelFormat value.
            ffmpeg::format::Pixel::from(unsafe {
                std::mem::transmute::<i32, ffmpeg::ffi::AVPixelFormat>(raw_format)
            })
        } else {
            ffmpeg::format::Pixel::None
        };
        let rotation = stream_rotation(&stream);
        let (display_width, display_height) = if rotation.swaps_axes() {
            (coded_height, coded_width)
        } else {
            (coded_width, coded_height)
        };
        let time_base = stream.time_base();
        let seconds = |ticks: i64| {
            ticks as f64 * f64::from(time_base.numerator()) / f64::from(time_base.denominator())
        };
        let rate =
            |r: ffmpeg::Rational| (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r));
        let average_frame_rate = rate(stream.avg_frame_rate());
        // SAFETY: plain field of a live format context.
        let container_start = unsafe { (*input.as_ptr()).start_time };
        let start_time = if stream.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE {
            seconds(stream.start_time())
        } else if container_start != ffmpeg::ffi::AV_NOPTS_VALUE {
            container_start as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)
        } else {
            0.0
        };
        let header_duration = if stream.duration() > 0 {
            seconds(stream.duration())
        } else if input.duration() > 0 {
            input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)
        } else {
            0.0
        };
        let format = input.format();
        let (frame_count, duration) = match index {
            Some(index) => (
                FrameCount {
                    frames: index.len(),
                    exact: true,
                },
                index.duration_seconds(),
            ),
            None => {
                let estimated = if stream.frames() > 0 {
                    stream.frames() as usize
                } else {
                    (header_duration * average_frame_rate.unwrap_or(0.0)).round() as usize
                };
                (
                    FrameCount {
                        frames: estimated,
                        exact: false,
                    },
                    header_duration,
                )
            }
        };
        VideoInfo {
            path: self.path.clone(),
            file_size: self.file_size,
            container: format.name().to_string(),
            container_long_name: format.description().to_string(),
            streams: stream_summaries(input),
            video_stream: self.stream_index,
            codec: self.codec.name().to_string(),
            codec_long_name: self.codec.description().to_string(),
            pixel_format: pixel
                .descriptor()
                .map_or_else(|| "unknown".to_string(), |d| d.name().to_string()),
            bit_depth: bit_depth(pixel),
            coded_width,
            coded_height,
            rotation,
            display_width,
            display_height,
            sample_aspect_ratio: if sar.num > 0 && sar.den > 0 {
                (sar.num, sar.den)
            } else {
                (1, 1)
            },
            time_base: (time_base.numerator(), time_base.denominator()),
            average_frame_rate,
            real_frame_rate: rate(stream.rate()),
            measured_frame_rate: index.and_then(FrameIndex::measured_frame_rate),
            variable_frame_rate: index.is_some_and(FrameIndex::is_variable_frame_rate),
            duration,
            start_time,
            first_pts: index.and_then(FrameIndex::first_pts),
            frame_count,
            keyframes: index.map(|i| i.keyframes().len()),
            max_gop_length: index.map(FrameIndex::max_gop_length),
            has_audio: input
                .streams()
                .any(|s| s.parameters().medium() == ffmpeg::media::Type::Audio),
            warnings,
        }
    }
}

/// Turns an avformat_open_input failure into the most helpful error we can name.
fn open_error(path: &Path, error: ffmpeg::Error) -> VideoError {
    let path_buf = path.to_path_buf();
    match error {
        ffmpeg::Error::InvalidData | ffmpeg::Error::Eof => {
            if looks_like_iso_media(path) {
                VideoError::Corrupt {
                    path: path_buf,
                    reason: "an MP4/MOV file whose index (moov atom) is missing or cut off, \
                             e.g. a recording that was interrupted"
                        .into(),
                }
            } else {
                VideoError::Unrecognized {
                    path: path_buf,
                    reason: error.to_string(),
                }
            }
        }
        other => VideoError::Corrupt {
            path: path_buf,
            reason: other.to_string(),
        },
    }
}

/// True when the file starts like an ISO base media file (MP4/MOV): a box whose type is `ftyp`,
/// `mdat`, `moov`, `free` or `wide`.
fn looks_like_iso_media(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && matches!(&head[4..8], b"ftyp" | b"mdat" | b"moov" | b"free" | b"wide")
}

fn media_kind(medium: ffmpeg::media::Type) -> &'static str {
    match medium {
        ffmpeg::media::Type::Video => "video",
        ffmpeg::media::Type::Audio => "audio",
        ffmpeg::media::Type::Subtitle => "subtitle",
        ffmpeg::media::Type::Data => "data",
        ffmpeg::media::Type::Attachment => "attachment",
        ffmpeg::media::Type::Unknown => "unknown",
    }
}

fn stream_summaries(input: &ffmpeg::format::context::Input) -> Vec<StreamSummary> {
    input
        .streams()
        .map(|s| {
            let parameters = s.parameters();
            StreamSummary {
                index: s.index(),
                kind: media_kind(parameters.medium()).to_string(),
                codec: codec_label(&parameters),
            }
        })
        .collect()
}

fn describe_streams(input: &ffmpeg::format::context::Input) -> String {
    let streams = stream_summaries(input);
    if streams.is_empty() {
        return "it has no streams".into();
    }
    let listed: Vec<String> = streams
        .iter()
        .map(|s| format!("{} {}", s.kind, s.codec))
        .collect();
    format!("it has: {}", listed.join(", "))
}

/// The codec's FFmpeg name, or its container tag (FourCC) when FFmpeg does not know the codec.
fn codec_label(parameters: &ffmpeg::codec::Parameters) -> String {
    let id = parameters.id();
    if id != ffmpeg::codec::Id::None {
        return id.name().to_string();
    }
    // SAFETY: plain field of live codec parameters.
    let tag = unsafe { (*parameters.as_ptr()).codec_tag };
    let fourcc: String = tag
        .to_le_bytes()
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect();
    format!("unknown (tag '{fourcc}')")
}

/// Reads the display matrix side data the way the ffmpeg CLI's autorotate does.
fn stream_rotation(stream: &ffmpeg::format::stream::Stream) -> Rotation {
    for side_data in stream.side_data() {
        if side_data.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix
            && side_data.data().len() >= 36
        {
            let mut matrix = [0i32; 9];
            for (value, bytes) in matrix.iter_mut().zip(side_data.data().chunks_exact(4)) {
                *value = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            }
            // SAFETY: a 3x3 i32 matrix as av_display_rotation_get expects.
            let counter_clockwise =
                unsafe { ffmpeg::ffi::av_display_rotation_get(matrix.as_ptr()) };
            if counter_clockwise.is_finite() {
                return Rotation::from_clockwise_degrees(-counter_clockwise);
            }
        }
    }
    match stream
        .metadata()
        .get("rotate")
        .and_then(|r| r.parse::<f64>().ok())
    {
        Some(degrees) => Rotation::from_clockwise_degrees(degrees),
        None => Rotation::None,
    }
}

fn bit_depth(pixel: ffmpeg::format::Pixel) -> u8 {
    pixel.descriptor().map_or(8, |d| {
        // SAFETY: a descriptor from av_pix_fmt_desc_get is static and valid.
        unsafe { (*d.as_ptr()).comp[0].depth as u8 }
    })
}

/// How many threads a decoder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodeThreads {
    /// Frame and slice threading on every core, as the ffmpeg CLI decodes.
    #[default]
    All,
    /// One thread (the reference the threaded output is checked against).
    Single,
}

/// Sets the thread count and kinds on a decoder context before it is opened. ffmpeg-next's
/// `set_threading` takes one kind; the CLI's default is frame *and* slice threading (codecs without
/// frame threading then still spread slices over the cores), so the field is written directly.
fn set_threading(context: &mut ffmpeg::codec::context::Context, threads: DecodeThreads) {
    let (count, kinds) = match threads {
        DecodeThreads::All => (
            0,
            ffmpeg::ffi::FF_THREAD_FRAME | ffmpeg::ffi::FF_THREAD_SLICE,
        ),
        DecodeThreads::Single => (1, 0),
    };
    // SAFETY: the context is allocated and not yet opened; these are plain integer fields.
    unsafe {
        let context = context.as_mut_ptr();
        (*context).thread_count = count;
        (*context).thread_type = kinds;
    }
}
