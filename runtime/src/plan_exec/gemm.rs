//! A plan's GEMM descriptor run on the CPU with oneDNN (see `onednn`) or else
//! matrixmultiply, reading and writing the arena in place through the descriptor's
//! leading dimensions, batch strides and transposes exactly as a GPU library would. f32 runs in f32 (`sgemm`); other float types run in
//! f64 and are rounded to their dtype on the way back.

use super::arena::Arena;
use super::onednn::{OneDnn, Operand, onednn};
use crate::error::{Result, RuntimeError};
use crate::tensor::Tensor;
use llc_ir::DType;
use llc_ir::plan::GemmDesc;

/// `(row stride, column stride)` of `op(X)` for a row-major operand with leading dim `ld`.
fn strides(trans: bool, ld: u64) -> (isize, isize) {
    if trans {
        (1, ld as isize)
    } else {
        (ld as isize, 1)
    }
}

fn check(g: &GemmDesc) -> Result<()> {
    let elem = g.dtype.size_bytes() as u64;
    let (ra, ca) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
    let (rb, cb) = if g.trans_b { (g.n, g.k) } else { (g.k, g.n) };
    for (what, rows, cols, ld, stride, bytes) in [
        ("A", ra, ca, g.lda, g.stride_a, g.a.bytes),
        ("B", rb, cb, g.ldb, g.stride_b, g.b.bytes),
        ("C", g.m, g.n, g.ldc, g.stride_c, g.c.bytes),
    ] {
        let extent = g.batch.saturating_sub(1) * stride + rows.saturating_sub(1) * ld + cols;
        if ld < cols || extent * elem > bytes {
            return Err(RuntimeError::Plan(format!(
                "gemm %{}: operand {what} ({rows}x{cols}, ld {ld}, batch stride {stride}) runs past its {bytes}-byte buffer",
                g.name
            )));
        }
    }
    let overlaps = |x: &llc_ir::plan::BufRef| {
        x.offset < g.c.offset + g.c.bytes && g.c.offset < x.offset + x.bytes
    };
    if overlaps(&g.a) || overlaps(&g.b) {
        return Err(RuntimeError::Plan(format!(
            "gemm %{}: the result's buffer overlaps an operand's",
            g.name
        )));
    }
    if !g.dtype.is_float() {
        return Err(RuntimeError::Plan(format!(
            "gemm %{} has non-float dtype {}",
            g.name, g.dtype
        )));
    }
    Ok(())
}

/// Below this `m·k + k·n` the GEMM library runs a product on one thread.
const SMALL_GEMM: usize = 1 << 15;

/// A pointer handed to the threads that run disjoint batches of one GEMM.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
// SAFETY: only used for GEMM batches whose results are disjoint (see `run_gemm`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Run one GEMM step against the arena.
pub(crate) fn run_gemm(arena: &mut Arena, g: &GemmDesc) -> Result<()> {
    check(g)?;
    let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
    let (rsa, csa) = strides(g.trans_a, g.lda);
    let (rsb, csb) = strides(g.trans_b, g.ldb);
    let (rsc, csc) = (g.ldc as isize, 1isize);
    if g.dtype == DType::F32 {
        // in place on the arena: the operands are read and C accumulated where they live
        let pa = arena.ptr(&g.a)? as *const f32;
        let pb = arena.ptr(&g.b)? as *const f32;
        let pc = arena.ptr(&g.c)? as *mut f32;
        if [pa as usize, pb as usize, pc as usize]
            .iter()
            .any(|p| p % 4 != 0)
        {
            return Err(RuntimeError::Plan(format!(
                "gemm %{}: an f32 operand is not 4-byte aligned",
                g.name
            )));
        }
        if super::gemv::takes(g) {
            let disjoint = g.batch == 1 || g.stride_c >= g.ldc * (g.m - 1) + g.n;
            // SAFETY: `check` proved every addressed element lies inside the operands'
            // buffers (inside the arena) and that C overlaps neither A nor B; batches run
            // side by side only when their results are disjoint.
            unsafe { super::gemv::run(g, pa, pb, pc, disjoint) };
            return Ok(());
        }
        if let Some(dnnl) = onednn() {
            // SAFETY: as for the fallback.
            return unsafe { dnnl_batches(dnnl, g, pa, pb, pc) };
        }
        // SAFETY: `check` proved every addressed element of A, B and C lies inside their
        // buffers, which `ptr` proved lie inside the arena; C does not overlap A or B.
        unsafe { mm_batches(g, pa, pb, pc) };
        return Ok(());
    }
    if g.dtype == DType::BF16 {
        return run_gemm_bf16(arena, g, onednn());
    }
    let a = arena.f64s(&g.a, g.dtype)?;
    let b = arena.f64s(&g.b, g.dtype)?;
    let mut c = if g.beta != 0.0 {
        arena.f64s(&g.c, g.dtype)?
    } else {
        vec![0f64; (g.c.bytes / g.dtype.size_bytes() as u64) as usize]
    };
    for i in 0..g.batch as usize {
        let (oa, ob, oc) = (
            i * g.stride_a as usize,
            i * g.stride_b as usize,
            i * g.stride_c as usize,
        );
        // SAFETY: as above.
        unsafe {
            matrixmultiply::dgemm(
                m,
                k,
                n,
                g.alpha,
                a.as_ptr().add(oa),
                rsa,
                csa,
                b.as_ptr().add(ob),
                rsb,
                csb,
                g.beta,
                c.as_mut_ptr().add(oc),
                rsc,
                csc,
            );
        }
    }
    let t = Tensor::from_f64([c.len()], c)?;
    arena.write(&g.c, g.dtype, &t)
}

