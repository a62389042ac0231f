//! llc-runtime: executes IR on the CPU (reference interpreter) and on CUDA GPUs.

pub mod checkpoint;
pub mod data;
pub mod metrics;
