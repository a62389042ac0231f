//! The step function's clipping, AdamW and LR schedule against a hand-written reference of
//! the same formulas (PyTorch `clip_grad_norm_` + `AdamW` + warmup/cosine), over 5 steps
//! that cover the warmup and the cosine regions, decayed and non-decayed parameters, with
//! the step's results fed back into its arguments through `Output::updates`.

use llc_ir::{ArgRole, Builder, DType, Function, Module, NodeId};
use llc_passes::{AutodiffOptions, DecayOverride, OptimizerConfig, autodiff, build_step};
use llc_runtime::{Precision, Tensor, random_args, run_function};

/// A small model with every kind of parameter: a matrix `w` (decays), a norm-like gain
/// `gain` (rank 1: no decay), an embedding `emb` (rank 2, decay switched off by pattern in
/// some configs) and a scalar `shift` (rank 0: no decay).
fn model() -> Function {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let w = b.param("w", DType::F64, &[3, 4]).unwrap();
    let gain = b.param("gain", DType::F64, &[4]).unwrap();
    let emb = b.param("emb.weight", DType::F64, &[5, 4]).unwrap();
    let shift = b.param("shift", DType::F64, &[]).unwrap();
    let x = b.input("x", DType::F64, &[2, 3]).unwrap();
    let idx = b.input("idx", DType::I32, &[2]).unwrap();
    let h = b.matmul(x, w).unwrap();
    let g = b.broadcast(gain, &[2, 4]).unwrap();
    let h = b.mul(h, g).unwrap();
    let h = b.unary(llc_ir::UnaryOp::Tanh, h).unwrap();
    let e = b.gather(emb, idx).unwrap();
    let h = b.mul(h, e).unwrap();
    let s = b.broadcast(shift, &[2, 4]).unwrap();
    let h = b.add(h, s).unwrap();
    let sq = b.mul(h, h).unwrap();
    let total = b.sum_all(sq).unwrap();
    let loss = b.mul_scalar(total, 3.0).unwrap();
    let loss = b.name(loss, "loss").unwrap();
    b.output(loss);
    f
}

/// The reference optimizer: plain Rust over flat f64 buffers.
struct Reference {
    cfg: OptimizerConfig,
    decay: Vec<bool>,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    step: u64,
}

struct RefStep {
    grad_norm: f64,
    lr: f64,
}

