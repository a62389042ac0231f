//! GEMMs around concatenations. Horizontal fusion makes one matmul out of several that
//! share an operand (`x @ [Wq; Wk; Wv]^T`, then slices), which on a GPU would need
//! strided slices or copies. Each such matmul is instead issued as several GEMMs on the
//! concatenated pieces, which are separate buffers already:
//!
//! - **N-split**: `C = A @ concat(B_i)` read only through column slices `C_i` gives one
//!   GEMM `C_i = A @ B_i` per slice (A is read once per piece);
//! - **M-split**: `C = concat(A_i) @ B` read only through row slices gives
//!   `C_i = A_i @ B` (weight gradients of a fused projection);
//! - **K-split**: `C = concat(A_i) @ concat(B_i)` along the contraction gives
//!   `C = sum_i A_i @ B_i`, GEMMs accumulating into one output (`beta = 1` after the first).
//!
//! Each slice must be exactly one piece of the concatenation. The concats and the
//! matmul whose uses all become split GEMMs are never materialized.

use llc_ir::{Function, NodeId, Op};
use std::collections::{HashMap, HashSet};

/// One GEMM of a split: `c (+)= op(a) op(b)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub a: NodeId,
    pub b: NodeId,
    pub ta: bool,
    pub tb: bool,
}

/// Split decisions for a function.
#[derive(Clone, Debug, Default)]
pub(crate) struct Splits {
    /// Output node -> the GEMMs that compute it (summed when more than one).
    pub parts: HashMap<NodeId, Vec<Part>>,
    /// Nodes that need no buffer: split matmuls read only through slices, and concats
    /// read only by split GEMMs.
    pub absorbed: HashSet<NodeId>,
}

/// `(operand, start, end)` along `axis` for a concat node, if `c` is one on that axis;
/// operands that are concats on the same axis are opened up too.
fn pieces(f: &Function, c: NodeId, axis: usize) -> Option<Vec<(NodeId, usize, usize)>> {
    match f.node(c).op {
        Op::Concat { axis: a } if a == axis => {}
        _ => return None,
    }
    let mut out = Vec::new();
    let mut at = 0;
    for o in f.operands(c) {
        let n = f.ty(o).shape[axis];
        match pieces(f, o, axis) {
            Some(inner) => out.extend(inner.into_iter().map(|(x, s, e)| (x, s + at, e + at))),
            None => out.push((o, at, at + n)),
        }
        at += n;
    }
    Some(out)
}

/// Slices of `mm` along `axis`, each `(slice, start, end)`, if those are all its uses.
fn slice_users(
    f: &Function,
    mm: NodeId,
    axis: usize,
    results: &HashSet<NodeId>,
) -> Option<Vec<(NodeId, usize, usize)>> {
    if results.contains(&mm) {
        return None;
    }
    let users = f.users(mm);
    if users.is_empty() {
        return None;
    }
    users
        .into_iter()
        .map(|u| match f.node(u).op {
            Op::Slice {
                axis: a,
                start,
                end,
            } if a == axis => Some((u, start, end)),
            _ => None,
        })
        .collect()
}

/// The piece covering exactly `[s, e)`.
fn piece_at(ps: &[(NodeId, usize, usize)], s: usize, e: usize) -> Option<NodeId> {
    ps.iter()
        .find(|&&(_, a, b)| a == s && b == e)
        .map(|&(o, _, _)| o)
}

/// Decide the splits of every matmul of `f`.
pub(crate) fn find_splits(f: &Function, order: &[NodeId]) -> Splits {
    let results: HashSet<NodeId> = f.outputs().iter().map(|o| o.node).collect();
    let mut s = Splits::default();
    // Concat -> whether some use of it is not a split operand.
    let mut concat_sources: HashMap<NodeId, usize> = HashMap::new();
    for &mm in order {
        let Op::MatMul {
            transpose_lhs: ta,
            transpose_rhs: tb,
        } = f.node(mm).op
        else {
            continue;
        };
        let ops = f.operands(mm);
        let (a, b) = (ops[0], ops[1]);
        let (ra, rb, rc) = (f.ty(a).rank(), f.ty(b).rank(), f.ty(mm).rank());
        if rb != 2 {
            continue;
        }
        let n_axis_b = if tb { 0 } else { 1 };
        let k_axis_b = 1 - n_axis_b;
        let m_axis_a = if ta { ra - 1 } else { ra - 2 };
        let k_axis_a = if ta { ra - 2 } else { ra - 1 };
        // N-split.
        if let (Some(bp), Some(sl)) = (pieces(f, b, n_axis_b), slice_users(f, mm, rc - 1, &results))
            && let Some(parts) = sl
                .iter()
                .map(|&(c, st, en)| piece_at(&bp, st, en).map(|p| (c, p)))
                .collect::<Option<Vec<_>>>()
        {
            for (c, p) in parts {
                s.parts.insert(c, vec![Part { a, b: p, ta, tb }]);
            }
            s.absorbed.insert(mm);
            *concat_sources.entry(b).or_default() += 1;
            continue;
        }
        // M-split (rank-2 operands only: rows of C are rows of op(A)).
        if ra == 2
            && let (Some(ap), Some(sl)) =
                (pieces(f, a, m_axis_a), slice_users(f, mm, rc - 2, &results))
            && let Some(parts) = sl
                .iter()
                .map(|&(c, st, en)| piece_at(&ap, st, en).map(|p| (c, p)))
                .collect::<Option<Vec<_>>>()
        {
            for (c, p) in parts {
                s.parts.insert(c, vec![Part { a: p, b, ta, tb }]);
            }
            s.absorbed.insert(mm);
            *concat_sources.entry(a).or_default() += 1;
            continue;
        }
        // K-split.
        if (!ta || ra == 2)
            && let (Some(ap), Some(bp)) = (pieces(f, a, k_axis_a), pieces(f, b, k_axis_b))
            && ap.len() == bp.len()
            && ap.iter().zip(&bp).all(|(x, y)| (x.1, x.2) == (y.1, y.2))
        {
            let parts = ap
                .iter()
                .zip(&bp)
                .map(|(x, y)| Part {
                    a: x.0,
                    b: y.0,
                    ta,
                    tb,
                })
                .collect();
            s.parts.insert(mm, parts);
            *concat_sources.entry(a).or_default() += 1;
            *concat_sources.entry(b).or_default() += 1;
        }
    }
    // A concat is absorbed when every use of it is a split GEMM or an absorbed concat
    // that opened it up.
    let mut work: Vec<NodeId> = concat_sources.keys().copied().collect();
    work.sort_unstable();
    while let Some(c) = work.pop() {
        if s.absorbed.contains(&c)
            || results.contains(&c)
            || concat_sources.get(&c).copied().unwrap_or(0) != f.use_count(c)
        {
            continue;
        }
        s.absorbed.insert(c);
        let Op::Concat { axis } = f.node(c).op else {
            continue;
        };
        for o in f.operands(c) {
            if matches!(f.node(o).op, Op::Concat { axis: a } if a == axis) {
                *concat_sources.entry(o).or_default() += 1;
                work.push(o);
            }
        }
    }
    s
}
