//! Running the benchmark: every question in the chosen setting, each outcome appended to a log
//! as it is known (a rerun with the same log skips what is done), then the report.

use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use serde::{Deserialize, Serialize};

use super::{
    answerer::{Answerer, CHOICE_MAX_NEW_TOKENS},
    prompt::{caption_prompt, parse_choice, standard_prompt},
    qa::{Category, QaItem, letter, same_video},
};
use crate::caption_draft::{DRAFT_MAX_NEW_TOKENS, draft_prompt, parse_draft_answer};

/// The two HAICBench settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// The model answers from the video and the options.
    Standard,
    /// A judge answers from a caption of the video alone.
    Caption,
}

/// Where the caption setting's captions come from.
#[derive(Clone, Debug)]
pub enum CaptionSource {
    /// Captions given by video (a HAIC caption file: human or ground-truth captions).
    Given {
        file: PathBuf,
        captions: Vec<(String, String)>,
    },
    /// Written by the model under test from the video ("Draft with model"'s prompt).
    Model,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cancelled; run the same command again to go on from here")]
    Cancelled,
    #[error("{path}: {message}")]
    Log { path: PathBuf, message: String },
    #[error("{0}")]
    Setup(String),
}

/// One question's outcome, as the report and the resume log keep it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub video: String,
    pub category: Category,
    pub question: String,
    pub options: [String; 4],
    pub answer: char,
    /// The whole prompt asked (in the caption setting it holds the caption).
    pub prompt: String,
    /// The reply as generated.
    pub raw: String,
    /// The option read from the reply; `None` when it could not be read (counted wrong).
    pub choice: Option<char>,
    pub correct: bool,
    /// Why the question was not asked (no caption, a video that would not open); counted wrong
    /// and not kept in the log, so a rerun tries again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    fn new(item: &QaItem, prompt: String, raw: String) -> Self {
        let choice = parse_choice(&raw, &item.options);
        Outcome {
            id: item.id.clone(),
            video: item.video.clone(),
            category: item.category,
            question: item.question.clone(),
            options: item.options.clone(),
            answer: item.answer_letter(),
            prompt,
            raw,
            choice: choice.map(letter),
            correct: choice == Some(item.answer),
            error: None,
        }
    }

    fn failed(item: &QaItem, error: String) -> Self {
        Outcome {
            error: Some(error),
            ..Outcome::new(item, String::new(), String::new())
        }
    }

    /// The text of the option chosen, if any.
    pub fn chosen_text(&self) -> Option<&str> {
        let index = usize::from(u8::try_from(self.choice?).ok()?.checked_sub(b'A')?);
        self.options.get(index).map(String::as_str)
    }
}

/// Asks `judge` one question from `caption` alone.
pub fn judge_from_caption(
    judge: &Answerer,
    caption: &str,
    item: &QaItem,
    cancel: &AtomicBool,
) -> Result<Outcome, RunError> {
    let prompt = caption_prompt(caption, item);
    match judge.ask(None, &prompt, CHOICE_MAX_NEW_TOKENS, cancel) {
        Ok(raw) => Ok(Outcome::new(item, prompt, raw)),
        Err(_) if cancel.load(Ordering::Relaxed) => Err(RunError::Cancelled),
        Err(error) => Ok(Outcome::failed(item, format!("the judge failed: {error}"))),
    }
}

/// The caption setting for one caption and its questions (the editor's "Score caption"):
/// `progress(done, total)` after each question.
pub fn score_caption(
    judge: &Answerer,
    caption: &str,
    items: &[QaItem],
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<Outcome>, RunError> {
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        progress(outcomes.len(), items.len());
        if cancel.load(Ordering::Relaxed) {
            return Err(RunError::Cancelled);
        }
        outcomes.push(judge_from_caption(judge, caption, item, cancel)?);
    }
    progress(items.len(), items.len());
    Ok(outcomes)
}

/// What a run is.
pub struct Evaluation {
    pub setting: Setting,
    /// The model under test: answers in the standard setting, writes captions in the caption
    /// setting when none are given.
    pub model: Option<Answerer>,
    /// The caption setting's judge.
    pub judge: Option<Answerer>,
    pub captions: CaptionSource,
    pub videos: PathBuf,
    pub qa: PathBuf,
    /// The resume log (JSON Lines); `None` runs without one.
    pub log: Option<PathBuf>,
}

/// The first line of a resume log: what the outcomes after it belong to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    setting: Setting,
    model: Option<String>,
    judge: Option<String>,
    captions: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum LogLine {
    Header(Header),
    /// A caption the model wrote (caption setting without given captions).
    Caption {
        video: String,
        caption: String,
    },
    Answer(Box<Outcome>),
}

impl Evaluation {
    fn header(&self) -> Header {
        Header {
            setting: self.setting,
            model: self.model.as_ref().map(Answerer::name),
            judge: self.judge.as_ref().map(Answerer::name),
            captions: match &self.captions {
                CaptionSource::Given { file, .. } => Some(file.display().to_string()),
                CaptionSource::Model => None,
            },
        }
    }

