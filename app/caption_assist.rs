//! The caption editor's Mengzi helpers off the UI thread: one worker that loads a model, checks
//! the record being edited and answers searches over the open file. Of each kind only the latest
//! request waiting is done (typing sends a check per pause; only the newest text matters), and
//! every reply says which record and version it is about, so the editor drops stale ones.

use std::{path::PathBuf, sync::Arc, thread::JoinHandle};

use crossbeam_channel::{Receiver, Sender};
use haic::Record;
use keye_model::{
    Device,
    mengzi::{CheckOptions, MengziModel},
};

use crate::{
    caption_check::{Suspect, check_record},
    caption_search::{Hit, SearchIndex, Segmenter},
};

/// What the editor asks for.
#[derive(Debug, Clone)]
pub enum AssistRequest {
    /// Load (or replace) the Mengzi checkpoint used for checks and re-ranking.
    LoadModel(PathBuf),
    /// Check one record as it is now (`version`: the document's version counter).
    Check {
        record: usize,
        version: u64,
        content: Box<Record>,
        options: CheckOptions,
    },
    /// (Re)build the search index over the file's records as they are now.
    Index {
        version: u64,
        records: Vec<(usize, Record)>,
    },
    /// Bring the index to `version`: these records changed since the version it holds.
    Update {
        version: u64,
        records: Vec<(usize, Record)>,
    },
    /// Records matching words.
    Search { query: String, top: usize },
    /// Records nearest to one record ("Find similar").
    Similar { record: usize, top: usize },
}

/// What the worker answers.
#[derive(Debug, Clone)]
pub enum AssistReply {
    /// The model is loaded (its folder), or why it is not (one line naming the file).
    Model(Result<PathBuf, String>),
    Checked {
        record: usize,
        version: u64,
        result: Result<Vec<Suspect>, String>,
    },
    Indexed {
        version: u64,
        records: usize,
    },
    Found {
        /// The query, or `None` for "similar to `similar_to`".
        query: Option<String>,
        similar_to: Option<usize>,
        result: Result<Vec<Hit>, String>,
    },
}

/// The worker thread and its channels.
pub struct Assistant {
    requests: Option<Sender<AssistRequest>>,
    replies: Receiver<AssistReply>,
    thread: Option<JoinHandle<()>>,
}

impl Assistant {
    /// Starts the worker; `wake` is called after each reply (egui: `ctx.request_repaint()`).
    pub fn spawn(wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (requests, inbox) = crossbeam_channel::unbounded();
        let (outbox, replies) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("caption-assist".into())
            .spawn(move || Worker::default().run(&inbox, &outbox, &wake))?;
        Ok(Self {
            requests: Some(requests),
            replies,
            thread: Some(thread),
        })
    }

    pub fn send(&self, request: AssistRequest) {
        if let Some(requests) = &self.requests {
            // The worker only stops when this side is dropped.
            let _ = requests.send(request);
        }
    }

    /// A reply, if one is ready.
    pub fn try_recv(&self) -> Option<AssistReply> {
        self.replies.try_recv().ok()
    }

    /// Waits for the next reply (tests and the CLI; the editor polls with [`Self::try_recv`]).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<AssistReply> {
        self.replies.recv_timeout(timeout).ok()
    }
}

impl Drop for Assistant {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Default)]
struct Worker {
    model: Option<MengziModel>,
    segmenter: Option<Arc<Segmenter>>,
    index: Option<SearchIndex>,
}

/// The requests waiting, the stale ones of each kind dropped.
#[derive(Default)]
struct Pending {
    load: Option<PathBuf>,
    index: Option<(u64, Vec<(usize, Record)>)>,
    /// Updates after `index` (or after the index the worker holds), oldest first.
    updates: Vec<(u64, Vec<(usize, Record)>)>,
    check: Option<(usize, u64, Box<Record>, CheckOptions)>,
    search: Option<AssistRequest>,
}

impl Pending {
    fn add(&mut self, request: AssistRequest) {
        match request {
            AssistRequest::LoadModel(dir) => self.load = Some(dir),
            AssistRequest::Index { version, records } => {
                // A rebuild holds every record as it is now: earlier updates are in it.
                self.updates.clear();
                self.index = Some((version, records));
            }
            AssistRequest::Update { version, records } => self.updates.push((version, records)),
            AssistRequest::Check {
                record,
                version,
                content,
                options,
            } => self.check = Some((record, version, content, options)),
            search @ (AssistRequest::Search { .. } | AssistRequest::Similar { .. }) => {
                self.search = Some(search)
            }
        }
    }
}

impl Worker {
    fn run(
        mut self,
        inbox: &Receiver<AssistRequest>,
        outbox: &Sender<AssistReply>,
        wake: &dyn Fn(),
    ) {
        while let Ok(first) = inbox.recv() {
            let mut pending = Pending::default();
            pending.add(first);
            while let Ok(more) = inbox.try_recv() {
                pending.add(more);
            }
            let reply = |r: AssistReply| {
                let _ = outbox.send(r);
                wake();
            };
            if let Some(dir) = pending.load {
                let loaded = MengziModel::load(&dir, &Device::Cpu);
                reply(AssistReply::Model(match loaded {
                    Ok(model) => {
                        self.model = Some(model);
                        Ok(dir)
                    }
                    Err(error) => Err(error.to_string()),
                }));
            }
            if let Some((version, records)) = pending.index {
                let segmenter = self
                    .segmenter
                    .get_or_insert_with(|| Arc::new(Segmenter::new()))
                    .clone();
                let index =
                    SearchIndex::from_records(records.iter().map(|(i, r)| (*i, r)), segmenter);
                reply(AssistReply::Indexed {
                    version,
                    records: index.len(),
                });
                self.index = Some(index);
            }
            for (version, records) in pending.updates {
                if let Some(index) = self.index.as_mut() {
                    index.update(records.iter().map(|(i, r)| (*i, r)));
                    reply(AssistReply::Indexed {
                        version,
                        records: index.len(),
                    });
                }
            }
            if let Some((record, version, content, options)) = pending.check {
                let result = match &self.model {
                    Some(model) => check_record(model, record, &content, &options)
                        .map(|(suspects, _)| suspects)
                        .map_err(|e| e.to_string()),
                    None => Err("no Mengzi model is loaded".into()),
                };
                reply(AssistReply::Checked {
                    record,
                    version,
                    result,
                });
            }
            if let Some(search) = pending.search {
                reply(self.search(search));
            }
        }
    }

    fn search(&self, request: AssistRequest) -> AssistReply {
        let (query, similar_to) = match &request {
            AssistRequest::Search { query, .. } => (Some(query.clone()), None),
            AssistRequest::Similar { record, .. } => (None, Some(*record)),
            _ => (None, None),
        };
        let result = match (&self.index, request) {
            (None, _) => Err("the file is not indexed yet".into()),
            (Some(index), AssistRequest::Search { query, top }) => index
                .search(&query, top, None, self.model.as_ref())
                .map_err(|e| e.to_string()),
            (Some(index), AssistRequest::Similar { record, top }) => index
                .similar(record, top, self.model.as_ref())
                .map_err(|e| e.to_string()),
            (Some(_), _) => Ok(Vec::new()),
        };
        AssistReply::Found {
            query,
            similar_to,
            result,
        }
    }
}
