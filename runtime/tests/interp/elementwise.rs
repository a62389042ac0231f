//! Leaves and elementwise ops against hand-computed values.

use crate::common::*;
use llc_ir::{BinaryOp, CmpOp, DType, TensorType, UnaryOp};
use llc_runtime::interp::Precision;
use llc_runtime::tensor::Tensor;

#[test]
fn full_takes_declared_dtype_and_shape() {
    let f = func(|b| {
        vec![
            b.full(2.5, TensorType::new(DType::F32, [2, 2])).unwrap(),
            b.full(-3.7, TensorType::new(DType::I32, [3])).unwrap(),
            b.full(1.0, TensorType::new(DType::Bool, [1])).unwrap(),
            b.full(0.25, TensorType::scalar(DType::BF16)).unwrap(),
        ]
    });
    let out = run(&f, &[], Precision::F32);
    assert_vals(&out[0], &[2, 2], &[2.5; 4], 0.0);
    assert_eq!(out[1].as_i32(), Some(&[-3, -3, -3][..]));
    assert_eq!(out[2].as_bool(), Some(&[true][..]));
    assert_vals(&out[3], &[], &[0.25], 0.0);
    let out64 = run(&f, &[], Precision::F64);
    assert!(
        out64[0].as_f64().is_some(),
        "floats are stored in f64 in an f64 run"
    );
}

#[test]
fn iota_counts_along_its_axis() {
    let f = func(|b| {
        vec![
            b.iota(TensorType::new(DType::I32, [2, 3]), 1).unwrap(),
            b.iota(TensorType::new(DType::F32, [2, 3]), 0).unwrap(),
        ]
    });
    let out = run(&f, &[], Precision::F32);
    assert_eq!(out[0].as_i32(), Some(&[0, 1, 2, 0, 1, 2][..]));
    assert_vals(&out[1], &[2, 3], &[0., 0., 0., 1., 1., 1.], 0.0);
}

