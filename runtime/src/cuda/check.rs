//! The GPU checks: the CUDA backend against the CPU on one artifact.
//!
//! 1. **Plan step by plan step** (when the artifact has `kernels.ir`): the CPU plan
//!    executor and the GPU run the same plan on the same first batch; after each plan
//!    step (kernel, GEMM, memset, copy) its outputs are compared, then the CPU's bytes
//!    are written over the GPU's, so every step is judged on identical inputs and the
//!    first wrong kernel is named.
//! 2. **Training steps**: the reference interpreter on `step.ir` and the GPU backend run
//!    `steps` training steps from the same seeded parameters on the same random batches;
//!    loss, gradient norm and learning rate are compared at every step, and every
//!    parameter, optimizer moment and the parameter updates after step 1 and the last.
//! 3. **Eval**: `eval_loss` on the GPU equals the CPU loss of the same parameters and
//!    leaves parameters and state bit for bit unchanged.
//!
//! Tolerances ([`Tolerances`]) are for f32 arithmetic summed in different orders: a real
//! bug (a wrong offset, a missed dependency, a bad kernel) shows up as errors of order 1.

use super::error::CudaError;
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

/// Relative tolerances of the checks (f32 on both sides).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerances {
    /// `|loss_gpu - loss_cpu| / |loss_cpu|` at every step.
    pub loss_rel: f64,
    /// Same for the global gradient norm.
    pub grad_norm_rel: f64,
    /// Same for the learning rate (a scalar schedule: near exact).
    pub lr_rel: f64,
    /// Relative L2 error of every parameter tensor.
    pub param_rel_l2: f64,
    /// Relative L2 error of every optimizer-state tensor (moments; gradient-like values)
    /// and of every parameter's update `p_after - p_initial`.
    pub state_rel_l2: f64,
    /// Relative L2 error of each plan step's outputs given identical inputs.
    pub op_rel_l2: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            loss_rel: 1e-4,
            grad_norm_rel: 1e-3,
            lr_rel: 1e-6,
            param_rel_l2: 1e-5,
            state_rel_l2: 1e-3,
            op_rel_l2: 1e-3,
        }
    }
}

/// What [`run_checks`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOptions {
    /// Training steps compared (the states are compared after step 1 and this one).
    pub steps: usize,
    /// Seed of the initial parameters and the random batches.
    pub seed: u64,
    pub device: usize,
    /// Compare every plan step with the CPU plan executor first.
    pub per_op: bool,
    pub tolerances: Tolerances,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            steps: 10,
            seed: 0,
            device: 0,
            per_op: true,
            tolerances: Tolerances::default(),
        }
    }
}

/// One training step on both backends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepComparison {
    pub step: usize,
    pub cpu_loss: f64,
    pub gpu_loss: f64,
    pub loss_rel: f64,
    pub cpu_grad_norm: f64,
    pub gpu_grad_norm: f64,
    pub grad_norm_rel: f64,
    pub cpu_lr: f64,
    pub gpu_lr: f64,
    pub lr_rel: f64,
}

/// A worst case: which tensor (or plan step) and its error.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Worst {
    pub name: String,
    pub rel: f64,
}

/// Parameters and state after a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateComparison {
    pub after_step: usize,
    pub tensors: usize,
    pub worst_param: Option<Worst>,
    pub worst_state: Option<Worst>,
    pub worst_update: Option<Worst>,
}

/// The plan-step-by-plan-step comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpsComparison {
    pub checked: usize,
    pub failed: usize,
    /// The first plan step over tolerance.
    pub first_failure: Option<Worst>,
    /// The largest errors seen (up to 8), worst first.
    pub worst: Vec<Worst>,
}

/// `eval_loss` on both backends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalComparison {
    pub cpu_loss: f64,
    pub gpu_loss: f64,
    pub rel: f64,
    pub state_unchanged: bool,
}

