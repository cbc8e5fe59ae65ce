//! The sound card side: a cpal output stream whose callback drains the samples the decoder
//! thread queued, applies volume, and counts what it played. That count, with the callback's
//! time and the device's reported latency, is the audio clock the picture follows.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::decode::OutputFormat;

/// State shared by the decoder thread, the device callback and the UI.
#[derive(Default)]
pub struct Shared {
    /// Interleaved samples of the current segment, in the decoder's [`OutputFormat`].
    pub queue: VecDeque<f32>,
    /// The segment the queue belongs to (bumped on every seek, speed change or stop).
    pub segment: u64,
    /// Media time of the segment's first sample and its speed; `None` while stopped.
    pub segment_start: Option<(f64, f64)>,
    /// Frames of the segment the device has taken so far.
    pub played_frames: u64,
    /// The last callback: when it ran, frames played before it, and the device latency then.
    pub last_callback: Option<(Instant, u64, Duration)>,
    /// The decoder reached the end of the stream for this segment.
    pub ended: bool,
    /// Callbacks that found the queue empty before the end (the decoder fell behind).
    pub underruns: u64,
    pub volume: f32,
    pub muted: bool,
}

impl Shared {
    /// Empties the queue and starts counting a new segment (or none).
    pub fn restart(&mut self, segment_start: Option<(f64, f64)>) {
        self.queue.clear();
        self.segment += 1;
        self.segment_start = segment_start;
        self.played_frames = 0;
        self.last_callback = None;
        self.ended = false;
    }

    /// The media time being heard at `now`, once the device has started on this segment and
    /// while it still has samples to play.
    pub fn clock(&self, now: Instant, rate: u32) -> Option<f64> {
        let (start, speed) = self.segment_start?;
        let (at, played_before, latency) = self.last_callback?;
        if self.ended && self.queue.is_empty() && now > at + latency {
            return None;
        }
        let since = now.saturating_duration_since(at).as_secs_f64() - latency.as_secs_f64();
        let heard =
            (played_before as f64 + since * f64::from(rate)).clamp(0.0, self.played_frames as f64);
        Some(start + heard * speed / f64::from(rate))
    }
}

pub type SharedState = Arc<Mutex<Shared>>;

/// Locks the shared state; a poisoned lock (a panic elsewhere) still holds usable counters.
pub fn lock(shared: &SharedState) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An open output stream. Not `Send` on every platform: it lives on the audio thread.
pub struct Output {
    _stream: cpal::Stream,
    pub format: OutputFormat,
    pub device_name: String,
}

/// Opens the default output device at its own rate, stereo (or mono where that is all it has),
/// and starts the callback.
pub fn open(shared: SharedState) -> Result<Output, String> {
    let host = cpal::default_host();
    let device = host
        .default_output_device()
        .ok_or_else(|| "no audio output device".to_owned())?;
    let device_name = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| "audio output".to_owned());
    let supported = device
        .default_output_config()
        .map_err(|e| format!("audio device {device_name}: {e}"))?;
    let device_channels = supported.channels().max(1);
    let format = OutputFormat {
        rate: supported.sample_rate(),
        channels: device_channels.min(2),
    };
    let config: cpal::StreamConfig = supported.config();
    let sample_format = supported.sample_format();
    // A failing device repeats its error on every callback: it is told once.
    let told = std::sync::atomic::AtomicBool::new(false);
    let errors = move |error: cpal::Error| {
        if !told.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!("audio output: {error}");
        }
    };
    let stream = match sample_format {
        cpal::SampleFormat::F32 => build::<f32>(&device, &config, format, shared, errors),
        cpal::SampleFormat::I16 => build::<i16>(&device, &config, format, shared, errors),
        cpal::SampleFormat::I32 => build::<i32>(&device, &config, format, shared, errors),
        cpal::SampleFormat::U16 => build::<u16>(&device, &config, format, shared, errors),
        other => {
            return Err(format!(
                "audio device {device_name}: unsupported sample format {other}"
            ));
        }
    }
    .map_err(|e| format!("audio device {device_name}: {e}"))?;
    stream
        .play()
        .map_err(|e| format!("audio device {device_name}: cannot start: {e}"))?;
    Ok(Output {
        _stream: stream,
        format,
        device_name,
    })
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: OutputFormat,
    shared: SharedState,
    errors: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let device_channels = usize::from(config.channels.max(1));
    let ours = usize::from(format.channels);
    device.build_output_stream(
        *config,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let stamp = info.timestamp();
            let latency = stamp.playback.duration_since(stamp.callback);
            let mut state = lock(&shared);
            let gain = if state.muted { 0.0 } else { state.volume };
            let playing = state.segment_start.is_some();
            let played_before = state.played_frames;
            let mut taken = 0u64;
            let mut short = false;
            for frame in data.chunks_mut(device_channels) {
                let mut values = [0.0f32; 2];
                if playing && state.queue.len() >= ours {
                    for value in values.iter_mut().take(ours) {
                        *value = state.queue.pop_front().unwrap_or(0.0) * gain;
                    }
                    taken += 1;
                } else if playing {
                    short = true;
                }
                for (channel, sample) in frame.iter_mut().enumerate() {
                    *sample = T::from_sample(values[channel % ours]);
                }
            }
            if playing {
                state.played_frames += taken;
                state.last_callback = Some((Instant::now(), played_before, latency));
                if short && !state.ended {
                    state.underruns += 1;
                }
            }
        },
        errors,
        None,
    )
}
