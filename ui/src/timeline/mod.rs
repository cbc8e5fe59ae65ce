//! The scrubber (thumbnail strip, hover preview, playhead, in/out marks) and the layered model
//! tracks under it, sharing one zoomable, pannable time axis.

mod tracks;
mod view;

use egui::{
    Align2, Color32, CursorIcon, FontId, PointerButton, Pos2, Rect, Sense, Stroke, StrokeKind,
    Vec2, accesskit::Role,
};

pub use tracks::{
    CaptionEdgeDrag, CaptionSegment, FrameSpeed, FrameValue, ModelTracks, SegmentEdge,
    SlowFastFrame, Thumbnail, WaveformPeaks, WaveformTrack,
};
pub use view::TimelineView;

use crate::heatmap::heat_color;
use crate::player::{PlayerState, format_time};

const LABEL_WIDTH: f32 = 120.0;
const STRIP_HEIGHT: f32 = 56.0;
const RULER_HEIGHT: f32 = 18.0;
const TRACK_HEIGHT: f32 = 20.0;
/// How close (points) the pointer must press to a caption segment's edge to drag it.
const EDGE_GRAB: f32 = 5.0;

/// The timeline panel: toolbar, scrubber and tracks. Seeks go straight to the [`PlayerState`].
pub struct Timeline {
    pub view: TimelineView,
    pub thumbnails: Vec<Thumbnail>,
    pub tracks: ModelTracks,
    /// The sound's waveform (its own track, filled by the app's audio side).
    pub waveform: WaveformTrack,
    /// Whether the view pans to keep the playhead visible while playing.
    pub follow_playhead: bool,
    /// The caption segment edge being dragged (segment index in `tracks.caption_events`).
    dragging_edge: Option<(usize, SegmentEdge)>,
    caption_drags: Vec<CaptionEdgeDrag>,
}

impl Timeline {
    pub fn new(duration: f64) -> Self {
        Self {
            view: TimelineView::new(duration),
            thumbnails: Vec::new(),
            tracks: ModelTracks::default(),
            waveform: WaveformTrack::default(),
            follow_playhead: true,
            dragging_edge: None,
            caption_drags: Vec::new(),
        }
    }

    /// Caption edge drags finished since the last call, oldest first. While a drag runs, the
    /// segment in `tracks` follows the pointer; the document changes only when it is let go.
    pub fn take_caption_drags(&mut self) -> Vec<CaptionEdgeDrag> {
        std::mem::take(&mut self.caption_drags)
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, player: &mut PlayerState) {
        self.toolbar(ui, player);
        if self.follow_playhead && player.is_playing() {
            self.view.keep_in_view(player.position());
        }

        let width = ui.available_width();
        let (label_rect, plot_rect) = {
            let top = ui.cursor().top();
            let height = STRIP_HEIGHT + RULER_HEIGHT;
            let row =
                Rect::from_min_size(Pos2::new(ui.cursor().left(), top), Vec2::new(width, height));
            split_label(row)
        };
        ui.allocate_rect(label_rect.union(plot_rect), Sense::hover());
        let scrub = ui.interact(
            plot_rect,
            ui.make_persistent_id("scrubber"),
            Sense::click_and_drag(),
        );
        scrub.widget_info(|| egui::WidgetInfo::slider(true, player.position(), "Scrubber"));
        ui.painter().text(
            label_rect.left_center(),
            Align2::LEFT_CENTER,
            "Video",
            FontId::proportional(13.0),
            ui.visuals().text_color(),
        );
        self.handle_zoom_and_pan(ui, &scrub, plot_rect);
        if let Some(pos) = scrub.interact_pointer_pos()
            && (scrub.dragged_by(PointerButton::Primary) || scrub.clicked())
        {
            player.pause();
            player.seek(self.view.time_at(pos.x, plot_rect));
        }
        let strip = Rect::from_min_max(
            plot_rect.min,
            Pos2::new(plot_rect.right(), plot_rect.top() + STRIP_HEIGHT),
        );
        let ruler = Rect::from_min_max(Pos2::new(plot_rect.left(), strip.bottom()), plot_rect.max);
        self.paint_strip(ui, strip);
        self.paint_ruler(ui, ruler);
        if let Some(hover) = scrub.hover_pos() {
            let time = self.view.time_at(hover.x, plot_rect);
            ui.painter().vline(
                hover.x,
                plot_rect.y_range(),
                Stroke::new(1.0, ui.visuals().weak_text_color()),
            );
            self.hover_preview(&scrub, time);
        }

        let tracks_top = ui.cursor().top();
        let plot_column = plot_rect.x_range();
        // The tracks of one encoder (SlowFast frames, Mavors chunks), the other annotator's
        // and the evidence take room only once they have data: a video read by Keye-VL-1.5
        // has no chunks, one read by Mavors no slow and fast frames.
        let tracks = &self.tracks;
        let shown = |kind: TrackKind| match kind {
            TrackKind::SlowFast => !tracks.slowfast.is_empty(),
            TrackKind::Chunks => !tracks.chunk_boundaries.is_empty(),
            TrackKind::Compare => !tracks.compare_events.is_empty(),
            TrackKind::Evidence => !tracks.evidence.is_empty(),
            _ => true,
        };
        let visible: Vec<TrackInfo> = TRACKS.into_iter().filter(|t| shown(t.kind)).collect();
        for track in visible {
            let row = Rect::from_min_size(
                Pos2::new(label_rect.left(), ui.cursor().top()),
                Vec2::new(width, TRACK_HEIGHT),
            );
            let (label, plot) = split_label(row);
            let captions = matches!(track.kind, TrackKind::Captions);
            let sense = if captions {
                Sense::click_and_drag()
            } else {
                Sense::click()
            };
            let response = ui.allocate_rect(row, sense);
            response.widget_info(|| egui::WidgetInfo::labeled(Role::Button, true, track.name));
            if captions {
                self.drag_caption_edges(ui, &response, plot);
            }
            self.paint_track(ui, track, label, plot, &response, player);
            self.handle_zoom_and_pan(ui, &response, plot);
        }
        let tracks_rect = Rect::from_x_y_ranges(plot_column, tracks_top..=ui.cursor().top());
        self.paint_marks_and_playhead(ui, plot_rect.union(tracks_rect), player);
    }

