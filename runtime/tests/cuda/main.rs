//! The CUDA backend's test binary.
//!
//! - `artifact`, `program`: a real tiny Llama training-step plan (built in-process by
//!   partitioning and memory planning, with a stand-in PTX module whose entries have the
//!   plan's signatures) read, checked against device limits and resolved for a GPU; every
//!   way an artifact can be wrong gives an error naming what and where. No GPU needed.
//! - `no_gpu`: on a machine without a GPU or driver, every entry point returns the
//!   "unavailable" error (never a panic), and the GPU tests below skip, saying why.
//! - `gpu`: on a machine with a GPU and prebuilt artifacts (`LLC_CUDA_ARTIFACTS=DIR` with
//!   `tiny/` and `15m/` made by `scripts/gpu-prepare.sh`), the CUDA backend against the
//!   CPU interpreter and plan executor (`llc_runtime::cuda::check`), tolerances there.

mod artifact;
mod fixture;
mod gpu;
mod moves;
mod no_gpu;
mod program;
