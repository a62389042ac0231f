//! The compiled artifact directory as the GPU runtime reads it: `plan.json` (what to
//! allocate and run), `kernels.ptx` (every kernel in one module) and `step.ir` (the step
//! function the plan was compiled from: the CPU interpreter's reference for the checks,
//! and the source of parameter initialisation). Artifacts hold no weights.

use super::error::CudaError;
use super::ptx::PtxInfo;
use crate::init::initial_value;
use crate::step::Batch;
use crate::tensor::{Precision, Tensor};
use llc_ir::artifact::{NATIVE_FILE, NativeCode};
use llc_ir::plan::{Plan, RegionKind};
use llc_ir::{ArgRole, DType, Function, TensorType, parse_module};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// File names inside an artifact directory (one home: [`llc_ir::artifact`]).
pub use llc_ir::artifact::{PLAN_FILE, PTX_FILE, STEP_IR_FILE as STEP_FILE};
/// Optional: `kernels.ptx` assembled ahead of time for the plan's target (ptxas), which
/// the backend loads instead of JIT-compiling the PTX.
pub const CUBIN_FILE: &str = "kernels.cubin";

/// A loaded artifact.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub dir: PathBuf,
    pub plan: Plan,
    /// `kernels.ptx` text.
    pub ptx: String,
    pub ptx_info: PtxInfo,
    /// The function of `step.ir` the plan executes, when the artifact has `step.ir`.
    pub step: Option<Function>,
    /// `kernels.cubin`, when the artifact has one.
    pub cubin: Option<Vec<u8>>,
}

