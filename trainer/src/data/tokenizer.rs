//! Text tokenizers: a byte-level one that needs no training (the demo's) and trained or
//! downloaded Hugging Face `tokenizer.json` files (byte-level BPE, Llama's, GPT-2's).
//!
//! Both expose the ids of a beginning-of-document token (BOS, written before every
//! document and SFT example) and an end-of-sequence token (EOS, written after every SFT
//! answer so a model learns to stop, and used as padding).

use std::path::{Path, PathBuf};

use super::error::{DataError, DataResult};
use super::shard_format::TokenWidth;

/// Special tokens the BPE trainer reserves, in id order: BOS = 0, EOS = 1.
pub const BPE_SPECIAL_TOKENS: [&str; 2] = ["<s>", "</s>"];

/// The byte-level tokenizer: ids 0..=255 are bytes, 256 is BOS, 257 is EOS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteTokenizer;

impl ByteTokenizer {
    /// Id of the beginning-of-document token.
    pub const BOS: u32 = 256;
    /// Id of the end-of-sequence token.
    pub const EOS: u32 = 257;
    /// Vocabulary size: 256 bytes + BOS + EOS.
    pub const VOCAB: usize = 258;
}

/// A tokenizer turning bytes of text into ids.
pub enum TextTokenizer {
    /// Bytes as ids; see [`ByteTokenizer`].
    Byte(ByteTokenizer),
    /// A Hugging Face tokenizer loaded from `tokenizer.json`.
    Hf {
        /// The loaded tokenizer.
        tokenizer: Box<tokenizers::Tokenizer>,
        /// Where it was loaded from (for messages).
        path: PathBuf,
        /// Id of the BOS token.
        bos: u32,
        /// Id of the EOS token.
        eos: u32,
        /// Highest id + 1, including added tokens.
        vocab: usize,
    },
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextTokenizer({})", self.describe())
    }
}

impl TextTokenizer {
    /// The byte-level tokenizer.
    pub fn byte() -> Self {
        TextTokenizer::Byte(ByteTokenizer)
    }

    /// `byte` names the byte-level tokenizer; anything else is a `tokenizer.json` path (or a
    /// directory holding one).
    pub fn load(spec: &str) -> DataResult<Self> {
        if spec == "byte" {
            return Ok(Self::byte());
        }
        let p = Path::new(spec);
        if p.is_dir() {
            Self::from_file(&p.join("tokenizer.json"))
        } else {
            Self::from_file(p)
        }
    }

