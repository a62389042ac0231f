//! [`CudaBackend`]: the training loop's [`StepBackend`] on a GPU. It owns the device
//! arena holding parameters, optimizer state and the batch; a step writes the batch into
//! its slots, runs the plan (checked the first time, then as a replayed CUDA graph) and
//! reads back `loss`, `grad_norm` and `lr`.
//!
//! `eval_loss` runs the same compiled step and then restores the parameters and
//! optimizer state it changed (a device-to-device copy of the persistent regions, or a
//! host copy when the device has no room for one): the artifact holds one plan, and the
//! step's `loss` is computed from the parameters before their update. An eval therefore
//! costs one training step and leaves the state bit for bit unchanged.

use super::artifact::Artifact;
use super::device::{Device, DeviceInfo, catch};
use super::error::CudaError;
use super::exec::Executor;
use super::gemm::DeviceMemory;
use super::host::{decode, decode_scalar, encode};
use super::options::CudaOptions;
use super::program::{DeviceProgram, MemoryNeeds};
use crate::error::Result;
use crate::step::{Batch, StepBackend, StepMetrics};
use crate::tensor::Tensor;
use llc_ir::plan::RegionKind;
use llc_ir::{ArgRole, TensorType};
use std::collections::HashMap;
use std::path::Path;

/// Where `eval_loss` keeps the persistent regions while it runs a step.
enum Backup {
    Device(DeviceMemory),
    Host,
}

/// A compiled training step running on one GPU.
pub struct CudaBackend {
    exec: Executor,
    artifact: Artifact,
    /// Param and state regions `(offset, bytes)`: what a step changes for good.
    persistent: Vec<(u64, u64)>,
    backup: Option<Backup>,
    /// Training steps run (numbers errors; evals do not count).
    steps: u64,
}

impl CudaBackend {
    /// Load the artifact in `artifact_dir` onto device `device_ordinal` and upload
    /// `initial` (a value for every parameter and optimizer-state argument of the plan,
    /// by name; see [`Artifact::initial_state`]). Options come from the environment
    /// ([`CudaOptions::from_env`]).
    pub fn new(
        artifact_dir: &Path,
        initial: &[(String, Tensor)],
        device_ordinal: usize,
    ) -> std::result::Result<CudaBackend, CudaError> {
        let artifact = Artifact::load(artifact_dir)?;
        CudaBackend::from_artifact(artifact, initial, device_ordinal, CudaOptions::from_env()?)
    }

    /// [`CudaBackend::new`] with a loaded artifact and explicit options.
    pub fn from_artifact(
        artifact: Artifact,
        initial: &[(String, Tensor)],
        device_ordinal: usize,
        options: CudaOptions,
    ) -> std::result::Result<CudaBackend, CudaError> {
        check_initial(&artifact, initial)?;
        catch("setting up the CUDA backend", move || {
            let device = Device::open(device_ordinal)?;
            if let Err(device_target) = super::program::target_runs_on(
                &artifact.plan.target,
                device.info.compute_capability,
            ) {
                return Err(CudaError::TargetMismatch {
                    artifact_target: artifact.plan.target.clone(),
                    device: device.info.name.clone(),
                    device_target: if device_target.starts_with("sm_") {
                        device_target
                    } else {
                        device.info.target()
                    },
                });
            }
            let program =
                DeviceProgram::prepare(&artifact.plan, &artifact.ptx_info, &device.info.limits)?;
            let exec = Executor::new(
                &artifact.plan,
                &artifact.ptx,
                artifact.cubin.as_deref(),
                program,
                device,
                options,
            )?;
            let persistent = artifact
                .plan
                .regions
                .iter()
                .filter(|r| matches!(r.kind, RegionKind::Param | RegionKind::State))
                .map(|r| (r.offset, r.bytes))
                .filter(|&(_, b)| b > 0)
                .collect();
            let mut backend = CudaBackend {
                exec,
                artifact,
                persistent,
                backup: None,
                steps: 0,
            };
            backend.upload_values(initial, true)?;
            backend.exec.device.sync("uploading the initial state")?;
            Ok(backend)
        })
    }

