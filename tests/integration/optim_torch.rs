//! The optimizer lowering (`llc_passes::build_step`: global-norm clipping, AdamW, the
//! warmup + cosine schedule) against PyTorch's own `torch.optim.AdamW`,
//! `clip_grad_norm_` and `LambdaLR` (`scripts/adamw_reference.py`), 50 steps in f64 on
//! fixed synthetic gradients: two matrices that decay and a vector that doesn't, steps
//! with the clip active and inactive, warmup and cosine branches, down to the floor.
//!
//! Python is found as in [`crate::hf_interop`]: skipped without torch, a failure under
//! `CI=true`.

use crate::common::*;
use llc_ir::{Builder, DType, Function};
use llc_passes::{OptimizerConfig, build_step};
use llc_runtime::{Precision, Tensor, run_function};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const STEPS: usize = 50;
const SHAPES: [(&str, &[usize]); 3] = [("w1", &[8, 16]), ("b1", &[16]), ("w2", &[4, 8])];
/// Gradient scale by step (mod 4): global norms of about 13, 0.4, 2.7 and 0.7, so the
/// clip at 1.0 acts on half the steps.
const GRAD_SCALES: [f64; 4] = [1.0, 0.03, 0.2, 0.05];

/// A `forward_backward` whose gradients are inputs: `grad.<p>` is the input `g.<p>` as
/// is, so every step gets exactly the gradients written to the file.
fn forward_backward() -> Function {
    let mut f = Function::new("forward_backward");
    let mut b = Builder::new(&mut f);
    let params: Vec<_> = SHAPES
        .iter()
        .map(|(n, s)| b.param(n, DType::F64, s).unwrap())
        .collect();
    let grads: Vec<_> = SHAPES
        .iter()
        .map(|(n, s)| b.input(&format!("g.{n}"), DType::F64, s).unwrap())
        .collect();
    let mut loss = None;
    for (&p, &g) in params.iter().zip(&grads) {
        let pg = b.mul(p, g).unwrap();
        let s = b.sum_all(pg).unwrap();
        loss = Some(match loss {
            None => s,
            Some(l) => b.add(l, s).unwrap(),
        });
    }
    let loss = b.name(loss.unwrap(), "loss").unwrap();
    b.output(loss);
    for (&g, (n, _)) in grads.iter().zip(&SHAPES) {
        let g = b.mul_scalar(g, 1.0).unwrap();
        let g = b.name(g, &format!("grad.{n}")).unwrap();
        b.output(g);
    }
    f
}

/// Worst relative error of `got` against `want`, each element against
/// `max(|want_i|, 1e-3 * max|want|)` (so an element near zero is judged at the tensor's
/// scale).
fn worst_rel(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1e-3 * scale).max(1e-300))
        .fold(0.0, f64::max)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