/// A bf16 GEMM on oneDNN: bf16 operands, f32 accumulation into an f32 copy of `C`'s
/// buffer (so the elements between rows and batches come back unchanged), rounded to
/// bf16 (nearest even) on the way back, as a GPU GEMM with a bf16 `C` and f32 compute.
/// Without oneDNN's bf16 GEMM on this CPU (no AVX-512), the same product runs in f32 on
/// the bf16 values widened (exact), so the result is the same f32-accumulated GEMM.
fn run_gemm_bf16(arena: &mut Arena, g: &GemmDesc, dnnl: Option<&OneDnn>) -> Result<()> {
    use rayon::prelude::*;
    let pa = arena.ptr(&g.a)? as *const u16;
    let pb = arena.ptr(&g.b)? as *const u16;
    let pc = arena.ptr(&g.c)? as *mut u16;
    if [pa as usize, pb as usize, pc as usize]
        .iter()
        .any(|p| p % 2 != 0)
    {
        return Err(RuntimeError::Plan(format!(
            "gemm %{}: a bf16 operand is not 2-byte aligned",
            g.name
        )));
    }
    let len = (g.c.bytes / 2) as usize;
    // SAFETY: `ptr` proved the buffer lies inside the arena, 2-byte aligned (checked);
    // C does not overlap A or B (`check`).
    let c_bf16 = unsafe { std::slice::from_raw_parts_mut(pc, len) };
    let mut c: Vec<f32> = c_bf16
        .par_iter()
        .map(|&x| half::bf16::from_bits(x).to_f32())
        .collect();
    // Many small products (attention per head): oneDNN's bf16 GEMM costs a fixed
    // ~0.5 ms a call at these sizes, so they run side by side as f32 products of the
    // bf16 values (exact in f32, so the same f32-accumulated GEMM).
    let bf16_lib = dnnl.filter(|d| d.has_bf16());
    if side_by_side(g) || bf16_lib.is_none() {
        let widen = |p: *const u16, bytes: u64| -> Vec<f32> {
            // SAFETY: `ptr` proved the buffer lies inside the arena, 2-byte aligned.
            let v = unsafe { std::slice::from_raw_parts(p, (bytes / 2) as usize) };
            v.par_iter()
                .map(|&x| half::bf16::from_bits(x).to_f32())
                .collect()
        };
        let (a, b) = (widen(pa, g.a.bytes), widen(pb, g.b.bytes));
        // SAFETY: `check` proved every addressed element lies inside the buffers, which
        // `a`, `b` and `c` copy whole.
        match dnnl {
            Some(d) if !side_by_side(g) => unsafe {
                dnnl_batches(d, g, a.as_ptr(), b.as_ptr(), c.as_mut_ptr())?
            },
            _ => unsafe { mm_batches(g, a.as_ptr(), b.as_ptr(), c.as_mut_ptr()) },
        }
    } else if let Some(d) = bf16_lib {
        // SAFETY: `check` proved every addressed element of A, B and C lies inside their
        // buffers; `c` has C's buffer's elements.
        unsafe { dnnl_batches(d, g, pa, pb, c.as_mut_ptr())? };
    }
    c_bf16
        .par_iter_mut()
        .zip(c.par_iter())
        .for_each(|(d, &x)| *d = half::bf16::from_f32(x).to_bits());
    Ok(())
}

/// Whether `g`'s batches run side by side: many small products (attention per head),
/// whose results are disjoint. The libraries thread one product only when it is large.
fn side_by_side(g: &GemmDesc) -> bool {
    let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
    let small = m * k + k * n < SMALL_GEMM;
    let disjoint = g.stride_c >= g.ldc * (g.m.max(1) - 1) + g.n;
    g.batch > 1 && small && disjoint
}

