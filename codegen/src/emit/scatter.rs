//! `scatter_add`: a grid-stride loop over the update elements, each added atomically
//! into the result row its index names (the result was zeroed by an earlier launch).
//! Updates are read as vectors where aligned; the adds are `red.global.add` per element,
//! so the summation order of colliding rows is not fixed (unlike the interpreter, which
//! sums each row in position order). Out-of-range indices are clamped to the table.

use crate::emit::elementwise::grid_loop;
use crate::emit::eval::row_len;
use crate::emit::kernel::Kernel;
use crate::emit::text::Sty;
use crate::error::Result;
use crate::index::{Ix, Var};

/// Emit the accumulation launch of a scatter over `n` update elements.
pub(crate) fn emit(k: &mut Kernel, n: usize, width: usize) -> Result<()> {
    let f = k.f;
    let s = f.outputs()[0].node;
    let ops = f.operands(s);
    let (idx, upd) = (ops[0], ops[1]);
    let shape = f.ty(s).shape.clone();
    let row = row_len(&shape);
    let group = Ix::var(Var::Group, n / width).scale(width as i64);
    let lane = |l: usize| group.add_konst(l as i64);
    let roots: Vec<_> = (0..width)
        .flat_map(|l| [(upd, lane(l)), (idx, lane(l).div(row))])
        .collect();
    let out = k.output_param(0);
    grid_loop(k, n / width, &roots, |k| {
        let buf = k.params[out].clone();
        let op = if buf.storage == Sty::F32 {
            "addf"
        } else {
            "addi"
        };
        for l in 0..width {
            let v = k.eval(upd, &lane(l))?;
            let i = k.eval(idx, &lane(l).div(row))?;
            let r = k.dyn_row(&i, shape[0])?;
            let at = k.index(&r.scale(row).add(&lane(l).rem(row)))?;
            let old = k.w.fresh();
            k.w.line(&format!(
                "{old} = memref.atomic_rmw {op} {}, {}[{}] : ({}, {}) -> {}",
                v.name,
                buf.name,
                at.name,
                v.ty.mlir(),
                buf.mlir_type(),
                v.ty.mlir()
            ));
        }
        Ok(())
    })
}
