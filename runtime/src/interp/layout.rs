//! Data movement: broadcast, transpose, slice, concat. All but concat are one strided
//! copy from a view of the operand (stride 0 for broadcast dims, permuted strides for
//! transpose, an offset for slice).

use crate::interp::ctx::strides;
use crate::interp::parallel::for_rows;
use crate::tensor::{Tensor, TensorData};

/// Apply `$body` (generic in the element type) to whichever buffer `$data` holds, giving
/// a buffer of the same variant.
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F32($v) => TensorData::F32($body),
            TensorData::F64($v) => TensorData::F64($body),
            TensorData::I32($v) => TensorData::I32($body),
            TensorData::Bool($v) => TensorData::Bool($body),
        }
    };
}
pub(crate) use map_data;

/// `out[idx] = src[offset + sum_d idx[d] * src_strides[d]]` for every multi-index `idx` of
/// `out_shape`, in row-major order.
fn strided_copy<E: Copy + Default + Send + Sync>(
    src: &[E],
    offset: usize,
    out_shape: &[usize],
    src_strides: &[usize],
) -> Vec<E> {
    let n: usize = out_shape.iter().product();
    let mut out = vec![E::default(); n];
    if n == 0 {
        return out;
    }
    let rank = out_shape.len();
    if rank == 0 {
        out[0] = src[offset];
        return out;
    }
    let inner = out_shape[rank - 1];
    let inner_stride = src_strides[rank - 1];
    let outer_shape = &out_shape[..rank - 1];
    for_rows(&mut out, inner, |row, dst| {
        let mut base = offset;
        let mut r = row;
        for d in (0..outer_shape.len()).rev() {
            base += (r % outer_shape[d]) * src_strides[d];
            r /= outer_shape[d];
        }
        match inner_stride {
            1 => dst.copy_from_slice(&src[base..base + inner]),
            0 => dst.fill(src[base]),
            s => dst
                .iter_mut()
                .enumerate()
                .for_each(|(j, o)| *o = src[base + j * s]),
        }
    });
    out
}

/// Numpy broadcast of `x` to `shape` (operand right-aligned, size-1 dims repeated).
pub(crate) fn broadcast(x: &Tensor, shape: &[usize]) -> Tensor {
    let in_shape = x.shape();
    let in_strides = strides(in_shape);
    let off = shape.len() - in_shape.len();
    let st: Vec<usize> = (0..shape.len())
        .map(|d| {
            if d < off || (in_shape[d - off] == 1 && shape[d] != 1) {
                0
            } else {
                in_strides[d - off]
            }
        })
        .collect();
    let data = map_data!(x.data(), v => strided_copy(v, 0, shape, &st));
    Tensor::from_parts(shape.to_vec(), data)
}

/// `out.shape[i] = x.shape[perm[i]]`.
pub(crate) fn transpose(x: &Tensor, perm: &[usize]) -> Tensor {
    let in_strides = strides(x.shape());
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let st: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let data = map_data!(x.data(), v => strided_copy(v, 0, &shape, &st));
    Tensor::from_parts(shape, data)
}

/// Elements `start..end` along `axis`.
pub(crate) fn slice(x: &Tensor, axis: usize, start: usize, end: usize) -> Tensor {
    let st = strides(x.shape());
    let mut shape = x.shape().to_vec();
    shape[axis] = end - start;
    let offset = start * st[axis];
    let data = map_data!(x.data(), v => strided_copy(v, offset, &shape, &st));
    Tensor::from_parts(shape, data)
}

/// Join along `axis`; `out_shape` is the declared result shape.
pub(crate) fn concat(
    cx: &crate::interp::ctx::Ctx,
    xs: &[&Tensor],
    axis: usize,
    out_shape: &[usize],
) -> crate::error::Result<Tensor> {
    let outer: usize = out_shape[..axis].iter().product();
    let inner: usize = out_shape[axis + 1..].iter().product();
    fn join<E: Copy>(parts: &[&[E]], sizes: &[usize], outer: usize, total: usize) -> Vec<E> {
        let mut out = Vec::with_capacity(total);
        for o in 0..outer {
            for (p, &sz) in parts.iter().zip(sizes) {
                out.extend_from_slice(&p[o * sz..(o + 1) * sz]);
            }
        }
        out
    }
    let sizes: Vec<usize> = xs.iter().map(|t| t.shape()[axis] * inner).collect();
    let total: usize = out_shape.iter().product();
    macro_rules! gather_parts {
        ($variant:ident) => {{
            let parts: Option<Vec<_>> = xs
                .iter()
                .map(|t| match t.data() {
                    TensorData::$variant(v) => Some(v.as_slice()),
                    _ => None,
                })
                .collect();
            let parts = parts.ok_or_else(|| cx.type_err("operands differ in element type"))?;
            TensorData::$variant(join(&parts, &sizes, outer, total))
        }};
    }
    let data = match xs[0].data() {
        TensorData::F32(_) => gather_parts!(F32),
        TensorData::F64(_) => gather_parts!(F64),
        TensorData::I32(_) => gather_parts!(I32),
        TensorData::Bool(_) => gather_parts!(Bool),
    };
    Ok(Tensor::from_parts(out_shape.to_vec(), data))
}
