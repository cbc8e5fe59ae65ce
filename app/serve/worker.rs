//! The model worker behind the server: one thread answers the queued questions one at a time
//! (the model is loaded once and shared; generation is not async), reporting each answer's events
//! over a tokio channel to the request that waits for them. A request whose client went away is
//! cancelled, so the worker moves on to the next one at once.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use crossbeam_channel::RecvTimeoutError;
use tokio::sync::mpsc::UnboundedSender;

use super::media::Scratch;
use crate::inference::{AskEvent, LoadedModel, Question, spawn_ask};

/// How often a running answer looks at its request's cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(10);

/// One question waiting for, or being answered by, the worker.
pub struct Job {
    pub question: Question,
    pub events: UnboundedSender<AskEvent>,
    pub cancel: Arc<AtomicBool>,
    /// The request's decoded media and their labels, kept until the answer is done.
    pub scratch: Scratch,
    pub media_labels: Vec<(PathBuf, String)>,
}

/// Sets the flag when dropped: held by whatever serves the request, so that a dropped
/// connection (hyper drops the handler or the response stream) cancels the generation.
#[derive(Debug)]
pub struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The bounded queue in front of the worker thread.
#[derive(Debug)]
pub struct Queue {
    jobs: crossbeam_channel::Sender<Job>,
    capacity: usize,
    /// Questions being answered right now (0 or 1), for `/health`.
    busy: Arc<AtomicUsize>,
}

impl Queue {
    /// Starts the worker thread over `model`, with room for `capacity` waiting requests beside
    /// the one being answered. The thread ends when the queue is dropped.
    pub fn start(model: Arc<LoadedModel>, capacity: usize) -> std::io::Result<Self> {
        let (jobs, waiting) = crossbeam_channel::bounded::<Job>(capacity);
        let busy = Arc::new(AtomicUsize::new(0));
        let worker_busy = busy.clone();
        std::thread::Builder::new()
            .name("keye-serve-model".into())
            .spawn(move || {
                for job in waiting.iter() {
                    worker_busy.store(1, Ordering::Relaxed);
                    answer(&model, job);
                    worker_busy.store(0, Ordering::Relaxed);
                }
            })?;
        Ok(Self {
            jobs,
            capacity,
            busy,
        })
    }

    /// Queues `job`; false when every place is taken (the caller answers 429).
    pub fn submit(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Requests waiting and requests being answered.
    pub fn load(&self) -> (usize, usize) {
        (self.jobs.len(), self.busy.load(Ordering::Relaxed))
    }
}

/// Answers one job on this thread, forwarding its events until the answer ends or the request
/// is cancelled.
fn answer(model: &Arc<LoadedModel>, job: Job) {
    if job.cancel.load(Ordering::Relaxed) {
        return; // The client left while the request waited.
    }
    let Job {
        question,
        events,
        cancel,
        scratch,
        media_labels,
    } = job;
    let handle = spawn_ask(model.clone(), question);
    loop {
        match handle.events.recv_timeout(CANCEL_POLL) {
            Ok(event) => {
                let event = match event {
                    AskEvent::Failed(message) => {
                        AskEvent::Failed(name_parts(message, &media_labels))
                    }
                    other => other,
                };
                if events.send(event).is_err() {
                    handle.cancel();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if cancel.load(Ordering::Relaxed) {
                    handle.cancel();
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = handle.join();
    drop(scratch);
}

/// An error about a decoded media file names the request part it came from instead.
fn name_parts(mut message: String, labels: &[(PathBuf, String)]) -> String {
    for (path, label) in labels {
        message = message.replace(&path.display().to_string(), label);
    }
    message
}
