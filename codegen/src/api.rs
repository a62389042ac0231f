//! The types the partitioner and the runtime exchange with codegen.

use crate::target::Target;
use llc_ir::{Function, TensorType};
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// Which strategy compiles a kernel (see the crate docs for the exact rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelClass {
    /// No reductions: a grid-stride loop over the output elements.
    Elementwise,
    /// Reductions over trailing axes used back in their rows: one block per row.
    Row,
    /// Any other reduction (columns, leading axes, everything to a scalar, or a row
    /// reduction of a row reduction): one or more launches, one block per output element
    /// or per 32 output columns, split over several blocks when there are few outputs.
    Reduction,
    /// `scatter_add`: a launch zeroing the result, then atomic adds of the updates.
    Scatter,
}

impl fmt::Display for KernelClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KernelClass::Elementwise => "elementwise",
            KernelClass::Row => "row",
            KernelClass::Reduction => "reduction",
            KernelClass::Scatter => "scatter",
        })
    }
}

/// A CUDA launch configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Launch {
    /// Blocks in x, y, z.
    pub grid: [u32; 3],
    /// Threads per block in x, y, z (the entry is compiled for exactly this size).
    pub block: [u32; 3],
    /// Dynamic shared memory; kernels use static shared memory only, so this is 0.
    pub shared_mem_bytes: u32,
}

/// What a PTX kernel parameter is bound to. Every parameter is one device pointer to a
/// dense row-major buffer, at least 16-byte aligned (kernels use 16-byte vector loads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamInfo {
    /// The kernel function's argument with this index.
    Arg(usize),
    /// The kernel function's output with this index.
    Output(usize),
    /// The kernel's scratch buffer with this index ([`CompiledKernel::scratch`]).
    Scratch(usize),
}

/// One launch of a PTX entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelLaunch {
    /// The PTX entry (`.entry` name); structurally identical kernels share one.
    pub entry: String,
    /// How to launch it.
    pub launch: Launch,
    /// The entry's parameters, in order.
    pub params: Vec<ParamInfo>,
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
