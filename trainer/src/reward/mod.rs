//! The reward model (Llama 2, §3.2.2): preference pairs, the ranking-loss batches, and a
//! scorer for held-out metrics, `rm score`, rejection sampling and PPO.

pub mod pairs;
pub mod rejection;
pub mod scorer;

pub use pairs::{
    EncodedPair, PairLoader, PreferencePair, Rating, encode_pairs, encode_scored, pair_batch,
    read_pairs, score_rows, split_held_out,
};
pub use rejection::{PromptSamples, RejectionStats, rejection_stats, sample_and_score};
pub use scorer::{PairMetrics, RewardScorer, pair_metrics, rewards_function};
