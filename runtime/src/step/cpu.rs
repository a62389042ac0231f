//! The CPU step backend: runs the step function on the reference interpreter, feeding
//! each result that updates an argument back as that argument's next value.

use super::backend::{Batch, StepBackend, StepMetrics};
use crate::comm::{Communicator, SingleRank};
use crate::error::{Result, RuntimeError};
use crate::interp::{run_function, run_function_with};
use crate::tensor::{Precision, Tensor};
use llc_ir::{ArgRole, Function};
use std::rc::Rc;

/// Owns a step function, its eval (forward) function and the values of every parameter
/// and state argument.
pub struct CpuBackend {
    step: Function,
    eval: Function,
    /// One slot per step argument: `Some` for params and state, `None` for inputs.
    values: Vec<Option<Tensor>>,
    precision: Precision,
    /// The step's `all_reduce`s run through it (a single rank unless [`Self::with_comm`]).
    comm: Rc<dyn Communicator>,
}

fn missing(func: &Function, what: &str) -> RuntimeError {
    RuntimeError::Type {
        node: func.name.clone(),
        op: "train".into(),
        msg: what.to_string(),
    }
}

impl CpuBackend {
    /// `step` must return `loss`, `grad_norm` and `lr`; `eval` returns `loss` from the same
    /// parameters (by name) and data inputs. `initial` holds a value for every param and
    /// state argument of `step` (see [`crate::init::initial_state`]).
    pub fn new(
        step: Function,
        eval: Function,
        initial: Vec<Option<Tensor>>,
        precision: Precision,
    ) -> Result<Self> {
        if initial.len() != step.args().len() {
            return Err(RuntimeError::ArgCount {
                func: step.name.clone(),
                expected: step.args().len(),
                got: initial.len(),
            });
        }
        for name in ["loss", "grad_norm", "lr"] {
            if step.output_by_name(name).is_none() {
                return Err(missing(
                    &step,
                    &format!("the step function has no `{name}` result"),
                ));
            }
        }
        if eval.output_by_name("loss").is_none() {
            return Err(missing(&eval, "the eval function has no `loss` result"));
        }
        for (&a, v) in step.args().iter().zip(&initial) {
            let needs = step.arg_role(a) != Some(ArgRole::Input);
            if needs != v.is_some() {
                return Err(missing(
                    &step,
                    &format!(
                        "argument %{} {} an initial value",
                        step.node(a).name,
                        if needs { "needs" } else { "must not have" }
                    ),
                ));
            }
        }
        Ok(CpuBackend {
            step,
            eval,
            values: initial,
            precision,
            comm: Rc::new(SingleRank::new()),
        })
    }

    /// Run the step's collectives through `comm` (one rank of a data-parallel group).
    pub fn with_comm(mut self, comm: Rc<dyn Communicator>) -> Self {
        self.comm = comm;
        self
    }

    fn value_by_name(&self, name: &str) -> Option<&Tensor> {
        let id = self.step.by_name(name)?;
        let pos = self.step.args().iter().position(|&a| a == id)?;
        self.values[pos].as_ref()
    }

    fn input<'b>(f: &Function, batch: &'b Batch, name: &str) -> Result<&'b Tensor> {
        batch
            .get(name)
            .ok_or_else(|| missing(f, &format!("the batch has no input `{name}`")))
    }

    fn scalar(f: &Function, outputs: &[Tensor], name: &str) -> f64 {
        f.outputs()
            .iter()
            .position(|o| f.node(o.node).name == name)
            .and_then(|i| outputs[i].to_f64_vec().first().copied())
            .unwrap_or(f64::NAN)
    }
}

impl StepBackend for CpuBackend {
    fn name(&self) -> String {
        let threads = rayon::current_num_threads();
        if self.comm.world_size() > 1 {
            format!("cpu ({threads} threads, {})", self.comm.name())
        } else {
            format!("cpu ({threads} threads)")
        }
    }

    fn step(&mut self, batch: &Batch) -> Result<StepMetrics> {
        // Check the batch first, then move the values into the argument list (no copy of
        // the parameters) and move them back after the run, whether or not it succeeded.
        let mut inputs = Vec::new();
        for &a in self.step.args() {
            if self.step.arg_role(a) == Some(ArgRole::Input) {
                inputs.push(Self::input(&self.step, batch, &self.step.node(a).name)?.clone());
            }
        }
        let mut inputs = inputs.into_iter();
        let args: Vec<Tensor> = self
            .values
            .iter_mut()
            .map(|v| match v.take() {
                Some(t) => t,
                None => inputs.next().expect("one batch tensor per input argument"),
            })
            .collect();
        let result = run_function_with(&self.step, &args, self.precision, self.comm.as_ref());
        for ((&a, slot), t) in self.step.args().iter().zip(&mut self.values).zip(args) {
            if self.step.arg_role(a) != Some(ArgRole::Input) {
                *slot = Some(t);
            }
        }
        let outputs = result?;
        let metrics = StepMetrics {
            loss: Self::scalar(&self.step, &outputs, "loss"),
            grad_norm: Self::scalar(&self.step, &outputs, "grad_norm"),
            lr: Self::scalar(&self.step, &outputs, "lr"),
        };
        for (o, t) in self.step.outputs().iter().zip(outputs) {
            if let Some(arg) = o.updates {
                let pos = self
                    .step
                    .args()
                    .iter()
                    .position(|&a| a == arg)
                    .expect("verified: updates names an argument");
                self.values[pos] = Some(t);
            }
        }
        Ok(metrics)
    }

    fn eval_loss(&mut self, batch: &Batch) -> Result<f64> {
        let args: Vec<Tensor> = self
            .eval
            .args()
            .iter()
            .map(|&a| {
                let name = &self.eval.node(a).name;
                match self.eval.arg_role(a) {
                    Some(ArgRole::Input) => Self::input(&self.eval, batch, name).cloned(),
                    _ => self.value_by_name(name).cloned().ok_or_else(|| {
                        missing(&self.eval, &format!("no value for parameter `{name}`"))
                    }),
                }
            })
            .collect::<Result<_>>()?;
        let outputs = run_function(&self.eval, &args, self.precision)?;
        Ok(Self::scalar(&self.eval, &outputs, "loss"))
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(self
            .step
            .args()
            .iter()
            .zip(&self.values)
            .filter_map(|(&a, v)| Some((self.step.node(a).name.clone(), v.clone()?)))
            .collect())
    }

    fn load_state(&mut self, values: &[(String, Tensor)]) -> Result<()> {
        for (name, t) in values {
            let pos = self
                .step
                .by_name(name)
                .and_then(|id| self.step.args().iter().position(|&a| a == id))
                .filter(|&p| self.values[p].is_some())
                .ok_or_else(|| missing(&self.step, &format!("no parameter or state `{name}`")))?;
            let want = self.step.ty(self.step.args()[pos]);
            if t.shape() != want.shape.as_slice() {
                return Err(RuntimeError::ArgMismatch {
                    func: self.step.name.clone(),
                    index: pos,
                    arg: name.clone(),
                    expected: want.to_string(),
                    got: t.type_string(),
                });
            }
            self.values[pos] = Some(t.to_precision(self.precision));
        }
        Ok(())
    }
}
