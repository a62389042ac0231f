//! The on-disk token shard format, compatible with llm.c's `.bin` files.
//!
//! A shard is a header of 256 little-endian `i32` (1024 bytes) followed by the payload:
//! - `header[0]` magic: [`SHARD_MAGIC`] = 20240520 (llm.c's GPT-2 magic);
//! - `header[1]` version: 1 = `u16` tokens (llm.c's format, vocab <= 65536),
//!   2 = `u32` tokens (our extension for vocab > 65536),
//!   3 = `u8` loss mask, one byte (0 or 1) per token of the token shard beside it (SFT);
//! - `header[2]` number of entries (tokens or mask bytes) after the header;
//! - the rest of the header is zero.
//!
//! For reading only, llm.c's Llama 3 variant (magic [`LLMC_U32_MAGIC`] = 20240801,
//! version 7, `u32` tokens) is accepted too.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{DataError, DataResult};

/// Magic number in `header[0]` of every shard we write (llm.c's value).
pub const SHARD_MAGIC: i32 = 20240520;
/// llm.c's magic for its `u32` (Llama 3) token shards; read, never written.
pub const LLMC_U32_MAGIC: i32 = 20240801;
/// llm.c's version number paired with [`LLMC_U32_MAGIC`].
pub const LLMC_U32_VERSION: i32 = 7;
/// Number of `i32` in the header.
pub const HEADER_INTS: usize = 256;
/// Size of the header in bytes.
pub const HEADER_BYTES: usize = HEADER_INTS * 4;
/// Version for `u16` tokens.
pub const VERSION_U16: i32 = 1;
/// Version for `u32` tokens.
pub const VERSION_U32: i32 = 2;
/// Version for a `u8` loss mask.
pub const VERSION_MASK_U8: i32 = 3;

/// How wide each stored token is; chosen from the vocabulary size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenWidth {
    /// Two bytes: vocabularies up to 65536 ids.
    U16,
    /// Four bytes: larger vocabularies.
    U32,
}

impl TokenWidth {
    /// The narrowest width holding every id below `vocab_size`.
    pub fn for_vocab(vocab_size: usize) -> Self {
        if vocab_size <= 1 << 16 {
            TokenWidth::U16
        } else {
            TokenWidth::U32
        }
    }

    /// Bytes per token.
    pub fn bytes(self) -> usize {
        match self {
            TokenWidth::U16 => 2,
            TokenWidth::U32 => 4,
        }
    }
}

/// What a shard's payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardKind {
    /// Token ids of the given width.
    Tokens(TokenWidth),
    /// One `u8` loss-mask entry per token.
    LossMask,
}

impl ShardKind {
    /// Bytes per payload entry.
    pub fn entry_bytes(self) -> usize {
        match self {
            ShardKind::Tokens(w) => w.bytes(),
            ShardKind::LossMask => 1,
        }
    }

    /// A short human name, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            ShardKind::Tokens(TokenWidth::U16) => "u16 tokens",
            ShardKind::Tokens(TokenWidth::U32) => "u32 tokens",
            ShardKind::LossMask => "a u8 loss mask",
        }
    }
}

/// A decoded shard header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardHeader {
    /// Payload kind (token width or mask).
    pub kind: ShardKind,
    /// Number of payload entries after the header.
    pub count: u64,
}

impl ShardHeader {
    /// Encodes the header as we write it (always magic [`SHARD_MAGIC`]).
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let version = match self.kind {
            ShardKind::Tokens(TokenWidth::U16) => VERSION_U16,
            ShardKind::Tokens(TokenWidth::U32) => VERSION_U32,
            ShardKind::LossMask => VERSION_MASK_U8,
        };
        let mut out = [0u8; HEADER_BYTES];
        out[0..4].copy_from_slice(&SHARD_MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&version.to_le_bytes());
        let count = i32::try_from(self.count).expect("shard writer keeps counts below 2^31");
        out[8..12].copy_from_slice(&count.to_le_bytes());
        out
    }

    /// Decodes and validates a header read from `path` (the path is for messages only).
    pub fn decode(path: &Path, bytes: &[u8; HEADER_BYTES]) -> DataResult<Self> {
        let int =
            |i: usize| i32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
        let (magic, version, count) = (int(0), int(1), int(2));
        let kind = match (magic, version) {
            (SHARD_MAGIC, VERSION_U16) => ShardKind::Tokens(TokenWidth::U16),
            (SHARD_MAGIC, VERSION_U32) => ShardKind::Tokens(TokenWidth::U32),
            (SHARD_MAGIC, VERSION_MASK_U8) => ShardKind::LossMask,
            (LLMC_U32_MAGIC, LLMC_U32_VERSION) => ShardKind::Tokens(TokenWidth::U32),
            (SHARD_MAGIC | LLMC_U32_MAGIC, _) => {
                return Err(DataError::UnsupportedVersion {
                    path: path.to_path_buf(),
                    magic,
                    version,
                });
            }
            _ => {
                return Err(DataError::BadMagic {
                    path: path.to_path_buf(),
                    found: magic,
                    expected: SHARD_MAGIC,
                });
            }
        };
        if count < 0 {
            return Err(DataError::NegativeCount {
                path: path.to_path_buf(),
                count,
            });
        }
        Ok(ShardHeader {
            kind,
            count: count as u64,
        })
    }

    /// Checks the file length against the header's count.
    pub fn check_file_len(&self, path: &Path, file_len: u64) -> DataResult<()> {
        let entry = self.kind.entry_bytes() as u64;
        let payload = file_len.saturating_sub(HEADER_BYTES as u64);
        let file_tokens = payload / entry;
        let expected = self.count * entry;
        if payload < expected {
            return Err(DataError::Truncated {
                path: path.to_path_buf(),
                header_tokens: self.count,
                file_tokens,
            });
        }
        if payload > expected {
            return Err(DataError::TrailingData {
                path: path.to_path_buf(),
                header_tokens: self.count,
                file_tokens,
            });
        }
        Ok(())
    }
}

/// Largest number of entries one shard may hold (the header stores an `i32`).
pub const MAX_SHARD_ENTRIES: usize = i32::MAX as usize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        for kind in [
            ShardKind::Tokens(TokenWidth::U16),
            ShardKind::Tokens(TokenWidth::U32),
            ShardKind::LossMask,
        ] {
            let h = ShardHeader { kind, count: 12345 };
            let back = ShardHeader::decode(Path::new("x"), &h.encode()).unwrap();
            assert_eq!(back, h);
        }
    }

    #[test]
    fn llmc_header_layout() {
        let h = ShardHeader {
            kind: ShardKind::Tokens(TokenWidth::U16),
            count: 7,
        };
        let b = h.encode();
        assert_eq!(&b[0..4], &20240520i32.to_le_bytes());
        assert_eq!(&b[4..8], &1i32.to_le_bytes());
        assert_eq!(&b[8..12], &7i32.to_le_bytes());
        assert!(b[12..].iter().all(|&x| x == 0));
    }

    #[test]
    fn width_for_vocab() {
        assert_eq!(TokenWidth::for_vocab(258), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(65536), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(65537), TokenWidth::U32);
    }
}
