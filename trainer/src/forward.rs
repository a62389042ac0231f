//! A forward graph (no update) with its weights bound, run on named inputs: the reward
//! model's scores, the PPO policy's log-probs and values, the reference policy's
//! log-probs. The same function runs on the interpreter ([`InterpForward`], the oracle)
//! or as a compiled plan ([`PlanForward`]); callers do not care which.

use llc_ir::Function;

use crate::checkpoint::NamedTensor;
use crate::error::Result;
use crate::generate::bind_params;
use llc_runtime::plan_exec::PlanExecutor;
use llc_runtime::run_function;
use llc_runtime::{Precision, Tensor};

/// A forward function with weights bound: set the data inputs, get the results.
pub trait ForwardModel {
    /// Replaces the weights (by parameter name; names the function does not take are
    /// ignored, every parameter it takes must be given).
    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()>;
    /// Runs on `inputs` (data arguments by name; every one the function takes) and
    /// returns its results in the function's result order.
    fn run(&mut self, inputs: &[(&str, Tensor)]) -> Result<Vec<Tensor>>;
    /// What runs it, for reports (`interpreter`, `compiled cpu (znver3)`).
    fn describe(&self) -> String;
}

/// The forward function on the interpreter.
pub struct InterpForward {
    func: Function,
    args: Vec<Tensor>,
}

impl InterpForward {
    /// `func` with `weights` bound.
    pub fn new(func: Function, weights: &[NamedTensor]) -> Result<Self> {
        let args = func
            .args()
            .iter()
            .map(|&a| Tensor::zeros(func.ty(a), Precision::F32))
            .collect();
        let mut f = InterpForward { func, args };
        f.set_weights(weights)?;
        Ok(f)
    }
}

impl ForwardModel for InterpForward {
    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()> {
        for (i, slot) in bind_params(&self.func, weights, Precision::F32)?
            .into_iter()
            .enumerate()
        {
            if let Some(t) = slot {
                self.args[i] = t;
            }
        }
        Ok(())
    }

    fn run(&mut self, inputs: &[(&str, Tensor)]) -> Result<Vec<Tensor>> {
        for (name, t) in inputs {
            let slot = input_slot(&self.func, name)?;
            self.args[slot] = t.clone();
        }
        Ok(run_function(&self.func, &self.args, Precision::F32)?)
    }

    fn describe(&self) -> String {
        "interpreter".into()
    }
}

/// The forward function as a compiled plan (weights live in its arena).
pub struct PlanForward {
    func: Function,
    exec: PlanExecutor,
}

impl PlanForward {
    /// `exec` (compiled from `func`) with `weights` written in.
    pub fn new(func: Function, exec: PlanExecutor, weights: &[NamedTensor]) -> Result<Self> {
        let mut f = PlanForward { func, exec };
        f.set_weights(weights)?;
        Ok(f)
    }
}

impl ForwardModel for PlanForward {
    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()> {
        let bound = bind_params(&self.func, weights, Precision::F32)?;
        for (slot, &a) in bound.into_iter().zip(self.func.args()) {
            if let Some(t) = slot {
                self.exec.set_arg(&self.func.node(a).name, &t)?;
            }
        }
        Ok(())
    }

    fn run(&mut self, inputs: &[(&str, Tensor)]) -> Result<Vec<Tensor>> {
        for (name, t) in inputs {
            input_slot(&self.func, name)?;
            self.exec.set_arg(name, t)?;
        }
        self.exec.run()?;
        self.func
            .outputs()
            .iter()
            .map(|o| Ok(self.exec.output(&self.func.node(o.node).name)?))
            .collect()
    }

    fn describe(&self) -> String {
        match self.exec.native_cpu() {
            Some(cpu) => format!("compiled cpu ({cpu})"),
            None => "compiled plan (interpreted)".into(),
        }
    }
}

/// The argument slot of data input `name` of `f`.
fn input_slot(f: &Function, name: &str) -> Result<usize> {
    f.args()
        .iter()
        .position(|&a| f.node(a).name == name)
        .ok_or_else(|| {
            crate::generate::GenerateError::BadGraph {
                func: f.name.clone(),
                msg: format!("no input %{name}"),
            }
            .into()
        })
}
