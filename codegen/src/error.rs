//! The codegen crate's error type.

use llc_ir::fsutil::FsError;
use thiserror::Error;

/// Everything that can go wrong compiling a step into an artifact: the back half's
/// passes (their own typed [`llc_passes::PassError`]), kernel planning and emission,
/// MLIR, native code, and writing the artifact.
#[derive(Debug, Error)]
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
    /// The PTX could not be written for ptxas.
    #[error("ptxas: cannot write its input: {0}")]
    PtxasIo(#[source] FsError),
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
    /// A file operation of native code generation (the linker's scratch files) failed.
    #[error("native code ({stage}): {source}")]
    NativeIo {
        /// Which stage failed.
        stage: &'static str,
        /// The file and the operating system's error.
        #[source]
        source: FsError,
    },
    /// A pass before or after codegen (attention lowering, packing, partitioning, memory
    /// planning) failed; the pass's error names the pass and the value.
    #[error(transparent)]
    Pass(#[from] llc_passes::PassError),
    /// The assembled plan does not validate: a bug in plan assembly.
    #[error("the assembled plan is invalid: {0}")]
    InvalidPlan(#[source] llc_ir::IrError),
    /// A kernel parameter got an arena offset the kernels cannot address (they use
    /// 16-byte vector accesses).
    #[error(
        "memory plan: step {step} ({kernel}) gets buffer %{buffer} at offset {offset}, which is not {align}-byte aligned"
    )]
    Misaligned {
        /// The plan step.
        step: usize,
        /// The kernel it runs.
        kernel: String,
        /// The buffer's name.
        buffer: String,
        /// Its offset in the arena.
        offset: u64,
        /// The alignment kernels need.
        align: u64,
    },
    /// A file of the artifact could not be serialized.
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// The file.
        what: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing the artifact directory failed (nothing was replaced).
    #[error("cannot write the artifact: {0}")]
    Write(#[from] FsError),
    /// `--dump-after` named no pass of the compiler.
    #[error("no pass named `{name}` (passes: {available})")]
    UnknownPass {
        /// The name asked for.
        name: String,
        /// Every pass name, in pipeline order.
        available: String,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = CodegenError> = std::result::Result<T, E>;
