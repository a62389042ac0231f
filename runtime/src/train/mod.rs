//! Training: step backends (the interpreter, the compiled plan on the CPU; the CUDA
//! runtime in `cuda`) behind
//! one trait, and one loop for data, metrics, validation and checkpoints on every device.

mod backend;
mod cpu;
mod plan;
mod trainer;

pub use backend::{Batch, StepBackend, StepMetrics};
pub use cpu::CpuBackend;
pub use plan::PlanBackend;
pub use trainer::{
    CheckpointSink, RunSummary, Shard, TrainEvent, TrainOptions, Trainer, to_step_batch,
};
