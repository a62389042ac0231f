//! What each node becomes (buffer, view, GEMM, inlined constant, part of a kernel), as
//! the fusion policy sees it. The kernel classes it heads each group for:
//!
//! - **elementwise**: one element count `N`; elementwise ops (with `rope` and the swiglu
//!   ops), data movement (`transpose`, strided `slice`, `concat`, `gather`), constants.
//! - **row**: last-axis reductions or fused row ops (`rms_norm`, `rms_norm_grad_x`,
//!   `softmax`, `softmax_grad`, `cross_entropy`, `cross_entropy_grad`) over `R` rows of
//!   width `D`, with elementwise prologue and epilogue on `[R, D]` or per-row `[R]` values.
//! - **reduction**: one other reduction (column sums such as `rms_norm_grad_w`, full
//!   reductions to a scalar, a last-axis reduction of a single row) with an elementwise
//!   prologue and epilogue.
//! - **scatter**: one `scatter_add`.
//! - **single**: one op in no class above (unlowered attention).
//!
//! Whether a group really may be one kernel of its class is the target's answer
//! ([`super::KernelTarget`]), not decided here.

use llc_ir::{Function, NodeId, Op, ReduceKind};

/// What a node of the partitioned function becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// A function argument: a persistent buffer.
    Arg,
    /// A matmul: a GEMM library call writing a buffer.
    Gemm,
    /// Shares its operand's bytes (reshape, contiguous slice).
    View,
    /// A concat along an axis with nothing but size-1 dims before it: a view when its
    /// operands can be placed back to back, else a copy kernel.
    ConcatCandidate,
    /// A pure function of element indices (`full`, `iota`, and broadcasts, casts and
    /// elementwise math of those): cloned into every kernel that uses it.
    ConstLike,
    /// A broadcast of a computed value: cloned into each kernel that reads it (the
    /// kernel reads the operand through the broadcast).
    Broadcast,
    /// An elementwise op (elementwise class).
    Elementwise,
    /// `rope`: elementwise class, but reads a kernel input directly.
    Rope,
    /// `transpose`: elementwise class (an index permutation); may join the kernel that
    /// computes its operand.
    Transpose,
    /// A strided `slice`, a `concat` that is not a view, a `gather`: elementwise class
    /// over its result, reading kernel inputs; starts a kernel that consumers may join.
    Movement,
    /// `scatter_add`: a kernel of its own (zero, then atomic adds).
    Scatter,
    /// A last-axis reduction or a fused row op (row class).
    RowOp,
    /// Any other reduction (reduction class).
    ReduceOp,
    /// One op per kernel (single class).
    Single,
    /// Needs no buffer and no step: a matmul or concat replaced by split GEMMs.
    Absorbed,
}

/// Product of a shape's dims.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Whether a slice along `axis` of `shape` is one contiguous run of memory.
pub(crate) fn slice_is_contiguous(shape: &[usize], axis: usize) -> bool {
    numel(&shape[..axis]) == 1
}

/// Classify every node of `f` (indexed by node index; removed indices are `Arg`).
pub(crate) fn classify_nodes(f: &Function, order: &[NodeId]) -> Vec<NodeKind> {
    let bound = order.iter().map(|n| n.index() + 1).max().unwrap_or(0);
    let mut kind = vec![NodeKind::Arg; bound];
    for &n in order {
        let node = f.node(n);
        let ops = f.operands(n);
        let all_const =
            !ops.is_empty() && ops.iter().all(|o| kind[o.index()] == NodeKind::ConstLike);
        kind[n.index()] = match &node.op {
            Op::Arg { .. } => NodeKind::Arg,
            Op::Full { .. } | Op::Iota { .. } => NodeKind::ConstLike,
            Op::MatMul { .. } => NodeKind::Gemm,
            Op::Reshape => NodeKind::View,
            Op::Slice { axis, .. } => {
                if slice_is_contiguous(&f.ty(ops[0]).shape, *axis) {
                    NodeKind::View
                } else {
                    NodeKind::Movement
                }
            }
            Op::Concat { axis } => {
                if slice_is_contiguous(&node.ty.shape, *axis) {
                    NodeKind::ConcatCandidate
                } else {
                    NodeKind::Movement
                }
            }
            Op::Transpose { .. } => NodeKind::Transpose,
            Op::Gather => NodeKind::Movement,
            Op::ScatterAdd => NodeKind::Scatter,
            Op::Broadcast if all_const => NodeKind::ConstLike,
            Op::Broadcast => NodeKind::Broadcast,
            op if op.is_elementwise() && all_const => NodeKind::ConstLike,
            op if op.is_elementwise() => NodeKind::Elementwise,
            Op::Rope { .. } => NodeKind::Rope,
            // A last-axis reduction over more than one row; a single row is a full
            // reduction (reduction class: many blocks share it, nothing row-shaped joins).
            Op::Reduce { axes, .. }
                if is_last_axis(axes, f.ty(ops[0]).rank())
                    && f.ty(ops[0]).numel() > f.ty(ops[0]).shape.last().copied().unwrap_or(1) =>
            {
                NodeKind::RowOp
            }
            Op::Reduce { .. } | Op::RmsNormGradW { .. } => NodeKind::ReduceOp,
            Op::RmsNorm { .. }
            | Op::RmsNormGradX { .. }
            | Op::Softmax
            | Op::SoftmaxGrad
            | Op::CrossEntropy
            | Op::CrossEntropyGrad => NodeKind::RowOp,
            _ => NodeKind::Single,
        };
    }
    kind
}

fn is_last_axis(axes: &[usize], rank: usize) -> bool {
    rank >= 1 && axes == [rank - 1]
}

/// `(rows, width)` of a row op: the main operand's last dim and how many rows it has.
pub(crate) fn row_dims(f: &Function, n: NodeId) -> (usize, usize) {
    let x = &f.ty(f.operands(n)[0]).shape;
    let d = x.last().copied().unwrap_or(1);
    (numel(x) / d.max(1), d)
}

/// Whether `shape` is a row-shaped value of a `rows x width` row kernel: either the
/// full row layout (`numel = rows * width`, last dim `width`) or one value per row.
pub(crate) fn is_row_shape(shape: &[usize], rows: usize, width: usize) -> bool {
    let n = numel(shape);
    (n == rows * width && shape.last() == Some(&width)) || n == rows
}

/// Whether `broadcast(x: from) -> to` copies a per-row value along the last axis of a
/// `rows x width` layout: leading dims kept, last dim 1 expanded to `width`.
pub(crate) fn is_row_broadcast(from: &[usize], to: &[usize], rows: usize, width: usize) -> bool {
    if to.is_empty() || to.last() != Some(&width) || numel(to) != rows * width {
        return false;
    }
    if from.len() > to.len() {
        return false;
    }
    let pad = to.len() - from.len();
    let padded: Vec<usize> = std::iter::repeat_n(1, pad)
        .chain(from.iter().copied())
        .collect();
    let last = to.len() - 1;
    padded[last] == 1 && (0..last).all(|i| padded[i] == to[i])
}

/// A short name for the op a kernel is built around, for kernel names.
pub(crate) fn op_label(op: &Op) -> &'static str {
    match op {
        Op::Reduce {
            kind: ReduceKind::Sum,
            ..
        } => "sum",
        Op::Reduce {
            kind: ReduceKind::Max,
            ..
        } => "max",
        other => other.name(),
    }
}
