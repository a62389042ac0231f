//! A KV-cache decoder for a loaded model: the prefill and decode-step graphs built for the
//! model's config, fused by the e-graph, and either compiled for this CPU (two artifacts
//! in a scratch directory, run as native code) or run on the interpreter.
//! `sample` and `bench decode` use it.

use anyhow::{Context, Result};
use llc_ir::{Function, Module};
use llc_models::{LlamaConfig, build_decode_step, build_prefill};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_runtime::Precision;
use llc_trainer::checkpoint::NamedTensor;
use llc_trainer::forward::{ForwardModel, InterpForward, PlanForward};
use llc_trainer::generate::{InterpKv, KvModel};

/// Where the decode graphs run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeBackend {
    /// The compiled CPU decoder when this build has the compiler, else the interpreter.
    Auto,
    /// The decode graphs compiled for this CPU (native kernels, CPU GEMMs).
    Cpu,
    /// The reference interpreter (the oracle; slow).
    Interp,
}

impl DecodeBackend {
    /// Whether the graphs run compiled (`auto`: when this build has the compiler).
    pub fn compiled(self) -> bool {
        match self {
            DecodeBackend::Interp => false,
            DecodeBackend::Cpu => true,
            DecodeBackend::Auto => cfg!(feature = "mlir"),
        }
    }
}

/// The static sizes a decoder is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderShape {
    /// Sequences decoded at once.
    pub batch: usize,
    /// Longest prompt (BOS included) the prefill takes.
    pub prompt_len: usize,
    /// Positions of the KV cache: the longest prompt + completion.
    pub cache_len: usize,
}

/// A ready decoder; keeps its compiled artifacts' scratch directory alive.
pub struct Decoder {
    /// The model to call.
    pub model: Box<dyn KvModel>,
    /// What runs it, for reports (`compiled cpu (znver5)`, `interpreter`).
    pub describe: String,
    _artifacts: Option<tempfile::TempDir>,
}

/// The prefill and decode-step functions for `cfg` at `shape`, fused by the e-graph
/// forward rules (as the training forward is).
pub fn decode_functions(cfg: &LlamaConfig, shape: DecoderShape) -> Result<(Function, Function)> {
    let opts = EGraphOptions::forward();
    let one = |m: Module| -> Result<Function> {
        let f = m
            .functions
            .into_iter()
            .next()
            .context("the decode builder made no function")?;
        Ok(optimize(&f, &opts)?.0)
    };
    let prefill = one(build_prefill(cfg, shape.batch, shape.prompt_len)?)?;
    let step = one(build_decode_step(cfg, shape.batch, shape.cache_len)?)?;
    Ok((prefill, step))
}

/// Builds the decoder `backend` asks for, with `weights` bound.
pub fn build_decoder(
    cfg: &LlamaConfig,
    weights: &[NamedTensor],
    shape: DecoderShape,
    backend: DecodeBackend,
) -> Result<Decoder> {
    let (prefill, step) = decode_functions(cfg, shape)?;
    if !backend.compiled() {
        let model = InterpKv::new(cfg, prefill, step, weights, Precision::F32)?;
        return Ok(Decoder {
            model: Box::new(model),
            describe: "interpreter".into(),
            _artifacts: None,
        });
    }
    compiled_decoder(cfg, weights, &prefill, &step)
}

#[cfg(feature = "mlir")]
fn compiled_decoder(
    cfg: &LlamaConfig,
    weights: &[NamedTensor],
    prefill: &Function,
    step: &Function,
) -> Result<Decoder> {
    use llc_trainer::generate::PlanKv;
    let dir = tempfile::Builder::new()
        .prefix("llc-decode-")
        .tempdir()
        .context("cannot create a scratch directory for the decode artifacts")?;
    let prefill_exec = compile_for_cpu(prefill, &dir.path().join(&prefill.name))?;
    let step_exec = compile_for_cpu(step, &dir.path().join(&step.name))?;
    let cpu = step_exec.native_cpu().unwrap_or("?").to_string();
    let model = PlanKv::new(cfg, prefill, step, prefill_exec, step_exec, weights)?;
    Ok(Decoder {
        model: Box::new(model),
        describe: format!("compiled cpu ({cpu})"),
        _artifacts: Some(dir),
    })
}

/// A forward function (no update) compiled for this CPU into the artifact directory
/// `out`, loaded as native code.
#[cfg(feature = "mlir")]
pub fn compile_for_cpu(
    f: &Function,
    out: &std::path::Path,
) -> Result<llc_runtime::plan_exec::PlanExecutor> {
    use llc_codegen::{ArtifactOptions, Target, build_artifact};
    let opts = ArtifactOptions {
        target: Target::CpuNative,
        ..ArtifactOptions::default()
    };
    build_artifact(f, &opts, out).with_context(|| format!("compiling @{}", f.name))?;
    Ok(llc_runtime::plan_exec::PlanExecutor::load(out)?)
}

/// Without the compiler there is nothing to compile with.
#[cfg(not(feature = "mlir"))]
pub fn compile_for_cpu(
    f: &Function,
    _out: &std::path::Path,
) -> Result<llc_runtime::plan_exec::PlanExecutor> {
    anyhow::bail!(
        "compiling @{} for the CPU needs the compiler (this build has no `mlir` feature); use --backend interp",
        f.name
    )
}

/// `f` (a forward graph, fused here by the e-graph forward rules) with `weights` bound:
/// compiled for this CPU into `out` when `compiled`, else on the interpreter.
pub fn forward_model(
    f: Function,
    weights: &[NamedTensor],
    compiled: bool,
    out: &std::path::Path,
) -> Result<Box<dyn ForwardModel>> {
    let (f, _) = optimize(&f, &EGraphOptions::forward())?;
    if !compiled {
        return Ok(Box::new(InterpForward::new(f, weights)?));
    }
    let exec = compile_for_cpu(&f, out)?;
    Ok(Box::new(PlanForward::new(f, exec, weights)?))
}

#[cfg(not(feature = "mlir"))]
fn compiled_decoder(
    _cfg: &LlamaConfig,
    _weights: &[NamedTensor],
    _prefill: &Function,
    _step: &Function,
) -> Result<Decoder> {
    anyhow::bail!(
        "--backend cpu compiles the decode graphs, but this build has no compiler \
         (built without the `mlir` feature); use --backend interp"
    )
}
