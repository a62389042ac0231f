//! bf16 mixed precision (the `precision` pass) end to end:
//!
//! - the compiled CPU bf16 step (bf16 kernels, oneDNN's bf16 GEMMs with f32
//!   accumulation) equals the interpreter's bf16 step (which rounds every bf16 value as
//!   the kernels store it) to [`BF16_TOL`], each step from the same state, through warmup
//!   and cosine decay;
//! - updates far below bf16's resolution still move the f32 master weights, and weight
//!   decay acts on them (`1 − lr·wd` is 1 in bf16);
//! - the bf16 artifacts of llama2-110m and tinyllama-1.1b assemble with ptxas for sm_80
//!   and sm_90 without spills, and need a smaller arena than f32's.

use crate::common::{fused_step_and_forward_in, fused_step_in};
use crate::cpu_target::{Mode, STEPS, assert_within, compare_backends_in, lockstep_optimizer};
use llc_codegen::ptxas::{assemble, find_ptxas};
use llc_codegen::{ArtifactOptions, Target, build_artifact};
use llc_ir::ArgRole;
use llc_ir::plan::Plan;
use llc_models::LlamaConfig;
use llc_passes::{OptimizerConfig, Precision};
use llc_runtime::init::initial_state;
use llc_runtime::step::{Batch, PlanBackend, StepBackend};
use llc_runtime::{PlanExecutor, Tensor};
use rand::SeedableRng;

/// Relative errors allowed between the compiled bf16 step and the interpreter's bf16
/// step. Both round each bf16 value where the other does, from an f32 (or better)
/// result, but their sums run in other orders (oneDNN's blocked f32 accumulation
/// against the interpreter's), so a value near a rounding boundary lands one bf16 ulp
/// (2^-8, 0.4%) apart, and that difference travels on: measured ~1e-5 in the loss,
/// ~2e-3 in the gradient norm, ~8e-3 in the moments. The updates differ most (~3e-2):
/// Adam's first step is `lr·sign(g)` per element, so a gradient element near zero whose
/// sign differs between the two moves by `2·lr`. A wrong cast or GEMM type is an error
/// of order one.
const BF16_TOL: [(&str, f64); 4] = [
    ("loss", 1e-4),
    ("grad norm", 1e-2),
    ("update", 6e-2),
    ("moments", 3e-2),
];

#[test]
fn tiny_compiled_bf16_step_equals_the_bf16_interpreter_over_20_steps() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let opt = lockstep_optimizer();
    let e = compare_backends_in(&cfg, (2, 16), &opt, STEPS, Mode::Lockstep, Precision::Bf16);
    // The f32 bar of `assert_within` checks the schedule and that parameters moved; the
    // numbers are checked against bf16's own bars here.
    let worst = [
        &e.loss,
        &e.grad_norm,
        if e.update[0].err > e.update[1].err {
            &e.update[0]
        } else {
            &e.update[1]
        },
        if e.state[0].err > e.state[1].err {
            &e.state[0]
        } else {
            &e.state[1]
        },
    ];
    for ((what, tol), w) in BF16_TOL.iter().zip(worst) {
        eprintln!("tiny bf16 lockstep: {what} {:.2e} ({})", w.err, w.at);
        assert!(
            w.err < *tol,
            "{what}: relative error {:e} at {}",
            w.err,
            w.at
        );
    }
    assert_within("tiny bf16 lockstep", &e, 1.0, opt.lr);
}

/// The compiled bf16 step of `tiny` at 2 x 16 with `opt`, its state, and one batch.
fn bf16_step(opt: &OptimizerConfig) -> (PlanBackend, Vec<(String, Tensor)>, Batch) {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let (step, _) = fused_step_and_forward_in(&cfg, 2, 16, opt, Precision::Bf16);
    for &a in step.args() {
        if step.arg_role(a) == Some(ArgRole::Param) {
            assert_eq!(
                step.ty(a).dtype,
                llc_ir::DType::F32,
                "master weights are f32"
            );
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("artifact");
    let opts = ArtifactOptions {
        target: Target::CpuNative,
        ..ArtifactOptions::default()
    };
    build_artifact(&step, &opts, &dir).unwrap();
    let exec = PlanExecutor::load(&dir).unwrap();
    let state: Vec<(String, Tensor)> = step
        .args()
        .iter()
        .zip(initial_state(&step, 5, llc_runtime::Precision::F32))
        .filter_map(|(&a, v)| Some((step.node(a).name.clone(), v?)))
        .collect();
    let inputs = step
        .args_with_role(ArgRole::Input)
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(40 + i as u64);
            let shape = step.ty(a).shape.clone();
            let t = Tensor::random_ints(shape, 0..cfg.vocab_size as i32, &mut rng);
            (step.node(a).name.clone(), t)
        })
        .collect();
    let b = PlanBackend::new(exec, &state).unwrap();
    (b, state, Batch { inputs })
}

fn param<'a>(st: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
    &st.iter().find(|(n, _)| n == name).unwrap().1
}

fn round_bf16(x: f32) -> f32 {
    half::bf16::from_f32(x).to_f32()
}

