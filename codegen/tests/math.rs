//! The math functions' range reductions and special cases (the code around the NVVM
//! approximations, which the CPU flavor replaces by exact LLVM intrinsics) agree with the
//! interpreter over wide input ranges, infinities and NaN.

use crate::common::check::agree;
use llc_ir::{Builder, DType, Function, UnaryOp};
use llc_runtime::Tensor;

fn unary(op: UnaryOp, n: usize) -> Function {
    let mut f = Function::new(op.name());
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[n]).unwrap();
    let y = b.unary(op, x).unwrap();
    b.output(y);
    f
}

fn inputs(lo: f32, hi: f32, n: usize, special: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n - special.len())
        .map(|i| lo + (hi - lo) * i as f32 / (n - special.len() - 1) as f32)
        .collect();
    v.extend_from_slice(special);
    v
}

fn check_unary(op: UnaryOp, xs: Vec<f32>, rtol: f64, atol: f64) {
    let f = unary(op, xs.len());
    let args = [Tensor::from_f32(vec![xs.len()], xs).unwrap()];
    agree(&f, &args, rtol, atol);
}

const SPECIAL: [f32; 4] = [f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0];

#[test]
fn exp_over_its_whole_range() {
    // results below the normal range (x < -87.3) have fewer significant bits
    check_unary(
        UnaryOp::Exp,
        inputs(-110.0, 95.0, 4001, &SPECIAL),
        3e-7,
        1e-38,
    );
    check_unary(UnaryOp::Exp, inputs(-1e-3, 1e-3, 401, &[]), 2e-7, 0.0);
    check_unary(
        UnaryOp::Sigmoid,
        inputs(-100.0, 100.0, 2001, &SPECIAL),
        5e-7,
        1e-30,
    );
}

#[test]
fn log_and_roots() {
    check_unary(
        UnaryOp::Log,
        inputs(1e-30, 1e30, 2001, &[1.0, 0.0, f32::INFINITY]),
        3e-7,
        1e-7,
    );
    check_unary(UnaryOp::Log, inputs(0.5, 2.0, 1001, &[]), 3e-7, 1e-7);
    check_unary(
        UnaryOp::Sqrt,
        inputs(0.0, 1e6, 1001, &[f32::INFINITY]),
        1e-7,
        0.0,
    );
    check_unary(
        UnaryOp::Rsqrt,
        inputs(1e-6, 1e6, 1001, &[f32::INFINITY]),
        2e-7,
        0.0,
    );
    check_unary(UnaryOp::Abs, inputs(-5.0, 5.0, 101, &SPECIAL), 1e-9, 0.0);
}

#[test]
fn sin_and_cos_at_rope_sized_angles() {
    // rope angles reach the context length (4096 rad); reduction keeps them accurate
    for op in [UnaryOp::Sin, UnaryOp::Cos] {
        check_unary(op, inputs(-4.0, 4.0, 1001, &[0.0]), 1e-6, 1e-7);
        check_unary(op, inputs(-5000.0, 5000.0, 20001, &[]), 1e-6, 2e-6);
    }
}

#[test]
fn tanh_near_zero_and_far() {
    check_unary(
        UnaryOp::Tanh,
        inputs(-0.3, 0.3, 1001, &[0.0, -0.0]),
        3e-7,
        0.0,
    );
    check_unary(
        UnaryOp::Tanh,
        inputs(-20.0, 20.0, 2001, &SPECIAL),
        5e-7,
        0.0,
    );
}

#[test]
fn pow_with_negative_bases_and_trivial_cases() {
    let mut f = Function::new("pow");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[12]).unwrap();
    let y = b.input("y", DType::F32, &[12]).unwrap();
    let p = b.pow(x, y).unwrap();
    b.output(p);
    let xs = [
        2.0, 0.5, 10.0, -2.0, -2.0, -3.0, 1.0, 7.0, 0.0, 0.0, -8.0, 1.5,
    ];
    let ys = [
        3.0,
        -2.5,
        0.5,
        3.0,
        2.0,
        -1.0,
        f32::NAN,
        0.0,
        2.0,
        -1.0,
        0.0,
        20.0,
    ];
    let args = [
        Tensor::from_f32(vec![12], xs.to_vec()).unwrap(),
        Tensor::from_f32(vec![12], ys.to_vec()).unwrap(),
    ];
    agree(&f, &args, 2e-6, 0.0);
}
