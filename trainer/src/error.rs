//! The trainer crate's error type: the application's sub-errors (data, checkpoints,
//! metrics, generation) and the executors' [`RuntimeError`], each carried typed, and the
//! training loop's own failures with their context.

use std::path::PathBuf;

use llc_runtime::RuntimeError;
use thiserror::Error;

use crate::checkpoint::CheckpointError;
use crate::data::DataError;
use crate::generate::GenerateError;
use crate::metrics::MetricsError;

/// Everything that can go wrong in a training run or the application around it.
#[derive(Debug, Error)]
pub enum TrainerError {
    /// An executor (interpreter, plan executor, CUDA backend, a collective) failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Reading or writing training data (tokenizers, shards, loaders).
    #[error(transparent)]
    Data(#[from] DataError),
    /// Writing or reading a checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Writing or reading the metrics log.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Sampling text from a model.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// A data-parallel rank's share of a global batch is not a whole number of rows.
    #[error("training: rank {rank} of {world}: a batch of {rows} rows does not split evenly")]
    UnevenShard {
        rank: usize,
        world: usize,
        rows: usize,
    },
    /// A resume with another number of data-parallel ranks than the checkpoint's run.
    #[error(
        "training: checkpoint in {} was trained on {saved_world} rank{}, this run has {world}: resume with `mpirun -np {saved_world}` (each rank's share of the data depends on the number of ranks)",
        dir.display(),
        if *.saved_world == 1 { "" } else { "s" }
    )]
    WorldMismatch {
        dir: PathBuf,
        saved_world: u64,
        world: usize,
    },
    /// A checkpoint without the optimizer state an exact resume needs.
    #[error(
        "training: checkpoint in {} has no optimizer state; an exact resume needs it",
        dir.display()
    )]
    NoOptimizerState { dir: PathBuf },
    /// A checkpoint's step count does not fit the step's `i32` counter.
    #[error("training: step counter overflows i32 (checkpoint at step {step})")]
    StepCounterOverflow { step: u64 },
    /// A model graph could not be built (bad options for this config).
    #[error(transparent)]
    Model(#[from] llc_models::ModelError),
    /// A sequence to score does not fit the reward model's positions (or is empty).
    #[error("reward model: a sequence of {tokens} tokens does not fit its {limit} positions")]
    ScoredSequence { tokens: usize, limit: usize },
    /// Fewer preference pairs than one batch.
    #[error("reward model: {pairs} preference pairs do not make one batch of {batch}")]
    TooFewPairs { pairs: usize, batch: usize },
    /// A stage that trains on one rank only was started on several.
    #[error("{what} trains on one rank; this run has {world}")]
    SingleRankOnly { what: &'static str, world: usize },
    /// PPO options that do not fit together (batch sizes, lengths).
    #[error("ppo: {msg}")]
    PpoOptions { msg: String },
    /// A checkpoint a PPO run cannot continue from.
    #[error("ppo: cannot resume from {}: {msg}", dir.display())]
    PpoResume { dir: PathBuf, msg: String },
    /// The loss became NaN or infinite.
    #[error(
        "training: the loss is {loss} at step {step}: training diverged (lower --lr or raise --warmup-steps)"
    )]
    Diverged { loss: f64, step: u64 },
}

/// Result alias for the trainer crate.
pub type Result<T, E = TrainerError> = std::result::Result<T, E>;
