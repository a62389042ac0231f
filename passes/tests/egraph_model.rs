//! The e-graph on real Llama graphs: numerics of the tiny model's forward, gradients and
//! whole step against the path without the e-graph; fused-op counts on llama2-7b's step;
//! no K/V head copies and one fused QKV projection per layer on llama2-70b's step.

mod egraph_common;

use egraph_common::*;
use llc_ir::{DType, Function, Op};
use llc_passes::differentiate;
use llc_passes::egraph::{EGraphOptions, function_cost, optimize};

#[test]
fn tiny_forward_is_unchanged_numerically() {
    let f = forward("tiny", 2, 8, DType::F64);
    let (g, r) = optimize(&f, &EGraphOptions::forward()).expect("optimizes");
    assert!(!r.kept_input, "{r}");
    for seed in [11, 12, 13] {
        assert_same(&f, &g, seed, 256, 1e-10, 1e-10);
    }
}

#[test]
fn tiny_gradients_are_unchanged_numerically() {
    let f = forward("tiny", 2, 8, DType::F64);
    let (plain, _) = differentiate(&f, "loss", "forward_backward").expect("autodiff");
    let (fused_fwd, _) = optimize(&f, &EGraphOptions::forward()).expect("forward e-graph");
    let (fused, _) = differentiate(&fused_fwd, "loss", "forward_backward").expect("autodiff");
    let (both, r) = optimize(&fused, &EGraphOptions::step()).expect("step e-graph");
    assert!(r.fired("horizontal-shared-operand") > 0, "{r}");
    // Outputs: loss, then grad.<param> for every parameter, in the same order.
    assert_eq!(plain.outputs().len(), both.outputs().len());
    for seed in [21, 22] {
        assert_same(&plain, &fused, seed, 256, 1e-9, 1e-10);
        assert_same(&plain, &both, seed, 256, 1e-9, 1e-10);
    }
}

#[test]
fn tiny_step_is_unchanged_numerically() {
    let f = forward("tiny", 2, 8, DType::F64);
    let (plain, _) = step(&f, false);
    let (opt, reports) = step(&f, true);
    // Same signature: arguments, outputs and what each output updates.
    assert_eq!(plain.args().len(), opt.args().len());
    for (a, b) in plain.args().iter().zip(opt.args()) {
        assert_eq!(plain.node(*a).name, opt.node(*b).name);
        assert_eq!(plain.ty(*a), opt.ty(*b));
    }
    for (a, b) in plain.outputs().iter().zip(opt.outputs()) {
        let name = |f: &Function, n| f.node(n).name.clone();
        assert_eq!(
            a.updates.map(|u| name(&plain, u)),
            b.updates.map(|u| name(&opt, u))
        );
    }
    assert!(reports.iter().all(|r| !r.kept_input));
    for seed in [31, 32] {
        assert_same(&plain, &opt, seed, 256, 1e-9, 1e-10);
    }
}

/// Nodes that materialize a copy of K/V heads: a broadcast of `[B, KV, 1, T, hd]` along
/// the group axis (the builder's repeat), forward or backward.
fn kv_head_copies(f: &Function) -> usize {
    count_where(f, |f, n| {
        matches!(f.node(n).op, Op::Broadcast) && {
            let src = &f.ty(f.operands(n)[0]).shape;
            src.len() == 5 && src[2] == 1 && f.ty(n).shape[2] > 1
        }
    })
}

/// Matmuls with the given right-operand flag whose right operand is a concatenation of
/// `n` weights along axis 0 (`width` rows): `x @ W^T` forward, `dY @ W` backward.
fn concat_weight_matmuls(f: &Function, n: usize, width: usize, forward: bool) -> usize {
    count_where(f, |f, m| {
        let Op::MatMul { transpose_rhs, .. } = f.node(m).op else {
            return false;
        };
        if transpose_rhs != forward {
            return false;
        }
        let rhs = f.operands(m)[1];
        matches!(f.node(rhs).op, Op::Concat { axis: 0 })
            && f.operands(rhs).len() == n
            && f.operands(rhs).iter().all(|&w| f.arg_role(w).is_some())
            && f.ty(rhs).shape[0] == width
    })
}

#[test]
fn llama2_7b_step_has_fused_forward_and_backward_ops() {
    let f = forward("llama2-7b", 1, 16, DType::BF16);
    let (s, reports) = step(&f, true);
    let l = 32;
    for (op, n) in [
        ("rms_norm", 2 * l + 1),
        ("rms_norm_grad_x", 2 * l + 1),
        ("rms_norm_grad_w", 2 * l + 1),
        ("swiglu", l),
        ("swiglu_grad_a", l),
        ("swiglu_grad_b", l),
        ("attention", l),
        ("attention_grad", 3 * l),
        ("cross_entropy", 1),
        ("cross_entropy_grad", 1),
    ] {
        assert_eq!(count(&s, op), n, "{op}\n{}", reports[1]);
    }
    // RoPE on q and k forward, and its inverse (the VJP) backward.
    let rope = |inverse: bool| {
        count_where(
            &s,
            |f, n| matches!(f.node(n).op, Op::Rope { inverse: i, .. } if i == inverse),
        )
    };
    assert_eq!((rope(false), rope(true)), (2 * l, 2 * l));
    // No primitive spelling of softmax or the norms survives.
    for op in ["exp", "rsqrt", "sigmoid", "softmax", "softmax_grad"] {
        assert_eq!(count(&s, op), 0, "{op} left");
    }
}

