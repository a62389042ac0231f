//! The plan executor (one byte arena laid out by the memory plan, kernels run by the
//! interpreter, GEMMs by descriptor) against the interpreter on the unpartitioned
//! function: loss, every gradient, and every updated parameter, moment and counter.

use llc_ir::{Function, Module};
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
    let cfg = LlamaConfig::preset(preset).unwrap();
    let m: Module = build_forward(&cfg, &BuildOptions::new(batch, seq)).unwrap();
    let mut fwd = m.function("forward").unwrap().clone();
    if fused {
        fwd = optimize(&fwd, &EGraphOptions::forward()).unwrap().0;
    }
    let opts = AutodiffOptions::default();
    let (mut fb, _) = differentiate(&fwd, &opts.loss, &opts.output_function).unwrap();
    let (mut step, _) = build_step(&fb, &OptimizerConfig::default()).unwrap();
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

fn check_preset(preset: &str, batch: usize, seq: usize, fused: bool) {
    let (fb, step) = functions(preset, batch, seq, fused);
    let vocab = LlamaConfig::preset(preset).unwrap().vocab_size as i32;
    // Loss and every gradient.
    let args = random_args(&fb, 1, vocab, Precision::F32);
    let want = run_function(&fb, &args, Precision::F32).unwrap();
    let (_, got, _) = run_plan(&fb, &args, Schedule::Auto);
    let e = compare(&fb, &got, &want, 1e-5);
    eprintln!("{preset} forward_backward: worst relative error {e:e}");
    // The whole step: loss, grad_norm, lr, updated params, moments and counter.
    let mut args = random_args(&step, 2, vocab, Precision::F32);
    // A realistic counter (the schedule's warmup), zero first moments.
    let counter = step
        .args()
        .iter()
        .position(|&a| step.node(a).name == "opt.step")
        .unwrap();
    args[counter] = Tensor::scalar_i32(10);
    let want = run_function(&step, &args, Precision::F32).unwrap();
    let (prog, got, ex) = run_plan(&step, &args, Schedule::Auto);
    let e = compare(&step, &got, &want, 1e-5);
    eprintln!(
        "{preset} step: worst relative error {e:e}; {:?}",
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
