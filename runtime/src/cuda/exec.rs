//! Executing a [`DeviceProgram`] on one stream: the arena allocated once, each step
//! enqueued by offset, and the whole step captured once as a CUDA graph and replayed.
//! Three ways to run a step:
//!
//! - **checked**: every plan step is enqueued and waited for, so a fault names its plan
//!   step and kernel (the first execution runs this way, and every one under
//!   `LLC_CUDA_SYNC=1`);
//! - **eager**: every plan step enqueued, one wait at the end (`LLC_CUDA_GRAPH=0`);
//! - **graph**: the step captured once, then one `cuGraphLaunch` per step.
//!
//! Between steps only the arena's input region (the batch) is written; the step counter
//! and everything else persistent live in the arena and are updated by the plan itself.

use super::device::{Device, driver_text};
use super::error::CudaError;
use super::gemm::{DeviceMemory, Gemms};
use super::module::PtxModule;
use super::moves::MOVES_PTX;
use super::options::CudaOptions;
use super::program::{DeviceProgram, GEMM_WORKSPACE_BYTES, MemoryNeeds, Op, target_runs_on};
use cudarc::driver::{CudaGraph, result, sys};
use std::ffi::c_void;

/// Every entry of the embedded move module, loaded together.
const MOVE_ENTRIES: [&str; 10] = [
    "llc_strided_copy_1",
    "llc_strided_copy_2",
    "llc_strided_copy_4",
    "llc_strided_copy_8",
    "llc_gather_1",
    "llc_gather_2",
    "llc_gather_4",
    "llc_gather_8",
    "llc_scatter_add_f32",
    "llc_scatter_add_f64",
];

