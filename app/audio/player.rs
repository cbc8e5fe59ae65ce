//! The audio of the open video, played in step with the picture. A thread owns the device
//! stream and the decoder and keeps a short queue filled; the UI tells it where and how fast the
//! player runs ([`AudioPlayer::follow`]) and the player's position follows the audio clock, so
//! picture and sound cannot drift apart: the sound card's own clock paces both.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use keye_ui::{Direction, PlayerState};

use super::decode::{AUDIBLE_SPEEDS, AudioDecoder, AudioError, OutputFormat};
use super::output::{self, Shared, SharedState, lock};

/// How much decoded audio the thread keeps ahead of the device.
const QUEUE_SECONDS: f64 = 0.25;
/// A position change between two frames larger than the frame's own advance by this much is a
/// jump (seek, loop, step), after which the sound starts again from the new position.
const JUMP: f64 = 0.05;
/// How long the picture waits for the sound to start after a (re)start before it goes on alone.
const START_WAIT: Duration = Duration::from_millis(500);

/// What the audio side can do for the open video (the app says it in one line).
#[derive(Debug, Clone, PartialEq)]
pub enum AudioStatus {
    Opening,
    /// Sound is ready: the device, its rate, and the file's codec.
    Ready {
        device: String,
        rate: u32,
        codec: String,
    },
    /// Plays silently: no audio track, no device, or an unreadable track (the reason says).
    Silent(String),
}

enum Command {
    /// Play from this media time at this speed, as segment `segment`.
    Start {
        position: f64,
        speed: f64,
        segment: u64,
    },
    Stop,
}

/// The UI's handle; dropping it stops the thread and closes the device.
pub struct AudioPlayer {
    shared: SharedState,
    status: Arc<Mutex<AudioStatus>>,
    commands: Sender<Command>,
    format: Arc<Mutex<Option<OutputFormat>>>,
    /// What is playing: segment, start position and speed, and when it was asked for.
    running: Option<Running>,
    /// The position this handle left the player at last frame, to tell a jump from playback.
    last_position: Option<f64>,
}

#[derive(Clone, Copy)]
struct Running {
    segment: u64,
    start: f64,
    speed: f64,
    asked: Instant,
    /// The clock has run for this segment (the device started on it).
    sounding: bool,
}

impl AudioPlayer {
    /// Starts the audio thread for `path`: it opens the default device and the file's audio
    /// track in the background. `wake` is called when the status changes.
    pub fn spawn(path: &Path, wake: impl Fn() + Send + 'static) -> Self {
        let shared: SharedState = Arc::new(Mutex::new(Shared {
            volume: 1.0,
            ..Shared::default()
        }));
        let status = Arc::new(Mutex::new(AudioStatus::Opening));
        let format = Arc::new(Mutex::new(None));
        let (commands, receiver) = crossbeam_channel::unbounded();
        let thread = Thread {
            path: path.to_path_buf(),
            shared: shared.clone(),
            status: status.clone(),
            format: format.clone(),
            commands: receiver,
        };
        let spawned = std::thread::Builder::new()
            .name("audio".into())
            .spawn(move || thread.run(wake));
        if let Err(error) = spawned {
            *status.lock().unwrap_or_else(|p| p.into_inner()) =
                AudioStatus::Silent(format!("cannot start the audio thread: {error}"));
        }
        Self {
            shared,
            status,
            commands,
            format,
            running: None,
            last_position: None,
        }
    }

    pub fn status(&self) -> AudioStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Callbacks that found no sound queued (the decoder fell behind) since the video opened.
    pub fn underruns(&self) -> u64 {
        lock(&self.shared).underruns
    }

    /// The media time being heard now, while sound plays.
    pub fn clock(&self) -> Option<f64> {
        let rate = (*self.format.lock().unwrap_or_else(|p| p.into_inner()))?.rate;
        let running = self.running?;
        let state = lock(&self.shared);
        (state.segment == running.segment)
            .then(|| state.clock(Instant::now(), rate))
            .flatten()
    }

    /// Called once per UI frame after the player advanced by `dt` seconds of wall time: starts,
    /// restarts or stops the sound to match the player, applies its volume, and sets the
    /// playhead to the audio clock while sound plays.
    pub fn follow(&mut self, player: &mut PlayerState, dt: f64) {
        {
            let mut state = lock(&self.shared);
            state.volume = player.volume();
            state.muted = player.muted();
        }
        let audible = player.is_playing()
            && player.direction() == Direction::Forward
            && AUDIBLE_SPEEDS.contains(&player.speed())
            && matches!(self.status(), AudioStatus::Ready { .. });
        let expected = self
            .last_position
            .map(|last| last + dt * player.speed())
            .unwrap_or(player.position());
        let jumped = (player.position() - expected).abs() > JUMP;
        if !audible {
            if self.running.take().is_some() {
                self.send_stop();
            }
            self.last_position = Some(player.position());
            return;
        }
        let restart = match self.running {
            None => true,
            Some(running) => jumped || (running.speed - player.speed()).abs() > 1e-9,
        };
        if restart {
            self.start(player.position(), player.speed());
        } else if let Some(running) = self.running {
            let waited = running.asked.elapsed() >= START_WAIT;
            let clock = self.clock();
            match clock {
                // The sound came after the picture went on alone (a device slow to start): it
                // starts again where the picture is rather than pulling the picture back.
                Some(_) if waited && !running.sounding => {
                    self.start(player.position(), player.speed())
                }
                Some(clock) => {
                    if let Some(running) = self.running.as_mut() {
                        running.sounding = true;
                    }
                    player.follow_clock(clock);
                }
                // The sound has not started yet: the picture waits for it, briefly.
                None if !waited => player.follow_clock(running.start),
                None => {}
            }
        }
        self.last_position = Some(player.position());
    }

