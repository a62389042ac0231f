#![cfg_attr(not(feature = "cuda"), allow(dead_code))]
//! The GPU side of the CLI: which backend a training run uses (`--backend cpu|cuda|auto`),
//! the artifact a CUDA run executes (given with `--artifact`, or compiled here for the GPU
//! found), `gpu-check` (the CUDA backend against the CPU) and `bench gpu`.
//!
//! Every command here builds without the `cuda` feature and says so when asked for a GPU;
//! without a GPU they fail with the driver's or the device's reason, never a panic.

use crate::cli::{Backend, BenchGpuArgs, GpuCheckArgs, StepArgs};
use anyhow::{Context, Result, bail};
use llc_ir::{ArgRole, Function};
use llc_runtime::cuda::{self, Artifact};
use std::path::{Path, PathBuf};

/// Where a training run's step runs, once `auto` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The interpreter on the step function.
    Interp,
    /// The compiled CPU artifact.
    Cpu,
    /// The compiled GPU artifact.
    Cuda,
}

/// Resolve `--backend`: `auto` takes the GPU when one is usable and says why not otherwise.
pub fn choose_backend(b: Backend) -> Result<BackendKind> {
    match b {
        Backend::Interp => Ok(BackendKind::Interp),
        Backend::Cpu => Ok(BackendKind::Cpu),
        Backend::Cuda => Ok(BackendKind::Cuda),
        Backend::Auto => match cuda::cuda_available() {
            Ok(_) => Ok(BackendKind::Cuda),
            Err(e) if e.is_unavailable() => {
                eprintln!("--backend auto: no usable GPU ({e}); training on the CPU");
                Ok(BackendKind::Cpu)
            }
            Err(e) => Err(e).context("--backend auto: probing the GPU failed"),
        },
    }
}

/// The artifact directory a CUDA run executes: `--artifact`, or one compiled from `step`
/// into `out/artifact` for the GPU's architecture.
pub fn artifact_for_run(a: &StepArgs, step: &Function, out: &Path) -> Result<PathBuf> {
    if let Some(dir) = &a.artifact {
        return Ok(dir.clone());
    }
    let info = cuda::device_info(a.device).map_err(|e| {
        anyhow::anyhow!("{e}").context(format!("--backend cuda: device {}", a.device))
    })?;
    let target = compile_target(info.compute_capability)?;
    let dir = out.join("artifact");
    eprintln!(
        "compiling the step for {} ({target}) into {}",
        info.label(),
        dir.display()
    );
    let report = super::compile::write_artifact(step, target, false, &dir)?;
    eprint!("{report}");
    Ok(dir)
}

/// The PTX target to compile for a device of compute capability `cc` (PTX for an older
/// architecture runs on newer ones through the driver's JIT).
fn compile_target(cc: (i32, i32)) -> Result<&'static str> {
    match cc {
        (major, _) if major >= 9 => Ok("sm_90"),
        (8, _) => Ok("sm_80"),
        (major, minor) => bail!(
            "the GPU has compute capability {major}.{minor}; llc-train generates code for sm_80 and newer"
        ),
    }
}

/// Check that the artifact was compiled for this run: the same batch inputs (names,
/// shapes, types) and the same parameters as the step this run's flags describe.
pub fn check_artifact_matches(artifact: &Artifact, expected: &Function) -> Result<()> {
    check_plan_matches(&artifact.plan, &artifact.dir, expected)
}

/// [`check_artifact_matches`] for any artifact's plan (CPU or GPU), in `dir`.
pub fn check_plan_matches(
    plan: &llc_ir::plan::Plan,
    dir: &Path,
    expected: &Function,
) -> Result<()> {
    let arg_type = |name: &str| {
        let a = plan.arg(name)?;
        plan.buffers.get(a.buffer as usize).map(|b| b.ty())
    };
    let dir = dir.display();
    for role in [ArgRole::Input, ArgRole::Param] {
        for id in expected.args_with_role(role) {
            let node = expected.node(id);
            let want = &node.ty;
            match arg_type(&node.name) {
                None => bail!(
                    "artifact {dir}: has no {} `{}` ({want}); it was compiled for another \
                     model or flags (recompile it, or drop --artifact)",
                    role_word(role),
                    node.name
                ),
                Some(got) if &got != want => bail!(
                    "artifact {dir}: {} `{}` is {got} there but this run needs {want} \
                     (check --batch, --seq, --vocab and the model against the artifact's)",
                    role_word(role),
                    node.name
                ),
                Some(_) => {}
            }
        }
    }
    let want = expected.args_with_role(ArgRole::Input).len();
    let got = plan
        .args
        .iter()
        .filter(|a| a.role == ArgRole::Input)
        .count();
    if want != got {
        bail!(
            "artifact {dir}: takes {got} batch inputs but this run gives {want} \
             (an SFT artifact takes a loss mask: compile it from `model --loss-mask`)"
        );
    }
    Ok(())
}

