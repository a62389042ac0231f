//! Training the tiny config on the CPU interpreter with and without the e-graph gives the
//! same losses, and the e-graph is deterministic: the same input gives byte-identical IR.

mod egraph_common;

use egraph_common::*;
use llc_ir::{ArgRole, DType, Function, print_function};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_runtime::{Precision, Tensor, random_args, run_function};

/// Run `step` `n` times from one initialization (random params, zero optimizer state,
/// one fixed batch), feeding every `updates` output back; the loss of each step.
fn train(step: &Function, n: usize) -> Vec<f64> {
    let mut args = random_args(step, 2024, 256, Precision::F32);
    for (i, &a) in step.args().iter().enumerate() {
        if step.arg_role(a) == Some(ArgRole::State) {
            args[i] = Tensor::zeros(step.ty(a), Precision::F32);
        }
    }
    let arg_index = |node| {
        step.args()
            .iter()
            .position(|&a| a == node)
            .expect("an argument")
    };
    let loss_at = step
        .outputs()
        .iter()
        .position(|o| step.node(o.node).name == "loss")
        .expect("a loss output");
    let mut losses = Vec::with_capacity(n);
    for _ in 0..n {
        let outs = run_function(step, &args, Precision::F32).expect("step runs");
        losses.push(outs[loss_at].to_f64_vec()[0]);
        for (o, t) in step.outputs().iter().zip(outs) {
            if let Some(u) = o.updates {
                args[arg_index(u)] = t;
            }
        }
    }
    losses
}

#[test]
fn tiny_training_losses_match_without_the_egraph() {
    let f = forward("tiny", 2, 8, DType::F32);
    let (plain, _) = step(&f, false);
    let (opt, _) = step(&f, true);
    let a = train(&plain, 20);
    let b = train(&opt, 20);
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    println!("losses without: {a:.5?}\nlosses with:    {b:.5?}\nmax |diff| {max_diff:.2e}");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 1e-4, "step {i}: {x} vs {y}\n{a:?}\n{b:?}");
    }
    // It trains: the loss on the repeated batch falls.
    assert!(b[19] < b[0] - 0.5, "{b:?}");
}

#[test]
fn same_input_gives_byte_identical_output() {
    let f = forward("tiny", 2, 8, DType::F32);
    let (s1, r1) = step(&f, true);
    let (s2, r2) = step(&f, true);
    assert_eq!(print_function(&s1), print_function(&s2));
    for (a, b) in r1.iter().zip(&r2) {
        assert_eq!(a.rules_fired, b.rules_fired);
        assert_eq!(
            (a.enodes, a.eclasses, a.iterations),
            (b.enodes, b.eclasses, b.iterations)
        );
    }
    // A bigger graph, where hash-map orders would show: the llama2-7b forward.
    let g = forward("llama2-7b", 1, 16, DType::BF16);
    let (g1, _) = optimize(&g, &EGraphOptions::forward()).expect("optimizes");
    let (g2, _) = optimize(&g, &EGraphOptions::forward()).expect("optimizes");
    assert_eq!(print_function(&g1), print_function(&g2));
}
