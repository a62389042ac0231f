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
    /// [`crate::param_names`] (saturating at `u64::MAX` for absurd configs).
    pub fn param_count(&self) -> u64 {
        let d = self.dim as u64;
        let hd = self.head_dim() as u64;
        let q = self.n_heads as u64 * hd;
        let kv = self.n_kv_heads as u64 * hd;
        let f = self.ffn_dim as u64;
        let v = self.vocab_size as u64;
        let per_layer = d // attention_norm
            .saturating_add(d.saturating_mul(q)) // wq
            .saturating_add(2u64.saturating_mul(d).saturating_mul(kv)) // wk, wv
            .saturating_add(q.saturating_mul(d)) // wo
            .saturating_add(d) // ffn_norm
            .saturating_add(3u64.saturating_mul(d).saturating_mul(f)); // w1, w2, w3
        let heads = if self.tie_embeddings { 1 } else { 2 };
        (self.n_layers as u64)
            .saturating_mul(per_layer)
            .saturating_add(d) // final norm
            .saturating_add((heads as u64).saturating_mul(v).saturating_mul(d))
    }

    /// Check that the hyper-parameters describe a model the builder can construct.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field: &'static str, msg: String| Err(ModelError::InvalidConfig { field, msg });
        for (field, value) in [
            ("dim", self.dim),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("ffn_dim", self.ffn_dim),
            ("vocab_size", self.vocab_size),
            ("max_seq_len", self.max_seq_len),
        ] {
            if value == 0 {
                return bad(field, "must be positive, got 0".into());
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
        if self.vocab_size > i32::MAX as usize {
            return bad(
                "vocab_size",
                format!("{} does not fit i32 token ids", self.vocab_size),
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
        for (name, shape) in crate::params::param_names(self) {
            if llc_ir::dtype::checked_numel(&shape).is_none() {
                return Err(ModelError::InvalidConfig {
                    field: "dim",
                    msg: format!("parameter {name} {shape:?} has more than 2^48 elements"),
                });
            }
        }
        Ok(())
    }
}
