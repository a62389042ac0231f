//! Reading Hugging Face `config.json` files (released Llama configs, defaults, newer
//! layouts), writing them back, and clear errors that name the offending field.

use llc_models::{LlamaConfig, ModelError};
use serde_json::Value;

/// meta-llama/Llama-2-7b-hf `config.json`.
const LLAMA2_7B_HF: &str = r#"{
  "_name_or_path": "meta-llama/Llama-2-7b-hf",
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 11008,
  "max_position_embeddings": 4096,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 32,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.31.0.dev0",
  "use_cache": true,
  "vocab_size": 32000
}"#;

/// meta-llama/Llama-2-70b-hf `config.json` (grouped-query attention, 8 KV heads).
const LLAMA2_70B_HF: &str = r#"{
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 8192,
  "initializer_range": 0.02,
  "intermediate_size": 28672,
  "max_position_embeddings": 4096,
  "model_type": "llama",
  "num_attention_heads": 64,
  "num_hidden_layers": 80,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.32.0.dev0",
  "use_cache": true,
  "vocab_size": 32000
}"#;

/// TinyLlama/TinyLlama-1.1B-Chat-v1.0 `config.json`.
const TINYLLAMA_HF: &str = r#"{
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 5632,
  "max_position_embeddings": 2048,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 22,
  "num_key_value_heads": 4,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 10000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.35.0",
  "use_cache": true,
  "vocab_size": 32000
}"#;

/// What transformers 5.24 wrote (`LlamaConfig.from_json_file(..).to_json_string()`) after
/// reading our `tiny` preset's `to_hf_config_json()`: the newer `rope_parameters` layout.
const TINY_REWRITTEN_BY_TRANSFORMERS_5: &str = r#"{
  "architectures": [
    "LlamaForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 1,
  "dtype": "float32",
  "eos_token_id": 2,
  "head_dim": 16,
  "hidden_act": "silu",
  "hidden_size": 64,
  "initializer_range": 0.02,
  "intermediate_size": 172,
  "max_position_embeddings": 64,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 4,
  "num_hidden_layers": 2,
  "num_key_value_heads": 2,
  "pad_token_id": null,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_parameters": {
    "rope_theta": 10000.0,
    "rope_type": "default"
  },
  "tie_word_embeddings": false,
  "transformers_version": "5.24.0",
  "use_cache": true,
  "vocab_size": 256
}"#;

#[test]
fn transformers_rewrite_of_our_config_reads_back() {
    let cfg = LlamaConfig::from_hf_config_json(TINY_REWRITTEN_BY_TRANSFORMERS_5).unwrap();
    assert_eq!(cfg, LlamaConfig::preset("tiny").unwrap());
}

#[test]
fn released_configs_match_the_presets() {
    for (text, preset) in [
        (LLAMA2_7B_HF, "llama2-7b"),
        (LLAMA2_70B_HF, "llama2-70b"),
        (TINYLLAMA_HF, "tinyllama-1.1b"),
    ] {
        let cfg = LlamaConfig::from_hf_config_json(text).unwrap();
        assert_eq!(cfg, LlamaConfig::preset(preset).unwrap(), "{preset}");
    }
}

#[test]
fn every_preset_round_trips() {
    for name in LlamaConfig::preset_names() {
        let cfg = LlamaConfig::preset(name).unwrap();
        let text = cfg.to_hf_config_json();
        assert_eq!(
            LlamaConfig::from_hf_config_json(&text).unwrap(),
            cfg,
            "{name}"
        );
    }
    let odd = LlamaConfig {
        tie_embeddings: true,
        rope_theta: 500000.0,
        norm_eps: 1e-6,
        ..LlamaConfig::preset("tiny").unwrap().with_vocab(259)
    };
    let back = LlamaConfig::from_hf_config_json(&odd.to_hf_config_json()).unwrap();
    assert_eq!(back, odd);
}