impl Reference {
    fn lr(&self, t: f64) -> f64 {
        let c = &self.cfg;
        let (w, total) = (c.warmup_steps as f64, c.total_steps as f64);
        if c.warmup_steps > 0 && t <= w {
            c.lr * t / w
        } else {
            let min_lr = c.lr * c.min_lr_ratio;
            let progress = ((t - w) / (total - w)).clamp(0.0, 1.0);
            min_lr + 0.5 * (c.lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }

    fn step(&mut self, params: &mut [Vec<f64>], grads: &[Vec<f64>]) -> RefStep {
        let c = self.cfg.clone();
        let t = (self.step + 1) as f64;
        let norm = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        let scale = match c.clip_norm {
            Some(max) if max > 0.0 => (max / (norm + 1e-6)).min(1.0),
            _ => 1.0,
        };
        let lr = self.lr(t);
        let bc1 = 1.0 - c.beta1.powf(t);
        let bc2 = 1.0 - c.beta2.powf(t);
        for (k, p) in params.iter_mut().enumerate() {
            for j in 0..p.len() {
                let g = grads[k][j] * scale;
                let m = &mut self.m[k][j];
                let v = &mut self.v[k][j];
                *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                if self.decay[k] {
                    p[j] *= 1.0 - lr * c.weight_decay;
                }
                let denom = v.sqrt() / bc2.sqrt() + c.eps;
                p[j] -= (lr / bc1) * (*m / denom);
            }
        }
        self.step += 1;
        RefStep {
            grad_norm: norm,
            lr,
        }
    }
}

fn close(what: &str, got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / w.abs().max(1e-12);
        assert!(
            err < 1e-12,
            "{what}[{i}]: step function {g} vs reference {w}"
        );
        worst = worst.max(err);
    }
    worst
}

/// Run 5 steps of the compiled step function and of the reference side by side.
fn run_five_steps(cfg: OptimizerConfig, expect_decayed: &[bool]) -> Vec<RefStep> {
    let fwd = model();
    let mut m = Module::new();
    m.functions.push(fwd.clone());
    autodiff(&mut m, &AutodiffOptions::default()).unwrap();
    let fb = m.functions[0].clone();
    let (step_fn, stats) = build_step(&fb, &cfg).unwrap();
    llc_ir::verify_function(&step_fn, &Default::default()).unwrap();
    assert_eq!(stats.decayed, expect_decayed.iter().filter(|&&d| d).count());

    let params: Vec<NodeId> = fwd.args_with_role(ArgRole::Param);
    let n = params.len();
    // step arguments: params, inputs, then zero moments and a zero step counter
    let mut args = random_args(&step_fn, 3, 5, Precision::F64);
    let first_state = fwd.args().len();
    for (i, &a) in step_fn.args().iter().enumerate().skip(first_state) {
        args[i] = Tensor::zeros(step_fn.ty(a), Precision::F64);
    }
    let mut reference = Reference {
        cfg: cfg.clone(),
        decay: expect_decayed.to_vec(),
        m: params
            .iter()
            .map(|&p| vec![0.0; fwd.ty(p).numel()])
            .collect(),
        v: params
            .iter()
            .map(|&p| vec![0.0; fwd.ty(p).numel()])
            .collect(),
        step: 0,
    };
    let mut ref_params: Vec<Vec<f64>> = (0..n).map(|k| args[k].to_f64_vec()).collect();
    let mut history = Vec::new();
    for s in 0..5u64 {
        // fresh data each step
        let data = random_args(&fwd, 100 + s, 5, Precision::F64);
        args[n..first_state].clone_from_slice(&data[n..first_state]);
        // reference gradients from forward_backward at the current parameters
        let fb_out = run_function(&fb, &args[..first_state], Precision::F64).unwrap();
        let grads: Vec<Vec<f64>> = fb_out[1..].iter().map(Tensor::to_f64_vec).collect();
        let want = reference.step(&mut ref_params, &grads);

        let out = run_function(&step_fn, &args, Precision::F64).unwrap();
        let outs = step_fn.outputs();
        close("loss", &out[0].to_f64_vec(), &fb_out[0].to_f64_vec());
        close("grad_norm", &out[1].to_f64_vec(), &[want.grad_norm]);
        close("lr", &out[2].to_f64_vec(), &[want.lr]);
        // feed every updated value back into its argument
        for (o, t) in outs.iter().zip(&out) {
            if let Some(a) = o.updates {
                let i = step_fn.args().iter().position(|&x| x == a).unwrap();
                args[i] = t.clone();
            }
        }
        for k in 0..n {
            let name = &fwd.node(params[k]).name;
            close(
                &format!("step {s} {name}"),
                &args[k].to_f64_vec(),
                &ref_params[k],
            );
            close(
                &format!("step {s} opt.m.{name}"),
                &args[first_state + k].to_f64_vec(),
                &reference.m[k],
            );
            close(
                &format!("step {s} opt.v.{name}"),
                &args[first_state + n + k].to_f64_vec(),
                &reference.v[k],
            );
        }
        assert_eq!(args.last().unwrap().as_i32().unwrap(), &[s as i32 + 1]);
        history.push(want);
    }
    history
}

#[test]
fn five_steps_match_reference_with_clipping_warmup_and_cosine() {
    // warmup 2 then cosine to the floor at step 5; a clip small enough to always act
    let cfg = OptimizerConfig {
        lr: 0.05,
        warmup_steps: 2,
        total_steps: 5,
        clip_norm: Some(0.1),
        ..Default::default()
    };
    let h = run_five_steps(cfg.clone(), &[true, false, true, false]);
    assert!(h.iter().all(|s| s.grad_norm > 0.1), "clipping should act");
    // warmup rises, cosine falls to min_lr_ratio * peak
    assert!(h[0].lr < h[1].lr && h[1].lr == cfg.lr);
    assert!(h[2].lr < h[1].lr && h[3].lr < h[2].lr);
    assert!((h[4].lr - 0.1 * cfg.lr).abs() < 1e-15);
}

#[test]
fn five_steps_match_reference_without_clipping_or_warmup_and_with_decay_overrides() {
    let cfg = OptimizerConfig {
        lr: 0.02,
        warmup_steps: 0,
        total_steps: 8,
        clip_norm: None,
        weight_decay: 0.3,
        decay_overrides: vec![
            DecayOverride {
                pattern: "emb.*".into(),
                decay: false,
            },
            DecayOverride {
                pattern: "gain".into(),
                decay: true,
            },
        ],
        ..Default::default()
    };
    let h = run_five_steps(cfg, &[true, true, false, false]);
    assert!(
        h.windows(2).all(|w| w[1].lr < w[0].lr),
        "cosine from step 1"
    );
}

#[test]
fn default_config_is_the_llama2_recipe() {
    let c = OptimizerConfig::default();
    assert_eq!(
        (c.lr, c.beta1, c.beta2, c.eps, c.weight_decay),
        (3e-4, 0.9, 0.95, 1e-5, 0.1)
    );
    assert_eq!(c.clip_norm, Some(1.0));
    assert_eq!((c.warmup_steps, c.min_lr_ratio), (2000, 0.1));
    // the library's lr_at agrees with the graph's formula at the boundaries
    assert_eq!(llc_passes::optimizer::lr_at(&c, 2000.0), 3e-4);
    assert!((llc_passes::optimizer::lr_at(&c, c.total_steps as f64) - 3e-5).abs() < 1e-18);
}

#[test]
fn tiny_llama_step_overfits_one_batch_in_f32() {
    // The compiled step, run 30 times on one batch in f32, must drive the loss well down:
    // autodiff, clipping, AdamW and the schedule working together.
    let cfg = llc_models::LlamaConfig::preset("tiny").unwrap();
    let mut m = llc_models::build_forward(&cfg, &llc_models::BuildOptions::new(2, 8)).unwrap();
    let pipeline = llc_passes::Pipeline::training(
        AutodiffOptions::default(),
        OptimizerConfig {
            lr: 1e-2,
            warmup_steps: 3,
            total_steps: 30,
            ..Default::default()
        },
    );
    pipeline
        .run(&mut m, &mut llc_passes::PipelineHooks::default())
        .unwrap();
    let step = &m.functions[0];
    let mut args = random_args(step, 11, cfg.vocab_size as i32, Precision::F32);
    let first_state = step.args().len() - (2 * 21 + 1);
    for (i, &a) in step.args().iter().enumerate().skip(first_state) {
        args[i] = Tensor::zeros(step.ty(a), Precision::F32);
    }
    let mut losses = Vec::new();
    for _ in 0..30 {
        let out = run_function(step, &args, Precision::F32).unwrap();
        losses.push(out[0].to_f64_vec()[0]);
        for (o, t) in step.outputs().iter().zip(out) {
            if let Some(a) = o.updates {
                let i = step.args().iter().position(|&x| x == a).unwrap();
                args[i] = t;
            }
        }
    }
    eprintln!("losses: {losses:.3?}");
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!((first - (256f64).ln()).abs() < 1.0, "initial loss {first}");
    assert!(last < 0.5 * first, "loss {first} -> {last}: {losses:?}");
}
