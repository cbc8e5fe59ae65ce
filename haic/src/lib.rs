//! HAIC human-action captions.
