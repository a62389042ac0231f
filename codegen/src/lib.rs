//! llc-codegen: kernels of a partitioned training step, through MLIR (melior), to PTX.
//!
//! The partitioner hands over each kernel as an [`llc_ir::Function`] (arguments: the
//! buffers it reads; outputs: the buffers it writes; static shapes). [`compile_kernels`]
//! emits every *distinct* kernel once (dedupe by [`kernel_fingerprint`]'s canonical form,
//! so 80 identical layers share one set of kernels) as a `gpu.func` in the `arith`,
//! `math`, `memref`, `vector`, `scf` and `gpu` dialects, puts them all in one
//! `gpu.module`, lowers it with one pass pipeline to NVVM and PTX for the chosen
//! [`Target`], and says for each spec which entries to launch, how, and with which
//! buffers. Math functions are our own NVVM-intrinsic definitions (see
//! `emit::libdevice` for their accuracy), so no CUDA toolkit is needed.
//!
//! # Kernel classes ([`Target::kernel_class`] checks these rules and says which one applies)
//!
//! First every fused op except `rope` is rewritten into primitive ops (`decompose`):
//! `rms_norm` and `softmax` and the rest become elementwise ops plus reductions over the
//! last axis. Ops allowed in a kernel: arguments (role `input`), `full`, `iota`, unary,
//! binary, compare, `select`, `cast`, `reduce_sum`/`reduce_max` over any axes, the fused
//! ops above, `rope`, and data movement: `broadcast`, `reshape`, `transpose`, `slice`,
//! `concat` (the operand holding each element is chosen statically where the index math
//! allows, else by `scf.if`), `gather` (the loaded row index becomes a variable of the
//! index math, clamped to the table). Dtypes: f32, bf16 and f16 (stored in 16 bits,
//! computed in f32; like the interpreter, only a cast rounds to them), i32 and bool
//! (stored as one byte). Every value is addressed by its linear index, each op mapping
//! its result's index to its operands' (`crate::index`), so data movement may appear
//! anywhere in a kernel. Then, going back from the outputs to the first reductions met:
//!
//! 1. **Elementwise** — no reductions; all outputs have the same element count `N`.
//!    A grid-stride loop over `N`, 4 elements per thread step (one 16-byte vector load or
//!    store wherever the index math proves it contiguous and aligned) when `N % 4 == 0`.
//!    Multiple outputs (AdamW writes `p`, `m`, `v`) are computed in one loop.
//! 2. **Row** — every such reduction is over a trailing run of axes with the same row
//!    count `R` and row length `C` (so `reduce_*` over `[last]`, or over all axes with
//!    `R = 1`); every output has `R·C` elements or `R`. One block per row; reductions
//!    nested inside them with the same `(R, C)` (softmax's max then sum) are earlier passes
//!    over the row; block reductions use `gpu.all_reduce` (warp shuffles plus shared
//!    memory). A reduction's result may only be read in its own row.
//! 3. **Reduction** — the reductions share one operand shape and axis set that is not a
//!    row (`[N, D] → [D]`, leading axes), or are a row reduction over few, long rows
//!    whose outputs are per row (a sum to a scalar); every output has as many elements
//!    as the reduction result. One block per output, or per 32 outputs when the kept axes
//!    are the trailing ones (coalesced column sums); with fewer than 256 blocks, the
//!    reduced elements are split over more blocks writing partials that a second launch
//!    combines. A reduction nested in another of a different shape (the row statistics
//!    inside `rms_norm_grad_w`, per-row losses summed to the loss) is computed by an
//!    earlier launch into a scratch buffer.
//!
//! 4. **Scatter** — `scatter_add` as the only output: one launch zeroes the result, a
//!    grid-stride launch over the update elements adds each into its row atomically
//!    (f32 or i32; the order of colliding adds is not fixed).
//!
//! Outputs whose top reductions differ (a row-kernel output next to a column sum) are
//! rejected: the partitioner splits them. `matmul` (a GEMM call), `attention*` (GEMMs
//! plus softmax rows, split by the partitioner) and f64 are rejected, with a message
//! naming the value. Data movement runs as elementwise kernels: reads through a
//! transpose that moves the innermost axis are correct but uncoalesced (no shared-memory
//! tiling yet).
//!
//! # Buffers
//!
//! Kernel parameters are bare device pointers (`use-bare-ptr-memref-call-conv`) to dense
//! row-major buffers, at least 16-byte aligned. An output may share its buffer with an
//! input that it reads only at its own element (in-place AdamW); not through `rope`
//! (which reads each element's pair partner) or other data movement.
//!
//! The same kernels can be emitted for the CPU ([`cpu`]), which runs them through MLIR's
//! execution engine to check the index math and arithmetic on a machine without a GPU.

#![warn(missing_docs)]

mod api;
pub mod artifact;
pub mod backend;
pub mod cpu;
mod decompose;
pub mod driver;
mod emit;
mod error;
mod fingerprint;
mod index;
mod kernel_target;
mod mlir;
pub mod native;
mod plan;
pub mod ptxas;
mod target;

