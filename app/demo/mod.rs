//! The demo world and the demo model: procedurally generated videos of coloured shapes with exact
//! ground truth (`demo-data`), the tokenizer and trainer of a small Keye-VL-1.5 model on them
//! (`train-demo`), and its evaluation (`eval demo`: accuracy per question kind and how much of
//! the answer's attention falls on the actor it names).

pub mod dataset;
pub mod encode;
pub mod eval;
pub mod evidence_eval;
pub mod generate;
pub mod model_files;
pub mod questions;
pub mod render;
pub mod teach;
pub mod tokenizer;
pub mod train;
pub mod world;