    /// The device this backend runs on.
    pub fn device(&self) -> &DeviceInfo {
        &self.exec.device.info
    }

    /// The artifact it runs.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// What it allocated on the device.
    pub fn memory_needs(&self) -> MemoryNeeds {
        self.exec.needs
    }

    /// Problems worth reporting that did not stop the setup (a PTX target different
    /// from the plan's; misaligned kernel arguments are errors).
    pub fn warnings(&self) -> &[String] {
        &self.exec.program.warnings
    }

    /// GEMMs run by (cuBLASLt, cuBLAS).
    pub fn gemm_split(&self) -> (usize, usize) {
        self.exec.gemm_split()
    }

    /// Seconds the driver took to JIT-compile `kernels.ptx`.
    pub fn module_load_seconds(&self) -> f64 {
        self.exec.module_load_seconds()
    }

    /// Whether steps now replay a captured CUDA graph.
    pub fn uses_graph(&self) -> bool {
        self.exec.has_graph()
    }

    /// The options in force.
    pub fn options(&self) -> CudaOptions {
        self.exec.options
    }

    /// Free and total device memory now.
    pub fn device_memory(&self) -> std::result::Result<(u64, u64), CudaError> {
        catch("reading the device memory", || self.exec.device.memory())
    }

    fn upload_values(
        &mut self,
        values: &[(String, Tensor)],
        skip_zeros: bool,
    ) -> std::result::Result<(), CudaError> {
        for (name, t) in values {
            let (offset, _, ty) = self.arg_slot(name)?;
            // A fresh arena is zeroed: all-zero initial values need no copy.
            if skip_zeros && all_zero(t) {
                continue;
            }
            let bytes = encode(name, t, &ty)?;
            self.exec.upload(offset, &bytes)?;
        }
        Ok(())
    }

    fn upload_batch(&mut self, batch: &Batch) -> std::result::Result<(), CudaError> {
        for (offset, bytes) in self.encode_batch(batch)? {
            self.exec.upload(offset, &bytes)?;
        }
        Ok(())
    }

    /// Pre-encoded input bytes of `batch` by arena offset (for benchmarks: uploading them
    /// then costs only the copies).
    pub fn encode_batch(
        &self,
        batch: &Batch,
    ) -> std::result::Result<Vec<(u64, Vec<u8>)>, CudaError> {
        let mut out = Vec::new();
        for a in self
            .artifact
            .plan
            .args
            .iter()
            .filter(|a| a.role == ArgRole::Input)
        {
            let t = batch.get(&a.name).ok_or_else(|| CudaError::Value {
                name: a.name.clone(),
                detail: "the batch has no such input".into(),
            })?;
            if crate::token_ids::TOKEN_INPUTS.contains(&a.name.as_str())
                && let Some(vocab) = self.artifact.vocab_size()
            {
                let ids = t.to_f64_vec().into_iter().map(|v| v as i64);
                crate::token_ids::check_token_ids(&a.name, ids, vocab).map_err(|e| {
                    CudaError::Value {
                        name: a.name.clone(),
                        detail: e.to_string(),
                    }
                })?;
            }
            let ty = self.artifact.arg_type(&a.name).expect("validated plan");
            out.push((a.offset, encode(&a.name, t, &ty)?));
        }
        Ok(out)
    }

    /// Queue one training step on pre-encoded inputs without waiting for it or reading
    /// its results (benchmarks time a run of these, then call [`CudaBackend::finish`]).
    pub fn enqueue_step(
        &mut self,
        inputs: &[(u64, Vec<u8>)],
    ) -> std::result::Result<(), CudaError> {
        catch("queueing a step", || {
            for (offset, bytes) in inputs {
                self.exec.upload(*offset, bytes)?;
            }
            self.steps += 1;
            self.exec.run_step(self.steps)
        })
    }

