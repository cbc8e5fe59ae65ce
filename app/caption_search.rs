//! Caption search over one file: BM25 over words (Chinese cut into words by jieba, the rest
//! split at non-alphanumerics), re-ranked by Mengzi sentence embeddings when a model is given.
//! Each hit names the record and the field that matches best, so the editor can jump there.

use std::{collections::HashMap, sync::Arc};

use haic::{CaptionFile, Record};
use jieba_rs::Jieba;
use keye_model::mengzi::MengziModel;

use crate::caption_check::{FieldText, text_fields};

/// BM25's term-frequency saturation and length normalisation (the usual values).
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Lexical hits handed to the re-ranker per result asked for (at least [`MIN_CANDIDATES`]).
const CANDIDATES_PER_RESULT: usize = 5;
const MIN_CANDIDATES: usize = 50;
/// Records embedded per model pass.
const EMBED_BATCH: usize = 16;

/// Splits text into search terms: lowercase words, Chinese segmented into words (with the
/// shorter words inside long ones, jieba's search mode), punctuation and spaces dropped.
pub struct Segmenter {
    jieba: Jieba,
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

impl Segmenter {
    /// Loads jieba's built-in dictionary (about a third of a second).
    pub fn new() -> Self {
        Self {
            jieba: Jieba::new(),
        }
    }

    pub fn terms(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        self.jieba
            .cut_for_search(&lower, true)
            .into_iter()
            .map(|token| token.word)
            .filter(|word| word.chars().any(char::is_alphanumeric))
            .map(|word| fold_english(word.trim()))
            .filter(|term| !STOP_WORDS.contains(&term.as_str()))
            .collect()
    }
}

/// Words nearly every caption has, in either language: matching them says nothing about what a
/// record shows, so a query's `a` or `的` does not pull in unrelated records.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "of", "in", "on", "at", "to", "and", "or",
    "with", "by", "for", "as", "it", "its", "this", "that", "there", "then", "does", "do", "what",
    "的", "了", "着", "和", "与", "是", "在", "这", "那", "个", "之",
];

/// A light plural / third-person fold for English words ("waves" and "wave" meet); Chinese
/// words pass unchanged.
fn fold_english(word: &str) -> String {
    let ascii = word.bytes().all(|b| b.is_ascii_alphabetic());
    if ascii && word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

/// One searchable record.
struct Document {
    record: usize,
    /// The fields to point at, with their terms.
    fields: Vec<(FieldText, Vec<String>)>,
    /// Term counts over the record's text (its caption, or question and options).
    counts: HashMap<String, usize>,
    length: usize,
    /// What the record says, as one text (embedded for re-ranking).
    text: String,
}

/// A file's records indexed for search.
pub struct SearchIndex {
    segmenter: Arc<Segmenter>,
    documents: Vec<Document>,
    /// Term -> documents holding it.
    document_frequency: HashMap<String, usize>,
    average_length: f64,
}

/// One result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub record: usize,
    /// The field holding most of the query's words (`caption`, `events[1].action`, ...).
    pub path: String,
    /// Its text.
    pub text: String,
    /// The lexical score.
    pub bm25: f64,
    /// Cosine similarity of Mengzi embeddings (query and record), when a model re-ranked.
    pub similarity: Option<f32>,
    /// What the results are ordered by: BM25 alone, or BM25 and similarity each scaled to
    /// [0, 1] over the candidates and averaged.
    pub score: f64,
}

impl Document {
    fn new(segmenter: &Segmenter, index: usize, record: &Record) -> Self {
        let text = record_text(record);
        let terms = segmenter.terms(&text);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for term in &terms {
            *counts.entry(term.clone()).or_default() += 1;
        }
        let mut fields: Vec<(FieldText, Vec<String>)> = text_fields(record)
            .into_iter()
            .map(|field| {
                let terms = segmenter.terms(&field.text);
                (field, terms)
            })
            .collect();
        // A structured record's caption text is where its words are read together.
        if let Record::Caption(caption) = record
            && caption.had_structure_fields
        {
            fields.push((
                FieldText {
                    path: "caption".into(),
                    field: Some(haic::TextField::Caption),
                    text: text.clone(),
                },
                terms.clone(),
            ));
        }
        Self {
            record: index,
            fields,
            counts,
            length: terms.len(),
            text,
        }
    }
}

