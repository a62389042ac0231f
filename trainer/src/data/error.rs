//! Errors of the data pipeline: every variant names the file (and line, offset or token)
//! that is wrong, so a bad input is fixed from the message alone.

use std::path::PathBuf;

/// Everything that can go wrong while training tokenizers, writing or reading token shards,
/// preparing SFT data or iterating batches.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A shard whose first header int is not a known magic number.
    #[error("shard {}: bad magic {found} (expected {expected})", path.display())]
    BadMagic {
        path: PathBuf,
        found: i32,
        expected: i32,
    },
    /// A shard with a known magic but a version this reader does not understand.
    #[error("shard {}: unsupported version {version} for magic {magic} (known: 1 = u16 tokens, 2 = u32 tokens, 3 = u8 loss mask; llm.c magic 20240801 version 7 = u32 tokens)", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        magic: i32,
        version: i32,
    },
    /// A file too short to hold the 1024-byte header.
    #[error("shard {}: file is {len} bytes, shorter than the {header}-byte header", path.display())]
    HeaderTooShort {
        path: PathBuf,
        len: u64,
        header: usize,
    },
    /// A header token count that is negative.
    #[error("shard {}: header token count {count} is negative", path.display())]
    NegativeCount { path: PathBuf, count: i32 },
    /// A shard shorter than its header says.
    #[error("shard {}: truncated: header says {header_tokens} tokens, file holds {file_tokens}", path.display())]
    Truncated {
        path: PathBuf,
        header_tokens: u64,
        file_tokens: u64,
    },
    /// A shard longer than its header says (trailing garbage, or a header never patched).
    #[error("shard {}: header says {header_tokens} tokens, but file holds {file_tokens} (trailing data)", path.display())]
    TrailingData {
        path: PathBuf,
        header_tokens: u64,
        file_tokens: u64,
    },
    /// A raw token file whose size is not a whole number of tokens.
    #[error("{}: raw {width}-byte token file has {len} bytes, not a multiple of {width}", path.display())]
    RawSizeNotMultiple {
        path: PathBuf,
        len: u64,
        width: usize,
    },
    /// A file that was expected to hold tokens but holds a loss mask, or vice versa.
    #[error("shard {}: expected {expected}, file holds {found}", path.display())]
    WrongShardKind {
        path: PathBuf,
        expected: &'static str,
        found: &'static str,
    },
    /// A dataset directory or file list in which no token file was found.
    #[error("no token files found in {} (looked for {pattern})", path.display())]
    NoTokenFiles { path: PathBuf, pattern: String },
    /// A dataset with too few tokens for even one batch.
    #[error(
        "dataset has no file with at least {needed} tokens (one batch of B*T+1); largest holds {largest}"
    )]
    DatasetTooSmall { needed: u64, largest: u64 },
    /// A token id at or above the model's vocabulary size.
    #[error("{}: token {token} at index {index} is out of range for vocabulary size {vocab}", path.display())]
    TokenOutOfRange {
        path: PathBuf,
        index: u64,
        token: u32,
        vocab: usize,
    },
    /// A token mask file that does not line up with its token file.
    #[error("mask {}: holds {mask} entries, its token shard {} holds {tokens}", mask_path.display(), token_path.display())]
    MaskMismatch {
        mask_path: PathBuf,
        token_path: PathBuf,
        mask: u64,
        tokens: u64,
    },
    /// Some shards of a split have a mask file and others do not.
    #[error("{}: token shard has no loss-mask file {} while other shards of the split do", path.display(), mask_path.display())]
    MissingMask { path: PathBuf, mask_path: PathBuf },
    /// The tokenizer library failed (loading, training, encoding or decoding).
    #[error("tokenizer {context}: {message}")]
    Tokenizer { context: String, message: String },
    /// The tokenizer's vocabulary does not fit the model's.
    #[error(
        "tokenizer vocabulary has {tokenizer_vocab} ids but the model's vocab_size is {model_vocab}: {hint}"
    )]
    VocabMismatch {
        tokenizer_vocab: usize,
        model_vocab: usize,
        hint: &'static str,
    },
    /// A text line that is not valid UTF-8 (the BPE tokenizer needs text).
    #[error("{}:{line}: invalid UTF-8 ({source})", path.display())]
    InvalidUtf8 {
        path: PathBuf,
        line: u64,
        #[source]
        source: std::str::Utf8Error,
    },
    /// A bad JSONL line in SFT input.
    #[error("{}:{line}: {message}", path.display())]
    Jsonl {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// An SFT example longer than the sequence length in padded layout.
    #[error("{}:{line}: example has {tokens} tokens, longer than seq_len {seq_len} (use truncation or the packed layout)", path.display())]
    ExampleTooLong {
        path: PathBuf,
        line: u64,
        tokens: usize,
        seq_len: usize,
    },
    /// A saved loader position that does not belong to this dataset or batch shape.
    #[error("cannot resume data loader: {what} was {saved} when saved, is {current} now")]
    PositionMismatch {
        what: &'static str,
        saved: String,
        current: String,
    },
    /// A saved loader position pointing past the dataset.
    #[error("cannot resume data loader: position {what} {value} is out of range (limit {limit})")]
    PositionOutOfRange {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// An option value that makes no sense (zero batch size, fraction outside [0, 1), ...).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// An output directory that already holds shards (and overwrite was not asked for).
    #[error("{}: already holds {existing} (pass overwrite to replace them)", path.display())]
    OutputExists { path: PathBuf, existing: String },
    /// Preparing data produced no training tokens.
    #[error(
        "no training tokens were produced from {inputs} input file(s) (val took {val_tokens} tokens)"
    )]
    NoTrainingTokens { inputs: usize, val_tokens: u64 },
    /// A tokenizer without a token to separate documents.
    #[error("tokenizer {}: no document separator token found (tried {tried})", path.display())]
    NoSeparatorToken { path: PathBuf, tried: String },
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for the data pipeline.
pub type DataResult<T> = Result<T, DataError>;
