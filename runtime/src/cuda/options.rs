//! How the CUDA backend runs steps and GEMMs, settable from the environment so a run
//! on a GPU machine can be changed without rebuilding.

use super::error::CudaError;

/// Which library runs the GEMMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GemmEngine {
    /// cuBLASLt, with cuBLAS for what cuBLASLt cannot do.
    #[default]
    Auto,
    /// cuBLASLt only (an error when it has no algorithm).
    Lt,
    /// cuBLAS strided-batched only.
    Cublas,
}

impl GemmEngine {
    /// `auto`, `lt` or `cublas` (the `LLC_CUDA_GEMM` values).
    pub fn parse(s: &str) -> Option<GemmEngine> {
        match s {
            "auto" => Some(GemmEngine::Auto),
            "lt" | "cublaslt" => Some(GemmEngine::Lt),
            "cublas" => Some(GemmEngine::Cublas),
            _ => None,
        }
    }
}

/// How the backend runs steps (defaults: graphs on, first step checked, cuBLASLt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CudaOptions {
    /// Capture the step as a CUDA graph and replay it.
    pub use_graph: bool,
    /// Run the first step with a wait after every plan step (names a faulting kernel).
    pub check_first_step: bool,
    /// Wait after every plan step of every step (slow; for finding a fault).
    pub sync_every_op: bool,
    pub gemm: GemmEngine,
    /// Let f32 GEMMs use TF32 tensor cores (faster, ~1e-3 relative error).
    pub allow_tf32: bool,
}

impl Default for CudaOptions {
    fn default() -> Self {
        CudaOptions {
            use_graph: true,
            check_first_step: true,
            sync_every_op: false,
            gemm: GemmEngine::Auto,
            allow_tf32: false,
        }
    }
}

impl CudaOptions {
    /// The defaults changed by `LLC_CUDA_GRAPH=0|1`, `LLC_CUDA_SYNC=0|1`,
    /// `LLC_CUDA_GEMM=auto|lt|cublas` and `LLC_CUDA_TF32=0|1`, so a run on a GPU machine
    /// can be changed without rebuilding.
    pub fn from_env() -> Result<CudaOptions, CudaError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`CudaOptions::from_env`] over any variable lookup (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<CudaOptions, CudaError> {
        let mut o = CudaOptions::default();
        let flag = |name: &str, default: bool| -> Result<bool, CudaError> {
            match get(name).as_deref() {
                None | Some("") => Ok(default),
                Some("1" | "true" | "on") => Ok(true),
                Some("0" | "false" | "off") => Ok(false),
                Some(v) => Err(CudaError::Value {
                    name: name.to_string(),
                    detail: format!("`{v}` is not 0 or 1"),
                }),
            }
        };
        o.use_graph = flag("LLC_CUDA_GRAPH", o.use_graph)?;
        o.sync_every_op = flag("LLC_CUDA_SYNC", o.sync_every_op)?;
        o.allow_tf32 = flag("LLC_CUDA_TF32", o.allow_tf32)?;
        if let Some(v) = get("LLC_CUDA_GEMM").filter(|v| !v.is_empty()) {
            o.gemm = GemmEngine::parse(&v).ok_or_else(|| CudaError::Value {
                name: "LLC_CUDA_GEMM".into(),
                detail: format!("`{v}` is not auto, lt or cublas"),
            })?;
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            CudaOptions::from_lookup(env(&[])).unwrap(),
            CudaOptions::default()
        );
        let o = CudaOptions::from_lookup(env(&[
            ("LLC_CUDA_GRAPH", "0"),
            ("LLC_CUDA_SYNC", "1"),
            ("LLC_CUDA_GEMM", "cublas"),
            ("LLC_CUDA_TF32", "true"),
        ]))
        .unwrap();
        assert!(!o.use_graph && o.sync_every_op && o.allow_tf32);
        assert_eq!(o.gemm, GemmEngine::Cublas);
        let e = CudaOptions::from_lookup(env(&[("LLC_CUDA_GEMM", "magma")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "%LLC_CUDA_GEMM: `magma` is not auto, lt or cublas"
        );
        let e = CudaOptions::from_lookup(env(&[("LLC_CUDA_GRAPH", "yes")])).unwrap_err();
        assert!(e.to_string().contains("`yes` is not 0 or 1"), "{e}");
    }
}