/// The text a record is searched and embedded by.
fn record_text(record: &Record) -> String {
    match record {
        Record::Caption(caption) if !caption.caption.trim().is_empty() => caption.caption.clone(),
        Record::Caption(caption) => caption
            .structure()
            .map(haic::text::render)
            .unwrap_or_default(),
        Record::Qa(qa) => std::iter::once(qa.question.as_str())
            .chain(qa.options.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

impl SearchIndex {
    /// Indexes every readable record of a file.
    pub fn new(file: &CaptionFile, segmenter: Arc<Segmenter>) -> Self {
        Self::from_records(file.records(), segmenter)
    }

    /// Indexes records given with their index in the file (the editor's current versions).
    pub fn from_records<'r>(
        records: impl IntoIterator<Item = (usize, &'r Record)>,
        segmenter: Arc<Segmenter>,
    ) -> Self {
        let mut index = Self {
            segmenter,
            documents: Vec::new(),
            document_frequency: HashMap::new(),
            average_length: 0.0,
        };
        index.update(records);
        index
    }

    /// Takes the current versions of some records (new ones are added), so an edit costs the
    /// edited records, not the file: the editor sends only what changed since the last search.
    pub fn update<'r>(&mut self, records: impl IntoIterator<Item = (usize, &'r Record)>) {
        for (index, record) in records {
            let document = Document::new(&self.segmenter, index, record);
            for term in document.counts.keys() {
                *self.document_frequency.entry(term.clone()).or_default() += 1;
            }
            match self.documents.binary_search_by_key(&index, |d| d.record) {
                Ok(at) => {
                    let old = std::mem::replace(&mut self.documents[at], document);
                    for term in old.counts.keys() {
                        if let Some(count) = self.document_frequency.get_mut(term) {
                            *count -= 1;
                            if *count == 0 {
                                self.document_frequency.remove(term);
                            }
                        }
                    }
                }
                Err(at) => self.documents.insert(at, document),
            }
        }
        let total: usize = self.documents.iter().map(|d| d.length).sum();
        self.average_length = total as f64 / self.documents.len().max(1) as f64;
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The query's terms, as the index sees them.
    pub fn terms(&self, query: &str) -> Vec<String> {
        self.segmenter.terms(query)
    }

    fn bm25(&self, document: &Document, terms: &[String]) -> f64 {
        let n = self.documents.len() as f64;
        let mut seen: Vec<&String> = Vec::new();
        let mut score = 0.0;
        for term in terms {
            if seen.contains(&term) {
                continue;
            }
            seen.push(term);
            let Some(&tf) = document.counts.get(term) else {
                continue;
            };
            let df = self.document_frequency.get(term).copied().unwrap_or(0) as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            let tf = tf as f64;
            let norm = 1.0 - B + B * document.length as f64 / self.average_length.max(1.0);
            score += idf * tf * (K1 + 1.0) / (tf + K1 * norm);
        }
        score
    }

    /// The field of `document` holding the most distinct query terms; the shortest on a tie.
    fn best_field<'d>(document: &'d Document, terms: &[String]) -> Option<&'d FieldText> {
        document
            .fields
            .iter()
            .map(|(field, field_terms)| {
                let matched = terms
                    .iter()
                    .filter(|t| field_terms.contains(t))
                    .collect::<std::collections::HashSet<_>>()
                    .len();
                (field, matched)
            })
            .max_by(|(a, ma), (b, mb)| {
                ma.cmp(mb)
                    .then_with(|| b.text.chars().count().cmp(&a.text.chars().count()))
            })
            .map(|(field, _)| field)
    }

    /// The records that share words with `query`, best first; `exclude` leaves one record out
    /// (the record "Find similar" starts from). With a model the lexical candidates are
    /// re-ranked by sentence similarity.
    pub fn search(
        &self,
        query: &str,
        top: usize,
        exclude: Option<usize>,
        model: Option<&MengziModel>,
    ) -> keye_model::Result<Vec<Hit>> {
        let terms = self.terms(query);
        let mut scored: Vec<(&Document, f64)> = self
            .documents
            .iter()
            .filter(|d| Some(d.record) != exclude)
            .map(|d| (d, self.bm25(d, &terms)))
            .filter(|(_, score)| *score > 0.0)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.record.cmp(&b.0.record)));
        let hit = |document: &Document, bm25: f64, similarity: Option<f32>, score: f64| {
            let field = Self::best_field(document, &terms);
            Hit {
                record: document.record,
                path: field.map_or_else(|| "caption".into(), |f| f.path.clone()),
                text: field.map_or_else(|| document.text.clone(), |f| f.text.clone()),
                bm25,
                similarity,
                score,
            }
        };
        let Some(model) = model else {
            return Ok(scored
                .into_iter()
                .take(top)
                .map(|(d, bm25)| hit(d, bm25, None, bm25))
                .collect());
        };
        scored.truncate((top * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES));
        if scored.is_empty() {
            return Ok(Vec::new());
        }
        let query_embedding = model.embed(&[query])?.remove(0);
        let mut similarities = Vec::with_capacity(scored.len());
        for chunk in scored.chunks(EMBED_BATCH) {
            let texts: Vec<&str> = chunk.iter().map(|(d, _)| d.text.as_str()).collect();
            for embedding in model.embed(&texts)? {
                let cosine: f32 = embedding
                    .iter()
                    .zip(&query_embedding)
                    .map(|(a, b)| a * b)
                    .sum();
                similarities.push(cosine);
            }
        }
        let max_bm25 = scored.first().map_or(1.0, |s| s.1);
        let (low, high) = similarities
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
                (lo.min(s), hi.max(s))
            });
        let spread = f64::from(high - low);
        let mut hits: Vec<Hit> = scored
            .iter()
            .zip(&similarities)
            .map(|(&(document, bm25), &similarity)| {
                let lexical = bm25 / max_bm25;
                let semantic = if spread > 0.0 {
                    f64::from(similarity - low) / spread
                } else {
                    1.0
                };
                hit(document, bm25, Some(similarity), (lexical + semantic) / 2.0)
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.record.cmp(&b.record)));
        hits.truncate(top);
        Ok(hits)
    }

    /// The records nearest to record `record` ("Find similar"): its own text is the query.
    pub fn similar(
        &self,
        record: usize,
        top: usize,
        model: Option<&MengziModel>,
    ) -> keye_model::Result<Vec<Hit>> {
        let Some(document) = self.documents.iter().find(|d| d.record == record) else {
            return Ok(Vec::new());
        };
        self.search(&document.text, top, Some(record), model)
    }
}

