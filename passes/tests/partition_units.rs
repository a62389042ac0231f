//! Structural tests of partitioning and memory planning on small functions and the tiny
//! Llama step: kernel classes, dedupe across layers, GEMM splits, in-place updates and
//! their ordering, memory-plan soundness, and attention lowering against the
//! interpreter.

use llc_ir::plan::KernelClass;
use llc_ir::{ArgRole, AttnOperand, Builder, DType, Function, Op, TensorType, print_function};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_passes::lower_attention::lower_attention;
use llc_passes::memplan::{MemPlanOptions, Schedule, plan_memory};
use llc_passes::partition::{
    InterpreterTarget, KernelTarget, Layout, PartitionOptions, Program, Refusal, Step, ValueKind,
    partition, step_predecessors,
};
use llc_passes::{OptimizerConfig, PassError, build_step, differentiate};
use llc_runtime::tensor::rel_l2_diff;
use llc_runtime::{Precision, random_args, run_function};

fn step_of(cfg: &LlamaConfig, batch: usize, seq: usize, fused: bool) -> Function {
    let m = build_forward(cfg, &BuildOptions::new(batch, seq)).unwrap();
    let mut fwd = m.function("forward").unwrap().clone();
    if fused {
        fwd = optimize(&fwd, &EGraphOptions::forward()).unwrap().0;
    }
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward").unwrap();
    let (mut step, _) = build_step(&fb, &OptimizerConfig::default()).unwrap();
    if fused {
        step = optimize(&step, &EGraphOptions::step()).unwrap().0;
    }
    step
}

fn tiny(layers: usize) -> LlamaConfig {
    LlamaConfig {
        n_layers: layers,
        ..LlamaConfig::preset("tiny").unwrap()
    }
}

#[test]
fn no_kernel_stays_a_single_op_kernel() {
    for fused in [false, true] {
        let step = step_of(&tiny(2), 2, 8, fused);
        let p = partition(&step, &PartitionOptions::default(), &InterpreterTarget).unwrap();
        for k in &p.kernels {
            assert_ne!(
                k.class,
                KernelClass::Single,
                "{} stayed a single-op kernel:\n{}",
                k.name,
                print_function(&k.func)
            );
        }
    }
}

/// A target that takes one computing op per kernel (constants and broadcasts aside) and
/// no scatter kernels: stands for a target that can do less than the fusion policy asks.
struct OneOpPerKernel;

fn refusal(why: &str) -> Refusal {
    let e: Box<dyn std::error::Error + Send + Sync> = why.into();
    e.into()
}

impl KernelTarget for OneOpPerKernel {
    fn name(&self) -> &str {
        "one-op"
    }

    fn check_kernel(&self, k: &Function, class: KernelClass) -> Result<(), Refusal> {
        if class == KernelClass::Scatter {
            return Err(refusal("no scatter kernels here"));
        }
        let ops = k
            .node_ids()
            .filter(|&n| {
                !matches!(
                    k.node(n).op,
                    Op::Arg { .. } | Op::Full { .. } | Op::Iota { .. } | Op::Broadcast
                )
            })
            .count();
        if ops > 1 {
            return Err(refusal(&format!("{ops} ops in one kernel")));
        }
        Ok(())
    }
}

#[test]
fn the_partitioner_fuses_only_what_the_target_accepts() {
    let mut f = Function::new("chain");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[4, 8]).unwrap();
    let e = b.exp(x).unwrap();
    let m = b.mul(e, x).unwrap();
    let a = b.add(m, e).unwrap();
    b.output(a);
    let fused = partition(&f, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    assert_eq!(fused.kernels.len(), 1);
    let split = partition(&f, &PartitionOptions::default(), &OneOpPerKernel).unwrap();
    assert_eq!(split.kernels.len(), 3, "one kernel per op");
    for k in &split.kernels {
        OneOpPerKernel.check_kernel(&k.func, k.class).unwrap();
    }
    let args = random_args(&f, 3, 0, Precision::F32);
    let want = run_function(&f, &args, Precision::F32).unwrap();
    for p in [&fused, &split] {
        let got = execute(p, &args);
        assert!(rel_l2_diff(&got[0], &want[0]) < 1e-6);
    }
}

