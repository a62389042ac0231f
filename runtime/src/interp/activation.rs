//! SwiGLU and softmax with their gradients.
//!
//! With `s = sigmoid(a)` and `y = a s b`: `da = dy b s (1 + a (1 - s))`, `db = dy a s`.
//! With `y = softmax(x)` over the last axis: `dx = y (dy - sum(y dy))`.

use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::interp::float::{Float, nan_max, sigmoid};
use crate::interp::parallel::{for_rows, map_index};
use crate::tensor::Tensor;

/// `silu(a) * b`.
pub(crate) fn swiglu<T: Float>(cx: &Ctx, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (av, bv) = (cx.floats::<T>(a, "a")?, cx.floats::<T>(b, "b")?);
    let out = map_index(av.len(), |i| av[i] * sigmoid(av[i]) * bv[i]);
    Ok(Tensor::from_parts(a.shape().to_vec(), T::wrap(out)))
}

/// d/da of `swiglu(a, b)` given `dy`.
pub(crate) fn swiglu_grad_a<T: Float>(
    cx: &Ctx,
    a: &Tensor,
    b: &Tensor,
    dy: &Tensor,
) -> Result<Tensor> {
    let av = cx.floats::<T>(a, "a")?;
    let bv = cx.floats::<T>(b, "b")?;
    let gv = cx.floats::<T>(dy, "dy")?;
    let out = map_index(av.len(), |i| {
        let s = sigmoid(av[i]);
        gv[i] * bv[i] * s * (T::ONE + av[i] * (T::ONE - s))
    });
    Ok(Tensor::from_parts(a.shape().to_vec(), T::wrap(out)))
}

/// d/db of `swiglu(a, b)` given `dy`.
pub(crate) fn swiglu_grad_b<T: Float>(cx: &Ctx, a: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let av = cx.floats::<T>(a, "a")?;
    let gv = cx.floats::<T>(dy, "dy")?;
    let out = map_index(av.len(), |i| gv[i] * av[i] * sigmoid(av[i]));
    Ok(Tensor::from_parts(a.shape().to_vec(), T::wrap(out)))
}

/// Numerically stable softmax of one row into `out` (the sum is taken in f64). A row of
/// `-inf` (fully masked) becomes NaN, as `exp(-inf - -inf)` is undefined.
pub(crate) fn softmax_row<T: Float>(x: &[T], out: &mut [T]) {
    let m = x.iter().fold(T::NEG_INFINITY, |a, &b| nan_max(a, b));
    let mut sum = 0.0f64;
    for (o, &v) in out.iter_mut().zip(x) {
        let e = (v - m).exp();
        *o = e;
        sum += e.to_f64();
    }
    let inv = 1.0 / sum;
    out.iter_mut()
        .for_each(|o| *o = T::from_f64(o.to_f64() * inv));
}

/// Softmax over the last axis.
pub(crate) fn softmax<T: Float>(cx: &Ctx, x: &Tensor) -> Result<Tensor> {
    let xs = cx.floats::<T>(x, "x")?;
    let d = *x.shape().last().expect("softmax input has rank >= 1");
    let mut out = vec![T::ZERO; xs.len()];
    for_rows(&mut out, d, |r, y| softmax_row(&xs[r * d..(r + 1) * d], y));
    Ok(Tensor::from_parts(x.shape().to_vec(), T::wrap(out)))
}

/// VJP of softmax over the last axis from its output `y` and upstream `dy`.
pub(crate) fn softmax_grad<T: Float>(cx: &Ctx, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let ys = cx.floats::<T>(y, "y")?;
    let gs = cx.floats::<T>(dy, "dy")?;
    let d = *y.shape().last().expect("softmax input has rank >= 1");
    let mut out = vec![T::ZERO; ys.len()];
    for_rows(&mut out, d, |r, dx| {
        let (yr, gr) = (&ys[r * d..(r + 1) * d], &gs[r * d..(r + 1) * d]);
        let dot: f64 = yr
            .iter()
            .zip(gr)
            .map(|(a, b)| a.to_f64() * b.to_f64())
            .sum();
        for j in 0..d {
            dx[j] = T::from_f64(yr[j].to_f64() * (gr[j].to_f64() - dot));
        }
    });
    Ok(Tensor::from_parts(y.shape().to_vec(), T::wrap(out)))
}
