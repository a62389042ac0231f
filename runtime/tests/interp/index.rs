//! gather and scatter_add.

use crate::common::*;
use llc_ir::DType;
use llc_runtime::interp::Precision;

#[test]
fn gather_rows_with_nd_indices() {
    let f = func(|b| {
        let t = input(b, "table", &[4, 2]);
        let i = b.input("idx", DType::I32, &[2, 2]).unwrap();
        vec![b.gather(t, i).unwrap()]
    });
    let got = run1(
        &f,
        &[
            t32(&[4, 2], &[0., 1., 10., 11., 20., 21., 30., 31.]),
            ti(&[2, 2], &[3, 0, 1, 3]),
        ],
    );
    assert_vals(
        &got,
        &[2, 2, 2],
        &[30., 31., 0., 1., 10., 11., 30., 31.],
        0.0,
    );
}

#[test]
fn gather_from_int_table_of_rank1() {
    let f = func(|b| {
        let t = b.input("table", DType::I32, &[3]).unwrap();
        let i = b.input("idx", DType::I32, &[4]).unwrap();
        vec![b.gather(t, i).unwrap()]
    });
    let got = run1(&f, &[ti(&[3], &[7, 8, 9]), ti(&[4], &[2, 2, 0, 1])]);
    assert_eq!(got.as_i32(), Some(&[9, 9, 7, 8][..]));
}

#[test]
fn scatter_add_sums_repeated_rows() {
    let f = func(|b| {
        let i = b.input("idx", DType::I32, &[3]).unwrap();
        let u = input(b, "upd", &[3, 2]);
        vec![b.scatter_add(i, u, 4).unwrap()]
    });
    let got = run1(
        &f,
        &[
            ti(&[3], &[2, 0, 2]),
            t32(&[3, 2], &[1., 2., 3., 4., 5., 6.]),
        ],
    );
    assert_vals(&got, &[4, 2], &[3., 4., 0., 0., 6., 8., 0., 0.], 0.0);
}

#[test]
fn scatter_add_is_the_transpose_of_gather() {
    // <gather(T, i), U> == <T, scatter_add(i, U)> for random T, U, i.
    let (v, d) = (50, 3);
    let f = func(|b| {
        let t = input(b, "t", &[v, d]);
        let i = b.input("i", DType::I32, &[4, 40]).unwrap();
        let u = input(b, "u", &[4, 40, d]);
        let g = b.gather(t, i).unwrap();
        let s = b.scatter_add(i, u, v).unwrap();
        let gu = b.mul(g, u).unwrap();
        let ts = b.mul(t, s).unwrap();
        vec![b.sum_all(gu).unwrap(), b.sum_all(ts).unwrap()]
    });
    let idx = llc_runtime::tensor::Tensor::random_ints([4, 40], 0..v as i32, &mut rng(9));
    let out = run(
        &f,
        &[randn(&[v, d], 1), idx, randn(&[4, 40, d], 2)],
        Precision::F64,
    );
    let (a, c) = (out[0].to_f64_vec()[0], out[1].to_f64_vec()[0]);
    assert!((a - c).abs() < 1e-10, "{a} vs {c}");
}