    /// Runs every question of `items` not already in the log; `progress(done, total)` after
    /// each. Returns every outcome, the logged ones included, in the order of `items`.
    pub fn run(
        &self,
        items: &[QaItem],
        progress: &mut dyn FnMut(usize, usize),
        cancel: &AtomicBool,
    ) -> Result<Vec<Outcome>, RunError> {
        let header = self.header();
        let mut log = match &self.log {
            Some(path) => Some(Log::open(path, &header)?),
            None => None,
        };
        let mut done: HashMap<String, Outcome> = HashMap::new();
        let mut written: HashMap<String, String> = HashMap::new();
        if let Some(log) = &log {
            for line in &log.lines {
                match line {
                    LogLine::Answer(outcome) => {
                        done.insert(outcome.id.clone(), (**outcome).clone());
                    }
                    LogLine::Caption { video, caption } => {
                        written.insert(video.clone(), caption.clone());
                    }
                    LogLine::Header(_) => {}
                }
            }
        }
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            progress(outcomes.len(), items.len());
            if let Some(outcome) = done.get(&item.id).filter(|o| o.question == item.question) {
                outcomes.push(outcome.clone());
                continue;
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(RunError::Cancelled);
            }
            let outcome = match self.setting {
                Setting::Standard => self.standard(item, cancel)?,
                Setting::Caption => match self.caption_for(item, &mut written, &mut log, cancel)? {
                    Ok(caption) => {
                        let judge = self.judge.as_ref().ok_or_else(|| {
                            RunError::Setup("the caption setting needs a judge".into())
                        })?;
                        judge_from_caption(judge, &caption, item, cancel)?
                    }
                    Err(error) => Outcome::failed(item, error),
                },
            };
            if outcome.error.is_none()
                && let Some(log) = &mut log
            {
                log.append(&LogLine::Answer(Box::new(outcome.clone())))?;
            }
            outcomes.push(outcome);
        }
        progress(items.len(), items.len());
        Ok(outcomes)
    }

    fn video_path(&self, item: &QaItem) -> Result<PathBuf, String> {
        let path = self.videos.join(&item.video);
        if path.is_file() {
            return Ok(path);
        }
        let by_name = Path::new(&item.video)
            .file_name()
            .map(|name| self.videos.join(name));
        match by_name {
            Some(path) if path.is_file() => Ok(path),
            _ => Err(format!(
                "video \"{}\" not found in {}",
                item.video,
                self.videos.display()
            )),
        }
    }

    fn standard(&self, item: &QaItem, cancel: &AtomicBool) -> Result<Outcome, RunError> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| RunError::Setup("the standard setting needs a model".into()))?;
        let video = match self.video_path(item) {
            Ok(video) => video,
            Err(error) => return Ok(Outcome::failed(item, error)),
        };
        let prompt = standard_prompt(item);
        match model.ask(Some(&video), &prompt, CHOICE_MAX_NEW_TOKENS, cancel) {
            Ok(raw) => Ok(Outcome::new(item, prompt, raw)),
            Err(_) if cancel.load(Ordering::Relaxed) => Err(RunError::Cancelled),
            Err(error) => Ok(Outcome::failed(item, error.to_string())),
        }
    }

    /// The caption of `item`'s video: given, written earlier, or written now by the model.
    fn caption_for(
        &self,
        item: &QaItem,
        written: &mut HashMap<String, String>,
        log: &mut Option<Log>,
        cancel: &AtomicBool,
    ) -> Result<Result<String, String>, RunError> {
        match &self.captions {
            CaptionSource::Given { file, captions } => Ok(captions
                .iter()
                .find(|(video, _)| same_video(video, &item.video))
                .map(|(_, caption)| caption.clone())
                .ok_or_else(|| {
                    format!(
                        "no caption for video \"{}\" in {}",
                        item.video,
                        file.display()
                    )
                })),
            CaptionSource::Model => {
                if let Some(caption) = written.get(&item.video) {
                    return Ok(Ok(caption.clone()));
                }
                let Some(model) = &self.model else {
                    return Err(RunError::Setup(
                        "the caption setting needs --captions FILE or a model to write them".into(),
                    ));
                };
                let video = match self.video_path(item) {
                    Ok(video) => video,
                    Err(error) => return Ok(Err(error)),
                };
                let raw =
                    match model.ask(Some(&video), &draft_prompt(), DRAFT_MAX_NEW_TOKENS, cancel) {
                        Ok(raw) => raw,
                        Err(_) if cancel.load(Ordering::Relaxed) => {
                            return Err(RunError::Cancelled);
                        }
                        Err(error) => return Ok(Err(format!("writing the caption: {error}"))),
                    };
                // A caption that follows the format is kept as the model wrote it, without
                // reasoning or preamble; anything else is kept whole: the judge reads it.
                let caption = match parse_draft_answer(&raw) {
                    Ok(structure) => haic::text::render(&structure),
                    Err(_) => raw,
                };
                if let Some(log) = log {
                    log.append(&LogLine::Caption {
                        video: item.video.clone(),
                        caption: caption.clone(),
                    })?;
                }
                written.insert(item.video.clone(), caption.clone());
                Ok(Ok(caption))
            }
        }
    }
}

