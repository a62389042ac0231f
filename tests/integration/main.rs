//! Cross-crate integration tests: one binary, because every binary that reaches
//! llc-codegen links MLIR statically.
//!
//! - [`artifact`]: the compile path from a Llama preset to an artifact directory, every
//!   kernel accepted by codegen and assembled by ptxas, atomic writes;
//! - [`plan_exec`]: the artifact run by the CPU plan executor against the interpreter;
//! - [`train_cli`]: the `llc-train` binary end to end.

mod artifact;
mod common;
mod plan_exec;
mod support;
mod train_cli;