#[test]
fn a_kernel_the_target_refuses_is_an_error_naming_it() {
    let mut f = Function::new("scatter");
    let mut b = Builder::new(&mut f);
    let idx = b.input("idx", DType::I32, &[3]).unwrap();
    let upd = b.input("upd", DType::F32, &[3, 4]).unwrap();
    let s = b.scatter_add(idx, upd, 5).unwrap();
    b.output(s);
    let err = partition(&f, &PartitionOptions::default(), &OneOpPerKernel).unwrap_err();
    assert!(matches!(err, PassError::KernelRefused { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("one-op") && msg.contains("scatter") && msg.contains("no scatter kernels"),
        "{msg}"
    );
}

#[test]
fn distinct_kernels_do_not_grow_with_depth() {
    let count = |layers| {
        let p = partition(
            &step_of(&tiny(layers), 1, 8, true),
            &PartitionOptions::default(),
            &InterpreterTarget,
        )
        .unwrap();
        (p.kernels.len(), p.counts().launches)
    };
    let (k2, l2) = count(2);
    let (k5, l5) = count(5);
    assert_eq!(k2, k5, "distinct kernels");
    assert!(l5 > l2, "more layers, more launches ({l2} -> {l5})");
}

#[test]
fn horizontal_matmuls_need_no_copies_and_updates_are_packed() {
    let step = step_of(&tiny(2), 2, 8, true);
    let p = partition(&step, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    // No strided slice or concat is left around the fused QKV and W1/W3 matmuls: the
    // only data movement in kernels is the attention transposes and the embedding.
    for k in &p.kernels {
        for n in k.func.node_ids() {
            let op = k.func.node(n).op.name();
            assert!(
                op != "slice" && op != "concat",
                "{} copies: {}",
                k.name,
                print_function(&k.func)
            );
        }
    }
    assert!(!p.steps.iter().any(|s| matches!(s, Step::Copy { .. })));
    // Every parameter update lands in its argument's bytes, from one kernel per class
    // (decayed matrices, undecayed norm gains) plus the step counter.
    let writers: Vec<usize> = p
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.writes().iter().any(|&w| {
                let (root, _) = p.root(w);
                matches!(p.values[root].kind, ValueKind::Arg(ArgRole::Param))
            })
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(writers.len(), 2, "two update kernels write parameters");
}

/// A parameter read by a GEMM and updated in place: the GEMM must come first.
#[test]
fn an_in_place_update_waits_for_every_reader_of_the_old_value() {
    let mut f = Function::new("step");
    let mut b = Builder::new(&mut f);
    let w = b.param("w", DType::F32, &[4, 4]).unwrap();
    let x = b.input("x", DType::F32, &[2, 4]).unwrap();
    let y = b.matmul(x, w).unwrap();
    let s = b.sum_all(y).unwrap();
    let next = b.mul_scalar(w, 0.5).unwrap();
    b.output(s);
    b.output_update(next, w);
    let p = partition(&f, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    let (update, _) = p
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| {
            matches!(s, Step::Kernel { .. }) && s.writes().iter().any(|&v| p.root(v).0 == p.args[0])
        })
        .expect("the update is computed in place");
    let gemm = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Gemm(_)))
        .unwrap();
    let preds = step_predecessors(&p, &Layout::new(&p));
    assert!(preds[update].contains(&gemm), "write after read: {preds:?}");
    assert!(gemm < update, "program order respects it");
    // And the plan computes the right thing.
    let args = random_args(&f, 5, 0, Precision::F32);
    let want = run_function(&f, &args, Precision::F32).unwrap();
    let got = execute(&p, &args);
    for (g, w) in got.iter().zip(&want) {
        assert!(rel_l2_diff(g, w) < 1e-6);
    }
}

/// State updated in place and read by later steps (a decode step's cache: the write,
/// then attention over the new cache): no copy back, the readers see the new value.
#[test]
fn an_update_read_by_later_steps_is_still_in_place() {
    let mut f = Function::new("step");
    let mut b = Builder::new(&mut f);
    let c = b.state("cache", DType::F32, &[4, 4]).unwrap();
    let row = b.input("row", DType::F32, &[1, 4]).unwrap();
    let x = b.input("x", DType::F32, &[2, 4]).unwrap();
    let row = b.broadcast(row, &[4, 4]).unwrap();
    let half = b.mul_scalar(c, 0.5).unwrap();
    let next = b.add(half, row).unwrap();
    let y = b.matmul(x, next).unwrap();
    let s = b.sum_all(y).unwrap();
    b.output(s);
    b.output_update(next, c);
    let p = partition(&f, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    assert!(
        !p.steps.iter().any(|s| matches!(s, Step::Copy { .. })),
        "the update is computed in place: {:?}",
        p.steps
    );
    let update = p
        .steps
        .iter()
        .position(|s| {
            matches!(s, Step::Kernel { .. }) && s.writes().iter().any(|&v| p.root(v).0 == p.args[0])
        })
        .expect("a kernel writes the cache's bytes");
    let gemm = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Gemm(_)))
        .unwrap();
    assert!(update < gemm, "the GEMM reads the new cache");
    let args = random_args(&f, 5, 0, Precision::F32);
    let want = run_function(&f, &args, Precision::F32).unwrap();
    let got = execute(&p, &args);
    for (g, w) in got.iter().zip(&want) {
        assert!(rel_l2_diff(g, w) < 1e-6);
    }
}

