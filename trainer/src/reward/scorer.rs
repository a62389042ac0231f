//! A reward model ready to score: the rewards graph of `llc_models` (`tokens`,
//! `reward_pos` → `rewards`) at a fixed batch and length with its weights bound, run on
//! the interpreter or compiled (`crate::forward`). `rm score`, the reward model's
//! held-out metrics, rejection sampling and PPO call it.

use llc_ir::Function;
use llc_models::{BuildOptions, ForwardOutput, LlamaConfig, build_forward, reward_inputs};

use super::pairs::score_rows;
use crate::checkpoint::NamedTensor;
use crate::error::Result;
use crate::forward::{ForwardModel, InterpForward};
use llc_runtime::Tensor;

/// The rewards graph of `cfg` at `batch × seq` (`tokens`, `reward_pos` → `rewards`), for
/// a caller that compiles it ([`RewardScorer::with_model`]).
pub fn rewards_function(cfg: &LlamaConfig, batch: usize, seq: usize) -> Result<Function> {
    let opts = BuildOptions {
        output: ForwardOutput::Rewards,
        ..BuildOptions::new(batch, seq)
    };
    Ok(build_forward(cfg, &opts)?.functions.remove(0))
}

/// Scores sequences (`BOS prompt response EOS`, at most `seq` tokens) in batches of
/// `batch`.
pub struct RewardScorer {
    model: Box<dyn ForwardModel>,
    batch: usize,
    seq: usize,
}

impl RewardScorer {
    /// The rewards graph of `cfg` at `batch × seq` with `weights` (a reward model's:
    /// trunk and `score.weight`) bound, on the interpreter.
    pub fn new(
        cfg: &LlamaConfig,
        batch: usize,
        seq: usize,
        weights: &[NamedTensor],
    ) -> Result<Self> {
        let func = rewards_function(cfg, batch, seq)?;
        Ok(Self::with_model(
            Box::new(InterpForward::new(func, weights)?),
            batch,
            seq,
        ))
    }

    /// A scorer over `model`, the [`rewards_function`] at `batch × seq` with weights
    /// bound however it runs (a compiled plan for large batches).
    pub fn with_model(model: Box<dyn ForwardModel>, batch: usize, seq: usize) -> Self {
        RewardScorer { model, batch, seq }
    }

    /// Binds new weights (the reward model's after more training steps).
    pub fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()> {
        self.model.set_weights(weights)
    }

    /// Binds the parameters among a training step's state (by name; optimizer moments
    /// and other names are ignored).
    pub fn set_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.set_weights(&crate::trainer::params_of_state(state)?)
    }

    /// Longest sequence it scores.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// What runs the rewards graph, for reports.
    pub fn describe(&self) -> String {
        self.model.describe()
    }

    /// The reward of every sequence, in order (any count: the last batch is padded with
    /// copies of the first sequence, whose rewards are dropped).
    pub fn score(&mut self, seqs: &[&[u32]]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(self.batch) {
            let mut rows: Vec<&[u32]> = chunk.to_vec();
            rows.resize(self.batch, chunk[0]);
            let (tokens, pos) = score_rows(&rows, self.seq)?;
            let r = self
                .model
                .run(&[("tokens", tokens), (reward_inputs::REWARD_POS, pos)])?;
            out.extend_from_slice(&r[0].to_f32_vec()[..chunk.len()]);
        }
        Ok(out)
    }
}

/// Pairwise metrics of a reward model on preference pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PairMetrics {
    /// Pairs scored.
    pub pairs: usize,
    /// Fraction with `r_chosen > r_rejected`.
    pub accuracy: f64,
    /// Mean of `r_chosen − r_rejected`.
    pub mean_margin: f64,
    /// Mean ranking loss `−log σ(r_c − r_r − m)`.
    pub loss: f64,
}

/// Scores the chosen and rejected sequences of `pairs` and summarizes.
pub fn pair_metrics(
    scorer: &mut RewardScorer,
    pairs: &[super::pairs::EncodedPair],
) -> Result<PairMetrics> {
    if pairs.is_empty() {
        return Ok(PairMetrics::default());
    }
    let rows: Vec<&[u32]> = pairs
        .iter()
        .flat_map(|p| [p.chosen.as_slice(), p.rejected.as_slice()])
        .collect();
    let r = scorer.score(&rows)?;
    let (mut right, mut gap, mut loss) = (0usize, 0.0f64, 0.0f64);
    for (i, p) in pairs.iter().enumerate() {
        let d = r[2 * i] as f64 - r[2 * i + 1] as f64;
        right += usize::from(d > 0.0);
        gap += d;
        let z = d - p.margin as f64;
        loss += (-z).max(0.0) + (-z.abs()).exp().ln_1p();
    }
    let n = pairs.len() as f64;
    Ok(PairMetrics {
        pairs: pairs.len(),
        accuracy: right as f64 / n,
        mean_margin: gap / n,
        loss: loss / n,
    })
}
