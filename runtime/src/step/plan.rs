//! The compiled-step backend: a [`PlanExecutor`] over an artifact — native kernels for a
//! CPU target, GEMMs in the CPU library, everything at the plan's arena offsets — behind
//! the same [`StepBackend`] as the interpreter and the GPU.
//!
//! The plan's step computes `loss` from the parameters before their update, so
//! `eval_loss` runs the step on a snapshot of the persistent regions and puts them back.

use super::backend::{Batch, StepBackend, StepMetrics};
use crate::comm::Communicator;
use crate::error::{Result, RuntimeError};
use crate::plan_exec::PlanExecutor;
use crate::tensor::Tensor;
use llc_ir::ArgRole;
use std::rc::Rc;

/// Owns an executor whose arena holds the parameters and optimizer state.
pub struct PlanBackend {
    exec: PlanExecutor,
    /// The data-parallel group the step's `all_reduce`s run over (one rank without).
    comm: Option<Rc<dyn Communicator>>,
}

fn plan_err(msg: String) -> RuntimeError {
    RuntimeError::Plan(msg)
}

impl PlanBackend {
    /// A backend over `exec`, with every parameter and state argument set from
    /// `initial` (by name; each must be given exactly once).
    pub fn new(mut exec: PlanExecutor, initial: &[(String, Tensor)]) -> Result<PlanBackend> {
        for name in ["loss", "grad_norm", "lr"] {
            if exec.plan().output(name).is_none() {
                return Err(plan_err(format!("the plan has no `{name}` result")));
            }
        }
        let needed: Vec<String> = exec
            .plan()
            .args
            .iter()
            .filter(|a| a.role != ArgRole::Input)
            .map(|a| a.name.clone())
            .collect();
        for name in &needed {
            let v = initial
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| plan_err(format!("no initial value for %{name}")))?;
            exec.set_arg(name, &v.1)?;
        }
        Ok(PlanBackend { exec, comm: None })
    }

    /// The same backend as one rank of `comm` (a data-parallel step).
    pub fn with_comm(mut self, comm: Rc<dyn Communicator>) -> Self {
        self.comm = Some(comm);
        self
    }

    /// The executor (for checks and benchmarks).
    pub fn executor(&mut self) -> &mut PlanExecutor {
        &mut self.exec
    }

    fn scalar(&self, name: &str) -> Result<f64> {
        Ok(self
            .exec
            .output(name)?
            .to_f64_vec()
            .first()
            .copied()
            .unwrap_or(f64::NAN))
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<()> {
        let inputs: Vec<String> = self
            .exec
            .plan()
            .args
            .iter()
            .filter(|a| a.role == ArgRole::Input)
            .map(|a| a.name.clone())
            .collect();
        for name in inputs {
            let t = batch
                .get(&name)
                .ok_or_else(|| plan_err(format!("the batch has no input `{name}`")))?;
            self.exec.set_arg(&name, t)?;
        }
        Ok(())
    }
}

impl StepBackend for PlanBackend {
    fn name(&self) -> String {
        let threads = rayon::current_num_threads();
        match self.exec.native_cpu() {
            Some(cpu) => format!("cpu (compiled for {cpu}, {threads} threads)"),
            None => format!("plan on the interpreter ({threads} threads)"),
        }
    }

    fn step(&mut self, batch: &Batch) -> Result<StepMetrics> {
        self.write_batch(batch)?;
        self.exec.run_in(self.comm.as_deref())?;
        Ok(StepMetrics {
            loss: self.scalar("loss")?,
            grad_norm: self.scalar("grad_norm")?,
            lr: self.scalar("lr")?,
        })
    }

    fn eval_loss(&mut self, batch: &Batch) -> Result<f64> {
        self.write_batch(batch)?;
        let snap = self.exec.snapshot();
        // Validation runs on one rank: its collectives must not wait for the others (the
        // update they feed is undone).
        let r = self.exec.run();
        self.exec.restore(&snap);
        r?;
        self.scalar("loss")
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        self.exec
            .plan()
            .args
            .iter()
            .filter(|a| a.role != ArgRole::Input)
            .map(|a| Ok((a.name.clone(), self.exec.arg(&a.name)?)))
            .collect()
    }

    fn load_state(&mut self, values: &[(String, Tensor)]) -> Result<()> {
        for (name, t) in values {
            match self.exec.plan().arg(name) {
                Some(a) if a.role != ArgRole::Input => self.exec.set_arg(name, t)?,
                _ => {
                    return Err(plan_err(format!(
                        "the plan has no parameter or state %{name}"
                    )));
                }
            }
        }
        Ok(())
    }
}
