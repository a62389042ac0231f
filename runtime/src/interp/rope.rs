//! Rotary position embedding of `x[B, T, H, hd]`: pair `(2i, 2i+1)` at position `t` turns
//! by `t * theta^(-2i/hd)` (the negative angle when `inverse`, which is also the VJP).
//! Angles, sines and cosines are computed in f64.

use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::interp::float::Float;
use crate::interp::parallel::for_rows;
use crate::tensor::Tensor;

/// Rotate `x` by the rotary angles.
pub(crate) fn rope<T: Float>(cx: &Ctx, x: &Tensor, theta: f64, inverse: bool) -> Result<Tensor> {
    let xs = cx.floats::<T>(x, "x")?;
    let s = x.shape();
    let (t_len, heads, hd) = (s[1], s[2], s[3]);
    let pairs = hd / 2;
    let sign = if inverse { -1.0 } else { 1.0 };
    // (cos, sin) per position and pair
    let table: Vec<(f64, f64)> = (0..t_len)
        .flat_map(|t| {
            (0..pairs).map(move |i| {
                let freq = theta.powf(-2.0 * i as f64 / hd as f64);
                let angle = sign * t as f64 * freq;
                (angle.cos(), angle.sin())
            })
        })
        .collect();
    let row = heads * hd;
    let mut out = vec![T::ZERO; xs.len()];
    for_rows(&mut out, row, |r, y| {
        let t = r % t_len;
        let xr = &xs[r * row..(r + 1) * row];
        let rot = &table[t * pairs..(t + 1) * pairs];
        for h in 0..heads {
            for (i, &(c, sn)) in rot.iter().enumerate() {
                let j = h * hd + 2 * i;
                let (a, b) = (xr[j].to_f64(), xr[j + 1].to_f64());
                y[j] = T::from_f64(a * c - b * sn);
                y[j + 1] = T::from_f64(a * sn + b * c);
            }
        }
    });
    Ok(Tensor::from_parts(s.to_vec(), T::wrap(out)))
}
