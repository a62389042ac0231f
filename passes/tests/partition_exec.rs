//! The plan executor (one byte arena laid out by the memory plan, kernels run by the
//! interpreter, GEMMs by descriptor) against the interpreter on the unpartitioned
//! function: loss, every gradient, and every updated parameter, moment and counter.
//! Updates are compared as deltas (`p_after - p_before`) at a learning rate where they
//! are far above f32 rounding, once in the schedule's warmup and once in its cosine decay.

use llc_ir::{ArgRole, DType, Function, Module};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_passes::memplan::{MemPlanOptions, PlanTarget, Schedule, assemble_plan, plan_memory};
use llc_passes::partition::{InterpreterTarget, PartitionOptions, Program, Step, partition};
use llc_passes::{AutodiffOptions, OptimizerConfig, build_step, differentiate};
use llc_runtime::tensor::rel_l2_diff;
use llc_runtime::{PlanExecutor, Precision, Tensor, random_args, run_function};

/// `forward_backward` (loss and `grad.*`) and `step` of a preset; with `fused`, the
/// e-graph runs on the forward graph and on the step (fused ops, GQA attention,
/// horizontal QKV/W1W3 matmuls), as the compile pipeline does.
fn functions(preset: &str, batch: usize, seq: usize, fused: bool) -> (Function, Function) {
    functions_with(preset, batch, seq, fused, &OptimizerConfig::default())
}

/// The optimizer of the update checks: a peak learning rate of 1e-2 (updates near 1e-2,
/// some 1e5 times f32's rounding of a parameter near 1), 4 warmup steps and the cosine
/// floor at step 12, so counters 1 and 7 take the warmup and the cosine branch.
fn visible_optimizer() -> OptimizerConfig {
    OptimizerConfig {
        lr: 1e-2,
        warmup_steps: 4,
        total_steps: 12,
        ..OptimizerConfig::default()
    }
}

fn functions_with(
    preset: &str,
    batch: usize,
    seq: usize,
    fused: bool,
    optimizer: &OptimizerConfig,
) -> (Function, Function) {
    let cfg = LlamaConfig::preset(preset).unwrap();
    let m: Module = build_forward(&cfg, &BuildOptions::new(batch, seq)).unwrap();
    let mut fwd = m.function("forward").unwrap().clone();
    if fused {
        fwd = optimize(&fwd, &EGraphOptions::forward()).unwrap().0;
    }
    let opts = AutodiffOptions::default();
    let (mut fb, _) = differentiate(&fwd, &opts.loss, &opts.output_function).unwrap();
    let (mut step, _) = build_step(&fb, optimizer).unwrap();
    if fused {
        fb = optimize(&fb, &EGraphOptions::step()).unwrap().0;
        step = optimize(&step, &EGraphOptions::step()).unwrap().0;
    }
    (fb, step)
}

/// Run `f` through partition, memory planning and the plan executor.
fn run_plan(
    f: &Function,
    args: &[Tensor],
    schedule: Schedule,
) -> (Program, Vec<Tensor>, PlanExecutor) {
    run_plan_with(f, args, schedule, &PartitionOptions::default())
}

fn run_plan_with(
    f: &Function,
    args: &[Tensor],
    schedule: Schedule,
    opts: &PartitionOptions,
) -> (Program, Vec<Tensor>, PlanExecutor) {
    let prog = partition(f, opts, &InterpreterTarget).unwrap();
    let mp = plan_memory(
        &prog,
        &MemPlanOptions {
            schedule,
            ..Default::default()
        },
    )
    .unwrap();
    let plan = assemble_plan(&prog, &mp, &PlanTarget::cpu(&prog));
    let json = plan.to_json();
    let plan = llc_ir::plan::Plan::from_json(&json).unwrap();
    let kernels = prog.kernels.iter().map(|k| k.func.clone()).collect();
    let mut ex = PlanExecutor::new(plan, kernels).unwrap();
    ex.set_args(args).unwrap();
    ex.run().unwrap();
    let outs = ex.outputs().unwrap();
    (prog, outs, ex)
}

/// Compare every result by name; returns the worst relative error.
fn compare(f: &Function, got: &[Tensor], want: &[Tensor], tol: f64) -> f64 {
    let mut worst = 0.0f64;
    for (o, (g, w)) in f.outputs().iter().zip(got.iter().zip(want)) {
        let name = &f.node(o.node).name;
        let e = rel_l2_diff(g, w);
        assert!(e < tol, "result %{name}: relative error {e:e} >= {tol:e}");
        worst = worst.max(e);
    }
    worst
}

