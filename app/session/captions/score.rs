//! "Score caption": the caption setting of HAICBench for the selected record. The questions
//! about its video come from QA records in the open file and from a `qa.jsonl` beside it (read
//! on a worker when the file opens); the judge (the loaded model or the connected server)
//! answers them from the caption text alone on a worker, with progress and cancel. The result
//! is kept with the caption text it was made for, so the panel can tell an edited caption's
//! figure is old.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use crossbeam_channel::{Receiver, Sender};

use crate::haicbench::{Answerer, Outcome, QaItem, QaSet, RunError, qa, score_caption};

/// The QA file looked for beside the caption file.
pub const QA_BESIDE: &str = "qa.jsonl";

/// What a finished score says.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreResult {
    pub record: usize,
    /// The caption text judged.
    pub caption: String,
    pub judge: String,
    pub outcomes: Vec<Outcome>,
    /// The figure (correct, questions) of the score before, for the same record.
    pub before: Option<(usize, usize)>,
}

impl ScoreResult {
    pub fn correct(&self) -> usize {
        self.outcomes.iter().filter(|o| o.correct).count()
    }

    pub fn missed(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| !o.correct)
    }
}

enum Event {
    Progress(usize, usize),
    Done(Result<Vec<Outcome>, RunError>),
}

struct Job {
    record: usize,
    caption: String,
    judge: String,
    events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
    progress: (usize, usize),
    thread: Option<JoinHandle<()>>,
}

/// The scoring state of the open caption file.
#[derive(Default)]
pub struct CaptionScoring {
    /// The caption file the questions are for.
    file: Option<PathBuf>,
    /// QA records of the open file.
    own: QaSet,
    /// The `qa.jsonl` beside it, once read.
    beside: QaSet,
    reading: Option<Receiver<Result<QaSet, String>>>,
    job: Option<Job>,
    last: Option<ScoreResult>,
    judge: Option<Answerer>,
}

impl CaptionScoring {
    /// The judge "Score caption" asks (`None` when no model is loaded and no server connected).
    pub fn set_judge(&mut self, judge: Option<Answerer>) {
        self.judge = judge;
    }

    pub fn judge_name(&self) -> Option<String> {
        self.judge.as_ref().map(Answerer::name)
    }

    /// Takes the questions of `document` (when it is another file than last time) and starts
    /// reading the QA file beside it. Returns a problem to tell the annotator, once.
    pub fn sync(
        &mut self,
        document: &haic::Document,
        repaint: impl Fn() + Send + 'static,
    ) -> Option<String> {
        let path = document.file().path();
        if self.file.as_deref() != Some(path) {
            self.file = Some(path.to_path_buf());
            self.own = qa::from_caption_file(document.file());
            self.beside = QaSet::default();
            self.last = None;
            self.cancel();
            let beside = path.with_file_name(QA_BESIDE);
            self.reading = (beside.is_file() && beside != path).then(|| {
                let (sender, receiver) = crossbeam_channel::bounded(1);
                std::thread::spawn(move || {
                    let _ = sender.send(qa::read_qa(&beside).map_err(|e| e.to_string()));
                    repaint();
                });
                receiver
            });
        }
        let read = self.reading.as_ref()?.try_recv().ok()?;
        self.reading = None;
        match read {
            Ok(set) => {
                self.beside = set;
                let problems = self.beside.problems.len();
                (problems > 0).then(|| {
                    format!(
                        "{}: {problems} question records skipped (first: {})",
                        QA_BESIDE, self.beside.problems[0]
                    )
                })
            }
            Err(error) => Some(error),
        }
    }

    /// The questions about `video`: the open file's own, then those beside it (by id, once).
    pub fn questions_for(&self, video: &str) -> Vec<QaItem> {
        let mut items: Vec<QaItem> = self.own.for_video(video).cloned().collect();
        for item in self.beside.for_video(video) {
            if !items.iter().any(|q| q.id == item.id) {
                items.push(item.clone());
            }
        }
        items
    }

    /// Starts judging `caption` of `record` on the questions; `repaint` is called after each.
    pub fn start(
        &mut self,
        record: usize,
        caption: String,
        questions: Vec<QaItem>,
        repaint: impl Fn() + Send + 'static,
    ) -> Result<(), String> {
        let Some(judge) = self.judge.clone() else {
            return Err("Score caption needs a judge: load a model or connect to a server".into());
        };
        if questions.is_empty() {
            return Err(format!("no questions about record #{record}'s video"));
        }
        self.cancel();
        let (sender, events) = crossbeam_channel::unbounded();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let text = caption.clone();
        let thread = std::thread::spawn(move || {
            let send = |sender: &Sender<Event>, event| {
                let _ = sender.send(event);
                repaint();
            };
            let result = score_caption(
                &judge,
                &text,
                &questions,
                &mut |done, total| send(&sender, Event::Progress(done, total)),
                &flag,
            );
            send(&sender, Event::Done(result));
        });
        self.job = Some(Job {
            record,
            caption,
            judge: self.judge_name().unwrap_or_default(),
            events,
            cancel,
            progress: (0, 0),
            thread: Some(thread),
        });
        Ok(())
    }

    /// Stops the running score (its result is dropped).
    pub fn cancel(&mut self) {
        if let Some(job) = self.job.take() {
            job.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Takes the worker's news; returns an error to tell the annotator.
    pub fn poll(&mut self) -> Option<String> {
        let job = self.job.as_mut()?;
        let mut finished = None;
        for event in job.events.try_iter() {
            match event {
                Event::Progress(done, total) => job.progress = (done, total),
                Event::Done(result) => finished = Some(result),
            }
        }
        let result = finished?;
        let mut job = self.job.take()?;
        if let Some(thread) = job.thread.take() {
            let _ = thread.join();
        }
        match result {
            Ok(outcomes) => {
                let failed = outcomes.iter().find_map(|o| o.error.clone());
                let before = self
                    .result_for(job.record)
                    .map(|r| (r.correct(), r.outcomes.len()));
                self.last = Some(ScoreResult {
                    before,
                    record: job.record,
                    caption: job.caption,
                    judge: job.judge,
                    outcomes,
                });
                failed
            }
            Err(RunError::Cancelled) => None,
            Err(error) => Some(error.to_string()),
        }
    }

    /// `(record, done, total)` while a score runs.
    pub fn running(&self) -> Option<(usize, usize, usize)> {
        self.job
            .as_ref()
            .map(|job| (job.record, job.progress.0, job.progress.1))
    }

    /// The last result, when it is for `record`.
    pub fn result_for(&self, record: usize) -> Option<&ScoreResult> {
        self.last.as_ref().filter(|r| r.record == record)
    }

    /// The caption file the questions were taken for.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}
