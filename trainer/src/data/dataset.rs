//! A dataset: an ordered list of token files (plus, for SFT, a loss-mask file per token
//! file). Built from a directory of shards, a split of a prepared directory
//! (`train_*.bin`, `val_*.bin`), or an explicit list of files of one [`TokenFormat`].

use std::path::{Path, PathBuf};

use super::error::{DataError, DataResult};
use super::shard_writer::mask_path_for;
use super::token_file::{TokenFile, TokenFormat};

/// Token files in a fixed order, each optionally paired with its loss mask.
#[derive(Debug)]
pub struct TokenDataset {
    files: Vec<TokenFile>,
    masks: Option<Vec<TokenFile>>,
}

impl TokenDataset {
    /// Opens the files of one split of a prepared directory: `{split}_*.bin` in name order,
    /// with `{split}_*.mask.bin` loss masks when present (all or none).
    pub fn open_split(dir: &Path, split: &str) -> DataResult<Self> {
        let prefix = format!("{split}_");
        let paths = list_shards(dir, |name| name.starts_with(&prefix))?;
        if paths.is_empty() {
            return Err(DataError::NoTokenFiles {
                path: dir.to_path_buf(),
                pattern: format!("{split}_*.bin"),
            });
        }
        Self::open_shards_with_masks(paths)
    }

    /// Opens token files. A directory stands for every `*.bin` shard in it (masks excluded,
    /// then paired automatically); only the shard format may name directories, and a
    /// prepared directory holding both splits is refused (use [`TokenDataset::open_split`]).
    pub fn open(paths: &[PathBuf], format: TokenFormat) -> DataResult<Self> {
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                if format != TokenFormat::Shard {
                    return Err(DataError::InvalidOption(format!(
                        "{} is a directory; directories are only read as shard directories",
                        p.display()
                    )));
                }
                let found = list_shards(p, |_| true)?;
                let has = |prefix: &str| {
                    found.iter().any(|f| {
                        f.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                    })
                };
                if has("train_") && has("val_") {
                    return Err(DataError::InvalidOption(format!(
                        "{} holds both train_ and val_ shards; open one split of it (TokenDataset::open_split)",
                        p.display()
                    )));
                }
                if found.is_empty() {
                    return Err(DataError::NoTokenFiles {
                        path: p.clone(),
                        pattern: "*.bin".into(),
                    });
                }
                files.extend(found);
            } else {
                files.push(p.clone());
            }
        }
        if files.is_empty() {
            return Err(DataError::NoTokenFiles {
                path: PathBuf::from("(empty file list)"),
                pattern: "a token file".into(),
            });
        }
        if format == TokenFormat::Shard {
            return Self::open_shards_with_masks(files);
        }
        let files = files
            .iter()
            .map(|p| TokenFile::open(p, format))
            .collect::<DataResult<Vec<_>>>()?;
        Ok(Self { files, masks: None })
    }

    fn open_shards_with_masks(paths: Vec<PathBuf>) -> DataResult<Self> {
        let files = paths
            .iter()
            .map(|p| TokenFile::open_token_shard(p))
            .collect::<DataResult<Vec<_>>>()?;
        let mask_paths: Vec<PathBuf> = paths.iter().map(|p| mask_path_for(p)).collect();
        let present: Vec<bool> = mask_paths.iter().map(|m| m.is_file()).collect();
        if !present.iter().any(|&b| b) {
            return Ok(Self { files, masks: None });
        }
        let mut masks = Vec::with_capacity(files.len());
        for ((file, mask_path), has) in files.iter().zip(&mask_paths).zip(&present) {
            if !has {
                return Err(DataError::MissingMask {
                    path: file.path().to_path_buf(),
                    mask_path: mask_path.clone(),
                });
            }
            let mask = TokenFile::open_mask_shard(mask_path)?;
            if mask.len() != file.len() {
                return Err(DataError::MaskMismatch {
                    mask_path: mask_path.clone(),
                    token_path: file.path().to_path_buf(),
                    mask: mask.len(),
                    tokens: file.len(),
                });
            }
            masks.push(mask);
        }
        Ok(Self {
            files,
            masks: Some(masks),
        })
    }

    /// Number of token files.
    pub fn num_files(&self) -> usize {
        self.files.len()
    }

    /// Tokens over all files.
    pub fn total_tokens(&self) -> u64 {
        self.files.iter().map(TokenFile::len).sum()
    }

    /// Tokens in file `i`.
    pub fn file_len(&self, i: usize) -> u64 {
        self.files[i].len()
    }

    /// Path of file `i`.
    pub fn file_path(&self, i: usize) -> &Path {
        self.files[i].path()
    }

    /// True when every file has a loss mask (SFT data).
    pub fn has_mask(&self) -> bool {
        self.masks.is_some()
    }

    /// Reads tokens `[start, start+count)` of file `i`.
    pub fn read_tokens(
        &mut self,
        i: usize,
        start: u64,
        count: usize,
        out: &mut Vec<u32>,
    ) -> DataResult<()> {
        self.files[i].read_range(start, count, out)
    }

    /// Reads the loss mask `[start, start+count)` of file `i`; `out` is left empty when the
    /// dataset has no masks.
    pub fn read_mask(
        &mut self,
        i: usize,
        start: u64,
        count: usize,
        out: &mut Vec<u32>,
    ) -> DataResult<()> {
        match self.masks.as_mut() {
            Some(m) => m[i].read_range(start, count, out),
            None => {
                out.clear();
                Ok(())
            }
        }
    }

    /// A stable fingerprint of the file names and lengths, stored with loader positions so a
    /// resume against different data is refused.
    pub fn fingerprint(&self) -> String {
        let mut h = Fnv1a::new();
        for f in &self.files {
            let name = f
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            h.write(name.as_bytes());
            h.write(&[0]);
            h.write(&f.len().to_le_bytes());
        }
        h.write(&[u8::from(self.has_mask())]);
        format!("{:016x}", h.finish())
    }
}

/// Lists `*.bin` token shards (not `*.mask.bin`) in `dir` whose names pass `keep`, sorted.
fn list_shards(dir: &Path, keep: impl Fn(&str) -> bool) -> DataResult<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".bin")
            && !name.ends_with(".mask.bin")
            && !name.starts_with('.')
            && keep(&name)
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// FNV-1a, 64 bit: a tiny hash whose output never changes between Rust versions.
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    pub(crate) fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}