    /// Wait for every queued step.
    pub fn finish(&self) -> std::result::Result<(), CudaError> {
        catch("waiting for the queued steps", || {
            self.exec.finish(self.steps)
        })
    }

    /// Record a CUDA event on the backend's stream (for timing).
    pub(crate) fn record_event(&self) -> std::result::Result<cudarc::driver::CudaEvent, CudaError> {
        let e = self
            .exec
            .device
            .ctx
            .new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(super::device::drv("cuEventCreate"))?;
        e.record(&self.exec.device.stream)
            .map_err(super::device::drv("cuEventRecord"))?;
        Ok(e)
    }

    fn scalar_output(&self, name: &str) -> std::result::Result<f64, CudaError> {
        let o = self
            .artifact
            .plan
            .output(name)
            .ok_or_else(|| CudaError::Value {
                name: name.to_string(),
                detail: "the plan has no such result".into(),
            })?;
        let dtype = self.artifact.plan.buffers[o.buffer as usize].dtype;
        let raw = self.exec.download(o.offset, o.bytes)?;
        decode_scalar(name, &raw, dtype)
    }

    /// The value of result `name` after the last step.
    pub fn output(&self, name: &str) -> std::result::Result<Tensor, CudaError> {
        let o = self
            .artifact
            .plan
            .output(name)
            .ok_or_else(|| CudaError::Value {
                name: name.to_string(),
                detail: "the plan has no such result".into(),
            })?;
        let ty = self.artifact.plan.buffers[o.buffer as usize].ty();
        catch("reading a result", || {
            decode(name, &self.exec.download(o.offset, o.bytes)?, &ty)
        })
    }

    /// The current value of argument `name` (a parameter, state or the last input).
    pub fn arg(&self, name: &str) -> std::result::Result<Tensor, CudaError> {
        let (offset, bytes, ty) = self.arg_slot(name)?;
        catch("reading an argument", || {
            decode(name, &self.exec.download(offset, bytes)?, &ty)
        })
    }

    /// Arena offset, bytes and type of argument `name`, or an error naming it.
    fn arg_slot(&self, name: &str) -> std::result::Result<(u64, u64, TensorType), CudaError> {
        let a = self
            .artifact
            .plan
            .arg(name)
            .ok_or_else(|| CudaError::Value {
                name: name.to_string(),
                detail: "the plan has no such argument".into(),
            })?;
        let ty = self.artifact.arg_type(name).expect("validated plan");
        Ok((a.offset, a.bytes, ty))
    }

    fn run_and_read(&mut self, batch: &Batch) -> std::result::Result<StepMetrics, CudaError> {
        self.exec.device.bind()?;
        self.upload_batch(batch)?;
        self.steps += 1;
        self.exec.run_step(self.steps)?;
        self.exec.finish(self.steps)?;
        Ok(StepMetrics {
            loss: self.scalar_output("loss")?,
            grad_norm: self.scalar_output("grad_norm")?,
            lr: self.scalar_output("lr")?,
        })
    }

