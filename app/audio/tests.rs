//! The audio pipeline on real files made with the ffmpeg command-line tool: sample counts,
//! seeking, pitch kept at other speeds, the waveform and its cache, and the clock's drift over
//! ten minutes. None of it needs a sound card.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use keye_ui::WaveformTrack;

use super::decode::{AudioDecoder, AudioError, OutputFormat};
use super::waveform::{self, WaveformJob};
use super::{AudioPlayer, AudioStatus};
use crate::test_support::ffmpeg_cli;

const STEREO_48K: OutputFormat = OutputFormat {
    rate: 48_000,
    channels: 2,
};
/// When the test clip beeps (440 Hz), in seconds; silence elsewhere.
const BEEP: (f64, f64) = (1.0, 1.5);

/// `seconds` of a small test picture with AAC sound at 44.1 kHz (so the output resamples) that
/// beeps during [`BEEP`].
fn clip_with_a_beep(dir: &Path, seconds: u32) -> PathBuf {
    let path = dir.join(format!("beep-{seconds}.mp4"));
    let picture = format!("testsrc=size=64x48:rate=5:duration={seconds}");
    let sound = format!(
        "aevalsrc='if(between(t,{},{}),0.8*sin(2*PI*440*t),0)':s=44100:d={seconds}",
        BEEP.0, BEEP.1
    );
    ffmpeg_cli(
        &[
            "-f",
            "lavfi",
            "-i",
            &picture,
            "-f",
            "lavfi",
            "-i",
            &sound,
            "-c:v",
            "mpeg4",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-shortest",
        ],
        &path,
    );
    path
}

fn decode_all(decoder: &mut AudioDecoder) -> (f64, Vec<f32>) {
    let mut samples = Vec::new();
    let mut start = None;
    while let Some(chunk) = decoder.next_chunk().expect("decodes") {
        start.get_or_insert(chunk.start);
        samples.extend(chunk.samples);
    }
    (start.expect("some sound"), samples)
}

/// Left channel of `samples` between media times `from` and `to`, for a run starting at `start`
/// at `speed`.
fn left(samples: &[f32], start: f64, speed: f64, from: f64, to: f64) -> Vec<f32> {
    let rate = f64::from(STEREO_48K.rate);
    let index = |t: f64| (((t - start) / speed * rate).max(0.0) as usize * 2).min(samples.len());
    samples[index(from)..index(to)]
        .iter()
        .step_by(2)
        .copied()
        .collect()
}

/// The tone's frequency from its zero crossings.
fn frequency(tone: &[f32], rate: f64) -> f64 {
    let crossings = tone
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f64 / 2.0 / (tone.len() as f64 / rate)
}

fn loudest(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0, |m, s| m.max(s.abs()))
}

#[test]
fn the_whole_track_decodes_resampled_to_the_output_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip_with_a_beep(dir.path(), 3);
    let mut decoder = AudioDecoder::open(&clip, STEREO_48K, 1.0).unwrap();
    assert_eq!(decoder.info().rate, 44_100);
    assert_eq!(decoder.info().codec, "aac");
    let (start, samples) = decode_all(&mut decoder);
    let seconds = samples.len() as f64 / 2.0 / 48_000.0;
    assert!(start.abs() < 0.03, "the sound starts at {start} s");
    assert!(
        (seconds - 3.0).abs() < 0.05,
        "{seconds} s of sound in a 3 s clip"
    );
    // The beep is where it was put, and silence elsewhere. Mono spread over two speakers plays
    // 3 dB down in each (FFmpeg's standard matrix): 0.8 peaks at 0.57.
    let beep = left(&samples, start, 1.0, 1.1, 1.4);
    let peak = loudest(&beep);
    assert!(
        (peak - 0.8 * 0.5f32.sqrt()).abs() < 0.05,
        "the beep peaks at {peak}"
    );
    let quiet = left(&samples, start, 1.0, 0.2, 0.9);
    assert!(
        loudest(&quiet) < 0.05,
        "before the beep: {}",
        loudest(&quiet)
    );
    let tone = frequency(&beep, 48_000.0);
    assert!((tone - 440.0).abs() < 5.0, "the beep sounds at {tone} Hz");
}

#[test]
fn a_seek_starts_the_sound_at_the_asked_time() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip_with_a_beep(dir.path(), 3);
    let mut decoder = AudioDecoder::open(&clip, STEREO_48K, 1.0).unwrap();
    for target in [2.0, 1.25, 0.4] {
        decoder.seek(target).unwrap();
        let chunk = decoder.next_chunk().unwrap().expect("sound after the seek");
        assert!(
            (chunk.start - target).abs() <= 1.0 / 48_000.0 + 1e-9,
            "asked {target}, got {}",
            chunk.start
        );
        let inside = (BEEP.0..BEEP.1).contains(&target);
        let first: Vec<f32> = chunk.samples.iter().step_by(2).take(480).copied().collect();
        assert_eq!(
            loudest(&first) > 0.5,
            inside,
            "at {target}: {}",
            loudest(&first)
        );
    }
}

#[test]
fn other_speeds_keep_the_pitch_and_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip_with_a_beep(dir.path(), 3);
    for speed in [0.5, 1.5, 2.0] {
        let mut decoder = AudioDecoder::open(&clip, STEREO_48K, speed).unwrap();
        let (start, samples) = decode_all(&mut decoder);
        let heard = samples.len() as f64 / 2.0 / 48_000.0;
        let expected = 3.0 / speed;
        assert!(
            (heard - expected).abs() < 0.06,
            "{speed}x: {heard} s heard for {expected} s"
        );
        let beep = left(&samples, start, speed, 1.1, 1.4);
        let tone = frequency(&beep, 48_000.0);
        assert!(
            (tone - 440.0).abs() < 10.0,
            "{speed}x: the beep sounds at {tone} Hz"
        );
        let quiet = left(&samples, start, speed, 0.2, 0.85);
        assert!(
            loudest(&quiet) < 0.05,
            "{speed}x: before the beep {}",
            loudest(&quiet)
        );
    }
}

