//! RMSNorm and its two gradients, row by row over the last axis. Per-row statistics and
//! the products that feed them are computed in f64.
//!
//! With `r = (mean(x^2) + eps)^(-1/2)` and `y_i = x_i r w_i`:
//! `dx_i = r w_i dy_i - x_i r^3 / D * sum_j dy_j w_j x_j` and
//! `dw_i = sum_rows dy_i x_i r`.

use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::interp::float::Float;
use crate::interp::parallel::{for_rows, map_heavy};
use crate::tensor::Tensor;

/// `(mean(x^2) + eps)^(-1/2)` of one row.
fn inv_rms<T: Float>(x: &[T], eps: f64) -> f64 {
    let ss: f64 = x.iter().map(|&v| v.to_f64() * v.to_f64()).sum();
    1.0 / (ss / x.len() as f64 + eps).sqrt()
}

/// `x * rsqrt(mean(x^2, -1) + eps) * w`.
pub(crate) fn rms_norm<T: Float>(cx: &Ctx, x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let xs = cx.floats::<T>(x, "x")?;
    let ws = cx.floats::<T>(w, "weight")?;
    let d = ws.len();
    let mut out = vec![T::ZERO; xs.len()];
    for_rows(&mut out, d, |r, y| {
        let xr = &xs[r * d..(r + 1) * d];
        let s = inv_rms(xr, eps);
        for ((o, &xv), &wv) in y.iter_mut().zip(xr).zip(ws) {
            *o = T::from_f64(xv.to_f64() * s * wv.to_f64());
        }
    });
    Ok(Tensor::from_parts(x.shape().to_vec(), T::wrap(out)))
}

/// d/dx of `rms_norm(x, w)` given `dy`.
pub(crate) fn rms_norm_grad_x<T: Float>(
    cx: &Ctx,
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let xs = cx.floats::<T>(x, "x")?;
    let ws = cx.floats::<T>(w, "weight")?;
    let gs = cx.floats::<T>(dy, "dy")?;
    let d = ws.len();
    let mut out = vec![T::ZERO; xs.len()];
    for_rows(&mut out, d, |r, dx| {
        let xr = &xs[r * d..(r + 1) * d];
        let gr = &gs[r * d..(r + 1) * d];
        let s = inv_rms(xr, eps);
        let dot: f64 = (0..d)
            .map(|j| gr[j].to_f64() * ws[j].to_f64() * xr[j].to_f64())
            .sum();
        let c = s * s * s * dot / d as f64;
        for j in 0..d {
            dx[j] = T::from_f64(s * ws[j].to_f64() * gr[j].to_f64() - xr[j].to_f64() * c);
        }
    });
    Ok(Tensor::from_parts(x.shape().to_vec(), T::wrap(out)))
}

/// d/dw of `rms_norm(x, w)` given `dy`, summed over all rows (in row order, in f64).
pub(crate) fn rms_norm_grad_w<T: Float>(
    cx: &Ctx,
    x: &Tensor,
    dy: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let xs = cx.floats::<T>(x, "x")?;
    let gs = cx.floats::<T>(dy, "dy")?;
    let d = *x.shape().last().expect("rms_norm input has rank >= 1");
    let rows = xs.len().checked_div(d).unwrap_or(0);
    let scale = map_heavy(rows, d, |r| inv_rms(&xs[r * d..(r + 1) * d], eps));
    let mut acc = vec![0.0f64; d];
    for (r, s) in scale.iter().enumerate() {
        for j in 0..d {
            acc[j] += gs[r * d + j].to_f64() * xs[r * d + j].to_f64() * s;
        }
    }
    let out: Vec<T> = acc.into_iter().map(T::from_f64).collect();
    Ok(Tensor::from_parts(vec![d], T::wrap(out)))
}
