//! Partitioning: the step function becomes an ordered [`Program`] of
//!
//! - **GEMM library calls** (cuBLASLt-style descriptors, see [`Gemm`]) for every matmul;
//!   a rank-2 right-hand side shared by a batch becomes one GEMM over the flattened batch;
//! - **kernels**: fused groups in the classes codegen emits (elementwise chains, a row
//!   reduction with its prologue and epilogue, other reductions, single data-movement
//!   ops), each distinct kernel once (identical layers share kernels);
//! - **views** that cost nothing: reshapes, contiguous slices, and concats whose operands
//!   are placed back to back (see [`Program::blocks`]).
//!
//! Before grouping, [`crate::lower_attention`] turns `attention`/`attention_grad` into
//! GEMMs and row work, and [`pack_step`] rewrites the per-parameter optimizer updates
//! into one update per class of parameters over packed (back-to-back) parameters,
//! gradients and moments, and the global-norm reduction likewise.
//!
//! ## Fusion policy
//! Nodes are visited in topological order. An elementwise node joins the kernel of an
//! operand when the sizes match that kernel's class (same element count; for a row
//! kernel a `[R, D]` or per-row `[R]` value) and no cycle between kernels would follow,
//! and pulls other same-size elementwise operand kernels in with it. A row op or a
//! reduction starts a kernel, or takes over the elementwise kernel feeding it as its
//! prologue when that kernel computes nothing else anyone needs. Constants and
//! broadcasts are cloned into each kernel that reads them. Finally, independent
//! same-size elementwise kernels reading a common buffer merge. Updates of arguments
//! are computed in place when the kernel reads the argument element for element; the
//! rest are copied back at the end. The class rules are in [`check_kernel_class`].

mod blocks;
mod build;
mod classify;
mod deps;
mod fuse;
mod gemm;
mod inplace;
mod kernel_fn;
mod layout;
mod pack;
mod program;
mod split;

pub use classify::check_kernel_class;
pub use deps::{step_predecessors, topological_order};
pub use kernel_fn::fingerprint;
pub use layout::{Layout, Place};
pub use pack::{PackStats, pack_step};
pub use program::{
    Gemm, Kernel, Move, Program, ProgramCounts, ProgramOutput, Step, Value, ValueId, ValueKind,
};

use crate::error::{PassError, Result};
use crate::lower_attention::lower_attention;
use llc_ir::{Function, verify_function};

/// Options of [`partition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionOptions {
    /// Rewrite `attention`/`attention_grad` into GEMMs and row kernels first (else they
    /// stay single-op kernels).
    pub lower_attention: bool,
    /// Pack optimizer updates and norm reductions (see [`pack_step`]).
    pub pack: bool,
    /// Most elements in one packed launch.
    pub max_pack_elements: usize,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            lower_attention: true,
            pack: true,
            max_pack_elements: i32::MAX as usize,
        }
    }
}

/// Partition `step` (see the module docs). The input is not changed; the rewritten
/// function is [`Program::func`].
pub fn partition(step: &Function, opts: &PartitionOptions) -> Result<Program> {
    let mut f = step.clone();
    f.remove_dead();
    if opts.lower_attention {
        lower_attention(&mut f)?;
    }
    if opts.pack {
        pack_step(&mut f, opts.max_pack_elements)?;
    }
    verify_function(&f, &Default::default()).map_err(|source| PassError::Verify {
        pass: "partition",
        source,
    })?;
    partition_prepared(&f)
}

/// Partition a function as it is (no attention lowering, no packing).
pub fn partition_prepared(f: &Function) -> Result<Program> {
    let order = f.topo_order()?;
    let mut kinds = classify::classify_nodes(f, &order);
    let splits = split::find_splits(f, &order);
    for &n in &splits.absorbed {
        kinds[n.index()] = classify::NodeKind::Absorbed;
    }
    for &n in splits.parts.keys() {
        kinds[n.index()] = classify::NodeKind::Gemm;
    }
    let mut fusion = fuse::Fusion::new(f, &order, kinds);
    fusion.run(&order);
    build::build_program(fusion, &splits, &order)
}
