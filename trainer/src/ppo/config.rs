//! PPO's hyperparameters with the Llama 2 paper's values (§3.2.3), and TRL's where the
//! paper states none.

use llc_models::PpoLossOptions;

/// Every PPO hyperparameter. [`PpoConfig::default`] is what a user gets unless they
/// override it: the paper's values for 7B and 13B (β 0.01, clip 0.2, AdamW β1 0.9, β2
/// 0.95, eps 1e-5, weight decay 0.1, gradient clip 1.0, constant learning rate 1e-6,
/// batch 512, mini-batch 64, one gradient step per mini-batch), TRL's for what the paper
/// does not say (γ 1, λ 0.95, value clip 0.2, value coefficient 0.1).
#[derive(Clone, Debug, PartialEq)]
pub struct PpoConfig {
    /// β of the per-token KL penalty `−β (log π − log π_ref)`: 0.01 for 7B and 13B,
    /// 0.005 for 34B and 70B ([`llama2_kl_beta`]).
    pub kl_beta: f64,
    /// GAE discount γ (1: rewards are not discounted within a response).
    pub gamma: f64,
    /// GAE λ (0.95).
    pub lambda: f64,
    /// Whiten the reward model's scores over the batch before they enter the rewards
    /// (the paper's `WHITEN(LOGIT(R_c))`; on).
    pub whiten_scores: bool,
    /// The loss graph's clip ranges and value coefficient.
    pub loss: PpoLossOptions,
    /// Learning rate, constant (1e-6).
    pub lr: f64,
    /// AdamW β1 (0.9).
    pub beta1: f64,
    /// AdamW β2 (0.95).
    pub beta2: f64,
    /// AdamW epsilon (1e-5).
    pub eps: f64,
    /// Decoupled weight decay (0.1).
    pub weight_decay: f64,
    /// Global gradient-norm clip (1.0).
    pub clip_norm: f64,
    /// Rollouts per PPO iteration (512).
    pub batch_size: usize,
    /// Rollouts per gradient step (64): `batch_size / minibatch_size` steps per iteration.
    pub minibatch_size: usize,
    /// Passes over each iteration's rollouts (1: one gradient step per mini-batch).
    pub epochs: usize,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            kl_beta: 0.01,
            gamma: 1.0,
            lambda: 0.95,
            whiten_scores: true,
            loss: PpoLossOptions::default(),
            lr: 1e-6,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-5,
            weight_decay: 0.1,
            clip_norm: 1.0,
            batch_size: 512,
            minibatch_size: 64,
            epochs: 1,
        }
    }
}

impl PpoConfig {
    /// Checks that the sizes fit together: a rollout of at least 2 (scores are whitened
    /// over it) made of whole mini-batches, at least one epoch.
    pub fn validate(&self) -> crate::error::Result<()> {
        let (b, m) = (self.batch_size, self.minibatch_size);
        if m == 0 || b < 2 || !b.is_multiple_of(m) || self.epochs == 0 {
            return Err(crate::error::TrainerError::PpoOptions {
                msg: format!(
                    "the rollout batch ({b}) must be at least 2 and a multiple of the mini-batch ({m}), with at least one epoch ({})",
                    self.epochs
                ),
            });
        }
        Ok(())
    }
}

/// The paper's KL β for a model of `params` parameters: 0.01 for the 7B and 13B models,
/// 0.005 for 34B and 70B (the split is put at 20B, between the two groups).
pub fn llama2_kl_beta(params: u64) -> f64 {
    if params < 20_000_000_000 { 0.01 } else { 0.005 }
}
