//! A plan GEMM as the column-major call cuBLASLt and cuBLAS take: the operands swapped by
//! [`GemmDesc::column_major`], sizes checked against the libraries' integer types, and the
//! alignment of every operand pointer (cuBLASLt picks kernels that assume 256-byte
//! aligned pointers unless told otherwise, and views into the arena may be less aligned).

use super::error::CudaError;
use llc_ir::DType;
use llc_ir::plan::GemmDesc;

/// Alignment of the arena's base pointer (`cuMemAlloc` returns at least this).
pub const ARENA_BASE_ALIGNMENT: u64 = 256;

/// One GEMM in column-major form: `C = alpha * op(A) op(B) + beta * C` with `C` `m x n`,
/// for `batch` matrices `stride_*` elements apart. Offsets are bytes into the arena.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmCall {
    /// The IR value computed (for error messages).
    pub name: String,
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub batch: u64,
    pub trans_a: bool,
    pub trans_b: bool,
    pub lda: u64,
    pub ldb: u64,
    pub ldc: u64,
    pub stride_a: u64,
    pub stride_b: u64,
    pub stride_c: u64,
    pub a: u64,
    pub b: u64,
    pub c: u64,
    /// Element type of A, B and C (f32, bf16 or f16); accumulation is always f32.
    pub dtype: DType,
    pub alpha: f32,
    pub beta: f32,
    /// Largest power of two (at most 256) dividing every address of each operand.
    pub align_a: u32,
    pub align_b: u32,
    pub align_c: u32,
}

/// Largest power of two, at most [`ARENA_BASE_ALIGNMENT`], dividing `offset` and, when
/// there is more than one batch, the batch stride in bytes.
pub fn alignment(offset: u64, stride_bytes: u64, batch: u64) -> u32 {
    let mut g = offset | ARENA_BASE_ALIGNMENT;
    if batch > 1 && stride_bytes != 0 {
        g |= stride_bytes;
    }
    (g & g.wrapping_neg()).min(ARENA_BASE_ALIGNMENT) as u32
}

impl GemmCall {
    /// The column-major call for `g`, or why the libraries cannot run it.
    pub fn from_desc(g: &GemmDesc) -> Result<GemmCall, CudaError> {
        let bad = |msg: String| Err(CudaError::Plan(format!("gemm %{}: {msg}", g.name)));
        if !matches!(g.dtype, DType::F32 | DType::BF16 | DType::F16) {
            return bad(format!(
                "element type {} is not supported on the GPU (f32, bf16, f16)",
                g.dtype
            ));
        }
        if !g.compute.is_float() || g.compute == DType::F64 {
            return bad(format!("accumulation type {} is not supported", g.compute));
        }
        let cm = g.column_major();
        let int_max = i32::MAX as u64;
        for (what, v) in [
            ("m", cm.m),
            ("n", cm.n),
            ("k", cm.k),
            ("batch", cm.batch),
            ("lda", cm.lda),
            ("ldb", cm.ldb),
            ("ldc", cm.ldc),
        ] {
            if v > int_max {
                return bad(format!(
                    "{what} = {v} does not fit cuBLAS's 32-bit integers"
                ));
            }
        }
        if cm.m == 0 || cm.n == 0 || cm.batch == 0 {
            return bad("an empty GEMM (m, n or batch is 0)".into());
        }
        let elem = g.dtype.size_bytes() as u64;
        Ok(GemmCall {
            name: g.name.clone(),
            m: cm.m,
            n: cm.n,
            k: cm.k,
            batch: cm.batch,
            trans_a: cm.trans_a,
            trans_b: cm.trans_b,
            lda: cm.lda,
            ldb: cm.ldb,
            ldc: cm.ldc,
            stride_a: cm.stride_a,
            stride_b: cm.stride_b,
            stride_c: cm.stride_c,
            a: cm.a.offset,
            b: cm.b.offset,
            c: cm.c.offset,
            dtype: g.dtype,
            alpha: g.alpha as f32,
            beta: g.beta as f32,
            align_a: alignment(cm.a.offset, cm.stride_a * elem, cm.batch),
            align_b: alignment(cm.b.offset, cm.stride_b * elem, cm.batch),
            align_c: alignment(cm.c.offset, cm.stride_c * elem, cm.batch),
        })
    }

    /// Rows and columns of A as stored (column-major): `m x k`, or `k x m` when transposed.
    pub fn a_shape(&self) -> (u64, u64) {
        if self.trans_a {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        }
    }

    /// Rows and columns of B as stored: `k x n`, or `n x k` when transposed.
    pub fn b_shape(&self) -> (u64, u64) {
        if self.trans_b {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        }
    }

    /// Whether an operand is shared by every batch (stride 0 with several batches): such
    /// GEMMs go to cuBLAS's strided-batched call, which documents stride 0 as valid.
    pub fn broadcasts_an_operand(&self) -> bool {
        self.batch > 1 && (self.stride_a == 0 || self.stride_b == 0)
    }

