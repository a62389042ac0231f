//! `llc-train compile`: forward `.ir` -> training step (e-graph fusion, autodiff,
//! optimizer, e-graph on the step) -> with `-o`, an artifact (the back half), through the
//! library's driver (`llc_codegen::driver`); prints a summary of what was built and how
//! long each pass took.

use crate::cli::{CompileArgs, EGraphArgs, OptimizerArgs};
use crate::fsutil::write_atomic;
use anyhow::Result;
use llc_ir::{Function, Module, human_bytes, human_count};
#[cfg(not(feature = "mlir"))]
use llc_passes::PipelineHooks;
use llc_passes::egraph::EGraphOptions;
use llc_passes::{
    AutodiffOptions, DecayOverride, OptimizerConfig, PassReport, Pipeline, Precision,
};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// The optimizer configuration the flags describe.
pub fn optimizer_config(a: &OptimizerArgs) -> Result<OptimizerConfig> {
    let cfg = OptimizerConfig {
        lr: a.lr,
        beta1: a.beta1,
        beta2: a.beta2,
        eps: a.adam_eps,
        weight_decay: a.weight_decay,
        clip_norm: (a.clip_norm > 0.0).then_some(a.clip_norm),
        warmup_steps: a.warmup_steps,
        total_steps: a.total_steps,
        min_lr_ratio: a.min_lr_ratio,
        decay_overrides: a
            .no_decay
            .iter()
            .map(|p| DecayOverride {
                pattern: p.clone(),
                decay: false,
            })
            .collect(),
        ..OptimizerConfig::default()
    };
    cfg.validate()?;
    Ok(cfg)
}

/// E-graph options for the forward run (`forward = true`) or the step run, with the
/// flags' limits.
pub fn egraph_options(a: &EGraphArgs, forward: bool) -> EGraphOptions {
    let groups = if forward {
        EGraphOptions::forward()
    } else {
        EGraphOptions::step()
    };
    EGraphOptions {
        iter_limit: a.egraph_iter_limit,
        node_limit: a.egraph_node_limit,
        time_limit: Duration::from_secs_f64(a.egraph_time_limit.max(0.0)),
        ..groups
    }
}

/// The compiler's pass pipeline for a forward module, as the flags configure it.
pub fn pipeline_for(
    optim: &OptimizerArgs,
    egraph: &EGraphArgs,
    precision: Precision,
) -> Result<Pipeline> {
    let limits = egraph_options(egraph, true);
    Ok(Pipeline::standard(
        AutodiffOptions::default(),
        optimizer_config(optim)?,
        (!egraph.no_egraph).then_some(&limits),
    )
    .with_precision(precision))
}

/// One line per pass (time, node counts, counters); with `details`, each pass's own
/// report (the e-graph's rules, stop reason and cost estimate) below it.
pub fn summarize_reports(reports: &[PassReport], details: bool) -> String {
    let mut out = String::from("passes:\n");
    for r in reports {
        let counters: Vec<String> = r.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "  {:<15} {:>9.1} ms  nodes {} -> {}  {}",
            r.pass,
            r.wall.as_secs_f64() * 1e3,
            r.nodes_before,
            r.nodes_after,
            counters.join(" ")
        );
        if details && let Some(d) = &r.detail {
            for line in d.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}

fn summarize(out: &mut String, f: &Function) {
    let s = llc_ir::function_stats(f);
    let _ = writeln!(out, "func @{}: {} nodes", f.name, s.nodes);
    let _ = writeln!(
        out,
        "  parameters: {} ({}); optimizer state: {}",
        human_count(s.param_count),
        human_bytes(s.param_bytes),
        human_bytes(s.state_bytes)
    );
    let _ = writeln!(
        out,
        "  FLOPs per call: {} ({} in matmuls)",
        human_count(s.flops),
        human_count(s.matmul_flops)
    );
    let ops: Vec<String> = s
        .ops_by_kind
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "  ops: {}", ops.join(" "));
}

