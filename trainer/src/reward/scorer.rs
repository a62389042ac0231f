//! A reward model ready to score: the rewards graph of `llc_models` (`tokens`,
//! `reward_pos` → `rewards`) at a fixed batch and length with its weights bound, run on
//! the interpreter. `rm score`, the reward model's held-out metrics, rejection sampling
//! and PPO call it.

use llc_ir::Function;
use llc_models::{BuildOptions, ForwardOutput, LlamaConfig, build_forward, reward_inputs};

use super::pairs::score_rows;
use crate::checkpoint::NamedTensor;
use crate::error::Result;
use crate::generate::bind_params;
use llc_runtime::run_function;
use llc_runtime::{Precision, Tensor};

/// Scores sequences (`BOS prompt response EOS`, at most `seq` tokens) in batches of
/// `batch`.
pub struct RewardScorer {
    func: Function,
    args: Vec<Tensor>,
    tokens_slot: usize,
    pos_slot: usize,
    batch: usize,
    seq: usize,
}

impl RewardScorer {
    /// The rewards graph of `cfg` at `batch × seq` with `weights` (a reward model's:
    /// trunk and `score.weight`) bound.
    pub fn new(
        cfg: &LlamaConfig,
        batch: usize,
        seq: usize,
        weights: &[NamedTensor],
    ) -> Result<Self> {
        let opts = BuildOptions {
            output: ForwardOutput::Rewards,
            ..BuildOptions::new(batch, seq)
        };
        let func = build_forward(cfg, &opts)?.functions.remove(0);
        let slot = |name: &str| {
            func.args()
                .iter()
                .position(|&a| func.node(a).name == name)
                .expect("the rewards graph takes this input")
        };
        let (tokens_slot, pos_slot) = (slot("tokens"), slot(reward_inputs::REWARD_POS));
        let mut scorer = RewardScorer {
            args: Vec::new(),
            func,
            tokens_slot,
            pos_slot,
            batch,
            seq,
        };
        scorer.set_weights(weights)?;
        Ok(scorer)
    }

    /// Binds new weights (the reward model's after more training steps).
    pub fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()> {
        let bound = bind_params(&self.func, weights, Precision::F32)?;
        let placeholder = Tensor::scalar_i32(0);
        self.args = bound
            .into_iter()
            .map(|slot| slot.unwrap_or_else(|| placeholder.clone()))
            .collect();
        Ok(())
    }

    /// Binds the parameters among a training step's state (by name; optimizer moments
    /// and other names are ignored).
    pub fn set_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let weights = state
            .iter()
            .filter(|(n, _)| !n.starts_with("opt."))
            .map(|(n, t)| NamedTensor::new(n, t.shape().to_vec(), t.to_f32_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.set_weights(&weights)
    }

    /// Longest sequence it scores.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// The reward of every sequence, in order (any count: the last batch is padded with
    /// copies of the first sequence, whose rewards are dropped).
    pub fn score(&mut self, seqs: &[&[u32]]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(self.batch) {
            let mut rows: Vec<&[u32]> = chunk.to_vec();
            rows.resize(self.batch, chunk[0]);
            let (tokens, pos) = score_rows(&rows, self.seq)?;
            self.args[self.tokens_slot] = tokens;
            self.args[self.pos_slot] = pos;
            let r = run_function(&self.func, &self.args, Precision::F32)?;
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