fn role_word(role: ArgRole) -> &'static str {
    match role {
        ArgRole::Input => "input",
        _ => "parameter",
    }
}

/// The CUDA training backend for this run, starting from the same seeded initial values
/// as the CPU backend, then `weights` when fine-tuning.
#[cfg(feature = "cuda")]
pub fn cuda_backend(
    a: &StepArgs,
    step: &Function,
    out: &Path,
    weights: Option<Vec<(String, llc_runtime::Tensor)>>,
) -> Result<Box<dyn llc_runtime::step::StepBackend>> {
    use llc_runtime::step::StepBackend;
    let dir = artifact_for_run(a, step, out)?;
    let artifact = Artifact::load(&dir)?;
    check_artifact_matches(&artifact, step)?;
    let initial = artifact.initial_state(a.seed)?;
    let options = cuda::CudaOptions::from_env()?;
    let mut backend = cuda::CudaBackend::from_artifact(artifact, &initial, a.device, options)?;
    for w in backend.warnings() {
        eprintln!("cuda: {w}");
    }
    if let Some(w) = weights {
        backend.load_state(&w)?;
    }
    Ok(Box::new(backend))
}

/// Without the `cuda` feature there is no GPU backend: say how to get one.
#[cfg(not(feature = "cuda"))]
pub fn cuda_backend(
    _: &StepArgs,
    _: &Function,
    _: &Path,
    _: Option<Vec<(String, llc_runtime::Tensor)>>,
) -> Result<Box<dyn llc_runtime::step::StepBackend>> {
    Err(cuda::CudaError::NotBuilt.into())
}

/// `llc-train gpu-check`: the CUDA backend against the CPU on an artifact.
pub fn gpu_check(a: GpuCheckArgs) -> Result<()> {
    let opts = cuda::check::CheckOptions {
        steps: a.steps,
        seed: a.seed,
        device: a.device,
        per_op: !a.no_per_op,
        ..Default::default()
    };
    let report = cuda::check::run_checks(&a.artifact, &opts)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("gpu-check {}", a.artifact.display()))?;
    if let Some(path) = &a.json {
        crate::fsutil::write_atomic(path, report.to_json().as_bytes())?;
    }
    print!("{}", report.summary());
    if !report.passed {
        bail!(
            "gpu-check {}: {} comparison(s) over tolerance",
            a.artifact.display(),
            report.failures.len()
        );
    }
    Ok(())
}

/// `llc-train bench gpu`: time training steps of an artifact on the GPU.
pub fn bench_gpu(a: BenchGpuArgs) -> Result<()> {
    let mut opts = cuda::bench::BenchOptions::new(a.steps, a.warmup)?;
    opts.device = a.device;
    let r = cuda::bench::run_with(&a.artifact, &opts)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("bench gpu {}", a.artifact.display()))?;
    if let Some(path) = &a.json {
        let json = serde_json::to_string_pretty(&r).context("serializing the result")?;
        crate::fsutil::write_atomic(path, json.as_bytes())?;
    }
    println!("| artifact | device | tokens/step | ms/step | tokens/s | TFLOP/s | MFU | memory |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {:.2} | {:.0} | {:.1} | {:.1}% | {} |",
        r.artifact,
        r.device,
        r.tokens_per_step,
        r.ms_per_step,
        r.tokens_per_s,
        r.tflops,
        100.0 * r.mfu,
        llc_ir::human_bytes(r.peak_gpu_mem)
    );
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