/// Everything [`run_checks`] measured, and whether it passed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckReport {
    pub artifact: String,
    pub device: String,
    pub tolerances: Tolerances,
    pub ops: Option<OpsComparison>,
    pub steps: Vec<StepComparison>,
    pub states: Vec<StateComparison>,
    pub eval: Option<EvalComparison>,
    /// Every comparison over tolerance, in words.
    pub failures: Vec<String>,
    /// Setup warnings and skipped parts.
    pub notes: Vec<String>,
    pub cpu_seconds: f64,
    pub gpu_seconds: f64,
    pub passed: bool,
}

/// Whether error `e` is at most `tol` (a NaN error never is).
pub fn within(e: f64, tol: f64) -> bool {
    e.partial_cmp(&tol)
        .is_some_and(|o| o != std::cmp::Ordering::Greater)
}

/// `|a - b| / max(|b|, tiny)`, infinite when exactly one side is not finite.
pub fn rel_err(a: f64, b: f64) -> f64 {
    if a.is_finite() != b.is_finite() {
        return f64::INFINITY;
    }
    if !a.is_finite() {
        return if a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    (a - b).abs() / b.abs().max(1e-30)
}

impl CheckReport {
    /// The report as pretty JSON (the device script stores it under `$OUT`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }

    /// Fill `failures` from the measurements and set `passed`.
    pub fn judge(&mut self) {
        let t = self.tolerances;
        let mut f = Vec::new();
        if let Some(ops) = &self.ops
            && let Some(first) = &ops.first_failure
        {
            f.push(format!(
                "{} of {} plan steps differ from the CPU plan executor; first: {} (rel L2 {:.2e} > {:.0e})",
                ops.failed, ops.checked, first.name, first.rel, t.op_rel_l2
            ));
        }
        for s in &self.steps {
            for (what, rel, tol, cpu, gpu) in [
                ("loss", s.loss_rel, t.loss_rel, s.cpu_loss, s.gpu_loss),
                (
                    "grad_norm",
                    s.grad_norm_rel,
                    t.grad_norm_rel,
                    s.cpu_grad_norm,
                    s.gpu_grad_norm,
                ),
                ("lr", s.lr_rel, t.lr_rel, s.cpu_lr, s.gpu_lr),
            ] {
                if !within(rel, tol) {
                    f.push(format!(
                        "step {}: {what} {gpu} on the GPU vs {cpu} on the CPU (rel {rel:.2e} > {tol:.0e})",
                        s.step
                    ));
                }
            }
        }
        for s in &self.states {
            for (what, w, tol) in [
                ("parameter", &s.worst_param, t.param_rel_l2),
                ("optimizer state", &s.worst_state, t.state_rel_l2),
                ("update of parameter", &s.worst_update, t.state_rel_l2),
            ] {
                if let Some(w) = w
                    && !within(w.rel, tol)
                {
                    f.push(format!(
                        "after step {}: {what} %{} differs (rel L2 {:.2e} > {tol:.0e})",
                        s.after_step, w.name, w.rel
                    ));
                }
            }
        }
        if let Some(e) = &self.eval {
            if !within(e.rel, t.loss_rel) {
                f.push(format!(
                    "eval loss {} on the GPU vs {} on the CPU (rel {:.2e})",
                    e.gpu_loss, e.cpu_loss, e.rel
                ));
            }
            if !e.state_unchanged {
                f.push("eval_loss changed the parameters or optimizer state".into());
            }
        }
        self.passed = f.is_empty();
        self.failures = f;
    }

    /// A readable summary: the per-step table, the worst tensors and the verdict.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "gpu-check {} on {}", self.artifact, self.device);
        if let Some(ops) = &self.ops {
            let _ = writeln!(
                s,
                "  plan steps vs CPU plan executor: {} checked, {} over {:.0e}",
                ops.checked, ops.failed, self.tolerances.op_rel_l2
            );
            for w in ops.worst.iter().take(3) {
                let _ = writeln!(s, "    {:.2e}  {}", w.rel, w.name);
            }
        }
        let _ = writeln!(
            s,
            "  {:>4} {:>14} {:>14} {:>9} {:>12} {:>12} {:>9}",
            "step", "loss cpu", "loss gpu", "rel", "gnorm cpu", "gnorm gpu", "rel"
        );
        for c in &self.steps {
            let _ = writeln!(
                s,
                "  {:>4} {:>14.8} {:>14.8} {:>9.2e} {:>12.6} {:>12.6} {:>9.2e}",
                c.step,
                c.cpu_loss,
                c.gpu_loss,
                c.loss_rel,
                c.cpu_grad_norm,
                c.gpu_grad_norm,
                c.grad_norm_rel
            );
        }
        for st in &self.states {
            let w = |x: &Option<Worst>| {
                x.as_ref()
                    .map_or("-".to_string(), |w| format!("{:.2e} (%{})", w.rel, w.name))
            };
            let _ = writeln!(
                s,
                "  after step {}: {} tensors; worst param {}, state {}, update {}",
                st.after_step,
                st.tensors,
                w(&st.worst_param),
                w(&st.worst_state),
                w(&st.worst_update)
            );
        }
        if let Some(e) = &self.eval {
            let _ = writeln!(
                s,
                "  eval: cpu {} gpu {} (rel {:.2e}), state unchanged: {}",
                e.cpu_loss, e.gpu_loss, e.rel, e.state_unchanged
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        let _ = writeln!(
            s,
            "  time: cpu {:.1} s, gpu {:.1} s",
            self.cpu_seconds, self.gpu_seconds
        );
        if self.passed {
            let _ = writeln!(s, "PASS");
        } else {
            for f in &self.failures {
                let _ = writeln!(s, "  FAIL: {f}");
            }
            let _ = writeln!(s, "FAIL");
        }
        s
    }
}

/// Run the checks of the module docs on the artifact in `dir`.
pub fn run_checks(dir: &Path, opts: &CheckOptions) -> Result<CheckReport, CudaError> {
    #[cfg(feature = "cuda")]
    {
        super::device::catch("the GPU checks", || imp::run(dir, opts))
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (dir, opts);
        Err(CudaError::NotBuilt)
    }
}

#[cfg(feature = "cuda")]
mod imp {
    use super::*;
    use crate::PlanExecutor;
    use crate::cuda::artifact::Artifact;
    use crate::cuda::backend::CudaBackend;
    use crate::cuda::host::decode;
    use crate::cuda::options::CudaOptions;
    use crate::step::{Batch, CpuBackend, StepBackend};
    use crate::tensor::{Precision, Tensor, rel_l2_diff};
    use llc_ir::ArgRole;
    use llc_ir::plan::{BufRef, Step};
    use std::collections::HashMap;
    use std::time::Instant;

    fn rt(e: crate::RuntimeError) -> CudaError {
        match e {
            crate::RuntimeError::Cuda(c) => c,
            other => CudaError::Plan(format!("CPU reference: {other}")),
        }
    }

    /// The buffers plan step `s` writes (a kernel's scratch is internal to it).
    fn written(s: &Step) -> Vec<BufRef> {
        match s {
            Step::Kernel(k) => k.outputs.clone(),
            Step::Gemm(g) => vec![g.c],
            Step::StridedCopy { dst, .. } => vec![*dst],
            Step::Gather { out, .. } | Step::ScatterAdd { out, .. } => vec![*out],
            Step::Memset { dst, .. } | Step::Copy { dst, .. } | Step::AllReduce { dst, .. } => {
                vec![*dst]
            }
        }
    }

    /// Relative error of two tensors: L2 for floats, 0/inf equality for the rest.
    fn tensor_err(a: &Tensor, b: &Tensor) -> f64 {
        if a.is_float() {
            rel_l2_diff(a, b)
        } else if a == b {
            0.0
        } else {
            f64::INFINITY
        }
    }

    fn per_op(
        art: &Artifact,
        gpu: &mut CudaBackend,
        initial: &[(String, Tensor)],
        batch: &Batch,
        tol: f64,
    ) -> Result<OpsComparison, CudaError> {
        let mut cpu = PlanExecutor::load(&art.dir).map_err(rt)?;
        let by_name: HashMap<&str, &Tensor> =
            initial.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let args: Vec<Tensor> = art
            .plan
            .args
            .iter()
            .map(|a| match a.role {
                ArgRole::Input => batch.get(&a.name).cloned().ok_or_else(|| CudaError::Value {
                    name: a.name.clone(),
                    detail: "missing from the batch".into(),
                }),
                _ => by_name
                    .get(a.name.as_str())
                    .map(|t| (*t).clone())
                    .ok_or_else(|| CudaError::Value {
                        name: a.name.clone(),
                        detail: "missing from the initial state".into(),
                    }),
            })
            .collect::<Result<_, _>>()?;
        cpu.set_args(&args).map_err(rt)?;
        gpu.upload_batch_for_check(batch)?;
        let mut errs: Vec<Worst> = Vec::new();
        let mut first_failure = None;
        let mut failed = 0;
        for (i, step) in art.plan.steps.iter().enumerate() {
            cpu.run_step(i).map_err(rt)?;
            gpu.run_plan_step_for_check(i)?;
            let mut worst = Worst {
                name: String::new(),
                rel: 0.0,
            };
            for r in written(step) {
                let b = &art.plan.buffers[r.buffer as usize];
                let want_bytes = cpu.bytes(&r).map_err(rt)?;
                let got_bytes = gpu.download_for_check(r.offset, r.bytes)?;
                let ty = b.ty();
                let e = tensor_err(
                    &decode(&b.name, &got_bytes, &ty)?,
                    &decode(&b.name, want_bytes, &ty)?,
                );
                if !within(e, worst.rel) {
                    worst = Worst {
                        name: format!("step {i} {} -> %{}", gpu.step_name(i), b.name),
                        rel: e,
                    };
                }
                // Judge the next step on the CPU's inputs.
                gpu.upload_for_check(r.offset, want_bytes)?;
            }
            if !within(worst.rel, tol) {
                failed += 1;
                if first_failure.is_none() {
                    first_failure = Some(worst.clone());
                }
            }
            if !worst.name.is_empty() {
                errs.push(worst);
            }
        }
        errs.sort_by(|a, b| b.rel.total_cmp(&a.rel));
        errs.truncate(8);
        Ok(OpsComparison {
            checked: art.plan.steps.len(),
            failed,
            first_failure,
            worst: errs,
        })
    }

    fn compare_states(
        after_step: usize,
        cpu: &[(String, Tensor)],
        gpu: &[(String, Tensor)],
        initial: &HashMap<String, Tensor>,
        roles: &HashMap<String, ArgRole>,
    ) -> Result<StateComparison, CudaError> {
        let gpu: HashMap<&str, &Tensor> = gpu.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut out = StateComparison {
            after_step,
            tensors: 0,
            worst_param: None,
            worst_state: None,
            worst_update: None,
        };
        let bump = |slot: &mut Option<Worst>, name: &str, rel: f64| {
            if slot.as_ref().is_none_or(|w| !within(rel, w.rel)) {
                *slot = Some(Worst {
                    name: name.to_string(),
                    rel,
                });
            }
        };
        for (name, c) in cpu {
            let Some(g) = gpu.get(name.as_str()) else {
                return Err(CudaError::Value {
                    name: name.clone(),
                    detail: "the GPU backend's state lacks it".into(),
                });
            };
            out.tensors += 1;
            let e = tensor_err(g, c);
            if roles.get(name) == Some(&ArgRole::Param) {
                bump(&mut out.worst_param, name, e);
                if let Some(init) = initial.get(name) {
                    let delta = |t: &Tensor| {
                        let v: Vec<f64> = t
                            .to_f64_vec()
                            .iter()
                            .zip(init.to_f64_vec())
                            .map(|(a, b)| a - b)
                            .collect();
                        Tensor::from_f64(t.shape().to_vec(), v).expect("same shape")
                    };
                    bump(
                        &mut out.worst_update,
                        name,
                        rel_l2_diff(&delta(g), &delta(c)),
                    );
                }
            } else {
                bump(&mut out.worst_state, name, e);
            }
        }
        Ok(out)
    }

    pub(super) fn run(dir: &Path, opts: &CheckOptions) -> Result<CheckReport, CudaError> {
        let art = Artifact::load(dir)?;
        let step_fn = art.step_function()?.clone();
        let initial = art.initial_state(opts.seed)?;
        let batches: Vec<Batch> = (0..opts.steps.max(1))
            .map(|i| art.random_batch(opts.seed.wrapping_add(1 + i as u64)))
            .collect::<Result<_, _>>()?;
        let t_gpu = Instant::now();
        let mut gpu = CudaBackend::from_artifact(
            art.clone(),
            &initial,
            opts.device,
            CudaOptions::from_env()?,
        )?;
        let mut gpu_seconds = t_gpu.elapsed().as_secs_f64();
        let mut report = CheckReport {
            artifact: dir.display().to_string(),
            device: gpu.name(),
            tolerances: opts.tolerances,
            ops: None,
            steps: Vec::new(),
            states: Vec::new(),
            eval: None,
            failures: Vec::new(),
            notes: gpu.warnings().to_vec(),
            cpu_seconds: 0.0,
            gpu_seconds: 0.0,
            passed: false,
        };
        let (lt, blas) = gpu.gemm_split();
        report.notes.push(format!(
            "GEMMs: {lt} via cuBLASLt, {blas} via cuBLAS; PTX JIT {:.2} s",
            gpu.module_load_seconds()
        ));
        if opts.per_op {
            if art.dir.join("kernels.ir").exists() {
                report.ops = Some(per_op(
                    &art,
                    &mut gpu,
                    &initial,
                    &batches[0],
                    opts.tolerances.op_rel_l2,
                )?);
                // Back to the initial state for the training comparison.
                gpu.load_state(&initial).map_err(rt)?;
            } else {
                report
                    .notes
                    .push("plan-step check skipped: the artifact has no kernels.ir".into());
            }
        }
        let by_name: HashMap<String, Tensor> = initial.iter().cloned().collect();
        let roles: HashMap<String, ArgRole> = art
            .plan
            .args
            .iter()
            .map(|a| (a.name.clone(), a.role))
            .collect();
        let init_vec: Vec<Option<Tensor>> = step_fn
            .args()
            .iter()
            .map(|&a| match step_fn.arg_role(a) {
                Some(ArgRole::Input) => None,
                _ => by_name.get(&step_fn.node(a).name).cloned(),
            })
            .collect();
        let mut cpu =
            CpuBackend::new(step_fn.clone(), step_fn, init_vec, Precision::F32).map_err(rt)?;
        let mut cpu_seconds = 0.0;
        for (i, batch) in batches.iter().enumerate().take(opts.steps) {
            let step = i + 1;
            let t = Instant::now();
            let c = cpu.step(batch).map_err(rt)?;
            cpu_seconds += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let g = gpu.step(batch).map_err(rt)?;
            gpu_seconds += t.elapsed().as_secs_f64();
            report.steps.push(StepComparison {
                step,
                cpu_loss: c.loss,
                gpu_loss: g.loss,
                loss_rel: rel_err(g.loss, c.loss),
                cpu_grad_norm: c.grad_norm,
                gpu_grad_norm: g.grad_norm,
                grad_norm_rel: rel_err(g.grad_norm, c.grad_norm),
                cpu_lr: c.lr,
                gpu_lr: g.lr,
                lr_rel: rel_err(g.lr, c.lr),
            });
            if step == 1 || step == opts.steps {
                let cs = cpu.state().map_err(rt)?;
                let gs = gpu.state().map_err(rt)?;
                report
                    .states
                    .push(compare_states(step, &cs, &gs, &by_name, &roles)?);
            }
        }
        let before = gpu.state().map_err(rt)?;
        let t = Instant::now();
        let cpu_eval = cpu.eval_loss(&batches[0]).map_err(rt)?;
        cpu_seconds += t.elapsed().as_secs_f64();
        let gpu_eval = gpu.eval_loss(&batches[0]).map_err(rt)?;
        let after = gpu.state().map_err(rt)?;
        report.eval = Some(EvalComparison {
            cpu_loss: cpu_eval,
            gpu_loss: gpu_eval,
            rel: rel_err(gpu_eval, cpu_eval),
            state_unchanged: before == after,
        });
        if !gpu.uses_graph() && gpu.options().use_graph && opts.steps > 1 {
            report
                .notes
                .push("CUDA graphs were requested but no graph was captured".into());
        }
        report.cpu_seconds = cpu_seconds;
        report.gpu_seconds = gpu_seconds;
        report.judge();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> CheckReport {
        CheckReport {
            artifact: "a".into(),
            device: "cuda:0 (test)".into(),
            tolerances: Tolerances::default(),
            ops: Some(OpsComparison {
                checked: 10,
                failed: 0,
                first_failure: None,
                worst: vec![],
            }),
            steps: vec![StepComparison {
                step: 1,
                cpu_loss: 5.5,
                gpu_loss: 5.5000001,
                loss_rel: rel_err(5.5000001, 5.5),
                cpu_grad_norm: 2.0,
                gpu_grad_norm: 2.0,
                grad_norm_rel: 0.0,
                cpu_lr: 1e-4,
                gpu_lr: 1e-4,
                lr_rel: 0.0,
            }],
            states: vec![StateComparison {
                after_step: 1,
                tensors: 3,
                worst_param: Some(Worst {
                    name: "w".into(),
                    rel: 1e-7,
                }),
                worst_state: None,
                worst_update: None,
            }],
            eval: None,
            failures: vec![],
            notes: vec![],
            cpu_seconds: 1.0,
            gpu_seconds: 0.5,
            passed: false,
        }
    }

    #[test]
    fn a_close_run_passes() {
        let mut r = report();
        r.judge();
        assert!(r.passed, "{:?}", r.failures);
        assert!(r.summary().ends_with("PASS\n"), "{}", r.summary());
        assert!(r.to_json().contains("\"passed\": true"));
    }

    #[test]
    fn every_kind_of_difference_fails_with_its_name() {
        let mut r = report();
        r.steps[0].gpu_loss = f64::NAN;
        r.steps[0].loss_rel = rel_err(f64::NAN, 5.5);
        r.states[0].worst_update = Some(Worst {
            name: "layers.0.attention.wq.weight".into(),
            rel: 0.5,
        });
        r.ops = Some(OpsComparison {
            checked: 10,
            failed: 2,
            first_failure: Some(Worst {
                name: "step 3 kernel row_1 -> %h".into(),
                rel: 1.0,
            }),
            worst: vec![],
        });
        r.eval = Some(EvalComparison {
            cpu_loss: 5.5,
            gpu_loss: 5.5,
            rel: 0.0,
            state_unchanged: false,
        });
        r.judge();
        assert!(!r.passed);
        let all = r.failures.join("\n");
        assert!(all.contains("step 1: loss NaN on the GPU"), "{all}");
        assert!(
            all.contains("update of parameter %layers.0.attention.wq.weight"),
            "{all}"
        );
        assert!(all.contains("first: step 3 kernel row_1 -> %h"), "{all}");
        assert!(all.contains("eval_loss changed"), "{all}");
        assert!(r.summary().ends_with("FAIL\n"));
    }

    #[test]
    fn relative_errors_treat_non_finite_values_strictly() {
        assert_eq!(rel_err(1.0, 1.0), 0.0);
        assert!((rel_err(1.1, 1.0) - 0.1).abs() < 1e-12);
        assert_eq!(rel_err(f64::NAN, 1.0), f64::INFINITY);
        assert_eq!(rel_err(f64::INFINITY, f64::INFINITY), 0.0);
        assert_eq!(rel_err(f64::NAN, f64::NAN), 0.0);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn without_the_feature_the_checks_say_so() {
        let e = run_checks(Path::new("x"), &CheckOptions::default()).unwrap_err();
        assert_eq!(e, CudaError::NotBuilt);
    }
}
