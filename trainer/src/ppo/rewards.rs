//! Per-token rewards: the KL penalty against the reference policy on every response
//! token, the reward model's score on the last one (Llama 2 §3.2.3, TRL).

use super::stats::whiten;

/// The last position whose target is a response token (where the score is paid), if any.
pub fn last_response_position(action_mask: &[f64]) -> Option<usize> {
    action_mask.iter().rposition(|m| *m != 0.0)
}

/// One sequence's rewards: `r_t = −β (logprobs_t − ref_logprobs_t)` on response
/// positions (the sampled-token estimate of the KL to the reference policy, which keeps
/// the policy near it and the reward model in its domain), plus `score` at the last
/// response position; 0 elsewhere. A sequence with no response token gets no reward.
///
/// Panics when the three slices differ in length (a caller bug).
pub fn kl_penalized_rewards(
    logprobs: &[f64],
    ref_logprobs: &[f64],
    action_mask: &[f64],
    score: f64,
    beta: f64,
) -> Vec<f64> {
    assert_eq!(
        logprobs.len(),
        action_mask.len(),
        "logprobs and mask differ"
    );
    assert_eq!(
        ref_logprobs.len(),
        action_mask.len(),
        "ref logprobs and mask differ"
    );
    let mut r: Vec<f64> = (0..action_mask.len())
        .map(|t| {
            if action_mask[t] != 0.0 {
                -beta * (logprobs[t] - ref_logprobs[t])
            } else {
                0.0
            }
        })
        .collect();
    if let Some(last) = last_response_position(action_mask) {
        r[last] += score;
    }
    r
}

/// The rewards of a batch, row-major `[B, T]` with `T = seq`, one score per row: each row
/// as [`kl_penalized_rewards`], the scores whitened over the batch first when
/// `whiten_scores` is set (the paper's `WHITEN(LOGIT(R_c))`). `None` when whitening is
/// asked for fewer than two scores.
///
/// Panics when the lengths disagree with `seq` and the number of scores (a caller bug).
pub fn batch_rewards(
    logprobs: &[f64],
    ref_logprobs: &[f64],
    action_mask: &[f64],
    scores: &[f64],
    seq: usize,
    beta: f64,
    whiten_scores: bool,
) -> Option<Vec<f64>> {
    assert_eq!(action_mask.len(), scores.len() * seq, "mask is not [B, T]");
    let scores = if whiten_scores {
        whiten(scores, &vec![1.0; scores.len()], true)?
    } else {
        scores.to_vec()
    };
    let mut out = Vec::with_capacity(action_mask.len());
    for (b, score) in scores.iter().enumerate() {
        let row = b * seq..(b + 1) * seq;
        out.extend(kl_penalized_rewards(
            &logprobs[row.clone()],
            &ref_logprobs[row.clone()],
            &action_mask[row],
            *score,
            beta,
        ));
    }
    Some(out)
}
