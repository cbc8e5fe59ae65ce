//! egui widgets and panels of keye-studio.