/// The resume log: JSON Lines appended and flushed one outcome at a time.
struct Log {
    path: PathBuf,
    file: std::fs::File,
    lines: Vec<LogLine>,
}

impl Log {
    fn open(path: &Path, header: &Header) -> Result<Log, RunError> {
        let fail = |message: String| RunError::Log {
            path: path.to_path_buf(),
            message,
        };
        let mut lines = Vec::new();
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
            let mut kept = String::new();
            for line in text.lines() {
                // A line cut short by a crash is dropped (its question is asked again).
                if let Ok(parsed) = serde_json::from_str::<LogLine>(line) {
                    kept.push_str(line);
                    kept.push('\n');
                    lines.push(parsed);
                }
            }
            match lines.first() {
                Some(LogLine::Header(found)) if found == header => {}
                Some(LogLine::Header(found)) => {
                    return Err(fail(format!(
                        "this log belongs to another run ({}); remove it or choose another --out",
                        serde_json::to_string(found).unwrap_or_default()
                    )));
                }
                _ => lines.clear(),
            }
            if !lines.is_empty() && kept.len() != text.len() {
                haic::save::write_atomic(path, kept.as_bytes(), false)
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        let fresh = lines.is_empty();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(!fresh)
            .write(true)
            .truncate(fresh)
            .open(path)
            .map_err(|e| fail(e.to_string()))?;
        let mut log = Log {
            path: path.to_path_buf(),
            file,
            lines,
        };
        if fresh {
            log.append(&LogLine::Header(header.clone()))?;
        }
        Ok(log)
    }

    fn append(&mut self, line: &LogLine) -> Result<(), RunError> {
        let mut text = serde_json::to_string(line).map_err(|e| RunError::Log {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| RunError::Log {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }
}

/// Accuracy of one category.
#[derive(Clone, Debug, Serialize)]
pub struct CategorySummary {
    pub category: Category,
    pub questions: usize,
    pub correct: usize,
    pub accuracy: f64,
}

/// A reply that did not name an option.
#[derive(Clone, Debug, Serialize)]
pub struct Unread {
    pub id: String,
    pub raw: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The report: accuracy overall and per category, every outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub setting: Setting,
    pub model: Option<String>,
    pub judge: Option<String>,
    pub captions: Option<String>,
    pub qa: String,
    pub questions: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub categories: Vec<CategorySummary>,
    /// Replies that could not be read as a choice, and questions that could not be asked:
    /// all counted wrong.
    pub unparsed: Vec<Unread>,
    /// Records of the QA file that were skipped, and why.
    pub skipped_records: Vec<String>,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn new(evaluation: &Evaluation, outcomes: Vec<Outcome>, skipped: Vec<String>) -> Report {
        let mut by_category: BTreeMap<Category, (usize, usize)> = BTreeMap::new();
        for o in &outcomes {
            let entry = by_category.entry(o.category).or_default();
            entry.0 += 1;
            entry.1 += usize::from(o.correct);
        }
        let categories = by_category
            .into_iter()
            .map(|(category, (questions, correct))| CategorySummary {
                category,
                questions,
                correct,
                accuracy: correct as f64 / questions.max(1) as f64,
            })
            .collect();
        let correct = outcomes.iter().filter(|o| o.correct).count();
        let header = evaluation.header();
        Report {
            setting: evaluation.setting,
            model: header.model,
            judge: header.judge,
            captions: header.captions,
            qa: evaluation.qa.display().to_string(),
            questions: outcomes.len(),
            correct,
            accuracy: correct as f64 / outcomes.len().max(1) as f64,
            categories,
            unparsed: outcomes
                .iter()
                .filter(|o| o.choice.is_none())
                .map(|o| Unread {
                    id: o.id.clone(),
                    raw: o.raw.clone(),
                    error: o.error.clone(),
                })
                .collect(),
            skipped_records: skipped,
            outcomes,
        }
    }

    /// The table for the terminal, with the unreadable replies listed.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<16} {:>9} {:>8} {:>9}\n",
            "category", "questions", "correct", "accuracy"
        );
        for c in &self.categories {
            out.push_str(&format!(
                "{:<16} {:>9} {:>8} {:>9.3}\n",
                c.category.name(),
                c.questions,
                c.correct,
                c.accuracy
            ));
        }
        out.push_str(&format!(
            "{:<16} {:>9} {:>8} {:>9.3}\n",
            "all", self.questions, self.correct, self.accuracy
        ));
        if !self.unparsed.is_empty() {
            out.push_str(&format!(
                "{} answers could not be read as a choice (counted wrong):\n",
                self.unparsed.len()
            ));
            for u in &self.unparsed {
                match &u.error {
                    Some(error) => out.push_str(&format!("  {}: {error}\n", u.id)),
                    None => out.push_str(&format!("  {}: {:?}\n", u.id, u.raw)),
                }
            }
        }
        out
    }
}
