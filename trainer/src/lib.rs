//! llc-trainer: the training application around the executors of `llc-runtime`: data
//! (tokenizers, token shards, loaders, SFT), checkpoints (Hugging Face directories, with
//! model shapes from `llc-models`), metrics logs and plots, the training loop, and text
//! generation.

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod forward;
pub mod generate;
pub mod metrics;
pub mod ppo;
pub mod reward;
pub mod trainer;

pub use error::TrainerError;
pub use trainer::{
    BatchSource, CheckpointSink, ExtraEval, RunSummary, Shard, TokenBatches, TrainEvent,
    TrainOptions, Trainer, checkpoint_of_backend, load_checkpoint_for, params_of_state,
    restore_backend, to_step_batch,
};
