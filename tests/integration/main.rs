//! Root integration tests: the `llc-train` binary and the cross-crate compile path end to
//! end. One test binary, because every binary that reaches llc-codegen links MLIR
//! statically.
//!
//! - [`artifact`]: the compile path from a Llama preset to an artifact directory, every
//!   kernel accepted by codegen and assembled by ptxas, atomic writes;
//! - [`plan_exec`]: the artifact run by the CPU plan executor against the interpreter;
//! - [`compiler_cli`], [`train_cli`]: the `model`, `compile` and `train` commands.

mod artifact;
mod common;
mod compiler_cli;
mod plan_exec;
mod support;
mod train_cli;