fn artifact_err(path: &Path, detail: impl ToString) -> CudaError {
    CudaError::Artifact {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

fn read(path: &Path) -> Result<String, CudaError> {
    std::fs::read_to_string(path).map_err(|e| artifact_err(path, e))
}

/// Why a CPU artifact (one with `native.json`) cannot run on the GPU, naming the CPU
/// target it was compiled for as far as its files say (they are read best effort: the
/// refusal does not depend on them parsing).
fn cpu_artifact_detail(dir: &Path) -> String {
    let target = std::fs::read_to_string(dir.join(PLAN_FILE))
        .ok()
        .and_then(|t| Plan::from_json(&t).ok())
        .map(|p| p.target);
    let cpu = std::fs::read_to_string(dir.join(NATIVE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<NativeCode>(&t).ok())
        .map(|c| c.cpu);
    let what = match (target, cpu) {
        (Some(t), Some(c)) if t != c => format!("the CPU target {t} ({c})"),
        (Some(t), _) => format!("the CPU target {t}"),
        (None, Some(c)) => format!("the CPU target {c}"),
        (None, None) => "a CPU target".to_string(),
    };
    format!(
        "compiled for {what}: it has {NATIVE_FILE}, not {PTX_FILE}; the CUDA backend needs \
         an artifact compiled with --target sm_80 or sm_90"
    )
}

impl Artifact {
    /// Read `dir`: `plan.json` and `kernels.ptx` are required, `step.ir` optional. A CPU
    /// artifact (`native.json`) is refused first, naming its target and the GPU ones.
    pub fn load(dir: &Path) -> Result<Artifact, CudaError> {
        if !dir.is_dir() {
            return Err(artifact_err(
                dir,
                "not a directory (build one with `llc-train compile MODEL.ir -o DIR`)",
            ));
        }
        if dir.join(NATIVE_FILE).exists() {
            return Err(artifact_err(dir, cpu_artifact_detail(dir)));
        }
        let plan_path = dir.join(PLAN_FILE);
        let plan = Plan::from_json(&read(&plan_path)?).map_err(|e| artifact_err(&plan_path, e))?;
        let ptx_path = dir.join(PTX_FILE);
        let ptx = read(&ptx_path)?;
        if ptx.contains('\0') {
            return Err(artifact_err(&ptx_path, "contains a NUL byte: not PTX text"));
        }
        let ptx_info = PtxInfo::parse(&ptx).map_err(|e| artifact_err(&ptx_path, e))?;
        let step_path = dir.join(STEP_FILE);
        let step = if step_path.exists() {
            let module =
                parse_module(&read(&step_path)?).map_err(|e| artifact_err(&step_path, e))?;
            let f = module.function(&plan.function).cloned().ok_or_else(|| {
                artifact_err(
                    &step_path,
                    format!("has no function @{} (the plan's function)", plan.function),
                )
            })?;
            Some(f)
        } else {
            None
        };
        let cubin_path = dir.join(CUBIN_FILE);
        let cubin = if cubin_path.exists() {
            let bytes = std::fs::read(&cubin_path).map_err(|e| artifact_err(&cubin_path, e))?;
            if !bytes.starts_with(b"\x7fELF") {
                return Err(artifact_err(&cubin_path, "is not an ELF cubin"));
            }
            Some(bytes)
        } else {
            None
        };
        Ok(Artifact {
            dir: dir.to_path_buf(),
            plan,
            ptx,
            ptx_info,
            step,
            cubin,
        })
    }

    /// The step function, or an error saying the artifact has no `step.ir`.
    pub fn step_function(&self) -> Result<&Function, CudaError> {
        self.step.as_ref().ok_or_else(|| {
            artifact_err(
                &self.dir.join(STEP_FILE),
                "missing: it is needed to initialise parameters and for the CPU reference",
            )
        })
    }

    /// The type of argument `name` as the plan stores it.
    pub fn arg_type(&self, name: &str) -> Option<TensorType> {
        let a = self.plan.arg(name)?;
        self.plan.buffers.get(a.buffer as usize).map(|b| b.ty())
    }

    /// Names of the plan's arguments with `role`, in argument order.
    pub fn arg_names(&self, role: ArgRole) -> Vec<String> {
        self.plan
            .args
            .iter()
            .filter(|a| a.role == role)
            .map(|a| a.name.clone())
            .collect()
    }

    /// Fresh parameters and optimizer state, by name, seeded exactly as the CPU backend
    /// seeds them ([`crate::init::initial_value`] on the step function), in f32.
    pub fn initial_state(&self, seed: u64) -> Result<Vec<(String, Tensor)>, CudaError> {
        use rayon::prelude::*;
        let f = self.step_function()?;
        // Each argument draws from its own stream, so drawing them in parallel gives the
        // same values (a 1B-parameter model initialises in about a second).
        Ok(f.args()
            .par_iter()
            .filter_map(|&a| {
                initial_value(f, a, seed, Precision::F32).map(|t| (f.node(a).name.clone(), t))
            })
            .collect())
    }

    /// Rows of the token embedding (the vocabulary size), if the plan has one.
    pub fn vocab_size(&self) -> Option<usize> {
        let t = self.arg_type("tok_embeddings.weight")?;
        t.dtype.is_float().then(|| t.shape[0])
    }

    /// A batch of uniformly random tokens (and targets) for benchmarks and checks,
    /// reproducible from `seed`; a `loss_mask` input is all ones.
    pub fn random_batch(&self, seed: u64) -> Result<Batch, CudaError> {
        let vocab = self.vocab_size().ok_or_else(|| {
            CudaError::Plan("the plan has no tok_embeddings.weight to size random tokens".into())
        })?;
        let mut inputs = Vec::new();
        for (i, a) in self.plan.args.iter().enumerate() {
            if a.role != ArgRole::Input {
                continue;
            }
            let ty = self
                .arg_type(&a.name)
                .expect("validated plans bind every argument");
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            let t = match (a.name.as_str(), ty.dtype) {
                ("tokens" | "targets", DType::I32) => {
                    Tensor::random_ints(ty.shape.clone(), 0..vocab as i32, &mut rng)
                }
                ("loss_mask", d) if d.is_float() => Tensor::full(&ty, 1.0, Precision::F32),
                ("loss_mask", DType::Bool) => {
                    Tensor::from_bool(ty.shape.clone(), vec![true; ty.numel()])
                        .expect("shape matches")
                }
                (name, _) => {
                    return Err(CudaError::Value {
                        name: name.to_string(),
                        detail: format!("no rule to make a random {ty} input"),
                    });
                }
            };
            inputs.push((a.name.clone(), t));
        }
        Ok(Batch { inputs })
    }

    /// Tokens per step (elements of the `tokens` input).
    pub fn tokens_per_step(&self) -> usize {
        self.arg_type("tokens").map_or(0, |t| t.numel())
    }

    /// Bytes of the region of `kind`.
    pub fn region_bytes(&self, kind: RegionKind) -> u64 {
        self.plan
            .regions
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_artifact_is_refused_naming_its_target_and_the_gpu_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let code = NativeCode {
            triple: "x86_64-pc-linux-gnu".into(),
            cpu: "x86-64-v4".into(),
            features: vec!["avx512f".into()],
            library: "kernels.so".into(),
            entry_suffix: "_packed".into(),
        };
        std::fs::write(dir.join(NATIVE_FILE), serde_json::to_string(&code).unwrap()).unwrap();
        // No plan.json, no kernels.ptx: the refusal comes first, from native.json alone.
        let msg = Artifact::load(dir).unwrap_err().to_string();
        assert!(
            msg.contains("compiled for the CPU target x86-64-v4")
                && msg.contains("--target sm_80 or sm_90")
                && !msg.contains("No such file"),
            "{msg}"
        );
        // An unreadable native.json is still a CPU artifact.
        std::fs::write(dir.join(NATIVE_FILE), "not json").unwrap();
        let msg = Artifact::load(dir).unwrap_err().to_string();
        assert!(
            msg.contains("compiled for a CPU target") && msg.contains("sm_90"),
            "{msg}"
        );
    }
}