#[test]
fn llama2_7b_estimated_step_bytes_drop() {
    // Costs depend on shapes, so use a real training shape (the graph is the same size).
    let f = forward("llama2-7b", 1, 4096, DType::BF16);
    let (plain, _) = step(&f, false);
    let (opt, reports) = step(&f, true);
    let before = function_cost(&plain).expect("costs");
    let after = function_cost(&opt).expect("costs");
    let factor = before.bytes / after.bytes;
    println!(
        "llama2-7b step (bf16, 1x4096): {:.1} GB -> {:.1} GB ({factor:.2}x), {:.1} ms -> {:.1} ms\n{}\n{}",
        before.bytes / 1e9,
        after.bytes / 1e9,
        before.seconds() * 1e3,
        after.seconds() * 1e3,
        reports[0],
        reports[1]
    );
    assert!(factor > 2.0, "only {factor:.2}x");
    assert!(after.seconds() < before.seconds());
    // Forward and backward alone (the optimizer's elementwise AdamW is the same on both
    // paths and dominates the step's bytes).
    let (fb_plain, _) = differentiate(&f, "loss", "forward_backward").expect("autodiff");
    let (fwd, _) = optimize(&f, &EGraphOptions::forward()).expect("forward e-graph");
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward").expect("autodiff");
    let (fb_opt, _) = optimize(&fb, &EGraphOptions::step()).expect("step e-graph");
    let (b, a) = (
        function_cost(&fb_plain).expect("costs"),
        function_cost(&fb_opt).expect("costs"),
    );
    println!(
        "llama2-7b forward+backward: {:.1} GB -> {:.1} GB ({:.2}x), {:.1} ms -> {:.1} ms",
        b.bytes / 1e9,
        a.bytes / 1e9,
        b.bytes / a.bytes,
        b.seconds() * 1e3,
        a.seconds() * 1e3
    );
    assert!(b.bytes / a.bytes > 5.0, "only {:.2}x", b.bytes / a.bytes);
}

#[test]
fn llama2_70b_step_shares_kv_heads_and_fuses_qkv() {
    let f = forward("llama2-70b", 1, 16, DType::BF16);
    assert_eq!(kv_head_copies(&f), 2 * 80, "the builder repeats K and V");
    let (s, _) = step(&f, true);
    assert_eq!(kv_head_copies(&s), 0);
    // Nor is a K/V gradient summed back over copies: no reduce over a 5-d group axis.
    let group_sums = count_where(
        &s,
        |f, n| matches!(&f.node(n).op, Op::Reduce { axes, .. } if f.ty(f.operands(n)[0]).rank() == 5 && axes == &[2]),
    );
    assert_eq!(group_sums, 0);
    // One fused QKV projection per layer: x @ concat(wq, wk, wv)^T, 8192 + 2 * 1024 rows,
    // and its input gradient dQKV @ concat(wq, wk, wv) on the same concatenation.
    let qkv = 8192 + 2 * 1024;
    assert_eq!(concat_weight_matmuls(&s, 3, qkv, true), 80);
    assert_eq!(concat_weight_matmuls(&s, 3, qkv, false), 80);
    // The weight gradients come out of one matmul per layer too: [qkv, 8192], sliced.
    let wide_grads = count_where(&s, |f, n| {
        matches!(
            f.node(n).op,
            Op::MatMul {
                transpose_lhs: true,
                ..
            }
        ) && f.ty(n).shape == [qkv, 8192]
    });
    assert_eq!(wide_grads, 80);
    // And W1/W3 of every SwiGLU.
    assert_eq!(concat_weight_matmuls(&s, 2, 2 * 28672, true), 80);
    assert_eq!(concat_weight_matmuls(&s, 2, 2 * 28672, false), 80);
}

#[test]
fn masked_loss_and_logits_forwards_fuse_and_agree() {
    use llc_models::{BuildOptions, ForwardOutput, LlamaConfig, build_forward};
    let cfg = LlamaConfig::preset("tiny").expect("preset");
    for (mask, output) in [(true, ForwardOutput::Loss), (false, ForwardOutput::Logits)] {
        let mut o = BuildOptions::new(2, 8);
        o.dtype = DType::F64;
        o.loss_mask = mask;
        o.output = output;
        let f = build_forward(&cfg, &o).expect("builds").functions.remove(0);
        let (g, _) = optimize(&f, &EGraphOptions::forward()).expect("optimizes");
        assert_eq!(count(&g, "rms_norm"), 5);
        assert_eq!(count(&g, "attention"), 2);
        let ce = usize::from(output == ForwardOutput::Loss);
        assert_eq!(count(&g, "cross_entropy"), ce);
        assert_same(&f, &g, 41, 256, 1e-10, 1e-10);
    }
}
