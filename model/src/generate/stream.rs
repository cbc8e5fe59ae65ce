//! Text deltas from a growing list of token ids, through `tokenizers`' `DecodeStream`: byte-level
//! BPE splits multi-byte characters over tokens, so decoding token by token would emit U+FFFD
//! halves; the stream decodes a short window with its context and holds a delta back while it
//! ends in an incomplete character.

use crate::{
    error::Result,
    tokenizer::{DecodeStream, KeyeTokenizer},
};

/// Turns ids, one at a time, into text deltas whose concatenation is the decoded text.
pub struct TextDeltas<'t> {
    tokenizer: &'t KeyeTokenizer,
    stream: DecodeStream<'t>,
    /// Ids since the last delta: a character still incomplete, emitted as it is if the stream
    /// ends there (the stream itself never emits it).
    held: Vec<u32>,
}

impl<'t> TextDeltas<'t> {
    pub fn new(tokenizer: &'t KeyeTokenizer) -> Self {
        Self {
            tokenizer,
            stream: tokenizer.decode_stream(),
            held: Vec::new(),
        }
    }

    /// Adds `id`; returns the text it completes (empty while a character is split).
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.held.push(id);
        match self.stream.step(id).map_err(|e| self.tokenizer.error(e))? {
            Some(delta) => {
                self.held.clear();
                Ok(delta)
            }
            None => Ok(String::new()),
        }
    }

    /// Whatever is still held back (a stream that ended inside a character).
    pub fn finish(self) -> Result<String> {
        if self.held.is_empty() {
            return Ok(String::new());
        }
        self.tokenizer.decode(&self.held)
    }
}
