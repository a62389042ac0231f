//! Shared helpers of the e-graph tests: model graphs, the step with and without the
//! e-graph, numeric comparison on the reference interpreter, op counting.

#![allow(dead_code)]

use llc_ir::{DType, Function, Op};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, EGraphReport, optimize};
use llc_passes::{OptimizerConfig, build_step, differentiate};
use llc_runtime::{Precision, Tensor, random_args, run_function};

/// The forward function of a preset at `batch x seq` in `dtype`.
pub fn forward(preset: &str, batch: usize, seq: usize, dtype: DType) -> Function {
    let cfg = LlamaConfig::preset(preset).expect("preset exists");
    let mut opts = BuildOptions::new(batch, seq);
    opts.dtype = dtype;
    let m = build_forward(&cfg, &opts).expect("model builds");
    m.functions.into_iter().next().expect("one function")
}

/// The optimizer settings of the tests: no warmup so that updates are visible.
pub fn optimizer() -> OptimizerConfig {
    OptimizerConfig {
        warmup_steps: 0,
        lr: 1e-3,
        ..OptimizerConfig::default()
    }
}

/// The training step of `forward`, with the e-graph run before autodiff (forward groups)
/// and after the optimizer (step groups) when `egraph` is set. Returns the step and the
/// two reports.
pub fn step(forward: &Function, egraph: bool) -> (Function, Vec<EGraphReport>) {
    let mut reports = Vec::new();
    let fwd = if egraph {
        let (f, r) = optimize(forward, &EGraphOptions::forward()).expect("forward e-graph");
        reports.push(r);
        f
    } else {
        forward.clone()
    };
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward").expect("autodiff");
    let (step, _) = build_step(&fb, &optimizer()).expect("optimizer");
    if egraph {
        let (s, r) = optimize(&step, &EGraphOptions::step()).expect("step e-graph");
        reports.push(r);
        (s, reports)
    } else {
        (step, reports)
    }
}

/// Run `a` and `b` on the same fresh random arguments (f64) and check every output agrees
/// within `rtol`/`atol` and is finite on both sides; token ids are drawn below `int_high`.
pub fn assert_same(a: &Function, b: &Function, seed: u64, int_high: i32, rtol: f64, atol: f64) {
    let args = random_args(a, seed, int_high, Precision::F64);
    compare_on(a, b, &args, rtol, atol).unwrap_or_else(|e| panic!("{e}"));
}

/// Run `a` and `b` on `args` (f64): every output of both must be finite (so a NaN or an
/// infinity on both sides cannot pass as agreement) and `b`'s within `rtol`/`atol` of
/// `a`'s. The error names the output and the problem.
pub fn compare_on(
    a: &Function,
    b: &Function,
    args: &[Tensor],
    rtol: f64,
    atol: f64,
) -> Result<(), String> {
    let ra = run_function(a, args, Precision::F64).map_err(|e| format!("before: {e}"))?;
    let rb = run_function(b, args, Precision::F64).map_err(|e| format!("after: {e}"))?;
    if ra.len() != rb.len() {
        return Err(format!(
            "output counts differ: {} vs {}",
            ra.len(),
            rb.len()
        ));
    }
    for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
        let name = &a.node(a.outputs()[i].node).name;
        for (side, t) in [("before", x), ("after", y)] {
            if let Some(v) = t.to_f64_vec().into_iter().find(|v| !v.is_finite()) {
                return Err(format!("output {i} (%{name}) {side} holds {v}"));
            }
        }
        llc_runtime::tensor::check_close(y, x, rtol, atol)
            .map_err(|e| format!("output {i} (%{name}) differs: {e}"))?;
    }
    Ok(())
}

/// Outputs of `f` on `args`.
pub fn run(f: &Function, args: &[Tensor]) -> Vec<Tensor> {
    run_function(f, args, Precision::F64).expect("runs")
}

/// Number of nodes whose op is named `name`.
pub fn count(f: &Function, name: &str) -> usize {
    f.node_ids()
        .filter(|&n| f.node(n).op.name() == name)
        .count()
}

/// Number of nodes matching `pred`.
pub fn count_where(f: &Function, pred: impl Fn(&Function, llc_ir::NodeId) -> bool) -> usize {
    f.node_ids().filter(|&n| pred(f, n)).count()
}

/// Whether `op` is a matmul with the given flags.
pub fn is_matmul(op: &Op) -> bool {
    matches!(op, Op::MatMul { .. })
}
