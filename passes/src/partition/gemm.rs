//! Matmul nodes as GEMM descriptors. Every operand is a dense row-major buffer; a rank-2
//! right-hand side shared by every batch of the left-hand side becomes one GEMM over the
//! flattened batch (`m = batch * M`) when the left-hand side is not transposed, and a
//! batched GEMM with a zero stride on `B` when it is.

use super::classify::numel;
use super::program::{Gemm, ValueId};
use llc_ir::TensorType;

/// The GEMM computing `c = matmul(a, b)` with the given flags.
pub(crate) fn gemm_for(
    a_ty: &TensorType,
    b_ty: &TensorType,
    transpose_lhs: bool,
    transpose_rhs: bool,
    [a, b, c]: [ValueId; 3],
) -> Gemm {
    let (ra, rb) = (a_ty.rank(), b_ty.rank());
    let (a0, a1) = (a_ty.shape[ra - 2], a_ty.shape[ra - 1]);
    let (b0, b1) = (b_ty.shape[rb - 2], b_ty.shape[rb - 1]);
    let (m, k) = if transpose_lhs { (a1, a0) } else { (a0, a1) };
    let n = if transpose_rhs { b0 } else { b1 };
    let batch = numel(&a_ty.shape[..ra - 2]);
    // Leading dims of row-major operands are their last dim.
    let (lda, ldb, ldc) = (a1, b1, n);
    let shared_rhs = rb == 2;
    let (m, batch, stride_a) = if shared_rhs && !transpose_lhs {
        (m * batch, 1, m * batch * k)
    } else {
        (m, batch, a0 * a1)
    };
    Gemm {
        m,
        n,
        k,
        batch,
        trans_a: transpose_lhs,
        trans_b: transpose_rhs,
        lda,
        ldb,
        ldc,
        stride_a,
        stride_b: if shared_rhs { 0 } else { b0 * b1 },
        stride_c: m * n,
        dtype: a_ty.dtype,
        a,
        b,
        c,
    }
}

#[cfg(test)]
mod tests {
    use super::gemm_for;
    use llc_ir::{DType, TensorType};

    fn t(s: &[usize]) -> TensorType {
        TensorType::new(DType::F32, s)
    }

    #[test]
    fn a_shared_weight_flattens_the_batch() {
        // x[2,16,64] @ w[96,64]^T
        let g = gemm_for(&t(&[2, 16, 64]), &t(&[96, 64]), false, true, [0, 1, 2]);
        assert_eq!((g.m, g.n, g.k, g.batch), (32, 96, 64, 1));
        assert_eq!((g.lda, g.ldb, g.ldc), (64, 64, 96));
        assert!(g.trans_b && !g.trans_a);
    }

    #[test]
    fn a_weight_gradient_contracts_over_rows() {
        // dy[32,96]^T @ x[32,64] -> [96,64]
        let g = gemm_for(&t(&[32, 96]), &t(&[32, 64]), true, false, [0, 1, 2]);
        assert_eq!((g.m, g.n, g.k, g.batch), (96, 64, 32, 1));
        assert_eq!((g.lda, g.ldb, g.ldc), (96, 64, 64));
    }

    #[test]
    fn batched_operands_get_batch_strides() {
        // q[2,4,16,8] @ k[2,4,16,8]^T -> [2,4,16,16]
        let g = gemm_for(
            &t(&[2, 4, 16, 8]),
            &t(&[2, 4, 16, 8]),
            false,
            true,
            [0, 1, 2],
        );
        assert_eq!((g.m, g.n, g.k, g.batch), (16, 16, 8, 8));
        assert_eq!((g.stride_a, g.stride_b, g.stride_c), (128, 128, 256));
    }

    #[test]
    fn a_transposed_batched_lhs_shares_the_rhs_with_stride_zero() {
        // a[3,5,4]^T @ b[5,6] -> [3,4,6]
        let g = gemm_for(&t(&[3, 5, 4]), &t(&[5, 6]), true, false, [0, 1, 2]);
        assert_eq!((g.m, g.n, g.k, g.batch), (4, 6, 5, 3));
        assert_eq!((g.stride_a, g.stride_b, g.stride_c), (20, 0, 24));
        assert_eq!(g.lda, 4);
    }
}
