//! Turns text files into train/val token shards.
//!
//! Documents (see [`DocSplit`]) are tokenized in chunks of whole lines; a BOS token is
//! written before each document (the delimiter-first convention of llm.c and of Llama's
//! `<s>`). Chunks are assigned to the validation split greedily so that val holds about
//! `val_fraction` of all tokens, interleaved through the input: a chunk goes to val while
//! `val_tokens < val_fraction * tokens_so_far`. The first chunk therefore goes to val
//! whenever `val_fraction > 0`, and the split is the same on every run.
//!
//! Output: `val_000000.bin`, ... and `train_000000.bin`, ... in `out_dir`, plus a
//! `dataset.json` summary. Everything is written into a staging directory inside `out_dir`
//! and moved into place only when all inputs were read, so a failure leaves no shards.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use llc_ir::fsutil::{fsync_dir, write_atomic};

use super::error::{DataError, DataResult};
use super::progress::byte_progress;
use super::shard_format::TokenWidth;
use super::shard_writer::{ShardSetWriter, WrittenShard};
use super::text_docs::{DocChunk, DocChunker, DocSplit};
use super::tokenizer::TextTokenizer;

/// Options of [`prepare_shards`].
#[derive(Clone, Debug)]
pub struct PrepareOptions {
    /// Fraction of tokens held out for validation, in `[0, 1)`.
    pub val_fraction: f64,
    /// Most tokens per shard file.
    pub shard_tokens: usize,
    /// Document boundaries.
    pub split: DocSplit,
    /// Largest chunk of text tokenized at once (bounds memory).
    pub max_chunk_bytes: usize,
    /// Show a progress bar (only on a terminal).
    pub show_progress: bool,
    /// Replace shards already in `out_dir` instead of refusing.
    pub overwrite: bool,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self {
            val_fraction: 0.05,
            shard_tokens: 100_000_000,
            split: DocSplit::BlankLine,
            max_chunk_bytes: 64 * 1024,
            show_progress: true,
            overwrite: false,
        }
    }
}

/// What a prepare run wrote; also saved as `dataset.json` next to the shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrepareSummary {
    /// The tokenizer used (`byte` or a `tokenizer.json` path).
    pub tokenizer: String,
    /// Its vocabulary size.
    pub vocab_size: usize,
    /// Stored token width.
    pub token_width: TokenWidth,
    /// BOS id written before each document / example.
    pub bos_id: u32,
    /// EOS id (end of SFT answers, padding).
    pub eos_id: u32,
    /// Documents (or SFT examples) read.
    pub documents: u64,
    /// Tokens in the train split.
    pub train_tokens: u64,
    /// Tokens in the val split.
    pub val_tokens: u64,
    /// Train shards.
    pub train_shards: Vec<WrittenShard>,
    /// Val shards.
    pub val_shards: Vec<WrittenShard>,
    /// Extra facts (SFT layout, sequence length, truncations).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Name of the summary file written beside the shards.
pub const SUMMARY_FILE: &str = "dataset.json";

