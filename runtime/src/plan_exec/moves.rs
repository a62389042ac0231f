//! Data-movement steps on the arena's bytes: strided copies (transposes, strided
//! slices, concat parts), row gathers and row scatter-adds. Copies move raw element
//! bytes, so they are exact for every dtype.

use super::arena::Arena;
use crate::error::{Result, RuntimeError};
use crate::tensor::{Precision, Tensor};
use llc_ir::plan::BufRef;
use llc_ir::{DType, TensorType};

fn err(msg: String) -> RuntimeError {
    RuntimeError::Plan(msg)
}

/// One strided copy (see [`llc_ir::plan::Step::StridedCopy`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn strided_copy(
    arena: &mut Arena,
    src: &BufRef,
    dst: &BufRef,
    dtype: DType,
    shape: &[u64],
    src_offset: u64,
    src_strides: &[u64],
    dst_offset: u64,
    dst_strides: &[u64],
) -> Result<()> {
    let elem = dtype.size_bytes();
    let total: u64 = shape.iter().product();
    if total == 0 {
        return Ok(());
    }
    let reach = |off: u64, st: &[u64]| {
        off + shape
            .iter()
            .zip(st)
            .map(|(&n, &s)| (n - 1) * s)
            .sum::<u64>()
    };
    if (reach(src_offset, src_strides) + 1) * elem as u64 > src.bytes
        || (reach(dst_offset, dst_strides) + 1) * elem as u64 > dst.bytes
    {
        return Err(err(format!(
            "strided copy of {shape:?} runs past buffer {} or {}",
            src.buffer, dst.buffer
        )));
    }
    // Read the whole source first: source and destination may share bytes.
    let from = arena.raw(src)?.to_vec();
    let to = arena.raw_mut(dst)?;
    let rank = shape.len();
    let mut idx = vec![0u64; rank];
    for _ in 0..total {
        let s: u64 = src_offset + idx.iter().zip(src_strides).map(|(i, s)| i * s).sum::<u64>();
        let d: u64 = dst_offset + idx.iter().zip(dst_strides).map(|(i, s)| i * s).sum::<u64>();
        let (s, d) = (s as usize * elem, d as usize * elem);
        to[d..d + elem].copy_from_slice(&from[s..s + elem]);
        for k in (0..rank).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Ok(())
}

fn indices(arena: &Arena, r: &BufRef, count: u64, rows: u64) -> Result<Vec<usize>> {
    let t = arena.read(
        r,
        &TensorType::new(DType::I32, [count as usize]),
        Precision::F32,
    )?;
    let v = t.as_i32().expect("read as i32");
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            usize::try_from(x)
                .ok()
                .filter(|&x| (x as u64) < rows)
                .ok_or_else(|| err(format!("index {x} at position {i} is outside 0..{rows}")))
        })
        .collect()
}

/// `out[i, :] = table[indices[i], :]`, moving raw row bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gather(
    arena: &mut Arena,
    table: &BufRef,
    idx: &BufRef,
    out: &BufRef,
    dtype: DType,
    rows: u64,
    count: u64,
    row_elems: u64,
) -> Result<()> {
    let ids = indices(arena, idx, count, rows)?;
    let row = row_elems as usize * dtype.size_bytes();
    let from = arena.raw(table)?.to_vec();
    let to = arena.raw_mut(out)?;
    for (i, &t) in ids.iter().enumerate() {
        to[i * row..(i + 1) * row].copy_from_slice(&from[t * row..(t + 1) * row]);
    }
    Ok(())
}

/// `out = 0; out[indices[i], :] += updates[i, :]`, summed in f64 in index order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scatter_add(
    arena: &mut Arena,
    idx: &BufRef,
    updates: &BufRef,
    out: &BufRef,
    dtype: DType,
    rows: u64,
    count: u64,
    row_elems: u64,
) -> Result<()> {
    let ids = indices(arena, idx, count, rows)?;
    let n = row_elems as usize;
    let upd = arena.read(
        updates,
        &TensorType::new(dtype, [count as usize * n]),
        Precision::F64,
    )?;
    let upd = upd.to_f64_vec();
    let mut acc = vec![0f64; rows as usize * n];
    for (i, &t) in ids.iter().enumerate() {
        for (a, u) in acc[t * n..(t + 1) * n]
            .iter_mut()
            .zip(&upd[i * n..(i + 1) * n])
        {
            *a += u;
        }
    }
    let t = Tensor::from_f64([acc.len()], acc)?;
    arena.write(out, dtype, &t)
}
