//! The CPU reference interpreter: the semantics of every op, and the oracle that every
//! pass, the GPU backend and the autodiff are checked against.
//!
//! Numerics, in one place:
//! - Every float value (whatever its IR float dtype) is computed and stored in the run's
//!   [`Precision`]; only `cast` to bf16/f16 rounds, to that format and back.
//! - Reductions, norms, softmax, cross-entropy and scatter-add accumulate in f64; matmul
//!   and attention use matrixmultiply's GEMM in the working precision.
//! - Work is split only over independent outputs, so results are bit-identical for any
//!   number of threads.
//! - `max`/`min`/`reduce_max` propagate NaN; integer arithmetic wraps; integer division
//!   truncates and fails on zero.
//!
//! Nodes run in [`llc_ir::Function::topo_order`]; each intermediate is freed after its last
//! user, and nodes no result depends on are skipped (except when tracing).

mod activation;
mod attention;
mod collective;
mod cross_entropy;
mod ctx;
mod elementwise;
mod eval;
mod exec;
mod float;
mod index;
mod layout;
mod matmul;
mod norm;
mod parallel;
mod random_args;
mod reduce;
mod rope;

pub use crate::tensor::Precision;
pub use random_args::random_args;

use crate::comm::{Communicator, SingleRank};
use crate::error::Result;
use crate::tensor::Tensor;
use llc_ir::Function;

/// Run `f` on `args` (in `Function::args()` order) and return its results (in
/// `Function::outputs()` order). The function is verified first; each argument must
/// have its declared shape and element kind (any float precision is accepted for float
/// arguments and converted).
/// Collectives (`all_reduce`) run on a single rank, where they are the identity; see
/// [`run_function_with`].
pub fn run_function(f: &Function, args: &[Tensor], precision: Precision) -> Result<Vec<Tensor>> {
    run_function_with(f, args, precision, &SingleRank::new())
}

/// [`run_function`] with collectives through `comm` (one rank of a data-parallel group:
/// every rank must run the same function).
pub fn run_function_with(
    f: &Function,
    args: &[Tensor],
    precision: Precision,
    comm: &dyn Communicator,
) -> Result<Vec<Tensor>> {
    Ok(exec::execute(f, args, precision, false, comm)?.outputs)
}

/// The results of a run together with every value it computed, for debugging.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The function's results, in output order.
    pub outputs: Vec<Tensor>,
    /// Every value (arguments included) by name, in execution order.
    pub values: Vec<(String, Tensor)>,
}

impl Trace {
    /// The value named `name` (without the `%`).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Like [`run_function`], but computes every node (dead ones too) and keeps every value.
/// Uses memory for all intermediates at once: meant for small graphs and debugging.
pub fn run_function_traced(f: &Function, args: &[Tensor], precision: Precision) -> Result<Trace> {
    let e = exec::execute(f, args, precision, true, &SingleRank::new())?;
    Ok(Trace {
        outputs: e.outputs,
        values: e.trace,
    })
}
