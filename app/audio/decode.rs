//! Audio of a video file as the speakers want it: the file's best audio stream decoded by FFmpeg,
//! resampled to the output's rate and channel count as packed f32, and, at speeds other than 1x,
//! stretched by FFmpeg's `atempo` filter, which keeps the pitch. One filter graph does all three.
//!
//! Times are media seconds since the first *video* frame (as everywhere in the app), so audio
//! that starts before or after the picture lines up with it. The decoder counts the samples it
//! hands out: output sample `k` after a start at `t0` plays media time `t0 + k * speed / rate`.
//! That count, not the packets' timestamps, is the clock, so it cannot drift by rounding.

use std::path::{Path, PathBuf};

use ffmpeg::{codec, filter, format, frame, media};
use ffmpeg_next as ffmpeg;

use crate::video;

/// Speeds at which audio is heard: `atempo` keeps the pitch in this range; beyond it the
/// player is muted (as most editors do), the picture goes on.
pub const AUDIBLE_SPEEDS: std::ops::RangeInclusive<f64> = 0.5..=2.0;

/// The output format asked of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFormat {
    pub rate: u32,
    /// 1 (mono) or 2 (stereo); a device with more channels gets these spread over its own.
    pub channels: u16,
}

/// Why a file's audio could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: no audio track (the video plays silently)")]
    NoAudio { path: PathBuf },
    #[error("{path}: cannot read the audio track: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: cancelled")]
    Cancelled { path: PathBuf },
}

/// A run of output samples (interleaved, `channels` per frame) and the media time of the first.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    pub start: f64,
    pub samples: Vec<f32>,
}

/// What the stream holds, for notices and the waveform.
#[derive(Debug, Clone)]
pub struct AudioStreamInfo {
    pub codec: String,
    pub rate: u32,
    pub channels: u16,
    /// Seconds, when the container says.
    pub duration: Option<f64>,
}

/// A reader of one file's audio in the output format, from any media time, at one speed.
pub struct AudioDecoder {
    path: PathBuf,
    input: format::context::Input,
    stream_index: usize,
    time_base: ffmpeg::Rational,
    stream_time_base: f64,
    decoder: codec::decoder::Audio,
    graph: filter::Graph,
    format: OutputFormat,
    speed: f64,
    info: AudioStreamInfo,
    /// The first video frame's time in the file (seconds): media time 0.
    video_start: f64,
    /// Where the current run starts (media seconds) and output samples (frames) since then.
    run_start: Option<f64>,
    produced: u64,
    /// Output before this media time is dropped (the seek target).
    skip_until: f64,
    demuxer_done: bool,
    finished: bool,
}

