//! Optimizer lowering: turns `forward_backward` (results `loss`, `grad.<p>`...) into the
//! training step `step`, with global-norm clipping ([`clip`]), AdamW ([`adamw`]) and the
//! learning-rate schedule ([`schedule`]) all expressed as IR.
//!
//! The step function takes the source's arguments, then new state arguments
//! `opt.m.<p>` for every parameter, `opt.v.<p>` for every parameter (both of the
//! parameter's type, zero at the start of training) and `opt.step: i32[]` (the number of
//! completed steps). Its results are `loss`, `grad_norm` (the global gradient norm before
//! clipping), `lr` (the rate this step used), then `<p>.next` updating each parameter,
//! `opt.m.<p>.next`, `opt.v.<p>.next` and `opt.step.next` updating the state.
//!
//! Scalar math (the global norm, schedule, clip factor, bias corrections) runs in f64
//! when the loss is f64 and in f32 otherwise; per-parameter math runs in the parameter's
//! dtype.

mod adamw;
mod clip;
mod schedule;

pub use clip::CLIP_NORM_EPS;
pub use schedule::lr_at;

use crate::autodiff::no_such_function;
use crate::error::{PassError, Result};
use adamw::{AdamConsts, StepScalars};
use llc_ir::{ArgRole, BinaryOp, Builder, DType, Function, Module, NodeId, Output, TensorType};

const PASS: &str = "optimizer";

/// Force weight decay on or off for parameters whose name matches `pattern` (`*` matches
/// any run of characters, everything else matches itself).
#[derive(Clone, Debug, PartialEq)]
pub struct DecayOverride {
    /// Glob over parameter names, e.g. `tok_embeddings.*` or `*norm*`.
    pub pattern: String,
    /// Whether matching parameters get weight decay.
    pub decay: bool,
}

/// Every hyperparameter of the training step. Defaults are the Llama 2 paper's values.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerConfig {
    /// The function to lower (results `loss` and `grad.<p>`).
    pub function: String,
    /// The name of its loss result.
    pub loss: String,
    /// The name of the step function built.
    pub output_function: String,
    /// Keep the source function in the module next to the step (default: replace it).
    pub keep_source: bool,
    /// Peak learning rate (3e-4, the paper's value for 7B and 13B).
    pub lr: f64,
    /// AdamW beta1 (0.9).
    pub beta1: f64,
    /// AdamW beta2 (0.95).
    pub beta2: f64,
    /// AdamW epsilon (1e-5).
    pub eps: f64,
    /// Decoupled weight decay (0.1), applied to decayed parameters only.
    pub weight_decay: f64,
    /// Global gradient-norm clip (1.0); `None` or `Some(0.0)` disables clipping.
    pub clip_norm: Option<f64>,
    /// Linear warmup steps (2000).
    pub warmup_steps: u64,
    /// The step at which the cosine decay reaches its floor. Default 500 000: the
    /// paper's 2T tokens at its 4M-token batches.
    pub total_steps: u64,
    /// The floor of the cosine decay as a fraction of the peak (0.1).
    pub min_lr_ratio: f64,
    /// Which parameters decay: the first matching override wins; otherwise parameters
    /// of rank >= 2 (matrices, embeddings) decay and rank < 2 ones (norm gains) don't.
    pub decay_overrides: Vec<DecayOverride>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            function: "forward_backward".into(),
            loss: "loss".into(),
            output_function: "step".into(),
            keep_source: false,
            lr: 3e-4,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-5,
            weight_decay: 0.1,
            clip_norm: Some(1.0),
            warmup_steps: 2000,
            total_steps: 500_000,
            min_lr_ratio: 0.1,
            decay_overrides: Vec::new(),
        }
    }
}

