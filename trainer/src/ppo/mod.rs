//! The host side of PPO (Llama 2 §3.2.3, following TRL's `PPOTrainer`): what turns a
//! rollout (the policy's and the reference policy's log-probs, the value head's values,
//! the reward model's scores) into the inputs of the PPO loss graph
//! (`llc_models::ForwardOutput::PpoLoss`): per-token KL-penalized rewards, GAE advantages
//! and returns, whitening. Pure functions over `f64`, row-major `[B, T]` data whose
//! position `t` is about the prediction of token `t + 1` (the graphs' layout), with a 0/1
//! action mask marking the response tokens.
//!
//! The paper whitens `LOGIT(R_c)`, the reward model's sigmoid output mapped back to a
//! logit. This project's reward model is trained with `−log σ(r_chosen − r_rejected − m)`
//! on its raw score, so that score already is on the logit scale (`LOGIT(σ(r)) = r`):
//! scores are whitened as they come, and there is no `logit` helper to misuse.
//!
//! [`PpoTrainer`] is the loop around them: rollouts, statistics, updates, checkpoints.

mod config;
mod gae;
mod rewards;
mod stats;
mod trainer;

pub use config::{PpoConfig, llama2_kl_beta};
pub use gae::{Gae, advantages_and_returns, gae};
pub use rewards::{batch_rewards, kl_penalized_rewards, last_response_position};
pub use stats::{masked_mean, whiten};
pub use trainer::{PpoIterationStats, PpoModels, PpoOptions, PpoTrainer, prompt_indices};
