//! keye-studio's application core: the video engine, background jobs, the session state (no GUI in
//! it) and the wiring of model and UI.
//! The binary (`main.rs`) is a thin CLI over this library.

pub mod audio;
pub mod caption_assist;
pub mod caption_check;
pub mod caption_draft;
pub mod caption_search;
pub mod demo;
pub mod evidence;
pub mod files;
pub mod gui;
pub mod haicbench;
pub mod inference;
pub mod remote;
pub mod serve;
pub mod session;
pub mod video;

#[cfg(test)]
mod test_support;
