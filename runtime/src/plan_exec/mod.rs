//! The CPU executor of a compiled plan: one byte arena of the plan's size, laid out
//! exactly as `plan.json` says; arguments written at their offsets; every step run in
//! order (each kernel's IR function by the interpreter, reading its inputs from and
//! writing its outputs to arena bytes; each GEMM by its descriptor; strided copies,
//! gathers, scatter-adds, memsets and copies on the bytes). A kernel's GPU launches and
//! scratch buffers are not needed here: the interpreter runs the whole function. Results
//! and updated state are read back from the arena.
//!
//! Because every value goes through the arena at the plan's offsets, a wrong offset, a
//! buffer reused while still alive, or a missed dependency shows up as a wrong result:
//! this checks partitioning, scheduling and memory planning without a GPU. The CUDA
//! runtime executes the very same plan.

mod arena;
mod gemm;
mod moves;

use crate::error::{Result, RuntimeError};
use crate::interp::run_function;
use crate::tensor::{Precision, Tensor};
use arena::Arena;
use llc_ir::plan::{Plan, Step};
use llc_ir::{DType, Function, TensorType, parse_module};
use std::collections::HashMap;
use std::path::Path;

fn plan_err(msg: impl Into<String>) -> RuntimeError {
    RuntimeError::Plan(msg.into())
}

/// A plan, its kernels and its arena.
pub struct PlanExecutor {
    plan: Plan,
    kernels: HashMap<String, Function>,
    arena: Arena,
    precision: Precision,
}

impl PlanExecutor {
    /// An executor for `plan` whose kernels' IR functions are `kernels` (named as the
    /// plan's kernels). Fails when a kernel is missing or its signature does not match
    /// the plan's declaration.
    pub fn new(plan: Plan, kernels: Vec<Function>) -> Result<PlanExecutor> {
        plan.validate().map_err(|e| plan_err(e.to_string()))?;
        let kernels: HashMap<String, Function> =
            kernels.into_iter().map(|f| (f.name.clone(), f)).collect();
        for decl in &plan.kernels {
            let Some(f) = kernels.get(&decl.name) else {
                return Err(plan_err(format!(
                    "kernel {} is declared by the plan but has no IR function",
                    decl.name
                )));
            };
            let sig: Vec<TensorType> = f
                .args()
                .iter()
                .chain(f.outputs().iter().map(|o| &o.node))
                .map(|&n| f.ty(n).clone())
                .collect();
            if sig != decl.params || f.args().len() != decl.num_inputs {
                return Err(plan_err(format!(
                    "kernel {}: its IR function's signature does not match the plan's declaration",
                    decl.name
                )));
            }
        }
        let precision = if plan.buffers.iter().any(|b| b.dtype == DType::F64) {
            Precision::F64
        } else {
            Precision::F32
        };
        let arena = Arena::new(plan.arena_bytes)?;
        Ok(PlanExecutor {
            plan,
            kernels,
            arena,
            precision,
        })
    }

