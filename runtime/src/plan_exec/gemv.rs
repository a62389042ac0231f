//! Matrix-vector shapes of f32 GEMMs (at most [`GEMV_ROWS`] rows of `C`), as a decode step
//! at batch 1 runs them: every projection is one row times a weight matrix, and attention
//! is one query row (per KV-head group) against the cache. A general GEMM library packs
//! its operands for blocked products, which at one row costs as much as the product;
//! these loops read each weight once, straight from the arena, in 16-lane groups (the
//! widest vectors the host has: the loops are compiled for AVX-512 and for AVX2 and the
//! host's is chosen at run time), and split the columns over the rayon pool when there is
//! enough work.

use super::gemm::SendPtr;
use llc_ir::plan::GemmDesc;
use rayon::prelude::*;

/// GEMMs with at most this many rows of `C` run here.
pub(crate) const GEMV_ROWS: u64 = 4;

/// Below this many multiply-adds per product a GEMV runs on the calling thread.
const PARALLEL_WORK: usize = 1 << 15;

/// Whether [`run`] takes `g`: f32, few rows, and rows of `op(A)` contiguous (A stored
/// transposed only as one row of unit stride); not with `LLC_GEMV=off` (every GEMM then
/// goes to the GEMM library, for comparisons).
pub(crate) fn takes(g: &GemmDesc) -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let off = *OFF.get_or_init(|| std::env::var("LLC_GEMV").is_ok_and(|v| v == "off"));
    !off && g.dtype == llc_ir::DType::F32
        && (1..=GEMV_ROWS).contains(&g.m)
        && (!g.trans_a || (g.m == 1 && g.lda == 1))
}

/// One product's operands, as pointers into the arena.
#[derive(Clone, Copy)]
struct Product {
    a: SendPtr,
    b: SendPtr,
    c: SendPtr,
}

/// Runs `g` (which [`takes`] accepted) on operands at `a`, `b`, `c`.
///
/// # Safety
/// `a`, `b` and `c` must address the descriptor's operands (checked by the caller against
/// their buffers) and C must not overlap A or B; `disjoint` must say truly whether the
/// batches of C are disjoint (else they run one after another, in order).
pub(crate) unsafe fn run(g: &GemmDesc, a: *const f32, b: *const f32, c: *mut f32, disjoint: bool) {
    let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
    let threads = rayon::current_num_threads();
    let work = g.batch as usize * m * n * k;
    let products: Vec<Product> = (0..g.batch as usize)
        .map(|i| Product {
            a: SendPtr(a.wrapping_add(i * g.stride_a as usize) as *mut f32),
            b: SendPtr(b.wrapping_add(i * g.stride_b as usize) as *mut f32),
            c: SendPtr(c.wrapping_add(i * g.stride_c as usize)),
        })
        .collect();
    // A row of op(A) is contiguous (`takes`): row r starts at r·lda (with A stored
    // transposed there is one row, at 0).
    let one = |p: Product, lo: usize, hi: usize| {
        for r in 0..m {
            // SAFETY: the caller's contract; rows and column ranges lie inside the operands.
            unsafe {
                let arow = std::slice::from_raw_parts(p.a.get().add(r * g.lda as usize), k);
                let crow = p.c.get().add(r * g.ldc as usize);
                columns(
                    arow,
                    p.b.get(),
                    g.ldb as usize,
                    g.trans_b,
                    g.alpha as f32,
                    g.beta as f32,
                    crow,
                    lo,
                    hi,
                )
            }
        }
    };
    if threads <= 1 || work < PARALLEL_WORK || (!disjoint && products.len() > 1) {
        for &p in &products {
            one(p, 0, n);
        }
    } else if products.len() >= threads {
        products.par_iter().for_each(|&p| one(p, 0, n));
    } else {
        // Column ranges of 16-column groups, about `threads` per product.
        let groups = n.div_ceil(16);
        let parts = threads.min(groups).max(1);
        let jobs: Vec<(Product, usize, usize)> = products
            .iter()
            .flat_map(|&p| {
                (0..parts).map(move |i| {
                    (
                        p,
                        16 * (groups * i / parts),
                        16 * (groups * (i + 1) / parts),
                    )
                })
            })
            .map(|(p, lo, hi)| (p, lo.min(n), hi.min(n)))
            .collect();
        jobs.par_iter().for_each(|&(p, lo, hi)| one(p, lo, hi));
    }
}

