//! Text deltas from a growing list of token ids. Byte-level BPE splits multi-byte characters
//! over tokens, so decoding token by token would emit U+FFFD halves; like Hugging Face's
//! `TextStreamer` we decode a short window and hold the delta back while it ends in an
//! incomplete character.

use crate::error::Result;

/// Turns ids, one at a time, into text deltas whose concatenation is the decoded text.
#[derive(Debug, Clone, Default)]
pub struct TextDeltas {
    ids: Vec<u32>,
    /// Start of the window decoded for context (so leading-space rules apply as in the whole).
    prefix_offset: usize,
    /// Ids before this are already emitted.
    read_offset: usize,
}

impl TextDeltas {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `id`; returns the text it completes (possibly empty while a character is split).
    pub fn push(&mut self, id: u32, decode: impl Fn(&[u32]) -> Result<String>) -> Result<String> {
        self.ids.push(id);
        let prefix = decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let text = decode(&self.ids[self.prefix_offset..])?;
        if text.ends_with('\u{FFFD}') {
            return Ok(String::new());
        }
        let delta = match text.strip_prefix(prefix.as_str()) {
            Some(delta) => delta.to_string(),
            // The window re-tokenized differently; fall back to decoding only the new ids.
            None => decode(&self.ids[self.read_offset..])?,
        };
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        Ok(delta)
    }

    /// Whatever is still held back (a stream that ended inside a character).
    pub fn finish(&mut self, decode: impl Fn(&[u32]) -> Result<String>) -> Result<String> {
        if self.read_offset == self.ids.len() {
            return Ok(String::new());
        }
        let prefix = decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let text = decode(&self.ids[self.prefix_offset..])?;
        let delta = match text.strip_prefix(prefix.as_str()) {
            Some(delta) => delta.to_string(),
            None => decode(&self.ids[self.read_offset..])?,
        };
        self.read_offset = self.ids.len();
        Ok(delta)
    }
}