    /// The caption segment edge within [`EDGE_GRAB`] of screen `x`, the nearest one first.
    fn edge_near(&self, x: f32, plot: Rect) -> Option<(usize, SegmentEdge)> {
        let mut best: Option<(f32, usize, SegmentEdge)> = None;
        for (index, segment) in self.tracks.caption_events.iter().enumerate() {
            for (edge, time) in [
                (SegmentEdge::Start, segment.start),
                (SegmentEdge::End, segment.end),
            ] {
                let edge_x = self.view.x_of(time, plot);
                // Of two edges at one place (an instant event), the side pressed on decides.
                let side_bias = match (edge, x < edge_x) {
                    (SegmentEdge::Start, true) | (SegmentEdge::End, false) => 0.0,
                    _ => 0.5,
                };
                let distance = (edge_x - x).abs() + side_bias;
                if distance <= EDGE_GRAB && best.is_none_or(|(d, ..)| distance < d) {
                    best = Some((distance, index, edge));
                }
            }
        }
        best.map(|(_, index, edge)| (index, edge))
    }

    /// Primary-dragging near a caption segment's edge moves that edge; the finished drag is
    /// reported through [`Timeline::take_caption_drags`].
    fn drag_caption_edges(&mut self, ui: &egui::Ui, response: &egui::Response, plot: Rect) {
        let over_edge = response
            .hover_pos()
            .is_some_and(|pos| self.edge_near(pos.x, plot).is_some());
        if over_edge || self.dragging_edge.is_some() {
            ui.ctx().set_cursor_icon(CursorIcon::ResizeHorizontal);
        }
        if response.drag_started_by(PointerButton::Primary) {
            let origin = ui.input(|i| i.pointer.press_origin());
            self.dragging_edge = origin.and_then(|pos| self.edge_near(pos.x, plot));
        }
        let Some((index, edge)) = self.dragging_edge else {
            return;
        };
        let time = response
            .interact_pointer_pos()
            .map(|pos| self.view.time_at(pos.x, plot));
        let Some(segment) = self.tracks.caption_events.get_mut(index) else {
            self.dragging_edge = None;
            return;
        };
        if let Some(time) = time {
            match edge {
                SegmentEdge::Start => segment.start = time.min(segment.end),
                SegmentEdge::End => segment.end = time.max(segment.start),
            }
        }
        if response.drag_stopped() || !response.dragged() {
            self.dragging_edge = None;
            self.caption_drags.push(CaptionEdgeDrag {
                event: segment.event,
                edge,
                time: match edge {
                    SegmentEdge::Start => segment.start,
                    SegmentEdge::End => segment.end,
                },
            });
        }
    }

