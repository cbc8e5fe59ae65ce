//! The evidence of one answer as the GUI keeps it, free of egui: the running evidence job (its
//! progress, cancel) and its result, turned into the inspector's view, the timeline's evidence
//! track, each step's vision share and the heatmap grid of the chosen aggregation with its sink
//! cells.

use std::sync::Arc;

use keye_model::evidence::{FrameId, HeadReduce, Method, Target};
use keye_ui::{
    AggregationInfo, EvidenceControls, EvidenceRow, EvidenceView, FrameValue, HeatGrid, RawHeads,
};

use crate::evidence::{Evidence, EvidenceEvent, EvidenceHandle, EvidenceRequest, spawn_evidence};
use crate::inference::LoadedModel;

/// The job running for a turn.
struct Running {
    handle: EvidenceHandle,
    turn: usize,
}

/// Evidence for at most one turn at a time.
#[derive(Default)]
pub struct EvidenceSession {
    running: Option<Running>,
    progress: Option<(usize, usize)>,
    result: Option<(usize, Evidence)>,
    status: Option<String>,
    /// Bumped whenever the result changes, so views built from it are rebuilt.
    version: usize,
}

/// The aggregation the controls pick (by index into [`Method::ALL`], raw attention with the
/// layer and heads chosen).
pub fn method_of(controls: &EvidenceControls) -> Method {
    match Method::ALL[controls.aggregation.min(Method::ALL.len() - 1)] {
        Method::Raw { .. } => Method::Raw {
            layer: controls.raw_layer,
            heads: match controls.raw_heads {
                RawHeads::Mean => HeadReduce::Mean,
                RawHeads::Max => HeadReduce::Max,
                RawHeads::Head(h) => HeadReduce::Head(h),
            },
        },
        other => other,
    }
}

impl EvidenceSession {
    /// Starts the job for `turn` (cancelling one already running).
    pub fn start(&mut self, model: Arc<LoadedModel>, request: EvidenceRequest, turn: usize) {
        self.cancel();
        self.running = Some(Running {
            handle: spawn_evidence(model, request),
            turn,
        });
        self.progress = Some((0, 1));
        self.status = None;
    }

