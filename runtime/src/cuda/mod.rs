//! The CUDA backend: runs a compiled artifact (`plan.json` + `kernels.ptx`) on an NVIDIA
//! GPU through cudarc. The driver and CUDA libraries are loaded at run time, so this
//! builds on machines without CUDA; without a GPU every entry point returns a clear
//! [`CudaError`] (see [`CudaError::is_unavailable`]) instead of panicking.
//!
//! - [`cuda_available`]: is there a GPU (for `--backend auto`).
//! - [`CudaBackend`]: the [`crate::step::StepBackend`] for training on a GPU.
//! - [`check::run_checks`]: the CUDA backend against the CPU interpreter and plan executor.
//! - [`bench::run`]: ms/step, tokens/s, MFU and memory of a training step.
//!
//! What does not need a device (reading the artifact, checking the plan against the PTX
//! and the device's limits, GEMM translation, FLOP counts, reports) is built and tested
//! in every configuration; what does is behind the `cuda` feature.

pub mod artifact;
pub mod bench;
pub mod check;
mod device;
mod error;
pub mod flops;
pub mod gemm_call;
pub mod host;
pub mod moves;
mod options;
pub mod program;
pub mod ptx;

#[cfg(feature = "cuda")]
mod backend;
#[cfg(feature = "cuda")]
mod exec;
#[cfg(feature = "cuda")]
mod gemm;
#[cfg(feature = "cuda")]
mod module;

pub use artifact::Artifact;
pub use device::{DeviceInfo, cuda_available, device_info};
pub use error::CudaError;
pub use options::{CudaOptions, GemmEngine};

#[cfg(feature = "cuda")]
pub use backend::CudaBackend;
