//! Fresh random arguments for numeric pass tests: run a function before and after a pass
//! on the same random inputs and compare.

use crate::tensor::{Precision, Tensor};
use llc_ir::{ArgRole, DType, Function};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One random tensor per argument of `f`, in argument order, reproducible from `seed`:
///
/// - float params of rank >= 2: `N(0, 1/fan_in)` with `fan_in = shape[rank-2]` (the rows
///   of a weight used as `x @ W`), so activations stay of order 1 through deep graphs;
/// - float params of rank < 2 (norm gains): `1 + 0.1 N(0, 1)`;
/// - float state (optimizer moments, step counters): uniform in `[0, 1)`, never negative,
///   so `sqrt(v)` stays defined;
/// - float inputs: `N(0, 1)`;
/// - i32 (any role): uniform in `0..int_high` (all zeros when `int_high <= 0`);
/// - bool: fair coin flips.
///
/// Argument `i` draws from its own ChaCha8 stream (`seed`, stream `i`), so adding an
/// argument does not change the others. Floats are drawn in f64 and rounded to f32, so
/// the F32 and F64 sets for one seed hold the same numbers.
pub fn random_args(f: &Function, seed: u64, int_high: i32, precision: Precision) -> Vec<Tensor> {
    f.args()
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            let ty = f.ty(id);
            let shape = ty.shape.clone();
            let role = f.arg_role(id).unwrap_or(ArgRole::Input);
            let t = match ty.dtype {
                DType::I32 => Tensor::random_ints(shape, 0..int_high.max(0), &mut rng),
                DType::Bool => Tensor::random_bools(shape, &mut rng),
                _ => match role {
                    ArgRole::Param if shape.len() >= 2 => {
                        let fan_in = shape[shape.len() - 2].max(1) as f64;
                        Tensor::random_normal(shape, 1.0 / fan_in.sqrt(), &mut rng)
                    }
                    ArgRole::Param => {
                        let n = Tensor::random_normal(shape.clone(), 0.1, &mut rng);
                        let data = n.to_f32_vec().into_iter().map(|v| 1.0 + v).collect();
                        Tensor::from_f32(shape, data).expect("same shape as the sample")
                    }
                    ArgRole::State => Tensor::random_uniform(shape, 0.0, 1.0, &mut rng),
                    ArgRole::Input => Tensor::random_normal(shape, 1.0, &mut rng),
                },
            };
            t.to_precision(precision)
        })
        .collect()
}
