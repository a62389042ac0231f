//! Training: step backends (the CPU interpreter here; the CUDA runtime in `cuda`) behind
//! one trait, and one loop for data, metrics, validation and checkpoints on every device.

mod backend;
mod cpu;
mod trainer;

pub use backend::{Batch, StepBackend, StepMetrics};
pub use cpu::CpuBackend;
pub use trainer::{CheckpointSink, RunSummary, TrainEvent, TrainOptions, Trainer, to_step_batch};