/// Tokenizes `inputs` into train/val shards in `out_dir`.
pub fn prepare_shards(
    tokenizer: &TextTokenizer,
    inputs: &[PathBuf],
    out_dir: &Path,
    opts: &PrepareOptions,
) -> DataResult<PrepareSummary> {
    check_fraction(opts.val_fraction)?;
    if inputs.is_empty() {
        return Err(DataError::InvalidOption("no input files".into()));
    }
    let staging = Staging::begin(out_dir, opts.overwrite)?;
    let width = tokenizer.token_width();
    let mut train = ShardSetWriter::new(staging.path(), "train", width, opts.shard_tokens, false)?;
    let mut val = ShardSetWriter::new(staging.path(), "val", width, opts.shard_tokens, false)?;
    let mut splitter = ValSplitter::new(opts.val_fraction);

    let mut total_bytes = 0;
    for p in inputs {
        total_bytes += std::fs::metadata(p).map_err(|e| DataError::io(p, e))?.len();
    }
    let bar = byte_progress(total_bytes, opts.show_progress, "tokenizing");
    let mut documents = 0u64;
    let mut batch: Vec<DocChunk> = Vec::new();
    let mut batch_bytes = 0;
    for path in inputs {
        let chunker = DocChunker::open(path, opts.split.clone(), opts.max_chunk_bytes)?;
        for chunk in chunker {
            let chunk = chunk?;
            batch_bytes += chunk.text.len();
            batch.push(chunk);
            if batch_bytes >= ENCODE_BATCH_BYTES {
                let sink = Sink {
                    train: &mut train,
                    val: &mut val,
                    splitter: &mut splitter,
                };
                documents += encode_batch(tokenizer, path, &mut batch, sink)?;
                bar.inc(batch_bytes as u64);
                batch_bytes = 0;
            }
        }
        let sink = Sink {
            train: &mut train,
            val: &mut val,
            splitter: &mut splitter,
        };
        documents += encode_batch(tokenizer, path, &mut batch, sink)?;
        bar.inc(batch_bytes as u64);
        batch_bytes = 0;
    }
    bar.finish_and_clear();
    if train.total_tokens() == 0 {
        return Err(DataError::NoTrainingTokens {
            inputs: inputs.len(),
            val_tokens: val.total_tokens(),
        });
    }
    let summary = PrepareSummary {
        tokenizer: tokenizer.describe(),
        vocab_size: tokenizer.vocab_size(),
        token_width: width,
        bos_id: tokenizer.bos_id(),
        eos_id: tokenizer.eos_id(),
        documents,
        train_tokens: train.total_tokens(),
        val_tokens: val.total_tokens(),
        train_shards: train.finish()?,
        val_shards: val.finish()?,
        extra: serde_json::Map::new(),
    };
    staging.commit(summary)
}

/// Text tokenized together, in parallel, before its tokens are written in order.
const ENCODE_BATCH_BYTES: usize = 8 << 20;

/// Where encoded chunks go.
struct Sink<'a> {
    train: &'a mut ShardSetWriter,
    val: &'a mut ShardSetWriter,
    splitter: &'a mut ValSplitter,
}

/// Encodes `batch` (chunks of `path`) on all cores, then writes the tokens in input order
/// (BOS before each document start). Returns the documents started; empties `batch`.
fn encode_batch(
    tokenizer: &TextTokenizer,
    path: &Path,
    batch: &mut Vec<DocChunk>,
    sink: Sink<'_>,
) -> DataResult<u64> {
    let encoded: Vec<_> = batch
        .par_iter()
        .map(|c| tokenizer.encode(&c.text))
        .collect();
    let mut documents = 0;
    let mut tokens = Vec::new();
    for (chunk, ids) in batch.iter().zip(encoded) {
        let ids = ids.map_err(|e| e.at(path, chunk.first_line))?;
        tokens.clear();
        if chunk.doc_start {
            documents += 1;
            tokens.push(tokenizer.bos_id());
        }
        tokens.extend_from_slice(&ids);
        if sink.splitter.assign_to_val(tokens.len()) {
            sink.val.push(&tokens, None)?;
        } else {
            sink.train.push(&tokens, None)?;
        }
    }
    batch.clear();
    Ok(documents)
}

/// Fails unless `f` is a usable validation fraction.
pub(crate) fn check_fraction(f: f64) -> DataResult<()> {
    if !(0.0..1.0).contains(&f) {
        return Err(DataError::InvalidOption(format!(
            "val_fraction must be in [0, 1), got {f}"
        )));
    }
    Ok(())
}

/// The greedy train/val assignment described in the module docs.
pub(crate) struct ValSplitter {
    fraction: f64,
    total: u64,
    val: u64,
}

impl ValSplitter {
    pub(crate) fn new(fraction: f64) -> Self {
        Self {
            fraction,
            total: 0,
            val: 0,
        }
    }

    /// Decides where the next piece of `n` tokens goes; true = validation.
    pub(crate) fn assign_to_val(&mut self, n: usize) -> bool {
        self.total += n as u64;
        let goes_to_val =
            self.fraction > 0.0 && (self.val as f64) < self.fraction * self.total as f64;
        if goes_to_val {
            self.val += n as u64;
        }
        goes_to_val
    }
}

