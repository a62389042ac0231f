//! What sits on the Llama trunk (embedding, decoder layers, final norm): the one home of
//! the head contract. A causal LM ends in the vocabulary projection; a reward model in a
//! scalar `score` projection (Hugging Face `LlamaForSequenceClassification` with
//! `num_labels = 1`); a PPO policy in both the vocabulary projection and a scalar value
//! head. Checkpoints say which they are (`architectures` in `config.json`),
//! so a reward model given where a policy is expected is refused, and the reverse.

use std::fmt;

/// The head of a model built on the Llama trunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Head {
    /// `output.weight: [V, D]` (or the tied token embedding): next-token logits.
    #[default]
    CausalLm,
    /// `score.weight: [1, D]`: one scalar per position; the reward of a sequence is the
    /// score at its final token.
    Score,
    /// The causal LM's parameters plus `value_head.weight: [1, D]`: the PPO policy and its
    /// value function on one shared trunk (Llama 2 §3.2.3 initializes both from the
    /// policy). Its checkpoints are the policy in Hugging Face layout with one extra
    /// tensor, so its `config.json` says `LlamaForCausalLM` and reads back as
    /// [`Head::CausalLm`]: the value head is named by the checkpoint, not the config.
    PolicyValue,
}

impl Head {
    /// Name of the score head's weight (HF `LlamaForSequenceClassification.score`).
    pub const SCORE_WEIGHT: &'static str = "score.weight";
    /// Name of the PPO value head's weight (`[1, D]`, next to the policy's tensors).
    pub const VALUE_WEIGHT: &'static str = "value_head.weight";

    /// The Hugging Face class of a checkpoint with this head.
    pub fn hf_architecture(self) -> &'static str {
        match self {
            Head::CausalLm | Head::PolicyValue => "LlamaForCausalLM",
            Head::Score => "LlamaForSequenceClassification",
        }
    }

    /// What a user calls a model with this head (for messages).
    pub fn describe(self) -> &'static str {
        match self {
            Head::CausalLm => "a causal language model (LlamaForCausalLM)",
            Head::Score => "a reward model (LlamaForSequenceClassification, one score)",
            Head::PolicyValue => "a policy with a value head (LlamaForCausalLM + value_head)",
        }
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}
