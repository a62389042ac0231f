//! The reduction strategy: reductions over any axes, one block per output element or per
//! 32 consecutive output elements.
//!
//! *Block layout* (the reduced axes include the innermost, or there are few outputs):
//! block `o` computes output `o`; its 256 threads stride over the reduced elements (4 at
//! a time, as vectors, when the innermost reduced axis allows), then reduce across the
//! block with `gpu.all_reduce`. Loads coalesce when the innermost axis is reduced; when it
//! is kept (a column sum with fewer than 32 columns) consecutive threads read elements
//! `out` apart, which is correct but uncoalesced.
//!
//! *Column layout* (the kept axes are the trailing ones and there are at least 32
//! outputs): a 32×8 block takes 32 consecutive outputs; thread `(x, y)` folds output
//! `32·b + x` over reduced elements `y, y + 8, …`, so each warp reads 32 consecutive
//! elements. The 8 partials per output meet in shared memory and thread `y = 0` adds
//! them. This is how `rms_norm_grad_w` (`[N, D] → [D]`) runs.
//!
//! With `chunks > 1` the reduced elements are split over `chunks` blocks per output
//! (`blockIdx.y`), each writing its partial to `[out, chunks]` scratch; a row launch
//! combines them (see `crate::plan`). Otherwise thread 0 (or row `y = 0`) applies what
//! follows the reductions and stores the outputs.

use crate::emit::flavor::Dim;
use crate::emit::kernel::Kernel;
use crate::emit::row::{kind, reduction_levels};
use crate::emit::shape::strides;
use crate::emit::text::{Sty, Val};
use crate::error::Result;
use crate::index::{Ix, Var};
use crate::plan::ReducePlan;
use llc_ir::NodeId;

/// Index into the reduction operand of output element `o`, reduced element `k`.
pub(crate) fn operand_ix(p: &ReducePlan, o: &Ix, k: &Ix) -> Ix {
    let st = strides(&p.shape);
    // runs of consecutive axes that are all reduced or all kept: (reduced, size, stride)
    let mut runs: Vec<(bool, i64, i64)> = Vec::new();
    for (d, &size) in p.shape.iter().enumerate() {
        let red = p.axes.contains(&d);
        match runs.last_mut() {
            Some(r) if r.0 == red => {
                r.1 *= size as i64;
                r.2 = st[d];
            }
            _ => runs.push((red, size as i64, st[d])),
        }
    }
    let mut lin = Ix::konst(0);
    let (mut inner_o, mut inner_k) = (1i64, 1i64);
    for &(red, size, stride) in runs.iter().rev() {
        let (var, inner) = if red {
            (k, &mut inner_k)
        } else {
            (o, &mut inner_o)
        };
        let c = var.div(*inner).rem(size);
        *inner *= size;
        lin = lin.add(&c.scale(stride));
    }
    lin
}