pub use api::{
    CompiledKernel, CompiledModule, KernelClass, KernelLaunch, KernelSpec, LaunchDims, ParamRef,
};
pub use artifact::{ArtifactOptions, ArtifactReport, build_artifact, write_artifact};
pub use backend::{BackendHooks, BackendPass, Lowered, lower};
pub use emit::flavor::Flavor;
pub use error::{CodegenError, Result};
pub use fingerprint::kernel_fingerprint;
pub use target::Target;

use emit::{KernelText, emit_stage, module_text};
use fingerprint::Canonical;
use llc_ir::Function;
use plan::Plan;
use std::collections::{HashMap, HashSet};

/// Verify, decompose and plan one kernel.
fn plan_kernel(name: &str, f: &Function, flavor: Flavor) -> Result<Plan> {
    llc_ir::verify_function(f, &Default::default()).map_err(|source| CodegenError::InvalidIr {
        kernel: name.to_string(),
        source,
    })?;
    let d = decompose::decompose(f)?;
    plan::plan(name, &d, flavor.lanes())
}

/// Valid, unused MLIR symbols for the `stages` launches of a kernel named `name`:
/// `name` itself for one launch, `name_0`, `name_1`, … for several (with a suffix added
/// to `name` until all are free). Marks them taken.
fn entry_names(name: &str, stages: usize, taken: &mut HashSet<String>) -> Vec<String> {
    let mut base: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        base = format!("k_{base}");
    }
    let names = |b: &str| -> Vec<String> {
        if stages == 1 {
            vec![b.to_string()]
        } else {
            (0..stages).map(|i| format!("{b}_{i}")).collect()
        }
    };
    let mut cand = base.clone();
    let mut n = 1;
    while names(&cand).iter().any(|e| taken.contains(e)) {
        cand = format!("{base}_{n}");
        n += 1;
    }
    let out = names(&cand);
    taken.extend(out.iter().cloned());
    out
}

/// The launches (entries, texts) of one distinct kernel, in `flavor`.
fn emit_kernel(
    name: &str,
    plan: &Plan,
    flavor: Flavor,
    taken: &mut HashSet<String>,
) -> Result<(CompiledKernel, Vec<KernelText>)> {
    let entries = entry_names(name, plan.stages.len(), taken);
    let mut launches = Vec::new();
    let mut texts = Vec::new();
    for (stage, entry) in plan.stages.iter().zip(entries) {
        let kt = emit_stage(stage, &entry, name, flavor)?;
        launches.push(KernelLaunch {
            entry,
            launch: kt.launch,
            params: stage.params.clone(),
        });
        texts.push(kt);
    }
    Ok((
        CompiledKernel {
            name: name.to_string(),
            class: plan.class,
            launches,
            scratch: plan.scratch.clone(),
        },
        texts,
    ))
}

/// Compile `kernels` for `target`: all distinct kernels in one `gpu.module`, one pass
/// pipeline run, one PTX text. Identical kernels (same [`kernel_fingerprint`] canonical
/// form) share their entries.
pub fn compile_kernels(kernels: &[KernelSpec], target: Target) -> Result<CompiledModule> {
    let flavor = target.flavor();
    if kernels.is_empty() && flavor == Flavor::Gpu {
        return Ok(CompiledModule {
            target,
            ptx: String::new(),
            native: None,
            mlir: String::new(),
            kernels: Vec::new(),
            entries: 0,
        });
    }
    let mut distinct: HashMap<Canonical, CompiledKernel> = HashMap::new();
    let mut taken = HashSet::new();
    let mut texts = Vec::new();
    let mut out = Vec::new();
    for spec in kernels {
        let canon = fingerprint::canonical(spec.func);
        if let Some(k) = distinct.get(&canon) {
            out.push(CompiledKernel {
                name: spec.name.clone(),
                ..k.clone()
            });
            continue;
        }
        let plan = plan_kernel(&spec.name, spec.func, flavor)?;
        let (k, t) = emit_kernel(&spec.name, &plan, flavor, &mut taken)?;
        texts.extend(t);
        distinct.insert(canon, k.clone());
        out.push(k);
    }
    let entries = texts.len();
    let text = module_text(&texts, flavor, target);
    if flavor == Flavor::Cpu {
        let packed: Vec<(String, usize)> = texts
            .iter()
            .map(|t| (t.entry.clone(), t.params.len()))
            .collect();
        let native = native::compile(&text, &packed, target)?;
        return Ok(CompiledModule {
            target,
            ptx: String::new(),
            native: Some(native),
            mlir: text,
            kernels: out,
            entries,
        });
    }
    mlir::with_context(|ctx| {
        let mut module = mlir::parse(ctx, &text)?;
        let printed = module.as_operation().to_string();
        mlir::run_pipeline(ctx, &mut module, mlir::GPU_PIPELINE)?;
        let ptx = mlir::extract_ptx(&module)?;
        Ok(CompiledModule {
            target,
            ptx,
            native: None,
            mlir: printed,
            kernels: out,
            entries,
        })
    })
}