    pub fn cancel(&mut self) {
        if let Some(running) = &self.running {
            running.handle.cancel();
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    pub fn version(&self) -> usize {
        self.version
    }

    /// Forgets everything (a new video, a cleared conversation).
    pub fn clear(&mut self) {
        self.cancel();
        *self = Self {
            version: self.version + 1,
            ..Self::default()
        };
    }

    /// Takes the job's events; `true` when the result or progress changed.
    pub fn pump(&mut self) -> bool {
        let Some(running) = &self.running else {
            return false;
        };
        let mut changed = false;
        let mut ended = false;
        while let Ok(event) = running.handle.events.try_recv() {
            changed = true;
            match event {
                EvidenceEvent::Preparing { .. } | EvidenceEvent::Answered { .. } => {}
                EvidenceEvent::Mapped => self.status = Some("maps ready; testing frames".into()),
                EvidenceEvent::Testing { done, total } => self.progress = Some((done, total)),
                EvidenceEvent::Done(evidence) => {
                    self.result = Some((running.turn, *evidence));
                    self.status = None;
                    ended = true;
                }
                EvidenceEvent::Failed(message) => {
                    self.status = Some(format!("Testing frames failed: {message}"));
                    ended = true;
                }
                EvidenceEvent::Cancelled => {
                    self.status = Some("Testing frames was cancelled".into());
                    ended = true;
                }
            }
        }
        if ended {
            self.running = None;
            self.progress = None;
            self.version += 1;
        }
        changed
    }

    /// The evidence of `turn`, when it has been computed.
    pub fn result_for(&self, turn: usize) -> Option<&Evidence> {
        self.result
            .as_ref()
            .filter(|(t, _)| *t == turn)
            .map(|(_, e)| e)
    }

    /// What the inspector shows for `turn`.
    pub fn view(
        &self,
        turn: Option<usize>,
        controls: &EvidenceControls,
        can_test: bool,
    ) -> EvidenceView {
        let aggregations = Method::ALL
            .iter()
            .map(|m| AggregationInfo {
                name: m.name().into(),
                description: m.description().into(),
            })
            .collect();
        let mut view = EvidenceView {
            aggregations,
            can_test: can_test && !self.is_running(),
            progress: self.running.as_ref().and(self.progress),
            status: self.status.clone(),
            ..EvidenceView::default()
        };
        let Some(evidence) = turn.and_then(|t| self.result_for(t)) else {
            return view;
        };
        view.has_maps = true;
        view.target = Some(match evidence.target {
            Target::Answer => "the whole answer".to_owned(),
            Target::Step(step) => format!("token {step}"),
        });
        view.sinks = evidence.sinks.len();
        view.layers = evidence.maps.raw.len();
        view.heads = evidence.maps.raw.first().map_or(0, Vec::len);
        let found = evidence.evidence_for(method_of(controls));
        if let Err(problem) = &found {
            view.status = Some(problem.to_string());
        }
        let found = found.ok();
        let found = found.as_ref();
        view.faithfulness = found.and_then(|m| {
            if controls.mask_sinks {
                m.faithfulness
            } else {
                m.faithfulness_raw
            }
        });
        let share = |frame: FrameId| -> f64 {
            let Some(m) = found else { return 0.0 };
            let total: f64 = m
                .frames
                .iter()
                .map(|f| pick(controls, f.attention, f.attention_raw))
                .sum();
            m.frames.iter().find(|f| f.frame == frame).map_or(0.0, |f| {
                pick(controls, f.attention, f.attention_raw) / total.max(f64::MIN_POSITIVE)
            })
        };
        if let Some(deletion) = &evidence.deletion {
            view.rows = deletion
                .ranking()
                .iter()
                .map(|d| EvidenceRow {
                    label: frame_label(evidence, d.frame),
                    time: evidence.time_of(d.frame),
                    drop: d.drop,
                    attention: share(d.frame),
                })
                .collect();
        }
        view
    }

    /// The timeline's evidence track for `turn`: each frame's drop, at its time.
    pub fn track(&self, turn: Option<usize>) -> Vec<FrameValue> {
        let Some(evidence) = turn.and_then(|t| self.result_for(t)) else {
            return Vec::new();
        };
        let Some(deletion) = &evidence.deletion else {
            return Vec::new();
        };
        let mut values: Vec<FrameValue> = deletion
            .frames
            .iter()
            .filter(|d| Some(d.frame.media) == video_of(evidence))
            .map(|d| FrameValue {
                time: evidence.time_of(d.frame),
                value: d.drop as f32,
            })
            .collect();
        values.sort_by(|a, b| a.time.total_cmp(&b.time));
        values
    }

    /// The decoder frame of `turn`'s video under `playhead`.
    pub fn frame_at(&self, turn: usize, playhead: f64) -> Option<usize> {
        let evidence = self.result_for(turn)?;
        let frames = &evidence.media.get(video_of(evidence)?)?.frames;
        frames
            .iter()
            .position(|f| f.time <= playhead && playhead < f.end)
            .or_else(|| frames.len().checked_sub(1).filter(|_| playhead >= 0.0))
    }

    /// The chosen aggregation's map over `frame` of `turn`'s video, normalised for the colormap,
    /// and the (row, col) cells of its sink tokens (to ring on the frame).
    pub fn grid(
        &self,
        turn: usize,
        controls: &EvidenceControls,
        frame: usize,
    ) -> Option<(HeatGrid, Vec<(usize, usize)>)> {
        let evidence = self.result_for(turn)?;
        let video = video_of(evidence)?;
        let found = evidence.evidence_for(method_of(controls)).ok()?;
        let map = if controls.mask_sinks {
            &found.map
        } else {
            &found.map_raw
        };
        let &(rows, cols) = evidence.vision.media.get(video)?.frames.get(frame)?;
        let mut values = Vec::with_capacity(rows * cols);
        let mut sinks = Vec::new();
        for (index, (r, &w)) in evidence.vision.refs.iter().zip(map).enumerate() {
            if r.media == video && r.frame == frame {
                values.push(w);
                if evidence.sinks.binary_search(&index).is_ok() {
                    sinks.push((r.row, r.col));
                }
            }
        }
        Some((HeatGrid::normalized(rows, cols, &values)?, sinks))
    }
}

fn pick(controls: &EvidenceControls, masked: f64, raw: f64) -> f64 {
    if controls.mask_sinks { masked } else { raw }
}

/// The video among the media (the token map numbers it after any images).
fn video_of(evidence: &Evidence) -> Option<usize> {
    evidence.media.iter().position(|m| m.encoder.is_some())
}

/// "frame 12 at 1.50 s" (the source frame a sampled frame or chunk starts at) or "image 1".
pub fn frame_label(evidence: &Evidence, frame: FrameId) -> String {
    let media = evidence.media.get(frame.media);
    match media.and_then(|m| m.encoder.map(|e| (e, m.frames.get(frame.frame)))) {
        Some((encoder, Some(source))) => {
            let unit = match encoder {
                keye_model::video::VideoEncoderKind::Mavors => "chunk at frame",
                _ => "frame",
            };
            format!("{unit} {} at {:.2} s", source.index, source.time)
        }
        _ => format!("image {}", frame.media + 1),
    }
}