    fn eval(&mut self, batch: &Batch) -> std::result::Result<f64, CudaError> {
        self.exec.device.bind()?;
        let total: u64 = self.persistent.iter().map(|&(_, b)| b).sum();
        if self.backup.is_none() {
            self.backup = Some(match DeviceMemory::alloc(total, "eval backup") {
                Ok(m) => Backup::Device(m),
                Err(_) => Backup::Host,
            });
        }
        let base = self.exec.arena_ptr();
        let mut host_copy = Vec::new();
        match self.backup.as_ref().expect("set above") {
            Backup::Device(m) => {
                let mut at = 0;
                for &(offset, bytes) in &self.persistent {
                    self.exec.copy_device(m.ptr + at, base + offset, bytes)?;
                    at += bytes;
                }
            }
            Backup::Host => {
                for &(offset, bytes) in &self.persistent {
                    host_copy.push(self.exec.download(offset, bytes)?);
                }
            }
        }
        self.upload_batch(batch)?;
        // The eval is not a training step: it does not advance the error numbering.
        let during = self.steps + 1;
        let run = self
            .exec
            .run_step(during)
            .and_then(|_| self.exec.finish(during));
        let loss = run.and_then(|_| self.scalar_output("loss"));
        // Restore whether or not the step succeeded, every region even when one fails
        // (best effort), then report the eval's own error first: a restore that fails
        // after a faulted step (the context is gone) must not hide the fault.
        let mut restore: std::result::Result<(), CudaError> = Ok(());
        let mut keep = |r: std::result::Result<(), CudaError>| {
            if let Err(e) = r
                && restore.is_ok()
            {
                restore = Err(e);
            }
        };
        match self.backup.as_ref().expect("set above") {
            Backup::Device(m) => {
                let mut at = 0;
                for &(offset, bytes) in &self.persistent {
                    keep(self.exec.copy_device(base + offset, m.ptr + at, bytes));
                    at += bytes;
                }
            }
            Backup::Host => {
                for (&(offset, _), bytes) in self.persistent.iter().zip(&host_copy) {
                    keep(self.exec.upload(offset, bytes));
                }
            }
        }
        keep(self.exec.finish(during));
        eval_result(loss, restore)
    }

    /// Write the batch's inputs (the plan-step check starts from them).
    pub(crate) fn upload_batch_for_check(
        &mut self,
        batch: &Batch,
    ) -> std::result::Result<(), CudaError> {
        self.exec.device.bind()?;
        self.upload_batch(batch)
    }

    /// Run every op of plan step `index` alone and wait for them.
    pub(crate) fn run_plan_step_for_check(
        &self,
        index: usize,
    ) -> std::result::Result<(), CudaError> {
        self.exec.run_plan_step_checked(index, self.steps + 1)
    }

    /// Read arena bytes.
    pub(crate) fn download_for_check(
        &self,
        offset: u64,
        len: u64,
    ) -> std::result::Result<Vec<u8>, CudaError> {
        self.exec.download(offset, len)
    }

    /// Write arena bytes.
    pub(crate) fn upload_for_check(
        &self,
        offset: u64,
        bytes: &[u8],
    ) -> std::result::Result<(), CudaError> {
        self.exec.upload(offset, bytes)
    }

    /// `kernel NAME (entry E)`, `gemm %c`, … of plan step `index`.
    pub(crate) fn step_name(&self, index: usize) -> &str {
        let p = &self.exec.program;
        p.ops_of_step(index)
            .next()
            .map_or("(nothing to run)", |i| p.ops[i].what.as_str())
    }

    fn read_state(&self) -> std::result::Result<Vec<(String, Tensor)>, CudaError> {
        self.artifact
            .plan
            .args
            .iter()
            .filter(|a| a.role != ArgRole::Input)
            .map(|a| Ok((a.name.clone(), self.arg(&a.name)?)))
            .collect()
    }
}

/// Whether every element of `t` is zero (or false).
fn all_zero(t: &Tensor) -> bool {
    use crate::tensor::TensorData;
    match t.data() {
        TensorData::F32(v) => v.iter().all(|&x| x == 0.0),
        TensorData::F64(v) => v.iter().all(|&x| x == 0.0),
        TensorData::I32(v) => v.iter().all(|&x| x == 0),
        TensorData::Bool(v) => v.iter().all(|&x| !x),
    }
}

