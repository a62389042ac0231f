//! The CUDA backend's errors. Each variant says what failed and where (which kernel, which
//! plan step, which buffer) and, where there is one, what to do about it; they hold
//! strings only, so the type stays `Clone + PartialEq` and builds without CUDA.

use thiserror::Error;

/// Everything that can go wrong loading an artifact onto a GPU or running it there.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CudaError {
    /// This binary was built without the `cuda` feature.
    #[error(
        "this llc-train was built without CUDA support (rebuild with `--features cuda`); use --backend cpu"
    )]
    NotBuilt,
    /// `libcuda` (the NVIDIA driver) could not be loaded: no driver on this machine.
    #[error(
        "no CUDA driver: {detail}. Install the NVIDIA driver (libcuda.so.1) or put its directory on LD_LIBRARY_PATH, or use --backend cpu"
    )]
    NoDriver { detail: String },
    /// The driver loaded but there is no usable device with that ordinal.
    #[error("no CUDA device {ordinal}: {detail}")]
    NoDevice { ordinal: usize, detail: String },
    /// A CUDA library the backend needs (cuBLASLt, cuBLAS) could not be loaded.
    #[error(
        "{library} could not be loaded: {detail}. Put the CUDA toolkit's lib64 (or pip's nvidia/cu13/lib) on LD_LIBRARY_PATH"
    )]
    NoLibrary { library: String, detail: String },
    /// The artifact's kernels were compiled for a GPU this device cannot run.
    #[error(
        "the artifact was compiled for {artifact_target} but {device} is {device_target}; recompile it with `llc-train compile ... --target {device_target}`"
    )]
    TargetMismatch {
        artifact_target: String,
        device: String,
        device_target: String,
    },
    /// The plan does not fit in the device's free memory.
    #[error(
        "out of GPU memory: the plan needs {needed} ({breakdown}) but {device} has {free} free of {total}; use a smaller batch or sequence length"
    )]
    OutOfMemory {
        device: String,
        needed: String,
        free: String,
        total: String,
        breakdown: String,
    },
    /// One step of the plan (a kernel launch, GEMM, memset or copy) failed.
    #[error("plan step {index} ({what}) failed{during}: {detail}")]
    Step {
        index: usize,
        what: String,
        /// ` during training step N` when known, else empty.
        during: String,
        detail: String,
    },
    /// A CUDA driver or library call outside the plan's steps failed.
    #[error("{call} failed: {detail}")]
    Call { call: String, detail: String },
    /// The artifact directory is missing a file or holds one that does not parse.
    #[error("artifact {path}: {detail}")]
    Artifact { path: String, detail: String },
    /// The plan and the kernels do not fit together (a kernel missing from the PTX, a
    /// launch the device cannot run, a GEMM cuBLAS cannot express).
    #[error("plan: {0}")]
    Plan(String),
    /// A value handed to the backend does not match the plan (a batch input or a state
    /// tensor with the wrong name, shape or type).
    #[error("%{name}: {detail}")]
    Value { name: String, detail: String },
    /// An eval step's error (or "succeeded"), and the failure of restoring the parameters
    /// and optimizer state after it: the eval's own error comes first.
    #[error("{error}; restoring the parameters and optimizer state afterwards failed: {restore}")]
    EvalRestore { error: String, restore: String },
    /// The CUDA bindings panicked (a missing driver symbol, an unexpected library);
    /// caught so that the caller gets an error instead of an abort.
    #[error("the CUDA bindings panicked during {during}: {message}")]
    Panic { during: String, message: String },
}

impl CudaError {
    /// Whether this error means "there is no GPU to use here" (no driver, no device, or a
    /// build without CUDA): what `--backend auto` falls back to the CPU on, and what GPU
    /// tests skip on.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            CudaError::NotBuilt | CudaError::NoDriver { .. } | CudaError::NoDevice { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_hardware_counts_as_unavailable() {
        let no_driver = CudaError::NoDriver {
            detail: "libcuda.so.1: cannot open shared object file".into(),
        };
        assert!(no_driver.is_unavailable());
        assert!(no_driver.to_string().contains("--backend cpu"));
        assert!(
            !CudaError::Plan("x".into()).is_unavailable(),
            "a broken plan must not silently fall back to the CPU"
        );
    }

    #[test]
    fn a_failed_step_names_the_kernel_and_the_training_step() {
        let e = CudaError::Step {
            index: 17,
            what: "kernel row_rms_norm_3".into(),
            during: " during training step 2".into(),
            detail: "CUDA_ERROR_ILLEGAL_ADDRESS".into(),
        };
        assert_eq!(
            e.to_string(),
            "plan step 17 (kernel row_rms_norm_3) failed during training step 2: CUDA_ERROR_ILLEGAL_ADDRESS"
        );
    }
}
