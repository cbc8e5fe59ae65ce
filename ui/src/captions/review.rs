//! Review in the record view: the record's status, and the reviewer threads on the record and on
//! the selected event. Every change is a `haic` review edit, journaled and undoable like any other.

use egui::{RichText, TextEdit};
use haic::{CaptionRecord, Comment, Edit, ReviewStatus};

use super::{CaptionEditor, EditorEnv, Field};

/// Whose remarks new comments are, when the app does not say.
const DEFAULT_AUTHOR: &str = "annotator";

impl CaptionEditor {
    pub(super) fn review_view(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        caption: &CaptionRecord,
        env: &EditorEnv<'_>,
    ) {
        ui.horizontal(|ui| {
            let label = ui.label("Status");
            let mut status = caption.review.status;
            egui::ComboBox::from_id_salt("review-status")
                .selected_text(status.label())
                .show_ui(ui, |ui| {
                    for option in ReviewStatus::ALL {
                        ui.selectable_value(&mut status, option, option.label());
                    }
                })
                .response
                .labelled_by(label.id);
            if status != caption.review.status {
                self.edit(record, Edit::SetStatus { status });
            }
            ui.weak("D: done and next · F: flag · Y: approve · ?: all keys");
        });
        let event = match self.located {
            Some(Field::Event(index, _)) => caption
                .structure()
                .and_then(|structure| structure.events.get(index))
                .map(|event| (index, event.comments.clone())),
            _ => None,
        };
        let count = caption.review.comments.len() + event.as_ref().map_or(0, |(_, c)| c.len());
        egui::CollapsingHeader::new(format!("Review comments ({count})"))
            .id_salt("review-comments")
            .default_open(count > 0)
            .show(ui, |ui| {
                ui.strong("On the record");
                self.thread(ui, record, None, &caption.review.comments, env);
                if let Some((index, comments)) = event {
                    ui.strong(format!("On event {}", index + 1));
                    self.thread(ui, record, Some(index), &comments, env);
                }
            });
    }

    fn thread(
        &mut self,
        ui: &mut egui::Ui,
        record: usize,
        event: Option<usize>,
        comments: &[Comment],
        env: &EditorEnv<'_>,
    ) {
        for (index, comment) in comments.iter().enumerate() {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(format!("{}:", comment.author)).strong());
                ui.label(&comment.text);
                if let Some(at) = &comment.at {
                    ui.weak(at);
                }
                if ui
                    .small_button("Remove")
                    .accessible_name(format!("Remove comment {}", index + 1))
                    .clicked()
                {
                    self.edit(record, Edit::RemoveComment { event, index });
                }
            });
        }
        let draft = self.comment_drafts.entry((record, event)).or_default();
        let mut send = false;
        ui.horizontal(|ui| {
            let field = ui.add(
                TextEdit::singleline(draft)
                    .hint_text("add a comment")
                    .desired_width(220.0),
            );
            let name = match event {
                Some(index) => format!("Comment on event {}", index + 1),
                None => "Comment on the record".to_string(),
            };
            let field = field.accessible_name(name);
            let entered =
                field.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
            send = ui.button("Add").clicked() || entered;
        });
        if send && !draft.trim().is_empty() {
            let comment = Comment {
                author: env.author.unwrap_or(DEFAULT_AUTHOR).to_string(),
                text: std::mem::take(draft).trim().to_string(),
                at: Some(now_rfc3339()),
            };
            self.edit(record, Edit::AddComment { event, comment });
        }
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`, from the system clock.
fn now_rfc3339() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs()) as i64;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn day_counts_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_793), (2026, 12, 6));
    }
}
