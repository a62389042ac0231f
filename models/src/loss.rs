//! Token cross-entropy in primitive ops: a stable log-softmax, the target's log-probability
//! picked by a one-hot compare, and a (optionally masked) mean over tokens.

use llc_ir::{Builder, CmpOp, DType, NodeId, Result, TensorType};

/// Per-token negative log-likelihood `logsumexp(logits) - logits[target]` for
/// `logits[B, T, V]` and `targets: i32[B, T]`; returns `[B, T]`.
/// Targets outside `0..V` select nothing, so their nll is the full `logsumexp`
/// (the data loader is expected to keep ids in range).
pub(crate) fn token_nll(b: &mut Builder, logits: NodeId, targets: NodeId) -> Result<NodeId> {
    let s = b.shape(logits);
    let (bt, t, v) = (s[0], s[1], s[2]);
    let n = bt * t;
    let rows = b.reshape(logits, &[n, v])?;
    let m = b.reduce_max(rows, &[1], true)?;
    let m = b.broadcast(m, &[n, v])?;
    let z = b.sub(rows, m)?;
    let e = b.exp(z)?;
    let sum = b.reduce_sum(e, &[1], true)?;
    let lse = b.log(sum)?; // logsumexp(logits) - max, [n, 1]
    let class = b.iota(TensorType::new(DType::I32, [n, v]), 1)?;
    let tgt = b.reshape(targets, &[n, 1])?;
    let tgt = b.broadcast(tgt, &[n, v])?;
    let hit = b.compare(CmpOp::Eq, class, tgt)?;
    let zero = b.full_like(z, 0.0)?;
    let picked = b.select(hit, z, zero)?;
    let target_z = b.reduce_sum(picked, &[1], true)?; // logits[target] - max, [n, 1]
    let nll = b.sub(lse, target_z)?;
    b.reshape(nll, &[bt, t])
}

/// Mean of `nll[B, T]` over all tokens.
pub(crate) fn mean_loss(b: &mut Builder, nll: NodeId) -> Result<NodeId> {
    let n = b.ty(nll).numel();
    let total = b.sum_all(nll)?;
    b.mul_scalar(total, 1.0 / n as f64)
}

/// Masked mean `sum(mask * nll) / max(sum(mask), 1)`. With a 0/1 mask this
/// is the mean over the selected tokens; the `max(., 1)` keeps it well defined (0) when a
/// batch selects no token at all, and is a constant as far as the parameters are concerned,
/// so gradients are unaffected by it.
pub(crate) fn masked_mean_loss(b: &mut Builder, nll: NodeId, mask: NodeId) -> Result<NodeId> {
    let weighted = b.mul(nll, mask)?;
    let total = b.sum_all(weighted)?;
    let count = b.sum_all(mask)?;
    let one = b.full_like(count, 1.0)?;
    let count = b.max(count, one)?;
    let count = b.name(count, "token_count")?;
    b.div(total, count)
}

/// The reward model's binary ranking loss with a margin (Llama 2, §3.2.2),
/// `mean over pairs of −log σ(r_chosen − r_rejected − m)`, for `rewards: [2P]` (chosen
/// rows first, then the rejected ones in the same order) and `margin: [P]`. Written as the
/// stable softplus `−log σ(z) = max(−z, 0) + log(1 + exp(−|z|))`, finite for any `z`.
pub(crate) fn ranking_loss(b: &mut Builder, rewards: NodeId, margin: NodeId) -> Result<NodeId> {
    let pairs = b.shape(rewards)[0] / 2;
    let chosen = b.slice(rewards, 0, 0, pairs)?;
    let rejected = b.slice(rewards, 0, pairs, 2 * pairs)?;
    let gap = b.sub(chosen, rejected)?;
    let z = b.sub(gap, margin)?;
    let z = b.name(z, "z")?;
    let neg = b.neg(z)?;
    let abs = b.max(z, neg)?;
    let zero = b.full_like(z, 0.0)?;
    let relu = b.max(neg, zero)?;
    let neg_abs = b.neg(abs)?;
    let e = b.exp(neg_abs)?;
    let one_plus = b.add_scalar(e, 1.0)?;
    let log1p = b.log(one_plus)?;
    let per_pair = b.add(relu, log1p)?;
    let total = b.sum_all(per_pair)?;
    b.mul_scalar(total, 1.0 / pairs as f64)
}

/// Entropy of each next-token distribution, `H = logsumexp(z) − Σ softmax(z)·z` per row of
/// `logits[B, T, V]` with `z = logits − max` (the shift cancels, so it is exact and stable);
/// returns `[B, T]`, between 0 and `ln V`. PPO logs it to watch the policy collapse.
pub(crate) fn token_entropy(b: &mut Builder, logits: NodeId) -> Result<NodeId> {
    let s = b.shape(logits);
    let (bt, t, v) = (s[0], s[1], s[2]);
    let n = bt * t;
    let rows = b.reshape(logits, &[n, v])?;
    let m = b.reduce_max(rows, &[1], true)?;
    let m = b.broadcast(m, &[n, v])?;
    let z = b.sub(rows, m)?;
    let e = b.exp(z)?;
    let sum = b.reduce_sum(e, &[1], true)?; // [n, 1]
    let lse = b.log(sum)?;
    let ez = b.mul(e, z)?;
    let ez = b.reduce_sum(ez, &[1], true)?;
    let mean_z = b.div(ez, sum)?; // Σ p·z
    let h = b.sub(lse, mean_z)?;
    b.reshape(h, &[bt, t])
}
