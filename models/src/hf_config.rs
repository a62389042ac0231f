//! Reading and writing Hugging Face `config.json` files for Llama models, so any released
//! Llama-architecture checkpoint's shape can be built and our configs can be loaded by
//! `transformers.LlamaConfig`.

use crate::config::LlamaConfig;
use crate::error::ModelError;
use crate::head::Head;
use serde_json::{Map, Value, json};

/// Architectures whose config describes exactly the Llama decoder this crate builds, and
/// the head each puts on the trunk.
const LLAMA_ARCHITECTURES: [(&str, Head); 3] = [
    ("LlamaForCausalLM", Head::CausalLm),
    ("LlamaModel", Head::CausalLm),
    ("LlamaForSequenceClassification", Head::Score),
];

/// transformers' `LlamaConfig` defaults for fields a config may leave out.
const HF_DEFAULT_MAX_POSITIONS: usize = 2048;
const HF_DEFAULT_RMS_NORM_EPS: f64 = 1e-6;
const HF_DEFAULT_ROPE_THETA: f64 = 10000.0;

/// The padding id of a reward model's sequences (after the final EOS), written as its
/// `pad_token_id` so transformers reads the reward where this project does.
pub const REWARD_PAD_ID: u32 = 0;

fn field_err(field: &str, msg: impl Into<String>) -> ModelError {
    ModelError::HfField {
        field: field.to_string(),
        msg: msg.into(),
    }
}

/// A present, non-null field.
fn get<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

fn positive_int(obj: &Map<String, Value>, field: &str) -> Result<Option<usize>, ModelError> {
    let Some(v) = get(obj, field) else {
        return Ok(None);
    };
    match v.as_u64() {
        Some(n) if n > 0 => usize::try_from(n)
            .map(Some)
            .map_err(|_| field_err(field, format!("{n} is too large"))),
        _ => Err(field_err(
            field,
            format!("expected a positive integer, got {v}"),
        )),
    }
}

fn required_int(obj: &Map<String, Value>, field: &str) -> Result<usize, ModelError> {
    positive_int(obj, field)?.ok_or_else(|| field_err(field, "is missing"))
}

fn positive_float(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>, ModelError> {
    let Some(v) = get(obj, field) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
        _ => Err(field_err(
            field,
            format!("expected a positive number, got {v}"),
        )),
    }
}

fn bool_field(obj: &Map<String, Value>, field: &str) -> Result<Option<bool>, ModelError> {
    match get(obj, field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(field_err(field, format!("expected true or false, got {v}"))),
    }
}

/// Reject configs for other model families; the head the `architectures` list names
/// (a causal LM when it names none).
fn check_family(obj: &Map<String, Value>) -> Result<Head, ModelError> {
    match get(obj, "model_type") {
        Some(Value::String(t)) if t == "llama" => {}
        Some(v) => {
            return Err(field_err(
                "model_type",
                format!("only \"llama\" is supported, got {v}"),
            ));
        }
        None => return Err(field_err("model_type", "is missing (expected \"llama\")")),
    }
    let mut head = None;
    if let Some(arch) = get(obj, "architectures") {
        let list = arch
            .as_array()
            .ok_or_else(|| field_err("architectures", format!("expected a list, got {arch}")))?;
        for a in list {
            let found = LLAMA_ARCHITECTURES
                .iter()
                .find(|(name, _)| a.as_str() == Some(name))
                .map(|&(_, h)| h)
                .ok_or_else(|| {
                    field_err(
                        "architectures",
                        format!(
                            "{a} is not supported (expected one of {})",
                            LLAMA_ARCHITECTURES.map(|(n, _)| n).join(", ")
                        ),
                    )
                })?;
            if head.is_some_and(|h| h != found) {
                return Err(field_err(
                    "architectures",
                    format!("{arch} names models with different heads"),
                ));
            }
            head = Some(found);
        }
    }
    let head = head.unwrap_or(Head::CausalLm);
    if head == Head::Score {
        check_one_label(obj)?;
    }
    Ok(head)
}

