//! HAICBench-style evaluation: four-option questions about human actions in videos, answered
//! in the standard setting (the model sees the video and the options) or the caption setting (a
//! judge sees only a caption of the video). `keye-studio eval haicbench` runs a whole file; the
//! caption editor's "Score caption" runs the caption setting for one record.

pub mod answerer;
pub mod prompt;
pub mod qa;
pub mod run;

pub use answerer::{Answerer, judge_of};
pub use qa::{Category, QaItem, QaProblem, QaSet, read_qa};
pub use run::{CaptionSource, Evaluation, Outcome, Report, RunError, Setting, score_caption};
