//! Rejection sampling (Llama 2, §3.2.3): draw `K` completions per prompt from the policy
//! (batched decoding), score each with the reward model, keep the best as new SFT data.
//! Iterating (train on the kept samples, sample again with the new policy) is the paper's
//! loop; `llc-train rejection-sample` is one round of it.

use super::scorer::RewardScorer;
use crate::error::Result;
use crate::generate::{BatchOptions, Completion, KvModel, Sampler, SamplingConfig, generate_batch};

/// One prompt's draws with their rewards, in draw order.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptSamples {
    /// The prompt's token ids (BOS first, as fed to the policy).
    pub prompt: Vec<u32>,
    /// The `K` completions.
    pub completions: Vec<Completion>,
    /// The reward of `BOS prompt completion EOS` for each.
    pub rewards: Vec<f32>,
}

impl PromptSamples {
    /// Index of the highest-reward completion (the first of equals).
    pub fn best(&self) -> usize {
        let mut best = 0;
        for (i, &r) in self.rewards.iter().enumerate() {
            if r > self.rewards[best] {
                best = i;
            }
        }
        best
    }
}

/// Draws `k` completions of every prompt (`prompts[i]` starts with BOS and has no EOS)
/// and scores them. Completion `j` of prompt `i` draws with seed `seed + i*k + j`, so a
/// run is reproducible whatever the decoder's batch. `eos` ends a completion and closes
/// the scored sequence.
#[allow(clippy::too_many_arguments)]
pub fn sample_and_score(
    policy: &mut dyn KvModel,
    scorer: &mut RewardScorer,
    prompts: &[Vec<u32>],
    k: usize,
    opts: &BatchOptions,
    sampling: SamplingConfig,
    seed: u64,
    eos: u32,
) -> Result<Vec<PromptSamples>> {
    let jobs: Vec<(usize, usize)> = (0..prompts.len())
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .collect();
    let mut out: Vec<PromptSamples> = prompts
        .iter()
        .map(|p| PromptSamples {
            prompt: p.clone(),
            completions: Vec::with_capacity(k),
            rewards: Vec::with_capacity(k),
        })
        .collect();
    for chunk in jobs.chunks(policy.batch().max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|&(i, _)| prompts[i].clone()).collect();
        let mut samplers = chunk
            .iter()
            .map(|&(i, j)| Sampler::new(sampling, seed.wrapping_add((i * k + j) as u64)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let done = generate_batch(policy, &ids, opts, &mut samplers, |_, _| {
            Ok::<(), crate::generate::GenerateError>(())
        })?;
        for (&(i, _), c) in chunk.iter().zip(done) {
            out[i].completions.push(c);
        }
    }
    for ps in &mut out {
        let seqs: Vec<Vec<u32>> = ps
            .completions
            .iter()
            .map(|c| {
                let mut s = ps.prompt.clone();
                s.extend_from_slice(&c.tokens);
                s.push(eos);
                s
            })
            .collect();
        let rows: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        ps.rewards = scorer.score(&rows)?;
    }
    Ok(out)
}

/// The reward distribution of a round: what the paper's Figure 7 plots.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectionStats {
    /// Mean reward over every draw (the policy as it is).
    pub mean: f64,
    /// Mean over prompts of the best of the `K` draws (what is kept).
    pub best_of_k_mean: f64,
    /// `best_of_k_mean − mean`.
    pub gain: f64,
    /// Mean over prompts of the best of the first `n` draws, for `n` = 1, 2, 4, ... up to K.
    pub best_of_n: Vec<(usize, f64)>,
}

/// Summarizes `samples` (every prompt with the same number of draws).
pub fn rejection_stats(samples: &[PromptSamples]) -> RejectionStats {
    let k = samples.first().map_or(0, |s| s.rewards.len());
    let prompts = samples.len().max(1) as f64;
    let best_of = |n: usize| {
        samples
            .iter()
            .map(|s| {
                s.rewards[..n.min(s.rewards.len())]
                    .iter()
                    .fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64
            })
            .sum::<f64>()
            / prompts
    };
    let draws: usize = samples.iter().map(|s| s.rewards.len()).sum();
    let mean = samples
        .iter()
        .flat_map(|s| s.rewards.iter().map(|&r| r as f64))
        .sum::<f64>()
        / draws.max(1) as f64;
    let mut best_of_n = Vec::new();
    let mut n = 1;
    while n < k {
        best_of_n.push((n, best_of(n)));
        n *= 2;
    }
    if k > 0 {
        best_of_n.push((k, best_of(k)));
    }
    let best_of_k_mean = best_of(k);
    RejectionStats {
        mean,
        best_of_k_mean,
        gain: best_of_k_mean - mean,
        best_of_n,
    }
}
