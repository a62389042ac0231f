//! The types the partitioner and the runtime exchange with codegen.

use crate::target::Target;
use llc_ir::{Function, TensorType};
use serde::{Deserialize, Serialize};

/// A kernel to compile: the partitioner's function for it (arguments are the buffers it
/// reads, all role `input`; outputs are the buffers it writes) and the name the runtime
/// knows it by.
#[derive(Clone, Debug)]
pub struct KernelSpec<'a> {
    /// How the runtime refers to the kernel (any text; entries get a sanitized form).
    pub name: String,
    /// The kernel's computation.
    pub func: &'a Function,
}

/// Which strategy compiles a kernel (see the crate docs for the exact rules): the plan's
/// own kernel classes, one definition for the compiler and the runtimes (codegen never
/// produces [`KernelClass::Single`]).
pub use llc_ir::plan::KernelClass;

/// A launch configuration (grid, block, shared memory): the plan's own type. On a GPU the
/// entry is compiled for exactly this block size and uses static shared memory only
/// (`shared_mem_bytes` is 0); on a CPU blocks are 1×1×1 and the grid is the block range.
pub use llc_ir::plan::LaunchDims;

/// What a kernel parameter is bound to: the plan's own type. Every parameter is one
/// pointer to a dense row-major buffer, at least 16-byte aligned on a GPU (kernels use
/// 16-byte vector loads there).
pub use llc_ir::plan::ParamRef;

/// One launch of a PTX entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelLaunch {
    /// The PTX entry (`.entry` name); structurally identical kernels share one.
    pub entry: String,
    /// How to launch it.
    pub launch: LaunchDims,
    /// The entry's parameters, in order.
    pub params: Vec<ParamRef>,
}

/// How to run one [`KernelSpec`]: its launches, in order, and the scratch buffers they
/// pass values through. Most kernels are one launch and no scratch; a reduction whose
/// operand needs row statistics (`rms_norm_grad_w`) or that has too few outputs to fill
/// the GPU (a sum to a scalar) runs as two or three launches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledKernel {
    /// The spec's name.
    pub name: String,
    /// The strategy that compiled it.
    pub class: KernelClass,
    /// The launches, to run in order.
    pub launches: Vec<KernelLaunch>,
    /// Buffers the runtime allocates for this kernel (uninitialized; each is written by
    /// one launch before a later launch reads it).
    pub scratch: Vec<TensorType>,
}

/// The result of [`crate::compile_kernels`]: one module holding every distinct kernel,
/// as PTX for a GPU target or as a shared object for a CPU target.
#[derive(Clone, Debug)]
pub struct CompiledModule {
    /// The machine the code is for.
    pub target: Target,
    /// PTX text for a GPU `target`, loadable with `cuModuleLoadData` (empty for a CPU).
    pub ptx: String,
    /// Native code for a CPU `target` (`None` for a GPU).
    pub native: Option<crate::native::NativeModule>,
    /// The `gpu.module` before lowering, as MLIR prints it (for dumps and snapshots).
    pub mlir: String,
    /// One entry per spec, in spec order.
    pub kernels: Vec<CompiledKernel>,
    /// How many distinct PTX entries the module has (after dedupe).
    pub entries: usize,
}
