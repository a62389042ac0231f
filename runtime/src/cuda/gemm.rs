//! The plan's GEMMs on the GPU. Each GEMM is set up once (cuBLASLt matrix layouts, matmul
//! descriptor, and the heuristic's algorithm for the operands' real alignments) and then
//! only enqueued, so a step (and its graph capture) makes no setup calls. cuBLAS's
//! strided-batched GEMM takes the GEMMs cuBLASLt has no algorithm for and those that
//! share an operand across the batch (stride 0), which cuBLAS documents as valid.
//!
//! Accumulation is f32; f32 operands use exact FP32 math (`CUBLAS_COMPUTE_32F`) unless
//! TF32 is allowed ([`GemmEngine`] options), so results compare with the CPU at f32
//! tolerances.

use super::device::{catch, drv};
use super::error::CudaError;
use super::gemm_call::GemmCall;
use super::options::GemmEngine;
use cudarc::cublas::sys as blas;
use cudarc::cublaslt::sys as lt;
use cudarc::driver::{CudaStream, result as drv_result, sys as drv_sys};
use llc_ir::DType;
use std::ffi::c_void;
use std::sync::Arc;

fn lt_err(call: &str) -> impl FnOnce(cudarc::cublaslt::result::CublasError) -> CudaError + '_ {
    move |e| CudaError::Call {
        call: call.to_string(),
        detail: format!("{:?}", e.0),
    }
}

fn blas_status(call: &str, s: blas::cublasStatus_t) -> Result<(), CudaError> {
    if s == blas::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(CudaError::Call {
            call: call.to_string(),
            detail: format!("{s:?}"),
        })
    }
}

fn lt_type(d: DType) -> lt::cudaDataType {
    match d {
        DType::BF16 => lt::cudaDataType::CUDA_R_16BF,
        DType::F16 => lt::cudaDataType::CUDA_R_16F,
        _ => lt::cudaDataType::CUDA_R_32F,
    }
}

fn blas_type(d: DType) -> blas::cudaDataType {
    match d {
        DType::BF16 => blas::cudaDataType::CUDA_R_16BF,
        DType::F16 => blas::cudaDataType::CUDA_R_16F,
        _ => blas::cudaDataType::CUDA_R_32F,
    }
}

fn blas_op(trans: bool) -> blas::cublasOperation_t {
    if trans {
        blas::cublasOperation_t::CUBLAS_OP_T
    } else {
        blas::cublasOperation_t::CUBLAS_OP_N
    }
}

/// A cuBLASLt matrix layout (destroyed on drop).
struct Layout(lt::cublasLtMatrixLayout_t);

impl Layout {
    fn new(
        d: DType,
        rows: u64,
        cols: u64,
        ld: u64,
        batch: u64,
        stride: u64,
    ) -> Result<Self, CudaError> {
        let h = cudarc::cublaslt::result::create_matrix_layout(lt_type(d), rows, cols, ld as i64)
            .map_err(lt_err("cublasLtMatrixLayoutCreate"))?;
        let layout = Layout(h);
        if batch > 1 {
            let count = batch as i32;
            let stride = stride as i64;
            // SAFETY: valid layout; attribute sizes are those the API documents.
            unsafe {
                cudarc::cublaslt::result::set_matrix_layout_attribute(
                    h,
                    lt::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                    (&count as *const i32).cast(),
                    size_of::<i32>(),
                )
                .map_err(lt_err("cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)"))?;
                cudarc::cublaslt::result::set_matrix_layout_attribute(
                    h,
                    lt::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                    (&stride as *const i64).cast(),
                    size_of::<i64>(),
                )
                .map_err(lt_err("cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)"))?;
            }
        }
        Ok(layout)
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        // SAFETY: created by create_matrix_layout, destroyed once.
        let _ = unsafe { cudarc::cublaslt::result::destroy_matrix_layout(self.0) };
    }
}

/// A cuBLASLt matmul descriptor (destroyed on drop).
struct Desc(lt::cublasLtMatmulDesc_t);

impl Drop for Desc {
    fn drop(&mut self) {
        // SAFETY: created by create_matmul_desc, destroyed once.
        let _ = unsafe { cudarc::cublaslt::result::destroy_matmul_desc(self.0) };
    }
}

/// A cuBLASLt preference descriptor (destroyed on drop).
struct Pref(lt::cublasLtMatmulPreference_t);

