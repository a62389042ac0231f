//! Random tensors for tests and numeric pass checks. Floats are drawn in f64 and rounded
//! to f32, so `t.to_precision(Precision::F64)` holds exactly the same numbers: an f32 run
//! and an f64 run can be fed identical inputs.

use super::{Tensor, TensorData};
use rand::Rng;
use rand_distr::StandardNormal;
use std::ops::Range;

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    /// f32 samples of a normal distribution with mean 0 and standard deviation `std`.
    pub fn random_normal(shape: impl Into<Vec<usize>>, std: f64, rng: &mut impl Rng) -> Tensor {
        let shape = shape.into();
        let data = (0..numel(&shape))
            .map(|_| (rng.sample::<f64, _>(StandardNormal) * std) as f32)
            .collect();
        Tensor::from_parts(shape, TensorData::F32(data))
    }

    /// f32 samples uniform in `[lo, hi)`.
    pub fn random_uniform(
        shape: impl Into<Vec<usize>>,
        lo: f64,
        hi: f64,
        rng: &mut impl Rng,
    ) -> Tensor {
        let shape = shape.into();
        let data = (0..numel(&shape))
            .map(|_| (lo + (hi - lo) * rng.random::<f64>()) as f32)
            .collect();
        Tensor::from_parts(shape, TensorData::F32(data))
    }

    /// i32 samples uniform in `range` (token ids, indices). An empty range gives every
    /// element `range.start` rather than failing, so a degenerate vocabulary of size 0 or 1
    /// still yields a valid tensor.
    pub fn random_ints(
        shape: impl Into<Vec<usize>>,
        range: Range<i32>,
        rng: &mut impl Rng,
    ) -> Tensor {
        let shape = shape.into();
        let n = numel(&shape);
        let data = if range.is_empty() {
            vec![range.start; n]
        } else {
            (0..n).map(|_| rng.random_range(range.clone())).collect()
        };
        Tensor::from_parts(shape, TensorData::I32(data))
    }

    /// Fair coin flips (masks).
    pub fn random_bools(shape: impl Into<Vec<usize>>, rng: &mut impl Rng) -> Tensor {
        let shape = shape.into();
        let data = (0..numel(&shape)).map(|_| rng.random_bool(0.5)).collect();
        Tensor::from_parts(shape, TensorData::Bool(data))
    }
}
