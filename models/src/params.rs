//! Parameter names and shapes, in the order the forward function takes them as arguments.
//! Names follow Meta's Llama checkpoints; matrices use PyTorch's `Linear` layout
//! `[out_features, in_features]` so checkpoints load without transposing.

use crate::config::LlamaConfig;
use crate::head::Head;

/// Every trainable tensor of `cfg` as `(name, shape)`, in argument order: the token
/// embedding, then per layer `attention_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3`, then
/// the final `norm` and (unless embeddings are tied) the LM head `output`. Meant for a
/// config that passed [`LlamaConfig::validate`] (which bounds `n_layers`); for another
/// it never overflows, but lists every layer it names.
pub fn param_names(cfg: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    param_names_for(cfg, Head::CausalLm)
}

/// The parameters of the trunk of `cfg` with `head` on it, in argument order: the trunk's
/// (as [`param_names`]), then the head's: `output` for a causal LM (none when tied),
/// `score: [1, D]` for a reward model (which never ties), or a PPO policy's `output` (as
/// the causal LM's) then `value_head: [1, D]`.
pub fn param_names_for(cfg: &LlamaConfig, head: Head) -> Vec<(String, Vec<usize>)> {
    let d = cfg.dim;
    let q = cfg.n_heads * cfg.head_dim();
    let kv = cfg.n_kv_heads * cfg.head_dim();
    let f = cfg.ffn_dim;
    let mut v = Vec::with_capacity(3 + 9 * cfg.n_layers.min(LlamaConfig::MAX_LAYERS));
    v.push(("tok_embeddings.weight".to_string(), vec![cfg.vocab_size, d]));
    for i in 0..cfg.n_layers {
        let p = format!("layers.{i}");
        v.push((format!("{p}.attention_norm.weight"), vec![d]));
        v.push((format!("{p}.attention.wq.weight"), vec![q, d]));
        v.push((format!("{p}.attention.wk.weight"), vec![kv, d]));
        v.push((format!("{p}.attention.wv.weight"), vec![kv, d]));
        v.push((format!("{p}.attention.wo.weight"), vec![d, q]));
        v.push((format!("{p}.ffn_norm.weight"), vec![d]));
        v.push((format!("{p}.feed_forward.w1.weight"), vec![f, d]));
        v.push((format!("{p}.feed_forward.w2.weight"), vec![d, f]));
        v.push((format!("{p}.feed_forward.w3.weight"), vec![f, d]));
    }
    v.push(("norm.weight".to_string(), vec![d]));
    if matches!(head, Head::CausalLm | Head::PolicyValue) && !cfg.tie_embeddings {
        v.push(("output.weight".to_string(), vec![cfg.vocab_size, d]));
    }
    match head {
        Head::CausalLm => {}
        Head::Score => v.push((Head::SCORE_WEIGHT.to_string(), vec![1, d])),
        Head::PolicyValue => v.push((Head::VALUE_WEIGHT.to_string(), vec![1, d])),
    }
    v
}