#[test]
fn unary_float_ops() {
    let xs = [0.5f64, 2.0, -1.5];
    type Reference = fn(f64) -> f64;
    let cases: [(UnaryOp, Reference); 11] = [
        (UnaryOp::Neg, |x| -x),
        (UnaryOp::Abs, f64::abs),
        (UnaryOp::Exp, f64::exp),
        (UnaryOp::Log, f64::ln),
        (UnaryOp::Sqrt, f64::sqrt),
        (UnaryOp::Rsqrt, |x| 1.0 / x.sqrt()),
        (UnaryOp::Recip, |x| 1.0 / x),
        (UnaryOp::Sin, f64::sin),
        (UnaryOp::Cos, f64::cos),
        (UnaryOp::Tanh, f64::tanh),
        (UnaryOp::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
    ];
    for (op, r) in cases {
        let f = func(|b| {
            let x = input(b, "x", &[3]);
            vec![b.unary(op, x).unwrap()]
        });
        let got = run(&f, &[t64(&[3], &xs)], Precision::F64).remove(0);
        let want: Vec<f64> = xs.iter().map(|&x| r(x)).collect();
        assert_vals(&got, &[3], &want, 1e-15);
    }
}

#[test]
fn sigmoid_saturates_without_nan() {
    let f = func(|b| {
        let x = input(b, "x", &[2]);
        vec![b.sigmoid(x).unwrap()]
    });
    let got = run1(&f, &[t32(&[2], &[-1000.0, 1000.0])]);
    assert_vals(&got, &[2], &[0.0, 1.0], 0.0);
}

#[test]
fn unary_int_ops_wrap() {
    let f = func(|b| {
        let x = b.input("x", DType::I32, &[3]).unwrap();
        vec![b.neg(x).unwrap(), b.unary(UnaryOp::Abs, x).unwrap()]
    });
    let out = run(&f, &[ti(&[3], &[5, -7, i32::MIN])], Precision::F32);
    assert_eq!(out[0].as_i32(), Some(&[-5, 7, i32::MIN][..]));
    assert_eq!(out[1].as_i32(), Some(&[5, 7, i32::MIN][..]));
}

#[test]
fn binary_float_ops() {
    let a = [1.0, -2.0, 3.0, 0.5];
    let c = [4.0, 2.0, -1.0, 2.0];
    let cases: [(BinaryOp, [f64; 4]); 7] = [
        (BinaryOp::Add, [5.0, 0.0, 2.0, 2.5]),
        (BinaryOp::Sub, [-3.0, -4.0, 4.0, -1.5]),
        (BinaryOp::Mul, [4.0, -4.0, -3.0, 1.0]),
        (BinaryOp::Div, [0.25, -1.0, -3.0, 0.25]),
        (BinaryOp::Max, [4.0, 2.0, 3.0, 2.0]),
        (BinaryOp::Min, [1.0, -2.0, -1.0, 0.5]),
        (BinaryOp::Pow, [1.0, 4.0, 1.0 / 3.0, 0.25]),
    ];
    for (op, want) in cases {
        let f = func(|b| {
            let x = input(b, "x", &[4]);
            let y = input(b, "y", &[4]);
            vec![b.binary(op, x, y).unwrap()]
        });
        let got = run(&f, &[t64(&[4], &a), t64(&[4], &c)], Precision::F64).remove(0);
        assert_vals(&got, &[4], &want, 1e-15);
    }
}

#[test]
fn float_max_min_propagate_nan() {
    let f = func(|b| {
        let x = input(b, "x", &[2]);
        let y = input(b, "y", &[2]);
        vec![b.max(x, y).unwrap(), b.min(y, x).unwrap()]
    });
    let out = run(
        &f,
        &[t32(&[2], &[f32::NAN, 1.0]), t32(&[2], &[0.0, f32::NAN])],
        Precision::F32,
    );
    for o in out {
        assert!(o.to_f64_vec().iter().all(|v| v.is_nan()), "{o:?}");
    }
}

#[test]
fn binary_int_ops() {
    let cases: [(BinaryOp, [i32; 4]); 6] = [
        (BinaryOp::Add, [9, -3, i32::MIN, 3]),
        (BinaryOp::Sub, [5, -11, i32::MAX - 1, -3]),
        (BinaryOp::Mul, [14, -28, i32::MAX, 0]),
        (BinaryOp::Div, [3, -1, i32::MAX, 0]),
        (BinaryOp::Max, [7, 4, i32::MAX, 3]),
        (BinaryOp::Min, [2, -7, 1, 0]),
    ];
    let a = [7, -7, i32::MAX, 0];
    let c = [2, 4, 1, 3];
    for (op, want) in cases {
        let f = func(|b| {
            let x = b.input("x", DType::I32, &[4]).unwrap();
            let y = b.input("y", DType::I32, &[4]).unwrap();
            vec![b.binary(op, x, y).unwrap()]
        });
        let got = run1(&f, &[ti(&[4], &a), ti(&[4], &c)]);
        assert_eq!(got.as_i32(), Some(&want[..]), "{op:?}");
    }
}

#[test]
fn compares_give_bools() {
    let want: [(CmpOp, [bool; 3]); 6] = [
        (CmpOp::Lt, [true, false, false]),
        (CmpOp::Le, [true, true, false]),
        (CmpOp::Gt, [false, false, false]),
        (CmpOp::Ge, [false, true, false]),
        (CmpOp::Eq, [false, true, false]),
        (CmpOp::Ne, [true, false, true]),
    ];
    for (op, w) in want {
        let f = func(|b| {
            let x = input(b, "x", &[3]);
            let y = input(b, "y", &[3]);
            let i = b.input("i", DType::I32, &[3]).unwrap();
            let j = b.input("j", DType::I32, &[3]).unwrap();
            vec![b.compare(op, x, y).unwrap(), b.compare(op, i, j).unwrap()]
        });
        let out = run(
            &f,
            &[
                t32(&[3], &[1.0, 2.0, f32::NAN]),
                t32(&[3], &[2.0, 2.0, 0.0]),
                ti(&[3], &[1, 2, 3]),
                ti(&[3], &[2, 2, 2]),
            ],
            Precision::F32,
        );
        assert_eq!(out[0].as_bool(), Some(&w[..]), "{op:?} floats");
        let wi: Vec<bool> = (0..3)
            .map(|k| match op {
                CmpOp::Lt => [1, 2, 3][k] < 2,
                CmpOp::Le => [1, 2, 3][k] <= 2,
                CmpOp::Gt => [1, 2, 3][k] > 2,
                CmpOp::Ge => [1, 2, 3][k] >= 2,
                CmpOp::Eq => [1, 2, 3][k] == 2,
                CmpOp::Ne => [1, 2, 3][k] != 2,
            })
            .collect();
        assert_eq!(out[1].as_bool(), Some(&wi[..]), "{op:?} ints");
    }
}

#[test]
fn select_picks_by_condition() {
    let f = func(|b| {
        let x = input(b, "x", &[3]);
        let y = input(b, "y", &[3]);
        let c = b.compare(CmpOp::Gt, x, y).unwrap();
        vec![b.select(c, x, y).unwrap()]
    });
    let got = run1(&f, &[t32(&[3], &[1., 5., 3.]), t32(&[3], &[2., 4., 3.])]);
    assert_vals(&got, &[3], &[2., 5., 3.], 0.0);
}

#[test]
fn casts_between_kinds() {
    let f = func(|b| {
        let x = input(b, "x", &[5]);
        let i = b.cast(x, DType::I32).unwrap();
        let back = b.cast(i, DType::F32).unwrap();
        let flag = b.cast(x, DType::Bool).unwrap();
        let from_flag = b.cast(flag, DType::I32).unwrap();
        vec![i, back, flag, from_flag]
    });
    let out = run(
        &f,
        &[t32(&[5], &[2.7, -2.7, 0.0, f32::NAN, 1e20])],
        Precision::F32,
    );
    assert_eq!(out[0].as_i32(), Some(&[2, -2, 0, 0, i32::MAX][..]));
    assert_vals(
        &out[1],
        &[5],
        &[2., -2., 0., 0., i32::MAX as f32 as f64],
        0.0,
    );
    assert_eq!(out[2].as_bool(), Some(&[true, true, false, true, true][..]));
    assert_eq!(out[3].as_i32(), Some(&[1, 1, 0, 1, 1][..]));
}

#[test]
fn cast_to_half_formats_rounds() {
    let f = func(|b| {
        let x = input(b, "x", &[3]);
        let h = b.cast(x, DType::BF16).unwrap();
        let g = b.cast(x, DType::F16).unwrap();
        let wide = b.cast(x, DType::F64).unwrap();
        vec![h, g, wide]
    });
    // 1 + 2^-9 is exact in f16 (10 mantissa bits) but not bf16 (7); 1e-8 underflows f16.
    let x = [1.0 + 2f64.powi(-9), 1.0 / 3.0, 1e-8];
    for p in [Precision::F32, Precision::F64] {
        let out = run(&f, &[t64(&[3], &x)], p);
        let bf: Vec<f64> = x
            .iter()
            .map(|&v| half::bf16::from_f64(v).to_f64())
            .collect();
        let hf: Vec<f64> = x.iter().map(|&v| half::f16::from_f64(v).to_f64()).collect();
        assert_vals(&out[0], &[3], &bf, 0.0);
        assert_vals(&out[1], &[3], &hf, 0.0);
        assert_eq!(out[0].to_f64_vec()[0], 1.0, "bf16 rounds 1 + 2^-9 to 1");
        assert_eq!(out[1].to_f64_vec()[0], 1.0 + 2f64.powi(-9), "f16 keeps it");
        assert_eq!(out[1].to_f64_vec()[2], 0.0, "f16 flushes 1e-8 to zero");
        assert_eq!(
            out[2].dtype(),
            p.dtype(),
            "a float cast stays in the working precision"
        );
    }
}

#[test]
fn f32_inputs_run_in_f64_mode() {
    let f = func(|b| {
        let x = input(b, "x", &[1]);
        vec![b.mul(x, x).unwrap()]
    });
    let x = Tensor::from_f32([1], vec![0.1]).unwrap();
    let got = run(&f, &[x], Precision::F64).remove(0);
    assert_eq!(got.as_f64(), Some(&[0.1f32 as f64 * 0.1f32 as f64][..]));
}