/// Columns `lo..hi` of one row of C: `c[j] = alpha · a·op(B)[:, j] + beta · c[j]` (C is not
/// read when beta is 0).
///
/// # Safety
/// `b` must address `op(B)` (`k × n`; stored `n × k` with row stride `ldb` when
/// `trans_b`, else `k × n` with row stride `ldb`) and `c` a row of at least `hi` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn columns(
    a: &[f32],
    b: *const f32,
    ldb: usize,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    lo: usize,
    hi: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the host has the feature; the caller's contract.
            return unsafe { columns_avx512(a, b, ldb, trans_b, alpha, beta, c, lo, hi) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { columns_avx2(a, b, ldb, trans_b, alpha, beta, c, lo, hi) };
        }
    }
    // SAFETY: the caller's contract.
    unsafe { columns_body(a, b, ldb, trans_b, alpha, beta, c, lo, hi) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn columns_avx512(
    a: &[f32],
    b: *const f32,
    ldb: usize,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    lo: usize,
    hi: usize,
) {
    // SAFETY: the caller's contract.
    unsafe { columns_body(a, b, ldb, trans_b, alpha, beta, c, lo, hi) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn columns_avx2(
    a: &[f32],
    b: *const f32,
    ldb: usize,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    lo: usize,
    hi: usize,
) {
    // SAFETY: the caller's contract.
    unsafe { columns_body(a, b, ldb, trans_b, alpha, beta, c, lo, hi) }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn columns_body(
    a: &[f32],
    b: *const f32,
    ldb: usize,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    c: *mut f32,
    lo: usize,
    hi: usize,
) {
    let k = a.len();
    // SAFETY: the caller's contract: `c` holds at least `hi` elements.
    let c = unsafe { std::slice::from_raw_parts_mut(c.add(lo), hi - lo) };
    if trans_b {
        // Row j of the stored B is column j of op(B): a dot product per column.
        for (j, cj) in (lo..hi).zip(c.iter_mut()) {
            // SAFETY: row j of the stored `n × k` B.
            let row = unsafe { std::slice::from_raw_parts(b.add(j * ldb), k) };
            let d = alpha * dot(a, row);
            *cj = if beta == 0.0 { d } else { d + beta * *cj };
        }
    } else {
        // op(B) = B is `k × n`: C's row accumulates B's rows scaled by a.
        if beta == 0.0 {
            c.fill(0.0);
        } else if beta != 1.0 {
            c.iter_mut().for_each(|x| *x *= beta);
        }
        for (i, &ai) in a.iter().enumerate() {
            let s = alpha * ai;
            // SAFETY: columns lo..hi of row i of the stored `k × n` B.
            let row = unsafe { std::slice::from_raw_parts(b.add(i * ldb + lo), hi - lo) };
            for (x, &y) in c.iter_mut().zip(row) {
                *x += s * y;
            }
        }
    }
}

/// `a · b` in 32 independent lanes (two 16-lane vectors; a last group of 16 in the first
/// half), then summed pairwise.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 32;
    let mut acc = [0f32; L];
    let mut ca = a.chunks_exact(L);
    let mut cb = b.chunks_exact(L);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..L {
            acc[l] += x[l] * y[l];
        }
    }
    let (mut ra, mut rb) = (ca.remainder(), cb.remainder());
    if ra.len() >= L / 2 {
        for l in 0..L / 2 {
            acc[l] += ra[l] * rb[l];
        }
        ra = &ra[L / 2..];
        rb = &rb[L / 2..];
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    let mut w = L;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] += acc[l + w];
        }
    }
    acc[0] + tail
}