/// A program loaded on a device with its arena. Fields drop in order: graph, libraries,
/// memory, kernels, and the device (context) last.
pub(crate) struct Executor {
    graph: Option<CudaGraph>,
    gemms: Gemms,
    _workspace: DeviceMemory,
    /// Where strided copies between overlapping buffers stage their source.
    temp: Option<DeviceMemory>,
    arena: DeviceMemory,
    module: PtxModule,
    /// The runtime's move kernels (when the plan has data-movement steps), by entry name.
    moves: Option<(PtxModule, Vec<&'static str>)>,
    /// For each op, its GEMM's index in `gemms` (unused for other ops).
    gemm_of_op: Vec<usize>,
    pub program: DeviceProgram,
    pub needs: MemoryNeeds,
    pub options: CudaOptions,
    /// Steps executed so far (checked, eager or graph).
    pub executions: u64,
    pub device: Device,
}

fn step_err(program: &DeviceProgram, i: usize, during: u64, detail: String) -> CudaError {
    let op = &program.ops[i];
    CudaError::Step {
        index: op.index,
        what: op.what.clone(),
        during: format!(" during training step {during}"),
        detail,
    }
}

impl Executor {
    /// Check the artifact against the device, load its kernels, allocate and zero the
    /// arena, and set up the GEMMs.
    pub fn new(
        plan: &llc_ir::plan::Plan,
        ptx: &str,
        cubin: Option<&[u8]>,
        program: DeviceProgram,
        device: Device,
        options: CudaOptions,
    ) -> Result<Executor, CudaError> {
        device.bind()?;
        let info = &device.info;
        if let Err(device_target) = target_runs_on(&plan.target, info.compute_capability) {
            return Err(CudaError::TargetMismatch {
                artifact_target: plan.target.clone(),
                device: info.name.clone(),
                device_target: if device_target.starts_with("sm_") {
                    device_target
                } else {
                    info.target()
                },
            });
        }
        let needs = MemoryNeeds::of(plan).with_staging(program.temp_bytes);
        let (free, total) = device.memory()?;
        needs.check_fits(free, total, &info.name)?;
        // A cubin assembled ahead of time saves the driver's JIT; PTX is the fallback.
        let mut program = program;
        let module = match cubin {
            Some(image) => match PtxModule::load(image, &plan.target, &program.kernels) {
                Ok(m) => m,
                Err(e) => {
                    program.warnings.push(format!(
                        "kernels.cubin did not load ({e}); using kernels.ptx"
                    ));
                    PtxModule::load(ptx.as_bytes(), &plan.target, &program.kernels)?
                }
            },
            None => PtxModule::load(ptx.as_bytes(), &plan.target, &program.kernels)?,
        };
        let mut most_shared = vec![0u32; program.kernels.len()];
        for op in &program.ops {
            if let Op::Launch { kernel, dims, .. } = &op.op {
                most_shared[*kernel] = most_shared[*kernel].max(dims.shared_mem_bytes);
            }
        }
        for (k, &bytes) in most_shared.iter().enumerate() {
            if bytes > 48 * 1024 {
                module.allow_shared_memory(k, bytes, &program.kernels[k])?;
            }
        }
        let oom = |e: CudaError| match &e {
            CudaError::Call { detail, .. } if detail.contains("OUT_OF_MEMORY") => {
                CudaError::OutOfMemory {
                    device: info.name.clone(),
                    needed: llc_ir::human_bytes(needs.total()),
                    free: llc_ir::human_bytes(free),
                    total: llc_ir::human_bytes(total),
                    breakdown: needs.breakdown(),
                }
            }
            _ => e,
        };
        let moves = if program.uses_moves() {
            let names = MOVE_ENTRIES.to_vec();
            let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            Some((
                PtxModule::load(MOVES_PTX.as_bytes(), "sm_80", &owned)?,
                names,
            ))
        } else {
            None
        };
        let arena = DeviceMemory::alloc(needs.arena, "arena").map_err(oom)?;
        let temp = if program.temp_bytes > 0 {
            Some(DeviceMemory::alloc(program.temp_bytes, "strided-copy staging").map_err(oom)?)
        } else {
            None
        };
        let workspace = DeviceMemory::alloc(GEMM_WORKSPACE_BYTES, "GEMM workspace").map_err(oom)?;
        // SAFETY: the whole arena, on our stream.
        unsafe {
            result::memset_d8_async(
                arena.ptr,
                0,
                arena.bytes as usize,
                device.stream.cu_stream(),
            )
        }
        .map_err(super::device::drv("cuMemsetD8Async(arena)"))?;
        let mut calls = Vec::new();
        let mut gemm_of_op = Vec::with_capacity(program.ops.len());
        for op in &program.ops {
            if let Op::Gemm(c) = &op.op {
                gemm_of_op.push(calls.len());
                calls.push(c.clone());
            } else {
                gemm_of_op.push(usize::MAX);
            }
        }
        let gemms = Gemms::new(
            device.stream.clone(),
            &calls,
            options.gemm,
            options.allow_tf32,
            workspace.ptr,
            workspace.bytes as usize,
        )?;
        device.sync("zeroing the arena")?;
        Ok(Executor {
            graph: None,
            gemms,
            _workspace: workspace,
            temp,
            arena,
            module,
            moves,
            gemm_of_op,
            program,
            needs,
            options,
            executions: 0,
            device,
        })
    }

    /// Seconds the driver took to JIT the PTX module.
    pub fn module_load_seconds(&self) -> f64 {
        self.module.load_seconds
    }

    /// GEMMs run by (cuBLASLt, cuBLAS).
    pub fn gemm_split(&self) -> (usize, usize) {
        self.gemms.split()
    }

    /// Whether the step has been captured as a graph.
    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// Copy `bytes` to the arena at `offset` (queued on the stream; the host buffer may be
    /// dropped on return, the driver stages pageable memory).
    pub fn upload(&self, offset: u64, bytes: &[u8]) -> Result<(), CudaError> {
        self.check_range(offset, bytes.len() as u64)?;
        self.device.bind()?;
        // SAFETY: range checked against the arena.
        unsafe {
            result::memcpy_htod_async(
                self.arena.ptr + offset,
                bytes,
                self.device.stream.cu_stream(),
            )
        }
        .map_err(super::device::drv("cuMemcpyHtoDAsync"))
    }

    /// Read `len` bytes of the arena at `offset` (waits for the stream).
    pub fn download(&self, offset: u64, len: u64) -> Result<Vec<u8>, CudaError> {
        self.check_range(offset, len)?;
        self.device.bind()?;
        let mut out = vec![0u8; len as usize];
        // SAFETY: range checked against the arena; we wait before using `out`.
        unsafe {
            result::memcpy_dtoh_async(
                &mut out[..],
                self.arena.ptr + offset,
                self.device.stream.cu_stream(),
            )
        }
        .map_err(super::device::drv("cuMemcpyDtoHAsync"))?;
        self.device.sync("reading results back")?;
        Ok(out)
    }

