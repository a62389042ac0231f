//! Training: step backends (the CPU interpreter here; the CUDA runtime in `cuda`) behind
//! one trait, so the loop, checkpoints and metrics are the same on every device.

mod backend;
mod cpu;

pub use backend::{Batch, StepBackend, StepMetrics};
pub use cpu::CpuBackend;
