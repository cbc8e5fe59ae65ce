//! Mengzi in the caption editor, as plain state: the Chinese check of the record being edited
//! and the search over the open file, both run by the [`Assistant`] worker.
//!
//! A check is asked once the record's text has settled ([`CHECK_SETTLE`] without a new
//! version), and its answer is kept only if it is about the record and document version being
//! edited now; an answer for an older text is dropped and the newer text is checked instead.
//! Suspects become the editor's [`SuspectMark`]s here, with the edit each suggestion makes
//! ([`Suspect::fix`]), so a click goes through the document's normal edit path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haic::Document;
use keye_model::mengzi::CheckOptions;
use keye_ui::{SearchHitView, SuggestionMark, SuspectMark, Toasts};

use crate::caption_assist::{AssistReply, AssistRequest, Assistant};
use crate::caption_check::Suspect;
use crate::caption_search::Hit;

/// How long a record's text stays unchanged before it is checked (typing sends it in bursts).
pub const CHECK_SETTLE: Duration = Duration::from_millis(600);

/// Characters either side of a suspect in the editor's list of suggestions.
const SUSPECT_CONTEXT: usize = 3;

/// Results a search or "Find similar" lists.
pub const SEARCH_TOP: usize = 20;

/// The Mengzi model the editor uses.
#[derive(Clone, Debug, PartialEq)]
pub enum MengziState {
    Off,
    Loading(PathBuf),
    Ready(PathBuf),
    /// The folder could not be loaded: the message names the file and the problem.
    Failed(PathBuf, String),
}

/// What the search results are for.
#[derive(Clone, Debug, PartialEq)]
enum Query {
    Words(String),
    Similar(usize),
}

/// The search results the panel shows: a heading and the hits.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchResults {
    pub heading: String,
    pub hits: Vec<SearchHitView>,
}

/// The Mengzi check and the search of one caption file.
pub struct CaptionAssist {
    assistant: Option<Assistant>,
    model: MengziState,
    /// How suspect a character must be (the tests lower the ratio: the tiny model is random).
    pub options: CheckOptions,
    /// The (record, version) being edited, and since when.
    editing: Option<((usize, u64), Instant)>,
    /// The (record, version) last sent for checking.
    requested: Option<(usize, u64)>,
    /// The latest check's suspects, all of the record being edited.
    suspects: Vec<Suspect>,
    /// Whether `suspects` changed since [`Self::take_marks`].
    marks_changed: bool,
    /// The document version the worker's index was last built from.
    indexed: Option<u64>,
    query: Option<Query>,
    results: Option<SearchResults>,
    results_changed: bool,
}

impl Default for CaptionAssist {
    fn default() -> Self {
        Self::new()
    }
}

impl CaptionAssist {
    pub fn new() -> Self {
        Self {
            assistant: None,
            model: MengziState::Off,
            options: CheckOptions::default(),
            editing: None,
            requested: None,
            suspects: Vec::new(),
            marks_changed: false,
            indexed: None,
            query: None,
            results: None,
            results_changed: false,
        }
    }

    pub fn model(&self) -> &MengziState {
        &self.model
    }

    /// The folder to remember in the settings: the one in use or loading (not one that failed).
    pub fn model_dir(&self) -> Option<&Path> {
        match &self.model {
            MengziState::Loading(dir) | MengziState::Ready(dir) => Some(dir),
            MengziState::Off | MengziState::Failed(..) => None,
        }
    }

    /// One line for the caption panel about the model.
    pub fn model_line(&self) -> Option<String> {
        match &self.model {
            MengziState::Off => None,
            MengziState::Loading(dir) => Some(format!("Loading Mengzi from {}…", dir.display())),
            MengziState::Ready(dir) => Some(format!(
                "Mengzi: {} (checks Chinese text, re-ranks search)",
                dir.display()
            )),
            MengziState::Failed(_, message) => Some(format!("Mengzi not loaded: {message}")),
        }
    }

    fn assistant(&mut self, repaint: impl Fn() + Send + 'static) -> Option<&Assistant> {
        if self.assistant.is_none() {
            self.assistant = Assistant::spawn(repaint).ok();
        }
        self.assistant.as_ref()
    }

