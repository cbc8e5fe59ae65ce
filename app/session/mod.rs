//! The app's state as plain Rust, driven by events and free of egui: what the GUI draws and the
//! command line prints. The GUI (`gui/`) wires these to panels and windows; `cli/` drives the
//! same code without a window.

pub mod captions;
pub mod conversation;
pub mod evidence;
pub mod video;