/// Whether `name` matches the glob `pattern` (`*` = any run of characters).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl OptimizerConfig {
    /// Whether a parameter of this name and type gets weight decay.
    pub fn decays(&self, name: &str, ty: &TensorType) -> bool {
        self.decay_overrides
            .iter()
            .find(|o| glob_match(&o.pattern, name))
            .map(|o| o.decay)
            .unwrap_or(ty.rank() >= 2)
    }

    /// The clip threshold, when clipping is on.
    pub fn clip(&self) -> Option<f64> {
        self.clip_norm.filter(|&c| c != 0.0)
    }

    /// Reject values the formulas cannot use, naming the option.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(PassError::InvalidConfig { pass: PASS, msg });
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        for (name, v) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{name} must be in [0, 1), got {v}"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad(format!("eps must be positive, got {}", self.eps));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "weight_decay must be >= 0, got {}",
                self.weight_decay
            ));
        }
        if let Some(c) = self.clip_norm
            && !(c.is_finite() && c >= 0.0)
        {
            return bad(format!("clip_norm must be >= 0 (0 disables), got {c}"));
        }
        if self.total_steps <= self.warmup_steps {
            return bad(format!(
                "total_steps ({}) must exceed warmup_steps ({})",
                self.total_steps, self.warmup_steps
            ));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad(format!(
                "min_lr_ratio must be in [0, 1], got {}",
                self.min_lr_ratio
            ));
        }
        Ok(())
    }
}

/// Counters for the compile summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptimizerStats {
    /// Nodes in the source function.
    pub nodes_before: usize,
    /// Nodes in the step function.
    pub nodes_after: usize,
    /// Parameters updated.
    pub params: usize,
    /// Of those, how many get weight decay.
    pub decayed: usize,
}

/// Replace (or, with `keep_source`, extend) `cfg.function` of `module` by the step.
pub fn lower_optimizer(module: &mut Module, cfg: &OptimizerConfig) -> Result<OptimizerStats> {
    let idx = module
        .functions
        .iter()
        .position(|f| f.name == cfg.function)
        .ok_or_else(|| no_such_function(module, &cfg.function))?;
    if cfg.output_function != cfg.function && module.function(&cfg.output_function).is_some() {
        return Err(PassError::InvalidConfig {
            pass: PASS,
            msg: format!(
                "the module already has a function @{}; pick another output_function",
                cfg.output_function
            ),
        });
    }
    let (f, stats) = build_step(&module.functions[idx], cfg)?;
    if cfg.keep_source {
        module.functions.push(f);
    } else {
        module.functions[idx] = f;
    }
    Ok(stats)
}

