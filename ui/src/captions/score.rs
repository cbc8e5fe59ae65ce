//! The "Score caption" strip under the caption editor: how many of the selected record's
//! HAICBench questions a judge answers from the caption alone, the questions it missed, and the
//! button (or the progress and Cancel while it runs).

/// A question the judge got wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct MissedQuestion {
    pub question: String,
    pub expected: String,
    /// The option the judge chose; `None` when its reply named none.
    pub chosen: Option<String>,
}

/// A finished score of the selected record.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreSummary {
    pub correct: usize,
    pub total: usize,
    pub judge: String,
    /// The caption was edited after this score.
    pub edited_since: bool,
    /// The figure of the score before this one.
    pub before: Option<(usize, usize)>,
    pub missed: Vec<MissedQuestion>,
}

/// What the strip shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreView {
    /// Questions about the record's video (the strip is not drawn when there are none).
    pub questions: usize,
    /// The judge's name; `None` when no model is loaded and no server connected.
    pub judge: Option<String>,
    /// (done, total) while scoring.
    pub running: Option<(usize, usize)>,
    pub result: Option<ScoreSummary>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreAction {
    Score,
    Cancel,
}

/// The strip; stateless but for its collapsing list.
#[derive(Default)]
pub struct ScorePanel;

impl ScorePanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &ScoreView) -> Option<ScoreAction> {
        if view.questions == 0 {
            return None;
        }
        let mut action = None;
        ui.horizontal(|ui| {
            match view.running {
                Some((done, total)) => {
                    ui.add(
                        egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                            .desired_width(140.0)
                            .text(format!("judging {done}/{total}")),
                    );
                    if ui.button("Cancel").clicked() {
                        action = Some(ScoreAction::Cancel);
                    }
                }
                None => {
                    let button = ui.add_enabled(
                        view.judge.is_some(),
                        egui::Button::new("Score caption"),
                    );
                    let button = match &view.judge {
                        Some(judge) => button.on_hover_text(format!(
                            "{} HAICBench questions about this video, answered by {judge} from the caption text alone",
                            view.questions
                        )),
                        None => button.on_disabled_hover_text(
                            "Load a model or connect to a server: it judges the caption",
                        ),
                    };
                    if button.clicked() {
                        action = Some(ScoreAction::Score);
                    }
                }
            }
            if let Some(result) = &view.result {
                ui.strong(format!(
                    "answers {} of {} questions",
                    result.correct, result.total
                ));
                if let Some((correct, total)) = result.before {
                    ui.weak(format!("(before: {correct} of {total})"));
                }
                if result.edited_since {
                    ui.weak("edited since: score again");
                }
            } else if view.running.is_none() {
                ui.weak(format!("{} questions about this video", view.questions));
            }
        });
        if let Some(result) = &view.result
            && !result.missed.is_empty()
        {
            egui::CollapsingHeader::new(format!("Missed questions ({})", result.missed.len()))
                .id_salt("score-missed")
                .default_open(true)
                .show(ui, |ui| {
                    for missed in &result.missed {
                        let chosen = missed
                            .chosen
                            .as_deref()
                            .map_or("no option".to_string(), |c| format!("\"{c}\""));
                        ui.label(format!(
                            "{}  expected \"{}\", judge chose {chosen}",
                            missed.question, missed.expected
                        ));
                    }
                });
        }
        action
    }
}