    fn start(&mut self, position: f64, speed: f64) {
        let segment = {
            let mut state = lock(&self.shared);
            state.restart(None);
            state.segment
        };
        self.running = Some(Running {
            segment,
            start: position,
            speed,
            asked: Instant::now(),
            sounding: false,
        });
        let _ = self.commands.send(Command::Start {
            position,
            speed,
            segment,
        });
    }

    fn send_stop(&self) {
        lock(&self.shared).restart(None);
        let _ = self.commands.send(Command::Stop);
    }
}

impl Drop for AudioPlayer {
    fn drop(&mut self) {
        // The thread ends when the channel closes; stop the sound at once meanwhile.
        lock(&self.shared).restart(None);
    }
}

/// The audio thread's state.
struct Thread {
    path: PathBuf,
    shared: SharedState,
    status: Arc<Mutex<AudioStatus>>,
    format: Arc<Mutex<Option<OutputFormat>>>,
    commands: Receiver<Command>,
}

impl Thread {
    fn set_status(&self, status: AudioStatus, wake: &impl Fn()) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
        wake();
    }

    fn run(self, wake: impl Fn()) {
        // The file first: a video without sound needs no device.
        let probe = AudioDecoder::open(
            &self.path,
            OutputFormat {
                rate: 48_000,
                channels: 2,
            },
            1.0,
        );
        let probe = match probe {
            Ok(decoder) => decoder,
            Err(AudioError::NoAudio { .. }) => {
                return self.set_status(AudioStatus::Silent("no audio track".into()), &wake);
            }
            Err(error) => return self.set_status(AudioStatus::Silent(error.to_string()), &wake),
        };
        let output = match output::open(self.shared.clone()) {
            Ok(output) => output,
            Err(reason) => {
                return self.set_status(AudioStatus::Silent(reason), &wake);
            }
        };
        *self.format.lock().unwrap_or_else(|p| p.into_inner()) = Some(output.format);
        self.set_status(
            AudioStatus::Ready {
                device: output.device_name.clone(),
                rate: output.format.rate,
                codec: probe.info().codec.clone(),
            },
            &wake,
        );
        // The probe plays on when the device takes what it decodes (48 kHz stereo, the usual).
        let decoder = Some(probe).filter(|d| d.format() == output.format);
        self.serve(decoder, output.format, &wake);
        drop(output);
    }

    /// Answers commands and keeps the queue of the current segment filled until the UI's
    /// handle is dropped.
    fn serve(&self, mut decoder: Option<AudioDecoder>, format: OutputFormat, wake: &impl Fn()) {
        let mut current: Option<u64> = None;
        let queue_samples =
            (QUEUE_SECONDS * f64::from(format.rate)) as usize * usize::from(format.channels);
        loop {
            let wait = if current.is_some() {
                Duration::from_millis(5)
            } else {
                Duration::from_millis(200)
            };
            match self.commands.recv_timeout(wait) {
                Ok(Command::Stop) => current = None,
                Ok(Command::Start {
                    position,
                    speed,
                    segment,
                }) => {
                    if decoder.is_none() {
                        decoder = match AudioDecoder::open(&self.path, format, speed) {
                            Ok(d) => Some(d),
                            Err(error) => {
                                self.set_status(AudioStatus::Silent(error.to_string()), wake);
                                return;
                            }
                        };
                    }
                    if let Some(d) = decoder.as_mut()
                        && d.restart(position, speed).is_ok()
                    {
                        current = Some(segment);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let (Some(segment), Some(d)) = (current, decoder.as_mut()) else {
                continue;
            };
            // Fill up to the queue's length; the next command is looked at in between.
            while lock(&self.shared).queue.len() < queue_samples {
                match d.next_chunk() {
                    Ok(Some(chunk)) => {
                        let mut state = lock(&self.shared);
                        if state.segment != segment {
                            break;
                        }
                        if state.segment_start.is_none() {
                            state.segment_start = Some((chunk.start, d.speed()));
                        }
                        state.queue.extend(chunk.samples);
                    }
                    Ok(None) | Err(_) => {
                        let mut state = lock(&self.shared);
                        if state.segment == segment {
                            state.ended = true;
                        }
                        current = None;
                        break;
                    }
                }
                if !self.commands.is_empty() {
                    break;
                }
            }
        }
    }
}
