//! The data-parallel pass: a snapshot of the bucketed all-reduce on a small model, the
//! identity on one rank, and interpreter checks that the averaged step computes what the
//! plain step computes when every rank holds the same values.

use llc_ir::{Builder, CollectiveKind, DType, Function, Module, Op, parse_module, print_module};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{AutodiffOptions, DataParallelOptions, OptimizerConfig, Pipeline, data_parallel};
use llc_runtime::comm::{CommError, CommStats, Communicator};
use llc_runtime::{Precision, Tensor, random_args, run_function, run_function_with};

/// `loss = mean((tanh(x @ w) * gain)^2)` with a data input `x`.
fn small_model() -> Module {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let w = b.param("w", DType::F32, &[3, 4]).unwrap();
    let gain = b.param("gain", DType::F32, &[4]).unwrap();
    let x = b.input("x", DType::F32, &[2, 3]).unwrap();
    let h = b.matmul(x, w).unwrap();
    let h = b.unary(llc_ir::UnaryOp::Tanh, h).unwrap();
    let g = b.broadcast(gain, &[2, 4]).unwrap();
    let y = b.mul(h, g).unwrap();
    let sq = b.mul(y, y).unwrap();
    let loss = b.mean(sq, &[0, 1], false).unwrap();
    let loss = b.name(loss, "loss").unwrap();
    b.output(loss);
    let mut m = Module::new();
    m.functions.push(f);
    m
}

fn pipeline() -> Pipeline {
    Pipeline::training(
        AutodiffOptions::default(),
        OptimizerConfig {
            warmup_steps: 10,
            total_steps: 100,
            ..Default::default()
        },
    )
}

fn dp(world: usize, bucket_bytes: usize) -> DataParallelOptions {
    DataParallelOptions {
        bucket_bytes,
        ..DataParallelOptions::new(world)
    }
}

/// A stand-in for `world` ranks that all hold this rank's values: a sum multiplies by
/// the world size, so `mean` must give the values back.
struct Replicated {
    world: usize,
}

impl Communicator for Replicated {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        self.world
    }
    fn name(&self) -> String {
        format!("replicated x{}", self.world)
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), CommError> {
        buf.iter_mut().for_each(|v| *v *= self.world as f32);
        Ok(())
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), CommError> {
        buf.iter_mut().for_each(|v| *v *= self.world as f64);
        Ok(())
    }
    fn barrier(&self) -> Result<(), CommError> {
        Ok(())
    }
    fn stats(&self) -> CommStats {
        CommStats::default()
    }
    fn abort(&self, code: i32) -> ! {
        panic!("abort({code})")
    }
}

#[test]
fn small_model_after_data_parallel() {
    // 64-byte buckets: grad.gain (16 B) and grad.w (48 B) share one, the loss gets its own.
    let mut m = small_model();
    let (reports, text) = pipeline()
        .with_data_parallel(dp(2, 64))
        .run_and_dump(&mut m, "data-parallel")
        .unwrap();
    let r = reports.iter().find(|r| r.pass == "data-parallel").unwrap();
    assert_eq!(
        r.counters,
        [("reduced", 3), ("buckets", 2), ("bytes", 68)],
        "{text}"
    );
    parse_module(&text).expect("the dump parses and verifies");
    insta::assert_snapshot!(text);
}

#[test]
fn one_rank_is_the_identity() {
    let mut plain = small_model();
    let mut with = small_model();
    assert_eq!(pipeline().with_data_parallel(dp(1, 64)), pipeline());
    let after_autodiff = Pipeline {
        passes: pipeline().passes[..1].to_vec(),
    };
    after_autodiff
        .run(&mut plain, &mut Default::default())
        .unwrap();
    after_autodiff
        .run(&mut with, &mut Default::default())
        .unwrap();
    let stats = data_parallel(&mut with, &dp(1, 64)).unwrap();
    assert_eq!(stats.buckets, 0);
    assert_eq!(print_module(&plain), print_module(&with));
}