/// Run a program through memory planning and the plan executor.
fn execute(p: &Program, args: &[llc_runtime::Tensor]) -> Vec<llc_runtime::Tensor> {
    use llc_passes::memplan::{PlanTarget, assemble_plan};
    let mp = plan_memory(p, &MemPlanOptions::default()).unwrap();
    let plan = assemble_plan(p, &mp, &PlanTarget::cpu(p));
    let mut ex =
        llc_runtime::PlanExecutor::new(plan, p.kernels.iter().map(|k| k.func.clone()).collect())
            .unwrap();
    ex.set_args(args).unwrap();
    ex.run().unwrap();
    ex.outputs().unwrap()
}

/// No two activation values alive at the same step share a byte, unless one is a view
/// of the other; every allocation is aligned.
fn assert_sound(p: &Program, schedule: Schedule) -> llc_passes::memplan::MemoryPlan {
    let mp = plan_memory(
        p,
        &MemPlanOptions {
            schedule,
            ..Default::default()
        },
    )
    .unwrap();
    let layout = Layout::new(p);
    let n = p.values.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    let outputs: Vec<usize> = p.outputs.iter().map(|o| layout.loc(p, o.value).0).collect();
    for (at, &s) in mp.order.iter().enumerate() {
        for v in p.steps[s].reads().into_iter().chain(p.steps[s].writes()) {
            let place = layout.loc(p, v).0;
            for &(r, _, _) in &layout.places[place].members {
                first[r] = first[r].min(at);
                last[r] = last[r].max(at);
            }
        }
    }
    let roots: Vec<usize> = (0..n)
        .filter(|&v| matches!(p.values[v].kind, ValueKind::Computed) && first[v] != usize::MAX)
        .collect();
    for &a in &roots {
        let pa = layout.loc(p, a).0;
        let a_last = if outputs.contains(&pa) {
            usize::MAX
        } else {
            last[a]
        };
        let (sa, ea) = (
            mp.value_offsets[a],
            mp.value_offsets[a] + p.values[a].ty.size_bytes() as u64,
        );
        for &b in &roots {
            if a >= b || layout.loc(p, b).0 == pa {
                continue;
            }
            let b_last = if outputs.contains(&layout.loc(p, b).0) {
                usize::MAX
            } else {
                last[b]
            };
            let alive_together = first[a] <= b_last && first[b] <= a_last;
            let (sb, eb) = (
                mp.value_offsets[b],
                mp.value_offsets[b] + p.values[b].ty.size_bytes() as u64,
            );
            assert!(
                !(alive_together && sa < eb && sb < ea),
                "%{} and %{} are alive together and overlap",
                p.values[a].name,
                p.values[b].name
            );
        }
    }
    for place in &layout.places {
        let off = mp.value_offsets[place.members[0].0];
        assert_eq!(
            off % mp.alignment,
            0,
            "allocation of %{} is not aligned",
            p.values[place.members[0].0].name
        );
    }
    mp
}