#[test]
fn written_config_has_what_transformers_expects() {
    let cfg = LlamaConfig::preset("tinyllama-1.1b").unwrap();
    let v: Value = serde_json::from_str(&cfg.to_hf_config_json()).unwrap();
    assert_eq!(v["architectures"], serde_json::json!(["LlamaForCausalLM"]));
    assert_eq!(v["model_type"], "llama");
    assert_eq!(v["torch_dtype"], "float32");
    assert_eq!(v["dtype"], "float32");
    assert_eq!(v["hidden_act"], "silu");
    assert_eq!(v["bos_token_id"], 1);
    assert_eq!(v["eos_token_id"], 2);
    assert_eq!(v["hidden_size"], 2048);
    assert_eq!(v["num_key_value_heads"], 4);
    assert_eq!(v["head_dim"], 64);
    assert_eq!(v["intermediate_size"], 5632);
    assert_eq!(v["rms_norm_eps"], 1e-5);
    assert_eq!(v["rope_theta"], 10000.0);
    assert_eq!(v["tie_word_embeddings"], false);
    assert!(v["rope_scaling"].is_null());
}

#[test]
fn missing_optional_fields_take_transformers_defaults() {
    let text = r#"{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}"#;
    let cfg = LlamaConfig::from_hf_config_json(text).unwrap();
    assert_eq!(cfg.n_kv_heads, 4);
    assert_eq!(cfg.norm_eps, 1e-6);
    assert_eq!(cfg.rope_theta, 10000.0);
    assert_eq!(cfg.max_seq_len, 2048);
    assert!(!cfg.tie_embeddings);
    // An explicit null also means "default".
    let nulls = text.replace(
        "\"vocab_size\"",
        "\"num_key_value_heads\": null, \"vocab_size\"",
    );
    assert_eq!(LlamaConfig::from_hf_config_json(&nulls).unwrap(), cfg);
}

#[test]
fn newer_rope_parameters_layout_is_read() {
    let text = r#"{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
        "vocab_size": 100, "head_dim": 16,
        "rope_parameters": {"rope_type": "default", "rope_theta": 250000.0}}"#;
    let cfg = LlamaConfig::from_hf_config_json(text).unwrap();
    assert_eq!(cfg.rope_theta, 250000.0);
    assert_eq!(cfg.n_kv_heads, 2);
}

/// The 7B config with `key` set to the JSON `value` (added if absent).
fn with_field(key: &str, value: &str) -> String {
    let mut v: Value = serde_json::from_str(LLAMA2_7B_HF).unwrap();
    v[key] = serde_json::from_str(value).unwrap();
    v.to_string()
}

/// The 7B config without `key`.
fn without_field(key: &str) -> String {
    let mut v: Value = serde_json::from_str(LLAMA2_7B_HF).unwrap();
    v.as_object_mut().unwrap().remove(key);
    v.to_string()
}

