//! The back half of the compiler as named passes, read the same way as the front half
//! ([`llc_passes::Pipeline`]): a fixed list, run in order, each timed and dumpable by
//! name (`compile --dump-after PASS`).
//!
//! | pass | does | dump |
//! |---|---|---|
//! | `lower-attention` | `attention*` as GEMMs and softmax rows ([`llc_passes::lower_attention`]) | the step's IR |
//! | `pack` | optimizer updates and norms over packed buffers ([`pack_step`]) | the step's IR |
//! | `partition` | kernels the target accepts, GEMMs, views ([`partition_prepared`]) | `kernels.ir` then `step.ir` |
//! | `codegen` | every distinct kernel compiled for the target ([`crate::compile_kernels`]) | the kernels' MLIR |
//! | `memory-plan` | step order and arena offsets ([`plan_memory`]) | order, regions and offsets |
//! | `assemble` | the execution plan, validated ([`assemble_plan`]) | `plan.json` |
//!
//! The target is a parameter of the passes, not a fork of them: `partition` asks it what
//! a kernel may hold, `codegen` compiles for it.

mod dump;

use crate::api::{CompiledModule, KernelSpec};
use crate::artifact::ArtifactOptions;
use crate::error::{CodegenError, Result};
use crate::{compile_kernels, kernel_fingerprint};
use llc_ir::plan::{EntryDecl, Plan, Step};
use llc_ir::{Function, print_function, verify_function};
use llc_passes::PassError;
use llc_passes::lower_attention::lower_attention;
use llc_passes::memplan::{KernelCode, MemoryPlan, PlanTarget, assemble_plan, plan_memory};
use llc_passes::partition::{Program, pack_step, partition_prepared};
use std::time::{Duration, Instant};

/// One pass of the back half. A closed set, always run in [`BackendPass::ALL`]'s order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendPass {
    /// Rewrite `attention`/`attention_grad` into GEMMs and row work (when enabled).
    LowerAttention,
    /// Pack per-parameter optimizer updates and norm reductions (when enabled).
    Pack,
    /// Cut the step into kernels the target accepts, GEMM calls and views.
    Partition,
    /// Compile every distinct kernel for the target.
    Codegen,
    /// Order the steps and place every buffer in one arena.
    MemoryPlan,
    /// Assemble and validate the execution plan.
    Assemble,
}

impl BackendPass {
    /// Every pass, in the order they run.
    pub const ALL: [BackendPass; 6] = [
        BackendPass::LowerAttention,
        BackendPass::Pack,
        BackendPass::Partition,
        BackendPass::Codegen,
        BackendPass::MemoryPlan,
        BackendPass::Assemble,
    ];

    /// The name `--dump-after` and reports use.
    pub fn name(self) -> &'static str {
        match self {
            BackendPass::LowerAttention => "lower-attention",
            BackendPass::Pack => "pack",
            BackendPass::Partition => "partition",
            BackendPass::Codegen => "codegen",
            BackendPass::MemoryPlan => "memory-plan",
            BackendPass::Assemble => "assemble",
        }
    }

    /// The pass of this name, if any.
    pub fn named(name: &str) -> Option<BackendPass> {
        BackendPass::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Receives a pass name and that pass's dump text.
pub type TextHook<'a> = Box<dyn FnMut(&str, &str) + 'a>;

/// Callbacks and checks around a back-half run (like [`llc_passes::PipelineHooks`]).
pub struct BackendHooks<'a> {
    /// Call `on_dump` with the dump of the pass of this name.
    pub dump_after: Option<BackendPass>,
    /// Receives the pass name and its dump text.
    pub on_dump: Option<TextHook<'a>>,
    /// Verify the step's IR after the IR-to-IR passes (default: in debug builds; the
    /// partitioner always verifies its input).
    pub verify: bool,
}

impl Default for BackendHooks<'_> {
    fn default() -> Self {
        BackendHooks {
            dump_after: None,
            on_dump: None,
            verify: cfg!(debug_assertions),
        }
    }
}

