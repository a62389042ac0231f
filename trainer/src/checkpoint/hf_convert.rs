//! Converting whole parameter (or gradient) sets between our layout and Hugging Face's:
//! names are mapped and q/k rows permuted per head (see [`super::rope_permute`]).

use super::error::CheckpointResult;
use llc_models::LlamaConfig;

use super::hf_names::{RopeProjection, from_hf_name, rope_projection, to_hf_name};
use super::rope_permute::{RopeLayout, permute_rope_rows};
use super::tensor::NamedTensor;

/// Our tensors (Meta names and layout) as Hugging Face's `LlamaForCausalLM` stores them.
/// Works for gradients too: a gradient permutes exactly like its weight.
pub fn to_hf(tensors: &[NamedTensor], cfg: &LlamaConfig) -> CheckpointResult<Vec<NamedTensor>> {
    tensors
        .iter()
        .map(|t| {
            let mut out = permute_if_rope(t, cfg, RopeLayout::MetaToHf)?;
            out.name = to_hf_name(&t.name)?;
            Ok(out)
        })
        .collect()
}

/// Hugging Face tensors converted to our names and layout. Non-parameter buffers
/// (`*.rotary_emb.inv_freq`) are dropped; with tied embeddings the model has no
/// `output.weight` of its own (the LM head reads the embedding), so an `lm_head.weight`
/// saved alongside is dropped too.
pub fn from_hf(tensors: Vec<NamedTensor>, cfg: &LlamaConfig) -> CheckpointResult<Vec<NamedTensor>> {
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        if t.name.ends_with(".rotary_emb.inv_freq") {
            continue;
        }
        let name = from_hf_name(&t.name)?;
        if cfg.tie_embeddings && name == "output.weight" {
            continue;
        }
        let renamed = NamedTensor { name, ..t };
        out.push(permute_if_rope(&renamed, cfg, RopeLayout::HfToMeta)?);
    }
    Ok(out)
}

/// Gradients in Hugging Face naming and layout, for comparison with PyTorch's
/// `param.grad` of a `LlamaForCausalLM` (same transformation as [`to_hf`]).
pub fn gradients_to_hf(
    grads: &[NamedTensor],
    cfg: &LlamaConfig,
) -> CheckpointResult<Vec<NamedTensor>> {
    to_hf(grads, cfg)
}

fn permute_if_rope(
    t: &NamedTensor,
    cfg: &LlamaConfig,
    dir: RopeLayout,
) -> CheckpointResult<NamedTensor> {
    match rope_projection(&t.name) {
        Some(RopeProjection::Query) => permute_rope_rows(t, cfg.n_heads, cfg.head_dim(), dir),
        Some(RopeProjection::Key) => permute_rope_rows(t, cfg.n_kv_heads, cfg.head_dim(), dir),
        None => Ok(t.clone()),
    }
}
