//! The PPO objective (Llama 2 §3.2.3, with TRL's `PPOTrainer` loss): the clipped surrogate
//! of the policy plus the clipped value loss, over the response tokens of a rollout batch.
//! Everything about the rollout (old log-probs, advantages, returns, old values) is an
//! input computed on the host (`llc_runtime::ppo`); the graph holds only what is
//! differentiated.

use crate::loss::masked_mean_loss;
use llc_ir::{Builder, NodeId, Result};

/// The PPO loss's constants. Defaults: clip 0.2 (Llama 2 §3.2.3 and TRL), value clip 0.2
/// and value coefficient 0.1 (TRL's `PPOConfig`, which the paper does not state).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PpoLossOptions {
    /// `ε`: the probability ratio is clipped to `[1 − ε, 1 + ε]`.
    pub clip: f64,
    /// `ε_v`: the value prediction is clipped to `old_value ± ε_v`.
    pub value_clip: f64,
    /// Weight of the value loss in `loss = pg_loss + vf_coef · vf_loss`.
    pub vf_coef: f64,
}

impl Default for PpoLossOptions {
    fn default() -> Self {
        PpoLossOptions {
            clip: 0.2,
            value_clip: 0.2,
            vf_coef: 0.1,
        }
    }
}

/// The rollout's per-token inputs to the loss, all `[B, T]`.
pub(crate) struct Rollout {
    /// 1 where the position's target is a response token, else 0.
    pub action_mask: NodeId,
    pub old_logprobs: NodeId,
    pub advantages: NodeId,
    pub returns: NodeId,
    pub old_values: NodeId,
}

/// `min(max(x, lo), hi)` elementwise, `lo` and `hi` of `x`'s type.
fn clip(b: &mut Builder, x: NodeId, lo: NodeId, hi: NodeId) -> Result<NodeId> {
    let up = b.max(x, lo)?;
    b.min(up, hi)
}

/// `pg_loss + vf_coef · vf_loss` from the current `logprobs` and `values` (`[B, T]`):
/// `ratio = exp(logp − old_logp)`,
/// `pg = masked_mean(max(−A·ratio, −A·clip(ratio, 1−ε, 1+ε)))`,
/// `vf = 0.5·masked_mean(max((V−R)², (clip(V, V_old−ε_v, V_old+ε_v) − R)²))`,
/// both means over `action_mask` (as the masked LM loss: 0 when nothing is selected).
pub(crate) fn ppo_loss(
    b: &mut Builder,
    logprobs: NodeId,
    values: NodeId,
    r: &Rollout,
    opts: &PpoLossOptions,
) -> Result<NodeId> {
    b.push_scope("pg");
    let diff = b.sub(logprobs, r.old_logprobs)?;
    let ratio = b.exp(diff)?;
    let ratio = b.name(ratio, "ratio")?;
    let lo = b.full_like(ratio, 1.0 - opts.clip)?;
    let hi = b.full_like(ratio, 1.0 + opts.clip)?;
    let clipped = clip(b, ratio, lo, hi)?;
    let neg_adv = b.neg(r.advantages)?;
    let unclipped_loss = b.mul(neg_adv, ratio)?;
    let clipped_loss = b.mul(neg_adv, clipped)?;
    let per_token = b.max(unclipped_loss, clipped_loss)?;
    let pg = masked_mean_loss(b, per_token, r.action_mask)?;
    b.pop_scope();
    let pg = b.name(pg, "pg_loss")?;

    b.push_scope("vf");
    let lo = b.add_scalar(r.old_values, -opts.value_clip)?;
    let hi = b.add_scalar(r.old_values, opts.value_clip)?;
    let v_clipped = clip(b, values, lo, hi)?;
    let d = b.sub(values, r.returns)?;
    let sq = b.mul(d, d)?;
    let dc = b.sub(v_clipped, r.returns)?;
    let sq_clipped = b.mul(dc, dc)?;
    let per_token = b.max(sq, sq_clipped)?;
    let vf = masked_mean_loss(b, per_token, r.action_mask)?;
    let vf = b.mul_scalar(vf, 0.5)?;
    b.pop_scope();
    let vf = b.name(vf, "vf_loss")?;

    let weighted = b.mul_scalar(vf, opts.vf_coef)?;
    b.add(pg, weighted)
}
