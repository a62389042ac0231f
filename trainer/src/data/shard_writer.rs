//! Writes token shards (and optional loss-mask shards) in the llm.c `.bin` format, rolling
//! over to a new file every `shard_tokens` tokens. Each file is written under a temporary
//! name and renamed into place only once its header holds the final count.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use llc_ir::fsutil::AtomicFile;

use super::error::{DataError, DataResult};
use super::shard_format::{HEADER_BYTES, MAX_SHARD_ENTRIES, ShardHeader, ShardKind, TokenWidth};

/// The name of shard `index` of a split: `train_000003.bin`.
pub fn shard_file_name(prefix: &str, index: usize) -> String {
    format!("{prefix}_{index:06}.bin")
}

/// The loss-mask file that goes with a token shard: `train_000003.mask.bin`.
pub fn mask_path_for(token_path: &Path) -> PathBuf {
    let stem = token_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    token_path.with_file_name(format!("{stem}.mask.bin"))
}

/// One finished shard file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WrittenShard {
    /// Final path of the token shard.
    pub path: PathBuf,
    /// Final path of its mask shard, when masks are written.
    pub mask_path: Option<PathBuf>,
    /// Tokens in the shard.
    pub tokens: u64,
}

/// A single shard file being filled.
struct OpenShard {
    file: AtomicFile,
    kind: ShardKind,
    count: u64,
}

impl OpenShard {
    fn create(path: &Path, kind: ShardKind) -> DataResult<Self> {
        let mut file = AtomicFile::create(path).map_err(|e| DataError::io(path, e))?;
        // Placeholder header; patched with the real count in `finish`.
        file.write_all(&[0u8; HEADER_BYTES])
            .map_err(|e| DataError::io(path, e))?;
        Ok(Self {
            file,
            kind,
            count: 0,
        })
    }

    fn write_tokens(&mut self, tokens: &[u32]) -> DataResult<()> {
        let mut buf = Vec::with_capacity(tokens.len() * 4);
        match self.kind {
            ShardKind::Tokens(TokenWidth::U16) => {
                for &t in tokens {
                    let t16 = u16::try_from(t).map_err(|_| {
                        DataError::InvalidOption(format!(
                            "token id {t} does not fit a u16 shard (vocab must be <= 65536)"
                        ))
                    })?;
                    buf.extend_from_slice(&t16.to_le_bytes());
                }
            }
            ShardKind::Tokens(TokenWidth::U32) => {
                for &t in tokens {
                    buf.extend_from_slice(&t.to_le_bytes());
                }
            }
            ShardKind::LossMask => unreachable!("mask shards take write_mask"),
        }
        self.write_raw(&buf, tokens.len())
    }

    fn write_mask(&mut self, mask: &[u8]) -> DataResult<()> {
        let clean: Vec<u8> = mask.iter().map(|&m| u8::from(m != 0)).collect();
        self.write_raw(&clean, mask.len())
    }

    fn write_raw(&mut self, bytes: &[u8], entries: usize) -> DataResult<()> {
        let dest = self.file.dest().to_path_buf();
        self.file
            .write_all(bytes)
            .map_err(|e| DataError::io(&dest, e))?;
        self.count += entries as u64;
        Ok(())
    }

    fn finish(mut self) -> DataResult<(PathBuf, u64)> {
        let dest = self.file.dest().to_path_buf();
        let header = ShardHeader {
            kind: self.kind,
            count: self.count,
        }
        .encode();
        let io = |e| DataError::io(&dest, e);
        let f = self.file.file_mut().map_err(io)?;
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        f.write_all(&header).map_err(io)?;
        f.seek(SeekFrom::End(0)).map_err(io)?;
        self.file.commit().map_err(io)?;
        Ok((dest, self.count))
    }
}

/// Writes a split (`train` or `val`) as numbered shards in one directory.
pub struct ShardSetWriter {
    dir: PathBuf,
    prefix: String,
    width: TokenWidth,
    shard_tokens: usize,
    with_mask: bool,
    current: Option<(OpenShard, Option<OpenShard>)>,
    written: Vec<WrittenShard>,
    total: u64,
}

impl ShardSetWriter {
    /// Starts a split writer. `shard_tokens` is the most tokens per shard (at most 2^31-1).
    pub fn new(
        dir: &Path,
        prefix: &str,
        width: TokenWidth,
        shard_tokens: usize,
        with_mask: bool,
    ) -> DataResult<Self> {
        if shard_tokens == 0 || shard_tokens > MAX_SHARD_ENTRIES {
            return Err(DataError::InvalidOption(format!(
                "shard_tokens must be in 1..={MAX_SHARD_ENTRIES}, got {shard_tokens}"
            )));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            width,
            shard_tokens,
            with_mask,
            current: None,
            written: Vec::new(),
            total: 0,
        })
    }

    /// Tokens written so far, over all shards.
    pub fn total_tokens(&self) -> u64 {
        self.total
    }

    /// Tokens in the shard being filled now (0 when none is open).
    pub fn current_shard_tokens(&self) -> u64 {
        self.current.as_ref().map_or(0, |(s, _)| s.count)
    }

    /// Appends tokens (and their mask, which must be given iff the writer has masks),
    /// splitting across shard boundaries as needed.
    pub fn push(&mut self, mut tokens: &[u32], mut mask: Option<&[u8]>) -> DataResult<()> {
        if self.with_mask != mask.is_some() {
            return Err(DataError::InvalidOption(
                "loss mask given to a writer without masks, or missing for one with masks".into(),
            ));
        }
        if let Some(m) = mask
            && m.len() != tokens.len()
        {
            return Err(DataError::InvalidOption(format!(
                "mask has {} entries for {} tokens",
                m.len(),
                tokens.len()
            )));
        }
        while !tokens.is_empty() {
            if self.current.is_none() {
                self.open_next()?;
            }
            let (shard, mask_shard) = self.current.as_mut().expect("just opened");
            let room = self.shard_tokens - shard.count as usize;
            let n = room.min(tokens.len());
            shard.write_tokens(&tokens[..n])?;
            if let (Some(ms), Some(m)) = (mask_shard.as_mut(), mask) {
                ms.write_mask(&m[..n])?;
                mask = Some(&m[n..]);
            }
            tokens = &tokens[n..];
            self.total += n as u64;
            if shard.count as usize == self.shard_tokens {
                self.close_current()?;
            }
        }
        Ok(())
    }

    /// Closes the current shard now, so the next push starts a new file.
    pub fn close_current(&mut self) -> DataResult<()> {
        if let Some((shard, mask)) = self.current.take() {
            let (path, tokens) = shard.finish()?;
            let mask_path = match mask {
                Some(m) => Some(m.finish()?.0),
                None => None,
            };
            self.written.push(WrittenShard {
                path,
                mask_path,
                tokens,
            });
        }
        Ok(())
    }

    /// Finishes the last shard and returns every shard written, in order.
    pub fn finish(mut self) -> DataResult<Vec<WrittenShard>> {
        self.close_current()?;
        Ok(self.written)
    }

    fn open_next(&mut self) -> DataResult<()> {
        let path = self
            .dir
            .join(shard_file_name(&self.prefix, self.written.len()));
        let shard = OpenShard::create(&path, ShardKind::Tokens(self.width))?;
        let mask = if self.with_mask {
            Some(OpenShard::create(
                &mask_path_for(&path),
                ShardKind::LossMask,
            )?)
        } else {
            None
        };
        self.current = Some((shard, mask));
        Ok(())
    }
}
