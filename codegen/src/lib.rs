//! llc-codegen: lowers kernels through MLIR to PTX.
