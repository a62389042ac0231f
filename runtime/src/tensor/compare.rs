//! Closeness measures for tests: how far an optimized or GPU result is from the
//! interpreter's. Every measure returns `f64::INFINITY` when the shapes differ, when one
//! side is a float and the other is not, or when either side is NaN (a NaN is never close
//! to anything, not even another NaN, so a computation that went wrong on both sides
//! cannot pass), or when one side is infinite where the other is not. Equal infinities
//! count as equal.

use super::Tensor;

/// Element pairs as f64, or `None` when the tensors are not comparable.
fn pairs(a: &Tensor, b: &Tensor) -> Option<(Vec<f64>, Vec<f64>)> {
    if a.shape() != b.shape() || a.is_float() != b.is_float() {
        return None;
    }
    Some((a.to_f64_vec(), b.to_f64_vec()))
}

/// The difference of two elements: infinity when either is NaN or exactly one is
/// infinite (or the infinities differ in sign), 0 for equal infinities.
fn elem_diff(x: f64, y: f64) -> f64 {
    if x.is_finite() && y.is_finite() {
        return (x - y).abs();
    }
    // `inf == inf` holds and `NaN == NaN` does not: NaN is never equal.
    if x == y { 0.0 } else { f64::INFINITY }
}

/// `max |a_i - b_i|`.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    let Some((x, y)) = pairs(a, b) else {
        return f64::INFINITY;
    };
    x.iter()
        .zip(&y)
        .map(|(&p, &q)| elem_diff(p, q))
        .fold(0.0, f64::max)
}

/// Elementwise relative error `max |a_i - b_i| / max(|a_i|, |b_i|, 1e-30)`. Strict: an
/// element near zero that differs in absolute terms counts fully, so prefer
/// [`rel_l2_diff`] or [`check_close`] for results of long computations.
pub fn max_rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let Some((x, y)) = pairs(a, b) else {
        return f64::INFINITY;
    };
    x.iter()
        .zip(&y)
        .map(|(&p, &q)| {
            let d = elem_diff(p, q);
            if d == 0.0 || d.is_infinite() {
                d
            } else {
                d / p.abs().max(q.abs()).max(1e-30)
            }
        })
        .fold(0.0, f64::max)
}

/// Norm-based relative error `||a - b||_2 / max(||a||_2, ||b||_2, 1e-30)`: the usual
/// measure for comparing whole tensors computed in different orders or precisions.
pub fn rel_l2_diff(a: &Tensor, b: &Tensor) -> f64 {
    let Some((x, y)) = pairs(a, b) else {
        return f64::INFINITY;
    };
    let (mut num, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&p, &q) in x.iter().zip(&y) {
        let d = elem_diff(p, q);
        if d.is_infinite() {
            return f64::INFINITY;
        }
        num += d * d;
        if p.is_finite() {
            na += p * p;
            nb += q * q;
        }
    }
    num.sqrt() / na.sqrt().max(nb.sqrt()).max(1e-30)
}

/// Numpy's `allclose` rule `|a_i - b_i| <= atol + rtol * |b_i|` (`b` is the reference).
/// The error names the worst element (flat index, both values) so a failing test says
/// where it failed.
pub fn check_close(a: &Tensor, b: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    if a.shape() != b.shape() || a.is_float() != b.is_float() {
        return Err(format!(
            "cannot compare {} with {}",
            a.type_string(),
            b.type_string()
        ));
    }
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    let mut worst: Option<(usize, f64)> = None;
    let mut failures = 0usize;
    for (i, (&p, &q)) in x.iter().zip(&y).enumerate() {
        let d = elem_diff(p, q);
        let excess = d - (atol + rtol * q.abs());
        if excess > 0.0 || excess.is_nan() {
            failures += 1;
            if worst.is_none_or(|(_, w)| excess > w) {
                worst = Some((i, excess));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(format!(
            "{failures} of {} elements differ beyond rtol {rtol} atol {atol}; worst at flat index {i}: {} vs reference {}",
            x.len(),
            x[i],
            y[i]
        )),
    }
}
