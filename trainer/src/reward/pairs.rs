//! Preference pairs for the reward model (Llama 2, §3.2.1): JSONL lines
//! `{"prompt", "chosen", "rejected", "rating"?}`, each response tokenized as `data sft`
//! tokenizes an example (`BOS prompt response EOS`), and served as ranking-loss batches.
//!
//! Conventions (the one home of the pair-batch contract):
//! - A batch of `P` pairs is `tokens: i32[2P, T]`: rows `0..P` the chosen sequences, rows
//!   `P..2P` the rejected ones in the same order, each right-padded with
//!   [`llc_models::REWARD_PAD_ID`]; `reward_pos: i32[2P]` is each row's final EOS (where
//!   the reward is read); `margin: f32[P]` the pair's margin from its rating.
//! - Order: every epoch a permutation of the pairs seeded from `(seed, epoch)`; a
//!   [`LoaderPosition`] (epoch, cursor) restores it exactly.
//! - Held-out pairs are chosen once, by a permutation seeded with 0, independent of the
//!   training seed.

use std::path::Path;

use llc_models::{REWARD_PAD_ID, reward_inputs};

use crate::data::shuffle::{mix_seed, permutation};
use crate::data::{
    DataError, DataResult, JsonlReader, LoaderPosition, TextTokenizer, encode_sft_example,
    json_kind,
};
use crate::error::{Result, TrainerError};
use crate::trainer::{BatchSource, Shard};
use llc_runtime::Tensor;
use llc_runtime::step::Batch;

/// How much better the chosen response is, as Llama 2's annotators rate it; the ranking
/// loss's margin grows with it (the paper's "margin small" scale).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rating {
    SignificantlyBetter,
    Better,
    SlightlyBetter,
    NegligiblyBetter,
    Unsure,
}

impl Rating {
    /// Every rating with the spelling the JSONL uses.
    pub const ALL: [(Rating, &'static str); 5] = [
        (Rating::SignificantlyBetter, "significantly better"),
        (Rating::Better, "better"),
        (Rating::SlightlyBetter, "slightly better"),
        (Rating::NegligiblyBetter, "negligibly better"),
        (Rating::Unsure, "unsure"),
    ];

    /// The margin `m` of `−log σ(r_chosen − r_rejected − m)`: 1, 2/3, 1/3, 0, 0.
    pub fn margin(self) -> f32 {
        match self {
            Rating::SignificantlyBetter => 1.0,
            Rating::Better => 2.0 / 3.0,
            Rating::SlightlyBetter => 1.0 / 3.0,
            Rating::NegligiblyBetter | Rating::Unsure => 0.0,
        }
    }

    /// Parses a rating, ignoring case and `_`/`-` for spaces.
    pub fn parse(text: &str) -> Option<Rating> {
        let norm = text.trim().to_lowercase().replace(['_', '-'], " ");
        Self::ALL.iter().find(|(_, s)| *s == norm).map(|&(r, _)| r)
    }
}

/// One preference pair as read.
#[derive(Clone, Debug, PartialEq)]
pub struct PreferencePair {
    /// 1-based line in its file.
    pub line: u64,
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
    /// From `rating`; 0 when absent.
    pub margin: f32,
}

/// Reads every pair of a JSONL file; errors name `file:line` and the field.
pub fn read_pairs(path: &Path) -> DataResult<Vec<PreferencePair>> {
    let mut out = Vec::new();
    for obj in JsonlReader::open(path, "\"prompt\", \"chosen\" and \"rejected\"")? {
        let obj = obj?;
        let margin = match obj.fields.get("rating") {
            None | Some(serde_json::Value::Null) => 0.0,
            Some(serde_json::Value::String(s)) => Rating::parse(s)
                .ok_or_else(|| {
                    obj.err(format!(
                        "field \"rating\" is {s:?}; expected one of {}",
                        Rating::ALL.map(|(_, s)| format!("{s:?}")).join(", ")
                    ))
                })?
                .margin(),
            Some(other) => {
                return Err(obj.err(format!(
                    "field \"rating\" must be a string, found {}",
                    json_kind(other)
                )));
            }
        };
        out.push(PreferencePair {
            line: obj.line,
            prompt: obj.string("prompt")?,
            chosen: obj.string("chosen")?,
            rejected: obj.string("rejected")?,
            margin,
        });
    }
    if out.is_empty() {
        return Err(DataError::InvalidOption(format!(
            "{}: no preference pair in the file",
            path.display()
        )));
    }
    Ok(out)
}

/// `BOS prompt response EOS`, as `data sft` tokenizes an example: the sequence whose
/// final EOS the reward is read at. `path:line` is where the text came from (for errors).
pub fn encode_scored(
    tok: &TextTokenizer,
    prompt: &str,
    response: &str,
    path: &Path,
    line: u64,
) -> DataResult<Vec<u32>> {
    encode_sft_example(tok, prompt, response)
        .map(|ex| ex.tokens)
        .map_err(|e| e.at(path, line))
}

/// A pair tokenized for the reward model.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedPair {
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
    pub margin: f32,
    /// Line of the pair in its file.
    pub line: u64,
}

