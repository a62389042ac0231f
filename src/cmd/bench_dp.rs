//! `llc-train bench dp`: data-parallel training steps (on the interpreter or compiled for
//! this CPU, `--backend`), one rank or
//! `mpirun -np N` ranks: ms per step, the all-reduce's share of it (time, messages, MB)
//! and tokens/s of the global batch (N x --batch rows), printed by rank 0. The step's
//! all-reduce time includes waiting for the slowest rank; the same bytes are then reduced
//! alone after a barrier, which is the transfer time.

use super::compile::pipeline_for;
use anyhow::{Context, Result};
use clap::Args;
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{DataParallelOptions, PipelineHooks};
use llc_runtime::comm::{self, CommStats};
use llc_runtime::plan_exec::PlanExecutor;
use llc_runtime::step::{Batch, CpuBackend, PlanBackend, StepBackend};
use llc_runtime::{Precision, Tensor, init};
use rand::SeedableRng;
use std::time::Instant;

/// Flags of `bench dp`.
#[derive(Args, Debug)]
pub struct BenchDpArgs {
    /// Preset to train.
    #[arg(long, default_value = "llama2-15m")]
    pub model: String,
    /// Vocabulary (byte-level data has 258).
    #[arg(long, default_value_t = 258)]
    pub vocab: usize,
    /// Sequences per step on each rank.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    /// Timed steps (after --warmup untimed ones).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Gradient bucket size in MiB.
    #[arg(long, default_value_t = 25)]
    pub bucket_mb: usize,
    /// Where each rank's step runs: the interpreter, or the step compiled for this CPU
    /// (its all-reduces run by the plan executor).
    #[arg(long, value_enum, default_value_t = crate::cli::Backend::Interp)]
    pub backend: crate::cli::Backend,
}

/// A seeded batch, different on every rank.
fn rank_batch(vocab: usize, batch: usize, seq: usize, rank: usize) -> Batch {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1000 + rank as u64);
    let shape = vec![batch, seq];
    Batch {
        inputs: vec![
            (
                "tokens".into(),
                Tensor::random_ints(shape.clone(), 0..vocab as i32, &mut rng),
            ),
            (
                "targets".into(),
                Tensor::random_ints(shape, 0..vocab as i32, &mut rng),
            ),
        ],
    }
}

pub fn dp(a: BenchDpArgs) -> Result<()> {
    let comm = comm::from_env().context("setting up the ranks")?;
    let (rank, world) = (comm.rank(), comm.world_size());
    let cfg = LlamaConfig::preset(&a.model)?.with_vocab(a.vocab);
    let (optim, eg) = super::bench::default_flags();
    let mut m = build_forward(&cfg, &BuildOptions::new(a.batch, a.seq))?;
    let eval = m.functions[0].clone();
    pipeline_for(&optim, &eg, llc_passes::Precision::F32)?
        .with_data_parallel(DataParallelOptions {
            bucket_bytes: a.bucket_mb.max(1) << 20,
            ..DataParallelOptions::new(world)
        })
        .run(&mut m, &mut PipelineHooks::default())?;
    let step = m.function("step").context("no step function")?.clone();
    let initial = init::initial_state(&step, 0, Precision::F32);
    let _scratch;
    let mut backend: Box<dyn StepBackend> = match super::gpu::choose_backend(a.backend)? {
        super::gpu::BackendKind::Interp => {
            Box::new(CpuBackend::new(step, eval, initial, Precision::F32)?.with_comm(comm.clone()))
        }
        super::gpu::BackendKind::Cpu => {
            // Each rank compiles its own copy (outside the timed steps).
            let dir = tempfile::Builder::new()
                .prefix("llc-bench-dp-")
                .tempdir()
                .context("cannot create a scratch directory for the artifact")?;
            let art = dir.path().join("artifact");
            super::compile::write_artifact(&step, "cpu", false, &art)?;
            let exec = PlanExecutor::load(&art)?;
            let named: Vec<(String, Tensor)> = step
                .args()
                .iter()
                .zip(initial)
                .filter_map(|(&id, v)| Some((step.node(id).name.clone(), v?)))
                .collect();
            _scratch = dir;
            Box::new(PlanBackend::new(exec, &named)?.with_comm(comm.clone()))
        }
        super::gpu::BackendKind::Cuda => {
            anyhow::bail!("bench dp measures CPU ranks: --backend interp or cpu")
        }
    };
    let batch = rank_batch(a.vocab, a.batch, a.seq, rank);
    for _ in 0..a.warmup {
        backend.step(&batch)?;
    }
    let before: CommStats = comm.stats();
    comm.barrier()?;
    let t = Instant::now();
    let mut loss = f64::NAN;
    let steps = a.steps.max(1);
    for _ in 0..steps {
        loss = backend.step(&batch)?.loss;
    }
    comm.barrier()?;
    let secs = t.elapsed().as_secs_f64();
    let after = comm.stats();
    // The collective alone: the step's bytes in one buffer, every rank ready (a barrier
    // first), so this is transfer time, not waiting for a slower rank's backward.
    let per_step = ((after.bytes - before.bytes) / steps as u64 / 4) as usize;
    let mut buf = vec![1.0f32; per_step];
    let mut alone = f64::INFINITY;
    if world > 1 && per_step > 0 {
        for _ in 0..steps {
            comm.barrier()?;
            let t = Instant::now();
            comm.all_reduce_sum_f32(&mut buf)?;
            alone = alone.min(t.elapsed().as_secs_f64());
        }
    }
    if rank == 0 {
        let n = steps as f64;
        let tokens = (a.batch * a.seq * world) as f64 * n;
        println!(
            "bench dp: {} batch {} x {} per rank, {world} rank{} ({}), {} thread{} each, step on {}",
            a.model,
            a.batch,
            a.seq,
            if world == 1 { "" } else { "s" },
            comm.name(),
            rayon::current_num_threads(),
            if rayon::current_num_threads() == 1 {
                ""
            } else {
                "s"
            },
            backend.name(),
        );
        println!(
            "  {:.1} ms/step, {:.0} tokens/s (global batch), all-reduce {:.2} ms/step in {} message{} of {:.2} MB/step, last loss {loss:.4}",
            secs * 1e3 / n,
            tokens / secs,
            (after.seconds - before.seconds) * 1e3 / n,
            (after.all_reduces - before.all_reduces) / steps as u64,
            if (after.all_reduces - before.all_reduces) / steps as u64 == 1 {
                ""
            } else {
                "s"
            },
            (after.bytes - before.bytes) as f64 / n / 1e6,
        );
        if alone.is_finite() {
            println!(
                "  all-reduce alone (after a barrier, best of {steps}): {:.2} ms for {:.2} MB ({:.2} GB/s of buffer)",
                alone * 1e3,
                per_step as f64 * 4e-6,
                per_step as f64 * 4e-9 / alone
            );
        }
    }
    Ok(())
}