/// The clock is the count of samples handed out: over ten minutes it must still name the time
/// the file says, at 1x and at a stretched speed (the bound is 40 ms).
#[test]
fn the_clock_does_not_drift_over_ten_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ten-minutes.mka");
    // A click every 60 s; the clock must put the last one where the file does.
    ffmpeg_cli(
        &[
            "-f",
            "lavfi",
            "-i",
            "aevalsrc='if(lt(mod(t,60),0.01),0.9,0)':s=44100:d=600",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ],
        &path,
    );
    for speed in [1.0, 1.5] {
        let mut decoder = AudioDecoder::open(&path, STEREO_48K, speed).unwrap();
        decoder.seek(530.0).unwrap();
        let step = speed / 48_000.0;
        let mut click = None;
        while let Some(chunk) = decoder.next_chunk().unwrap() {
            if let Some(at) = chunk.samples.iter().step_by(2).position(|s| s.abs() > 0.4) {
                click = Some(chunk.start + at as f64 * step);
                break;
            }
        }
        let click = click.expect("the click at 540 s");
        assert!(
            (click - 540.0).abs() < 0.04,
            "{speed}x: the click at 540 s is heard at {click:.4} s"
        );
    }
}

#[test]
fn a_video_without_sound_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.mp4");
    ffmpeg_cli(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=5:duration=1",
            "-c:v",
            "mpeg4",
        ],
        &path,
    );
    let error = AudioDecoder::open(&path, STEREO_48K, 1.0).err().unwrap();
    assert!(matches!(error, AudioError::NoAudio { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "{}: no audio track (the video plays silently)",
            path.display()
        )
    );
    // The player says it in one line, whatever the machine's sound card.
    let player = AudioPlayer::spawn(&path, || {});
    let started = Instant::now();
    while player.status() == AudioStatus::Opening {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no status in 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        player.status(),
        AudioStatus::Silent("no audio track".into())
    );
}

#[test]
fn a_damaged_file_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip_with_a_beep(dir.path(), 2);
    let bytes = std::fs::read(&clip).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    // Cut before its index, the MP4 cannot be opened; the error names the file.
    match AudioDecoder::open(&cut, STEREO_48K, 1.0) {
        Err(error) => assert!(error.to_string().starts_with(&cut.display().to_string())),
        // Where FFmpeg opens what is left, decoding ends early without a panic.
        Ok(mut decoder) => while let Ok(Some(_)) = decoder.next_chunk() {},
    }
}

#[test]
fn the_waveform_shows_the_beep_and_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip_with_a_beep(dir.path(), 3);
    let peaks = waveform::compute(&clip, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!(peaks.bins_per_second(), 100);
    assert!(
        (peaks.bins().len() as i64 - 300).abs() <= 3,
        "{} bins",
        peaks.bins().len()
    );
    let [low, high] = peaks.range(1.05, 1.45).unwrap();
    assert!(high > 0.6 && low < -0.6, "beep bins {low}..{high}");
    let [low, high] = peaks.range(0.1, 0.95).unwrap();
    assert!(high < 0.05 && low > -0.05, "quiet bins {low}..{high}");
    let [low, high] = peaks.range(1.6, 2.9).unwrap();
    assert!(high < 0.05 && low > -0.05, "after the beep {low}..{high}");

    let cache = dir.path().join("cache");
    let file = waveform::cache_file(&cache, &clip).unwrap();
    waveform::save(&peaks, &file).unwrap();
    assert_eq!(waveform::load(&file), Some(peaks.clone()));
    // A damaged cache file reads as none, so the waveform is computed again.
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
    assert_eq!(waveform::load(&file), None);
    // The job computes, writes the cache, and a second job reads it.
    let wait = |job: &WaveformJob| {
        let started = Instant::now();
        loop {
            match job.state() {
                WaveformTrack::Ready(peaks) => return peaks,
                WaveformTrack::Unavailable(reason) => panic!("{reason}"),
                _ => assert!(started.elapsed() < Duration::from_secs(20), "no waveform"),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let first = wait(&WaveformJob::spawn(&clip, Some(&cache), || {}));
    assert_eq!(*first, peaks);
    assert_eq!(waveform::load(&file), Some(peaks.clone()));
    // Touching the file changes its key: a stale waveform is never read back.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&clip)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_ne!(waveform::cache_file(&cache, &clip).unwrap(), file);
}

/// A speed change keeps the file open: the reader restarts at the playhead at the new speed.
#[test]
fn a_restart_at_another_speed_starts_there_and_stretches() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip_with_a_beep(dir.path(), 3);
    let mut decoder = AudioDecoder::open(&clip, STEREO_48K, 1.0).unwrap();
    decoder.restart(1.0, 2.0).unwrap();
    let (start, samples) = decode_all(&mut decoder);
    // Within one output sample, which at 2x spans two samples of media time.
    assert!(
        (start - 1.0).abs() <= 2.0 / 48_000.0 + 1e-9,
        "starts at {start}"
    );
    let heard = samples.len() as f64 / 2.0 / 48_000.0;
    assert!((heard - 1.0).abs() < 0.06, "{heard} s heard for 2 s at 2x");
    let tone = frequency(&left(&samples, start, 2.0, 1.1, 1.4), 48_000.0);
    assert!((tone - 440.0).abs() < 10.0, "the beep sounds at {tone} Hz");
}