    fn toolbar(&mut self, ui: &mut egui::Ui, player: &PlayerState) {
        ui.horizontal(|ui| {
            if ui.button("Zoom in").clicked() {
                self.view.zoom(2.0, player.position());
            }
            if ui.button("Zoom out").clicked() {
                self.view.zoom(0.5, player.position());
            }
            if ui
                .button("Fit")
                .on_hover_text("Show the whole video")
                .clicked()
            {
                self.view.fit();
            }
            ui.checkbox(&mut self.follow_playhead, "Follow playhead");
            ui.weak(format!(
                "showing {} to {}  (Ctrl+scroll zooms, scroll or right-drag pans)",
                format_time(self.view.start()),
                format_time(self.view.end())
            ));
        });
    }

    /// Ctrl+scroll or pinch zooms around the pointer; scrolling or a secondary/middle drag pans.
    fn handle_zoom_and_pan(&mut self, ui: &egui::Ui, response: &egui::Response, plot: Rect) {
        if response.dragged_by(PointerButton::Secondary)
            || response.dragged_by(PointerButton::Middle)
        {
            let seconds_per_point = self.view.span() / plot.width().max(1.0) as f64;
            self.view
                .pan(-response.drag_delta().x as f64 * seconds_per_point);
        }
        let Some(pointer) = response.hover_pos() else {
            return;
        };
        let (zoom, scroll) = ui.input(|i| (i.zoom_delta(), i.smooth_scroll_delta));
        if zoom != 1.0 {
            self.view
                .zoom(zoom as f64, self.view.time_at(pointer.x, plot));
        }
        let scroll = scroll.x + scroll.y;
        if scroll != 0.0 {
            let seconds_per_point = self.view.span() / plot.width().max(1.0) as f64;
            self.view.pan(-scroll as f64 * seconds_per_point);
        }
    }

    fn paint_strip(&self, ui: &egui::Ui, strip: Rect) {
        let painter = ui.painter_at(strip);
        painter.rect_filled(strip, 2.0, ui.visuals().extreme_bg_color);
        let Some(first) = self.thumbnails.first() else {
            painter.text(
                strip.center(),
                Align2::CENTER_CENTER,
                "thumbnails appear here as they decode",
                FontId::proportional(12.0),
                ui.visuals().weak_text_color(),
            );
            return;
        };
        // Cells of the strip's height at the video's aspect; each shows the thumbnail nearest to
        // its middle, so the strip stays dense at any zoom.
        let aspect = first.size[0].max(1) as f32 / first.size[1].max(1) as f32;
        let cell_width = (strip.height() * aspect).max(8.0);
        let cells = (strip.width() / cell_width).ceil() as usize;
        for cell in 0..cells {
            let left = strip.left() + cell as f32 * cell_width;
            let rect = Rect::from_min_size(
                Pos2::new(left, strip.top()),
                Vec2::new(cell_width, strip.height()),
            );
            let time = self.view.time_at(rect.center().x, strip);
            if let Some(thumb) = nearest_thumbnail(&self.thumbnails, time) {
                let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
                painter.image(thumb.texture, rect.shrink(0.5), uv, Color32::WHITE);
            }
        }
    }

    fn paint_ruler(&self, ui: &egui::Ui, ruler: Rect) {
        let painter = ui.painter_at(ruler);
        let color = ui.visuals().weak_text_color();
        let step = tick_step(self.view.span(), ruler.width());
        let mut tick = (self.view.start() / step).ceil() * step;
        while tick <= self.view.end() + 1e-9 {
            let x = self.view.x_of(tick, ruler);
            painter.vline(x, ruler.top()..=ruler.top() + 5.0, Stroke::new(1.0, color));
            painter.text(
                Pos2::new(x + 2.0, ruler.top() + 4.0),
                Align2::LEFT_TOP,
                format_time(tick),
                FontId::monospace(10.0),
                color,
            );
            tick += step;
        }
    }

    fn hover_preview(&self, scrub: &egui::Response, time: f64) {
        let thumb = nearest_thumbnail(&self.thumbnails, time);
        scrub.clone().on_hover_ui_at_pointer(|ui| {
            if let Some(thumb) = thumb {
                let aspect = thumb.size[0].max(1) as f32 / thumb.size[1].max(1) as f32;
                let size = Vec2::new(160.0, 160.0 / aspect);
                ui.add(egui::Image::new((thumb.texture, size)));
            }
            ui.monospace(format_time(time));
        });
    }

