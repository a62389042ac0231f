//! Root integration tests: the `llc-train` binary end to end. One test binary, because
//! every binary that reaches llc-codegen links MLIR statically.

mod compiler_cli;
mod support;
mod train_cli;