    /// Load an artifact directory: `plan.json` and `kernels.ir`.
    pub fn load(dir: &Path) -> Result<PlanExecutor> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| plan_err(format!("{}: {e}", dir.join(name).display())))
        };
        let plan = Plan::from_json(&read("plan.json")?).map_err(|e| plan_err(e.to_string()))?;
        let module = parse_module(&read("kernels.ir")?)
            .map_err(|e| plan_err(format!("{}: {e}", dir.join("kernels.ir").display())))?;
        PlanExecutor::new(plan, module.functions)
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Write argument `name` (a parameter, state or input) into the arena.
    pub fn set_arg(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let a = self
            .plan
            .arg(name)
            .ok_or_else(|| plan_err(format!("the plan has no argument %{name}")))?;
        let b = &self.plan.buffers[a.buffer as usize];
        if value.shape() != b.shape.as_slice() {
            return Err(plan_err(format!(
                "argument %{name} must have shape {:?}, got {}",
                b.shape,
                value.type_string()
            )));
        }
        let r = llc_ir::plan::BufRef {
            buffer: a.buffer,
            offset: a.offset,
            bytes: a.bytes,
        };
        let dtype = b.dtype;
        self.arena.write(&r, dtype, value)
    }

    /// Write every argument, in the plan's argument order.
    pub fn set_args(&mut self, values: &[Tensor]) -> Result<()> {
        if values.len() != self.plan.args.len() {
            return Err(plan_err(format!(
                "the plan takes {} arguments, got {}",
                self.plan.args.len(),
                values.len()
            )));
        }
        let names: Vec<String> = self.plan.args.iter().map(|a| a.name.clone()).collect();
        for (name, v) in names.iter().zip(values) {
            self.set_arg(name, v)?;
        }
        Ok(())
    }

    /// Run every step of the plan once.
    pub fn run(&mut self) -> Result<()> {
        for i in 0..self.plan.steps.len() {
            self.run_step(i)?;
        }
        Ok(())
    }

    /// Run step `i` of the plan alone: a device backend can be compared with this one
    /// plan step at a time.
    pub fn run_step(&mut self, i: usize) -> Result<()> {
        let plan = &self.plan;
        let step = plan
            .steps
            .get(i)
            .ok_or_else(|| plan_err(format!("the plan has no step {i}")))?;
        match step {
            Step::Kernel(l) => {
                let k = &self.kernels[&l.kernel];
                let inputs = l
                    .inputs
                    .iter()
                    .zip(k.args())
                    .map(|(r, &a)| self.arena.read(r, k.ty(a), self.precision))
                    .collect::<Result<Vec<Tensor>>>()?;
                let outs = run_function(k, &inputs, self.precision)
                    .map_err(|e| plan_err(format!("step {i} (kernel {}): {e}", l.kernel)))?;
                for ((r, o), t) in l.outputs.iter().zip(k.outputs()).zip(&outs) {
                    self.arena.write(r, k.ty(o.node).dtype, t)?;
                }
            }
            Step::StridedCopy {
                src,
                dst,
                dtype,
                shape,
                src_offset,
                src_strides,
                dst_offset,
                dst_strides,
            } => moves::strided_copy(
                &mut self.arena,
                src,
                dst,
                *dtype,
                shape,
                *src_offset,
                src_strides,
                *dst_offset,
                dst_strides,
            )?,
            Step::Gather {
                table,
                indices,
                out,
                dtype,
                rows,
                count,
                row_elems,
            } => moves::gather(
                &mut self.arena,
                table,
                indices,
                out,
                *dtype,
                *rows,
                *count,
                *row_elems,
            )?,
            Step::ScatterAdd {
                indices,
                updates,
                out,
                dtype,
                rows,
                count,
                row_elems,
            } => moves::scatter_add(
                &mut self.arena,
                indices,
                updates,
                out,
                *dtype,
                *rows,
                *count,
                *row_elems,
            )?,
            Step::Gemm(g) => gemm::run_gemm(&mut self.arena, g)?,
            Step::Memset { dst, value } => self.arena.fill(dst, *value)?,
            Step::Copy { src, dst } => self.arena.copy(src, dst)?,
        }
        Ok(())
    }

    /// The arena bytes of `r`, in the plan's device encoding.
    pub fn bytes(&self, r: &llc_ir::plan::BufRef) -> Result<&[u8]> {
        let end = r
            .offset
            .checked_add(r.bytes)
            .filter(|&e| e <= self.arena.bytes.len() as u64)
            .ok_or_else(|| {
                plan_err(format!(
                    "{} bytes at {} lie outside the arena",
                    r.bytes, r.offset
                ))
            })?;
        Ok(&self.arena.bytes[r.offset as usize..end as usize])
    }

    fn read_buffer(&self, buffer: u32) -> Result<Tensor> {
        let b = &self.plan.buffers[buffer as usize];
        let r = llc_ir::plan::BufRef {
            buffer,
            offset: b.offset,
            bytes: b.bytes,
        };
        self.arena.read(&r, &b.ty(), self.precision)
    }

    /// Result `name` after [`PlanExecutor::run`].
    pub fn output(&self, name: &str) -> Result<Tensor> {
        let o = self
            .plan
            .output(name)
            .ok_or_else(|| plan_err(format!("the plan has no result %{name}")))?;
        self.read_buffer(o.buffer)
    }

    /// Every result, in the plan's result order.
    pub fn outputs(&self) -> Result<Vec<Tensor>> {
        self.plan
            .outputs
            .iter()
            .map(|o| self.read_buffer(o.buffer))
            .collect()
    }

    /// The current value of argument `name` (after a run: the updated state).
    pub fn arg(&self, name: &str) -> Result<Tensor> {
        let a = self
            .plan
            .arg(name)
            .ok_or_else(|| plan_err(format!("the plan has no argument %{name}")))?;
        self.read_buffer(a.buffer)
    }
}