    fn paint_track(
        &self,
        ui: &egui::Ui,
        track: TrackInfo,
        label: Rect,
        plot: Rect,
        response: &egui::Response,
        player: &mut PlayerState,
    ) {
        let visuals = ui.visuals();
        ui.painter().text(
            label.left_center(),
            Align2::LEFT_CENTER,
            track.name,
            FontId::proportional(12.0),
            visuals.text_color(),
        );
        let painter = ui.painter_at(plot);
        painter.rect_filled(
            plot.shrink2(Vec2::new(0.0, 1.0)),
            0.0,
            visuals.faint_bg_color,
        );
        let tracks = &self.tracks;
        if let TrackKind::Sound = track.kind {
            self.paint_waveform(ui, plot);
        }
        let empty = match track.kind {
            TrackKind::Sound => !matches!(self.waveform, WaveformTrack::Ready(_)),
            TrackKind::Sampled => tracks.sampled_frames.is_empty(),
            TrackKind::SlowFast => tracks.slowfast.is_empty(),
            TrackKind::Chunks => tracks.chunk_boundaries.is_empty(),
            TrackKind::Tokens => tracks.tokens_per_frame.is_empty(),
            TrackKind::Attention => tracks.attention_mass.is_empty(),
            TrackKind::Evidence => tracks.evidence.is_empty(),
            TrackKind::Captions => tracks.caption_events.is_empty(),
            TrackKind::Compare => tracks.compare_events.is_empty(),
        };
        if empty {
            let hint = match (&self.waveform, track.kind) {
                (WaveformTrack::Computing(done), TrackKind::Sound) => {
                    format!("reading the sound… {:.0}%", done * 100.0)
                }
                (WaveformTrack::Unavailable(reason), TrackKind::Sound) => reason.clone(),
                _ => track.empty_hint.to_owned(),
            };
            painter.text(
                plot.left_center() + Vec2::new(6.0, 0.0),
                Align2::LEFT_CENTER,
                hint,
                FontId::proportional(11.0),
                visuals.weak_text_color(),
            );
            return;
        }
        let accent = visuals.selection.bg_fill;
        let tick = |painter: &egui::Painter, time: f64, height: f32, color: Color32| {
            let x = self.view.x_of(time, plot);
            painter.vline(
                x,
                plot.bottom() - height..=plot.bottom(),
                Stroke::new(1.5, color),
            );
        };
        match track.kind {
            TrackKind::Sound => {}
            TrackKind::Sampled => {
                for &time in &tracks.sampled_frames {
                    tick(&painter, time, plot.height() - 4.0, accent);
                }
            }
            TrackKind::SlowFast => {
                for frame in &tracks.slowfast {
                    match frame.speed {
                        FrameSpeed::Slow => tick(&painter, frame.time, plot.height() - 4.0, SLOW),
                        FrameSpeed::Fast => tick(&painter, frame.time, plot.height() * 0.4, FAST),
                    }
                }
            }
            TrackKind::Chunks => {
                let mut edges = vec![0.0];
                edges.extend(tracks.chunk_boundaries.iter().copied());
                edges.push(self.view.duration());
                for (index, pair) in edges.windows(2).enumerate() {
                    let rect = Rect::from_x_y_ranges(
                        self.view.x_of(pair[0], plot)..=self.view.x_of(pair[1], plot),
                        plot.y_range(),
                    );
                    if index % 2 == 1 {
                        painter.rect_filled(rect, 0.0, accent.gamma_multiply(0.25));
                    }
                }
                for &time in &tracks.chunk_boundaries {
                    tick(&painter, time, plot.height(), visuals.strong_text_color());
                }
            }
            TrackKind::Tokens => {
                paint_bars(&painter, &self.view, plot, &tracks.tokens_per_frame, |_| {
                    accent
                })
            }
            TrackKind::Attention => paint_bars(
                &painter,
                &self.view,
                plot,
                &tracks.attention_mass,
                heat_color,
            ),
            TrackKind::Evidence => {
                // Frames whose removal made the answer likelier draw as no bar.
                let drops: Vec<FrameValue> = tracks
                    .evidence
                    .iter()
                    .map(|v| FrameValue {
                        time: v.time,
                        value: v.value.max(0.0),
                    })
                    .collect();
                paint_bars(&painter, &self.view, plot, &drops, |_| EVIDENCE)
            }
            TrackKind::Captions | TrackKind::Compare => {
                let (segments, fill) = match track.kind {
                    TrackKind::Compare => (&tracks.compare_events, MARK),
                    _ => (&tracks.caption_events, accent),
                };
                for segment in segments {
                    let rect = Rect::from_x_y_ranges(
                        self.view.x_of(segment.start, plot)..=self.view.x_of(segment.end, plot),
                        plot.shrink(2.0).y_range(),
                    );
                    painter.rect(
                        rect,
                        3.0,
                        fill.gamma_multiply(0.6),
                        Stroke::new(1.0, fill),
                        StrokeKind::Inside,
                    );
                    painter.with_clip_rect(rect.intersect(plot)).text(
                        rect.left_center() + Vec2::new(3.0, 0.0),
                        Align2::LEFT_CENTER,
                        &segment.label,
                        FontId::proportional(11.0),
                        visuals.strong_text_color(),
                    );
                }
            }
        }
        let Some(pos) = response
            .interact_pointer_pos()
            .filter(|_| response.clicked())
        else {
            return;
        };
        let time = self.view.time_at(pos.x, plot);
        let target = match track.kind {
            TrackKind::Attention => tracks.most_attended(),
            TrackKind::Evidence => tracks.most_evident(),
            TrackKind::Captions => tracks
                .caption_events
                .iter()
                .find(|s| (s.start..=s.end).contains(&time))
                .map(|s| s.start),
            TrackKind::Compare => tracks
                .compare_events
                .iter()
                .find(|s| (s.start..=s.end).contains(&time))
                .map(|s| s.start),
            _ => Some(time),
        };
        if let Some(target) = target {
            player.pause();
            player.seek(target);
        }
    }