impl AudioDecoder {
    /// Opens `path`'s best audio stream for output in `format` at `speed` (within
    /// [`AUDIBLE_SPEEDS`]), positioned at media time 0.
    pub fn open(path: &Path, format: OutputFormat, speed: f64) -> Result<Self, AudioError> {
        video::init();
        let unreadable = |reason: String| AudioError::Unreadable {
            path: path.to_path_buf(),
            reason,
        };
        let input = ffmpeg::format::input(path).map_err(|e| unreadable(e.to_string()))?;
        let stream =
            input
                .streams()
                .best(media::Type::Audio)
                .ok_or_else(|| AudioError::NoAudio {
                    path: path.to_path_buf(),
                })?;
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let stream_time_base = f64::from(time_base);
        let context = codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| unreadable(e.to_string()))?;
        let decoder = context
            .decoder()
            .audio()
            .map_err(|e| unreadable(format!("no decoder for this codec ({e})")))?;
        let duration = (stream.duration() > 0)
            .then(|| stream.duration() as f64 * stream_time_base)
            .or_else(|| (input.duration() > 0).then(|| input.duration() as f64 / 1e6));
        let info = AudioStreamInfo {
            codec: decoder
                .codec()
                .map_or_else(|| "unknown".to_owned(), |c| c.name().to_owned()),
            rate: decoder.rate(),
            channels: decoder.channels(),
            duration,
        };
        // Media time 0 is the first video frame; without video, the audio's own start.
        let video_start = input
            .streams()
            .best(media::Type::Video)
            .map(|v| (v.start_time(), f64::from(v.time_base())))
            .or(Some((stream.start_time(), stream_time_base)))
            .filter(|(start, _)| *start != ffmpeg::ffi::AV_NOPTS_VALUE)
            .map_or(0.0, |(start, base)| start as f64 * base);
        let graph = build_graph(&decoder, time_base, format, speed).map_err(unreadable)?;
        Ok(Self {
            path: path.to_path_buf(),
            input,
            stream_index,
            time_base,
            stream_time_base,
            decoder,
            graph,
            format,
            speed,
            info,
            video_start,
            run_start: None,
            produced: 0,
            skip_until: 0.0,
            demuxer_done: false,
            finished: false,
        })
    }

    pub fn info(&self) -> &AudioStreamInfo {
        &self.info
    }
    pub fn format(&self) -> OutputFormat {
        self.format
    }
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// [`AudioDecoder::seek`] at another speed: the filter graph a seek builds anew stretches
    /// by the new speed, so the file stays open.
    pub fn restart(&mut self, seconds: f64, speed: f64) -> Result<(), AudioError> {
        self.speed = speed;
        self.seek(seconds)
    }

    /// Positions the reader so that the next chunk starts at media time `seconds`: seeks to a
    /// packet at or before it, then drops decoded output up to it.
    pub fn seek(&mut self, seconds: f64) -> Result<(), AudioError> {
        let target = seconds.max(0.0);
        let file_time = target + self.video_start;
        let ts = (file_time * 1e6) as i64;
        // A failed seek (some streams cannot) falls back to reading from the start.
        if self.input.seek(ts, ..ts + 1).is_err() {
            self.input
                .seek(0, ..)
                .map_err(|e| self.unreadable(format!("cannot seek: {e}")))?;
        }
        self.decoder.flush();
        self.graph = build_graph(&self.decoder, self.time_base, self.format, self.speed)
            .map_err(|e| self.unreadable(e))?;
        self.run_start = None;
        self.produced = 0;
        self.skip_until = target;
        self.demuxer_done = false;
        self.finished = false;
        Ok(())
    }

    /// The next run of output samples, `None` at the end of the stream. Damaged packets are
    /// skipped (a player goes on); a file that cannot be read at all is an error.
    pub fn next_chunk(&mut self) -> Result<Option<AudioChunk>, AudioError> {
        let mut out = frame::Audio::empty();
        loop {
            if self.finished {
                return Ok(None);
            }
            match self
                .graph
                .get("out")
                .map(|mut sink| sink.sink().frame(&mut out))
            {
                Some(Ok(())) => {
                    if let Some(chunk) = self.take(&out) {
                        return Ok(Some(chunk));
                    }
                    continue;
                }
                Some(Err(ffmpeg::Error::Eof)) => {
                    self.finished = true;
                    return Ok(None);
                }
                Some(Err(_)) => {}
                None => return Err(self.unreadable("the filter graph has no output".into())),
            }
            self.feed()?;
        }
    }

    /// Decodes the next packet's frames into the graph (or flushes it at the end).
    fn feed(&mut self) -> Result<(), AudioError> {
        let mut decoded = frame::Audio::empty();
        loop {
            if self.decoder.receive_frame(&mut decoded).is_ok() {
                if self.run_start.is_none() {
                    let pts = decoded.timestamp().or(decoded.pts());
                    self.run_start = Some(pts.map_or(self.skip_until, |pts| {
                        pts as f64 * self.stream_time_base - self.video_start
                    }));
                }
                let Some(mut source) = self.graph.get("in") else {
                    return Err(self.unreadable("the filter graph has no input".into()));
                };
                return source
                    .source()
                    .add(&decoded)
                    .map_err(|e| self.unreadable(format!("resampling failed: {e}")));
            }
            if self.demuxer_done {
                let Some(mut source) = self.graph.get("in") else {
                    return Err(self.unreadable("the filter graph has no input".into()));
                };
                // Flushing twice is harmless; the sink then reports the end.
                let _ = source.source().flush();
                return Ok(());
            }
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream_index => {
                    // A damaged packet is skipped, as players do.
                    let _ = self.decoder.send_packet(&packet);
                }
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.demuxer_done = true;
                    let _ = self.decoder.send_eof();
                }
                Err(e) => return Err(self.unreadable(e.to_string())),
            }
        }
    }

    /// Converts one filtered frame to a chunk, dropping what lies before the seek target.
    fn take(&mut self, out: &frame::Audio) -> Option<AudioChunk> {
        let channels = usize::from(self.format.channels);
        let frames = out.samples();
        let bytes = &out.data(0)[..frames * channels * 4];
        let start_of_run = self.run_start.unwrap_or(self.skip_until);
        let step = self.speed / f64::from(self.format.rate);
        let start = start_of_run + self.produced as f64 * step;
        self.produced += frames as u64;
        let skip = (((self.skip_until - start) / step).ceil().max(0.0) as usize).min(frames);
        if skip == frames {
            return None;
        }
        let samples = bytes[skip * channels * 4..]
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Some(AudioChunk {
            start: start + skip as f64 * step,
            samples,
        })
    }

    fn unreadable(&self, reason: String) -> AudioError {
        AudioError::Unreadable {
            path: self.path.clone(),
            reason,
        }
    }
}

/// `abuffer -> aresample -> aformat (flt, layout) [-> atempo] -> abuffersink`.
fn build_graph(
    decoder: &codec::decoder::Audio,
    time_base: ffmpeg::Rational,
    format: OutputFormat,
    speed: f64,
) -> Result<filter::Graph, String> {
    let mut graph = filter::Graph::new();
    let layout = decoder.channel_layout().bits();
    let layout = if layout != 0 {
        format!("channel_layout=0x{layout:x}")
    } else {
        format!("channels={}", decoder.channels().max(1))
    };
    let args = format!(
        "time_base={}/{}:sample_rate={}:sample_fmt={}:{layout}",
        time_base.numerator(),
        time_base.denominator(),
        decoder.rate(),
        decoder.format().name(),
    );
    let find =
        |name: &str| filter::find(name).ok_or_else(|| format!("FFmpeg has no {name} filter"));
    graph
        .add(&find("abuffer")?, "in", &args)
        .map_err(|e| format!("abuffer {args}: {e}"))?;
    graph
        .add(&find("abuffersink")?, "out", "")
        .map_err(|e| e.to_string())?;
    let out_layout = if format.channels == 1 {
        "mono"
    } else {
        "stereo"
    };
    let mut spec = format!(
        "aresample={},aformat=sample_fmts=flt:channel_layouts={out_layout}",
        format.rate
    );
    if (speed - 1.0).abs() > 1e-9 {
        spec.push_str(&format!(",atempo={speed}"));
    }
    graph
        .output("in", 0)
        .and_then(|g| g.input("out", 0))
        .and_then(|g| g.parse(&spec))
        .map_err(|e| format!("{spec}: {e}"))?;
    graph.validate().map_err(|e| e.to_string())?;
    Ok(graph)
}
