//! Supervised fine-tuning data: JSONL of `{"prompt": ..., "answer": ...}` into token shards
//! with a loss mask.
//!
//! An example is `BOS prompt answer EOS` (prompt and answer tokenized separately, so no
//! token spans the boundary; put any chat template in the prompt text). Its mask is 1 on
//! the answer tokens and the final EOS, 0 on BOS and the prompt: the loss counts only
//! predictions of answer tokens.
//!
//! Output is the ordinary token shards plus one loss-mask shard per token shard
//! (`train_000000.bin` + `train_000000.mask.bin`, header version 3, one `u8` per token);
//! [`super::TokenDataset::open_split`] pairs them and the batch loader yields the mask
//! aligned with the targets. Two layouts:
//! - [`SftLayout::Packed`]: examples back to back, as the Llama 2 paper does for SFT; a
//!   window of `T` tokens may hold several examples or part of one.
//! - [`SftLayout::Padded`]: each example alone in `T` tokens, padded with EOS (mask 0);
//!   each shard holds whole examples plus one trailing EOS, so every batch window starts at
//!   an example. Longer examples are an error, or cut to `T` tokens with `truncate`.
//!
//! Train/val assignment is by example, with the same greedy rule as [`super::prepare`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{DataError, DataResult};
use super::jsonl::JsonlReader;
use super::prepare::{PrepareSummary, Staging, ValSplitter, check_fraction};
use super::progress::byte_progress;
use super::shard_writer::ShardSetWriter;
use super::tokenizer::{EncodeError, TextTokenizer};

/// How examples are laid out in the token stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SftLayout {
    /// Back to back.
    #[default]
    Packed,
    /// One example per `T`-token row, EOS-padded.
    Padded,
}

/// Options of [`prepare_sft_shards`].
#[derive(Clone, Debug)]
pub struct SftOptions {
    /// Sequence length T of training rows (used by the padded layout).
    pub seq_len: usize,
    /// Packed or padded.
    pub layout: SftLayout,
    /// Fraction of tokens held out for validation, in `[0, 1)`.
    pub val_fraction: f64,
    /// Most tokens per shard file.
    pub shard_tokens: usize,
    /// Padded layout: cut over-long examples to T tokens instead of failing.
    pub truncate: bool,
    /// Show a progress bar (only on a terminal).
    pub show_progress: bool,
    /// Replace shards already in the output directory.
    pub overwrite: bool,
}

impl Default for SftOptions {
    fn default() -> Self {
        Self {
            seq_len: 1024,
            layout: SftLayout::Packed,
            val_fraction: 0.05,
            shard_tokens: 100_000_000,
            truncate: false,
            show_progress: true,
            overwrite: false,
        }
    }
}

/// One tokenized example and its loss mask (same length).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SftExample {
    /// `BOS prompt answer EOS`.
    pub tokens: Vec<u32>,
    /// 1 on answer tokens and the final EOS, 0 elsewhere.
    pub mask: Vec<u8>,
}

/// Tokenizes one prompt/answer pair.
pub fn encode_sft_example(
    tokenizer: &TextTokenizer,
    prompt: &str,
    answer: &str,
) -> Result<SftExample, EncodeError> {
    let p = tokenizer.encode(prompt.as_bytes())?;
    let a = tokenizer.encode(answer.as_bytes())?;
    let mut tokens = Vec::with_capacity(p.len() + a.len() + 2);
    tokens.push(tokenizer.bos_id());
    tokens.extend_from_slice(&p);
    tokens.extend_from_slice(&a);
    tokens.push(tokenizer.eos_id());
    let mut mask = vec![0u8; 1 + p.len()];
    mask.resize(tokens.len(), 1);
    Ok(SftExample { tokens, mask })
}

/// One parsed JSONL record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SftRecord {
    /// 1-based line number in its file.
    pub line: u64,
    /// The prompt text.
    pub prompt: String,
    /// The answer text.
    pub answer: String,
}

/// Reads `{"prompt", "answer"}` records from a JSONL file, skipping blank lines; errors
/// name `file:line` ([`JsonlReader`]).
pub struct SftJsonlReader {
    inner: JsonlReader,
}

impl SftJsonlReader {
    /// Opens a JSONL file.
    pub fn open(path: &Path) -> DataResult<Self> {
        Ok(Self {
            inner: JsonlReader::open(path, "\"prompt\" and \"answer\"")?,
        })
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn next_record(&mut self) -> DataResult<Option<SftRecord>> {
        let Some(obj) = self.inner.next_object()? else {
            return Ok(None);
        };
        Ok(Some(SftRecord {
            line: obj.line,
            prompt: obj.string("prompt")?,
            answer: obj.string("answer")?,
        }))
    }
}

impl Iterator for SftJsonlReader {
    type Item = DataResult<SftRecord>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// A split's writer that knows the layout (padded rows, shard boundaries on examples).
struct SplitWriter {
    writer: ShardSetWriter,
    layout: SftLayout,
    /// Padded layout: most example tokens per shard (a multiple of T).
    capacity: usize,
    pad: u32,
}

impl SplitWriter {
    fn new(dir: &Path, prefix: &str, tok: &TextTokenizer, opts: &SftOptions) -> DataResult<Self> {
        let (limit, capacity) = match opts.layout {
            SftLayout::Packed => (opts.shard_tokens, opts.shard_tokens),
            SftLayout::Padded => {
                let capacity = opts.shard_tokens / opts.seq_len * opts.seq_len;
                if capacity == 0 {
                    return Err(DataError::InvalidOption(format!(
                        "shard_tokens {} is below seq_len {}",
                        opts.shard_tokens, opts.seq_len
                    )));
                }
                // One slot more than the examples: the trailing EOS of each shard.
                (capacity + 1, capacity)
            }
        };
        Ok(Self {
            writer: ShardSetWriter::new(dir, prefix, tok.token_width(), limit, true)?,
            layout: opts.layout,
            capacity,
            pad: tok.eos_id(),
        })
    }

