//! Driving the compiler: a forward module through the front half (the pass pipeline of
//! [`llc_passes::Pipeline`]: e-graph, autodiff, optimizer), the back half
//! ([`crate::backend`]: attention lowering to plan assembly) and the artifact write, with
//! `--dump-after` for any pass of either half. The CLI only parses flags into
//! [`CompileOptions`] and prints what [`compile`] returns.

use crate::artifact::{ArtifactOptions, ArtifactReport, write_artifact};
use crate::backend::{BackendHooks, BackendPass, lower};
use crate::error::{CodegenError, Result};
use llc_ir::{Module, print_module};
use llc_passes::{PassError, PassReport, Pipeline, PipelineHooks};
use std::path::PathBuf;

/// What to compile and what to show.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// The front half.
    pub pipeline: Pipeline,
    /// The back half and the artifact's contents.
    pub artifact: ArtifactOptions,
    /// Write the artifact directory here (else the back half only runs for a dump).
    pub output: Option<PathBuf>,
    /// Dump after this pass (a name of [`dump_names`]).
    pub dump_after: Option<String>,
}

/// What [`compile`] built.
#[derive(Debug)]
pub struct CompileOutput {
    /// The module after the front half (`forward`, `step` …).
    pub module: Module,
    /// The front half's per-pass reports.
    pub reports: Vec<PassReport>,
    /// The artifact written, when [`CompileOptions::output`] was given.
    pub artifact: Option<ArtifactReport>,
}

/// Every name `--dump-after` accepts, in the order the passes run: `parse`, the front
/// half's passes, the back half's.
pub fn dump_names(pipeline: &Pipeline) -> Vec<&'static str> {
    let mut names = pipeline.dump_names();
    names.extend(BackendPass::ALL.map(BackendPass::name));
    names
}

/// Compile `module` (see the module docs). `on_dump` receives the pass name and the dump
/// text. An unknown dump name is an error before anything runs.
pub fn compile(
    mut module: Module,
    opts: &CompileOptions,
    on_dump: &mut dyn FnMut(&str, &str),
) -> Result<CompileOutput> {
    let names = dump_names(&opts.pipeline);
    let dump = opts.dump_after.as_deref();
    if let Some(name) = dump
        && !names.contains(&name)
    {
        return Err(CodegenError::UnknownPass {
            name: name.to_string(),
            available: names.join(", "),
        });
    }
    let back_dump = dump.and_then(BackendPass::named);
    let reports = {
        let mut hooks = PipelineHooks {
            dump_after: dump.filter(|_| back_dump.is_none()).map(str::to_string),
            on_dump: Some(Box::new(|pass: &str, m: &Module| {
                on_dump(pass, &print_module(m))
            })),
            ..Default::default()
        };
        opts.pipeline.run(&mut module, &mut hooks)?
    };
    if opts.output.is_none() && back_dump.is_none() {
        return Ok(CompileOutput {
            module,
            reports,
            artifact: None,
        });
    }
    let step = module
        .function("step")
        .ok_or_else(|| PassError::NoSuchFunction {
            pass: BackendPass::ALL[0].name(),
            func: "step".into(),
            available: module
                .functions
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let mut hooks = BackendHooks {
        dump_after: back_dump,
        on_dump: Some(Box::new(|pass: &str, text: &str| on_dump(pass, text))),
        ..Default::default()
    };
    let lowered = lower(step, &opts.artifact, &mut hooks)?;
    drop(hooks);
    let artifact = match &opts.output {
        Some(dir) => Some(write_artifact(step, lowered, &opts.artifact, dir)?),
        None => None,
    };
    Ok(CompileOutput {
        module,
        reports,
        artifact,
    })
}
