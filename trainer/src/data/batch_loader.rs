//! Batches of `[B, T]` token windows for training and evaluation.
//!
//! Each file of a [`TokenDataset`] is cut into windows of `B*T` tokens; a batch reads one
//! window plus the token after it (`B*T + 1` contiguous tokens, as llm.c does): row `b` of
//! `tokens` is `window[b*T .. b*T+T]`, and `targets` is the same shifted by one. Files
//! shorter than `B*T + 1` tokens are skipped. One epoch serves every window of every file
//! once; then the next epoch starts.
//!
//! Order: without shuffling, files in dataset order and windows in file order. With
//! shuffling, every epoch permutes the files and, within each file, the windows, using a
//! generator seeded from `(seed, epoch)` and `(seed, epoch, file)`. The random state is
//! therefore fully determined by the seed and the position, and a [`LoaderPosition`]
//! (epoch, file cursor, window cursor, seed) restores the exact batch sequence.

use serde::{Deserialize, Serialize};

use super::dataset::TokenDataset;
use super::error::{DataError, DataResult};
use super::shuffle::{mix_seed, permutation};

/// Batch shape and ordering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderConfig {
    /// Rows per batch (B).
    pub batch_size: usize,
    /// Tokens per row (T).
    pub seq_len: usize,
    /// Seed of the shuffle order.
    pub seed: u64,
    /// Permute files and windows every epoch.
    pub shuffle: bool,
    /// When set, every token must be below this (the model's vocab size).
    pub vocab_limit: Option<usize>,
}

impl LoaderConfig {
    /// Sequential order, no vocabulary check.
    pub fn sequential(batch_size: usize, seq_len: usize) -> Self {
        Self {
            batch_size,
            seq_len,
            seed: 0,
            shuffle: false,
            vocab_limit: None,
        }
    }
}

/// Where a loader stands: enough to resume exactly. The shuffle generator's state is
/// re-derived from `seed`, `epoch` and the cursors, so it is not stored separately.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderPosition {
    /// Completed passes over the data.
    pub epoch: u64,
    /// Index into this epoch's file order of the file serving the next batch.
    pub file_cursor: u64,
    /// Index into that file's window order of the next batch.
    pub window_cursor: u64,
    /// Batches served since the start (over all epochs).
    pub batches_served: u64,
    /// Shuffle seed at save time.
    pub seed: u64,
    /// Whether shuffling was on.
    pub shuffle: bool,
    /// Batch rows at save time.
    pub batch_size: usize,
    /// Row length at save time.
    pub seq_len: usize,
    /// [`TokenDataset::fingerprint`] at save time.
    pub dataset: String,
}

/// One batch: row-major `[B, T]` inputs and next-token targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Rows (B).
    pub batch_size: usize,
    /// Row length (T).
    pub seq_len: usize,
    /// Input token ids, `B*T`.
    pub tokens: Vec<i32>,
    /// Target ids (inputs shifted by one), `B*T`.
    pub targets: Vec<i32>,
    /// For SFT data: 1.0 where the target is an answer token, 0.0 elsewhere (`B*T`). The
    /// mask is aligned with `targets`: entry `i` is the mask of the token that `targets[i]`
    /// names.
    pub loss_mask: Option<Vec<f32>>,
    /// Dataset file index and token offset the window was read from (for messages).
    pub source: (usize, u64),
}

/// Deterministic, resumable iterator over batches of a [`TokenDataset`].
pub struct BatchLoader {
    dataset: TokenDataset,
    cfg: LoaderConfig,
    /// Dataset file indices that hold at least one window.
    usable: Vec<usize>,
    /// Windows per dataset file.
    windows: Vec<u64>,
    fingerprint: String,
    epoch: u64,
    file_cursor: u64,
    window_cursor: u64,
    batches_served: u64,
    file_order: Vec<u64>,
    window_order: Option<(usize, Vec<u64>)>,
    token_buf: Vec<u32>,
    mask_buf: Vec<u32>,
}

impl BatchLoader {
    /// Builds a loader at the start of epoch 0.
    pub fn new(dataset: TokenDataset, cfg: LoaderConfig) -> DataResult<Self> {
        if cfg.batch_size == 0 || cfg.seq_len == 0 {
            return Err(DataError::InvalidOption(format!(
                "batch size and sequence length must be positive, got B={} T={}",
                cfg.batch_size, cfg.seq_len
            )));
        }
        let bt = (cfg.batch_size as u64)
            .checked_mul(cfg.seq_len as u64)
            .ok_or_else(|| {
                DataError::InvalidOption(format!(
                    "batch size x sequence length overflows: B={} T={}",
                    cfg.batch_size, cfg.seq_len
                ))
            })?;
        let windows: Vec<u64> = (0..dataset.num_files())
            .map(|i| dataset.file_len(i).saturating_sub(1) / bt)
            .collect();
        let usable: Vec<usize> = (0..windows.len()).filter(|&i| windows[i] > 0).collect();
        if usable.is_empty() {
            let largest = (0..dataset.num_files())
                .map(|i| dataset.file_len(i))
                .max()
                .unwrap_or(0);
            return Err(DataError::DatasetTooSmall {
                needed: bt.saturating_add(1),
                largest,
            });
        }
        let fingerprint = dataset.fingerprint();
        let mut loader = Self {
            dataset,
            cfg,
            usable,
            windows,
            fingerprint,
            epoch: 0,
            file_cursor: 0,
            window_cursor: 0,
            batches_served: 0,
            file_order: Vec::new(),
            window_order: None,
            token_buf: Vec::new(),
            mask_buf: Vec::new(),
        };
        loader.start_epoch(0);
        Ok(loader)
    }

