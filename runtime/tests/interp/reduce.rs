//! reduce_sum / reduce_max over any axes.

use crate::common::*;
use llc_ir::DType;
use llc_runtime::interp::Precision;

#[test]
fn reduce_over_any_axes_with_and_without_keep_dims() {
    let f = func(|b| {
        let x = input(b, "x", &[2, 3, 2]);
        vec![
            b.reduce_sum(x, &[1], false).unwrap(),
            b.reduce_sum(x, &[0, 2], true).unwrap(),
            b.reduce_max(x, &[2], false).unwrap(),
            b.reduce_sum(x, &[0, 1, 2], false).unwrap(),
            b.reduce_max(x, &[], false).unwrap(),
        ]
    });
    let v: Vec<f32> = (0..12).map(|i| ((i * 7) % 12) as f32 - 5.0).collect();
    let out = run(&f, &[t32(&[2, 3, 2], &v)], Precision::F32);
    let x = |i: usize, j: usize, k: usize| v[i * 6 + j * 2 + k] as f64;
    let mut s1 = vec![];
    for i in 0..2 {
        for k in 0..2 {
            s1.push((0..3).map(|j| x(i, j, k)).sum());
        }
    }
    assert_vals(&out[0], &[2, 2], &s1, 0.0);
    let s02: Vec<f64> = (0..3)
        .map(|j| {
            (0..2)
                .flat_map(|i| (0..2).map(move |k| (i, k)))
                .map(|(i, k)| x(i, j, k))
                .sum()
        })
        .collect();
    assert_vals(&out[1], &[1, 3, 1], &s02, 0.0);
    let m2: Vec<f64> = (0..6)
        .map(|r| x(r / 3, r % 3, 0).max(x(r / 3, r % 3, 1)))
        .collect();
    assert_vals(&out[2], &[2, 3], &m2, 0.0);
    assert_vals(&out[3], &[], &[v.iter().map(|&a| a as f64).sum()], 0.0);
    assert_vals(
        &out[4],
        &[2, 3, 2],
        &v.iter().map(|&a| a as f64).collect::<Vec<_>>(),
        0.0,
    );
}

#[test]
fn int_reductions() {
    let f = func(|b| {
        let x = b.input("x", DType::I32, &[2, 3]).unwrap();
        vec![
            b.reduce_sum(x, &[1], false).unwrap(),
            b.reduce_max(x, &[0], false).unwrap(),
        ]
    });
    let out = run(&f, &[ti(&[2, 3], &[1, -5, 3, 4, 2, -6])], Precision::F32);
    assert_eq!(out[0].as_i32(), Some(&[-1, 0][..]));
    assert_eq!(out[1].as_i32(), Some(&[4, 2, 3][..]));
}

#[test]
fn f32_sums_accumulate_in_f64() {
    // 1e8 + 1 + 1 + ... loses every 1 in f32 accumulation; f64 keeps them.
    let n = 1001;
    let mut v = vec![1.0f32; n];
    v[0] = 1e8;
    let f = func(|b| {
        let x = input(b, "x", &[n]);
        vec![b.reduce_sum(x, &[0], false).unwrap()]
    });
    let got = run1(&f, &[t32(&[n], &v)]);
    assert_eq!(got.as_f32(), Some(&[(1e8f64 + 1000.0) as f32][..]));
}

#[test]
fn reduce_max_propagates_nan() {
    let f = func(|b| {
        let x = input(b, "x", &[3]);
        vec![b.reduce_max(x, &[0], false).unwrap()]
    });
    let got = run1(&f, &[t32(&[3], &[1.0, f32::NAN, 2.0])]);
    assert!(got.to_f64_vec()[0].is_nan());
}

#[test]
fn large_leading_axis_reduction() {
    let (r, c) = (700, 64);
    let v: Vec<f32> = (0..r * c).map(|i| ((i % 13) as f32) * 0.5).collect();
    let f = func(|b| {
        let x = input(b, "x", &[r, c]);
        vec![b.reduce_sum(x, &[0], false).unwrap()]
    });
    let got = run1(&f, &[t32(&[r, c], &v)]);
    let want: Vec<f64> = (0..c)
        .map(|j| (0..r).map(|i| v[i * c + j] as f64).sum())
        .collect();
    assert_vals(&got, &[c], &want, 0.0);
}
