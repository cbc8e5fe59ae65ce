//! Search over the open caption file: a query box, "Find similar" for the selected record, and
//! the results (record, field, snippet) that jump to their record and field on a click. The
//! ranking is the app's; this panel draws what it is handed and returns [`SearchAction`]s.

use egui::TextEdit;

/// What the annotator asked of the search panel.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchAction {
    /// Rank the file's records by these words (sent as the query changes).
    Search(String),
    /// The records nearest to this one.
    Similar(usize),
    /// Show this record and the field a result names (`caption`, `events[1].action`, ...).
    Jump { record: usize, path: String },
}

/// One result as the panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHitView {
    pub record: usize,
    /// The field that matches best, as `captions validate` names fields.
    pub path: String,
    pub text: String,
    /// Why it ranks where it does (the BM25 score, and the model's similarity when it
    /// re-ranked), shown on hover.
    pub why: String,
}

/// Characters of a result's field shown in the list.
const SNIPPET_CHARS: usize = 60;

/// The search panel's state: the query typed and the results handed back.
#[derive(Default)]
pub struct CaptionSearch {
    pub query: String,
    /// What the results are for ("3 records for 弹吉他", "Nearest to #4"), or why there are none.
    heading: Option<String>,
    hits: Vec<SearchHitView>,
    /// The query last sent, so an unchanged box sends nothing.
    sent: Option<String>,
}

impl CaptionSearch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows results (or, with no hits, the heading alone: "no records match", an error).
    pub fn show_results(&mut self, heading: String, hits: Vec<SearchHitView>) {
        self.heading = Some(heading);
        self.hits = hits;
    }

    pub fn hits(&self) -> &[SearchHitView] {
        &self.hits
    }

    /// Forgets the query and results (another file was opened).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Draws the panel; `selected` is the record "Find similar" starts from.
    pub fn ui(&mut self, ui: &mut egui::Ui, selected: Option<usize>) -> Vec<SearchAction> {
        let mut actions = Vec::new();
        ui.horizontal(|ui| {
            let response = ui
                .add(
                    TextEdit::singleline(&mut self.query)
                        .hint_text("search captions: words in English or Chinese")
                        .desired_width(220.0),
                )
                .accessible_name("Search captions");
            let query = self.query.trim().to_owned();
            let entered =
                response.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
            if (response.changed() || entered) && self.sent.as_deref() != Some(&query) {
                self.sent = Some(query.clone());
                if query.is_empty() {
                    self.heading = None;
                    self.hits.clear();
                } else {
                    actions.push(SearchAction::Search(query));
                }
            }
            let label = match selected {
                Some(record) => format!("Find similar to #{record}"),
                None => "Find similar".to_owned(),
            };
            let similar = ui
                .add_enabled(selected.is_some(), egui::Button::new(label))
                .on_hover_text("List the records nearest to the selected one")
                .on_disabled_hover_text("Select a record first");
            if similar.clicked()
                && let Some(record) = selected
            {
                // The query box no longer describes the results.
                self.sent = None;
                actions.push(SearchAction::Similar(record));
            }
        });
        if let Some(heading) = &self.heading {
            ui.weak(heading);
        }
        if self.hits.is_empty() {
            return actions;
        }
        egui::ScrollArea::vertical()
            .id_salt("caption-search-results")
            .max_height(140.0)
            .auto_shrink([false, true])
            .show(ui, |ui| {
                for hit in &self.hits {
                    let snippet: String = hit.text.chars().take(SNIPPET_CHARS).collect();
                    let ellipsis = if hit.text.chars().count() > SNIPPET_CHARS {
                        "…"
                    } else {
                        ""
                    };
                    let label = format!(
                        "#{} {}: {}{ellipsis}",
                        hit.record,
                        hit.path,
                        snippet.replace('\n', " ")
                    );
                    if ui
                        .selectable_label(false, label)
                        .on_hover_text(&hit.why)
                        .clicked()
                    {
                        actions.push(SearchAction::Jump {
                            record: hit.record,
                            path: hit.path.clone(),
                        });
                    }
                }
            });
        actions
    }
}