    /// The loader's configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }

    /// The dataset being read.
    pub fn dataset(&self) -> &TokenDataset {
        &self.dataset
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> u64 {
        self.windows.iter().sum()
    }

    /// Goes back to the first batch of epoch 0 (e.g. before each validation pass).
    pub fn reset(&mut self) {
        self.batches_served = 0;
        self.start_epoch(0);
    }

    /// The position of the next batch, for checkpoints.
    pub fn position(&self) -> LoaderPosition {
        LoaderPosition {
            epoch: self.epoch,
            file_cursor: self.file_cursor,
            window_cursor: self.window_cursor,
            batches_served: self.batches_served,
            seed: self.cfg.seed,
            shuffle: self.cfg.shuffle,
            batch_size: self.cfg.batch_size,
            seq_len: self.cfg.seq_len,
            dataset: self.fingerprint.clone(),
        }
    }

    /// Moves to a saved position; refuses one saved with another batch shape, order or
    /// dataset.
    pub fn seek(&mut self, pos: &LoaderPosition) -> DataResult<()> {
        let mismatch = |what, saved: String, current: String| {
            Err(DataError::PositionMismatch {
                what,
                saved,
                current,
            })
        };
        if pos.batch_size != self.cfg.batch_size {
            return mismatch(
                "batch size",
                pos.batch_size.to_string(),
                self.cfg.batch_size.to_string(),
            );
        }
        if pos.seq_len != self.cfg.seq_len {
            return mismatch(
                "sequence length",
                pos.seq_len.to_string(),
                self.cfg.seq_len.to_string(),
            );
        }
        if pos.shuffle != self.cfg.shuffle {
            return mismatch(
                "shuffle",
                pos.shuffle.to_string(),
                self.cfg.shuffle.to_string(),
            );
        }
        if pos.shuffle && pos.seed != self.cfg.seed {
            return mismatch("seed", pos.seed.to_string(), self.cfg.seed.to_string());
        }
        if pos.dataset != self.fingerprint {
            return mismatch(
                "dataset fingerprint (file names and sizes)",
                pos.dataset.clone(),
                self.fingerprint.clone(),
            );
        }
        if pos.file_cursor >= self.usable.len() as u64 {
            return Err(DataError::PositionOutOfRange {
                what: "file cursor",
                value: pos.file_cursor,
                limit: self.usable.len() as u64,
            });
        }
        self.start_epoch(pos.epoch);
        self.file_cursor = pos.file_cursor;
        let windows = self.windows[self.current_file()];
        if pos.window_cursor >= windows {
            return Err(DataError::PositionOutOfRange {
                what: "window cursor",
                value: pos.window_cursor,
                limit: windows,
            });
        }
        self.window_cursor = pos.window_cursor;
        self.batches_served = pos.batches_served;
        Ok(())
    }

    /// Reads the next batch and advances.
    pub fn next_batch(&mut self) -> DataResult<Batch> {
        let (b, t) = (self.cfg.batch_size, self.cfg.seq_len);
        let bt = b * t;
        let file = self.current_file();
        let window = self.current_window(file);
        let start = window * bt as u64;
        self.dataset
            .read_tokens(file, start, bt + 1, &mut self.token_buf)?;
        if let Some(vocab) = self.cfg.vocab_limit
            && let Some(i) = self.token_buf.iter().position(|&x| x as usize >= vocab)
        {
            return Err(DataError::TokenOutOfRange {
                path: self.dataset.file_path(file).to_path_buf(),
                index: start + i as u64,
                token: self.token_buf[i],
                vocab,
            });
        }
        let tokens: Vec<i32> = self.token_buf[..bt].iter().map(|&x| x as i32).collect();
        let targets: Vec<i32> = self.token_buf[1..].iter().map(|&x| x as i32).collect();
        let loss_mask = if self.dataset.has_mask() {
            self.dataset
                .read_mask(file, start + 1, bt, &mut self.mask_buf)?;
            Some(self.mask_buf.iter().map(|&m| m as f32).collect())
        } else {
            None
        };
        self.advance();
        Ok(Batch {
            batch_size: b,
            seq_len: t,
            tokens,
            targets,
            loss_mask,
            source: (file, start),
        })
    }

    fn current_file(&self) -> usize {
        self.usable[self.file_order[self.file_cursor as usize] as usize]
    }

    fn current_window(&mut self, file: usize) -> u64 {
        if !self.cfg.shuffle {
            return self.window_cursor;
        }
        let stale = !matches!(&self.window_order, Some((f, _)) if *f == file);
        if stale {
            let seed = mix_seed(&[self.cfg.seed, self.epoch, file as u64, 2]);
            let order = permutation(self.windows[file] as usize, seed);
            self.window_order = Some((file, order));
        }
        let (_, order) = self.window_order.as_ref().expect("just filled");
        order[self.window_cursor as usize]
    }

    fn advance(&mut self) {
        self.batches_served += 1;
        self.window_cursor += 1;
        if self.window_cursor < self.windows[self.current_file()] {
            return;
        }
        self.window_cursor = 0;
        self.file_cursor += 1;
        if self.file_cursor < self.usable.len() as u64 {
            return;
        }
        self.start_epoch(self.epoch + 1);
    }

    fn start_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.file_cursor = 0;
        self.window_cursor = 0;
        self.window_order = None;
        self.file_order = if self.cfg.shuffle {
            permutation(self.usable.len(), mix_seed(&[self.cfg.seed, epoch, 1]))
        } else {
            (0..self.usable.len() as u64).collect()
        };
    }
}
