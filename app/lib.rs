//! keye-studio's application core: the video engine, background jobs, the session state (no GUI in
//! it) and the wiring of model and UI.
//! The binary (`main.rs`) is a thin CLI over this library.

pub mod files;
pub mod gui;
pub mod inference;
pub mod session;
pub mod video;
