//! matmul against a naive triple loop for every transpose flag, batch layout and shared
//! rank-2 rhs.

use crate::common::*;
use llc_runtime::interp::Precision;
use llc_runtime::tensor::{Tensor, max_abs_diff};

/// `lhs[..., M, K] @ rhs[..., K, N]` by loops over explicit indices, in f64.
fn naive(a: &Tensor, b: &Tensor, tl: bool, tr: bool) -> Tensor {
    let (ash, bsh) = (a.shape(), b.shape());
    let (ra, rb) = (ash.len(), bsh.len());
    let (m, k) = if tl {
        (ash[ra - 1], ash[ra - 2])
    } else {
        (ash[ra - 2], ash[ra - 1])
    };
    let n = if tr { bsh[rb - 2] } else { bsh[rb - 1] };
    let batches: usize = ash[..ra - 2].iter().product();
    let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
    let a_at = |bi: usize, i: usize, p: usize| {
        let base = bi * ash[ra - 2] * ash[ra - 1];
        if tl {
            av[base + p * m + i]
        } else {
            av[base + i * k + p]
        }
    };
    let b_at = |bi: usize, p: usize, j: usize| {
        let base = if rb == 2 {
            0
        } else {
            bi * bsh[rb - 2] * bsh[rb - 1]
        };
        if tr {
            bv[base + j * k + p]
        } else {
            bv[base + p * n + j]
        }
    };
    let mut out = Vec::new();
    for bi in 0..batches {
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).map(|p| a_at(bi, i, p) * b_at(bi, p, j)).sum());
            }
        }
    }
    let mut shape = ash[..ra - 2].to_vec();
    shape.extend([m, n]);
    Tensor::from_f64(shape, out).unwrap()
}

fn check(lhs_shape: &[usize], rhs_shape: &[usize], tl: bool, tr: bool, seed: u64) {
    let f = func(|b| {
        let x = input(b, "x", lhs_shape);
        let y = input(b, "y", rhs_shape);
        vec![b.matmul_t(x, y, tl, tr).unwrap()]
    });
    let a = randn(lhs_shape, seed);
    let bt = randn(rhs_shape, seed + 1);
    let want = naive(&a, &bt, tl, tr);
    let got64 = run(&f, &[a.clone(), bt.clone()], Precision::F64).remove(0);
    assert!(
        max_abs_diff(&got64, &want) < 1e-12,
        "f64 {lhs_shape:?} {rhs_shape:?} tl={tl} tr={tr}: {}",
        max_abs_diff(&got64, &want)
    );
    let got32 = run(&f, &[a, bt], Precision::F32).remove(0);
    assert!(
        max_abs_diff(&got32, &want) < 1e-4,
        "f32 {lhs_shape:?} {rhs_shape:?} tl={tl} tr={tr}"
    );
}

fn shape(batch: &[usize], r: usize, c: usize, t: bool) -> Vec<usize> {
    let mut s = batch.to_vec();
    if t {
        s.extend([c, r])
    } else {
        s.extend([r, c])
    }
    s
}

#[test]
fn all_flag_combinations_rank2() {
    let (m, k, n) = (5, 7, 3);
    for tl in [false, true] {
        for tr in [false, true] {
            check(&shape(&[], m, k, tl), &shape(&[], k, n, tr), tl, tr, 1);
        }
    }
}

#[test]
fn batched_and_shared_rhs() {
    let (m, k, n) = (4, 6, 5);
    for tl in [false, true] {
        for tr in [false, true] {
            // batched rhs
            check(
                &shape(&[2, 3], m, k, tl),
                &shape(&[2, 3], k, n, tr),
                tl,
                tr,
                2,
            );
            // rank-2 rhs shared by every batch
            check(&shape(&[3], m, k, tl), &shape(&[], k, n, tr), tl, tr, 3);
        }
    }
}

#[test]
fn larger_shapes_use_threads_and_stay_exact() {
    // big enough for matrixmultiply's threads and the parallel batch path
    check(&[70, 130], &[130, 90], false, false, 4);
    check(&[6, 40, 64], &[6, 40, 64], false, true, 5);
    check(&[2, 130, 128], &[130, 257], true, false, 6);
}

#[test]
fn hand_computed_2x2() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 2]);
        let y = input(b, "y", &[2, 2]);
        vec![b.matmul(x, y).unwrap()]
    });
    let got = run1(
        &f,
        &[
            t32(&[2, 2], &[1., 2., 3., 4.]),
            t32(&[2, 2], &[5., 6., 7., 8.]),
        ],
    );
    assert_vals(&got, &[2, 2], &[19., 22., 43., 50.], 0.0);
}

#[test]
fn empty_contraction_gives_zeros() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 0]);
        let y = input(b, "y", &[0, 3]);
        vec![b.matmul(x, y).unwrap()]
    });
    let got = run1(&f, &[t32(&[2, 0], &[]), t32(&[0, 3], &[])]);
    assert_vals(&got, &[2, 3], &[0.0; 6], 0.0);
}
