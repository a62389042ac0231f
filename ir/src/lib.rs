//! llc-ir: the tensor IR of llc-train.
//!
//! A [`Module`] holds [`Function`]s; a function is a petgraph dataflow graph of [`Node`]s,
//! each one [`Op`] from a closed set with a static [`TensorType`]. Every stage of the
//! compiler reads and writes this IR, prints it in the `.ir` text format and can run it on
//! the reference interpreter.

pub mod artifact;
pub mod builder;
pub mod dtype;
pub mod error;
pub mod fsutil;
pub mod graph;
pub mod infer;
pub mod json;
pub mod op;
pub mod plan;
pub mod stats;
pub mod text;
pub mod verify;

pub use builder::Builder;
pub use dtype::{DType, MAX_ELEMENTS, TensorType};
pub use error::{IrError, Result, Span};
pub use graph::{Function, Module, Node, NodeId, Output};
pub use json::{from_json, to_json};
pub use op::{
    ArgRole, AttnOperand, BinaryOp, CmpOp, CollectiveKind, Op, Real, ReduceKind, UnaryOp,
};
pub use stats::{FunctionStats, function_stats, human_bytes, human_count};
pub use text::{
    parse_function, parse_module, parse_module_bytes, parse_module_unverified, print_function,
    print_module,
};
pub use verify::{SpanMap, verify_function, verify_module};
