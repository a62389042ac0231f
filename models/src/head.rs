//! What sits on the Llama trunk (embedding, decoder layers, final norm): the one home of
//! the head contract. A causal LM ends in the vocabulary projection; a reward model in a
//! scalar `score` projection (Hugging Face `LlamaForSequenceClassification` with
//! `num_labels = 1`). Checkpoints say which they are (`architectures` in `config.json`),
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
}

impl Head {
    /// Name of the score head's weight (HF `LlamaForSequenceClassification.score`).
    pub const SCORE_WEIGHT: &'static str = "score.weight";

    /// The Hugging Face class of a checkpoint with this head.
    pub fn hf_architecture(self) -> &'static str {
        match self {
            Head::CausalLm => "LlamaForCausalLM",
            Head::Score => "LlamaForSequenceClassification",
        }
    }

    /// What a user calls a model with this head (for messages).
    pub fn describe(self) -> &'static str {
        match self {
            Head::CausalLm => "a causal language model (LlamaForCausalLM)",
            Head::Score => "a reward model (LlamaForSequenceClassification, one score)",
        }
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}