#[test]
fn memory_plans_are_sound_and_never_worse_than_builder_order() {
    for fused in [false, true] {
        let p = partition(
            &step_of(&tiny(2), 2, 16, fused),
            &PartitionOptions::default(),
            &InterpreterTarget,
        )
        .unwrap();
        let builder = assert_sound(&p, Schedule::Builder);
        let greedy = assert_sound(&p, Schedule::Greedy);
        let auto = assert_sound(&p, Schedule::Auto);
        assert_eq!(
            auto.report.activation_bytes,
            builder
                .report
                .activation_bytes
                .min(greedy.report.activation_bytes)
        );
        assert!(auto.report.activation_bytes >= auto.report.live_peak_bytes);
        assert!(auto.report.intermediate_sum_bytes > auto.report.activation_bytes);
        // The regions tile the arena in order.
        let mut at = 0;
        for r in &auto.regions {
            assert_eq!(r.offset, at);
            at += r.bytes;
        }
        assert_eq!(at, auto.arena_bytes);
    }
}

/// `attention` and its three gradients with grouped-query heads, as one function.
fn attention_function(hq: usize, hkv: usize, t: usize, causal: bool) -> Function {
    let (bsz, hd) = (2, 8);
    let mut f = Function::new("attn");
    let mut b = Builder::new(&mut f);
    let q = b.input("q", DType::F32, &[bsz, hq, t, hd]).unwrap();
    let k = b.input("k", DType::F32, &[bsz, hkv, t, hd]).unwrap();
    let v = b.input("v", DType::F32, &[bsz, hkv, t, hd]).unwrap();
    let dy = b.input("dy", DType::F32, &[bsz, hq, t, hd]).unwrap();
    let scale = 1.0 / (hd as f64).sqrt();
    let o = b.attention(q, k, v, scale, causal).unwrap();
    b.output(o);
    for wrt in [AttnOperand::Q, AttnOperand::K, AttnOperand::V] {
        let g = b.attention_grad(wrt, [q, k, v, dy], scale, causal).unwrap();
        b.output(g);
    }
    f
}

#[test]
fn lowered_attention_matches_the_interpreter() {
    for (hq, hkv, causal) in [(4, 2, true), (4, 4, true), (6, 2, false), (4, 1, true)] {
        let f = attention_function(hq, hkv, 5, causal);
        let mut lowered = f.clone();
        let stats = lower_attention(&mut lowered).unwrap();
        assert_eq!((stats.forward, stats.backward), (1, 3));
        llc_ir::verify_function(&lowered, &Default::default()).unwrap();
        assert!(
            lowered.node_ids().all(|n| !matches!(
                lowered.node(n).op,
                llc_ir::Op::Attention { .. } | llc_ir::Op::AttentionGrad { .. }
            )),
            "no attention op is left"
        );
        let args = random_args(&f, 11, 0, Precision::F32);
        let want = run_function(&f, &args, Precision::F32).unwrap();
        let got = run_function(&lowered, &args, Precision::F32).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let e = rel_l2_diff(g, w);
            assert!(
                e < 1e-5,
                "hq {hq} hkv {hkv} causal {causal}: result {i} off by {e:e}"
            );
        }
        // And through the whole plan.
        let p = partition(&f, &PartitionOptions::default(), &InterpreterTarget).unwrap();
        for (i, (g, w)) in execute(&p, &args).iter().zip(&want).enumerate() {
            let e = rel_l2_diff(g, w);
            assert!(e < 1e-5, "plan: result {i} off by {e:e}");
        }
    }
}