pub fn run(a: CompileArgs) -> Result<()> {
    let t0 = Instant::now();
    let module: Module = super::read_module(&a.input)?;
    let t_parse = t0.elapsed();
    if a.world_size == 0 {
        anyhow::bail!("--world-size must be at least 1");
    }
    let pipeline = pipeline_for(&a.optim, &a.egraph, a.precision.into())?.with_data_parallel(
        llc_passes::DataParallelOptions {
            bucket_bytes: a.bucket_mb.max(1) << 20,
            ..llc_passes::DataParallelOptions::new(a.world_size)
        },
    );
    let mut out = String::new();
    if let Some(f) = module.functions.first() {
        summarize(&mut out, f);
    }
    let t1 = Instant::now();
    let (module, reports, artifact) = drive(module, pipeline, &a)?;
    let t_pipeline = t1.elapsed();
    for f in &module.functions {
        summarize(&mut out, f);
    }
    let _ = writeln!(
        out,
        "  {:<15} {:>9.1} ms",
        "parse",
        t_parse.as_secs_f64() * 1e3
    );
    out.push_str(&summarize_reports(&reports, true));
    let _ = writeln!(
        out,
        "compile time: {:.2} s (parse {:.2} s, passes {:.2} s)",
        t0.elapsed().as_secs_f64(),
        t_parse.as_secs_f64(),
        t_pipeline.as_secs_f64()
    );
    if let Some(text) = artifact {
        out.push_str(&text);
    }
    if let Some(path) = &a.emit_step {
        write_atomic(path, llc_ir::print_module(&module).as_bytes())?;
        let _ = writeln!(out, "wrote {}", path.display());
    }
    // With --dump-after the dump goes to stdout, so the summary goes to stderr.
    if a.dump_after.is_some() {
        eprint!("{out}");
    } else {
        print!("{out}");
    }
    Ok(())
}

/// Dumps go to stdout as they come.
fn print_dump(_: &str, text: &str) {
    print!("{text}");
}

/// The library's compiler driver, configured by the flags; returns the module after the
/// front half, its pass reports and the artifact's summary.
#[cfg(feature = "mlir")]
fn drive(
    module: Module,
    pipeline: Pipeline,
    a: &CompileArgs,
) -> Result<(Module, Vec<PassReport>, Option<String>)> {
    use llc_codegen::driver::{CompileOptions, compile};
    let opts = CompileOptions {
        pipeline,
        artifact: artifact_options(a.target.name(), a.emit_mlir)?,
        output: a.output.clone(),
        dump_after: a.dump_after.clone(),
    };
    let t = Instant::now();
    let r = compile(module, &opts, &mut print_dump)?;
    let artifact = r
        .artifact
        .map(|art| artifact_summary(&art, t.elapsed().as_secs_f64()));
    Ok((r.module, r.reports, artifact))
}

/// Without MLIR only the front half runs (no back-half dumps, no artifact).
#[cfg(not(feature = "mlir"))]
fn drive(
    mut module: Module,
    pipeline: Pipeline,
    a: &CompileArgs,
) -> Result<(Module, Vec<PassReport>, Option<String>)> {
    if a.output.is_some() {
        no_codegen()?;
    }
    let mut hooks = PipelineHooks {
        dump_after: a.dump_after.clone(),
        on_dump: Some(Box::new(|p: &str, m: &Module| {
            print_dump(p, &llc_ir::print_module(m))
        })),
        ..Default::default()
    };
    let reports = pipeline.run(&mut module, &mut hooks)?;
    Ok((module, reports, None))
}

/// The artifact options for `target` (`sm_90`, `cpu` …).
#[cfg(feature = "mlir")]
fn artifact_options(target: &str, emit_mlir: bool) -> Result<llc_codegen::ArtifactOptions> {
    Ok(llc_codegen::ArtifactOptions {
        target: target.parse()?,
        emit_mlir,
        ..Default::default()
    })
}

/// The artifact's report, indented under a header line.
#[cfg(feature = "mlir")]
fn artifact_summary(r: &llc_codegen::ArtifactReport, seconds: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "artifact {} ({seconds:.2} s):", r.dir.display());
    for line in r.text.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// Build the artifact of `step` for `target` (`sm_90`, `cpu`) into `dir` with the
/// library's back half; returns the report text. Shared by `train --backend cpu|cuda`,
/// `gpu` and `bench cpu`.
#[cfg(feature = "mlir")]
pub(crate) fn write_artifact(
    step: &Function,
    target: &str,
    emit_mlir: bool,
    dir: &std::path::Path,
) -> Result<String> {
    let t = Instant::now();
    let r = llc_codegen::build_artifact(step, &artifact_options(target, emit_mlir)?, dir)?;
    Ok(artifact_summary(&r, t.elapsed().as_secs_f64()))
}

/// Without the `mlir` feature there is no code generator: say how to get one.
#[cfg(not(feature = "mlir"))]
pub(crate) fn write_artifact(
    _: &Function,
    _: &str,
    _: bool,
    _: &std::path::Path,
) -> Result<String> {
    no_codegen()
}

#[cfg(not(feature = "mlir"))]
fn no_codegen<T>() -> Result<T> {
    anyhow::bail!(
        "this llc-train was built without MLIR (--no-default-features), so it cannot write \
         artifacts (CPU or GPU); build with the default features (or pass an artifact made by one \
         with --artifact)"
    )
}