    /// One vertical stroke per point column from the lowest to the highest sample under it.
    fn paint_waveform(&self, ui: &egui::Ui, plot: Rect) {
        let WaveformTrack::Ready(peaks) = &self.waveform else {
            return;
        };
        let painter = ui.painter_at(plot);
        let color = ui.visuals().text_color().gamma_multiply(0.7);
        let middle = plot.center().y;
        let half = plot.height() * 0.5 - 1.0;
        // The zero line, so that a silent stretch reads as sound that is silent.
        painter.hline(
            plot.x_range(),
            middle,
            Stroke::new(1.0, color.gamma_multiply(0.4)),
        );
        let seconds_per_point = self.view.span() / f64::from(plot.width().max(1.0));
        let mut x = plot.left();
        while x < plot.right() {
            let start = self.view.time_at(x, plot);
            if let Some([low, high]) = peaks.range(start, start + seconds_per_point) {
                let top = middle - high.clamp(-1.0, 1.0) * half;
                let bottom = (middle - low.clamp(-1.0, 1.0) * half).max(top + 1.0);
                painter.vline(x + 0.5, top..=bottom, Stroke::new(1.0, color));
            }
            x += 1.0;
        }
    }

    fn paint_marks_and_playhead(&self, ui: &egui::Ui, area: Rect, player: &PlayerState) {
        let painter = ui.painter_at(area);
        if let (Some(start), Some(end)) = (player.in_mark(), player.out_mark()) {
            let rect = Rect::from_x_y_ranges(
                self.view.x_of(start, area)..=self.view.x_of(end, area),
                area.y_range(),
            );
            painter.rect_filled(rect, 0.0, MARK.gamma_multiply(0.15));
        }
        for mark in [player.in_mark(), player.out_mark()].into_iter().flatten() {
            painter.vline(
                self.view.x_of(mark, area),
                area.y_range(),
                Stroke::new(1.5, MARK),
            );
        }
        let x = self.view.x_of(player.position(), area);
        painter.vline(x, area.y_range(), Stroke::new(2.0, PLAYHEAD));
    }
}

const PLAYHEAD: Color32 = Color32::from_rgb(230, 70, 60);
const MARK: Color32 = Color32::from_rgb(240, 190, 40);
const SLOW: Color32 = Color32::from_rgb(80, 150, 240);
const FAST: Color32 = Color32::from_rgb(120, 200, 120);
const EVIDENCE: Color32 = Color32::from_rgb(70, 190, 170);

#[derive(Clone, Copy)]
enum TrackKind {
    Sound,
    Sampled,
    SlowFast,
    Chunks,
    Tokens,
    Attention,
    Evidence,
    Captions,
    Compare,
}

#[derive(Clone, Copy)]
struct TrackInfo {
    kind: TrackKind,
    name: &'static str,
    empty_hint: &'static str,
}

