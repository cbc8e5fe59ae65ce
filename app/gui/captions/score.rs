//! The "Score caption" strip's wiring: the session's [`CaptionScoring`] for the selected record,
//! drawn by keye-ui's [`ScorePanel`].

use eframe::egui;
use haic::Document;
use keye_ui::{MissedQuestion, ScoreAction, ScorePanel, ScoreSummary, ScoreView, Toasts};

use crate::haicbench::Answerer;
use crate::session::captions::score::CaptionScoring;

#[derive(Default)]
pub struct CaptionScore {
    scoring: CaptionScoring,
    panel: ScorePanel,
}

impl CaptionScore {
    pub fn set_judge(&mut self, judge: Option<Answerer>) {
        self.scoring.set_judge(judge);
    }

    /// The running score, if any: `(record, done, total)`.
    #[cfg(test)]
    pub fn running(&self) -> Option<(usize, usize, usize)> {
        self.scoring.running()
    }

    /// The last result's figure for `record`: `(correct, questions)`.
    #[cfg(test)]
    pub fn figure(&self, record: usize) -> Option<(usize, usize)> {
        self.scoring
            .result_for(record)
            .map(|r| (r.correct(), r.outcomes.len()))
    }

    /// Draws the strip for the selected record; returns true when the annotator asks to score
    /// (the caller applies pending typing first, then calls [`start`](Self::start)).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        document: &Document,
        selected: Option<usize>,
        toasts: &mut Toasts,
    ) -> bool {
        let ctx = ui.ctx().clone();
        if let Some(problem) = self.scoring.sync(document, move || ctx.request_repaint()) {
            toasts.info(problem);
        }
        if let Some(problem) = self.scoring.poll() {
            toasts.error(problem);
        }
        let Some((record, video, caption)) = selected_caption(document, selected) else {
            return false;
        };
        let questions = self.scoring.questions_for(&video).len();
        let running = self
            .scoring
            .running()
            .filter(|(r, ..)| *r == record)
            .map(|(_, done, total)| (done, total.max(questions)));
        let result = self.scoring.result_for(record).map(|r| ScoreSummary {
            correct: r.correct(),
            total: r.outcomes.len(),
            judge: r.judge.clone(),
            edited_since: r.caption != caption,
            before: r.before,
            missed: r
                .missed()
                .map(|o| MissedQuestion {
                    question: o.question.clone(),
                    expected: o.options[usize::from(o.answer as u8 - b'A')].clone(),
                    chosen: o.chosen_text().map(str::to_string),
                })
                .collect(),
        });
        let view = ScoreView {
            questions,
            judge: self.scoring.judge_name(),
            running,
            result,
        };
        match self.panel.ui(ui, &view) {
            Some(ScoreAction::Score) => true,
            Some(ScoreAction::Cancel) => {
                self.scoring.cancel();
                false
            }
            None => false,
        }
    }

    /// Starts scoring the selected record's caption as the document holds it now.
    pub fn start(
        &mut self,
        document: &Document,
        selected: Option<usize>,
        ctx: &egui::Context,
        toasts: &mut Toasts,
    ) {
        let Some((record, video, caption)) = selected_caption(document, selected) else {
            return;
        };
        let questions = self.scoring.questions_for(&video);
        let ctx = ctx.clone();
        if let Err(problem) = self
            .scoring
            .start(record, caption, questions, move || ctx.request_repaint())
        {
            toasts.error(problem);
        }
    }
}

/// The selected record's index, video and caption text (caption records with a video only).
fn selected_caption(
    document: &Document,
    selected: Option<usize>,
) -> Option<(usize, String, String)> {
    let record = selected?;
    let caption = document.file().caption(record).ok()?;
    Some((record, caption.video.clone()?, caption.caption.clone()))
}

#[cfg(test)]
mod tests {
    //! The strip as the annotator uses it: the demo world's captions with their qa.jsonl beside
    //! them, the shipped demo model as the judge.

    use std::{
        path::Path,
        sync::Arc,
        time::{Duration, Instant},
    };

    use egui_kittest::kittest::Queryable;
    use keye_ui::Toasts;

    use super::super::{CaptionSession, tests::open_blocking};
    use crate::{haicbench::Answerer, inference::LoadedModel};

    struct Bench {
        session: CaptionSession,
        toasts: Toasts,
    }

    fn run_until_scored(harness: &mut egui_kittest::Harness<'_, Bench>) {
        let deadline = Instant::now() + Duration::from_secs(120);
        harness.step();
        while harness.state().session.score.running().is_some() {
            assert!(Instant::now() < deadline, "scoring did not finish");
            std::thread::sleep(Duration::from_millis(20));
            harness.step();
        }
        harness.run();
    }

    #[test]
    fn score_caption_judges_the_selected_record_and_again_after_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        crate::demo::dataset::write_dataset(11, 1, dir.path(), &mut |_, _| {}).unwrap();
        let questions = std::fs::read_to_string(dir.path().join("qa.jsonl"))
            .unwrap()
            .lines()
            .count();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = LoadedModel::load(
            &root.join("assets/models/keye-demo"),
            Default::default(),
            None,
            None,
        )
        .unwrap();
        let mut session = open_blocking(&dir.path().join("captions.jsonl"));
        session.set_judge(Some(Answerer::Local(Arc::new(model))));
        session.editor.select(0);
        let mut harness = egui_kittest::Harness::builder()
            .with_size(eframe::egui::Vec2::new(700.0, 800.0))
            .build_ui_state(
                |ui, bench: &mut Bench| {
                    bench.session.tick(ui.ctx(), &mut bench.toasts);
                    bench.session.ui(ui, None, &mut bench.toasts);
                },
                Bench {
                    session,
                    toasts: Toasts::default(),
                },
            );
        harness.run();
        harness.get_by_label(&format!("{questions} questions about this video"));
        harness.get_by_label("Score caption").click();
        run_until_scored(&mut harness);
        let (correct, total) = harness.state().session.score.figure(0).unwrap();
        assert_eq!(total, questions);
        harness.get_by_label(&format!("answers {correct} of {total} questions"));
        if correct < total {
            harness.get_by_label(&format!("Missed questions ({})", total - correct));
        }
        // An edit: the figure is marked old until scored again, then the old one is shown beside.
        let caption = harness
            .state()
            .session
            .document()
            .unwrap()
            .file()
            .caption(0)
            .unwrap()
            .caption
            .clone();
        let edit = haic::Command {
            record: 0,
            edit: haic::Edit::SetText {
                text: format!("{caption} Nothing else happens."),
            },
        };
        let mut toasts = Toasts::default();
        harness
            .state_mut()
            .session
            .apply(keye_ui::CaptionAction::Edit(edit), &mut toasts);
        harness.run();
        harness.get_by_label("edited since: score again");
        harness.get_by_label("Score caption").click();
        run_until_scored(&mut harness);
        harness.get_by_label(&format!("(before: {correct} of {total})"));
        assert!(
            harness
                .query_by_label("edited since: score again")
                .is_none()
        );
        let toasts: Vec<&str> = harness
            .state()
            .toasts
            .items()
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        assert!(toasts.is_empty(), "{toasts:?}");
    }
}