    /// Uses the Mengzi checkpoint in `dir` (loaded off the UI thread), or none. Search keeps
    /// working without one, by words alone.
    pub fn set_model(
        &mut self,
        dir: Option<PathBuf>,
        toasts: &mut Toasts,
        repaint: impl Fn() + Send + 'static,
    ) {
        self.clear_suspects();
        self.requested = None;
        match dir {
            Some(dir) => {
                let Some(assistant) = self.assistant(repaint) else {
                    toasts.error("Cannot start the caption assistant thread");
                    return;
                };
                assistant.send(AssistRequest::LoadModel(dir.clone()));
                self.model = MengziState::Loading(dir);
            }
            None => {
                self.model = MengziState::Off;
                // The worker holds the model; a new one starts without it. The old one is let
                // go on its own thread, as it may be in the middle of a check.
                if let Some(old) = self.assistant.take() {
                    let _ = std::thread::Builder::new()
                        .name("caption-assist-stop".into())
                        .spawn(move || drop(old));
                }
                self.indexed = None;
            }
        }
    }

    /// Another file is open: nothing learnt about the old one applies.
    pub fn document_replaced(&mut self) {
        self.clear_suspects();
        self.editing = None;
        self.requested = None;
        self.indexed = None;
        self.query = None;
        self.results = None;
        self.results_changed = true;
    }

    fn clear_suspects(&mut self) {
        if !self.suspects.is_empty() {
            self.suspects.clear();
            self.marks_changed = true;
        }
    }

    /// Once per frame: takes the worker's answers and asks for a check of `record` once its
    /// text has settled. `now` is passed in so tests need not sleep.
    pub fn tick(
        &mut self,
        document: Option<&Document>,
        record: Option<usize>,
        now: Instant,
        toasts: &mut Toasts,
    ) {
        while let Some(reply) = self.assistant.as_ref().and_then(Assistant::try_recv) {
            self.take_reply(reply, document, record, toasts);
        }
        let (Some(document), Some(record)) = (document, record) else {
            self.editing = None;
            self.clear_suspects();
            return;
        };
        let key = (record, document.version());
        if self.editing.is_none_or(|(editing, _)| editing != key) {
            if self.editing.is_some_and(|((r, _), _)| r != record) {
                // Suspects are shown for the record being edited only.
                self.clear_suspects();
            }
            self.editing = Some((key, now));
        }
        let settled = self
            .editing
            .is_some_and(|(_, since)| now.duration_since(since) >= CHECK_SETTLE);
        if !settled || self.requested == Some(key) || !matches!(self.model, MengziState::Ready(_)) {
            return;
        }
        // Questions are not edited in the editor: their suspects could not be fixed there.
        let Some(content @ haic::Record::Caption(_)) = document.file().record(record).cloned()
        else {
            return;
        };
        if let Some(assistant) = &self.assistant {
            assistant.send(AssistRequest::Check {
                record,
                version: key.1,
                content: Box::new(content),
                options: self.options,
            });
            self.requested = Some(key);
        }
    }

    /// How long until a settled text is due for a check (the GUI wakes up then).
    pub fn wake_in(&self, now: Instant) -> Option<Duration> {
        let (key, since) = self.editing?;
        (matches!(self.model, MengziState::Ready(_)) && self.requested != Some(key))
            .then(|| (since + CHECK_SETTLE).saturating_duration_since(now))
    }

    fn take_reply(
        &mut self,
        reply: AssistReply,
        document: Option<&Document>,
        editing: Option<usize>,
        toasts: &mut Toasts,
    ) {
        match reply {
            AssistReply::Model(Ok(dir)) => {
                if self.model == MengziState::Loading(dir.clone()) {
                    self.model = MengziState::Ready(dir);
                    // Check again with the new model; re-rank the next search with it.
                    self.requested = None;
                }
            }
            AssistReply::Model(Err(message)) => {
                if let MengziState::Loading(dir) = &self.model {
                    toasts.error(format!(
                        "Mengzi model folder {}: {message}. Choose a Mengzi BERT checkpoint folder (config.json with model_type \"bert\", vocab.txt or tokenizer.json, model.safetensors or pytorch_model.bin with the masked-LM head)",
                        dir.display()
                    ));
                    self.model = MengziState::Failed(dir.clone(), message);
                }
            }
            AssistReply::Checked {
                record,
                version,
                result,
            } => {
                let current = document.map(Document::version);
                if Some(record) != editing || Some(version) != current {
                    // About an older text: the newer one is checked once it settles.
                    return;
                }
                match result {
                    Ok(suspects) => {
                        self.suspects = suspects;
                        self.marks_changed = true;
                    }
                    Err(message) => toasts.error(format!("Chinese check of #{record}: {message}")),
                }
            }
            AssistReply::Indexed { .. } => {}
            AssistReply::Found {
                query,
                similar_to,
                result,
            } => {
                let about = match (query, similar_to) {
                    (Some(words), _) => Query::Words(words),
                    (None, Some(record)) => Query::Similar(record),
                    (None, None) => return,
                };
                if self.query.as_ref() != Some(&about) {
                    return;
                }
                self.results = Some(results_view(&about, result));
                self.results_changed = true;
            }
        }
    }

