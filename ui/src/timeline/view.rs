//! The timeline's time axis: which window of the video is in view, zoomed and panned.

use egui::Rect;

/// Which part of the video the timeline shows: a window `[start, end]` in seconds inside
/// `[0, duration]`, changed by zooming and panning.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelineView {
    duration: f64,
    start: f64,
    end: f64,
}

impl TimelineView {
    /// Shortest window one can zoom to: a few frames of a fast video.
    pub const MIN_SPAN: f64 = 0.05;

    /// The whole video in view.
    pub fn new(duration: f64) -> Self {
        let duration = if duration.is_finite() {
            duration.max(0.0)
        } else {
            0.0
        };
        Self {
            duration,
            start: 0.0,
            end: duration,
        }
    }

    pub fn start(&self) -> f64 {
        self.start
    }
    pub fn end(&self) -> f64 {
        self.end
    }
    pub fn span(&self) -> f64 {
        self.end - self.start
    }
    pub fn duration(&self) -> f64 {
        self.duration
    }

    /// Shows the whole video again.
    pub fn fit(&mut self) {
        *self = Self::new(self.duration);
    }

    /// Scales the window by `1 / factor` (factor > 1 zooms in) keeping time `anchor` at the same
    /// place on screen, as map and editor zooms do.
    pub fn zoom(&mut self, factor: f64, anchor: f64) {
        if !(factor.is_finite() && factor > 0.0) || self.duration <= 0.0 {
            return;
        }
        let min_span = Self::MIN_SPAN.min(self.duration);
        let span = (self.span() / factor).clamp(min_span, self.duration);
        let anchor = anchor.clamp(self.start, self.end);
        let fraction = if self.span() > 0.0 {
            (anchor - self.start) / self.span()
        } else {
            0.5
        };
        self.set_window(anchor - fraction * span, span);
    }

    /// Moves the window by `seconds` (positive: later), stopping at the ends.
    pub fn pan(&mut self, seconds: f64) {
        if seconds.is_finite() {
            self.set_window(self.start + seconds, self.span());
        }
    }

    /// Pans the least needed to bring `time` into view.
    pub fn keep_in_view(&mut self, time: f64) {
        if time < self.start {
            self.pan(time - self.start);
        } else if time > self.end {
            self.pan(time - self.end);
        }
    }

    fn set_window(&mut self, start: f64, span: f64) {
        let start = start.clamp(0.0, (self.duration - span).max(0.0));
        self.start = start;
        self.end = start + span;
    }

    /// Screen x of `time` inside `rect`.
    pub fn x_of(&self, time: f64, rect: Rect) -> f32 {
        if self.span() <= 0.0 {
            return rect.left();
        }
        rect.left() + ((time - self.start) / self.span()) as f32 * rect.width()
    }

    /// Time under screen `x` inside `rect`, clamped to the window.
    pub fn time_at(&self, x: f32, rect: Rect) -> f64 {
        let fraction = ((x - rect.left()) / rect.width().max(1.0)).clamp(0.0, 1.0) as f64;
        self.start + fraction * self.span()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn zoom_keeps_the_anchor_in_place_and_stays_inside_the_video() {
        let mut view = TimelineView::new(10.0);
        view.zoom(4.0, 5.0);
        assert!((view.span() - 2.5).abs() < 1e-9);
        assert!(
            (view.start() - 3.75).abs() < 1e-9,
            "anchor at the middle stays at the middle"
        );
        view.zoom(0.001, 5.0);
        assert_eq!((view.start(), view.end()), (0.0, 10.0));
        view.zoom(1e9, 9.99);
        assert!((view.span() - TimelineView::MIN_SPAN).abs() < 1e-9);
        assert!(view.end() <= 10.0);
    }

    #[test]
    fn pan_stops_at_both_ends() {
        let mut view = TimelineView::new(10.0);
        view.zoom(2.0, 0.0);
        view.pan(100.0);
        assert_eq!((view.start(), view.end()), (5.0, 10.0));
        view.pan(-100.0);
        assert_eq!((view.start(), view.end()), (0.0, 5.0));
    }
}