/// The L2 norm.
fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `sum((a - b)^2) / sum(b^2)`, square-rooted, in f64.
fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Every float state the step updates (parameters and moments): the plan's change
/// `after - before` against the interpreter's, relative L2 below `tol`, and the
/// interpreter's change of every parameter at least `1e-4` of the parameter (f32 rounding
/// is ~6e-8), so a wrong step size, a missing decay or a dropped update fails.
fn check_deltas(step: &Function, args: &[Tensor], got: &[Tensor], want: &[Tensor], tol: f64) {
    let mut params = 0;
    for (o, (g, w)) in step.outputs().iter().zip(got.iter().zip(want)) {
        let Some(a) = o.updates else { continue };
        if step.ty(a).dtype == DType::I32 {
            continue;
        }
        let name = &step.node(a).name;
        let i = step.args().iter().position(|&x| x == a).unwrap();
        let before = args[i].to_f64_vec();
        let delta = |t: &Tensor| -> Vec<f64> {
            t.to_f64_vec()
                .iter()
                .zip(&before)
                .map(|(x, b)| x - b)
                .collect()
        };
        let (dg, dw) = (delta(g), delta(w));
        let e = rel_l2(&dg, &dw);
        assert!(
            e < tol,
            "update of %{name}: relative error {e:e} >= {tol:e}"
        );
        if step.arg_role(a) == Some(ArgRole::Param) {
            params += 1;
            let size = norm(&dw) / norm(&before);
            assert!(
                size > 1e-4,
                "update of %{name} is invisible: {size:e} of it"
            );
        }
    }
    assert!(params > 0, "the step updates parameters");
}

fn check_preset(preset: &str, batch: usize, seq: usize, fused: bool) {
    let opt = visible_optimizer();
    let (fb, step) = functions_with(preset, batch, seq, fused, &opt);
    let vocab = LlamaConfig::preset(preset).unwrap().vocab_size as i32;
    // Loss and every gradient.
    let args = random_args(&fb, 1, vocab, Precision::F32);
    let want = run_function(&fb, &args, Precision::F32).unwrap();
    let (_, got, _) = run_plan(&fb, &args, Schedule::Auto);
    let e = compare(&fb, &got, &want, 1e-5);
    eprintln!("{preset} forward_backward: worst relative error {e:e}");
    // The whole step: loss, grad_norm, lr, updated params, moments and counter, in the
    // warmup (counter 1: step 2 of 4) and in the cosine decay (counter 7: step 8 of 12).
    for counter_value in [1, 7] {
        let step = &step;
        let counter = step
            .args()
            .iter()
            .position(|&a| step.node(a).name == "opt.step")
            .unwrap();
        let mut args = random_args(step, 2, vocab, Precision::F32);
        args[counter] = Tensor::scalar_i32(counter_value);
        let want = run_function(step, &args, Precision::F32).unwrap();
        let (prog, got, ex) = run_plan(step, &args, Schedule::Auto);
        let e = compare(step, &got, &want, 1e-5);
        eprintln!(
            "{preset} step (counter {counter_value}): worst relative error {e:e}; {:?}",
            prog.counts()
        );
        assert!(
            !prog.steps.iter().any(|s| matches!(s, Step::Copy { .. })),
            "every update is computed in place"
        );
        // Updated state is also where the next step reads it: the arguments' own buffers.
        for (o, w) in step.outputs().iter().zip(&want) {
            if let Some(a) = o.updates {
                let now = ex.arg(&step.node(a).name).unwrap();
                assert!(
                    rel_l2_diff(&now, w) < 1e-5,
                    "argument %{} was not updated",
                    step.node(a).name
                );
            }
        }
        // The schedule's branch: the lr result is the formula's value at t = counter + 1.
        let t = counter_value as f64 + 1.0;
        let lr_out = step
            .outputs()
            .iter()
            .position(|o| step.node(o.node).name == "lr")
            .unwrap();
        let lr = got[lr_out].to_f64_vec()[0];
        let want_lr = llc_passes::optimizer::lr_at(&opt, t);
        assert!(
            (lr - want_lr).abs() <= 1e-6 * want_lr,
            "lr {lr} at step {t}, the schedule gives {want_lr}"
        );
        let in_warmup = t <= opt.warmup_steps as f64;
        assert_eq!(in_warmup, counter_value == 1);
        assert!(lr < opt.lr && lr > opt.min_lr_ratio * opt.lr, "lr {lr}");
        check_deltas(step, &args, &got, &want, 1e-4);
    }
}

#[test]
fn tiny_plan_matches_the_interpreter() {
    check_preset("tiny", 2, 16, false);
}

#[test]
fn tiny_fused_plan_matches_the_interpreter() {
    check_preset("tiny", 2, 16, true);
}

#[test]
fn llama2_15m_plan_matches_the_interpreter() {
    check_preset("llama2-15m", 1, 32, false);
}

#[test]
fn llama2_15m_fused_plan_matches_the_interpreter() {
    check_preset("llama2-15m", 1, 32, true);
}

#[test]
fn data_movement_as_library_steps_gives_the_same_results() {
    for fused in [false, true] {
        let (_, step) = functions("tiny", 1, 8, fused);
        let args = random_args(&step, 4, 256, Precision::F32);
        let want = run_function(&step, &args, Precision::F32).unwrap();
        let opts = PartitionOptions {
            library_moves: true,
            ..Default::default()
        };
        let (prog, got, _) = run_plan_with(&step, &args, Schedule::Auto, &opts);
        assert!(
            prog.counts().moves > 0,
            "transposes, gathers, scatter-adds are steps"
        );
        compare(&step, &got, &want, 1e-5);
    }
}

#[test]
fn both_schedules_give_the_same_results() {
    let (_, step) = functions("tiny", 1, 8, true);
    let args = random_args(&step, 3, 256, Precision::F32);
    let (_, a, _) = run_plan(&step, &args, Schedule::Builder);
    let (_, b, _) = run_plan(&step, &args, Schedule::Greedy);
    compare(&step, &a, &b, 1e-6);
}
