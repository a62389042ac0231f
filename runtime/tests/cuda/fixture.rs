//! A real compiled-step plan without codegen: the tiny (or 15M) Llama step partitioned
//! and memory-planned in-process, with one stand-in launch per kernel (its inputs then
//! its outputs, one 256-thread block) where codegen would give its real launches, written
//! as an artifact directory whose `kernels.ptx` is a stand-in too: one empty entry per
//! launch with the plan's parameter count (enough for everything that reads the PTX's
//! interface; nothing here launches it).

use llc_ir::plan::{EntryDecl, LaunchDims, ParamRef, Plan};
use llc_ir::{Function, Module, print_module};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::memplan::{KernelCode, MemPlanOptions, PlanTarget, assemble_plan, plan_memory};
use llc_passes::partition::{InterpreterTarget, PartitionOptions, partition};
use llc_passes::{AutodiffOptions, OptimizerConfig, build_step, differentiate};
use std::fmt::Write;
use std::path::Path;

/// The step function of `preset` at `batch x seq`.
pub fn step_function(preset: &str, batch: usize, seq: usize) -> Function {
    let cfg = LlamaConfig::preset(preset).unwrap();
    let m = build_forward(&cfg, &BuildOptions::new(batch, seq)).unwrap();
    let fwd = m.function("forward").unwrap();
    let opts = AutodiffOptions::default();
    let (fb, _) = differentiate(fwd, &opts.loss, &opts.output_function).unwrap();
    let (step, _) = build_step(&fb, &OptimizerConfig::default()).unwrap();
    step
}

/// A PTX module with one entry per declared kernel entry, taking its number of pointers.
pub fn stand_in_ptx(plan: &Plan, target: &str) -> String {
    let mut s = format!(".version 8.5\n.target {target}\n.address_size 64\n\n");
    for e in plan.kernels.iter().flat_map(|k| &k.entries) {
        let params: Vec<String> = (0..e.params.len())
            .map(|i| format!("\t.param .u64 .ptr .align 1 {}_param_{i}", e.entry))
            .collect();
        let _ = write!(
            s,
            ".visible .entry {}(\n{}\n)\n.maxntid 1024, 1, 1\n{{\n\tret;\n}}\n\n",
            e.entry,
            params.join(",\n")
        );
    }
    s
}

/// Partition and plan `step` for `target` (data movement as library steps when
/// `library_moves`, else inside kernels); write `plan.json`, `kernels.ir`, `step.ir` and
/// the stand-in `kernels.ptx` into `dir`. Returns the plan.
pub fn write_artifact(step: &Function, target: &str, dir: &Path, library_moves: bool) -> Plan {
    let opts = PartitionOptions {
        library_moves,
        ..PartitionOptions::default()
    };
    let prog = partition(step, &opts, &InterpreterTarget).unwrap();
    let mp = plan_memory(&prog, &MemPlanOptions::default()).unwrap();
    let kernels = prog
        .kernels
        .iter()
        .map(|k| {
            let (ins, outs) = (k.func.args().len(), k.func.outputs().len());
            KernelCode {
                class: k.class,
                entries: vec![EntryDecl {
                    entry: format!("{}_e", k.name),
                    dims: LaunchDims {
                        grid: [1, 1, 1],
                        block: [256, 1, 1],
                        shared_mem_bytes: 0,
                    },
                    params: (0..ins)
                        .map(ParamRef::Input)
                        .chain((0..outs).map(ParamRef::Output))
                        .collect(),
                }],
                scratch: vec![],
            }
        })
        .collect();
    let plan = assemble_plan(
        &prog,
        &mp,
        &PlanTarget {
            target: target.into(),
            kernels,
        },
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("plan.json"), plan.to_json()).unwrap();
    let kernels = Module {
        functions: prog.kernels.iter().map(|k| k.func.clone()).collect(),
    };
    std::fs::write(dir.join("kernels.ir"), print_module(&kernels)).unwrap();
    let steps = Module {
        functions: vec![step.clone()],
    };
    std::fs::write(dir.join("step.ir"), print_module(&steps)).unwrap();
    std::fs::write(dir.join("kernels.ptx"), stand_in_ptx(&plan, target)).unwrap();
    plan
}

/// The tiny preset's step (batch 2 x 16) as an artifact in a fresh temporary directory,
/// partitioned the default way (data movement inside kernels).
pub fn tiny_artifact() -> (tempfile::TempDir, Plan, Function) {
    tiny_artifact_with(false)
}

/// [`tiny_artifact`], with data movement as library steps when `library_moves`.
pub fn tiny_artifact_with(library_moves: bool) -> (tempfile::TempDir, Plan, Function) {
    let dir = tempfile::tempdir().unwrap();
    let step = step_function("tiny", 2, 16);
    let plan = write_artifact(&step, "sm_90", dir.path(), library_moves);
    (dir, plan, step)
}