/// Emit a reduction kernel.
pub(crate) fn emit(k: &mut Kernel, p: &ReducePlan) -> Result<()> {
    let f = k.f;
    let groups = p.red / p.width;
    let block = if p.columns {
        k.block_shape(32, 8)
    } else {
        k.block_shape(256, 1)
    };
    let (bx, by) = (block[0] as usize, block[1] as usize);
    let grid_x = if p.columns { p.out.div_ceil(bx) } else { p.out };
    k.set_launch([grid_x, p.chunks], block)?;

    let tx = k.thread_id(Dim::X);
    let bid = k.block_id(Dim::X);
    let (o, o_ok, lane, lanes) = if p.columns {
        let bdx = k.block_dim(Dim::X);
        let o = k.fop("muli", &bid, &bdx);
        let o = k.fop("addi", &o, &tx);
        let last = k.w.index(p.out as i64 - 1);
        let ok = k.w.op(
            Sty::I1,
            &format!("arith.cmpi ule, {}, {} : index", o.name, last.name),
        );
        let oc = k.fop("minui", &o, &last);
        (oc, Some(ok), k.thread_id(Dim::Y), k.block_dim(Dim::Y))
    } else {
        let bdx = k.block_dim(Dim::X);
        (bid, None, tx.clone(), bdx)
    };
    k.bind_var(Var::Out, o);
    let chunk = k.block_id(Dim::Y);
    k.bind_var(Var::Chunk, chunk.clone());
    let start = k.fop("muli", &chunk, &lanes);
    let start = k.fop("addi", &start, &lane);
    let nchunks = k.w.index(p.chunks as i64);
    let step = k.fop("muli", &nchunks, &lanes);

    let oix = Ix::var(Var::Out, p.out);
    let kix = Ix::var(Var::Red, groups).scale(p.width as i64);
    let elem = |l: usize| operand_ix(p, &oix, &kix.add_konst(l as i64));
    let reds: Vec<NodeId> = reduction_levels(f)?.into_iter().map(|r| r.0).collect();
    let operands: Vec<NodeId> = reds.iter().map(|&n| f.operands(n)[0]).collect();
    let roots: Vec<_> = operands
        .iter()
        .flat_map(|&op| (0..p.width).map(move |l| (op, elem(l))))
        .collect();
    k.hoist(&roots, Var::Red)?;
    let mut inits = Vec::new();
    for &n in &reds {
        let ty = Sty::compute(f.ty(n).dtype).expect("planned dtypes are supported");
        for _ in 0..p.width {
            inits.push(k.identity(kind(f, n), ty));
        }
    }
    let width = p.width;
    let accs = k.for_fold(Var::Red, groups, &start, &step, inits, |k, accs| {
        let mut next = Vec::new();
        for (i, (&n, &op)) in reds.iter().zip(&operands).enumerate() {
            for l in 0..width {
                let v = k.eval(op, &elem(l))?;
                next.push(k.combine(kind(f, n), &accs[i * width + l], &v));
            }
        }
        Ok(next)
    })?;
    let mut partials = Vec::new();
    for (i, &n) in reds.iter().enumerate() {
        let mut part = accs[i * width].clone();
        for l in 1..width {
            part = k.combine(kind(f, n), &part, &accs[i * width + l]);
        }
        partials.push(part);
    }

    // combine across the block; `cond` selects the thread that finishes each output
    let zero = k.w.index(0);
    let (totals, cond): (Vec<Val>, Val) = if p.columns {
        let ty_id = k.thread_id(Dim::Y);
        let bdx = k.block_dim(Dim::X);
        let slot = k.fop("muli", &ty_id, &bdx);
        let slot = k.fop("addi", &slot, &tx);
        let mut bufs = Vec::new();
        for part in &partials {
            let (buf, mty) = k.shared(bx * by, part.ty);
            k.w.line(&format!(
                "memref.store {}, {}[{}] : {mty}",
                part.name, buf.name, slot.name
            ));
            bufs.push((buf, mty));
        }
        k.barrier();
        let first = k.w.op(
            Sty::I1,
            &format!("arith.cmpi eq, {}, {} : index", ty_id.name, zero.name),
        );
        let ok = o_ok.expect("column layout checks its output index");
        let cond = k.fop("andi", &first, &ok);
        // the combination over y of the partials, read back after the barrier
        let mut totals = Vec::new();
        for ((buf, mty), &n) in bufs.into_iter().zip(&reds) {
            let kd = kind(f, n);
            let ty = Sty::compute(f.ty(n).dtype).expect("planned dtypes are supported");
            let init = k.identity(kd, ty);
            let one = k.w.index(1);
            let mut res = k.for_fold(Var::Slice, by, &zero, &one, vec![init], |k, acc| {
                let s = k.index(&Ix::var(Var::Slice, by))?;
                let at = k.fop("muli", &s, &bdx);
                let at = k.fop("addi", &at, &tx);
                let v = k.w.op(
                    ty,
                    &format!("memref.load {}[{}] : {mty}", buf.name, at.name),
                );
                Ok(vec![k.combine(kd, &acc[0], &v)])
            })?;
            totals.push(res.remove(0));
        }
        (totals, cond)
    } else {
        let totals = partials
            .into_iter()
            .zip(&reds)
            .map(|(part, &n)| k.block_reduce(kind(f, n), part))
            .collect();
        let cond = k.w.op(
            Sty::I1,
            &format!("arith.cmpi eq, {}, {} : index", tx.name, zero.name),
        );
        (totals, cond)
    };

    let outputs: Vec<NodeId> = f.outputs().iter().map(|o| o.node).collect();
    let chunks = p.chunks;
    k.when(&cond, |k| {
        if chunks > 1 {
            let at = oix.scale(chunks as i64).add(&Ix::var(Var::Chunk, chunks));
            for (j, &o) in outputs.iter().enumerate() {
                let i = reds
                    .iter()
                    .position(|&r| r == o)
                    .expect("a partial launch outputs its reductions");
                k.store(k.output_param(j), &at, std::slice::from_ref(&totals[i]))?;
            }
            return Ok(());
        }
        for (&n, t) in reds.iter().zip(&totals) {
            k.bind_reduction(n, oix.clone(), t.clone());
        }
        let mut all = Vec::new();
        for &o in &outputs {
            all.push(k.eval(o, &oix)?);
        }
        for (j, v) in all.into_iter().enumerate() {
            k.store(k.output_param(j), &oix, &[v])?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operand_indices_match_brute_force() {
        let shapes: [&[usize]; 4] = [&[3, 4, 5], &[2, 1, 6, 4], &[7], &[4, 4, 2, 3]];
        for shape in shapes {
            let rank = shape.len();
            for mask in 1..(1u32 << rank) {
                let axes: Vec<usize> = (0..rank).filter(|&a| mask & (1 << a) != 0).collect();
                let kept: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
                let out: usize = kept.iter().map(|&a| shape[a]).product();
                let red: usize = axes.iter().map(|&a| shape[a]).product();
                let p = ReducePlan {
                    shape: shape.to_vec(),
                    axes: axes.clone(),
                    out,
                    red,
                    columns: false,
                    width: 1,
                    chunks: 1,
                };
                let ix = operand_ix(&p, &Ix::var(Var::Out, out), &Ix::var(Var::Red, red));
                let st = strides(shape);
                for o in 0..out {
                    for k in 0..red {
                        // row-major coordinates of o over the kept dims and k over the reduced
                        let mut want = 0i64;
                        let (mut oo, mut kk) = (o, k);
                        for d in (0..rank).rev() {
                            let c = if axes.contains(&d) {
                                let c = kk % shape[d];
                                kk /= shape[d];
                                c
                            } else {
                                let c = oo % shape[d];
                                oo /= shape[d];
                                c
                            };
                            want += c as i64 * st[d];
                        }
                        let got = ix.eval(&|v| if v == Var::Out { o as i64 } else { k as i64 });
                        assert_eq!(got, want, "{shape:?} axes {axes:?} o={o} k={k}: {ix}");
                    }
                }
            }
        }
    }
}