/// Run `step` of both modules on the same random arguments; with `comm` for the
/// data-parallel one.
fn run_both(plain: &Module, dp: &Module, comm: &dyn Communicator) -> (Vec<Tensor>, Vec<Tensor>) {
    let (p, d) = (
        plain.function("step").unwrap(),
        dp.function("step").unwrap(),
    );
    assert_eq!(p.args().len(), d.args().len());
    let args = random_args(p, 7, 4, Precision::F32);
    let a = run_function(p, &args, Precision::F32).unwrap();
    let b = run_function_with(d, &args, Precision::F32, comm).unwrap();
    (a, b)
}

#[test]
fn averaged_step_equals_the_plain_step_when_ranks_agree() {
    let mut plain = small_model();
    pipeline().run(&mut plain, &mut Default::default()).unwrap();
    for bucket in [4, 64, 1 << 20] {
        let mut m = small_model();
        pipeline()
            .with_data_parallel(dp(2, bucket))
            .run(&mut m, &mut Default::default())
            .unwrap();
        // Two ranks holding the same gradients average to those gradients, bit for bit
        // (x * 2 / 2 is exact), however they are bucketed.
        let (a, b) = run_both(&plain, &m, &Replicated { world: 2 });
        assert_eq!(a, b, "bucket {bucket}");
    }
}

#[test]
fn tiny_llama_gradients_are_bucketed_and_still_exact() {
    let cfg = LlamaConfig {
        dim: 16,
        n_layers: 2,
        n_heads: 2,
        n_kv_heads: 1,
        vocab_size: 32,
        ffn_dim: 32,
        max_seq_len: 8,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_embeddings: false,
    };
    let fwd = build_forward(&cfg, &BuildOptions::new(2, 4)).unwrap();
    let mut plain = fwd.clone();
    pipeline().run(&mut plain, &mut Default::default()).unwrap();
    let params = fwd.functions[0]
        .args_with_role(llc_ir::ArgRole::Param)
        .len();
    // 1 KiB buckets: several buckets, none over the cap unless a single tensor is.
    let mut m = fwd.clone();
    let reports = pipeline()
        .with_data_parallel(dp(4, 1024))
        .run(&mut m, &mut Default::default())
        .unwrap();
    let r = reports.iter().find(|r| r.pass == "data-parallel").unwrap();
    let count = |k: &str| r.counters.iter().find(|(n, _)| *n == k).unwrap().1;
    assert_eq!(count("reduced"), params + 1);
    assert!(count("buckets") > 1 && count("buckets") < params, "{r:?}");
    let step = m.function("step").unwrap();
    let reduces: Vec<_> = step
        .node_ids()
        .filter(|&n| {
            step.node(n).op
                == Op::AllReduce {
                    kind: CollectiveKind::Mean,
                }
        })
        .collect();
    assert_eq!(reduces.len(), count("buckets"));
    for &n in &reduces {
        let t = step.ty(n);
        assert_eq!(t.rank(), 1);
        let bytes = t.numel() * 4;
        let single = step.operands(n)[0];
        assert!(
            bytes <= 1024 || step.node(single).op != (Op::Concat { axis: 0 }),
            "a concatenated bucket of {bytes} B"
        );
    }
    let (a, b) = run_both(&plain, &m, &Replicated { world: 4 });
    assert_eq!(a, b);
}

#[test]
fn the_partitioner_makes_each_collective_a_library_step() {
    use llc_ir::Op;
    use llc_passes::partition::{InterpreterTarget, Move, PartitionOptions, Step, partition};
    let mut m = small_model();
    pipeline()
        .with_data_parallel(dp(2, 64))
        .run(&mut m, &mut Default::default())
        .unwrap();
    let step = m.function("step").unwrap();
    let collectives = step
        .node_ids()
        .filter(|&n| matches!(step.node(n).op, Op::AllReduce { .. }))
        .count();
    assert!(
        collectives > 1,
        "the small buckets make several all_reduces"
    );
    let program = partition(step, &PartitionOptions::default(), &InterpreterTarget).unwrap();
    let steps: Vec<&Move> = program
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Move(ms) => Some(ms),
            _ => None,
        })
        .flatten()
        .filter(|m| matches!(m, Move::AllReduce { .. }))
        .collect();
    assert_eq!(steps.len(), collectives, "one library step per all_reduce");
}
