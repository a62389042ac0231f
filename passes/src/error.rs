//! The passes crate's error type: one enum, each variant naming the pass, function and
//! value involved so a failed compile says where it went wrong.

use llc_ir::plan::KernelClass;
use llc_ir::{IrError, TensorType};
use thiserror::Error;

/// Everything that can go wrong running a pass or a pipeline.
#[derive(Debug, Error, Clone)]
pub enum PassError {
    /// The module has no function of that name.
    #[error("{pass}: the module has no function @{func} (it has: {available})")]
    NoSuchFunction {
        pass: &'static str,
        func: String,
        available: String,
    },
    /// A function has no result of that name.
    #[error("{pass}: @{func} has no result named %{name}")]
    NoSuchOutput {
        pass: &'static str,
        func: String,
        name: String,
    },
    /// The value to differentiate is not a float scalar.
    #[error("{pass}: @{func} result %{name} must be a float scalar to differentiate, got {ty}")]
    LossNotScalar {
        pass: &'static str,
        func: String,
        name: String,
        ty: TensorType,
    },
    /// A trainable parameter with a type autodiff cannot differentiate.
    #[error("{pass}: @{func} parameter %{name} has type {ty}; parameters must be float")]
    NonFloatParam {
        pass: &'static str,
        func: String,
        name: String,
        ty: TensorType,
    },
    /// A value on the path from a parameter to the loss is made by an op that has no
    /// VJP rule (the `*_grad` ops: the pipeline differentiates once).
    #[error(
        "autodiff: @{func} %{node} = {op} ({operand_types}) lies between a parameter and the loss, but `{op}` is not differentiable"
    )]
    NotDifferentiable {
        func: String,
        node: String,
        op: &'static str,
        operand_types: String,
    },
    /// An option of a pass is out of range.
    #[error("{pass}: invalid option: {msg}")]
    InvalidConfig { pass: &'static str, msg: String },
    /// `dump_after` (or another pipeline lookup) named a pass the pipeline does not run.
    #[error("no pass named `{name}` in the pipeline (passes: {available})")]
    UnknownPass { name: String, available: String },
    /// The verifier rejected the module after a pass: a bug in that pass.
    #[error("the module does not verify after pass `{pass}`: {source}")]
    Verify {
        pass: &'static str,
        #[source]
        source: IrError,
    },
    /// An IR operation failed while a pass rewrote the graph.
    #[error("{0}")]
    Ir(#[from] IrError),
    /// The target refused a kernel the partitioner built (its reason is the source).
    #[error(
        "partition: @{func}: target {target} cannot compile kernel `{kernel}` as a {class} kernel: {source}"
    )]
    KernelRefused {
        func: String,
        target: String,
        kernel: String,
        class: KernelClass,
        #[source]
        source: crate::partition::Refusal,
    },
    /// Lowering the step to kernels, GEMMs and a memory plan failed (partitioning,
    /// memory planning, attention lowering).
    #[error("{pass}: @{func}: {msg}")]
    Lowering {
        pass: &'static str,
        func: String,
        msg: String,
    },
}

/// Result alias for passes.
pub type Result<T, E = PassError> = std::result::Result<T, E>;