impl Drop for Pref {
    fn drop(&mut self) {
        // SAFETY: created by create_matmul_pref, destroyed once.
        let _ = unsafe { cudarc::cublaslt::result::destroy_matmul_pref(self.0) };
    }
}

/// One GEMM ready to enqueue with cuBLASLt.
struct LtGemm {
    call: GemmCall,
    desc: Desc,
    a: Layout,
    b: Layout,
    c: Layout,
    algo: lt::cublasLtMatmulAlgo_t,
}

enum Prepared {
    Lt(Box<LtGemm>),
    Blas(GemmCall),
}

/// Every GEMM of a plan, set up for one stream, workspace and arena.
pub(crate) struct Gemms {
    prepared: Vec<Prepared>,
    lt: Option<lt::cublasLtHandle_t>,
    blas: Option<blas::cublasHandle_t>,
    workspace: drv_sys::CUdeviceptr,
    workspace_bytes: usize,
    stream: Arc<CudaStream>,
    allow_tf32: bool,
}

impl Gemms {
    /// Set up `calls` (in plan order; enqueue them by index). `workspace` must stay
    /// allocated while this lives.
    pub fn new(
        stream: Arc<CudaStream>,
        calls: &[GemmCall],
        engine: GemmEngine,
        allow_tf32: bool,
        workspace: drv_sys::CUdeviceptr,
        workspace_bytes: usize,
    ) -> Result<Gemms, CudaError> {
        let mut g = Gemms {
            prepared: Vec::with_capacity(calls.len()),
            lt: None,
            blas: None,
            workspace,
            workspace_bytes,
            stream,
            allow_tf32,
        };
        for call in calls {
            let use_lt = engine != GemmEngine::Cublas && !call.broadcasts_an_operand();
            let prepared = if use_lt {
                match g.prepare_lt(call)? {
                    Some(p) => Prepared::Lt(Box::new(p)),
                    None if engine == GemmEngine::Auto => Prepared::Blas(call.clone()),
                    None => {
                        return Err(CudaError::Plan(format!(
                            "gemm %{}: cuBLASLt has no algorithm for {}x{}x{} (batch {}, alignments {}/{}/{} bytes); set LLC_CUDA_GEMM=auto to use cuBLAS for it",
                            call.name,
                            call.m,
                            call.n,
                            call.k,
                            call.batch,
                            call.align_a,
                            call.align_b,
                            call.align_c
                        )));
                    }
                }
            } else {
                Prepared::Blas(call.clone())
            };
            if matches!(prepared, Prepared::Blas(_)) {
                g.ensure_blas()?;
            }
            g.prepared.push(prepared);
        }
        Ok(g)
    }

    /// How many GEMMs each library runs: (cuBLASLt, cuBLAS).
    pub fn split(&self) -> (usize, usize) {
        let lt = self
            .prepared
            .iter()
            .filter(|p| matches!(p, Prepared::Lt(_)))
            .count();
        (lt, self.prepared.len() - lt)
    }

    fn lt_handle(&mut self) -> Result<lt::cublasLtHandle_t, CudaError> {
        if let Some(h) = self.lt {
            return Ok(h);
        }
        // SAFETY: only tries to dlopen the library.
        if !unsafe { lt::is_culib_present() } {
            return Err(CudaError::NoLibrary {
                library: "cuBLASLt (libcublasLt.so.13)".into(),
                detail: "not found by the dynamic loader".into(),
            });
        }
        let h = catch("loading cuBLASLt", || {
            cudarc::cublaslt::result::create_handle().map_err(lt_err("cublasLtCreate"))
        })?;
        self.lt = Some(h);
        Ok(h)
    }