#[cfg(test)]
mod tests {
    use haic::{CaptionFile, FieldNames};

    use super::*;

    fn file(lines: &[&str]) -> CaptionFile {
        CaptionFile::from_bytes(
            "captions.jsonl",
            lines.join("\n").into_bytes(),
            &FieldNames::default(),
        )
    }

    /// An index updated with the edited records ranks and scores exactly as one built afresh
    /// from the edited file: the document frequencies and the mean length follow the edit.
    #[test]
    fn an_updated_index_answers_as_a_rebuilt_one() {
        let before = file(&[
            r#"{"video": "a.mp4", "caption": "A man plays the guitar by the window."}"#,
            r#"{"video": "b.mp4", "caption": "Two girls play chess in the park."}"#,
            r#"{"video": "c.mp4", "caption": "一个男人在弹吉他。"}"#,
        ]);
        let after = file(&[
            r#"{"video": "a.mp4", "caption": "A man plays the piano by the window at night."}"#,
            r#"{"video": "b.mp4", "caption": "Two girls play chess in the park."}"#,
            r#"{"video": "c.mp4", "caption": "一个男人在弹钢琴。"}"#,
        ]);
        let segmenter = Arc::new(Segmenter::new());
        let mut updated = SearchIndex::new(&before, segmenter.clone());
        let changed = [0, 2].map(|i| (i, after.record(i).unwrap()));
        updated.update(changed);
        let rebuilt = SearchIndex::new(&after, segmenter);
        for query in ["guitar", "piano", "man window", "钢琴", "吉他", "chess"] {
            let got = updated.search(query, 5, None, None).unwrap();
            let want = rebuilt.search(query, 5, None, None).unwrap();
            assert_eq!(got, want, "{query}");
        }
        assert!(updated.search("guitar", 5, None, None).unwrap().is_empty());
        assert_eq!(updated.search("piano", 5, None, None).unwrap()[0].record, 0);
    }
}
