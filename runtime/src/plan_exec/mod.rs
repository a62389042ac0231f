//! The CPU executor of a compiled plan: one byte arena of the plan's size, laid out
//! exactly as `plan.json` says; arguments written at their offsets; every step run in
//! order (each kernel as native code when the artifact was compiled for a CPU target —
//! its launches over the arena, blocks split across threads — or else its IR function
//! by the interpreter, reading its inputs from and writing its outputs to arena bytes;
//! each GEMM by its descriptor; strided copies, gathers, scatter-adds, memsets and
//! copies on the bytes). Results and updated state are read back from the arena.
//!
//! Because every value goes through the arena at the plan's offsets, a wrong offset, a
//! buffer reused while still alive, or a missed dependency shows up as a wrong result:
//! this checks partitioning, scheduling and memory planning without a GPU. The CUDA
//! runtime executes the very same plan.

mod arena;
pub mod gemm;
mod gemv;
mod moves;
mod native;
pub mod onednn;

use crate::comm::Communicator;
use crate::error::{Result, RuntimeError};
use crate::interp::run_function;
use crate::tensor::{Precision, Tensor};
use arena::Arena;
use llc_ir::artifact::{KERNELS_IR_FILE, NATIVE_FILE, PLAN_FILE, PTX_FILE};
use llc_ir::plan::{Plan, RegionKind, Step};
use llc_ir::{CollectiveKind, DType, Function, TensorType, parse_module};
use native::NativeKernels;
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
    /// The artifact's native kernels (a CPU target's `kernels.so`); without them every
    /// kernel runs on the interpreter.
    native: Option<NativeKernels>,
    /// Time per step label, when profiling.
    profile: Option<Profile>,
}

/// Where a plan's time goes: wall time and runs per step label (`kernel NAME (class)`,
/// `gemm MxNxK`, `gather`, …), accumulated over runs.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// `(label, seconds, runs)`, in first-seen order.
    pub rows: Vec<(String, f64, u64)>,
    index: HashMap<String, usize>,
}

impl Profile {
    fn add(&mut self, label: String, secs: f64) {
        let i = *self.index.entry(label.clone()).or_insert_with(|| {
            self.rows.push((label, 0.0, 0));
            self.rows.len() - 1
        });
        self.rows[i].1 += secs;
        self.rows[i].2 += 1;
    }

