//! Each [`Target`] answers the partitioner's question, "may this fused group be one
//! kernel of this class?", with its own planner: the kernel is verified, decomposed and
//! planned exactly as [`crate::compile_kernels`] would for that target (the CPU's wider
//! vector groups included), and every launch's code is emitted, so a kernel it accepts
//! compiles. There is no second list of rules to keep in step with codegen.

use crate::error::{CodegenError, Result};
use crate::target::Target;
use crate::{emit, plan_kernel};
use llc_ir::Function;
use llc_ir::plan::KernelClass;
use llc_passes::partition::{KernelTarget, Refusal};
use std::sync::Arc;

impl Target {
    /// The class `f` compiles as on this target, or why it does not compile (the message
    /// names the value and the rule it breaks).
    pub fn kernel_class(self, f: &Function) -> Result<KernelClass> {
        let flavor = self.flavor();
        let plan = plan_kernel(&f.name, f, flavor)?;
        for (i, stage) in plan.stages.iter().enumerate() {
            emit::emit_stage(stage, &format!("check_{i}"), &f.name, flavor)?;
        }
        Ok(plan.class)
    }
}

/// Whether a kernel the planner compiles as `planned` serves as the partitioner's
/// `wanted` class. An elementwise kernel must stay one launch over its elements (the
/// runtime updates buffers in place through it); row and reduction work may come out as
/// either, since the planner chooses launches by shape (long rows and row statistics
/// need reduction launches, a reduction of one short row is one row block), or as an
/// elementwise kernel when its rows have one element (a softmax over one position: a
/// prefill of one-token prompts).
fn serves(wanted: KernelClass, planned: KernelClass) -> bool {
    use KernelClass::*;
    match wanted {
        Elementwise => planned == Elementwise,
        Row | Reduction => matches!(planned, Row | Reduction | Elementwise),
        Scatter => planned == Scatter,
        Single => false,
    }
}

impl KernelTarget for Target {
    fn name(&self) -> &str {
        Target::name(*self)
    }

    fn check_kernel(&self, kernel: &Function, class: KernelClass) -> Result<(), Refusal> {
        let planned = self
            .kernel_class(kernel)
            .map_err(|e| Arc::new(e) as Refusal)?;
        if serves(class, planned) {
            return Ok(());
        }
        Err(Arc::new(CodegenError::Unsupported {
            kernel: kernel.name.clone(),
            msg: format!("it compiles as a {planned} kernel, not as a {class} kernel"),
        }))
    }
}
