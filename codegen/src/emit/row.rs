//! The row strategy: one block per row, threads striding over the row.
//!
//! Reductions are computed in levels (a level's operands only need earlier levels): each
//! level is one pass over the row in which every thread folds its elements into
//! per-lane accumulators, followed by a block-wide reduction (`gpu.all_reduce`, which
//! lowers to warp shuffles plus a shared-memory exchange between warps). The results are
//! then known for the whole row, and a last pass computes and stores the per-element
//! outputs; per-row outputs are stored by thread 0. Threads take consecutive groups of
//! `width` elements, so loads are coalesced 16-byte vectors when the row length is a
//! multiple of 4. A pass re-reads its inputs from memory (a row is usually still in L1/L2).
//!
//! Short rows (at most 8 thread steps, e.g. combining a few partial sums per output) use
//! one *thread* per row instead, 256 rows per block, with no block reduction.

use crate::emit::flavor::Dim;
use crate::emit::kernel::Kernel;
use crate::emit::text::Sty;
use crate::error::Result;
use crate::index::{Ix, Var};
use llc_ir::{Function, NodeId, Op, ReduceKind};
use std::collections::HashMap;

/// Most threads per block.
const MAX_BLOCK: usize = 256;
/// Rows of at most this many thread steps get one thread each.
const SHORT_ROW: usize = 8;

/// The reductions of `f` (non-empty axes) with their level: 1 + the highest level among
/// the reductions their operand depends on.
pub(crate) fn reduction_levels(f: &Function) -> Result<Vec<(NodeId, usize)>> {
    let order = f
        .topo_order()
        .map_err(|source| crate::error::CodegenError::InvalidIr {
            kernel: f.name.clone(),
            source,
        })?;
    // below[n]: highest reduction level n depends on (its own level if it reduces)
    let mut below: HashMap<NodeId, usize> = HashMap::new();
    let mut out = Vec::new();
    for n in order {
        let deps = f.operands(n).iter().map(|o| below[o]).max().unwrap_or(0);
        let level = match &f.node(n).op {
            Op::Reduce { axes, .. } if !crate::plan::is_trivial(f, n, axes) => {
                out.push((n, deps + 1));
                deps + 1
            }
            _ => deps,
        };
        below.insert(n, level);
    }
    Ok(out)
}

/// The kind of a reduction node.
pub(crate) fn kind(f: &Function, n: NodeId) -> ReduceKind {
    match f.node(n).op {
        Op::Reduce { kind, .. } => kind,
        _ => unreachable!("not a reduction"),
    }
}