    /// Copy `len` arena bytes from `src` to a device buffer at `dst` (or the reverse).
    pub fn copy_device(&self, dst: u64, src: u64, len: u64) -> Result<(), CudaError> {
        self.device.bind()?;
        // SAFETY: callers pass ranges inside allocations they own.
        unsafe { result::memcpy_dtod_async(dst, src, len as usize, self.device.stream.cu_stream()) }
            .map_err(super::device::drv("cuMemcpyDtoDAsync"))
    }

    /// The arena's device address.
    pub fn arena_ptr(&self) -> sys::CUdeviceptr {
        self.arena.ptr
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), CudaError> {
        if offset.checked_add(len).is_none_or(|e| e > self.arena.bytes) {
            return Err(CudaError::Plan(format!(
                "{len} bytes at arena offset {offset} lie outside the {}-byte arena",
                self.arena.bytes
            )));
        }
        Ok(())
    }

    /// Launch `f` on the stream with `params` (pointers to each parameter's value).
    fn launch(
        &self,
        f: sys::CUfunction,
        dims: &llc_ir::plan::LaunchDims,
        params: &mut [*mut c_void],
    ) -> Result<(), CudaError> {
        // SAFETY: callers pass exactly the parameters the entry declares (checked against
        // the PTX for plan kernels; fixed signatures for the move kernels).
        unsafe {
            result::launch_kernel(
                f,
                (dims.grid[0], dims.grid[1], dims.grid[2]),
                (dims.block[0], dims.block[1], dims.block[2]),
                dims.shared_mem_bytes,
                self.device.stream.cu_stream(),
                params,
            )
        }
        .map_err(|e| CudaError::Call {
            call: "cuLaunchKernel".into(),
            detail: driver_text(&e),
        })
    }

    /// The move kernel `entry`.
    fn move_kernel(&self, entry: &str) -> Result<sys::CUfunction, CudaError> {
        let (m, names) = self
            .moves
            .as_ref()
            .ok_or_else(|| CudaError::Plan("the move kernels were not loaded".into()))?;
        let k = names
            .iter()
            .position(|n| *n == entry)
            .ok_or_else(|| CudaError::Plan(format!("no move kernel {entry}")))?;
        Ok(m.functions[k])
    }

    /// Enqueue op `i` of the program (no wait).
    pub fn enqueue_op(&self, i: usize) -> Result<(), CudaError> {
        let base = self.arena.ptr;
        let stream = self.device.stream.cu_stream();
        let ptr = |v: &mut u64| v as *mut u64 as *mut c_void;
        match &self.program.ops[i].op {
            Op::Launch { kernel, dims, args } => {
                let mut ptrs: Vec<u64> = args.iter().map(|&o| base + o).collect();
                let mut params: Vec<*mut c_void> = ptrs.iter_mut().map(ptr).collect();
                self.launch(self.module.functions[*kernel], dims, &mut params)
            }
            Op::Gemm(_) => self.gemms.enqueue(self.gemm_of_op[i], base),
            Op::StridedCopy {
                entry,
                src,
                src_bytes,
                dst,
                desc,
                dims,
                via_temp,
            } => {
                let mut from = base + src;
                if *via_temp {
                    let t = self
                        .temp
                        .as_ref()
                        .expect("allocated for overlapping copies");
                    self.copy_device(t.ptr, from, *src_bytes)?;
                    from = t.ptr;
                }
                let mut to = base + dst;
                let mut d = *desc;
                let mut params = [
                    ptr(&mut from),
                    ptr(&mut to),
                    &mut d as *mut super::moves::StridedDesc as *mut c_void,
                ];
                self.launch(self.move_kernel(entry)?, dims, &mut params)
            }
            Op::Gather {
                entry,
                table,
                indices,
                out,
                rows,
                count,
                row_elems,
                dims,
            } => {
                let mut v = [
                    base + table,
                    base + indices,
                    base + out,
                    *rows,
                    *count,
                    *row_elems,
                ];
                let mut params: Vec<*mut c_void> = v.iter_mut().map(ptr).collect();
                self.launch(self.move_kernel(entry)?, dims, &mut params)
            }
            Op::ScatterAdd {
                entry,
                indices,
                updates,
                out,
                out_bytes,
                rows,
                count,
                row_elems,
                dims,
            } => {
                // SAFETY: the output buffer, inside the arena.
                unsafe { result::memset_d8_async(base + out, 0, *out_bytes as usize, stream) }
                    .map_err(super::device::drv("cuMemsetD8Async"))?;
                let mut v = [
                    base + indices,
                    base + updates,
                    base + out,
                    *rows,
                    *count,
                    *row_elems,
                ];
                let mut params: Vec<*mut c_void> = v.iter_mut().map(ptr).collect();
                self.launch(self.move_kernel(entry)?, dims, &mut params)
            }
            // SAFETY (both): ranges inside the arena (plan validation).
            Op::Memset {
                offset,
                bytes,
                value,
            } => unsafe { result::memset_d8_async(base + offset, *value, *bytes as usize, stream) }
                .map_err(super::device::drv("cuMemsetD8Async")),
            Op::Copy { src, dst, bytes } => {
                if src == dst {
                    return Ok(());
                }
                self.copy_device(base + dst, base + src, *bytes)
            }
        }
    }

