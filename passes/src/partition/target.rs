//! The question the partitioner asks the machine it partitions for: *may this fused group
//! be one kernel of this class?* The answer comes from whoever compiles the kernel —
//! llc-codegen implements [`KernelTarget`] for each of its targets from the facts its own
//! planner uses — so what a kernel class may hold is defined once, where it is compiled.
//! The partitioner's fusion policy only proposes groups; the target disposes.

use llc_ir::Function;
use llc_ir::plan::KernelClass;
use std::sync::Arc;

/// Why a target refuses a kernel: the target's own error, kept whole (it can be
/// downcast to the target's error type), shared so [`crate::PassError`] stays `Clone`.
pub type Refusal = Arc<dyn std::error::Error + Send + Sync>;

/// A machine kernels are partitioned for: it says which fused groups it compiles as one
/// kernel. The partitioner asks before every fusion (a refused join leaves the node to a
/// kernel of its own) and once more for every finished kernel (a refused kernel is a
/// compile error naming it), so it only hands the target kernels the target accepted.
pub trait KernelTarget {
    /// The target's name, for errors (`sm_90`, `cpu`, `interpreter`).
    fn name(&self) -> &str;

    /// May `kernel` be one kernel of `class`? `kernel` is the group as a function: its
    /// arguments (role `input`) are the buffers it reads, its outputs the buffers it
    /// writes; constants and broadcasts it reads are cloned in. `class` is the strategy
    /// the partitioner intends (the runtime relies on it, e.g. an elementwise kernel
    /// may update a buffer in place).
    fn check_kernel(&self, kernel: &Function, class: KernelClass) -> Result<(), Refusal>;
}

/// The reference interpreter as a target: it runs any kernel function, so it accepts
/// every group the fusion policy proposes. For executing a partitioned program on the
/// interpreter (the plan executor's oracle) and for testing the partitioner without a
/// code generator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterpreterTarget;

impl KernelTarget for InterpreterTarget {
    fn name(&self) -> &str {
        "interpreter"
    }

    fn check_kernel(&self, _: &Function, _: KernelClass) -> Result<(), Refusal> {
        Ok(())
    }
}