    fn ensure_blas(&mut self) -> Result<(), CudaError> {
        if self.blas.is_some() {
            return Ok(());
        }
        // SAFETY: only tries to dlopen the library.
        if !unsafe { blas::is_culib_present() } {
            return Err(CudaError::NoLibrary {
                library: "cuBLAS (libcublas.so.13)".into(),
                detail: "not found by the dynamic loader".into(),
            });
        }
        let h = catch("loading cuBLAS", || {
            cudarc::cublas::result::create_handle().map_err(|e| CudaError::Call {
                call: "cublasCreate".into(),
                detail: format!("{:?}", e.0),
            })
        })?;
        self.blas = Some(h);
        // SAFETY: valid handle, stream and workspace that outlive it.
        unsafe {
            blas_status(
                "cublasSetStream",
                blas::cublasSetStream_v2(h, self.stream.cu_stream() as blas::cudaStream_t),
            )?;
            blas_status(
                "cublasSetWorkspace",
                blas::cublasSetWorkspace_v2(h, self.workspace as *mut c_void, self.workspace_bytes),
            )?;
            blas_status(
                "cublasSetMathMode",
                blas::cublasSetMathMode(h, blas::cublasMath_t::CUBLAS_DEFAULT_MATH),
            )?;
        }
        Ok(())
    }

    fn compute_type_lt(&self, d: DType) -> lt::cublasComputeType_t {
        if d == DType::F32 && self.allow_tf32 {
            lt::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32
        } else {
            lt::cublasComputeType_t::CUBLAS_COMPUTE_32F
        }
    }

    /// Descriptors and the heuristic's algorithm, or `None` when there is none.
    fn prepare_lt(&mut self, call: &GemmCall) -> Result<Option<LtGemm>, CudaError> {
        use cudarc::cublaslt::result as r;
        let handle = self.lt_handle()?;
        let d = call.dtype;
        let (ar, ac) = call.a_shape();
        let (br, bc) = call.b_shape();
        let a = Layout::new(d, ar, ac, call.lda, call.batch, call.stride_a)?;
        let b = Layout::new(d, br, bc, call.ldb, call.batch, call.stride_b)?;
        let c = Layout::new(d, call.m, call.n, call.ldc, call.batch, call.stride_c)?;
        let desc = Desc(
            r::create_matmul_desc(self.compute_type_lt(d), lt::cudaDataType::CUDA_R_32F)
                .map_err(lt_err("cublasLtMatmulDescCreate"))?,
        );
        let pref = Pref(r::create_matmul_pref().map_err(lt_err("cublasLtMatmulPreferenceCreate"))?);
        // cublasOperation_t as the int32 the attribute takes: CUBLAS_OP_N = 0, CUBLAS_OP_T = 1.
        let op = |t: bool| blas_op(t) as i32;
        let (ta, tb) = (op(call.trans_a), op(call.trans_b));
        let ws = self.workspace_bytes as u64;
        // SAFETY: valid descriptors; each value has the type the attribute documents.
        unsafe {
            r::set_matmul_desc_attribute(
                desc.0,
                lt::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                (&ta as *const i32).cast(),
                size_of::<i32>(),
            )
            .map_err(lt_err("cublasLtMatmulDescSetAttribute(TRANSA)"))?;
            r::set_matmul_desc_attribute(
                desc.0,
                lt::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB,
                (&tb as *const i32).cast(),
                size_of::<i32>(),
            )
            .map_err(lt_err("cublasLtMatmulDescSetAttribute(TRANSB)"))?;
            r::set_matmul_pref_attribute(
                pref.0,
                lt::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                (&ws as *const u64).cast(),
                size_of::<u64>(),
            )
            .map_err(lt_err(
                "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)",
            ))?;
            for (attr, align) in [
                (
                    lt::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                    call.align_a,
                ),
                (
                    lt::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    call.align_b,
                ),
                (
                    lt::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                    call.align_c,
                ),
                (
                    lt::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                    call.align_c,
                ),
            ] {
                r::set_matmul_pref_attribute(
                    pref.0,
                    attr,
                    (&align as *const u32).cast(),
                    size_of::<u32>(),
                )
                .map_err(lt_err("cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)"))?;
            }
        }
        let mut result = std::mem::MaybeUninit::<lt::cublasLtMatmulHeuristicResult_t>::zeroed();
        let mut count = 0i32;
        // SAFETY: valid handle and descriptors; room for one result.
        let status = unsafe {
            lt::cublasLtMatmulAlgoGetHeuristic(
                handle,
                desc.0,
                a.0,
                b.0,
                c.0,
                c.0,
                pref.0,
                1,
                result.as_mut_ptr(),
                &mut count,
            )
        };
        if status != lt::cublasStatus_t::CUBLAS_STATUS_SUCCESS || count == 0 {
            return Ok(None);
        }
        // SAFETY: the call succeeded and wrote `count >= 1` results.
        let result = unsafe { result.assume_init() };
        if result.state != lt::cublasStatus_t::CUBLAS_STATUS_SUCCESS
            || result.workspaceSize > self.workspace_bytes
        {
            return Ok(None);
        }
        Ok(Some(LtGemm {
            call: call.clone(),
            desc,
            a,
            b,
            c,
            algo: result.algo,
        }))
    }