/// Everything the back half built, ready to be written as an artifact.
#[derive(Debug)]
pub struct Lowered {
    /// The program: kernels, GEMMs, views, and the partitioned step.
    pub program: Program,
    /// The compiled kernels.
    pub module: CompiledModule,
    /// Step order and arena offsets.
    pub memory: MemoryPlan,
    /// The execution plan (`plan.json`).
    pub plan: Plan,
    /// Wall time of each pass, in order.
    pub timings: Vec<(&'static str, Duration)>,
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

/// The alignment every kernel parameter needs (codegen's kernels use 16-byte vector
/// accesses).
const PARAM_ALIGN: u64 = 16;

/// Every kernel parameter must be [`PARAM_ALIGN`]-aligned.
fn check_alignment(plan: &Plan) -> Result<()> {
    for (i, s) in plan.steps.iter().enumerate() {
        if let Step::Kernel(k) = s {
            for r in k.inputs.iter().chain(&k.outputs).chain(&k.scratch) {
                if r.offset % PARAM_ALIGN != 0 {
                    return Err(CodegenError::Misaligned {
                        step: i,
                        kernel: k.kernel.clone(),
                        buffer: plan.buffers[r.buffer as usize].name.clone(),
                        offset: r.offset,
                        align: PARAM_ALIGN,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Times passes and hands their dumps to the hook.
struct Runner<'h, 'a> {
    hooks: &'h mut BackendHooks<'a>,
    timings: Vec<(&'static str, Duration)>,
}

impl Runner<'_, '_> {
    /// Run `pass`'s work, timed.
    fn time<T>(&mut self, pass: BackendPass, body: impl FnOnce() -> Result<T>) -> Result<T> {
        let t = Instant::now();
        let out = body()?;
        self.timings.push((pass.name(), t.elapsed()));
        Ok(out)
    }

    /// Hand `text` to the hook when `pass` is the one to dump.
    fn dump(&mut self, pass: BackendPass, text: impl FnOnce() -> String) {
        if self.hooks.dump_after == Some(pass)
            && let Some(cb) = self.hooks.on_dump.as_mut()
        {
            cb(pass.name(), &text());
        }
    }

    /// Verify the step after an IR-to-IR pass (when the hooks ask for it).
    fn verify(&self, pass: BackendPass, f: &Function) -> Result<()> {
        if self.hooks.verify {
            verify_function(f, &Default::default()).map_err(|source| PassError::Verify {
                pass: pass.name(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Run the back half on `step` for `opts.target` (see the module docs). A pass that
/// the options disable (`lower_attention`, `pack`) still dumps the step as it stands.
pub fn lower(
    step: &Function,
    opts: &ArtifactOptions,
    hooks: &mut BackendHooks<'_>,
) -> Result<Lowered> {
    let mut r = Runner {
        hooks,
        timings: Vec::new(),
    };
    let popts = &opts.partition;
    let mut f = step.clone();
    f.remove_dead();

    let pass = BackendPass::LowerAttention;
    if popts.lower_attention {
        r.time(pass, || Ok(lower_attention(&mut f)?))?;
        r.verify(pass, &f)?;
    }
    r.dump(pass, || print_function(&f));

    let pass = BackendPass::Pack;
    if popts.pack {
        r.time(pass, || Ok(pack_step(&mut f, popts.max_pack_elements)?))?;
        r.verify(pass, &f)?;
    }
    r.dump(pass, || print_function(&f));

    let pass = BackendPass::Partition;
    let mut program = r.time(pass, || {
        Ok(partition_prepared(&f, popts.library_moves, &opts.target)?)
    })?;
    r.dump(pass, || dump::program(&program));

    let pass = BackendPass::Codegen;
    let module = r.time(pass, || {
        let specs: Vec<KernelSpec> = program
            .kernels
            .iter()
            .map(|k| KernelSpec {
                name: k.name.clone(),
                func: &k.func,
            })
            .collect();
        compile_kernels(&specs, opts.target)
    })?;
    for k in &mut program.kernels {
        k.fingerprint = kernel_fingerprint(&k.func);
    }
    r.dump(pass, || module.mlir.clone());

    let pass = BackendPass::MemoryPlan;
    let code = kernel_code(&module);
    let scratch: Vec<_> = code.iter().map(|c| c.scratch.clone()).collect();
    program.attach_scratch(&scratch);
    let memory = r.time(pass, || Ok(plan_memory(&program, &opts.memplan)?))?;
    r.dump(pass, || dump::memory(&program, &memory));

    let pass = BackendPass::Assemble;
    let plan = r.time(pass, || {
        let target = PlanTarget {
            target: opts.target.name().to_string(),
            kernels: code,
        };
        let plan = assemble_plan(&program, &memory, &target);
        plan.validate().map_err(CodegenError::InvalidPlan)?;
        check_alignment(&plan)?;
        Ok(plan)
    })?;
    r.dump(pass, || plan.to_json());

    Ok(Lowered {
        program,
        module,
        memory,
        plan,
        timings: r.timings,
    })
}
