//! The Llama 2 hyper-parameters, their sanity checks and the parameter count they imply.

use crate::error::ModelError;
use serde::{Deserialize, Serialize};

/// Shape hyper-parameters of a Llama 2 decoder. Everything the graph builder needs; batch
/// size and sequence length are build options, not part of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Model (residual stream) width `D`.
    pub dim: usize,
    /// Number of decoder layers `L`.
    pub n_layers: usize,
    /// Number of query heads `H`; the head dim is `D / H`.
    pub n_heads: usize,
    /// Number of key/value heads (grouped-query attention); divides `n_heads`.
    pub n_kv_heads: usize,
    /// SwiGLU hidden width `F` (stored explicitly; Llama derives it with `multiple_of`).
    pub ffn_dim: usize,
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Longest sequence the model was trained for (RoPE positions); builds may use less.
    pub max_seq_len: usize,
    /// RMSNorm epsilon.
    pub norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// Whether the LM head reuses the token embedding (no separate `output.weight`).
    pub tie_embeddings: bool,
}

impl LlamaConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads.max(1)
    }

    /// Query heads that share one KV head.
    pub fn kv_group(&self) -> usize {
        self.n_heads / self.n_kv_heads.max(1)
    }

    /// The same model with another vocabulary size (e.g. a byte-level tokenizer for the CPU
    /// demo instead of Llama's 32000 SentencePiece pieces).
    pub fn with_vocab(mut self, vocab_size: usize) -> Self {
        self.vocab_size = vocab_size;
        self
    }

    /// The same model with another maximum sequence length.
    pub fn with_max_seq_len(mut self, max_seq_len: usize) -> Self {
        self.max_seq_len = max_seq_len;
        self
    }

    /// Number of trainable scalars; equals the sum of the element counts of
    /// [`crate::param_names`] (saturating at `u64::MAX` for absurd configs; see
    /// [`LlamaConfig::checked_param_count`]).
    pub fn param_count(&self) -> u64 {
        self.checked_param_count().unwrap_or(u64::MAX)
    }

    /// Number of trainable scalars, or `None` when the count overflows `u64`.
    pub fn checked_param_count(&self) -> Option<u64> {
        let d = self.dim as u64;
        let hd = self.head_dim() as u64;
        let q = (self.n_heads as u64).checked_mul(hd)?;
        let kv = (self.n_kv_heads as u64).checked_mul(hd)?;
        let f = self.ffn_dim as u64;
        let v = self.vocab_size as u64;
        let per_layer = [
            Some(d),                           // attention_norm
            d.checked_mul(q),                  // wq
            d.checked_mul(kv)?.checked_mul(2), // wk, wv
            q.checked_mul(d),                  // wo
            Some(d),                           // ffn_norm
            d.checked_mul(f)?.checked_mul(3),  // w1, w2, w3
        ]
        .into_iter()
        .try_fold(0u64, |acc, n| acc.checked_add(n?))?;
        let heads: u64 = if self.tie_embeddings { 1 } else { 2 };
        (self.n_layers as u64)
            .checked_mul(per_layer)?
            .checked_add(d)? // final norm
            .checked_add(heads.checked_mul(v)?.checked_mul(d)?)
    }

    /// Largest `n_layers` [`LlamaConfig::validate`] accepts (released Llamas have at most 126).
    pub const MAX_LAYERS: usize = 10_000;
    /// Largest `dim` accepted (released Llamas have at most 16384).
    pub const MAX_DIM: usize = 1 << 20;
    /// Largest `ffn_dim` accepted (released Llamas have at most 53248).
    pub const MAX_FFN_DIM: usize = 1 << 22;
    /// Largest `vocab_size` accepted (token ids are i32; Llama 3 has 128256).
    pub const MAX_VOCAB: usize = 1 << 24;
    /// Largest `max_seq_len` accepted (RoPE position tables are built up to it).
    pub const MAX_SEQ_LEN: usize = 1 << 24;
    /// Largest total parameter count accepted (2^48, [`llc_ir::MAX_ELEMENTS`]; Llama 3.1
    /// 405B has about 2^38.6).
    pub const MAX_PARAMS: u64 = llc_ir::MAX_ELEMENTS;

    /// Check that the hyper-parameters describe a model the builder can construct. Every
    /// size is positive and at most its limit ([`Self::MAX_LAYERS`], [`Self::MAX_DIM`],
    /// [`Self::MAX_FFN_DIM`], [`Self::MAX_VOCAB`], [`Self::MAX_SEQ_LEN`]); `n_heads`
    /// divides `dim` with an even head dim (RoPE rotates pairs); `n_kv_heads` divides
    /// `n_heads`; the total parameter count is at most [`Self::MAX_PARAMS`], so no size
    /// computed from a validated config overflows. Each error names the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field: &'static str, msg: String| Err(ModelError::InvalidConfig { field, msg });
        for (field, value, limit) in [
            ("dim", self.dim, Self::MAX_DIM),
            ("n_layers", self.n_layers, Self::MAX_LAYERS),
            ("n_heads", self.n_heads, Self::MAX_DIM),
            ("n_kv_heads", self.n_kv_heads, Self::MAX_DIM),
            ("ffn_dim", self.ffn_dim, Self::MAX_FFN_DIM),
            ("vocab_size", self.vocab_size, Self::MAX_VOCAB),
            ("max_seq_len", self.max_seq_len, Self::MAX_SEQ_LEN),
        ] {
            if value == 0 {
                return bad(field, "must be positive, got 0".into());
            }
            if value > limit {
                return bad(field, format!("{value} is above the limit {limit}"));
            }
        }
        if !self.dim.is_multiple_of(self.n_heads) {
            return bad(
                "n_heads",
                format!("{} does not divide dim {}", self.n_heads, self.dim),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(
                "n_heads",
                format!(
                    "gives head dim {} = {} / {}, which is odd (RoPE rotates pairs)",
                    self.head_dim(),
                    self.dim,
                    self.n_heads
                ),
            );
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) || self.n_kv_heads > self.n_heads {
            return bad(
                "n_kv_heads",
                format!(
                    "{} does not divide n_heads {}",
                    self.n_kv_heads, self.n_heads
                ),
            );
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return bad(
                "norm_eps",
                format!("must be finite and positive, got {}", self.norm_eps),
            );
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(
                "rope_theta",
                format!("must be finite and positive, got {}", self.rope_theta),
            );
        }
        match self.checked_param_count() {
            Some(n) if n <= Self::MAX_PARAMS => {}
            n => {
                return bad(
                    "n_layers",
                    format!(
                        "{} layers of dim {}, ffn_dim {} and vocab_size {} give {} parameters, above the limit 2^48",
                        self.n_layers,
                        self.dim,
                        self.ffn_dim,
                        self.vocab_size,
                        n.map_or("more than 2^64".to_string(), |n| n.to_string())
                    ),
                );
            }
        }
        Ok(())
    }
}
