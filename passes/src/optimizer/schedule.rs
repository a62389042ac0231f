//! The learning-rate schedule, built in-graph from the step counter: linear warmup to the
//! peak, then cosine decay to `min_lr_ratio * peak` at `total_steps`, constant after.
//!
//! With `t = completed steps + 1` (the step being taken, from 1), `W` warmup steps and
//! `T` total steps:
//! - `t <= W`: `lr = peak * t / W`;
//! - otherwise: `p = clamp((t - W) / (T - W), 0, 1)`,
//!   `lr = min + 0.5 * (peak - min) * (1 + cos(pi * p))` with `min = min_lr_ratio * peak`.
//!
//! Both branches give `peak` at `t = W`; with `W = 0` there is no warmup branch.

use super::OptimizerConfig;
use llc_ir::{Builder, CmpOp, DType, NodeId, Result};

/// The schedule as plain arithmetic, for logging and plotting (the graph computes the
/// same formula): the rate used by step `t` (1-based).
pub fn lr_at(cfg: &OptimizerConfig, t: f64) -> f64 {
    let (peak, w, total) = (cfg.lr, cfg.warmup_steps as f64, cfg.total_steps as f64);
    if cfg.warmup_steps > 0 && t <= w {
        return peak * t / w;
    }
    let min = cfg.min_lr_ratio * peak;
    let p = ((t - w) / (total - w)).clamp(0.0, 1.0);
    min + 0.5 * (peak - min) * (1.0 + (std::f64::consts::PI * p).cos())
}

/// Build `lr(t)` for the float scalar `t` (dtype `dt`).
pub(crate) fn build_lr(
    b: &mut Builder<'_>,
    cfg: &OptimizerConfig,
    t: NodeId,
    dt: DType,
) -> Result<NodeId> {
    let (peak, w, total) = (cfg.lr, cfg.warmup_steps as f64, cfg.total_steps as f64);
    let min = cfg.min_lr_ratio * peak;
    // cosine branch
    let since = b.add_scalar(t, -w)?;
    let progress = b.mul_scalar(since, 1.0 / (total - w))?;
    let zero = b.scalar(0.0, dt)?;
    let one = b.scalar(1.0, dt)?;
    let progress = b.max(progress, zero)?;
    let progress = b.min(progress, one)?;
    let progress = b.name(progress, "progress")?;
    let angle = b.mul_scalar(progress, std::f64::consts::PI)?;
    let cos = b.cos(angle)?;
    let one_plus = b.add(cos, one)?;
    let scaled = b.mul_scalar(one_plus, 0.5 * (peak - min))?;
    let cosine = b.add_scalar(scaled, min)?;
    let cosine = b.name(cosine, "cosine_lr")?;
    if cfg.warmup_steps == 0 {
        return Ok(cosine);
    }
    // warmup branch
    let warm = b.mul_scalar(t, peak / w)?;
    let warm = b.name(warm, "warmup_lr")?;
    let wk = b.scalar(w, dt)?;
    let in_warmup = b.compare(CmpOp::Le, t, wk)?;
    b.select(in_warmup, warm, cosine)
}