/// A reward model has exactly one output (`num_labels = 1`, or one `id2label` entry).
fn check_one_label(obj: &Map<String, Value>) -> Result<(), ModelError> {
    if let Some(n) = positive_int(obj, "num_labels")?
        && n != 1
    {
        return Err(field_err(
            "num_labels",
            format!("a reward model has one score, got {n} labels"),
        ));
    }
    if let Some(labels) = get(obj, "id2label") {
        let n = labels.as_object().map(Map::len);
        if n != Some(1) {
            return Err(field_err(
                "id2label",
                format!("a reward model has one score, got {labels}"),
            ));
        }
    }
    Ok(())
}

/// Reject features the builder does not implement: other activations, biases, RoPE
/// scaling, a head dim other than `hidden_size / num_attention_heads`.
fn check_unsupported(obj: &Map<String, Value>) -> Result<(), ModelError> {
    if let Some(act) = get(obj, "hidden_act")
        && act.as_str() != Some("silu")
    {
        return Err(field_err(
            "hidden_act",
            format!("only \"silu\" (SwiGLU) is supported, got {act}"),
        ));
    }
    if let Some(s) = get(obj, "rope_scaling") {
        return Err(field_err(
            "rope_scaling",
            format!("RoPE scaling is not supported, got {s}"),
        ));
    }
    for field in ["attention_bias", "mlp_bias"] {
        if bool_field(obj, field)? == Some(true) {
            return Err(field_err(
                field,
                "biases are not supported (Llama has none)",
            ));
        }
    }
    Ok(())
}

/// `rope_theta` from the top level or, in newer transformers, from `rope_parameters`.
fn rope_theta(obj: &Map<String, Value>) -> Result<f64, ModelError> {
    if let Some(params) = get(obj, "rope_parameters") {
        let p = params.as_object().ok_or_else(|| {
            field_err(
                "rope_parameters",
                format!("expected an object, got {params}"),
            )
        })?;
        if let Some(t) = get(p, "rope_type")
            && t.as_str() != Some("default")
        {
            return Err(field_err(
                "rope_parameters.rope_type",
                format!("only \"default\" RoPE is supported, got {t}"),
            ));
        }
        if let Some(theta) = positive_float(p, "rope_theta")
            .map_err(|e| rename_field(e, "rope_parameters.rope_theta"))?
        {
            return Ok(theta);
        }
    }
    Ok(positive_float(obj, "rope_theta")?.unwrap_or(HF_DEFAULT_ROPE_THETA))
}

fn rename_field(e: ModelError, field: &str) -> ModelError {
    match e {
        ModelError::HfField { msg, .. } => field_err(field, msg),
        other => other,
    }
}

/// The `config.json` field that holds a [`LlamaConfig`] field.
fn hf_name(field: &str) -> &str {
    match field {
        "dim" => "hidden_size",
        "n_layers" => "num_hidden_layers",
        "n_heads" => "num_attention_heads",
        "n_kv_heads" => "num_key_value_heads",
        "ffn_dim" => "intermediate_size",
        "max_seq_len" => "max_position_embeddings",
        "norm_eps" => "rms_norm_eps",
        "tie_embeddings" => "tie_word_embeddings",
        other => other,
    }
}

impl LlamaConfig {
    /// Read a Hugging Face `config.json` (as written by `transformers` for Llama models).
    /// Missing optional fields take transformers' defaults (`num_key_value_heads` =
    /// `num_attention_heads`, `rms_norm_eps` 1e-6, `rope_theta` 10000,
    /// `max_position_embeddings` 2048, untied embeddings). The config must describe a
    /// causal LM: a reward model's is refused ([`ModelError::WrongHead`]).
    pub fn from_hf_config_json(text: &str) -> Result<Self, ModelError> {
        Self::from_hf_config_json_for(text, Head::CausalLm)
    }

    /// As [`LlamaConfig::from_hf_config_json`] for a model with `head`: a config whose
    /// `architectures` name another head is refused. A policy with a value head
    /// ([`Head::PolicyValue`]) reads a causal LM's config: its value head is not in it.
    pub fn from_hf_config_json_for(text: &str, head: Head) -> Result<Self, ModelError> {
        let (cfg, found) = Self::from_hf_config_json_any(text)?;
        if found.hf_architecture() != head.hf_architecture() {
            return Err(ModelError::WrongHead {
                expected: head,
                found,
            });
        }
        Ok(cfg)
    }

