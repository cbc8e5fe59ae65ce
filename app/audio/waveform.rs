//! The waveform the timeline draws, so that events can be timed to sounds: the peak range of
//! the audio (mono, 8 kHz) in bins of 10 ms, computed on a worker with progress and
//! cancellation, and cached per file (keyed by path, size and modification time) so a file
//! opened again shows it at once. A 2-hour file is 720k bins, 5.8 MB in memory and on disk.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use keye_ui::{WaveformPeaks, WaveformTrack};

use super::decode::{AudioDecoder, AudioError, OutputFormat};

/// Bins per second of the waveform.
pub const BINS_PER_SECOND: u32 = 100;
const RATE: u32 = 8_000;
const MAGIC: &[u8; 8] = b"KSWAVE01";

/// Decodes `path`'s audio and reduces it to peaks. `progress` gets the share done (when the
/// duration is known); `cancel` stops it with [`AudioError::Cancelled`].
pub fn compute(
    path: &Path,
    progress: &mut dyn FnMut(f32),
    cancel: &AtomicBool,
) -> Result<WaveformPeaks, AudioError> {
    let format = OutputFormat {
        rate: RATE,
        channels: 1,
    };
    let mut decoder = AudioDecoder::open(path, format, 1.0)?;
    let duration = decoder.info().duration.filter(|d| *d > 0.0);
    let per_bin = (RATE / BINS_PER_SECOND) as usize;
    let mut bins: Vec<[f32; 2]> = Vec::new();
    let mut reported = 0.0;
    while let Some(chunk) = decoder.next_chunk()? {
        if cancel.load(Ordering::Relaxed) {
            return Err(AudioError::Cancelled {
                path: path.to_path_buf(),
            });
        }
        // The decoder's chunks follow each other exactly; samples before media time 0 (sound
        // starting before the picture) are not drawn.
        let first = (chunk.start * f64::from(RATE)).round() as i64;
        for (offset, &sample) in chunk.samples.iter().enumerate() {
            let Ok(index) = usize::try_from(first + offset as i64) else {
                continue;
            };
            let bin = index / per_bin;
            if bins.len() <= bin {
                bins.resize(bin + 1, [0.0, 0.0]);
            }
            let peak = &mut bins[bin];
            peak[0] = peak[0].min(sample);
            peak[1] = peak[1].max(sample);
        }
        if let Some(duration) = duration {
            let end = (first + chunk.samples.len() as i64) as f64 / f64::from(RATE);
            let done = (end / duration).clamp(0.0, 1.0) as f32;
            if done - reported >= 0.01 {
                reported = done;
                progress(done);
            }
        }
    }
    progress(1.0);
    Ok(WaveformPeaks::new(BINS_PER_SECOND, bins))
}

/// Where `video`'s waveform is cached under `cache_dir`: changes to the file's size or
/// modification time make a new name, so a stale waveform is never shown.
pub fn cache_file(cache_dir: &Path, video: &Path) -> Option<PathBuf> {
    use std::hash::Hasher as _;
    let full = std::fs::canonicalize(video).ok()?;
    let meta = std::fs::metadata(&full).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(full.as_os_str().as_encoded_bytes());
    hasher.write_u64(meta.len());
    hasher.write_u128(modified.as_nanos());
    Some(cache_dir.join(format!("{:016x}.peaks", hasher.finish())))
}

pub fn save(peaks: &WaveformPeaks, file: &Path) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    let mut bytes = Vec::with_capacity(20 + peaks.bins().len() * 8);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&peaks.bins_per_second().to_le_bytes());
    bytes.extend_from_slice(&(peaks.bins().len() as u64).to_le_bytes());
    for [low, high] in peaks.bins() {
        bytes.extend_from_slice(&low.to_le_bytes());
        bytes.extend_from_slice(&high.to_le_bytes());
    }
    temp.write_all(&bytes)?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a cached waveform; a damaged or foreign file reads as none (it is then recomputed).
pub fn load(file: &Path) -> Option<WaveformPeaks> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let bins_per_second = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    let count = u64::from_le_bytes(rest.get(4..12)?.try_into().ok()?) as usize;
    let data = rest.get(12..)?;
    if bins_per_second != BINS_PER_SECOND || data.len() != count.checked_mul(8)? {
        return None;
    }
    let float = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let bins = data
        .chunks_exact(8)
        .map(|b| [float(&b[..4]), float(&b[4..])])
        .collect();
    Some(WaveformPeaks::new(bins_per_second, bins))
}

/// The waveform of one file, read from the cache or computed on a worker thread. Dropping the
/// job cancels it.
pub struct WaveformJob {
    state: Arc<Mutex<WaveformTrack>>,
    progress: Arc<AtomicU32>,
    cancel: Arc<AtomicBool>,
}

impl WaveformJob {
    pub fn spawn(video: &Path, cache_dir: Option<&Path>, wake: impl Fn() + Send + 'static) -> Self {
        let state = Arc::new(Mutex::new(WaveformTrack::Computing(0.0)));
        let progress = Arc::new(AtomicU32::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let cached = cache_dir.and_then(|dir| cache_file(dir, video));
        let job = Self {
            state: state.clone(),
            progress: progress.clone(),
            cancel: cancel.clone(),
        };
        let video = video.to_path_buf();
        let worker = move || {
            let result = match cached.as_deref().and_then(load) {
                Some(peaks) => Ok(peaks),
                None => compute(
                    &video,
                    &mut |done| {
                        progress.store(done.to_bits(), Ordering::Relaxed);
                        wake();
                    },
                    &cancel,
                )
                .inspect(|peaks| {
                    // A cache that cannot be written only costs the next open the time again.
                    if let Some(file) = &cached {
                        let _ = save(peaks, file);
                    }
                }),
            };
            let done = match result {
                Ok(peaks) => WaveformTrack::Ready(Arc::new(peaks)),
                Err(AudioError::NoAudio { .. }) => {
                    WaveformTrack::Unavailable("no audio track".into())
                }
                Err(error) => WaveformTrack::Unavailable(error.to_string()),
            };
            *state.lock().unwrap_or_else(|p| p.into_inner()) = done;
            wake();
        };
        if let Err(error) = std::thread::Builder::new()
            .name("waveform".into())
            .spawn(worker)
        {
            *job.state.lock().unwrap_or_else(|p| p.into_inner()) =
                WaveformTrack::Unavailable(format!("cannot start the waveform worker: {error}"));
        }
        job
    }

    pub fn state(&self) -> WaveformTrack {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            WaveformTrack::Computing(_) => {
                WaveformTrack::Computing(f32::from_bits(self.progress.load(Ordering::Relaxed)))
            }
            other => other.clone(),
        }
    }
}

impl Drop for WaveformJob {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}
