//! Root integration tests, in one test binary: every root test binary links MLIR
//! statically, and links are the slow part of a build.

mod common;
mod grad_cmd;
mod hf_interop;
mod sample_cmd;
