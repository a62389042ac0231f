//! Named configurations: the released Llama 2 sizes, TinyLlama, the llama2.c "stories"
//! models, and a tiny GQA config for tests.

use crate::config::LlamaConfig;
use crate::error::ModelError;

/// Every preset name, in the order they are listed to users.
const NAMES: [&str; 7] = [
    "llama2-7b",
    "llama2-13b",
    "llama2-70b",
    "tinyllama-1.1b",
    "llama2-110m",
    "llama2-15m",
    "tiny",
];

/// Llama 2 defaults shared by every preset: RMSNorm eps 1e-5, RoPE theta 10000, untied
/// embeddings.
fn llama(
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    n_kv_heads: usize,
    ffn_dim: usize,
    vocab_size: usize,
    max_seq_len: usize,
) -> LlamaConfig {
    LlamaConfig {
        dim,
        n_layers,
        n_heads,
        n_kv_heads,
        ffn_dim,
        vocab_size,
        max_seq_len,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_embeddings: false,
    }
}

impl LlamaConfig {
    /// The configuration called `name` (see [`LlamaConfig::preset_names`]).
    ///
    /// - `llama2-7b`, `llama2-13b`, `llama2-70b`: Meta's released configs (paper Table 1;
    ///   FFN widths 11008 / 13824 / 28672 from the `multiple_of` rule; 70B uses 8 KV heads).
    /// - `tinyllama-1.1b`: TinyLlama 1.1B (GQA 32 query / 4 KV heads, context 2048).
    /// - `llama2-110m`, `llama2-15m`: llama2.c's stories110M and stories15M.
    /// - `tiny`: a test model (d64, 2 layers, 4 query / 2 KV heads, vocab 256).
    pub fn preset(name: &str) -> Result<Self, ModelError> {
        Ok(match name {
            "llama2-7b" => llama(4096, 32, 32, 32, 11008, 32000, 4096),
            "llama2-13b" => llama(5120, 40, 40, 40, 13824, 32000, 4096),
            "llama2-70b" => llama(8192, 80, 64, 8, 28672, 32000, 4096),
            "tinyllama-1.1b" => llama(2048, 22, 32, 4, 5632, 32000, 2048),
            "llama2-110m" => llama(768, 12, 12, 12, 2048, 32000, 1024),
            "llama2-15m" => llama(288, 6, 6, 6, 768, 32000, 256),
            "tiny" => llama(64, 2, 4, 2, 172, 256, 64),
            _ => {
                return Err(ModelError::UnknownPreset {
                    name: name.to_string(),
                    known: NAMES.to_vec(),
                });
            }
        })
    }

    /// Names accepted by [`LlamaConfig::preset`].
    pub fn preset_names() -> &'static [&'static str] {
        &NAMES
    }
}
