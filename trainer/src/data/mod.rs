//! Training data: tokenizers (byte-level and trained BPE), llm.c-compatible token shards
//! (writing, validating, reading), SFT JSONL with loss masks, and the resumable batch
//! loader that feeds `[B, T]` token/target batches to the training step.

pub mod batch_loader;
pub mod bpe_train;
pub mod dataset;
pub mod error;
pub mod inputs;
pub mod jsonl;
pub mod prepare;
pub mod progress;
pub mod sft;
pub mod shard_format;
pub mod shard_writer;
pub mod shuffle;
pub mod text_docs;
pub mod token_file;
pub mod tokenizer;

pub use batch_loader::{Batch, BatchLoader, LoaderConfig, LoaderPosition};
pub use bpe_train::{BpeTrainOptions, BpeTrainSummary, train_bpe_tokenizer};
pub use dataset::TokenDataset;
pub use error::{DataError, DataResult};
pub use inputs::expand_text_inputs;
pub use jsonl::{JsonlObject, JsonlReader, json_kind};
pub use prepare::{PrepareOptions, PrepareSummary, prepare_shards};
pub use sft::{SftLayout, SftOptions, encode_sft_example, prepare_sft_shards};
pub use shard_format::{ShardHeader, ShardKind, TokenWidth};
pub use shard_writer::{ShardSetWriter, WrittenShard};
pub use text_docs::DocSplit;
pub use token_file::{TokenFile, TokenFormat};
pub use tokenizer::{ByteTokenizer, TextTokenizer, check_vocab};
