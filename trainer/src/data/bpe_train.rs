//! Trains a byte-level BPE tokenizer (GPT-2 style pre-tokenization, no normalization, no
//! prefix space) with the `tokenizers` crate and saves it as `tokenizer.json`.
//!
//! Inputs are streamed line by line: only the table of distinct pre-tokens and their
//! counts is held in memory, never the text. The special tokens `<s>` (BOS, id 0) and
//! `</s>` (EOS, id 1) come first, then the 256 byte symbols, then the learned merges.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use super::error::{DataError, DataResult};
use super::progress::byte_progress;
use super::tokenizer::{BPE_SPECIAL_TOKENS, TextTokenizer};

/// Knobs of BPE training.
#[derive(Clone, Debug)]
pub struct BpeTrainOptions {
    /// Pairs seen fewer times than this are never merged.
    pub min_frequency: u64,
    /// Show a progress bar over the input bytes (only on a terminal).
    pub show_progress: bool,
}

impl Default for BpeTrainOptions {
    fn default() -> Self {
        Self {
            min_frequency: 2,
            show_progress: true,
        }
    }
}

/// What training produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpeTrainSummary {
    /// Where `tokenizer.json` was written.
    pub path: PathBuf,
    /// Final vocabulary size (may be below the request when the text has few pairs).
    pub vocab_size: usize,
    /// Bytes of input read.
    pub bytes_read: u64,
}

/// Smallest vocabulary a byte-level BPE can have: the specials plus 256 byte symbols.
pub const MIN_BPE_VOCAB: usize = BPE_SPECIAL_TOKENS.len() + 256;

/// Trains a byte-level BPE of at most `vocab_size` ids on the text `inputs` and writes
/// `out` (a `tokenizer.json` path) atomically.
pub fn train_bpe_tokenizer(
    inputs: &[PathBuf],
    vocab_size: usize,
    out: &Path,
    opts: &BpeTrainOptions,
) -> DataResult<BpeTrainSummary> {
    if vocab_size < MIN_BPE_VOCAB {
        return Err(DataError::InvalidOption(format!(
            "BPE vocab size {vocab_size} is below the minimum {MIN_BPE_VOCAB} (2 specials + 256 bytes)"
        )));
    }
    if inputs.is_empty() {
        return Err(DataError::InvalidOption(
            "no input files to train on".into(),
        ));
    }
    let mut total = 0;
    for p in inputs {
        total += std::fs::metadata(p).map_err(|e| DataError::io(p, e))?.len();
    }
    let bar = byte_progress(total, opts.show_progress, "training BPE");

    let specials: Vec<AddedToken> = BPE_SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .min_frequency(opts.min_frequency)
        .special_tokens(specials)
        .initial_alphabet(alphabet)
        .build();
    let byte_level = ByteLevel::new(false, true, true);
    let mut tokenizer =
        TokenizerBuilder::<BPE, NormalizerWrapper, ByteLevel, ByteLevel, ByteLevel>::new()
            .with_model(BPE::default())
            .with_normalizer(None)
            .with_pre_tokenizer(Some(byte_level))
            .with_post_processor(Some(byte_level))
            .with_decoder(Some(byte_level))
            .build()
            .map_err(|e| DataError::Tokenizer {
                context: "building the BPE pipeline".into(),
                message: e.to_string(),
            })?;

    let failure: Arc<Mutex<Option<DataError>>> = Arc::new(Mutex::new(None));
    let lines = LineStream::new(inputs.to_vec(), failure.clone(), bar.clone());
    let trained = tokenizer.train(&mut trainer, lines);
    bar.finish_and_clear();
    if let Some(err) = failure
        .lock()
        .expect("no panics while holding the lock")
        .take()
    {
        return Err(err);
    }
    trained.map_err(|e| DataError::Tokenizer {
        context: "training".into(),
        message: e.to_string(),
    })?;

    let tokenizer: Tokenizer = tokenizer.into();
    let json = tokenizer
        .to_string(true)
        .map_err(|e| DataError::Tokenizer {
            context: "serializing".into(),
            message: e.to_string(),
        })?;
    llc_ir::fsutil::write_atomic(out, json.as_bytes()).map_err(|e| DataError::io(out, e))?;
    let loaded = TextTokenizer::from_file(out)?;
    Ok(BpeTrainSummary {
        path: out.to_path_buf(),
        vocab_size: loaded.vocab_size(),
        bytes_read: total,
    })
}

/// Lines (newline kept) of several files in order; the first error is parked in `failure`
/// and ends the stream, because the trainer's iterator cannot carry errors.
struct LineStream {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, BufReader<File>, u64)>,
    failure: Arc<Mutex<Option<DataError>>>,
    bar: ProgressBar,
}

impl LineStream {
    fn new(files: Vec<PathBuf>, failure: Arc<Mutex<Option<DataError>>>, bar: ProgressBar) -> Self {
        Self {
            files: files.into_iter(),
            current: None,
            failure,
            bar,
        }
    }

    fn fail(&mut self, err: DataError) -> Option<String> {
        *self
            .failure
            .lock()
            .expect("no panics while holding the lock") = Some(err);
        self.current = None;
        self.files = Vec::new().into_iter();
        None
    }
}

impl Iterator for LineStream {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                match File::open(&path) {
                    Ok(f) => self.current = Some((path, BufReader::with_capacity(1 << 20, f), 0)),
                    Err(e) => return self.fail(DataError::io(path, e)),
                }
            }
            let (path, reader, line_no) = self.current.as_mut().expect("opened above");
            let mut buf = Vec::new();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => self.current = None,
                Ok(n) => {
                    *line_no += 1;
                    self.bar.inc(n as u64);
                    match String::from_utf8(buf) {
                        Ok(s) => return Some(s),
                        Err(e) => {
                            let err = DataError::InvalidUtf8 {
                                path: path.clone(),
                                line: *line_no,
                                source: e.utf8_error(),
                            };
                            return self.fail(err);
                        }
                    }
                }
                Err(e) => {
                    let err = DataError::io(path.clone(), e);
                    return self.fail(err);
                }
            }
        }
    }
}
