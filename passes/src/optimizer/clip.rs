//! Global-norm gradient clipping (PyTorch `clip_grad_norm_` semantics): the L2 norm of
//! all gradients together, and the factor `min(1, clip / (norm + 1e-6))` every gradient
//! is multiplied by.

use llc_ir::{Builder, DType, NodeId, Result};

/// The small constant PyTorch adds to the norm before dividing.
pub const CLIP_NORM_EPS: f64 = 1e-6;

/// `sqrt(sum_i sum(g_i^2))` as a scalar of dtype `dt` (gradients of another dtype are
/// cast to `dt` first, so the sum is taken at least at that precision).
pub(crate) fn build_global_norm(
    b: &mut Builder<'_>,
    grads: &[NodeId],
    dt: DType,
) -> Result<NodeId> {
    let mut total: Option<NodeId> = None;
    for &g in grads {
        let g = if b.ty(g).dtype == dt {
            g
        } else {
            b.cast(g, dt)?
        };
        let sq = b.mul(g, g)?;
        let s = b.sum_all(sq)?;
        total = Some(match total {
            None => s,
            Some(t) => b.add(t, s)?,
        });
    }
    let total = match total {
        Some(t) => t,
        None => b.scalar(0.0, dt)?,
    };
    b.sqrt(total)
}

/// The clip factor `min(1, clip / (norm + 1e-6))` for the scalar `norm`.
pub(crate) fn build_clip_scale(b: &mut Builder<'_>, norm: NodeId, clip: f64) -> Result<NodeId> {
    let dt = b.ty(norm).dtype;
    let padded = b.add_scalar(norm, CLIP_NORM_EPS)?;
    let c = b.scalar(clip, dt)?;
    let ratio = b.div(c, padded)?;
    let one = b.scalar(1.0, dt)?;
    b.min(ratio, one)
}
