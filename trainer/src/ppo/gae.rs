//! Generalized advantage estimation over the response tokens of each sequence.

use super::stats::whiten;

/// Advantages and value targets, aligned with the rewards they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Gae {
    /// `A_t` (whitened by [`advantages_and_returns`], raw from [`gae`]).
    pub advantages: Vec<f64>,
    /// `A_t + V_t` with the raw advantages: the value head's targets.
    pub returns: Vec<f64>,
}

/// One sequence's GAE: `δ_t = r_t + γ V_next − V_t`, `A_t = δ_t + γλ A_next`, walking the
/// response positions backwards, where "next" is the following response position and
/// the value after the last one is 0 (the episode ends there); `returns = A + V`. Entries
/// outside the response are 0. With λ = 1 the advantage is the discounted reward-to-go
/// minus `V_t`; with λ = 0 it is `δ_t`.
///
/// Panics when the three slices differ in length (a caller bug).
pub fn gae(rewards: &[f64], values: &[f64], action_mask: &[f64], gamma: f64, lambda: f64) -> Gae {
    assert_eq!(rewards.len(), action_mask.len(), "rewards and mask differ");
    assert_eq!(values.len(), action_mask.len(), "values and mask differ");
    let n = action_mask.len();
    let (mut advantages, mut returns) = (vec![0.0; n], vec![0.0; n]);
    let (mut next_value, mut next_adv) = (0.0, 0.0);
    for t in (0..n).rev().filter(|&t| action_mask[t] != 0.0) {
        let delta = rewards[t] + gamma * next_value - values[t];
        let a = delta + gamma * lambda * next_adv;
        advantages[t] = a;
        returns[t] = a + values[t];
        (next_value, next_adv) = (values[t], a);
    }
    Gae {
        advantages,
        returns,
    }
}

/// A batch's loss inputs from its rewards and values (row-major `[B, T]`, `T = seq`):
/// each row's [`gae`], then the advantages whitened over every response token of the
/// batch (TRL), the returns left raw. `None` when the batch has fewer than two response
/// tokens (nothing to whiten over).
///
/// Panics when the lengths are not a multiple of `seq` or differ (a caller bug).
pub fn advantages_and_returns(
    rewards: &[f64],
    values: &[f64],
    action_mask: &[f64],
    seq: usize,
    gamma: f64,
    lambda: f64,
) -> Option<Gae> {
    assert!(
        seq > 0 && action_mask.len().is_multiple_of(seq),
        "mask is not [B, T]"
    );
    let mut raw = Gae {
        advantages: Vec::with_capacity(action_mask.len()),
        returns: Vec::with_capacity(action_mask.len()),
    };
    for row in 0..action_mask.len() / seq {
        let r = row * seq..(row + 1) * seq;
        let g = gae(
            &rewards[r.clone()],
            &values[r.clone()],
            &action_mask[r],
            gamma,
            lambda,
        );
        raw.advantages.extend(g.advantages);
        raw.returns.extend(g.returns);
    }
    Some(Gae {
        advantages: whiten(&raw.advantages, action_mask, true)?,
        returns: raw.returns,
    })
}
