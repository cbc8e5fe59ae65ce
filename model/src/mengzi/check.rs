//! Masked-LM character scores: each Chinese character of a text is masked in turn (within its
//! sentence, a bounded number of tokens either side) and the model's probability of the written
//! character is compared with its best alternatives. A typo, a homophone or a stray character
//! scores far below what the context expects.

use candle_nn::ops::softmax_last_dim;

use super::{Encoded, MengziModel};
use crate::error::Result;

/// Tunes the check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckOptions {
    /// Tokens of context kept on each side of the masked character (within its sentence).
    pub context: usize,
    /// Masked copies run through the model at once.
    pub batch: usize,
    /// Alternatives kept per character.
    pub suggestions: usize,
    /// A character is a suspect when its best alternative is at least this many times as likely.
    pub ratio: f32,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            context: 32,
            batch: 32,
            suggestions: 3,
            ratio: 100.0,
        }
    }
}

/// One Chinese character of a text, scored in its context.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CharacterScore {
    /// Position in the text, counted in characters (Unicode scalar values).
    pub char_offset: usize,
    /// Position in the text, in UTF-8 bytes.
    pub byte_offset: usize,
    pub character: char,
    /// Whether the vocabulary has the character (otherwise it was read as [UNK]).
    pub known: bool,
    /// The model's probability of the written character with it masked.
    pub probability: f32,
    /// The likeliest other Chinese characters at this place, most likely first.
    pub suggestions: Vec<Suggestion>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub character: char,
    pub probability: f32,
}

impl CharacterScore {
    /// How many times likelier the best alternative is than the written character.
    pub fn odds_against(&self) -> f32 {
        let best = self.suggestions.first().map_or(0.0, |s| s.probability);
        best / self.probability.max(f32::MIN_POSITIVE)
    }

    /// Far below its context's alternatives, or a character the model does not know.
    pub fn is_suspect(&self, ratio: f32) -> bool {
        !self.known || self.odds_against() >= ratio
    }
}

/// A CJK unified ideograph (the blocks BERT's Chinese handling splits out, as characters).
pub fn is_chinese_char(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// Whether `text` has any Chinese character to check.
pub fn has_chinese(text: &str) -> bool {
    text.chars().any(is_chinese_char)
}

/// Likeliest tokens looked through for Chinese-character suggestions.
const CANDIDATES: usize = 64;

/// Sentence ends: Chinese and ASCII full stops, question and exclamation marks, semicolons.
fn ends_sentence(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '\n')
}

/// One masked copy of a window of the text.
struct Masked {
    ids: Vec<u32>,
    mask_position: usize,
    /// Index into the text's tokens of the masked one.
    token: usize,
}

impl MengziModel {
    /// Scores every Chinese character of `text`; the others (Latin, digits, punctuation, emoji)
    /// are left alone but still give context.
    pub fn score_characters(
        &self,
        text: &str,
        options: &CheckOptions,
    ) -> Result<Vec<CharacterScore>> {
        let encoded = self.tokenizer().encode(text)?;
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let special = self.tokenizer().special();
        // Tokens that are exactly one Chinese character of the text.
        let targets: Vec<usize> = (0..encoded.ids.len())
            .filter(|&t| {
                let (start, end) = encoded.offsets[t];
                !encoded.special[t]
                    && end == start + 1
                    && chars.get(start).is_some_and(|&(_, c)| is_chinese_char(c))
            })
            .collect();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let sentences = sentence_of_each_token(&encoded, &chars, text);
        // Room for [CLS] and [SEP] within the position table.
        let context = options.context.min((self.max_tokens() - 3) / 2).max(1);
        let copies: Vec<Masked> = targets
            .iter()
            .map(|&t| {
                let (first, last) = sentences[t];
                let start = t.saturating_sub(context).max(first);
                let end = (t + context).min(last);
                let mut ids = Vec::with_capacity(end - start + 3);
                ids.push(special.cls);
                ids.extend_from_slice(&encoded.ids[start..=end]);
                ids.push(special.sep);
                let mask_position = 1 + t - start;
                ids[mask_position] = special.mask;
                Masked {
                    ids,
                    mask_position,
                    token: t,
                }
            })
            .collect();
        let mut scores = Vec::with_capacity(copies.len());
        for chunk in copies.chunks(options.batch.max(1)) {
            let encodings: Vec<Encoded> = chunk
                .iter()
                .map(|m| Encoded {
                    type_ids: vec![0; m.ids.len()],
                    offsets: vec![(0, 0); m.ids.len()],
                    special: vec![false; m.ids.len()],
                    ids: m.ids.clone(),
                })
                .collect();
            let batch = self.batch(&encodings)?;
            let hidden = self.hidden_states(&batch)?;
            let positions: Vec<usize> = chunk.iter().map(|m| m.mask_position).collect();
            let at_mask = Self::gather_rows(&hidden, &positions)?;
            let probabilities: Vec<Vec<f32>> =
                softmax_last_dim(&self.mlm_logits(&at_mask)?)?.to_vec2()?;
            for (masked, row) in chunk.iter().zip(&probabilities) {
                let ranked = top_candidates(row, CANDIDATES);
                let token = masked.token;
                let written_id = encoded.ids[token];
                let (char_start, _) = encoded.offsets[token];
                let (byte_offset, character) = chars[char_start];
                let suggestions = ranked
                    .iter()
                    .filter(|&&id| id != written_id)
                    .filter_map(|&id| {
                        let spelled = self.tokenizer().token(id)?;
                        let mut it = spelled.chars();
                        let c = it.next()?;
                        (it.next().is_none() && is_chinese_char(c) && c != character).then_some(
                            Suggestion {
                                character: c,
                                probability: row[id as usize],
                            },
                        )
                    })
                    .take(options.suggestions)
                    .collect();
                scores.push(CharacterScore {
                    char_offset: char_start,
                    byte_offset,
                    character,
                    known: written_id != special.unk,
                    probability: row[written_id as usize],
                    suggestions,
                });
            }
        }
        Ok(scores)
    }
}

