//! The generated kernels, run on the CPU (codegen's CPU flavor through MLIR's execution
//! engine), agree with the interpreter on random inputs. This checks the strategies, the
//! index math (broadcasts, vector lanes, rows, columns, split reductions, rope pairs) and
//! every op's lowering; see `llc_codegen::cpu` for what only a GPU run can check.

use crate::common;

use crate::common::check::{agree, args_for};
use llc_ir::ReduceKind;
use llc_runtime::Tensor;

const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-5;

fn check(f: &llc_ir::Function) -> f64 {
    let args = args_for(f, 7, 0, |_, t| t.clone());
    agree(f, &args, RTOL, ATOL)
}

#[test]
fn elementwise_chains_vectorized_and_scalar() {
    check(&common::elementwise_chain(8, 64));
    check(&common::elementwise_chain(3, 7));
}

#[test]
fn adamw_updates_three_buffers() {
    let f = common::adamw(&[16, 33]);
    let args = args_for(&f, 3, 0, |i, t| match i {
        // v >= 0; lr, bias corrections, clip scale: positive scalars
        3 => Tensor::from_f32(
            t.shape().to_vec(),
            t.to_f32_vec().iter().map(|v| v.abs()).collect(),
        )
        .unwrap(),
        4 => Tensor::scalar_f32(3e-4),
        5 => Tensor::scalar_f32(10.0),
        6 => Tensor::scalar_f32(20.0),
        7 => Tensor::scalar_f32(0.5),
        _ => t.clone(),
    });
    agree(&f, &args, RTOL, ATOL);
}

#[test]
fn rms_norm_forward_and_grad_x() {
    check(&common::rms_norm(5, 64));
    check(&common::rms_norm(3, 10));
    check(&common::rms_norm_grad_x(4, 48));
    check(&common::rms_norm_grad_x(2, 6));
}

#[test]
fn rms_norm_grad_w_in_column_and_block_layouts() {
    // 40 outputs: 32-column blocks (two launches: row statistics, then column sums)
    check(&common::rms_norm_grad_w(2, 3, 40));
    // 8 outputs: one block per output
    check(&common::rms_norm_grad_w(2, 5, 8));
}

#[test]
fn softmax_and_grad() {
    check(&common::softmax(&[2, 3, 5, 16]));
    check(&common::softmax(&[3, 9]));
    check(&common::softmax_grad(&[2, 3, 12]));
    check(&common::masked_softmax(2, 2, 8));
}

#[test]
fn cross_entropy_and_grad_with_i32_targets() {
    for (rows, v) in [(6, 50), (4, 64)] {
        for f in [
            common::cross_entropy(rows, v),
            common::cross_entropy_grad(rows, v),
            common::mean_loss(rows, v),
        ] {
            let args = args_for(&f, 11, v as i32, |_, t| t.clone());
            agree(&f, &args, RTOL, ATOL);
        }
    }
}

#[test]
fn reductions_to_scalars_and_leading_axes() {
    check(&common::sum_squares(&[3, 5]));
    // 512·1024 elements to a scalar: split over 64 blocks, then combined
    check(&common::sum_squares(&[512, 1024]));
    check(&common::reduce(&[4, 6, 8], &[0, 1], ReduceKind::Sum, false));
    check(&common::reduce(&[4, 6, 40], &[0], ReduceKind::Max, true));
    check(&common::reduce(&[4, 6, 8], &[1], ReduceKind::Sum, false));
    check(&common::reduce(&[4, 6, 8], &[0, 2], ReduceKind::Max, false));
    check(&common::reduce(&[7, 300], &[0, 1], ReduceKind::Max, false));
}

#[test]
fn swiglu_and_grads() {
    check(&common::swiglu_fwd_bwd(&[4, 36]));
    check(&common::swiglu_fwd_bwd(&[5, 3]));
}

#[test]
fn rope_forward_and_inverse() {
    for inverse in [false, true] {
        check(&common::rope(&[2, 5, 3, 8], inverse));
        // head dim 6: lane groups straddle pairs and heads
        check(&common::rope(&[1, 3, 2, 6], inverse));
        check(&common::rope(&[1, 3, 1, 2], inverse));
    }
}

#[test]
fn integer_and_bool_ops() {
    let f = common::int_ops(13);
    let args = args_for(&f, 5, 9, |i, t| match i {
        // signed values in -4..5 for i
        0 => Tensor::from_i32(
            t.shape().to_vec(),
            t.as_i32().unwrap().iter().map(|v| v - 4).collect(),
        )
        .unwrap(),
        _ => t.clone(),
    });
    agree(&f, &args, 0.0, 0.0);
}