    /// Run op `i` alone and wait for it (the per-kernel check uses this).
    pub fn run_op_checked(&self, i: usize, during: u64) -> Result<(), CudaError> {
        self.device.bind()?;
        self.enqueue_op(i)
            .map_err(|e| step_err(&self.program, i, during, e.to_string()))?;
        self.device
            .stream
            .synchronize()
            .map_err(|e| step_err(&self.program, i, during, driver_text(&e)))
    }

    /// Run every op of plan step `index` and wait (the per-plan-step check uses this).
    pub fn run_plan_step_checked(&self, index: usize, during: u64) -> Result<(), CudaError> {
        for i in self.program.ops_of_step(index) {
            self.run_op_checked(i, during)?;
        }
        Ok(())
    }

    /// Run one whole step the way the options say (see the module docs). Returns without
    /// waiting unless the step runs checked; `during` numbers the step in errors.
    pub fn run_step(&mut self, during: u64) -> Result<(), CudaError> {
        self.device.bind()?;
        let checked =
            self.options.sync_every_op || (self.executions == 0 && self.options.check_first_step);
        if checked {
            for i in 0..self.program.ops.len() {
                self.run_op_checked(i, during)?;
            }
        } else if self.options.use_graph {
            if self.graph.is_none() {
                self.graph = Some(self.capture(during)?);
            }
            let g = self.graph.as_ref().expect("captured above");
            g.launch().map_err(|e| CudaError::Call {
                call: format!("cuGraphLaunch (training step {during})"),
                detail: driver_text(&e),
            })?;
        } else {
            for i in 0..self.program.ops.len() {
                self.enqueue_op(i)
                    .map_err(|e| step_err(&self.program, i, during, e.to_string()))?;
            }
        }
        self.executions += 1;
        Ok(())
    }

    /// Wait for the step; an asynchronous fault is reported for step `during`.
    pub fn finish(&self, during: u64) -> Result<(), CudaError> {
        self.device.bind()?;
        self.device
            .stream
            .synchronize()
            .map_err(|e| CudaError::Call {
                call: format!("training step {during} on the GPU"),
                detail: format!(
                    "{}; rerun with LLC_CUDA_SYNC=1 to find the plan step that fails",
                    driver_text(&e)
                ),
            })
    }

    /// Capture every op into a graph and instantiate it.
    fn capture(&self, during: u64) -> Result<CudaGraph, CudaError> {
        let stream = &self.device.stream;
        stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(super::device::drv("cuStreamBeginCapture"))?;
        let mut failed = None;
        for i in 0..self.program.ops.len() {
            if let Err(e) = self.enqueue_op(i) {
                failed = Some(step_err(
                    &self.program,
                    i,
                    during,
                    format!("while capturing the graph: {e}"),
                ));
                break;
            }
        }
        // Always end the capture so the stream is usable again.
        let ended = stream.end_capture(sys::CUgraphInstantiate_flags(0));
        if let Some(e) = failed {
            return Err(e);
        }
        let graph = ended
            .map_err(super::device::drv(
                "cuStreamEndCapture / cuGraphInstantiate",
            ))?
            .ok_or_else(|| CudaError::Call {
                call: "cuStreamEndCapture".into(),
                detail: "the capture produced no graph".into(),
            })?;
        graph
            .upload()
            .map_err(super::device::drv("cuGraphUpload"))?;
        Ok(graph)
    }
}