#[test]
fn adamw_clip_and_schedule_match_torch_over_50_steps() {
    let Some(py) = oracle_python("adamw_clip_and_schedule_match_torch_over_50_steps", "torch")
    else {
        return;
    };
    let cfg = OptimizerConfig {
        lr: 0.02,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-5,
        weight_decay: 0.1,
        clip_norm: Some(1.0),
        warmup_steps: 10,
        total_steps: STEPS as u64,
        min_lr_ratio: 0.1,
        ..Default::default()
    };
    let fb = forward_backward();
    let (step_fn, stats) = build_step(&fb, &cfg).unwrap();
    llc_ir::verify_function(&step_fn, &Default::default()).unwrap();
    assert_eq!(
        stats.decayed, 2,
        "the two matrices decay, the vector doesn't"
    );

    // Initial parameters and every step's gradients, from one seeded RNG.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    let mut uniform = |n: usize, scale: f64| -> Vec<f64> {
        (0..n)
            .map(|_| scale * rng.random_range(-1.0..1.0))
            .collect()
    };
    let numel = |s: &[usize]| s.iter().product::<usize>();
    let init: Vec<Vec<f64>> = SHAPES.iter().map(|(_, s)| uniform(numel(s), 1.0)).collect();
    // uniform(-1, 1) has variance 1/3: scale by sqrt(3) for unit variance per element
    let grads: Vec<Vec<Vec<f64>>> = (0..STEPS)
        .map(|k| {
            let scale = GRAD_SCALES[k % 4] * 3f64.sqrt();
            SHAPES
                .iter()
                .map(|(_, s)| uniform(numel(s), scale))
                .collect()
        })
        .collect();

    // Theirs.
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (dir.path().join("in.json"), dir.path().join("out.json"));
    let request = json!({
        "lr": cfg.lr, "beta1": cfg.beta1, "beta2": cfg.beta2, "eps": cfg.eps,
        "weight_decay": cfg.weight_decay, "clip_norm": cfg.clip_norm.unwrap(),
        "warmup_steps": cfg.warmup_steps, "total_steps": cfg.total_steps,
        "min_lr_ratio": cfg.min_lr_ratio,
        "params": SHAPES.iter().zip(&init)
            .map(|((n, s), d)| json!({"name": n, "shape": s, "data": d}))
            .collect::<Vec<_>>(),
        "grads": grads,
    });
    std::fs::write(&inp, serde_json::to_vec(&request).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/adamw_reference.py");
    let run = Command::new(&py)
        .arg(&script)
        .arg("--inp")
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("python starts");
    assert!(
        run.status.success(),
        "adamw_reference.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let their_lr = floats(&theirs["lr"]);
    let their_norm = floats(&theirs["grad_norm"]);
    let their_params = theirs["params"].as_array().unwrap();
    assert_eq!((their_lr.len(), their_params.len()), (STEPS, STEPS));

    // Ours: the step function on the interpreter, its updates fed back into its
    // arguments, the gradients bound to the `g.<p>` inputs.
    let arg_index = |name: &str| {
        step_fn
            .args()
            .iter()
            .position(|&a| step_fn.node(a).name == name)
            .unwrap_or_else(|| panic!("no argument {name}"))
    };
    let mut args: Vec<Tensor> = step_fn
        .args()
        .iter()
        .map(|&a| Tensor::zeros(step_fn.ty(a), Precision::F64))
        .collect();
    let p_idx: Vec<usize> = SHAPES.iter().map(|(n, _)| arg_index(n)).collect();
    let g_idx: Vec<usize> = SHAPES
        .iter()
        .map(|(n, _)| arg_index(&format!("g.{n}")))
        .collect();
    for (k, ((_, s), d)) in SHAPES.iter().zip(&init).enumerate() {
        args[p_idx[k]] = Tensor::from_f64(s.to_vec(), d.clone()).unwrap();
    }
    assert_eq!(
        step_fn.ty(step_fn.args()[arg_index("opt.step")]).dtype,
        DType::I32
    );
    let outputs = step_fn.outputs();

    let (mut worst_p, mut worst_d, mut worst_s) = (0.0f64, 0.0f64, 0.0f64);
    let (mut clipped, mut unclipped) = (0, 0);
    let (mut our_before, mut their_before) = (init.clone(), init.clone());
    for k in 0..STEPS {
        for (i, (_, s)) in SHAPES.iter().enumerate() {
            args[g_idx[i]] = Tensor::from_f64(s.to_vec(), grads[k][i].clone()).unwrap();
        }
        let res = run_function(&step_fn, &args, Precision::F64).unwrap();
        for (o, t) in outputs.iter().zip(&res) {
            if let Some(a) = o.updates {
                let i = step_fn.args().iter().position(|&x| x == a).unwrap();
                args[i] = t.clone();
            }
        }
        let (norm, lr) = (res[1].to_f64_vec()[0], res[2].to_f64_vec()[0]);
        let t = k + 1;
        let e = worst_rel(&[lr], &[their_lr[k]]).max(worst_rel(&[norm], &[their_norm[k]]));
        assert!(
            e < 1e-12,
            "step {t}: lr {lr} vs torch {}, grad norm {norm} vs torch {}",
            their_lr[k],
            their_norm[k]
        );
        worst_s = worst_s.max(e);
        if norm > cfg.clip_norm.unwrap() {
            clipped += 1;
        } else {
            unclipped += 1;
        }
        // the schedule's landmarks: the peak at the end of warmup, the floor at the end
        match t {
            1 => assert!((lr - cfg.lr / 10.0).abs() < 1e-15, "lr at step 1: {lr}"),
            10 => assert!((lr - cfg.lr).abs() < 1e-15, "lr at step 10: {lr}"),
            11 => assert!(lr < cfg.lr && lr > 0.99 * cfg.lr, "lr at step 11: {lr}"),
            50 => assert!((lr - 0.1 * cfg.lr).abs() < 1e-15, "lr at step 50: {lr}"),
            _ => {}
        }
        let their_step = their_params[k].as_array().unwrap();
        for (i, (name, _)) in SHAPES.iter().enumerate() {
            let after = args[p_idx[i]].to_f64_vec();
            let want = floats(&their_step[i]);
            let ep = worst_rel(&after, &want);
            let delta = |now: &[f64], then: &[f64]| -> Vec<f64> {
                now.iter().zip(then).map(|(a, b)| a - b).collect()
            };
            let (ours_d, their_d) = (
                delta(&after, &our_before[i]),
                delta(&want, &their_before[i]),
            );
            let ed = worst_rel(&ours_d, &their_d);
            let biggest = their_d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(
                ep < 1e-6 && ed < 1e-6,
                "step {t} {name}: relative error {ep:.3e} in the parameter, {ed:.3e} in the update"
            );
            // an update far above f64 rounding of the parameter (~1e-16)
            assert!(biggest > 1e-4, "step {t} {name}: update only {biggest:.3e}");
            worst_p = worst_p.max(ep);
            worst_d = worst_d.max(ed);
            our_before[i] = after;
            their_before[i] = want;
        }
    }
    assert!(
        clipped >= 10 && unclipped >= 10,
        "clip active on {clipped} steps, inactive on {unclipped}"
    );

    // AdamW's moments after the last step.
    let mut worst_m = 0.0f64;
    for (kind, key) in [("m", "exp_avg"), ("v", "exp_avg_sq")] {
        let theirs = theirs[key].as_array().unwrap();
        for (i, (name, _)) in SHAPES.iter().enumerate() {
            let ours = args[arg_index(&format!("opt.{kind}.{name}"))].to_f64_vec();
            let e = worst_rel(&ours, &floats(&theirs[i]));
            assert!(e < 1e-6, "opt.{kind}.{name}: relative error {e:.3e}");
            worst_m = worst_m.max(e);
        }
    }
    assert_eq!(
        args[arg_index("opt.step")].as_i32().unwrap(),
        &[STEPS as i32]
    );
    eprintln!(
        "AdamW + clip + schedule vs torch.optim, {STEPS} steps in f64 (clip active on \
         {clipped}, inactive on {unclipped}): worst relative error {worst_p:.3e} in the \
         parameters, {worst_d:.3e} in the updates, {worst_m:.3e} in the moments, \
         {worst_s:.3e} in lr and grad norm"
    );
}
