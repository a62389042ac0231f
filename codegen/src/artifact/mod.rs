//! The compiled artifact: everything a runtime needs to execute a training step, in one
//! directory.
//!
//! The files are those of [`llc_ir::artifact`]: `plan.json`, `kernels.ir`, `step.ir`,
//! `report.txt`, and the compiled kernels — `kernels.ptx` for a GPU target,
//! `kernels.so` with `native.json` for a CPU target — plus `kernels.mlir` on request.
//!
//! [`build_artifact`] runs the back half ([`crate::backend`]) and [`write_artifact`]
//! writes the files into a temporary directory next to the destination that is renamed
//! into place only when everything succeeded ([`llc_ir::fsutil::replace_dir`]), so a
//! failure leaves no half-written artifact (and an existing one untouched).

mod report;

pub use report::human_bytes;

use crate::backend::{BackendHooks, Lowered, lower};
use crate::error::{CodegenError, Result};
use crate::target::Target;
use llc_ir::artifact::{
    KERNELS_IR_FILE, MLIR_FILE, NATIVE_FILE, NATIVE_LIB_FILE, PLAN_FILE, PTX_FILE, REPORT_FILE,
    STEP_IR_FILE,
};
use llc_ir::fsutil::{FsError, replace_dir, write_synced};
use llc_ir::{Function, Module, print_function, print_module};
use llc_passes::memplan::{MemPlanOptions, MemoryReport};
use llc_passes::partition::{PartitionOptions, ProgramCounts};
use report::report_text;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to build an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ArtifactOptions {
    /// The machine the kernels are for.
    pub target: Target,
    /// Also write `kernels.mlir`.
    pub emit_mlir: bool,
    /// How the step is cut into kernels and GEMMs.
    pub partition: PartitionOptions,
    /// How the step is ordered and laid out in the arena.
    pub memplan: MemPlanOptions,
}

/// What was built, for the CLI's summary and for tests.
#[derive(Clone, Debug)]
pub struct ArtifactReport {
    /// The artifact directory.
    pub dir: PathBuf,
    /// Kernel steps, GEMMs, views and copies of the program.
    pub counts: ProgramCounts,
    /// Memory by region and the activation peak.
    pub memory: MemoryReport,
    /// Distinct PTX entries in `kernels.ptx`.
    pub ptx_entries: usize,
    /// GPU launches per step.
    pub launches: usize,
    /// FLOPs per step (see [`llc_ir::plan::PlanStats`]).
    pub flops: u64,
    /// Bytes read and written per step (see [`llc_ir::plan::PlanStats`]).
    pub bytes_moved: u64,
    /// Wall time of each stage, in order.
    pub timings: Vec<(&'static str, Duration)>,
    /// The text of `report.txt`.
    pub text: String,
}

/// Write `files` into a fresh directory that then replaces `out` ([`replace_dir`]).
fn write_atomically(out: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    replace_dir(out, |tmp: &Path| {
        files.iter().try_for_each(|(file, bytes)| {
            let path = tmp.join(file);
            write_synced(&path, bytes).map_err(|e| FsError::new(path, e))
        })
    })?;
    Ok(())
}

/// Compile `step` into an artifact directory at `out_dir` (see the module docs): the
/// back half ([`lower`]), then [`write_artifact`].
pub fn build_artifact(
    step: &Function,
    opts: &ArtifactOptions,
    out_dir: &Path,
) -> Result<ArtifactReport> {
    let lowered = lower(step, opts, &mut BackendHooks::default())?;
    write_artifact(step, lowered, opts, out_dir)
}

/// Write what the back half built for `step` as the artifact directory `out_dir`,
/// replacing it atomically.
pub fn write_artifact(
    step: &Function,
    lowered: Lowered,
    opts: &ArtifactOptions,
    out_dir: &Path,
) -> Result<ArtifactReport> {
    let Lowered {
        program,
        module,
        memory,
        plan,
        mut timings,
    } = lowered;
    let t = Instant::now();
    let kernels_ir = print_module(&Module {
        functions: program.kernels.iter().map(|k| k.func.clone()).collect(),
    });
    let step_ir = print_function(&program.func);
    let plan_json = plan.to_json();
    // The report covers the passes before writing; the write time is only returned.
    let text = report_text(
        step,
        opts.target,
        &program,
        &plan,
        module.entries,
        &memory.report,
        &timings,
    );
    let mut files: Vec<(&str, &[u8])> = vec![
        (PLAN_FILE, plan_json.as_bytes()),
        (KERNELS_IR_FILE, kernels_ir.as_bytes()),
        (STEP_IR_FILE, step_ir.as_bytes()),
        (REPORT_FILE, text.as_bytes()),
    ];
    let native_json;
    match &module.native {
        Some(native) => {
            native_json = serde_json::to_string_pretty(&native.code).map_err(|source| {
                CodegenError::Serialize {
                    what: NATIVE_FILE,
                    source,
                }
            })?;
            files.push((NATIVE_LIB_FILE, &native.library));
            files.push((NATIVE_FILE, native_json.as_bytes()));
        }
        None => files.push((PTX_FILE, module.ptx.as_bytes())),
    }
    if opts.emit_mlir {
        files.push((MLIR_FILE, module.mlir.as_bytes()));
    }
    write_atomically(out_dir, &files)?;
    timings.push(("write", t.elapsed()));
    Ok(ArtifactReport {
        dir: out_dir.to_path_buf(),
        counts: program.counts(),
        memory: memory.report,
        ptx_entries: module.entries,
        launches: plan.stats.launches,
        flops: plan.stats.flops,
        bytes_moved: plan.stats.bytes_moved,
        timings,
        text,
    })
}
