//! The codegen crate's error type.

use thiserror::Error;

/// Everything that can go wrong turning kernels into PTX.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CodegenError {
    /// The kernel uses something no strategy handles; the message names the value and
    /// why, so the partitioner can cut the kernel differently.
    #[error("kernel `{kernel}`: {msg}")]
    Unsupported {
        /// The kernel's name.
        kernel: String,
        /// What is unsupported and where.
        msg: String,
    },
    /// The kernel function itself is malformed (it does not verify).
    #[error("kernel `{kernel}`: invalid IR: {source}")]
    InvalidIr {
        /// The kernel's name.
        kernel: String,
        /// What the verifier found.
        #[source]
        source: llc_ir::IrError,
    },
    /// A `--target` spelling that is not a supported GPU or CPU.
    #[error("unknown target `{0}`: expected sm_80, sm_90, cpu, x86-64-v3 or x86-64-v4")]
    UnknownTarget(String),
    /// MLIR rejected the generated module or a pass failed; carries MLIR's diagnostics.
    /// This is a bug in the generator, never the user's input.
    #[error("MLIR {stage} failed: {diagnostics}")]
    Mlir {
        /// What was being done (parsing, verification, lowering).
        stage: String,
        /// MLIR's diagnostics, one per line.
        diagnostics: String,
    },
    /// ptxas is missing or rejected the PTX.
    #[error("ptxas: {0}")]
    Ptxas(String),
    /// Making native code for a CPU target failed at `stage` (translation to LLVM IR,
    /// optimization, object emission, linking the shared object).
    #[error("native code ({stage}): {msg}")]
    Native {
        /// Which stage failed.
        stage: String,
        /// What went wrong.
        msg: String,
    },
    /// Running a kernel on the CPU (the numeric check flavor) failed.
    #[error("CPU kernel run: {0}")]
    Cpu(String),
    /// Building the artifact directory failed at `stage` (partitioning, memory planning,
    /// writing a file); the message names the file or value.
    #[error("artifact ({stage}): {msg}")]
    Artifact {
        /// Which stage failed.
        stage: String,
        /// What went wrong, naming the file or value.
        msg: String,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = CodegenError> = std::result::Result<T, E>;
