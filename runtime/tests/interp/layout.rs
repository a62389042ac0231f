//! Broadcast, reshape, transpose, slice, concat.

use crate::common::*;
use llc_ir::DType;
use llc_runtime::interp::Precision;

fn seq(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

#[test]
fn broadcast_right_aligns_like_numpy() {
    let f = func(|b| {
        let row = input(b, "row", &[3]);
        let col = input(b, "col", &[2, 1]);
        let s = input(b, "s", &[]);
        vec![
            b.broadcast(row, &[2, 3]).unwrap(),
            b.broadcast(col, &[2, 3]).unwrap(),
            b.broadcast(s, &[2, 2]).unwrap(),
            b.broadcast(col, &[2, 2, 3]).unwrap(),
        ]
    });
    let out = run(
        &f,
        &[
            t32(&[3], &[1., 2., 3.]),
            t32(&[2, 1], &[10., 20.]),
            t32(&[], &[7.]),
        ],
        Precision::F32,
    );
    assert_vals(&out[0], &[2, 3], &[1., 2., 3., 1., 2., 3.], 0.0);
    assert_vals(&out[1], &[2, 3], &[10., 10., 10., 20., 20., 20.], 0.0);
    assert_vals(&out[2], &[2, 2], &[7.; 4], 0.0);
    assert_vals(
        &out[3],
        &[2, 2, 3],
        &[10., 10., 10., 20., 20., 20., 10., 10., 10., 20., 20., 20.],
        0.0,
    );
}

#[test]
fn broadcast_of_middle_dim_and_ints() {
    let f = func(|b| {
        let x = b.input("x", DType::I32, &[2, 1, 2]).unwrap();
        vec![b.broadcast(x, &[2, 3, 2]).unwrap()]
    });
    let got = run1(&f, &[ti(&[2, 1, 2], &[1, 2, 3, 4])]);
    assert_eq!(
        got.as_i32(),
        Some(&[1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4][..])
    );
}

#[test]
fn reshape_keeps_row_major_order() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 3]);
        let r = b.reshape(x, &[3, 2]).unwrap();
        // a second user keeps `r` alive, so it cannot be moved into the next reshape
        let r2 = b.reshape(r, &[6]).unwrap();
        let e = b.exp(r).unwrap();
        vec![r2, e]
    });
    let out = run(&f, &[t32(&[2, 3], &seq(6))], Precision::F32);
    assert_vals(&out[0], &[6], &[0., 1., 2., 3., 4., 5.], 0.0);
    assert_eq!(out[1].shape(), &[3, 2]);
}

#[test]
fn transpose_arbitrary_perm() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 3, 4]);
        vec![
            b.transpose(x, &[2, 0, 1]).unwrap(),
            b.transpose(x, &[0, 2, 1]).unwrap(),
        ]
    });
    let out = run(&f, &[t32(&[2, 3, 4], &seq(24))], Precision::F32);
    let x = |i: usize, j: usize, k: usize| (i * 12 + j * 4 + k) as f64;
    let mut want0 = vec![];
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                want0.push(x(i, j, k));
            }
        }
    }
    assert_vals(&out[0], &[4, 2, 3], &want0, 0.0);
    let mut want1 = vec![];
    for i in 0..2 {
        for k in 0..4 {
            for j in 0..3 {
                want1.push(x(i, j, k));
            }
        }
    }
    assert_vals(&out[1], &[2, 4, 3], &want1, 0.0);
}

#[test]
fn large_transpose_matches_index_formula() {
    // big enough to take the parallel row path
    let (a, c) = (300, 200);
    let f = func(|b| {
        let x = input(b, "x", &[a, c]);
        vec![b.transpose(x, &[1, 0]).unwrap()]
    });
    let got = run1(&f, &[t32(&[a, c], &seq(a * c))]);
    let g = got.to_f64_vec();
    for j in 0..c {
        for i in 0..a {
            assert_eq!(g[j * a + i], (i * c + j) as f64);
        }
    }
}

#[test]
fn slice_along_each_axis() {
    let f = func(|b| {
        let x = input(b, "x", &[3, 4]);
        vec![b.slice(x, 0, 1, 3).unwrap(), b.slice(x, 1, 1, 3).unwrap()]
    });
    let out = run(&f, &[t32(&[3, 4], &seq(12))], Precision::F32);
    assert_vals(&out[0], &[2, 4], &[4., 5., 6., 7., 8., 9., 10., 11.], 0.0);
    assert_vals(&out[1], &[3, 2], &[1., 2., 5., 6., 9., 10.], 0.0);
}

#[test]
fn concat_along_inner_and_outer_axes() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 2]);
        let y = input(b, "y", &[2, 1]);
        let z = input(b, "z", &[1, 2]);
        vec![
            b.concat(&[x, y], 1).unwrap(),
            b.concat(&[x, z, x], 0).unwrap(),
        ]
    });
    let out = run(
        &f,
        &[
            t32(&[2, 2], &[1., 2., 3., 4.]),
            t32(&[2, 1], &[9., 8.]),
            t32(&[1, 2], &[5., 6.]),
        ],
        Precision::F32,
    );
    assert_vals(&out[0], &[2, 3], &[1., 2., 9., 3., 4., 8.], 0.0);
    assert_vals(
        &out[1],
        &[5, 2],
        &[1., 2., 3., 4., 5., 6., 1., 2., 3., 4.],
        0.0,
    );
}

#[test]
fn reshape_of_a_dying_value_and_of_an_argument() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 3]);
        let e = b.neg(x).unwrap();
        // `e` has no other user: its buffer is moved, not copied
        let r = b.reshape(e, &[6]).unwrap();
        // an argument is borrowed from the caller: copied
        let rx = b.reshape(x, &[3, 2]).unwrap();
        vec![r, rx, x]
    });
    let out = run(&f, &[t32(&[2, 3], &seq(6))], Precision::F32);
    assert_vals(&out[0], &[6], &[0., -1., -2., -3., -4., -5.], 0.0);
    assert_vals(&out[1], &[3, 2], &[0., 1., 2., 3., 4., 5.], 0.0);
    assert_vals(&out[2], &[2, 3], &[0., 1., 2., 3., 4., 5.], 0.0);
}