    /// `2 m n k batch`.
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k * self.batch) as f64
    }

    /// Reference result in f64 for small column-major operands given as f64 slices that
    /// start at the operands' first elements: the rule the GPU call must follow, used by
    /// tests to check the translation from the row-major plan.
    pub fn reference(&self, a: &[f64], b: &[f64], c: &mut [f64]) {
        let (m, n, k) = (self.m as usize, self.n as usize, self.k as usize);
        for bi in 0..self.batch as usize {
            let (oa, ob, oc) = (
                bi * self.stride_a as usize,
                bi * self.stride_b as usize,
                bi * self.stride_c as usize,
            );
            for j in 0..n {
                for i in 0..m {
                    let mut acc = 0.0;
                    for p in 0..k {
                        let av = if self.trans_a {
                            a[oa + p + i * self.lda as usize]
                        } else {
                            a[oa + i + p * self.lda as usize]
                        };
                        let bv = if self.trans_b {
                            b[ob + j + p * self.ldb as usize]
                        } else {
                            b[ob + p + j * self.ldb as usize]
                        };
                        acc += av * bv;
                    }
                    let ci = oc + i + j * self.ldc as usize;
                    c[ci] = f64::from(self.alpha) * acc + f64::from(self.beta) * c[ci];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llc_ir::plan::BufRef;

    fn desc(m: u64, n: u64, k: u64, batch: u64, ta: bool, tb: bool) -> GemmDesc {
        let (lda, ldb) = (if ta { m } else { k }, if tb { k } else { n });
        let r = |o: u64| BufRef {
            buffer: 0,
            offset: o,
            bytes: 1 << 20,
        };
        GemmDesc {
            name: "c".into(),
            m,
            n,
            k,
            batch,
            trans_a: ta,
            trans_b: tb,
            lda,
            ldb,
            ldc: n,
            stride_a: m * k,
            stride_b: k * n,
            stride_c: m * n,
            dtype: DType::F32,
            compute: DType::F32,
            alpha: 1.0,
            beta: 0.0,
            a: r(0),
            b: r(4096),
            c: r(8192),
        }
    }

    /// Row-major reference: `C[i] = op(A[i]) op(B[i])` straight from the plan's rule.
    fn row_major(g: &GemmDesc, a: &[f64], b: &[f64]) -> Vec<f64> {
        let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
        let mut c = vec![0.0; g.batch as usize * m * n];
        for bi in 0..g.batch as usize {
            for i in 0..m {
                for j in 0..n {
                    let mut acc = 0.0;
                    for p in 0..k {
                        let av = if g.trans_a {
                            a[bi * g.stride_a as usize + p * g.lda as usize + i]
                        } else {
                            a[bi * g.stride_a as usize + i * g.lda as usize + p]
                        };
                        let bv = if g.trans_b {
                            b[bi * g.stride_b as usize + j * g.ldb as usize + p]
                        } else {
                            b[bi * g.stride_b as usize + p * g.ldb as usize + j]
                        };
                        acc += av * bv;
                    }
                    c[bi * g.stride_c as usize + i * g.ldc as usize + j] = acc;
                }
            }
        }
        c
    }

    #[test]
    fn the_column_major_call_computes_the_row_major_product() {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let g = desc(3, 5, 4, 2, ta, tb);
            let a: Vec<f64> = (0..2 * 12).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..2 * 20).map(|i| (i as f64 * 0.71).cos()).collect();
            let want = row_major(&g, &a, &b);
            let call = GemmCall::from_desc(&g).unwrap();
            assert_eq!((call.m, call.n), (5, 3), "m and n swap");
            // The column-major call reads the row-major B as its A and vice versa.
            let mut got = vec![0.0; want.len()];
            call.reference(&b, &a, &mut got);
            for (x, y) in got.iter().zip(&want) {
                assert!(
                    (x - y).abs() < 1e-12,
                    "trans {ta} {tb}: {got:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn alignment_is_the_largest_power_of_two_dividing_every_address() {
        assert_eq!(alignment(0, 0, 1), 256);
        assert_eq!(alignment(4096, 0, 1), 256);
        assert_eq!(alignment(4096 + 48, 0, 1), 16);
        assert_eq!(alignment(4, 0, 1), 4);
        // Batches 12 bytes apart: every other matrix is only 4-byte aligned.
        assert_eq!(alignment(256, 12, 3), 4);
        // A single batch's stride does not matter.
        assert_eq!(alignment(256, 12, 1), 256);
    }

    #[test]
    fn operand_alignments_follow_the_swap() {
        let mut g = desc(8, 8, 8, 1, false, false);
        g.a.offset = 4096 + 32;
        let call = GemmCall::from_desc(&g).unwrap();
        assert_eq!(call.align_b, 32, "row-major A is the column-major B");
        assert_eq!(call.align_a, 256);
    }

    #[test]
    fn unsupported_gemms_say_why() {
        let mut g = desc(2, 2, 2, 1, false, false);
        g.dtype = DType::F64;
        let e = GemmCall::from_desc(&g).unwrap_err().to_string();
        assert!(
            e.contains("gemm %c: element type f64 is not supported"),
            "{e}"
        );
        let mut g = desc(2, 2, 2, 1, false, false);
        g.n = 1 << 32;
        let e = GemmCall::from_desc(&g).unwrap_err().to_string();
        assert!(e.contains("m = 4294967296 does not fit"), "{e}");
    }

    #[test]
    fn a_shared_operand_is_recognised() {
        let mut g = desc(4, 6, 5, 3, true, false);
        g.stride_b = 0;
        let call = GemmCall::from_desc(&g).unwrap();
        assert!(call.broadcasts_an_operand());
        assert!(
            !GemmCall::from_desc(&desc(4, 6, 5, 3, true, false))
                .unwrap()
                .broadcasts_an_operand()
        );
    }
}