    /// The suspects as the editor shows them, when they changed since the last call.
    pub fn take_marks(&mut self) -> Option<Vec<SuspectMark>> {
        if !std::mem::take(&mut self.marks_changed) {
            return None;
        }
        Some(self.suspects.iter().filter_map(suspect_mark).collect())
    }

    /// The latest results, when they changed since the last call.
    pub fn take_results(&mut self) -> Option<Option<SearchResults>> {
        std::mem::take(&mut self.results_changed).then(|| self.results.clone())
    }

    /// Ranks the file's records by `words`.
    pub fn search(
        &mut self,
        document: &Document,
        words: String,
        repaint: impl Fn() + Send + 'static,
    ) {
        self.ask(document, Query::Words(words), repaint);
    }

    /// Lists the records nearest to `record`.
    pub fn similar(
        &mut self,
        document: &Document,
        record: usize,
        repaint: impl Fn() + Send + 'static,
    ) {
        self.ask(document, Query::Similar(record), repaint);
    }

    fn ask(&mut self, document: &Document, query: Query, repaint: impl Fn() + Send + 'static) {
        let version = document.version();
        let indexed = self.indexed;
        let Some(assistant) = self.assistant(repaint) else {
            return;
        };
        // The index follows the file as edited, brought up to date only when a search needs
        // it: built once from every record, then sent only the records changed since (a copy
        // of a 50 MB file per edit would stall the window).
        match indexed {
            Some(built) if built != version => {
                let file = document.file();
                let records = document
                    .changed_since(built)
                    .into_iter()
                    .filter_map(|index| file.record(index).map(|r| (index, r.clone())))
                    .collect();
                assistant.send(AssistRequest::Update { version, records });
            }
            Some(_) => {}
            None => {
                let records = document
                    .file()
                    .records()
                    .map(|(index, record)| (index, record.clone()))
                    .collect();
                assistant.send(AssistRequest::Index { version, records });
            }
        }
        assistant.send(match &query {
            Query::Words(words) => AssistRequest::Search {
                query: words.clone(),
                top: SEARCH_TOP,
            },
            Query::Similar(record) => AssistRequest::Similar {
                record: *record,
                top: SEARCH_TOP,
            },
        });
        self.indexed = Some(version);
        self.query = Some(query);
    }
}

fn suspect_mark(suspect: &Suspect) -> Option<SuspectMark> {
    let target = suspect.field.clone()?;
    let suggestions = suspect
        .score
        .suggestions
        .iter()
        .filter_map(|s| {
            Some(SuggestionMark {
                character: s.character,
                probability: s.probability,
                fix: suspect.fix(s.character)?,
            })
        })
        .collect();
    Some(SuspectMark {
        record: suspect.record,
        target,
        text: suspect.text.clone(),
        char_offset: suspect.score.char_offset,
        character: suspect.score.character,
        context: suspect.context(SUSPECT_CONTEXT),
        probability: suspect.score.probability,
        suggestions,
    })
}

fn results_view(query: &Query, result: Result<Vec<Hit>, String>) -> SearchResults {
    let hits = match result {
        Ok(hits) => hits,
        Err(message) => {
            return SearchResults {
                heading: format!("Search failed: {message}"),
                hits: Vec::new(),
            };
        }
    };
    let heading = match (query, hits.len()) {
        (Query::Words(words), 0) => format!("No record matches \"{words}\""),
        (Query::Words(words), n) => format!("{n} records for \"{words}\""),
        (Query::Similar(record), 0) => format!("No record shares words with #{record}"),
        (Query::Similar(record), n) => format!("{n} records nearest to #{record}"),
    };
    let hits = hits
        .into_iter()
        .map(|hit| SearchHitView {
            record: hit.record,
            why: match hit.similarity {
                Some(similarity) => format!(
                    "BM25 {:.2}, Mengzi similarity {similarity:.3}, score {:.3}",
                    hit.bm25, hit.score
                ),
                None => format!("BM25 {:.2} (words only)", hit.bm25),
            },
            path: hit.path,
            text: hit.text,
        })
        .collect();
    SearchResults { heading, hits }
}

#[cfg(test)]
#[path = "assist_tests.rs"]
mod tests;