/// Build the step function from a `forward_backward` function (see the module docs).
pub fn build_step(src: &Function, cfg: &OptimizerConfig) -> Result<(Function, OptimizerStats)> {
    cfg.validate()?;
    let output = |name: &str| {
        src.output_by_name(name)
            .ok_or_else(|| PassError::NoSuchOutput {
                pass: PASS,
                func: src.name.clone(),
                name: name.to_string(),
            })
    };
    let loss = output(&cfg.loss)?;
    if !src.ty(loss).dtype.is_float() {
        return Err(PassError::LossNotScalar {
            pass: PASS,
            func: src.name.clone(),
            name: cfg.loss.clone(),
            ty: src.ty(loss).clone(),
        });
    }
    // Scalars at f32 at least: a bf16 step counter would stop counting at 256.
    let dt = match src.ty(loss).dtype {
        DType::F64 => DType::F64,
        _ => DType::F32,
    };
    let params = src.args_with_role(ArgRole::Param);
    let grads = params
        .iter()
        .map(|&p| output(&format!("grad.{}", src.node(p).name)))
        .collect::<Result<Vec<_>>>()?;

    let mut f = src.clone();
    f.name = cfg.output_function.clone();
    let mut stats = OptimizerStats {
        nodes_before: src.node_count(),
        params: params.len(),
        ..Default::default()
    };
    let names: Vec<String> = params.iter().map(|&p| f.node(p).name.clone()).collect();
    let mut b = Builder::new(&mut f);
    let mut moments = Vec::with_capacity(params.len());
    for kind in ["m", "v"] {
        for (&p, name) in params.iter().zip(&names) {
            let ty = b.ty(p).clone();
            moments.push(b.arg(&format!("opt.{kind}.{name}"), ArgRole::State, ty)?);
        }
    }
    let (ms, vs) = moments.split_at(params.len());
    let step = b.state("opt.step", DType::I32, &[])?;

    b.push_scope("opt");
    let grad_norm = clip::build_global_norm(&mut b, &grads, dt)?;
    let clip_scale = match cfg.clip() {
        Some(c) => {
            let s = clip::build_clip_scale(&mut b, grad_norm, c)?;
            Some(b.name(s, "clip_scale")?)
        }
        None => None,
    };
    let stepf = b.cast(step, dt)?;
    let t = b.add_scalar(stepf, 1.0)?;
    let t = b.name(t, "t")?;
    let lr = schedule::build_lr(&mut b, cfg, t, dt)?;
    let scalars = {
        let bias_correction = |b: &mut Builder<'_>, beta: f64| -> llc_ir::Result<NodeId> {
            let base = b.scalar(beta, dt)?;
            let pw = b.pow(base, t)?;
            let one = b.scalar(1.0, dt)?;
            b.sub(one, pw)
        };
        let bc1 = bias_correction(&mut b, cfg.beta1)?;
        let bc1 = b.name(bc1, "bias_correction1")?;
        let bc2 = bias_correction(&mut b, cfg.beta2)?;
        let bc2 = b.name(bc2, "bias_correction2")?;
        let step_size = b.div(lr, bc1)?;
        let step_size = b.name(step_size, "step_size")?;
        let sqrt_bc2 = b.sqrt(bc2)?;
        let sqrt_bc2 = b.name(sqrt_bc2, "sqrt_bias_correction2")?;
        let lr_wd = b.mul_scalar(lr, cfg.weight_decay)?;
        let one = b.scalar(1.0, dt)?;
        let decay_factor = b.sub(one, lr_wd)?;
        let decay_factor = b.name(decay_factor, "decay_factor")?;
        StepScalars {
            clip_scale,
            step_size,
            sqrt_bc2,
            decay_factor,
        }
    };
    b.pop_scope();
    b.func.rename(grad_norm, "grad_norm")?;
    b.func.rename(lr, "lr")?;

    let consts = AdamConsts {
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
    };
    let mut updates = Vec::with_capacity(params.len());
    for (i, name) in names.iter().enumerate() {
        let decay = cfg.weight_decay != 0.0 && cfg.decays(name, b.ty(params[i]));
        stats.decayed += usize::from(decay);
        b.push_scope(format!("opt.{name}"));
        let u = adamw::build_update(
            &mut b,
            &consts,
            &scalars,
            decay,
            [params[i], grads[i], ms[i], vs[i]],
        )?;
        b.pop_scope();
        b.func.rename(u.param, &format!("{name}.next"))?;
        b.func.rename(u.m, &format!("opt.m.{name}.next"))?;
        b.func.rename(u.v, &format!("opt.v.{name}.next"))?;
        updates.push(u);
    }
    b.push_scope("opt");
    let one = b.scalar(1.0, DType::I32)?;
    b.pop_scope();
    let step_next = b.binary(BinaryOp::Add, step, one)?;
    b.func.rename(step_next, "opt.step.next")?;

    let mut outputs = vec![
        Output {
            node: loss,
            updates: None,
        },
        Output {
            node: grad_norm,
            updates: None,
        },
        Output {
            node: lr,
            updates: None,
        },
    ];
    outputs.extend(params.iter().zip(&updates).map(|(&p, u)| Output {
        node: u.param,
        updates: Some(p),
    }));
    outputs.extend(ms.iter().zip(&updates).map(|(&m, u)| Output {
        node: u.m,
        updates: Some(m),
    }));
    outputs.extend(vs.iter().zip(&updates).map(|(&v, u)| Output {
        node: u.v,
        updates: Some(v),
    }));
    outputs.push(Output {
        node: step_next,
        updates: Some(step),
    });
    f.set_outputs(outputs);
    f.remove_dead();
    stats.nodes_after = f.node_count();
    Ok((f, stats))
}
