//! Turning a growing list of token ids into text pieces that can be printed as they come,
//! without splitting a UTF-8 character (a byte-level token may be half of one) or a
//! BPE merge that only decodes correctly with its neighbours.

use crate::data::{DataResult, TextTokenizer};

/// Incremental detokenizer: feed ids with [`TextStream::push`], print what it returns.
pub struct TextStream<'t> {
    tokenizer: &'t TextTokenizer,
    ids: Vec<u32>,
    printed: String,
}

impl<'t> TextStream<'t> {
    /// An empty stream over `tokenizer`.
    pub fn new(tokenizer: &'t TextTokenizer) -> Self {
        TextStream {
            tokenizer,
            ids: Vec::new(),
            printed: String::new(),
        }
    }

    /// Adds one id and returns the text that became final (possibly empty: an incomplete
    /// UTF-8 sequence at the end is held back until the next ids complete it).
    pub fn push(&mut self, id: u32) -> DataResult<String> {
        self.ids.push(id);
        let text = self.tokenizer.decode(&self.ids)?;
        if text.ends_with('\u{FFFD}') {
            return Ok(String::new());
        }
        Ok(self.advance(text))
    }

    /// The text held back so far (an incomplete character decodes as U+FFFD).
    pub fn finish(&mut self) -> DataResult<String> {
        let text = self.tokenizer.decode(&self.ids)?;
        Ok(self.advance(text))
    }

    /// Everything printed so far.
    pub fn text(&self) -> &str {
        &self.printed
    }

    fn advance(&mut self, text: String) -> String {
        // Decoding more ids normally extends the text; when a tokenizer rewrites the end
        // (rare), only the part after the common prefix is new.
        let common = self
            .printed
            .char_indices()
            .zip(text.char_indices())
            .find(|((_, a), (_, b))| a != b)
            .map_or(self.printed.len().min(text.len()), |((i, _), _)| i);
        let fresh = text[common..].to_string();
        if common < self.printed.len() {
            self.printed.truncate(common);
        }
        self.printed.push_str(&fresh);
        fresh
    }
}
