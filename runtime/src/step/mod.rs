//! The executors' training-step interface: step backends (the interpreter, the compiled
//! plan on the CPU; the CUDA runtime in `cuda`) behind one trait. The training loop
//! around it (data, metrics, validation, checkpoints) is `llc_trainer::Trainer`.

mod backend;
mod cpu;
mod plan;

pub use backend::{Batch, StepBackend, StepMetrics};
pub use cpu::CpuBackend;
pub use plan::PlanBackend;
