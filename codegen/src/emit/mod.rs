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

use crate::api::Launch;
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
    pub text: String,
    pub launch: Launch,
    pub math: BTreeSet<MathFn>,
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
        text: k.function_text(),
        launch: k.launch,
        math: k.math.clone(),
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
