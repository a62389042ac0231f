//! Every fused gradient op against f64 central differences of its forward op. Each test
//! builds one function with inputs `(operands..., dy)` and outputs `[forward, gradient]`;
//! the numeric gradient of `sum(forward * dy)` must match the analytic one.

use crate::common::*;
use llc_ir::{AttnOperand, Builder, DType, NodeId, Op, Real};
use llc_runtime::interp::Precision;
use llc_runtime::tensor::Tensor;

const H: f64 = 1e-5;
const TOL: f64 = 1e-7;

/// Check output 1 of `f` (the analytic gradient wrt argument `wrt`) against central
/// differences of output 0; `dy` is the last argument.
fn check(f: &llc_ir::Function, args: &[Tensor], wrt: usize, what: &str) {
    let dy = args.last().expect("dy is the last argument");
    let analytic = run(f, args, Precision::F64).remove(1);
    let numeric = fd_grad(f, args, wrt, dy, H);
    assert_grad(&analytic, &numeric, TOL, what);
}

fn op(b: &mut Builder, op: Op, xs: &[NodeId]) -> NodeId {
    b.op(op, xs, None).unwrap()
}

#[test]
fn rms_norm_grads() {
    let (shape, d, eps) = ([2, 3, 5], 5, 1e-5);
    let fx = func(|b| {
        let x = input(b, "x", &shape);
        let w = input(b, "w", &[d]);
        let dy = input(b, "dy", &shape);
        let y = b.rms_norm(x, w, eps).unwrap();
        vec![y, op(b, Op::RmsNormGradX { eps: Real(eps) }, &[x, w, dy])]
    });
    let fw = func(|b| {
        let x = input(b, "x", &shape);
        let w = input(b, "w", &[d]);
        let dy = input(b, "dy", &shape);
        let y = b.rms_norm(x, w, eps).unwrap();
        vec![y, op(b, Op::RmsNormGradW { eps: Real(eps) }, &[x, dy])]
    });
    let args = [randn(&shape, 1), randn(&[d], 2), randn(&shape, 3)];
    check(&fx, &args, 0, "rms_norm_grad_x");
    check(&fw, &args, 1, "rms_norm_grad_w");
}

#[test]
fn swiglu_grads() {
    let shape = [3, 4];
    let f = |wrt_a: bool| {
        func(move |b| {
            let a = input(b, "a", &shape);
            let c = input(b, "b", &shape);
            let dy = input(b, "dy", &shape);
            let y = b.swiglu(a, c).unwrap();
            let g = if wrt_a {
                op(b, Op::SwigluGradA, &[a, c, dy])
            } else {
                op(b, Op::SwigluGradB, &[a, dy])
            };
            vec![y, g]
        })
    };
    let args = [randn(&shape, 4), randn(&shape, 5), randn(&shape, 6)];
    check(&f(true), &args, 0, "swiglu_grad_a");
    check(&f(false), &args, 1, "swiglu_grad_b");
}

#[test]
fn rope_vjp_is_the_inverse_rotation() {
    let shape = [2, 3, 2, 4];
    let f = func(|b| {
        let x = input(b, "x", &shape);
        let dy = input(b, "dy", &shape);
        let y = b.rope(x, 10000.0, false).unwrap();
        vec![y, b.rope(dy, 10000.0, true).unwrap()]
    });
    check(&f, &[randn(&shape, 7), randn(&shape, 8)], 0, "rope");
}

#[test]
fn softmax_grad() {
    let shape = [3, 5];
    let f = func(|b| {
        let x = input(b, "x", &shape);
        let dy = input(b, "dy", &shape);
        let y = b.softmax(x).unwrap();
        vec![y, op(b, Op::SoftmaxGrad, &[y, dy])]
    });
    check(
        &f,
        &[randn(&shape, 9), randn(&shape, 10)],
        0,
        "softmax_grad",
    );
}

#[test]
fn attention_grads_with_groups_and_causal_mask() {
    for (qs, ks, causal) in [
        ([1, 4, 3, 2], [1, 2, 3, 2], true),
        ([2, 2, 2, 3], [2, 1, 4, 3], false),
    ] {
        for (i, wrt) in [AttnOperand::Q, AttnOperand::K, AttnOperand::V]
            .into_iter()
            .enumerate()
        {
            let f = func(|b| {
                let q = input(b, "q", &qs);
                let k = input(b, "k", &ks);
                let v = input(b, "v", &ks);
                let dy = input(b, "dy", &qs);
                let y = b.attention(q, k, v, 0.8, causal).unwrap();
                let g = b.attention_grad(wrt, [q, k, v, dy], 0.8, causal).unwrap();
                vec![y, g]
            });
            let args = [
                randn(&qs, 11),
                randn(&ks, 12),
                randn(&ks, 13),
                randn(&qs, 14),
            ];
            check(
                &f,
                &args,
                i,
                &format!("attention_grad {wrt:?} {qs:?} {ks:?} {causal}"),
            );
        }
    }
}

#[test]
fn cross_entropy_grad() {
    let (r, v) = (4, 6);
    let f = func(|b| {
        let x = input(b, "x", &[r, v]);
        let t = b.input("t", DType::I32, &[r]).unwrap();
        let dnll = input(b, "dnll", &[r]);
        let y = b.cross_entropy(x, t).unwrap();
        vec![y, op(b, Op::CrossEntropyGrad, &[x, t, dnll])]
    });
    let args = [
        randn(&[r, v], 15),
        Tensor::random_ints([r], 0..v as i32, &mut rng(16)),
        randn(&[r], 17),
    ];
    check(&f, &args, 0, "cross_entropy_grad");
}