const TRACKS: [TrackInfo; 9] = [
    TrackInfo {
        kind: TrackKind::Sound,
        name: "Sound",
        empty_hint: "the sound's waveform appears here",
    },
    TrackInfo {
        kind: TrackKind::Sampled,
        name: "Sampled frames",
        empty_hint: "filled when a model reads the video (with its SlowFast or Mavors chunk track)",
    },
    TrackInfo {
        kind: TrackKind::SlowFast,
        name: "SlowFast",
        empty_hint: "slow/fast frames of Keye-VL-1.5 sampling",
    },
    TrackInfo {
        kind: TrackKind::Chunks,
        name: "Mavors chunks",
        empty_hint: "chunk boundaries of the Mavors encoder",
    },
    TrackInfo {
        kind: TrackKind::Tokens,
        name: "Tokens / frame",
        empty_hint: "visual tokens per sampled frame",
    },
    TrackInfo {
        kind: TrackKind::Attention,
        name: "Attention",
        empty_hint: "select a token of an answer to see where it looked",
    },
    TrackInfo {
        kind: TrackKind::Evidence,
        name: "Evidence",
        empty_hint: "\"Test frames\" shows which frames the answer needed",
    },
    TrackInfo {
        kind: TrackKind::Captions,
        name: "Caption events",
        empty_hint: "open a caption file to see its events",
    },
    TrackInfo {
        kind: TrackKind::Compare,
        name: "Other annotator",
        empty_hint: "Captions > Compare with… shows another file's events here",
    },
];

fn split_label(row: Rect) -> (Rect, Rect) {
    let split = (row.left() + LABEL_WIDTH).min(row.right());
    (
        Rect::from_min_max(row.min, Pos2::new(split, row.bottom())),
        Rect::from_min_max(Pos2::new(split, row.top()), row.max),
    )
}

/// Bars scaled to the track's maximum, each as wide as the gap to the next sample.
fn paint_bars(
    painter: &egui::Painter,
    view: &TimelineView,
    plot: Rect,
    values: &[FrameValue],
    color: impl Fn(f32) -> Color32,
) {
    let max = values
        .iter()
        .map(|v| v.value)
        .filter(|v| v.is_finite())
        .fold(0.0_f32, f32::max);
    if max <= 0.0 {
        return;
    }
    for (index, sample) in values.iter().enumerate() {
        let next = values.get(index + 1).map_or(view.duration(), |n| n.time);
        let left = view.x_of(sample.time, plot);
        let right = view.x_of(next, plot).max(left + 2.0);
        let fraction = (sample.value / max).clamp(0.0, 1.0);
        let top = plot.bottom() - fraction * (plot.height() - 2.0);
        let rect = Rect::from_min_max(Pos2::new(left, top), Pos2::new(right - 1.0, plot.bottom()));
        painter.rect_filled(rect, 0.0, color(fraction));
    }
}

fn nearest_thumbnail(thumbnails: &[Thumbnail], time: f64) -> Option<&Thumbnail> {
    let after = thumbnails.partition_point(|t| t.time < time);
    let candidates = [after.checked_sub(1), Some(after)];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|i| thumbnails.get(i))
        .min_by(|a, b| (a.time - time).abs().total_cmp(&(b.time - time).abs()))
}

/// A "nice" ruler step (1, 2, 5 times a power of ten, or minutes) leaving at least ~90 points
/// between labels.
fn tick_step(span: f64, width: f32) -> f64 {
    let min_step = span * 90.0 / width.max(1.0) as f64;
    const NICE: [f64; 18] = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
        600.0, 1800.0, 3600.0,
    ];
    NICE.into_iter()
        .find(|&step| step >= min_step)
        .unwrap_or(3600.0)
}

#[cfg(test)]
mod tests {
    use egui::TextureId;

    use super::*;
    #[test]
    fn nearest_thumbnail_picks_the_closest_in_time() {
        let thumbs: Vec<Thumbnail> = [0.0, 1.0, 2.0]
            .map(|time| Thumbnail {
                time,
                texture: TextureId::Managed(0),
                size: [16, 9],
            })
            .to_vec();
        assert_eq!(nearest_thumbnail(&thumbs, 1.4).map(|t| t.time), Some(1.0));
        assert_eq!(nearest_thumbnail(&thumbs, 1.6).map(|t| t.time), Some(2.0));
        assert_eq!(nearest_thumbnail(&thumbs, 9.0).map(|t| t.time), Some(2.0));
        assert_eq!(nearest_thumbnail(&[], 1.0), None);
    }
}
