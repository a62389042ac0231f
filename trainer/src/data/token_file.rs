//! Random access to one file of token ids: an llm.c shard, a raw `u16`/`u32` token dump,
//! a plain text file read as bytes (the byte-level tokenizer's ids), or a loss-mask shard.
//! Opening validates the header and size; reads fetch any window without loading the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{DataError, DataResult};
use super::shard_format::{HEADER_BYTES, ShardHeader, ShardKind};

/// How the files of a dataset are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenFormat {
    /// llm.c `.bin` shards with the 1024-byte header (what `prepare_shards` writes).
    #[default]
    Shard,
    /// Headerless little-endian `u16` token ids.
    RawU16,
    /// Headerless little-endian `u32` token ids.
    RawU32,
    /// Any file read byte by byte: ids 0..=255 of the byte-level tokenizer.
    TextBytes,
}

impl TokenFormat {
    /// Parses the CLI spelling: `shard`, `raw-u16`, `raw-u32`, `text`.
    pub fn parse(s: &str) -> DataResult<Self> {
        match s {
            "shard" | "bin" => Ok(TokenFormat::Shard),
            "raw-u16" => Ok(TokenFormat::RawU16),
            "raw-u32" => Ok(TokenFormat::RawU32),
            "text" | "text-bytes" => Ok(TokenFormat::TextBytes),
            other => Err(DataError::InvalidOption(format!(
                "unknown token format {other:?} (expected shard, raw-u16, raw-u32 or text)"
            ))),
        }
    }
}

/// An open token (or mask) file with its payload location and element width.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    file: File,
    data_offset: u64,
    elem_bytes: usize,
    len: u64,
    is_mask: bool,
}

impl TokenFile {
    /// Opens and validates a token file of the given format.
    pub fn open(path: &Path, format: TokenFormat) -> DataResult<Self> {
        let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        let raw = |elem_bytes: usize, file: File| -> DataResult<Self> {
            if file_len % elem_bytes as u64 != 0 {
                return Err(DataError::RawSizeNotMultiple {
                    path: path.to_path_buf(),
                    len: file_len,
                    width: elem_bytes,
                });
            }
            Ok(Self {
                path: path.to_path_buf(),
                file,
                data_offset: 0,
                elem_bytes,
                len: file_len / elem_bytes as u64,
                is_mask: false,
            })
        };
        match format {
            TokenFormat::RawU16 => raw(2, file),
            TokenFormat::RawU32 => raw(4, file),
            TokenFormat::TextBytes => raw(1, file),
            TokenFormat::Shard => {
                let header = read_header(path, &mut file, file_len)?;
                header.check_file_len(path, file_len)?;
                Ok(Self {
                    path: path.to_path_buf(),
                    file,
                    data_offset: HEADER_BYTES as u64,
                    elem_bytes: header.kind.entry_bytes(),
                    len: header.count,
                    is_mask: header.kind == ShardKind::LossMask,
                })
            }
        }
    }

    /// Opens a shard and checks that it holds tokens (not a mask).
    pub fn open_token_shard(path: &Path) -> DataResult<Self> {
        let f = Self::open(path, TokenFormat::Shard)?;
        if f.is_mask {
            return Err(DataError::WrongShardKind {
                path: path.to_path_buf(),
                expected: "token ids",
                found: "a u8 loss mask",
            });
        }
        Ok(f)
    }

    /// Opens a shard and checks that it holds a loss mask.
    pub fn open_mask_shard(path: &Path) -> DataResult<Self> {
        let f = Self::open(path, TokenFormat::Shard)?;
        if !f.is_mask {
            return Err(DataError::WrongShardKind {
                path: path.to_path_buf(),
                expected: "a u8 loss mask",
                found: "token ids",
            });
        }
        Ok(f)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of entries (tokens or mask bytes).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the file holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads entries `[start, start + count)` as `u32`, replacing `out`'s contents.
    pub fn read_range(&mut self, start: u64, count: usize, out: &mut Vec<u32>) -> DataResult<()> {
        let end = start + count as u64;
        if end > self.len {
            return Err(DataError::Truncated {
                path: self.path.clone(),
                header_tokens: end,
                file_tokens: self.len,
            });
        }
        let mut bytes = vec![0u8; count * self.elem_bytes];
        let path = &self.path;
        self.file
            .seek(SeekFrom::Start(
                self.data_offset + start * self.elem_bytes as u64,
            ))
            .map_err(|e| DataError::io(path, e))?;
        self.file
            .read_exact(&mut bytes)
            .map_err(|e| DataError::io(path, e))?;
        out.clear();
        match self.elem_bytes {
            1 => out.extend(bytes.iter().map(|&b| b as u32)),
            2 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32),
            ),
            4 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            other => unreachable!("element width {other} is never constructed"),
        }
        Ok(())
    }

    /// Reads every entry.
    pub fn read_all(&mut self) -> DataResult<Vec<u32>> {
        let mut out = Vec::new();
        let n = usize::try_from(self.len).map_err(|_| {
            DataError::InvalidOption(format!(
                "{} is too large to read whole",
                self.path.display()
            ))
        })?;
        self.read_range(0, n, &mut out)?;
        Ok(out)
    }
}

fn read_header(path: &Path, file: &mut File, file_len: u64) -> DataResult<ShardHeader> {
    if file_len < HEADER_BYTES as u64 {
        return Err(DataError::HeaderTooShort {
            path: path.to_path_buf(),
            len: file_len,
            header: HEADER_BYTES,
        });
    }
    let mut header = [0u8; HEADER_BYTES];
    file.read_exact(&mut header)
        .map_err(|e| DataError::io(path, e))?;
    ShardHeader::decode(path, &header)
}