/// Every param and state argument must be given exactly once, and nothing else.
fn check_initial(
    artifact: &Artifact,
    initial: &[(String, Tensor)],
) -> std::result::Result<(), CudaError> {
    let mut given: HashMap<&str, usize> = HashMap::new();
    for (name, _) in initial {
        *given.entry(name.as_str()).or_default() += 1;
    }
    for a in &artifact.plan.args {
        let n = given.remove(a.name.as_str()).unwrap_or(0);
        match (a.role, n) {
            (ArgRole::Input, 0) | (ArgRole::Param | ArgRole::State, 1) => {}
            (ArgRole::Input, _) => {
                return Err(CudaError::Value {
                    name: a.name.clone(),
                    detail: "is a data input; it comes with each batch, not with the initial state"
                        .into(),
                });
            }
            (_, 0) => {
                return Err(CudaError::Value {
                    name: a.name.clone(),
                    detail: format!("no initial value given for this {}", a.role.name()),
                });
            }
            (_, _) => {
                return Err(CudaError::Value {
                    name: a.name.clone(),
                    detail: "given more than once".into(),
                });
            }
        }
    }
    if let Some(name) = given.keys().min() {
        return Err(CudaError::Value {
            name: name.to_string(),
            detail: "the plan has no such argument".into(),
        });
    }
    for (name, t) in initial {
        let ty = artifact.arg_type(name).expect("checked above");
        if t.shape() != ty.shape.as_slice() {
            return Err(CudaError::Value {
                name: name.clone(),
                detail: format!("expected shape {ty}, got {}", t.type_string()),
            });
        }
    }
    Ok(())
}

impl StepBackend for CudaBackend {
    fn name(&self) -> String {
        self.exec.device.info.label()
    }

    fn step(&mut self, batch: &Batch) -> Result<StepMetrics> {
        Ok(catch("a training step", || self.run_and_read(batch))?)
    }

    fn eval_loss(&mut self, batch: &Batch) -> Result<f64> {
        Ok(catch("an eval step", || self.eval(batch))?)
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(catch("reading the state", || self.read_state())?)
    }

    fn load_state(&mut self, values: &[(String, Tensor)]) -> Result<()> {
        for (name, _) in values {
            let ok = self
                .artifact
                .plan
                .arg(name)
                .is_some_and(|a| a.role != ArgRole::Input);
            if !ok {
                return Err(CudaError::Value {
                    name: name.clone(),
                    detail: "no parameter or state of this name".into(),
                }
                .into());
            }
        }
        Ok(catch("loading the state", || {
            self.exec.device.bind()?;
            self.upload_values(values, false)?;
            self.exec.device.sync("uploading the state")
        })?)
    }
}

/// An eval's result after the state restore: the eval's own error wins (with the restore's
/// failure attached when both failed), a failed restore after a good eval is an error (the
/// parameters may be wrong now), else the loss.
fn eval_result(
    loss: std::result::Result<f64, CudaError>,
    restore: std::result::Result<(), CudaError>,
) -> std::result::Result<f64, CudaError> {
    match (loss, restore) {
        (Ok(l), Ok(())) => Ok(l),
        (Err(e), Ok(())) => Err(e),
        (Ok(_), Err(r)) => Err(CudaError::EvalRestore {
            error: "the eval step succeeded".into(),
            restore: r.to_string(),
        }),
        (Err(e), Err(r)) => Err(CudaError::EvalRestore {
            error: e.to_string(),
            restore: r.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eval_fault_is_reported_before_a_failed_restore() {
        let fault = || CudaError::Plan("kernel k faulted".into());
        let lost = || CudaError::Plan("context lost".into());
        assert_eq!(eval_result(Ok(2.5), Ok(())), Ok(2.5));
        assert_eq!(eval_result(Err(fault()), Ok(())), Err(fault()));
        let both = eval_result(Err(fault()), Err(lost()))
            .unwrap_err()
            .to_string();
        assert!(
            both.starts_with("plan: kernel k faulted; restoring") && both.ends_with("context lost"),
            "{both}"
        );
        let restore = eval_result(Ok(2.5), Err(lost())).unwrap_err().to_string();
        assert!(
            restore.contains("restoring") && restore.contains("context lost"),
            "{restore}"
        );
    }
}