/// Tokenized pairs that fit `seq` tokens, and how many did not (they are left out).
pub fn encode_pairs(
    tok: &TextTokenizer,
    pairs: &[PreferencePair],
    seq: usize,
    path: &Path,
) -> DataResult<(Vec<EncodedPair>, usize)> {
    let mut out = Vec::with_capacity(pairs.len());
    let mut too_long = 0;
    for p in pairs {
        let enc = |text: &str| encode_scored(tok, &p.prompt, text, path, p.line);
        let (chosen, rejected) = (enc(&p.chosen)?, enc(&p.rejected)?);
        if chosen.len() > seq || rejected.len() > seq {
            too_long += 1;
            continue;
        }
        out.push(EncodedPair {
            chosen,
            rejected,
            margin: p.margin,
            line: p.line,
        });
    }
    Ok((out, too_long))
}

/// Splits `pairs` into (train, held-out), holding out `round(fraction * n)` pairs (at
/// least one when `fraction > 0` and there are two or more) chosen by a fixed permutation.
pub fn split_held_out(
    pairs: Vec<EncodedPair>,
    fraction: f64,
) -> (Vec<EncodedPair>, Vec<EncodedPair>) {
    let n = pairs.len();
    let mut held = ((fraction * n as f64).round() as usize).min(n.saturating_sub(1));
    if fraction > 0.0 && n >= 2 {
        held = held.max(1);
    }
    let order = permutation(n, mix_seed(&[0x5245_5741_5244, n as u64]));
    let mut is_held = vec![false; n];
    for &i in &order[..held] {
        is_held[i as usize] = true;
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (p, h) in pairs.into_iter().zip(is_held) {
        if h { val.push(p) } else { train.push(p) }
    }
    (train, val)
}

/// Rows of sequences as the reward graphs take them: `tokens: i32[R, T]` right-padded
/// with the reward pad id and `reward_pos: i32[R]` (each row's last token).
pub fn score_rows(rows: &[&[u32]], seq: usize) -> Result<(Tensor, Tensor)> {
    let mut tokens = vec![REWARD_PAD_ID as i32; rows.len() * seq];
    let mut pos = Vec::with_capacity(rows.len());
    for (r, ids) in rows.iter().enumerate() {
        if ids.is_empty() || ids.len() > seq {
            return Err(TrainerError::ScoredSequence {
                tokens: ids.len(),
                limit: seq,
            });
        }
        for (j, &t) in ids.iter().enumerate() {
            tokens[r * seq + j] = t as i32;
        }
        pos.push(ids.len() as i32 - 1);
    }
    Ok((
        Tensor::from_i32(vec![rows.len(), seq], tokens)?,
        Tensor::from_i32(vec![rows.len()], pos)?,
    ))
}

/// The ranking-loss batch of `pairs` (chosen rows, then rejected rows).
pub fn pair_batch(pairs: &[&EncodedPair], seq: usize) -> Result<Batch> {
    let rows: Vec<&[u32]> = pairs
        .iter()
        .map(|p| p.chosen.as_slice())
        .chain(pairs.iter().map(|p| p.rejected.as_slice()))
        .collect();
    let (tokens, pos) = score_rows(&rows, seq)?;
    let margin = Tensor::from_f32(vec![pairs.len()], pairs.iter().map(|p| p.margin).collect())?;
    Ok(Batch {
        inputs: vec![
            ("tokens".into(), tokens),
            (reward_inputs::REWARD_POS.into(), pos),
            (reward_inputs::MARGIN.into(), margin),
        ],
    })
}

/// Serves ranking-loss batches of `batch_pairs` pairs: every epoch a seeded permutation,
/// a last partial batch dropped (static shapes).
pub struct PairLoader {
    pairs: Vec<EncodedPair>,
    seq: usize,
    batch_pairs: usize,
    seed: u64,
    shuffle: bool,
    epoch: u64,
    cursor: u64,
    served: u64,
    order: Vec<u64>,
}

impl PairLoader {
    /// A loader over `pairs`; at least one full batch is needed.
    pub fn new(
        pairs: Vec<EncodedPair>,
        seq: usize,
        batch_pairs: usize,
        seed: u64,
        shuffle: bool,
    ) -> Result<Self> {
        if batch_pairs == 0 || pairs.len() < batch_pairs {
            return Err(TrainerError::TooFewPairs {
                pairs: pairs.len(),
                batch: batch_pairs,
            });
        }
        let mut l = PairLoader {
            pairs,
            seq,
            batch_pairs,
            seed,
            shuffle,
            epoch: 0,
            cursor: 0,
            served: 0,
            order: Vec::new(),
        };
        l.order = l.order_of(0);
        Ok(l)
    }

    fn order_of(&self, epoch: u64) -> Vec<u64> {
        if self.shuffle {
            permutation(self.pairs.len(), mix_seed(&[self.seed, epoch]))
        } else {
            (0..self.pairs.len() as u64).collect()
        }
    }

    /// Full batches per epoch.
    pub fn batches_per_epoch(&self) -> u64 {
        (self.pairs.len() / self.batch_pairs) as u64
    }

    /// The pairs (in file order, those that fit).
    pub fn pairs(&self) -> &[EncodedPair] {
        &self.pairs
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Result<Batch> {
        if self.cursor >= self.batches_per_epoch() {
            self.epoch += 1;
            self.cursor = 0;
            self.order = self.order_of(self.epoch);
        }
        let start = (self.cursor as usize) * self.batch_pairs;
        let picked: Vec<&EncodedPair> = self.order[start..start + self.batch_pairs]
            .iter()
            .map(|&i| &self.pairs[i as usize])
            .collect();
        let b = pair_batch(&picked, self.seq)?;
        self.cursor += 1;
        self.served += 1;
        Ok(b)
    }

    /// Back to the first batch of epoch 0.
    pub fn reset(&mut self) {
        self.epoch = 0;
        self.cursor = 0;
        self.served = 0;
        self.order = self.order_of(0);
    }

    /// Where the loader stands (a pair set is one "file" whose windows are batches).
    pub fn position(&self) -> LoaderPosition {
        LoaderPosition {
            epoch: self.epoch,
            file_cursor: 0,
            window_cursor: self.cursor,
            batches_served: self.served,
            seed: self.seed,
            shuffle: self.shuffle,
            batch_size: self.batch_pairs,
            seq_len: self.seq,
            dataset: self.fingerprint(),
        }
    }

    /// Names the pair set: its size and a hash of every token and margin, so a resume on
    /// other pairs is refused.
    fn fingerprint(&self) -> String {
        let mut h = mix_seed(&[self.pairs.len() as u64]);
        for p in &self.pairs {
            let words = p.chosen.iter().chain(&[u32::MAX]).chain(&p.rejected);
            for &t in words {
                h = mix_seed(&[h, t as u64]);
            }
            h = mix_seed(&[h, p.margin.to_bits() as u64]);
        }
        format!("pairs:{}:{h:016x}", self.pairs.len())
    }

    /// Continue from `pos` (saved by [`PairLoader::position`] on the same pairs, seed
    /// and batch shape).
    pub fn seek(&mut self, pos: &LoaderPosition) -> Result<()> {
        let here = self.position();
        let checks = [
            ("the pair set", pos.dataset.clone(), here.dataset.clone()),
            ("the seed", pos.seed.to_string(), here.seed.to_string()),
            (
                "shuffling",
                pos.shuffle.to_string(),
                here.shuffle.to_string(),
            ),
            (
                "pairs per batch",
                pos.batch_size.to_string(),
                here.batch_size.to_string(),
            ),
            (
                "the sequence length",
                pos.seq_len.to_string(),
                here.seq_len.to_string(),
            ),
            (
                "the file cursor",
                pos.file_cursor.to_string(),
                "0".to_string(),
            ),
        ];
        for (what, saved, current) in checks {
            if saved != current {
                return Err(DataError::PositionMismatch {
                    what,
                    saved,
                    current,
                }
                .into());
            }
        }
        if pos.window_cursor > self.batches_per_epoch() {
            return Err(DataError::PositionOutOfRange {
                what: "batch",
                value: pos.window_cursor,
                limit: self.batches_per_epoch(),
            }
            .into());
        }
        self.epoch = pos.epoch;
        self.cursor = pos.window_cursor;
        self.served = pos.batches_served;
        self.order = self.order_of(self.epoch);
        Ok(())
    }
}

impl BatchSource for PairLoader {
    fn next_batch(&mut self, shard: Shard) -> Result<Batch> {
        if shard.world != 1 {
            return Err(TrainerError::SingleRankOnly {
                what: "the reward model",
                world: shard.world,
            });
        }
        PairLoader::next_batch(self)
    }
    fn position(&self) -> LoaderPosition {
        PairLoader::position(self)
    }
    fn seek(&mut self, pos: &LoaderPosition) -> Result<()> {
        PairLoader::seek(self, pos)
    }
    fn reset(&mut self) {
        PairLoader::reset(self)
    }
    fn batches_per_epoch(&self) -> u64 {
        PairLoader::batches_per_epoch(self)
    }
}