    /// The config and the head of whatever Llama model `text` describes. A config says
    /// only its architecture, so a PPO policy's (`LlamaForCausalLM`) reads back as
    /// [`Head::CausalLm`], never [`Head::PolicyValue`]: whether a value head exists is up
    /// to the checkpoint's tensors.
    pub fn from_hf_config_json_any(text: &str) -> Result<(Self, Head), ModelError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ModelError::HfJson {
            line: e.line(),
            column: e.column(),
            msg: e.to_string(),
        })?;
        let obj = value.as_object().ok_or_else(|| ModelError::HfJson {
            line: 1,
            column: 1,
            msg: "expected a JSON object".into(),
        })?;
        let head = check_family(obj)?;
        check_unsupported(obj)?;
        let dim = required_int(obj, "hidden_size")?;
        let n_heads = required_int(obj, "num_attention_heads")?;
        let cfg = LlamaConfig {
            dim,
            n_layers: required_int(obj, "num_hidden_layers")?,
            n_heads,
            n_kv_heads: positive_int(obj, "num_key_value_heads")?.unwrap_or(n_heads),
            ffn_dim: required_int(obj, "intermediate_size")?,
            vocab_size: required_int(obj, "vocab_size")?,
            max_seq_len: positive_int(obj, "max_position_embeddings")?
                .unwrap_or(HF_DEFAULT_MAX_POSITIONS),
            norm_eps: positive_float(obj, "rms_norm_eps")?.unwrap_or(HF_DEFAULT_RMS_NORM_EPS),
            rope_theta: rope_theta(obj)?,
            tie_embeddings: bool_field(obj, "tie_word_embeddings")?.unwrap_or(false),
        };
        if let Some(hd) = positive_int(obj, "head_dim")?
            && hd.checked_mul(n_heads) != Some(dim)
        {
            return Err(field_err(
                "head_dim",
                format!(
                    "{hd} differs from hidden_size / num_attention_heads = {dim} / {n_heads} (not supported)"
                ),
            ));
        }
        cfg.validate().map_err(|e| match e {
            ModelError::InvalidConfig { field, msg } => field_err(hf_name(field), msg),
            other => other,
        })?;
        Ok((cfg, head))
    }

    /// A `config.json` that `transformers.LlamaConfig` loads as this model (float32,
    /// Llama's BOS/EOS ids 1 and 2), pretty-printed with sorted keys. Checked by hand with
    /// transformers 5.24 (`LlamaConfig.from_json_file`) for every preset.
    pub fn to_hf_config_json(&self) -> String {
        self.to_hf_config_json_for(Head::CausalLm)
    }

    /// The `config.json` of this trunk with `head`. A reward model is a
    /// `LlamaForSequenceClassification` with one label whose padding id is 0: transformers
    /// scores a sequence at its last non-padding token, which is where this project's
    /// reward is read (the final EOS, padding after it with 0).
    pub fn to_hf_config_json_for(&self, head: Head) -> String {
        let mut v = json!({
            "architectures": [head.hf_architecture()],
            "model_type": "llama",
            "hidden_size": self.dim,
            "num_hidden_layers": self.n_layers,
            "num_attention_heads": self.n_heads,
            "num_key_value_heads": self.n_kv_heads,
            "head_dim": self.head_dim(),
            "intermediate_size": self.ffn_dim,
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.max_seq_len,
            "rms_norm_eps": self.norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "tie_word_embeddings": self.tie_embeddings,
            "hidden_act": "silu",
            "attention_bias": false,
            "attention_dropout": 0.0,
            "mlp_bias": false,
            "initializer_range": 0.02,
            "pretraining_tp": 1,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": null,
            // transformers >= 4.56 reads `dtype`; older versions read `torch_dtype`.
            "dtype": "float32",
            "torch_dtype": "float32",
            "use_cache": true,
        });
        if head == Head::Score {
            v["id2label"] = json!({"0": "LABEL_0"});
            v["label2id"] = json!({"LABEL_0": 0});
            v["pad_token_id"] = json!(REWARD_PAD_ID);
            v["tie_word_embeddings"] = json!(false);
        }
        let mut s = serde_json::to_string_pretty(&v).expect("a JSON value always serializes");
        s.push('\n');
        s
    }
}