/// Emit a row kernel over `rows` rows of `cols` elements.
pub(crate) fn emit(k: &mut Kernel, rows: usize, cols: usize, width: usize) -> Result<()> {
    let f = k.f;
    let groups = cols / width;
    let thread_per_row = groups <= SHORT_ROW && rows > 1;
    let tid = k.thread_id(Dim::X);
    let bdim = k.block_dim(Dim::X);
    // `row_ok`: whether this thread's row exists (thread-per-row blocks overhang)
    let (lb, step, row_ok) = if thread_per_row {
        let block = k.block_shape(MAX_BLOCK as u32, 1);
        k.set_launch([rows.div_ceil(block[0] as usize), 1], block)?;
        let bid = k.block_id(Dim::X);
        let row = k.fop("muli", &bid, &bdim);
        let row = k.fop("addi", &row, &tid);
        let last = k.w.index(rows as i64 - 1);
        let ok = k.w.op(
            Sty::I1,
            &format!("arith.cmpi ule, {}, {} : index", row.name, last.name),
        );
        let row = k.fop("minui", &row, &last);
        k.bind_var(Var::Row, row);
        (k.w.index(0), k.w.index(1), Some(ok))
    } else {
        let threads = groups.div_ceil(32).clamp(1, MAX_BLOCK / 32) * 32;
        let block = k.block_shape(threads as u32, 1);
        k.set_launch([rows, 1], block)?;
        let row = k.block_id(Dim::X);
        k.bind_var(Var::Row, row);
        (tid.clone(), bdim.clone(), None)
    };
    let r = Ix::var(Var::Row, rows);
    let col = Ix::var(Var::Col, groups).scale(width as i64);
    let elem = |l: usize| r.scale(cols as i64).add(&col).add_konst(l as i64);

    let levels = reduction_levels(f)?;
    let depth = levels.iter().map(|l| l.1).max().unwrap_or(0);
    for level in 1..=depth {
        let reds: Vec<NodeId> = levels
            .iter()
            .filter(|l| l.1 == level)
            .map(|l| l.0)
            .collect();
        let operands: Vec<NodeId> = reds.iter().map(|&n| f.operands(n)[0]).collect();
        let roots: Vec<_> = operands
            .iter()
            .flat_map(|&o| (0..width).map(move |l| (o, elem(l))))
            .collect();
        k.hoist(&roots, Var::Col)?;
        let mut inits = Vec::new();
        for &n in &reds {
            let ty = Sty::compute(f.ty(n).dtype).expect("planned dtypes are supported");
            for _ in 0..width {
                inits.push(k.identity(kind(f, n), ty));
            }
        }
        let accs = k.for_fold(Var::Col, groups, &lb, &step, inits, |k, accs| {
            let mut next = Vec::new();
            for (i, (&n, &o)) in reds.iter().zip(&operands).enumerate() {
                for l in 0..width {
                    let v = k.eval(o, &elem(l))?;
                    next.push(k.combine(kind(f, n), &accs[i * width + l], &v));
                }
            }
            Ok(next)
        })?;
        for (i, &n) in reds.iter().enumerate() {
            let kd = kind(f, n);
            let mut part = accs[i * width].clone();
            for l in 1..width {
                part = k.combine(kd, &part, &accs[i * width + l]);
            }
            let total = if thread_per_row {
                part
            } else {
                k.block_reduce(kd, part)
            };
            k.bind_reduction(n, r.clone(), total);
        }
    }

    // outputs: one per row element, or one per row
    let outputs: Vec<(usize, NodeId)> = f
        .outputs()
        .iter()
        .enumerate()
        .map(|(j, o)| (j, o.node))
        .collect();
    let (per_elem, per_row): (Vec<_>, Vec<_>) = outputs
        .into_iter()
        .partition(|&(_, o)| f.ty(o).numel() == rows * cols && cols > 1);
    let store_all = |k: &mut Kernel| -> Result<()> {
        if !per_elem.is_empty() {
            let roots: Vec<_> = per_elem
                .iter()
                .flat_map(|&(_, o)| (0..width).map(move |l| (o, elem(l))))
                .collect();
            k.hoist(&roots, Var::Col)?;
            k.for_each(Var::Col, groups, &lb, &step, |k| {
                let mut all = Vec::new();
                for &(_, o) in &per_elem {
                    let vals = (0..width)
                        .map(|l| k.eval(o, &elem(l)))
                        .collect::<Result<Vec<_>>>()?;
                    all.push(vals);
                }
                for (&(j, _), vals) in per_elem.iter().zip(all) {
                    k.store(k.output_param(j), &elem(0), &vals)?;
                }
                Ok(())
            })?;
        }
        if !per_row.is_empty() {
            let store_row = |k: &mut Kernel| -> Result<()> {
                let mut all = Vec::new();
                for &(_, o) in &per_row {
                    all.push(k.eval(o, &r)?);
                }
                for (&(j, _), v) in per_row.iter().zip(all) {
                    k.store(k.output_param(j), &r, &[v])?;
                }
                Ok(())
            };
            if thread_per_row {
                store_row(k)?;
            } else {
                let zero = k.w.index(0);
                let first = k.w.op(
                    Sty::I1,
                    &format!("arith.cmpi eq, {}, {} : index", tid.name, zero.name),
                );
                k.when(&first, store_row)?;
            }
        }
        Ok(())
    };
    match &row_ok {
        Some(ok) => k.when(ok, store_all),
        None => store_all(k),
    }
}