/// Every batch of `g` through oneDNN, on operands of type `T` at `pa`, `pb` into the f32
/// `C` at `pc`.
///
/// # Safety
/// Every element `g` addresses from the pointers must be valid; C overlaps neither A nor B.
unsafe fn dnnl_batches<T: Operand>(
    dnnl: &OneDnn,
    g: &GemmDesc,
    pa: *const T,
    pb: *const T,
    pc: *mut f32,
) -> Result<()> {
    for i in 0..g.batch as usize {
        // SAFETY: the caller's contract.
        let ok = unsafe {
            dnnl.gemm(
                g.trans_a,
                g.trans_b,
                g.m as usize,
                g.n as usize,
                g.k as usize,
                g.alpha as f32,
                pa.add(i * g.stride_a as usize),
                g.lda as usize,
                pb.add(i * g.stride_b as usize),
                g.ldb as usize,
                g.beta as f32,
                pc.add(i * g.stride_c as usize),
                g.ldc as usize,
            )
        };
        if !ok {
            return Err(RuntimeError::Plan(format!(
                "gemm %{}: oneDNN rejected the {} product",
                g.name, g.dtype
            )));
        }
    }
    Ok(())
}

/// Every batch of `g` through matrixmultiply on f32 operands, side by side when
/// [`side_by_side`] says so.
///
/// # Safety
/// As [`dnnl_batches`].
unsafe fn mm_batches(g: &GemmDesc, pa: *const f32, pb: *const f32, pc: *mut f32) {
    let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
    let (rsa, csa) = strides(g.trans_a, g.lda);
    let (rsb, csb) = strides(g.trans_b, g.ldb);
    let (pa, pb, pc) = (
        SendPtr(pa as *mut f32),
        SendPtr(pb as *mut f32),
        SendPtr(pc),
    );
    let one = |i: usize| {
        // SAFETY: the caller's contract; batches of C are disjoint when run side by side.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                g.alpha as f32,
                pa.get().add(i * g.stride_a as usize),
                rsa,
                csa,
                pb.get().add(i * g.stride_b as usize),
                rsb,
                csb,
                g.beta as f32,
                pc.get().add(i * g.stride_c as usize),
                g.ldc as isize,
                1,
            );
        }
    };
    if side_by_side(g) {
        use rayon::prelude::*;
        (0..g.batch as usize).into_par_iter().for_each(one);
    } else {
        (0..g.batch as usize).for_each(one);
    }
}

/// `2n³ / t` in GFLOP/s for the best time `t` of `repeat + 1` runs of `product`; `None`
/// when a run fails.
fn best_rate(n: usize, repeat: usize, mut product: impl FnMut() -> bool) -> Option<f64> {
    let mut best = f64::MAX;
    for _ in 0..repeat.max(1) + 1 {
        let t = std::time::Instant::now();
        if !product() {
            return None;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    Some(2.0 * (n as f64).powi(3) / best / 1e9)
}

/// The f32 GEMM rate of this machine through the library plan GEMMs run on: the best of
/// `repeat` `n³` products, in GFLOP/s (benchmarks report their share of it).
pub fn sgemm_peak_gflops(n: usize, repeat: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0f32; n * n];
    best_rate(n, repeat, || {
        // SAFETY: three dense n x n matrices with row stride n.
        unsafe {
            match onednn() {
                Some(d) => {
                    d.gemm(
                        false,
                        false,
                        n,
                        n,
                        n,
                        1.0,
                        a.as_ptr(),
                        n,
                        b.as_ptr(),
                        n,
                        0.0,
                        c.as_mut_ptr(),
                        n,
                    );
                }
                None => matrixmultiply::sgemm(
                    n,
                    n,
                    n,
                    1.0,
                    a.as_ptr(),
                    n as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                ),
            }
        }
        true
    })
    .unwrap_or(0.0)
}

/// The bf16 GEMM rate (bf16 operands, f32 accumulation) of this machine through oneDNN:
/// the best of `repeat` `n³` products, in GFLOP/s; `None` without oneDNN's bf16 GEMM.
pub fn bf16_gemm_peak_gflops(n: usize, repeat: usize) -> Option<f64> {
    let dnnl = onednn().filter(|d| d.has_bf16())?;
    let bits = |i: usize, m: usize| half::bf16::from_f32((i % m) as f32 * 0.1).to_bits();
    let a: Vec<u16> = (0..n * n).map(|i| bits(i, 7)).collect();
    let b: Vec<u16> = (0..n * n).map(|i| bits(i, 5)).collect();
    let mut c = vec![0f32; n * n];
    best_rate(n, repeat, || {
        // SAFETY: three dense n x n matrices with row stride n.
        unsafe {
            dnnl.gemm(
                false,
                false,
                n,
                n,
                n,
                1.0,
                a.as_ptr(),
                n,
                b.as_ptr(),
                n,
                0.0,
                c.as_mut_ptr(),
                n,
            )
        }
    })
}
