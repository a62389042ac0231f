//! Batched matmul on matrixmultiply's GEMM. Transposed operands are read through strides
//! (never copied); a shared rank-2 rhs with a plain lhs becomes one tall GEMM; otherwise
//! batches run in parallel (small GEMMs) or one after another with GEMM's own threads
//! (large ones). GEMM splits only over output tiles, so results do not depend on the
//! thread count.

use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::interp::float::Float;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// A strided matrix operand: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major `[rows, cols]` matrix, optionally read transposed.
    pub fn row_major(data: &'a [T], cols: usize, transposed: bool) -> Self {
        if transposed {
            Mat {
                data,
                rs: 1,
                cs: cols,
            }
        } else {
            Mat {
                data,
                rs: cols,
                cs: 1,
            }
        }
    }
}

fn fits<T>(m: &Mat<T>, rows: usize, cols: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * m.rs + (cols - 1) * m.cs < m.data.len()
}

/// `C[m, n] = alpha * A[m, k] B[k, n] + beta * C` with `C` row-major (`ldc = n`).
/// Panics only if the caller's dims and strides address memory outside the buffers (an
/// internal invariant of the interpreter, checked before the unsafe call).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: &mut [T],
) {
    assert!(
        fits(&a, m, k) && fits(&b, k, n) && c.len() >= m * n,
        "gemm operands out of bounds (m={m} k={k} n={n})"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].iter_mut().for_each(|x| *x = beta * *x);
        return;
    }
    // SAFETY: `fits` checked that every addressed element of A and B is in bounds and C
    // holds m*n elements at row stride n.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// matrixmultiply uses at most this many threads for one GEMM.
const GEMM_MAX_THREADS: usize = 4;

/// `C[rows, n] = A[rows, k] B` for a row-major `A`. When rayon has more threads than one
/// GEMM can use, the rows are cut into one block per thread: every output element is
/// still the same K-ordered sum, so the result is bit-identical to a single call.
fn tall_gemm<T: Float>(rows: usize, k: usize, n: usize, a: &[T], b: Mat<T>, c: &mut [T]) {
    let threads = rayon::current_num_threads();
    if threads <= GEMM_MAX_THREADS || rows < 512 || rows * k * n < SMALL_GEMM || n == 0 {
        gemm(
            rows,
            k,
            n,
            T::ONE,
            Mat::row_major(a, k, false),
            b,
            T::ZERO,
            c,
        );
        return;
    }
    let block = rows.div_ceil(threads).max(64);
    c.par_chunks_mut(block * n).enumerate().for_each(|(i, cb)| {
        let r = cb.len() / n;
        let ab = &a[i * block * k..(i * block + r) * k];
        gemm(
            r,
            k,
            n,
            T::ONE,
            Mat::row_major(ab, k, false),
            b,
            T::ZERO,
            cb,
        );
    });
}

/// Below this many multiply-adds per batch, batches run in parallel on rayon; above it a
/// single GEMM is big enough to use matrixmultiply's own threads.
const SMALL_GEMM: usize = 1 << 21;

/// `lhs[..., M, K] @ rhs[..., K, N]` with optional transposes of the last two dims;
/// `out_shape` is the declared result shape.
pub(crate) fn matmul<T: Float>(
    cx: &Ctx,
    lhs: &Tensor,
    rhs: &Tensor,
    tl: bool,
    tr: bool,
    out_shape: &[usize],
) -> Result<Tensor> {
    let a = cx.floats::<T>(lhs, "lhs")?;
    let b = cx.floats::<T>(rhs, "rhs")?;
    let (ls, rs) = (lhs.shape(), rhs.shape());
    let (ra, rb) = (ls.len(), rs.len());
    let (a_rows, a_cols) = (ls[ra - 2], ls[ra - 1]);
    let (b_rows, b_cols) = (rs[rb - 2], rs[rb - 1]);
    let (m, k) = if tl {
        (a_cols, a_rows)
    } else {
        (a_rows, a_cols)
    };
    let n = if tr { b_rows } else { b_cols };
    let batches: usize = ls[..ra - 2].iter().product();
    let a_size = a_rows * a_cols;
    let b_size = if rb == 2 { 0 } else { b_rows * b_cols };
    let mut out = vec![T::ZERO; batches * m * n];

    if b_size == 0 && !tl {
        // Shared weight, plain lhs: the batch folds into M, one tall GEMM.
        let bm = Mat::row_major(b, b_cols, tr);
        tall_gemm(batches * m, k, n, a, bm, &mut out);
        return Ok(Tensor::from_parts(out_shape.to_vec(), T::wrap(out)));
    }
    let run = |i: usize, c: &mut [T]| {
        let am = Mat::row_major(&a[i * a_size..(i + 1) * a_size], a_cols, tl);
        let bm = Mat::row_major(&b[i * b_size..i * b_size + b_rows * b_cols], b_cols, tr);
        gemm(m, k, n, T::ONE, am, bm, T::ZERO, c);
    };
    if m * n == 0 {
        // nothing to compute
    } else if batches > 1 && m * n * k < SMALL_GEMM {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, c)| run(i, c));
    } else {
        out.chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, c)| run(i, c));
    }
    Ok(Tensor::from_parts(out_shape.to_vec(), T::wrap(out)))
}