/// The field a rejected config is blamed on, and the full message.
fn field_error(text: &str) -> (String, String) {
    let e = LlamaConfig::from_hf_config_json(text).expect_err("the config should be rejected");
    match &e {
        ModelError::HfField { field, .. } => (field.clone(), e.to_string()),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn unsupported_models_are_rejected_naming_the_field() {
    let cases = [
        (
            with_field("model_type", r#""mistral""#),
            "model_type",
            "mistral",
        ),
        (without_field("model_type"), "model_type", "missing"),
        (
            with_field("architectures", r#"["GPT2LMHeadModel"]"#),
            "architectures",
            "GPT2LMHeadModel",
        ),
        (
            with_field("rope_scaling", r#"{"type": "linear", "factor": 2.0}"#),
            "rope_scaling",
            "linear",
        ),
        (with_field("hidden_act", r#""gelu""#), "hidden_act", "gelu"),
        (
            with_field("attention_bias", "true"),
            "attention_bias",
            "bias",
        ),
        (with_field("mlp_bias", "true"), "mlp_bias", "bias"),
        (with_field("head_dim", "64"), "head_dim", "64"),
        (
            with_field("rope_parameters", r#"{"rope_type": "yarn", "factor": 4.0}"#),
            "rope_parameters.rope_type",
            "yarn",
        ),
    ];
    for (text, field, mentions) in cases {
        let (got, msg) = field_error(&text);
        assert_eq!(got, field, "{msg}");
        assert!(msg.contains(mentions), "{msg}");
    }
}

#[test]
fn bad_values_are_rejected_naming_the_field() {
    let cases = [
        (without_field("hidden_size"), "hidden_size", "missing"),
        (
            with_field("hidden_size", r#""4096""#),
            "hidden_size",
            "positive integer",
        ),
        (
            with_field("num_hidden_layers", "0"),
            "num_hidden_layers",
            "positive integer",
        ),
        (with_field("vocab_size", "-5"), "vocab_size", "-5"),
        (
            with_field("intermediate_size", "1.5"),
            "intermediate_size",
            "1.5",
        ),
        (
            with_field("rms_norm_eps", "0"),
            "rms_norm_eps",
            "positive number",
        ),
        (
            with_field("tie_word_embeddings", "1"),
            "tie_word_embeddings",
            "true or false",
        ),
        // Shape rules are reported with the config.json names, not ours.
        (
            with_field("num_key_value_heads", "5"),
            "num_key_value_heads",
            "divide",
        ),
        (
            with_field("num_attention_heads", "3"),
            "num_attention_heads",
            "divide",
        ),
    ];
    for (text, field, mentions) in cases {
        let (got, msg) = field_error(&text);
        assert_eq!(got, field, "{msg}");
        assert!(msg.contains(mentions), "{msg}");
    }
}

#[test]
fn malformed_json_reports_line_and_column() {
    let text = "{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,,\n}";
    match LlamaConfig::from_hf_config_json(text) {
        Err(ModelError::HfJson { line, column, .. }) => {
            assert_eq!(line, 3);
            assert!(column > 1, "column {column}");
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
    let e = LlamaConfig::from_hf_config_json("[1, 2]").unwrap_err();
    assert!(e.to_string().contains("object"), "{e}");
}

#[test]
fn absurd_sizes_are_rejected_naming_the_field() {
    // Each of these panicked or overflowed before sizes were bounded and checked.
    let cases = [
        // 10^17 layers: `param_names` preallocated 9 * 10^17 entries (capacity overflow).
        (
            with_field("num_hidden_layers", "100000000000000000"),
            "num_hidden_layers",
            "above the limit 10000",
        ),
        (
            with_field("num_hidden_layers", "1e17"),
            "num_hidden_layers",
            "positive integer",
        ),
        // 9 * n_layers overflows usize.
        (
            with_field("num_hidden_layers", &u64::MAX.to_string()),
            "num_hidden_layers",
            "above the limit",
        ),
        // head_dim * num_attention_heads overflows usize.
        (
            with_field("head_dim", &(u64::MAX / 2).to_string()),
            "head_dim",
            "differs",
        ),
        (
            with_field("hidden_size", &(1u64 << 40).to_string()),
            "hidden_size",
            "above the limit 1048576",
        ),
        (
            with_field("intermediate_size", &(1u64 << 40).to_string()),
            "intermediate_size",
            "above the limit",
        ),
        (
            with_field("vocab_size", &(1u64 << 25).to_string()),
            "vocab_size",
            "above the limit 16777216",
        ),
        (
            with_field("max_position_embeddings", &u64::MAX.to_string()),
            "max_position_embeddings",
            "above the limit",
        ),
        (
            with_field("num_key_value_heads", &u64::MAX.to_string()),
            "num_key_value_heads",
            "above the limit",
        ),
        // Every size within its limit, but together more than 2^48 parameters.
        (
            with_fields(&[
                ("num_hidden_layers", "10000"),
                ("hidden_size", "1048576"),
                ("num_attention_heads", "1024"),
                ("num_key_value_heads", "1024"),
                ("intermediate_size", "4194304"),
            ]),
            "num_hidden_layers",
            "parameters, above the limit 2^48",
        ),
    ];
    for (text, field, mentions) in cases {
        let (got, msg) = field_error(&text);
        assert_eq!(got, field, "{msg}");
        assert!(msg.contains(mentions), "{msg}");
    }
}

/// The 7B config with each `(key, JSON value)` set.
fn with_fields(fields: &[(&str, &str)]) -> String {
    let mut v: Value = serde_json::from_str(LLAMA2_7B_HF).unwrap();
    for (key, value) in fields {
        v[*key] = serde_json::from_str(value).unwrap();
    }
    v.to_string()
}

#[test]
fn a_config_at_the_limits_is_accepted() {
    let mut cfg = LlamaConfig::preset("llama2-15m").unwrap();
    cfg.n_layers = LlamaConfig::MAX_LAYERS;
    cfg.vocab_size = LlamaConfig::MAX_VOCAB;
    cfg.max_seq_len = LlamaConfig::MAX_SEQ_LEN;
    cfg.validate().unwrap();
    assert!(cfg.checked_param_count().unwrap() < LlamaConfig::MAX_PARAMS);
}