/// Per token, the first and last token index of its sentence. Sentences end after a token
/// that ends one, or where the text between two tokens holds a line break.
fn sentence_of_each_token(
    encoded: &Encoded,
    chars: &[(usize, char)],
    text: &str,
) -> Vec<(usize, usize)> {
    let n = encoded.ids.len();
    let content: Vec<usize> = (0..n).filter(|&t| !encoded.special[t]).collect();
    let mut ranges = vec![(0, n.saturating_sub(1)); n];
    let mut first = match content.first() {
        Some(&t) => t,
        None => return ranges,
    };
    for (k, &t) in content.iter().enumerate() {
        let (start, end) = encoded.offsets[t];
        let ends_here = text_of(chars, text, start, end).chars().any(ends_sentence);
        let next = content.get(k + 1).copied();
        let break_before_next = next.is_some_and(|u| {
            let gap_end = encoded.offsets[u].0;
            text_of(chars, text, end, gap_end.max(end)).contains('\n')
        });
        if ends_here || break_before_next || next.is_none() {
            for range in &mut ranges[first..=t] {
                *range = (first, t);
            }
            if let Some(u) = next {
                first = u;
            }
        }
    }
    ranges
}

/// The text between two character offsets.
fn text_of<'a>(chars: &[(usize, char)], text: &'a str, start: usize, end: usize) -> &'a str {
    let byte = |c: usize| chars.get(c).map_or(text.len(), |&(b, _)| b);
    &text[byte(start)..byte(end)]
}

/// The ids of the `k` likeliest tokens, likeliest first (done on the host: device sorts limit
/// the row length, and a vocabulary row is 21,128 long).
fn top_candidates(probabilities: &[f32], k: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..probabilities.len() as u32).collect();
    let by_probability =
        |a: &u32, b: &u32| probabilities[*b as usize].total_cmp(&probabilities[*a as usize]);
    let k = k.min(ids.len());
    if k == 0 {
        return Vec::new();
    }
    ids.select_nth_unstable_by(k - 1, by_probability);
    ids.truncate(k);
    ids.sort_by(by_probability);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_characters_are_the_cjk_ideographs_only() {
        assert!(is_chinese_char('猫'));
        assert!(is_chinese_char('𠀀'));
        for c in ['，', '。', 'A', 'Ａ', '1', '😀', 'ー', 'の'] {
            assert!(!is_chinese_char(c), "{c}");
        }
    }

    #[test]
    fn odds_against_compare_the_best_alternative_with_the_written_character() {
        let score = CharacterScore {
            char_offset: 0,
            byte_offset: 0,
            character: '幅',
            known: true,
            probability: 0.001,
            suggestions: vec![Suggestion {
                character: '服',
                probability: 0.5,
            }],
        };
        assert!((score.odds_against() - 500.0).abs() < 1e-2);
        assert!(score.is_suspect(100.0));
        assert!(!score.is_suspect(1000.0));
    }
}
