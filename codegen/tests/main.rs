//! Codegen's integration tests, as one test binary: every binary that reaches codegen links
//! MLIR statically (hundreds of MB each), so one link instead of eight keeps a clean build
//! small and fast.

mod common;

mod api;
mod compile_time;
mod cpu_numeric;
mod driver;
mod edge_cases;
mod kernel_target;
mod layout_ops;
mod math;
mod ptxas;
mod snapshots;
