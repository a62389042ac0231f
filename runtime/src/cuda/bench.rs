//! The training-step benchmark: ms per step, tokens per second, model FLOPs utilisation
//! ([`super::flops`] states the formula) and GPU memory, for one artifact on one GPU.
//!
//! Procedure: seeded parameters are uploaded, `warmup` steps run (the first checked, the
//! second captures the CUDA graph), then `steps` steps are queued back to back, each
//! writing a pre-encoded random batch into the arena and replaying the graph, with one
//! wait at the end. `ms_per_step` is wall-clock time over those steps (what a training
//! loop that reads its loss every few steps sees); `gpu_ms_per_step` is the same span
//! measured by CUDA events. `scripts/torch_reference.py` times PyTorch the same way.

use super::error::CudaError;
use super::flops::{GemmMath, ModelShape, gemm_peak, mfu};
use super::options::CudaOptions;
use serde::Serialize;
use std::path::Path;

/// What [`run_with`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps first (at least 2: the checked step and the graph capture).
    pub warmup: usize,
    pub device: usize,
    pub seed: u64,
    pub cuda: CudaOptions,
}

impl BenchOptions {
    /// `steps` timed after `warmup`, device 0, options from the environment.
    pub fn new(steps: usize, warmup: usize) -> Result<BenchOptions, CudaError> {
        Ok(BenchOptions {
            steps,
            warmup,
            device: 0,
            seed: 0,
            cuda: CudaOptions::from_env()?,
        })
    }
}

/// One benchmark result (serialized into the results JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchResult {
    pub artifact: String,
    pub device: String,
    pub params: u64,
    pub params_matmul: u64,
    pub layers: u64,
    pub d_model: u64,
    pub batch: u64,
    pub seq: u64,
    pub tokens_per_step: u64,
    pub steps: usize,
    pub warmup: usize,
    /// Wall-clock milliseconds per timed step.
    pub ms_per_step: f64,
    /// CUDA-event milliseconds per timed step.
    pub gpu_ms_per_step: f64,
    pub tokens_per_s: f64,
    pub flops_per_step: f64,
    /// Model FLOPs per second achieved, in TFLOP/s.
    pub tflops: f64,
    /// `flops_per_step / (ms_per_step / 1000) / peak_flops`.
    pub mfu: f64,
    pub peak_flops: f64,
    pub mfu_formula: String,
    /// Bytes this backend allocated (arena + GEMM workspace): the counterpart of
    /// PyTorch's `max_memory_allocated`.
    pub peak_gpu_mem: u64,
    /// Device memory in use (total - free) after the timed steps, context included.
    pub device_mem_used: u64,
    /// Seconds to initialise parameters on the host, load the kernels and upload.
    pub setup_seconds: f64,
    pub module_load_seconds: f64,
    /// Milliseconds of the first (checked) step.
    pub first_step_ms: f64,
    pub graph: bool,
    pub tf32: bool,
    pub gemms_cublaslt: usize,
    pub gemms_cublas: usize,
    pub loss_first: f64,
    pub loss_last: f64,
    pub warnings: Vec<String>,
}

/// The MFU formula, as stated in every result.
pub const MFU_FORMULA: &str = "(6*N*tokens + 12*L*d*T*tokens) / step_time / peak; N = params in matmuls (untied embedding table excluded), L layers, d width, T sequence length; peak = the device's dense rate for the GEMMs' math (bf16, tf32 or fp32)";

/// Benchmark the artifact in `dir`: `steps` timed steps after `warmup` (see the module
/// docs), device 0, options from the environment.
pub fn run(dir: &Path, steps: usize, warmup: usize) -> Result<BenchResult, CudaError> {
    run_with(dir, &BenchOptions::new(steps, warmup)?)
}

/// [`run`] with explicit options.
pub fn run_with(dir: &Path, opts: &BenchOptions) -> Result<BenchResult, CudaError> {
    #[cfg(feature = "cuda")]
    {
        super::device::catch("benchmarking", || imp::run(dir, opts))
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (dir, opts);
        Err(CudaError::NotBuilt)
    }
}

impl BenchResult {
    /// One line for logs.
    pub fn line(&self) -> String {
        format!(
            "{}: {:.2} ms/step ({:.2} ms GPU), {:.0} tokens/s, {:.1} TFLOP/s, MFU {:.1}%, {} allocated, {}",
            self.artifact,
            self.ms_per_step,
            self.gpu_ms_per_step,
            self.tokens_per_s,
            self.tflops,
            100.0 * self.mfu,
            llc_ir::human_bytes(self.peak_gpu_mem),
            self.device
        )
    }

    /// Fill the derived fields from the timings, the model shape and the math of the
    /// step's GEMMs (MFU is against `self.device`'s peak for that math).
    pub fn derive(&mut self, shape: &ModelShape, math: GemmMath) {
        let secs = self.ms_per_step / 1000.0;
        self.params = shape.params_total;
        self.params_matmul = shape.params_matmul;
        self.layers = shape.layers;
        self.d_model = shape.d_model;
        self.batch = shape.batch;
        self.seq = shape.seq;
        self.tokens_per_step = shape.tokens();
        self.flops_per_step = shape.flops_per_step();
        self.tokens_per_s = if secs > 0.0 {
            shape.tokens() as f64 / secs
        } else {
            0.0
        };
        self.tflops = if secs > 0.0 {
            self.flops_per_step / secs / 1e12
        } else {
            0.0
        };
        let (peak, label) = gemm_peak(&self.device, math);
        self.peak_flops = peak;
        self.mfu = mfu(self.flops_per_step, secs, peak);
        self.mfu_formula = format!("{MFU_FORMULA}; peak: {label}");
    }
}