#[test]
fn the_backward_recomputes_probabilities_once_for_all_three_gradients() {
    let mut f = attention_function(4, 2, 4, true);
    lower_attention(&mut f).unwrap();
    let softmaxes = f
        .node_ids()
        .filter(|&n| f.node(n).op.name() == "softmax")
        .count();
    assert_eq!(softmaxes, 2, "one in the forward, one shared by dq, dk, dv");
    // The grouped query heads are a view: no copy of K or V to the query heads.
    let p = partition(&f, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    assert_eq!(p.counts().moves, 0);
    let kv_bytes = TensorType::new(DType::F32, [2, 2, 4, 8]).size_bytes();
    assert!(
        p.values
            .iter()
            .all(|v| v.ty.size_bytes() != 2 * kv_bytes || !v.name.contains("rep")),
        "no repeated K/V"
    );
}

#[test]
fn lowered_attention_snapshot() {
    let mut f = attention_function(4, 2, 3, true);
    lower_attention(&mut f).unwrap();
    f.remove_dead();
    insta::assert_snapshot!(print_function(&f));
}

/// A last-axis reduction of a single row is a full reduction: elementwise work over
/// the row's length does not join it (one block would do all of it).
#[test]
fn a_single_row_reduction_is_a_reduction_kernel() {
    let mut f = Function::new("norm");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[1000]).unwrap();
    let sq = b.mul(x, x).unwrap();
    let s = b.reduce_sum(sq, &[0], false).unwrap();
    let r = b.sqrt(s).unwrap();
    let wide = b.broadcast(r, &[1000]).unwrap();
    let y = b.mul(x, wide).unwrap();
    b.output(r);
    b.output(y);
    let p = partition(&f, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    let classes: Vec<KernelClass> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Kernel { kernel, .. } => Some(p.kernels[*kernel].class),
            _ => None,
        })
        .collect();
    assert_eq!(classes, [KernelClass::Reduction, KernelClass::Elementwise]);
}

/// A small step with every kind of plan step: elementwise and row-reduction kernels
/// (an RMSNorm), GEMMs (a projection and its transposed use), a transposed copy, and an
/// in-place parameter update.
const PLAN_SNAPSHOT_STEP: &str = "\
func @step(param %w: f32[16,8], param %g: f32[8], input %x: f32[4,8]) {
  %sq = mul %x, %x : f32[4,8]
  %ms = reduce_sum %sq {axes = [1], keep_dims = true} : f32[4,1]
  %n = full {value = 0.125} : f32[4,1]
  %mean = mul %ms, %n : f32[4,1]
  %eps = full {value = 1e-5} : f32[4,1]
  %me = add %mean, %eps : f32[4,1]
  %r = rsqrt %me : f32[4,1]
  %rb = broadcast %r : f32[4,8]
  %gb = broadcast %g : f32[4,8]
  %xn = mul %x, %rb : f32[4,8]
  %h = mul %xn, %gb : f32[4,8]
  %y = matmul %h, %w {transpose_lhs = false, transpose_rhs = true} : f32[4,16]
  %yt = transpose %y {perm = [1, 0]} : f32[16,4]
  %dw = matmul %yt, %h {transpose_lhs = false, transpose_rhs = false} : f32[16,8]
  %lr = full {value = 0.01} : f32[16,8]
  %step = mul %dw, %lr : f32[16,8]
  %w.next = sub %w, %step : f32[16,8]
  %loss = reduce_sum %y {axes = [0, 1], keep_dims = false} : f32[]
  return %loss, %w.next -> %w
}
";

/// The partitioner's kernels and the memory-planned plan of a small step, reviewed and
/// pinned; the same plan, run by the CPU plan executor, gives the interpreter's values.
#[test]
fn partition_and_memory_plan_snapshot() {
    use llc_passes::memplan::{PlanTarget, assemble_plan};
    let step = llc_ir::parse_function(PLAN_SNAPSHOT_STEP).unwrap();
    let p = partition(&step, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    let mp = plan_memory(&p, &MemPlanOptions::default()).unwrap();
    let plan = assemble_plan(&p, &mp, &PlanTarget::cpu(&p));
    let mut text = String::new();
    for k in &p.kernels {
        text.push_str(&print_function(&k.func));
        text.push('\n');
    }
    text.push_str(&plan.to_json());
    insta::assert_snapshot!(text);

    let args = random_args(&step, 7, 1, Precision::F32);
    let want = run_function(&step, &args, Precision::F32).unwrap();
    let got = execute(&p, &args);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let e = rel_l2_diff(g, w);
        assert!(e < 1e-6, "plan vs interpreter: relative error {e}");
    }
}
