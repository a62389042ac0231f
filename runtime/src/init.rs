//! Initial values for a function's persistent arguments: what a training run starts from
//! and what `llc-train run` evaluates.

use crate::tensor::{Precision, Tensor};
use llc_ir::{ArgRole, DType, Function, NodeId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Standard deviation of weight matrices (Llama / GPT-2 practice).
pub const INIT_STD: f64 = 0.02;

/// Number of transformer layers, read from parameter names `layers.N.…`.
pub fn count_layers(f: &Function) -> usize {
    f.args_with_role(ArgRole::Param)
        .iter()
        .filter_map(|&a| {
            let name = &f.node(a).name;
            name.strip_prefix("layers.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1)
}

/// The initial value of argument `id`, or `None` for data inputs:
/// - float params of rank >= 2: `N(0, 0.02)`, residual output projections (`…wo.weight`,
///   `…w2.weight`) scaled by `1/sqrt(2 L)` so the residual stream's variance does not grow
///   with depth;
/// - float params of rank < 2 (norm gains): ones;
/// - state (optimizer moments, the step counter): zeros.
///
/// Each argument draws from its own ChaCha8 stream keyed by its position, so the result is
/// reproducible from `seed` alone.
pub fn initial_value(f: &Function, id: NodeId, seed: u64, precision: Precision) -> Option<Tensor> {
    let node = f.node(id);
    let role = f.arg_role(id)?;
    let position = f.args().iter().position(|&a| a == id)?;
    match role {
        ArgRole::Input => None,
        ArgRole::State => Some(Tensor::zeros(&node.ty, precision)),
        ArgRole::Param if !node.ty.dtype.is_float() => Some(Tensor::zeros(&node.ty, precision)),
        ArgRole::Param if node.ty.rank() < 2 => Some(Tensor::full(&node.ty, 1.0, precision)),
        ArgRole::Param => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(position as u64);
            let residual = node.name.ends_with("wo.weight") || node.name.ends_with("w2.weight");
            let layers = count_layers(f).max(1) as f64;
            let std = if residual {
                INIT_STD / (2.0 * layers).sqrt()
            } else {
                INIT_STD
            };
            Some(
                Tensor::random_normal(node.ty.shape.clone(), std, &mut rng).to_precision(precision),
            )
        }
    }
}

/// Initial values for every argument (`None` for inputs), in argument order.
pub fn initial_state(f: &Function, seed: u64, precision: Precision) -> Vec<Option<Tensor>> {
    f.args()
        .iter()
        .map(|&a| initial_value(f, a, seed, precision))
        .collect()
}

/// The vocabulary size of a Llama function: rows of its token embedding, if it has one.
pub fn vocab_size(f: &Function) -> Option<usize> {
    let id = f.by_name("tok_embeddings.weight")?;
    (f.ty(id).dtype != DType::I32).then(|| f.ty(id).shape[0])
}