    /// Loads a Hugging Face `tokenizer.json` and finds its BOS/EOS tokens (`<s>`/`</s>`,
    /// `<|begin_of_text|>`/`<|end_of_text|>`, or GPT-2's `<|endoftext|>` for both).
    pub fn from_file(path: &Path) -> DataResult<Self> {
        if !path.is_file() {
            return Err(DataError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer file not found"),
            ));
        }
        // tokenizers 0.22 panics on some malformed files (an `unwrap` in its decoder
        // deserializer, found by trainer/tests/input_fuzz.rs): caught, it is the same
        // error as any other unreadable tokenizer.json.
        let loaded = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_file(path))
            .unwrap_or_else(|p| {
                let message = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the tokenizers library panicked".into());
                Err(message.into())
            });
        let tokenizer = loaded.map_err(|e| DataError::Tokenizer {
            context: format!("loading {}", path.display()),
            message: e.to_string(),
        })?;
        const PAIRS: [(&str, &str); 3] = [
            ("<s>", "</s>"),
            ("<|begin_of_text|>", "<|end_of_text|>"),
            ("<|endoftext|>", "<|endoftext|>"),
        ];
        let (bos, eos) = PAIRS
            .iter()
            .find_map(|(b, e)| Some((tokenizer.token_to_id(b)?, tokenizer.token_to_id(e)?)))
            .ok_or_else(|| DataError::NoSeparatorToken {
                path: path.to_path_buf(),
                tried: PAIRS
                    .iter()
                    .map(|(b, e)| format!("{b}/{e}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let max_id = tokenizer
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .unwrap_or(0) as usize;
        let vocab = tokenizer.get_vocab_size(true).max(max_id + 1);
        Ok(TextTokenizer::Hf {
            tokenizer: Box::new(tokenizer),
            path: path.to_path_buf(),
            bos,
            eos,
            vocab,
        })
    }

    /// Number of ids (highest id + 1); the model's `vocab_size` must be at least this.
    pub fn vocab_size(&self) -> usize {
        match self {
            TextTokenizer::Byte(_) => ByteTokenizer::VOCAB,
            TextTokenizer::Hf { vocab, .. } => *vocab,
        }
    }

    /// Id written before each document.
    pub fn bos_id(&self) -> u32 {
        match self {
            TextTokenizer::Byte(_) => ByteTokenizer::BOS,
            TextTokenizer::Hf { bos, .. } => *bos,
        }
    }

    /// Id written after each SFT answer, and used as padding.
    pub fn eos_id(&self) -> u32 {
        match self {
            TextTokenizer::Byte(_) => ByteTokenizer::EOS,
            TextTokenizer::Hf { eos, .. } => *eos,
        }
    }

    /// The narrowest shard token width for this vocabulary.
    pub fn token_width(&self) -> TokenWidth {
        TokenWidth::for_vocab(self.vocab_size())
    }

    /// A one-line description (`byte` or the tokenizer path), for summaries.
    pub fn describe(&self) -> String {
        match self {
            TextTokenizer::Byte(_) => "byte".to_string(),
            TextTokenizer::Hf { path, .. } => path.display().to_string(),
        }
    }

    /// Encodes text without adding special tokens. The BPE tokenizer needs UTF-8: invalid
    /// input returns the UTF-8 error for the caller to place (file and line).
    pub fn encode(&self, text: &[u8]) -> Result<Vec<u32>, EncodeError> {
        match self {
            TextTokenizer::Byte(_) => Ok(text.iter().map(|&b| b as u32).collect()),
            TextTokenizer::Hf { tokenizer, .. } => {
                let s = std::str::from_utf8(text).map_err(EncodeError::Utf8)?;
                let enc = tokenizer
                    .encode_fast(s, false)
                    .map_err(|e| EncodeError::Tokenizer(e.to_string()))?;
                Ok(enc.get_ids().to_vec())
            }
        }
    }

    /// Decodes ids back to text (special tokens skipped; invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> DataResult<String> {
        match self {
            TextTokenizer::Byte(_) => {
                let bytes: Vec<u8> = ids.iter().filter(|&&i| i < 256).map(|&i| i as u8).collect();
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            TextTokenizer::Hf {
                tokenizer, path, ..
            } => tokenizer
                .decode(ids, true)
                .map_err(|e| DataError::Tokenizer {
                    context: format!("{} decoding", path.display()),
                    message: e.to_string(),
                }),
        }
    }
}

/// Why a piece of text could not be encoded (placed in a file by the caller).
#[derive(Debug)]
pub enum EncodeError {
    /// The text is not UTF-8.
    Utf8(std::str::Utf8Error),
    /// The tokenizer library failed.
    Tokenizer(String),
}

impl EncodeError {
    /// Turns the error into a [`DataError`] naming `path:line`.
    pub fn at(self, path: &Path, line: u64) -> DataError {
        match self {
            EncodeError::Utf8(source) => DataError::InvalidUtf8 {
                path: path.to_path_buf(),
                line,
                source,
            },
            EncodeError::Tokenizer(message) => DataError::Tokenizer {
                context: format!("encoding {}:{line}", path.display()),
                message,
            },
        }
    }
}

/// Checks that every id the tokenizer produces is a valid row of the model's embedding.
/// A model vocabulary larger than the tokenizer's is accepted (padding rows, as llm.c pads
/// 50257 to 50304); a smaller one is an error.
pub fn check_vocab(tokenizer: &TextTokenizer, model_vocab: usize) -> DataResult<()> {
    let tok = tokenizer.vocab_size();
    if tok > model_vocab {
        return Err(DataError::VocabMismatch {
            tokenizer_vocab: tok,
            model_vocab,
            hint: "ids at or above the model's vocab_size would index past the embedding; use a model with vocab_size >= the tokenizer's",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tokenizer_round_trips_utf8() {
        let t = TextTokenizer::byte();
        let ids = t.encode("héllo".as_bytes()).unwrap();
        assert_eq!(ids.len(), 6);
        assert_eq!(t.decode(&ids).unwrap(), "héllo");
        let mut with_specials = vec![t.bos_id()];
        with_specials.extend(&ids);
        with_specials.push(t.eos_id());
        assert_eq!(t.decode(&with_specials).unwrap(), "héllo");
    }

    #[test]
    fn check_vocab_rejects_small_model() {
        let t = TextTokenizer::byte();
        assert!(check_vocab(&t, 258).is_ok());
        assert!(check_vocab(&t, 512).is_ok());
        let err = check_vocab(&t, 256).unwrap_err().to_string();
        assert!(err.contains("258") && err.contains("256"), "{err}");
    }
}
