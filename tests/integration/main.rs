//! Cross-crate integration tests: one binary (every root test binary links MLIR).
//!
//! - [`artifact`]: the compile path from a Llama preset to an artifact directory, every
//!   kernel accepted by codegen and assembled by ptxas, atomic writes;
//! - [`plan_exec`]: the artifact run by the CPU plan executor against the interpreter.

mod artifact;
mod common;
mod plan_exec;
