//! The runtime crate's error type.

use llc_ir::IrError;
use thiserror::Error;

/// Everything that can go wrong building tensors or executing a function.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// A tensor was built from a buffer whose length does not match its shape.
    #[error("tensor of shape {shape:?} needs {expected} elements, got {got}")]
    DataLength {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    /// The function was called with the wrong number of arguments.
    #[error("@{func} takes {expected} argument{}, got {got}", if *.expected == 1 { "" } else { "s" })]
    ArgCount {
        func: String,
        expected: usize,
        got: usize,
    },
    /// An argument's shape or element type does not match the function's signature.
    #[error("@{func}: argument {index} %{arg} must be {expected}, got {got}")]
    ArgMismatch {
        func: String,
        index: usize,
        arg: String,
        expected: String,
        got: String,
    },
    /// An index (gather row, scatter row, cross-entropy target) is outside its table.
    #[error("%{node} = {op}: index {index} at position {position:?} is outside 0..{bound}")]
    IndexOutOfRange {
        node: String,
        op: String,
        index: i64,
        position: Vec<usize>,
        bound: usize,
    },
    /// Integer division by zero.
    #[error("%{node} = {op}: integer division by zero at flat position {position}")]
    DivisionByZero {
        node: String,
        op: String,
        position: usize,
    },
    /// An operand value does not have the element type the op needs (only possible for
    /// functions that were not verified, or tensors built by hand).
    #[error("%{node} = {op}: {msg}")]
    Type {
        node: String,
        op: String,
        msg: String,
    },
    /// The function itself is malformed (it failed verification).
    #[error("invalid function: {0}")]
    Invalid(#[from] IrError),
    /// The CUDA backend failed (no GPU, wrong target, out of memory, a failed kernel).
    #[error("cuda: {0}")]
    Cuda(#[from] crate::cuda::CudaError),
    /// A collective between data-parallel ranks failed.
    #[error(transparent)]
    Comm(#[from] crate::comm::CommError),
    /// An execution plan could not be loaded or run (bad artifact, missing kernel,
    /// unknown argument, a value that does not fit its buffer).
    #[error("plan: {0}")]
    Plan(String),
}

/// Result alias for the runtime crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
