//! Row indexing: `gather` (embedding lookup) and `scatter_add` (its VJP). Every index is
//! checked first; an out-of-range one is an error naming the node and the index.

use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::interp::float::Float;
use crate::interp::layout::map_data;
use crate::interp::parallel::{for_rows, map_index};
use crate::tensor::{Tensor, TensorData};

/// `gather(table[V, R...], idx[I...]) -> [I..., R...]`.
pub(crate) fn gather(
    cx: &Ctx,
    table: &Tensor,
    idx: &Tensor,
    out_shape: &[usize],
) -> Result<Tensor> {
    let rows = table.shape()[0];
    cx.check_indices(idx, rows)?;
    let ids = cx.ints(idx, "indices")?;
    let row: usize = table.shape()[1..].iter().product();
    let n = ids.len() * row;
    let data =
        map_data!(table.data(), v => map_index(n, |i| v[ids[i / row] as usize * row + i % row]));
    Ok(Tensor::from_parts(out_shape.to_vec(), data))
}

/// `scatter_add(idx[I...], upd[I..., R...]) -> [V, R...]`: a zero table with every update
/// row added into the row its index names. The updates of each target row are summed in
/// index-position order (floats in f64), one target row per task, so the result does not
/// depend on threads.
pub(crate) fn scatter_add<T: Float>(
    cx: &Ctx,
    idx: &Tensor,
    upd: &Tensor,
    out_shape: &[usize],
) -> Result<Tensor> {
    let rows = out_shape[0];
    cx.check_indices(idx, rows)?;
    let ids = cx.ints(idx, "indices")?;
    let row: usize = out_shape[1..].iter().product();
    // Counting sort of update positions by target row (stable: keeps position order).
    let mut start = vec![0usize; rows + 1];
    for &i in ids {
        start[i as usize + 1] += 1;
    }
    for r in 0..rows {
        start[r + 1] += start[r];
    }
    let mut fill = start.clone();
    let mut order = vec![0usize; ids.len()];
    for (p, &i) in ids.iter().enumerate() {
        order[fill[i as usize]] = p;
        fill[i as usize] += 1;
    }
    let sources = |r: usize| &order[start[r]..start[r + 1]];
    let data = match upd.data() {
        TensorData::I32(u) => {
            let mut out = vec![0i32; rows * row];
            for_rows(&mut out, row, |r, dst| {
                for &p in sources(r) {
                    for (o, &x) in dst.iter_mut().zip(&u[p * row..(p + 1) * row]) {
                        *o = o.wrapping_add(x);
                    }
                }
            });
            TensorData::I32(out)
        }
        TensorData::Bool(_) => {
            return Err(cx.type_err(format!("cannot add {}", upd.type_string())));
        }
        _ => {
            let u = cx.floats::<T>(upd, "updates")?;
            let mut out = vec![T::ZERO; rows * row];
            for_rows(&mut out, row, |r, dst| {
                let src = sources(r);
                if src.is_empty() {
                    return;
                }
                let mut acc = vec![0.0f64; row];
                for &p in src {
                    for (a, &x) in acc.iter_mut().zip(&u[p * row..(p + 1) * row]) {
                        *a += x.to_f64();
                    }
                }
                for (o, a) in dst.iter_mut().zip(acc) {
                    *o = T::from_f64(a);
                }
            });
            T::wrap(out)
        }
    };
    Ok(Tensor::from_parts(out_shape.to_vec(), data))
}