#[cfg(feature = "cuda")]
mod imp {
    use super::*;
    use crate::cuda::artifact::Artifact;
    use crate::cuda::backend::CudaBackend;
    use crate::step::StepBackend;
    use std::time::Instant;

    pub(super) fn run(dir: &Path, opts: &BenchOptions) -> Result<BenchResult, CudaError> {
        let t_setup = Instant::now();
        let art = Artifact::load(dir)?;
        let shape = ModelShape::from_plan(&art.plan).ok_or_else(|| {
            CudaError::Plan(
                "the plan is not a Llama step (no tok_embeddings.weight / tokens)".into(),
            )
        })?;
        // Say "does not fit" before spending time and host memory on parameters.
        let info = crate::cuda::device_info(opts.device)?;
        crate::cuda::program::MemoryNeeds::of(&art.plan).check_fits(
            info.free_memory,
            info.total_memory,
            &info.name,
        )?;
        let math = GemmMath::of(&art.plan, opts.cuda.allow_tf32);
        let initial = art.initial_state(opts.seed)?;
        let batches = [
            art.random_batch(opts.seed.wrapping_add(1))?,
            art.random_batch(opts.seed.wrapping_add(2))?,
        ];
        let mut gpu = CudaBackend::from_artifact(art, &initial, opts.device, opts.cuda)?;
        drop(initial);
        let encoded = [
            gpu.encode_batch(&batches[0])?,
            gpu.encode_batch(&batches[1])?,
        ];
        let setup_seconds = t_setup.elapsed().as_secs_f64();
        let t = Instant::now();
        let first = gpu.step(&batches[0]).map_err(to_cuda)?;
        let first_step_ms = t.elapsed().as_secs_f64() * 1e3;
        for i in 1..opts.warmup.max(2) {
            gpu.enqueue_step(&encoded[i % 2])?;
        }
        gpu.finish()?;
        let e0 = gpu.record_event()?;
        let t = Instant::now();
        for i in 0..opts.steps {
            gpu.enqueue_step(&encoded[i % 2])?;
        }
        let e1 = gpu.record_event()?;
        gpu.finish()?;
        let wall = t.elapsed().as_secs_f64();
        let gpu_ms = e0.elapsed_ms(&e1).map_err(|e| CudaError::Call {
            call: "cuEventElapsedTime".into(),
            detail: format!("{e:?}"),
        })? as f64;
        let last = gpu
            .output("loss")?
            .to_f64_vec()
            .first()
            .copied()
            .unwrap_or(f64::NAN);
        let (free, total) = gpu.device_memory()?;
        let (lt, blas) = gpu.gemm_split();
        let n = opts.steps.max(1) as f64;
        let mut r = BenchResult {
            artifact: dir.display().to_string(),
            device: gpu.name(),
            params: 0,
            params_matmul: 0,
            layers: 0,
            d_model: 0,
            batch: 0,
            seq: 0,
            tokens_per_step: 0,
            steps: opts.steps,
            warmup: opts.warmup.max(2),
            ms_per_step: wall * 1e3 / n,
            gpu_ms_per_step: gpu_ms / n,
            tokens_per_s: 0.0,
            flops_per_step: 0.0,
            tflops: 0.0,
            mfu: 0.0,
            peak_flops: 0.0,
            mfu_formula: String::new(),
            peak_gpu_mem: gpu.memory_needs().total(),
            device_mem_used: total.saturating_sub(free),
            setup_seconds,
            module_load_seconds: gpu.module_load_seconds(),
            first_step_ms,
            graph: gpu.uses_graph(),
            tf32: opts.cuda.allow_tf32,
            gemms_cublaslt: lt,
            gemms_cublas: blas,
            loss_first: first.loss,
            loss_last: last,
            warnings: gpu.warnings().to_vec(),
        };
        r.derive(&shape, math);
        Ok(r)
    }

    fn to_cuda(e: crate::RuntimeError) -> CudaError {
        match e {
            crate::RuntimeError::Cuda(c) => c,
            other => CudaError::Plan(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_numbers_follow_the_timing() {
        let shape = ModelShape {
            params_total: 134_000_000,
            params_matmul: 110_000_000,
            layers: 12,
            d_model: 768,
            batch: 16,
            seq: 1024,
        };
        let mut r = BenchResult {
            artifact: "110m".into(),
            device: "cuda:0 (test)".into(),
            params: 0,
            params_matmul: 0,
            layers: 0,
            d_model: 0,
            batch: 0,
            seq: 0,
            tokens_per_step: 0,
            steps: 10,
            warmup: 2,
            ms_per_step: 100.0,
            gpu_ms_per_step: 99.0,
            tokens_per_s: 0.0,
            flops_per_step: 0.0,
            tflops: 0.0,
            mfu: 0.0,
            peak_flops: 0.0,
            mfu_formula: String::new(),
            peak_gpu_mem: 1 << 30,
            device_mem_used: 2 << 30,
            setup_seconds: 1.0,
            module_load_seconds: 0.1,
            first_step_ms: 150.0,
            graph: true,
            tf32: false,
            gemms_cublaslt: 100,
            gemms_cublas: 0,
            loss_first: 10.4,
            loss_last: 10.3,
            warnings: vec![],
        };
        r.derive(&shape, GemmMath::Bf16);
        assert_eq!(r.tokens_per_step, 16384);
        assert!((r.tokens_per_s - 163_840.0).abs() < 1e-6);
        assert!((r.tflops - shape.flops_per_step() / 0.1 / 1e12).abs() < 1e-9);
        assert!((r.mfu - r.tflops * 1e12 / 989e12).abs() < 1e-12);
        assert_eq!(r.params, 134_000_000);
        assert!(r.line().contains("100.00 ms/step"), "{}", r.line());
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"mfu_formula\":\"(6*N*tokens"), "{json}");
    }
}
