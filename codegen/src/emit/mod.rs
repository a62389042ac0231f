//! Kernel emission: one launch of a plan becomes the text of one `gpu.func` (or, in the
//! CPU flavor, one `func.func`), and the kernels of a compilation become one module.

pub(crate) mod elementwise;
pub(crate) mod eval;
pub mod flavor;
pub(crate) mod kernel;
pub(crate) mod libdevice;
pub(crate) mod loops;
pub(crate) mod ops;
pub(crate) mod reduce;
pub(crate) mod row;
pub(crate) mod scatter;
pub(crate) mod shape;
pub(crate) mod text;

use crate::api::LaunchDims;
use crate::error::Result;
use crate::plan::{Stage, Strategy};
use crate::target::Target;
use flavor::Flavor;
use kernel::Kernel;
use libdevice::MathFn;
use std::collections::BTreeSet;

/// One emitted kernel function.
#[derive(Clone, Debug)]
pub(crate) struct KernelText {
    /// The entry's name.
    pub entry: String,
    pub text: String,
    pub launch: LaunchDims,
    pub math: BTreeSet<MathFn>,
    /// The MLIR types of the entry's buffer parameters, in order.
    pub params: Vec<String>,
}

/// Emit launch `stage` of kernel `kernel` as function `entry`.
pub(crate) fn emit_stage(
    stage: &Stage,
    entry: &str,
    kernel: &str,
    flavor: Flavor,
) -> Result<KernelText> {
    let width = match &stage.strategy {
        Strategy::Elementwise { width, .. } | Strategy::Row { width, .. } => *width,
        Strategy::Reduce(p) => p.width,
        Strategy::Scatter { width, .. } => *width,
    };
    let mut k = Kernel::new(
        &stage.func,
        flavor,
        entry.to_string(),
        kernel.to_string(),
        width,
    )?;
    match &stage.strategy {
        Strategy::Elementwise { n, width } => elementwise::emit(&mut k, *n, *width)?,
        Strategy::Row { rows, cols, width } => row::emit(&mut k, *rows, *cols, *width)?,
        Strategy::Reduce(p) => reduce::emit(&mut k, p)?,
        Strategy::Scatter { n, width } => scatter::emit(&mut k, *n, *width)?,
    }
    Ok(KernelText {
        entry: entry.to_string(),
        text: k.function_text(),
        launch: k.launch,
        math: k.math.clone(),
        params: k.params.iter().map(|p| p.mlir_type()).collect(),
    })
}

/// The module holding `kernels`: for the GPU a `gpu.module` targeting `target`, for the
/// CPU plain functions; with definitions of the math functions they use.
pub(crate) fn module_text(kernels: &[KernelText], flavor: Flavor, target: Target) -> String {
    let used: Vec<MathFn> = kernels
        .iter()
        .flat_map(|k| k.math.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let indent = |text: &str, n: usize| -> String {
        let pad = "  ".repeat(n);
        text.lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_string()
                } else {
                    format!("{pad}{l}\n")
                }
            })
            .collect()
    };
    match flavor {
        Flavor::Gpu => {
            let mut s = format!(
                "module attributes {{gpu.container_module}} {{\n  gpu.module @kernels [#nvvm.target<chip = \"{}\", O = 3>] {{\n",
                target.name()
            );
            s.push_str(&libdevice::definitions(&used, flavor, 2));
            for k in kernels {
                s.push_str(&indent(&k.text, 2));
            }
            s.push_str("  }\n}\n");
            s
        }
        Flavor::Cpu => {
            let mut s = "module {\n".to_string();
            s.push_str(&libdevice::definitions(&used, flavor, 1));
            for k in kernels {
                s.push_str(&indent(&k.text, 1));
            }
            s.push_str("}\n");
            s
        }
    }
}

/// The symbol a CPU runtime calls for `entry`: `void f(void **buffers, i64 lo, i64 hi)`
/// runs blocks `[lo, hi)` of the launch with `buffers[i]` as parameter `i`.
pub(crate) fn packed_name(entry: &str) -> String {
    format!("{entry}_packed")
}

/// The packed form of a lowered CPU entry with `params` buffer parameters (see
/// [`packed_name`]), as an `llvm.func` added to the module after lowering to the LLVM
/// dialect (where the entry takes bare pointers): it loads each buffer pointer from the
/// array and calls the entry.
pub(crate) fn packed_entry(entry: &str, params: usize) -> String {
    let mut body = String::new();
    let mut args = Vec::new();
    for i in 0..params {
        body.push_str(&format!(
            "  %a{i} = llvm.getelementptr %buffers[{i}] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr\n  %q{i} = llvm.load %a{i} : !llvm.ptr -> !llvm.ptr\n"
        ));
        args.push(format!("%q{i}"));
    }
    args.push("%lo".into());
    args.push("%hi".into());
    let mut tys = vec!["!llvm.ptr"; params];
    tys.push("i64");
    tys.push("i64");
    format!(
        "llvm.func @{}(%buffers: !llvm.ptr, %lo: i64, %hi: i64) {{\n{body}  llvm.call @{entry}({}) : ({}) -> ()\n  llvm.return\n}}\n",
        packed_name(entry),
        args.join(", "),
        tys.join(", ")
    )
}
