//! One module per family of subcommands; each returns the process exit code or an error
//! that `main` prints as one line.

pub mod ask;
pub mod bench;
pub mod captions;
pub mod gui;
pub mod model;
pub mod plan;
pub mod video;
