//! The AdamW update of one parameter (PyTorch `torch.optim.AdamW` semantics, decoupled
//! weight decay, bias correction):
//!
//! ```text
//! g' = g * clip_scale
//! m  = beta1 * m + (1 - beta1) * g'
//! v  = beta2 * v + (1 - beta2) * g'^2
//! p  = p * (1 - lr * weight_decay)                      (decayed parameters only)
//! p  = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```
//!
//! Every scalar coefficient is computed once per step (in [`StepScalars`]) and broadcast;
//! per element there are only the multiply-adds above.

use llc_ir::{Builder, NodeId, Result};

/// Per-step scalars shared by every parameter's update.
pub(crate) struct StepScalars {
    /// The clip factor, when clipping is on.
    pub clip_scale: Option<NodeId>,
    /// `lr / (1 - beta1^t)`.
    pub step_size: NodeId,
    /// `sqrt(1 - beta2^t)`.
    pub sqrt_bc2: NodeId,
    /// `1 - lr * weight_decay`.
    pub decay_factor: NodeId,
}

/// Constants of the update.
pub(crate) struct AdamConsts {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

/// The next values of one parameter and its two moments.
pub(crate) struct ParamUpdate {
    pub param: NodeId,
    pub m: NodeId,
    pub v: NodeId,
}

/// A scalar broadcast to the shape (and cast to the dtype) of `like`.
fn splat(b: &mut Builder<'_>, s: NodeId, like: NodeId) -> Result<NodeId> {
    let dt = b.ty(like).dtype;
    let s = if b.ty(s).dtype == dt {
        s
    } else {
        b.cast(s, dt)?
    };
    b.broadcast_like(s, like)
}

/// Build the update of parameter `p` with gradient `g` and moments `m`, `v`.
pub(crate) fn build_update(
    b: &mut Builder<'_>,
    k: &AdamConsts,
    s: &StepScalars,
    decay: bool,
    [p, g, m, v]: [NodeId; 4],
) -> Result<ParamUpdate> {
    let g = match s.clip_scale {
        Some(c) => {
            let c = splat(b, c, g)?;
            let g = b.mul(g, c)?;
            b.name(g, "clipped_grad")?
        }
        None => g,
    };
    let m_old = b.mul_scalar(m, k.beta1)?;
    let m_new = b.mul_scalar(g, 1.0 - k.beta1)?;
    let m_next = b.add(m_old, m_new)?;

    let v_old = b.mul_scalar(v, k.beta2)?;
    let g2 = b.mul(g, g)?;
    let v_new = b.mul_scalar(g2, 1.0 - k.beta2)?;
    let v_next = b.add(v_old, v_new)?;

    let root = b.sqrt(v_next)?;
    let sqrt_bc2 = splat(b, s.sqrt_bc2, v_next)?;
    let denom = b.div(root, sqrt_bc2)?;
    let denom = b.add_scalar(denom, k.eps)?;
    let denom = b.name(denom, "denom")?;
    let ratio = b.div(m_next, denom)?;
    let step_size = splat(b, s.step_size, ratio)?;
    let delta = b.mul(ratio, step_size)?;
    let delta = b.name(delta, "delta")?;

    let p = if decay {
        let f = splat(b, s.decay_factor, p)?;
        let p = b.mul(p, f)?;
        b.name(p, "decayed")?
    } else {
        p
    };
    let p_next = b.sub(p, delta)?;
    Ok(ParamUpdate {
        param: p_next,
        m: m_next,
        v: v_next,
    })
}