    fn push(&mut self, ex: &SftExample) -> DataResult<()> {
        if self.layout == SftLayout::Padded
            && self.writer.current_shard_tokens() as usize + ex.tokens.len() > self.capacity
        {
            self.close_shard()?;
        }
        self.writer.push(&ex.tokens, Some(&ex.mask))
    }

    fn close_shard(&mut self) -> DataResult<()> {
        if self.writer.current_shard_tokens() == 0 {
            return Ok(());
        }
        if self.layout == SftLayout::Padded {
            self.writer.push(&[self.pad], Some(&[0]))?;
        }
        self.writer.close_current()
    }

    fn finish(mut self) -> DataResult<(u64, Vec<super::shard_writer::WrittenShard>)> {
        self.close_shard()?;
        let total = self.writer.total_tokens();
        Ok((total, self.writer.finish()?))
    }
}

/// Tokenizes SFT JSONL files into token + mask shards in `out_dir` (see the module docs).
pub fn prepare_sft_shards(
    tokenizer: &TextTokenizer,
    inputs: &[PathBuf],
    out_dir: &Path,
    opts: &SftOptions,
) -> DataResult<PrepareSummary> {
    check_fraction(opts.val_fraction)?;
    if opts.seq_len < 2 {
        return Err(DataError::InvalidOption(format!(
            "seq_len must be at least 2, got {}",
            opts.seq_len
        )));
    }
    if inputs.is_empty() {
        return Err(DataError::InvalidOption("no input files".into()));
    }
    let mut total_bytes = 0;
    for p in inputs {
        total_bytes += std::fs::metadata(p).map_err(|e| DataError::io(p, e))?.len();
    }
    let staging = Staging::begin(out_dir, opts.overwrite)?;
    let mut train = SplitWriter::new(staging.path(), "train", tokenizer, opts)?;
    let mut val = SplitWriter::new(staging.path(), "val", tokenizer, opts)?;
    let mut splitter = ValSplitter::new(opts.val_fraction);
    let bar = byte_progress(total_bytes, opts.show_progress, "tokenizing SFT");
    let (mut examples, mut truncated, mut answer_tokens) = (0u64, 0u64, 0u64);
    for path in inputs {
        let mut reader = SftJsonlReader::open(path)?;
        let mut seen = 0;
        while let Some(rec) = reader.next_record()? {
            bar.inc(reader.bytes_read() - seen);
            seen = reader.bytes_read();
            let mut ex = encode_sft_example(tokenizer, &rec.prompt, &rec.answer)
                .map_err(|e| e.at(path, rec.line))?;
            if opts.layout == SftLayout::Padded {
                if ex.tokens.len() > opts.seq_len {
                    if !opts.truncate {
                        return Err(DataError::ExampleTooLong {
                            path: path.clone(),
                            line: rec.line,
                            tokens: ex.tokens.len(),
                            seq_len: opts.seq_len,
                        });
                    }
                    ex.tokens.truncate(opts.seq_len);
                    ex.mask.truncate(opts.seq_len);
                    truncated += 1;
                }
                let pad = opts.seq_len - ex.tokens.len();
                ex.tokens
                    .extend(std::iter::repeat_n(tokenizer.eos_id(), pad));
                ex.mask.extend(std::iter::repeat_n(0u8, pad));
            }
            examples += 1;
            answer_tokens += ex.mask.iter().map(|&m| m as u64).sum::<u64>();
            if splitter.assign_to_val(ex.tokens.len()) {
                val.push(&ex)?;
            } else {
                train.push(&ex)?;
            }
        }
    }
    bar.finish_and_clear();
    let (train_tokens, train_shards) = train.finish()?;
    let (val_tokens, val_shards) = val.finish()?;
    if train_tokens == 0 {
        return Err(DataError::NoTrainingTokens {
            inputs: inputs.len(),
            val_tokens,
        });
    }
    let mut extra = serde_json::Map::new();
    extra.insert(
        "sft_layout".into(),
        serde_json::to_value(opts.layout).expect("enum"),
    );
    extra.insert("seq_len".into(), opts.seq_len.into());
    extra.insert("truncated_examples".into(), truncated.into());
    extra.insert("answer_tokens".into(), answer_tokens.into());
    let summary = PrepareSummary {
        tokenizer: tokenizer.describe(),
        vocab_size: tokenizer.vocab_size(),
        token_width: tokenizer.token_width(),
        bos_id: tokenizer.bos_id(),
        eos_id: tokenizer.eos_id(),
        documents: examples,
        train_tokens,
        val_tokens,
        train_shards,
        val_shards,
        extra,
    };
    staging.commit(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_mask_covers_answer_and_eos_only() {
        let t = TextTokenizer::byte();
        let ex = encode_sft_example(&t, "Q?", "ab").unwrap();
        assert_eq!(
            ex.tokens,
            vec![256, b'Q' as u32, b'?' as u32, b'a' as u32, b'b' as u32, 257]
        );
        assert_eq!(ex.mask, vec![0, 0, 0, 1, 1, 1]);
    }
}
