//! Masked statistics over a batch's response tokens.

/// `Σ m·x / max(Σ m, 1)`: the mean over the masked-in entries (0 when there are none), as
/// the loss graphs average (`masked_mean_loss` in llc-models).
///
/// Panics when `x` and `mask` differ in length (a caller bug).
pub fn masked_mean(x: &[f64], mask: &[f64]) -> f64 {
    assert_eq!(x.len(), mask.len(), "values and mask differ in length");
    let n: f64 = mask.iter().sum();
    let total: f64 = x.iter().zip(mask).map(|(x, m)| x * m).sum();
    total / n.max(1.0)
}

/// TRL's `masked_whiten`: `(x − mean) / sqrt(var + 1e-8)` with the mean and the unbiased
/// (Bessel-corrected) variance over the masked-in entries, so advantages (or scores) of
/// any scale reach the loss with mean 0 and standard deviation 1. With `shift_mean`
/// false the mean is added back (only the spread is normalized: TRL's option for
/// rewards). Entries outside the mask are 0. `None` when fewer than two entries are
/// masked in: their variance is undefined (TRL raises there too).
///
/// Panics when `x` and `mask` differ in length (a caller bug).
pub fn whiten(x: &[f64], mask: &[f64], shift_mean: bool) -> Option<Vec<f64>> {
    const EPS: f64 = 1e-8;
    let n: f64 = mask.iter().sum();
    if n < 2.0 {
        return None;
    }
    let mean = masked_mean(x, mask);
    let centered_sq: Vec<f64> = x.iter().map(|x| (x - mean) * (x - mean)).collect();
    let var = masked_mean(&centered_sq, mask) * n / (n - 1.0);
    let scale = 1.0 / (var + EPS).sqrt();
    let keep = if shift_mean { 0.0 } else { mean };
    Some(
        x.iter()
            .zip(mask)
            .map(|(x, m)| {
                if *m != 0.0 {
                    (x - mean) * scale + keep
                } else {
                    0.0
                }
            })
            .collect(),
    )
}
