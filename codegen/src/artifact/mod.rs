//! The compiled artifact: everything a runtime needs to execute a training step, in one
//! directory.
//!
//! The files are those of [`llc_ir::artifact`]: `plan.json`, `kernels.ir`, `step.ir`,
//! `report.txt`, and the compiled kernels — `kernels.ptx` for a GPU target,
//! `kernels.so` with `native.json` for a CPU target — plus `kernels.mlir` on request.
//!
//! [`build_artifact`] runs partitioning, codegen, memory planning and plan assembly, and
//! writes the files into a temporary directory next to the destination that is renamed
//! into place only when everything succeeded, so a failure leaves no half-written
//! artifact (and an existing one untouched).

use crate::api::{CompiledModule, KernelSpec};
use crate::error::{CodegenError, Result};
use crate::target::Target;
use crate::{compile_kernels, kernel_fingerprint};
use llc_ir::artifact::{
    KERNELS_IR_FILE, MLIR_FILE, NATIVE_FILE, NATIVE_LIB_FILE, PLAN_FILE, PTX_FILE, REPORT_FILE,
    STEP_IR_FILE,
};
use llc_ir::plan::{EntryDecl, KernelClass, Plan, Step};
use llc_ir::{Function, Module, print_function, print_module};
use llc_passes::memplan::{
    KernelCode, MemPlanOptions, MemoryReport, PlanTarget, assemble_plan, plan_memory,
};
use llc_passes::partition::{PartitionOptions, Program, ProgramCounts, partition};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to build an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ArtifactOptions {
    /// The GPU the PTX is for.
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

fn fail(stage: &str, msg: impl Into<String>) -> CodegenError {
    CodegenError::Artifact {
        stage: stage.to_string(),
        msg: msg.into(),
    }
}

/// Per program kernel, its launches and scratch as the plan describes them.
fn kernel_code(m: &CompiledModule) -> Vec<KernelCode> {
    m.kernels
        .iter()
        .map(|k| KernelCode {
            class: k.class,
            entries: k
                .launches
                .iter()
                .map(|l| EntryDecl {
                    entry: l.entry.clone(),
                    dims: l.launch,
                    params: l.params.clone(),
                })
                .collect(),
            scratch: k.scratch.clone(),
        })
        .collect()
}

/// Every kernel parameter must be 16-byte aligned (codegen's kernels use 16-byte
/// vector accesses).
fn check_alignment(plan: &Plan) -> Result<()> {
    for (i, s) in plan.steps.iter().enumerate() {
        if let Step::Kernel(k) = s {
            for r in k.inputs.iter().chain(&k.outputs).chain(&k.scratch) {
                if r.offset % 16 != 0 {
                    return Err(fail(
                        "memory plan",
                        format!(
                            "step {i} ({}) gets buffer %{} at offset {}, which is not 16-byte aligned",
                            k.kernel, plan.buffers[r.buffer as usize].name, r.offset
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Bytes in binary units, for reports.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

fn report_text(
    step: &Function,
    target: Target,
    program: &Program,
    plan: &Plan,
    ptx_entries: usize,
    memory: &MemoryReport,
    timings: &[(&'static str, Duration)],
) -> String {
    let c = program.counts();
    let s = &plan.stats;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "llc-train artifact: @{} for {target} (plan schema v{})",
        step.name, plan.schema_version
    );
    let _ = writeln!(t, "\n[kernels]");
    let _ = writeln!(
        t,
        "distinct kernels: {} ({ptx_entries} PTX entries)",
        c.distinct_kernels
    );
    let by_class: Vec<String> = plan_class_counts(plan)
        .into_iter()
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
    let _ = writeln!(
        t,
        "kernel steps: {} ({}), GPU launches: {}",
        s.kernel_steps,
        by_class.join(", "),
        s.launches
    );
    let _ = writeln!(t, "GEMMs: {}", s.gemms);
    let _ = writeln!(
        t,
        "data movement steps (transpose, strided copy, gather, scatter-add): {}",
        s.moves
    );
    let _ = writeln!(t, "views (free): {}", c.views);
    let _ = writeln!(t, "copies: {}", c.copies);
    let _ = writeln!(t, "\n[memory] arena {}", human_bytes(plan.arena_bytes));
    for r in &plan.regions {
        let _ = writeln!(
            t,
            "{:<11} {:>12} at offset {}",
            r.kind.name(),
            human_bytes(r.bytes),
            r.offset
        );
    }
    let _ = writeln!(
        t,
        "activation peak {} vs sum of all intermediates {}: {:.2}x smaller",
        human_bytes(memory.activation_bytes),
        human_bytes(memory.intermediate_sum_bytes),
        memory.reuse_factor()
    );
    let _ = writeln!(
        t,
        "live peak under this order (lower bound): {}",
        human_bytes(memory.live_peak_bytes)
    );
    let _ = writeln!(
        t,
        "schedule: {} (builder order {}, greedy order {})",
        memory.schedule,
        memory
            .builder_activation_bytes
            .map_or("-".into(), human_bytes),
        memory
            .greedy_activation_bytes
            .map_or("-".into(), human_bytes)
    );
    let _ = writeln!(t, "\n[per step]");
    let _ = writeln!(t, "FLOPs: {:.3e}", s.flops as f64);
    let _ = writeln!(t, "bytes read+written: {}", human_bytes(s.bytes_moved));
    let _ = writeln!(t, "\n[timings]");
    for (stage, d) in timings {
        let _ = writeln!(t, "{stage:<12} {:>10.1} ms", d.as_secs_f64() * 1e3);
    }
    t
}

fn plan_class_counts(plan: &Plan) -> Vec<(KernelClass, usize)> {
    let mut v: Vec<(KernelClass, usize)> = Vec::new();
    for s in &plan.steps {
        if let Step::Kernel(k) = s {
            let class = plan.kernel(&k.kernel).map(|d| d.class);
            if let Some(class) = class {
                match v.iter_mut().find(|(c, _)| *c == class) {
                    Some((_, n)) => *n += 1,
                    None => v.push((class, 1)),
                }
            }
        }
    }
    v.sort();
    v
}

/// Write `files` into a fresh directory that then replaces `out`.
fn write_atomically(out: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    let io = |what: &Path, e: std::io::Error| fail("write", format!("{}: {e}", what.display()));
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
    let name = out
        .file_name()
        .ok_or_else(|| fail("write", format!("{} names no directory", out.display())))?
        .to_string_lossy()
        .to_string();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    let written = files.iter().try_for_each(|(file, text)| {
        let path = tmp.join(file);
        std::fs::write(&path, text).map_err(|e| io(&path, e))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(|e| io(out, e))?;
        std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
    } else {
        std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
    }
    Ok(())
}

/// Compile `step` into an artifact directory at `out_dir` (see the module docs).
pub fn build_artifact(
    step: &Function,
    opts: &ArtifactOptions,
    out_dir: &Path,
) -> Result<ArtifactReport> {
    let mut timings = Vec::new();
    let t = Instant::now();
    let mut program = partition(step, &opts.partition, &opts.target)
        .map_err(|e| fail("partition", e.to_string()))?;
    timings.push(("partition", t.elapsed()));

    let t = Instant::now();
    let specs: Vec<KernelSpec> = program
        .kernels
        .iter()
        .map(|k| KernelSpec {
            name: k.name.clone(),
            func: &k.func,
        })
        .collect();
    let module = compile_kernels(&specs, opts.target)?;
    for k in &mut program.kernels {
        k.fingerprint = kernel_fingerprint(&k.func);
    }
    timings.push(("codegen", t.elapsed()));

    let t = Instant::now();
    let code = kernel_code(&module);
    let scratch: Vec<_> = code.iter().map(|c| c.scratch.clone()).collect();
    program.attach_scratch(&scratch);
    let mp =
        plan_memory(&program, &opts.memplan).map_err(|e| fail("memory plan", e.to_string()))?;
    let target = PlanTarget {
        target: opts.target.name().to_string(),
        kernels: code,
    };
    let plan = assemble_plan(&program, &mp, &target);
    plan.validate().map_err(|e| fail("plan", e.to_string()))?;
    check_alignment(&plan)?;
    timings.push(("memory plan", t.elapsed()));

    let t = Instant::now();
    let kernels_ir = print_module(&Module {
        functions: program.kernels.iter().map(|k| k.func.clone()).collect(),
    });
    let step_ir = print_function(&program.func);
    let plan_json = plan.to_json();
    // The report covers the stages before writing; the write time is only returned.
    let text = report_text(
        step,
        opts.target,
        &program,
        &plan,
        module.entries,
        &mp.report,
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
            native_json = serde_json::to_string_pretty(&native.code)
                .map_err(|e| fail("write", e.to_string()))?;
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
        memory: mp.report,
        ptx_entries: module.entries,
        launches: plan.stats.launches,
        flops: plan.stats.flops,
        bytes_moved: plan.stats.bytes_moved,
        timings,
        text,
    })
}