    /// Total seconds over every label.
    pub fn total(&self) -> f64 {
        self.rows.iter().map(|r| r.1).sum()
    }
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
            native: None,
            profile: None,
        })
    }

    /// Load an artifact directory: `plan.json`, `kernels.ir` and, for a CPU target, its
    /// native kernels (refused, naming both, when built for another machine). A GPU
    /// artifact's kernels run on the interpreter.
    pub fn load(dir: &Path) -> Result<PlanExecutor> {
        let mut exec = PlanExecutor::load_interpreted(dir)?;
        if dir.join(NATIVE_FILE).exists() {
            exec.native = Some(NativeKernels::load(dir, &exec.plan)?);
        } else if !dir.join(PTX_FILE).exists() {
            return Err(plan_err(format!(
                "artifact {}: has neither {NATIVE_FILE} (a CPU target) nor {PTX_FILE} (a GPU target)",
                dir.display()
            )));
        }
        Ok(exec)
    }

    /// Load an artifact directory's plan and kernel IR only: every kernel runs on the
    /// interpreter (the oracle for the native code).
    pub fn load_interpreted(dir: &Path) -> Result<PlanExecutor> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| plan_err(format!("{}: {e}", dir.join(name).display())))
        };
        let plan = Plan::from_json(&read(PLAN_FILE)?).map_err(|e| plan_err(e.to_string()))?;
        let module = parse_module(&read(KERNELS_IR_FILE)?)
            .map_err(|e| plan_err(format!("{}: {e}", dir.join(KERNELS_IR_FILE).display())))?;
        PlanExecutor::new(plan, module.functions)
    }

    /// Whether kernels run as native code (else on the interpreter).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// The CPU the native code was compiled for, if any.
    pub fn native_cpu(&self) -> Option<&str> {
        self.native.as_ref().map(|n| n.code.cpu.as_str())
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
        if crate::token_ids::TOKEN_INPUTS.contains(&name)
            && let Some(e) = self.plan.arg(crate::token_ids::EMBEDDING_ARG)
            && let Some(&vocab) = self.plan.buffers[e.buffer as usize].shape.first()
        {
            let ids = value.to_f64_vec().into_iter().map(|v| v as i64);
            crate::token_ids::check_token_ids(name, ids, vocab)?;
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
        self.run_in(None)
    }

    /// [`PlanExecutor::run`] as one rank of `comm`'s data-parallel group: the plan's
    /// `all_reduce` steps combine over it (without a group they are a single rank's
    /// identity).
    pub fn run_in(&mut self, comm: Option<&dyn Communicator>) -> Result<()> {
        for i in 0..self.plan.steps.len() {
            if self.profile.is_some() {
                let t = std::time::Instant::now();
                self.run_step_in(i, comm)?;
                let secs = t.elapsed().as_secs_f64();
                let label = self.step_label(i);
                if let Some(p) = &mut self.profile {
                    p.add(label, secs);
                }
            } else {
                self.run_step_in(i, comm)?;
            }
        }
        Ok(())
    }

    /// Start (or stop) timing every step of later runs.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(Profile::default);
    }

    /// The time per step label since profiling started.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// What step `i` is, for profiles: kernels by name and class, GEMMs by shape.
    pub fn step_label(&self, i: usize) -> String {
        match &self.plan.steps[i] {
            Step::Kernel(l) => {
                let class = self.plan.kernel(&l.kernel).map_or("?", |d| d.class.name());
                format!("kernel {} ({class})", l.kernel)
            }
            Step::Gemm(g) => format!(
                "gemm {}x{}x{}{}{}",
                g.m,
                g.k,
                g.n,
                if g.batch > 1 {
                    format!(" x{}", g.batch)
                } else {
                    String::new()
                },
                match (g.trans_a, g.trans_b) {
                    (false, false) => "",
                    (true, false) => " (A^T)",
                    (false, true) => " (B^T)",
                    (true, true) => " (A^T B^T)",
                }
            ),
            Step::StridedCopy { .. } => "strided copy".into(),
            Step::Gather { .. } => "gather".into(),
            Step::ScatterAdd { .. } => "scatter-add".into(),
            Step::Memset { .. } => "memset".into(),
            Step::Copy { .. } => "copy".into(),
            Step::AllReduce { .. } => "all-reduce".into(),
        }
    }

    /// Run step `i` of the plan alone: a device backend can be compared with this one
    /// plan step at a time.
    pub fn run_step(&mut self, i: usize) -> Result<()> {
        self.run_step_in(i, None)
    }

    fn run_step_in(&mut self, i: usize, comm: Option<&dyn Communicator>) -> Result<()> {
        let plan = &self.plan;
        let step = plan
            .steps
            .get(i)
            .ok_or_else(|| plan_err(format!("the plan has no step {i}")))?;
        match step {
            Step::Kernel(l) if self.native.is_some() => {
                let native = self.native.as_ref().expect("checked");
                let class = plan
                    .kernel(&l.kernel)
                    .map(|d| d.class)
                    .ok_or_else(|| plan_err(format!("step {i}: undeclared kernel {}", l.kernel)))?;
                if l.launches.is_empty() {
                    return Err(plan_err(format!(
                        "step {i} (kernel {}) has no launches to run natively",
                        l.kernel
                    )));
                }
                for launch in &l.launches {
                    let ptrs = launch
                        .args
                        .iter()
                        .map(|r| self.arena.ptr(r))
                        .collect::<Result<Vec<*mut u8>>>()?;
                    let blocks = launch.dims.grid[0] as u64 * launch.dims.grid[1] as u64;
                    let lanes =
                        blocks * launch.dims.block.iter().map(|&b| b as u64).product::<u64>();
                    // SAFETY: every pointer addresses a buffer of the plan inside the arena
                    // (checked by `ptr`), sized by the plan from the kernel's own types.
                    unsafe { native.launch(&launch.entry, class, ptrs, blocks, lanes)? };
                }
            }
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
            Step::AllReduce { src, dst, op, .. } => {
                if src != dst {
                    self.arena.copy(src, dst)?;
                }
                if let Some(comm) = comm.filter(|c| c.world_size() > 1) {
                    let bytes = self.arena.raw_mut(dst)?;
                    let mut v: Vec<f32> = bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                        .collect();
                    comm.all_reduce_sum_f32(&mut v)?;
                    if *op == CollectiveKind::Mean {
                        let n = comm.world_size() as f32;
                        v.iter_mut().for_each(|e| *e /= n);
                    }
                    for (b, e) in bytes.chunks_exact_mut(4).zip(&v) {
                        b.copy_from_slice(&e.to_le_bytes());
                    }
                }
            }
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

    /// A copy of the persistent regions (parameters and optimizer state), to put back
    /// with [`PlanExecutor::restore`]: an eval runs the step and then undoes its update.
    pub fn snapshot(&self) -> Vec<(u64, Vec<u8>)> {
        self.plan
            .regions
            .iter()
            .filter(|r| matches!(r.kind, RegionKind::Param | RegionKind::State))
            .map(|r| {
                let (a, b) = (r.offset as usize, (r.offset + r.bytes) as usize);
                (r.offset, self.arena.bytes[a..b].to_vec())
            })
            .collect()
    }

    /// Put back a [`PlanExecutor::snapshot`].
    pub fn restore(&mut self, snap: &[(u64, Vec<u8>)]) {
        for (off, bytes) in snap {
            let a = *off as usize;
            self.arena.bytes[a..a + bytes.len()].copy_from_slice(bytes);
        }
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