#[test]
fn bf16_updates_below_bf16_resolution_and_weight_decay_reach_the_f32_master_weights() {
    // Adam's normalized step is about lr per element; tiny's weights are ~0.02, so
    // lr 2e-9 moves them by ~1e-7 of their size: below f32's half ulp for some, far
    // below bf16's (2^-9 = 2e-3).
    let tiny_lr = OptimizerConfig {
        lr: 2e-9,
        warmup_steps: 0,
        weight_decay: 0.0,
        clip_norm: None,
        ..OptimizerConfig::default()
    };
    let (mut b, before, batch) = bf16_step(&tiny_lr);
    b.step(&batch).unwrap();
    let after = b.state().unwrap();
    let name = "layers.0.attention.wq.weight";
    let (p0, p1) = (
        param(&before, name).to_f32_vec(),
        param(&after, name).to_f32_vec(),
    );
    let moved = p0.iter().zip(&p1).filter(|(a, b)| a != b).count();
    let moved_in_bf16 = p0
        .iter()
        .zip(&p1)
        .filter(|(a, b)| round_bf16(**a) != round_bf16(**b))
        .count();
    // the step against the weights' scale (their RMS)
    let rms = (p0.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / p0.len() as f64).sqrt();
    let rel: f64 = p0
        .iter()
        .zip(&p1)
        .map(|(a, b)| (b - a).abs() as f64 / rms)
        .fold(0.0, f64::max);
    eprintln!(
        "lr 2e-9: {moved} of {} elements of %{name} moved in f32 (largest step {rel:.1e} of \
         their RMS), {moved_in_bf16} would have in bf16",
        p0.len()
    );
    assert!(rel < 1e-6, "the step is not tiny: {rel:e}");
    assert!(
        moved * 2 > p0.len(),
        "only {moved} of {} moved: small updates are lost",
        p0.len()
    );
    assert!(
        moved_in_bf16 * 100 < p0.len(),
        "bf16 storage would keep {moved_in_bf16}: the test would not show the point"
    );

    // Weight decay: the same step with and without it differs by lr·wd·p (lr 1e-3,
    // wd 0.1: p·(1 − 1e-4), which is p itself in bf16).
    let with = |wd: f64| OptimizerConfig {
        lr: 1e-3,
        warmup_steps: 0,
        weight_decay: wd,
        clip_norm: None,
        ..OptimizerConfig::default()
    };
    let (mut a, start, batch) = bf16_step(&with(0.1));
    let (mut c, _, _) = bf16_step(&with(0.0));
    a.step(&batch).unwrap();
    c.step(&batch).unwrap();
    let (sa, sc) = (a.state().unwrap(), c.state().unwrap());
    let p = param(&start, name).to_f32_vec();
    let (pa, pc) = (param(&sa, name).to_f32_vec(), param(&sc, name).to_f32_vec());
    let mut worst: f64 = 0.0;
    for i in 0..p.len() {
        let want = -1e-3 * 0.1 * p[i] as f64;
        let got = pa[i] as f64 - pc[i] as f64;
        // one f32 ulp of each stored result
        let ulp = |x: f32| (x.abs().next_up() - x.abs()) as f64;
        let ulp = ulp(pa[i]).max(ulp(pc[i])).max(ulp(p[i]));
        worst = worst.max(((got - want).abs() - 2.0 * ulp).max(0.0) / want.abs().max(1e-30));
    }
    eprintln!("weight decay on %{name}: worst relative error beyond 2 ulp {worst:.1e}");
    assert!(
        worst < 1e-2,
        "weight decay does not act as lr*wd*p: {worst:e}"
    );
}

/// The plan's arena of `preset`'s step at one sequence of its context (at most 2048
/// tokens) in `precision` for `target`.
fn arena(preset: &str, precision: Precision, target: Target, dir: &std::path::Path) -> u64 {
    let seq = LlamaConfig::preset(preset).unwrap().max_seq_len.min(2048);
    let step = fused_step_in(preset, 1, seq, precision);
    let opts = ArtifactOptions {
        target,
        ..ArtifactOptions::default()
    };
    build_artifact(&step, &opts, dir).unwrap();
    let plan = Plan::from_json(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    plan.arena_bytes
}

#[test]
fn bf16_gpu_artifacts_of_110m_and_tinyllama_assemble_and_need_a_smaller_arena() {
    let ptxas = find_ptxas();
    if ptxas.is_none() {
        assert!(
            !crate::common::under_ci(),
            "ptxas missing under CI: {}",
            llc_codegen::ptxas::INSTALL_HINT
        );
        eprintln!("skipping ptxas: {}", llc_codegen::ptxas::INSTALL_HINT);
    }
    let tmp = tempfile::tempdir().unwrap();
    for preset in ["llama2-110m", "tinyllama-1.1b"] {
        let f32_dir = tmp.path().join(format!("{preset}-f32"));
        let f32_arena = arena(preset, Precision::F32, Target::Sm90, &f32_dir);
        for target in Target::GPUS {
            let d = tmp.path().join(format!("{preset}-bf16-{target}"));
            let bf16_arena = arena(preset, Precision::Bf16, target, &d);
            eprintln!(
                "{preset} {target}: arena bf16 {:.1} MiB, f32 {:.1} MiB",
                bf16_arena as f64 / 1048576.0,
                f32_arena as f64 / 1048576.0
            );
            assert!(
                bf16_arena < f32_arena,
                "{preset}: {bf16_arena} >= {f32_arena}"
            );
            let Some(ptxas) = &ptxas else { continue };
            let ptx = std::fs::read_to_string(d.join("kernels.ptx")).unwrap();
            let res = assemble(ptxas, &ptx, target).unwrap();
            assert_eq!(res.len(), ptx.matches(".entry ").count(), "{target}");
            for r in res {
                assert_eq!(
                    (r.spill_store_bytes, r.spill_load_bytes),
                    (0, 0),
                    "{preset} {target}: {} spills",
                    r.name
                );
            }
        }
    }
}