    /// Enqueue GEMM `index` on the stream, reading and writing the arena at `base`.
    pub fn enqueue(&self, index: usize, base: drv_sys::CUdeviceptr) -> Result<(), CudaError> {
        match &self.prepared[index] {
            Prepared::Lt(g) => {
                let call = &g.call;
                let (alpha, beta) = (call.alpha, call.beta);
                let c = (base + call.c) as *mut c_void;
                // SAFETY: descriptors built for exactly these operands; the arena offsets
                // were checked against the buffers by plan validation.
                unsafe {
                    cudarc::cublaslt::result::matmul(
                        self.lt.expect("cuBLASLt handle exists when a GEMM uses it"),
                        g.desc.0,
                        (&alpha as *const f32).cast(),
                        (&beta as *const f32).cast(),
                        (base + call.a) as *const c_void,
                        g.a.0,
                        (base + call.b) as *const c_void,
                        g.b.0,
                        c,
                        g.c.0,
                        c,
                        g.c.0,
                        &g.algo,
                        self.workspace as *mut c_void,
                        self.workspace_bytes,
                        self.stream.cu_stream() as lt::cudaStream_t,
                    )
                }
                .map_err(lt_err("cublasLtMatmul"))
            }
            Prepared::Blas(call) => {
                let compute = if call.dtype == DType::F32 && self.allow_tf32 {
                    blas::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32
                } else {
                    blas::cublasComputeType_t::CUBLAS_COMPUTE_32F
                };
                let (alpha, beta) = (call.alpha, call.beta);
                let t = blas_type(call.dtype);
                // SAFETY: as above; sizes fit i32 (checked by GemmCall::from_desc).
                let s = unsafe {
                    blas::cublasGemmStridedBatchedEx(
                        self.blas.expect("cuBLAS handle exists when a GEMM uses it"),
                        blas_op(call.trans_a),
                        blas_op(call.trans_b),
                        call.m as i32,
                        call.n as i32,
                        call.k as i32,
                        (&alpha as *const f32).cast(),
                        (base + call.a) as *const c_void,
                        t,
                        call.lda as i32,
                        call.stride_a as i64,
                        (base + call.b) as *const c_void,
                        t,
                        call.ldb as i32,
                        call.stride_b as i64,
                        (&beta as *const f32).cast(),
                        (base + call.c) as *mut c_void,
                        t,
                        call.ldc as i32,
                        call.stride_c as i64,
                        call.batch as i32,
                        compute,
                        blas::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                    )
                };
                blas_status("cublasGemmStridedBatchedEx", s)
            }
        }
    }
}

impl Drop for Gemms {
    fn drop(&mut self) {
        self.prepared.clear();
        if let Some(h) = self.lt.take() {
            // SAFETY: created by create_handle, destroyed once after its descriptors.
            let _ = unsafe { cudarc::cublaslt::result::destroy_handle(h) };
        }
        if let Some(h) = self.blas.take() {
            // SAFETY: created by create_handle, destroyed once.
            let _ = unsafe { cudarc::cublas::result::destroy_handle(h) };
        }
    }
}

/// Allocate `bytes` of device memory (freed by [`DeviceMemory`]'s drop).
pub(crate) struct DeviceMemory {
    pub ptr: drv_sys::CUdeviceptr,
    pub bytes: u64,
}

impl DeviceMemory {
    /// `cuMemAlloc` (256-byte aligned); `what` names the allocation in errors.
    pub fn alloc(bytes: u64, what: &str) -> Result<DeviceMemory, CudaError> {
        // SAFETY: plain allocation in the current context.
        let ptr = unsafe { drv_result::malloc_sync(bytes.max(1) as usize) }
            .map_err(drv(&format!("cuMemAlloc({what}, {bytes} bytes)")))?;
        Ok(DeviceMemory { ptr, bytes })
    }
}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        // SAFETY: allocated by cuMemAlloc, freed once (the context is still alive: its
        // owner drops after the memory).
        let _ = unsafe { drv_result::free_sync(self.ptr) };
    }
}