/// A staging directory inside the output directory: shards are written there and moved
/// into `out_dir` only on [`Staging::commit`]; dropping it removes everything staged.
pub(crate) struct Staging {
    out_dir: PathBuf,
    /// The staging directory inside `out_dir` (taken on drop, before `out_dir` goes).
    dir: Option<tempfile::TempDir>,
    stale: Vec<PathBuf>,
    /// `begin` created `out_dir`: a preparation that fails removes it again (when empty),
    /// so a failed run leaves no output behind.
    created: bool,
    committed: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.dir.take());
            if self.created {
                // Only an empty directory goes: never anything that was there before.
                let _ = std::fs::remove_dir(&self.out_dir);
            }
        }
    }
}

impl Staging {
    /// Creates `out_dir` if needed and checks it holds no shards unless `overwrite`.
    pub(crate) fn begin(out_dir: &Path, overwrite: bool) -> DataResult<Self> {
        let created = !out_dir.exists();
        std::fs::create_dir_all(out_dir).map_err(|e| DataError::io(out_dir, e))?;
        let mut stale = Vec::new();
        for entry in std::fs::read_dir(out_dir).map_err(|e| DataError::io(out_dir, e))? {
            let entry = entry.map_err(|e| DataError::io(out_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = (name.starts_with("train_") || name.starts_with("val_"))
                && name.ends_with(".bin")
                || name == SUMMARY_FILE;
            if ours {
                stale.push(entry.path());
            }
        }
        let remove_created = || {
            if created {
                let _ = std::fs::remove_dir(out_dir);
            }
        };
        if !stale.is_empty() && !overwrite {
            let mut names: Vec<String> = stale
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            names.sort();
            let shown = names.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            let more = if names.len() > 3 {
                format!(" and {} more", names.len() - 3)
            } else {
                String::new()
            };
            return Err(DataError::OutputExists {
                path: out_dir.to_path_buf(),
                existing: format!("{shown}{more}"),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix(".prepare-")
            .tempdir_in(out_dir)
            .map_err(|e| {
                remove_created();
                DataError::io(out_dir, e)
            })?;
        Ok(Self {
            out_dir: out_dir.to_path_buf(),
            dir: Some(dir),
            stale,
            created,
            committed: false,
        })
    }

    /// Where shards are staged.
    pub(crate) fn path(&self) -> &Path {
        self.dir.as_ref().expect("taken only on drop").path()
    }

    /// Removes replaced shards, moves the staged ones in, writes `dataset.json` and returns
    /// the summary with final paths.
    pub(crate) fn commit(mut self, mut summary: PrepareSummary) -> DataResult<PrepareSummary> {
        // The summary goes first and comes back last: a commit cut short leaves no
        // dataset.json describing shards that are not all there.
        let summary_path = self.out_dir.join(SUMMARY_FILE);
        if summary_path.exists() {
            std::fs::remove_file(&summary_path).map_err(|e| DataError::io(&summary_path, e))?;
        }
        let mut kept = std::collections::HashSet::new();
        for shard in summary
            .train_shards
            .iter_mut()
            .chain(summary.val_shards.iter_mut())
        {
            shard.path = self.move_in(&shard.path)?;
            kept.insert(shard.path.clone());
            if let Some(m) = shard.mask_path.as_mut() {
                *m = self.move_in(m)?;
                kept.insert(m.clone());
            }
        }
        for p in self
            .stale
            .iter()
            .filter(|p| !kept.contains(*p) && **p != summary_path)
        {
            std::fs::remove_file(p).map_err(|e| DataError::io(p, e))?;
        }
        let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
        write_atomic(&summary_path, json.as_bytes())
            .map_err(|e| DataError::io(&summary_path, e))?;
        fsync_dir(&self.out_dir).map_err(|e| DataError::io(&self.out_dir, e))?;
        self.committed = true;
        Ok(summary)
    }

    fn move_in(&self, staged: &Path) -> DataResult<PathBuf> {
        let name = staged.file_name().expect("staged shards have file names");
        let dest = self.out_dir.join(name);
        std::fs::rename(staged, &dest).map_err(|e| DataError::io(&dest, e))?;
        Ok(dest)
    }
}
