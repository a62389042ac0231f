//! Parameter names: ours (Meta's Llama naming) to Hugging Face `LlamaForCausalLM`'s (and
//! `LlamaForSequenceClassification`'s `score`) and back. The Linear weights are `[out, in]` in both; only q/k rows differ in order (see
//! [`super::rope_permute`]).

use super::error::{CheckpointError, CheckpointResult};

/// Per-layer suffixes: (ours after `layers.{i}.`, Hugging Face's after `model.layers.{i}.`).
const LAYER_NAMES: [(&str, &str); 9] = [
    ("attention_norm.weight", "input_layernorm.weight"),
    ("attention.wq.weight", "self_attn.q_proj.weight"),
    ("attention.wk.weight", "self_attn.k_proj.weight"),
    ("attention.wv.weight", "self_attn.v_proj.weight"),
    ("attention.wo.weight", "self_attn.o_proj.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("feed_forward.w1.weight", "mlp.gate_proj.weight"),
    ("feed_forward.w3.weight", "mlp.up_proj.weight"),
    ("feed_forward.w2.weight", "mlp.down_proj.weight"),
];

/// Whole-model names: (ours, Hugging Face's).
const GLOBAL_NAMES: [(&str, &str); 5] = [
    ("tok_embeddings.weight", "model.embed_tokens.weight"),
    ("norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
    // LlamaForSequenceClassification's head (a reward model), the same name in both.
    (llc_models::Head::SCORE_WEIGHT, "score.weight"),
    // A PPO policy's value head (no Hugging Face class has one), kept under our name.
    (llc_models::Head::VALUE_WEIGHT, "value_head.weight"),
];

/// Hugging Face name of one of our parameters.
pub fn to_hf_name(ours: &str) -> CheckpointResult<String> {
    if let Some((_, hf)) = GLOBAL_NAMES.iter().find(|(o, _)| *o == ours) {
        return Ok(hf.to_string());
    }
    if let Some((layer, rest)) = split_layer(ours, "layers.")
        && let Some((_, hf)) = LAYER_NAMES.iter().find(|(o, _)| *o == rest)
    {
        return Ok(format!("model.layers.{layer}.{hf}"));
    }
    Err(CheckpointError::UnknownName {
        name: ours.to_string(),
        direction: "Hugging Face",
    })
}

/// Our name of a Hugging Face parameter.
pub fn from_hf_name(hf: &str) -> CheckpointResult<String> {
    if let Some((ours, _)) = GLOBAL_NAMES.iter().find(|(_, h)| *h == hf) {
        return Ok(ours.to_string());
    }
    if let Some((layer, rest)) = split_layer(hf, "model.layers.")
        && let Some((ours, _)) = LAYER_NAMES.iter().find(|(_, h)| *h == rest)
    {
        return Ok(format!("layers.{layer}.{ours}"));
    }
    Err(CheckpointError::UnknownName {
        name: hf.to_string(),
        direction: "Meta (llc-train)",
    })
}

/// Splits `{prefix}{i}.{rest}` into `(i, rest)`.
fn split_layer<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let tail = name.strip_prefix(prefix)?;
    let (idx, rest) = tail.split_once('.')?;
    if idx.is_empty()
        || !idx.bytes().all(|b| b.is_ascii_digit())
        || (idx.len() > 1 && idx.starts_with('0'))
    {
        return None;
    }
    Some((idx.parse().ok()?, rest))
}

/// Which heads count a q/k projection is permuted with: `Some(Query)` for `wq`,
/// `Some(Key)` for `wk`, `None` for everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeProjection {
    /// `attention.wq.weight`: permuted per query head.
    Query,
    /// `attention.wk.weight`: permuted per key/value head.
    Key,
}

/// Whether one of our parameter names is a RoPE'd projection.
pub fn rope_projection(ours: &str) -> Option<RopeProjection> {
    if ours.ends_with(".attention.wq.weight") {
        Some(RopeProjection::Query)
    } else if ours.ends_with(".attention.wk.weight") {
        Some(RopeProjection::Key)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for ours in [
            "tok_embeddings.weight",
            "layers.0.attention.wq.weight",
            "layers.13.feed_forward.w3.weight",
            "layers.2.ffn_norm.weight",
            "norm.weight",
            "output.weight",
        ] {
            let hf = to_hf_name(ours).unwrap();
            assert_eq!(from_hf_name(&hf).unwrap(), ours);
        }
        assert_eq!(
            to_hf_name("layers.3.feed_forward.w1.weight").unwrap(),
            "model.layers.3.mlp.gate_proj.weight"
        );
        assert_eq!(
            to_hf_name("layers.3.feed_forward.w2.weight").unwrap(),
            "model.layers.3.mlp.down_proj.weight"
        );
        assert!(to_hf_name("layers.x.attention.wq.weight").is_err());
        assert!(to_hf_name("layers.01.attention.wq.weight").is_err());
        assert!(from_hf_name("model.layers.0.self_attn.rotary_emb.inv_freq").is_err());
    }
}
