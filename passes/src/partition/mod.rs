//! Partitioning: the step function becomes an ordered [`Program`] of
//!
//! - **GEMM library calls** (cuBLASLt-style descriptors, see [`Gemm`]) for every matmul;
//!   a rank-2 right-hand side shared by a batch becomes one GEMM over the flattened batch;
//!   a matmul on a concatenation (horizontal fusion: `x @ [Wq; Wk; Wv]^T` then slices, and
//!   its gradients) is issued as GEMMs on the pieces (see `split`), so no slice or concat
//!   of activations is ever copied;
//! - **kernels**: fused groups in the classes codegen emits (elementwise chains with data
//!   movement, a row reduction with its prologue and epilogue, other reductions, the
//!   scatter-add), each distinct kernel once (identical layers share kernels);
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
//! and pulls other same-size elementwise operand kernels in with it. A transpose joins
//! the elementwise kernel of its operand (rope then transpose is one kernel); other data
//! movement (strided slice, concat, gather) starts an elementwise kernel that consumers
//! may join; a scatter-add is a kernel of its own. A row op or a reduction starts a
//! kernel, or takes over the elementwise kernel feeding it as its prologue when that
//! kernel computes nothing else anyone needs; a last-axis reduction of a single row is a
//! full reduction. Constants and broadcasts are cloned into each kernel that reads them.
//! Finally, independent same-size elementwise kernels reading a common buffer merge.
//! Updates of arguments are computed in place when the kernel reads the argument element
//! for element; the rest are copied back at the end.
//!
//! ## The target decides
//! These size rules are the partitioner's policy, what it proposes. What one kernel of a
//! class may hold is the target's answer ([`KernelTarget`]): every join is put to it,
//! and every finished kernel once more, so a program only holds kernels its target
//! accepted. llc-codegen answers for its GPU and CPU targets; [`InterpreterTarget`]
//! accepts everything (the interpreter runs any kernel function).

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
mod target;

pub use deps::{step_predecessors, topological_order};
pub use kernel_fn::fingerprint;
pub use layout::{Layout, Place};
pub use pack::{PackStats, pack_step};
pub use program::{
    Gemm, Kernel, Move, Program, ProgramCounts, ProgramOutput, Step, Value, ValueId, ValueKind,
};
pub use target::{InterpreterTarget, KernelTarget, Refusal};

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
    /// Issue data movement that is not a view (transposes, strided slices, concats,
    /// gathers, scatter-adds) as library steps ([`Move`]) instead of kernels.
    pub library_moves: bool,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            lower_attention: true,
            pack: true,
            max_pack_elements: i32::MAX as usize,
            library_moves: false,
        }
    }
}

/// Partition `step` into kernels `target` accepts (see the module docs). The input is
/// not changed; the rewritten function is [`Program::func`].
pub fn partition(
    step: &Function,
    opts: &PartitionOptions,
    target: &dyn KernelTarget,
) -> Result<Program> {
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
    partition_prepared(&f, opts.library_moves, target)
}

/// Partition a function as it is (no attention lowering, no packing) for `target`; see
/// [`PartitionOptions::library_moves`].
pub fn partition_prepared(
    f: &Function,
    library_moves: bool,
    target: &dyn KernelTarget,
) -> Result<Program> {
    let order = f.topo_order()?;
    let mut kinds = classify::classify_nodes(f, &order);
    let splits = split::find_splits(f, &order);
    for &n in &splits.absorbed {
        kinds[n.index()] = classify::NodeKind::Absorbed;
    }
    for &n in splits.parts.keys() {
        kinds[n.index()] = classify::NodeKind::Gemm;
    }
    let mut fusion = fuse::Fusion::new(f, &order, kinds, target);
    fusion.run(&order);
    build::build_program(fusion, &splits, &order, library_moves)
}
