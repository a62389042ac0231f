//! Per-row cross-entropy from logits and i32 targets, and its gradient. Each row's
//! log-sum-exp is computed stably (max subtracted); `exp` runs in the working precision
//! (it dominates the cost at a 32000-word vocabulary) and the sum in f64.
//!
//! `nll = logsumexp(x) - x[t]`, `dx_j = (softmax(x)_j - [j == t]) * dnll`.

use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::interp::float::{Float, nan_max};
use crate::interp::parallel::{for_rows, map_heavy};
use crate::tensor::Tensor;

/// `(max, sum exp(x - max))` of one row.
fn row_stats<T: Float>(x: &[T]) -> (T, f64) {
    let m = x.iter().fold(T::NEG_INFINITY, |a, &b| nan_max(a, b));
    let s = x.iter().map(|&v| (v - m).exp().to_f64()).sum();
    (m, s)
}

/// Per-row negative log-likelihood of `targets` under `softmax(logits)`.
pub(crate) fn cross_entropy<T: Float>(
    cx: &Ctx,
    logits: &Tensor,
    targets: &Tensor,
) -> Result<Tensor> {
    let xs = cx.floats::<T>(logits, "logits")?;
    let v = *logits.shape().last().expect("logits have rank >= 1");
    cx.check_indices(targets, v)?;
    let ts = cx.ints(targets, "targets")?;
    let out = map_heavy(ts.len(), v, |r| {
        let row = &xs[r * v..(r + 1) * v];
        let (m, s) = row_stats(row);
        T::from_f64(m.to_f64() + s.ln() - row[ts[r] as usize].to_f64())
    });
    Ok(Tensor::from_parts(targets.shape().to_vec(), T::wrap(out)))
}

/// d/dlogits of `cross_entropy(logits, targets)` given the per-row gradient `dnll`.
pub(crate) fn cross_entropy_grad<T: Float>(
    cx: &Ctx,
    logits: &Tensor,
    targets: &Tensor,
    dnll: &Tensor,
) -> Result<Tensor> {
    let xs = cx.floats::<T>(logits, "logits")?;
    let gs = cx.floats::<T>(dnll, "dnll")?;
    let v = *logits.shape().last().expect("logits have rank >= 1");
    cx.check_indices(targets, v)?;
    let ts = cx.ints(targets, "targets")?;
    let mut out = vec![T::ZERO; xs.len()];
    for_rows(&mut out, v, |r, dx| {
        let row = &xs[r * v..(r + 1) * v];
        let (m, s) = row_stats(row);
        let g = gs[r].to_f64();
        let inv = 1.0 / s;
        for (j, (o, &x)) in dx.iter_mut().zip(row).enumerate() {
            let p = (x - m).exp().to_f64() * inv;
            let onehot = if j == ts[r] as usize { 1.0 } else { 0.0 };
            *o = T::from_f64((p - onehot) * g);
        }
    });
    Ok(Tensor::from_parts(logits.shape().to_vec(), T::wrap(out)))
}
