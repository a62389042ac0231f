//! Parameter counts against the published sizes, and the closed-form count against the
//! parameter list the builder uses.

use llc_models::{LlamaConfig, param_names};

/// `sum(p.numel() for p in model.parameters())` of the released checkpoints
/// (Hugging Face model cards / state dicts).
const PUBLISHED: [(&str, u64); 4] = [
    ("llama2-7b", 6_738_415_616),
    ("llama2-13b", 13_015_864_320),
    ("llama2-70b", 68_976_648_192),
    ("tinyllama-1.1b", 1_100_048_384),
];

fn listed_count(cfg: &LlamaConfig) -> u64 {
    param_names(cfg)
        .iter()
        .map(|(_, s)| s.iter().map(|&d| d as u64).product::<u64>())
        .sum()
}

#[test]
fn published_sizes_match_within_one_percent() {
    for (name, published) in PUBLISHED {
        let cfg = LlamaConfig::preset(name).unwrap();
        let ours = cfg.param_count();
        let rel = (ours as f64 - published as f64).abs() / published as f64;
        assert!(
            rel < 0.01,
            "{name}: {ours} parameters vs published {published} ({:.3}% off)",
            rel * 100.0
        );
    }
}

#[test]
fn published_sizes_match_exactly() {
    // Same architecture, same tensors: the counts agree to the parameter.
    for (name, published) in PUBLISHED {
        assert_eq!(
            LlamaConfig::preset(name).unwrap().param_count(),
            published,
            "{name}"
        );
    }
}

#[test]
fn stories_models_have_their_nominal_sizes() {
    // llama2.c's stories15M / stories110M (untied here: llama2.c ties the classifier,
    // so the untied count adds one vocab x dim matrix).
    let m15 = LlamaConfig::preset("llama2-15m").unwrap();
    let tied15 = LlamaConfig {
        tie_embeddings: true,
        ..m15.clone()
    };
    assert_eq!(tied15.param_count(), 15_191_712);
    assert_eq!(m15.param_count(), 15_191_712 + 32000 * 288);
    let m110 = LlamaConfig::preset("llama2-110m").unwrap();
    let tied110 = LlamaConfig {
        tie_embeddings: true,
        ..m110
    };
    assert_eq!(tied110.param_count(), 109_529_856);
}

#[test]
fn closed_form_equals_sum_over_param_list() {
    for name in LlamaConfig::preset_names() {
        let cfg = LlamaConfig::preset(name).unwrap();
        assert_eq!(cfg.param_count(), listed_count(&cfg), "{name}");
        let tied = LlamaConfig {
            tie_embeddings: true,
            ..cfg.clone()
        };
        assert_eq!(tied.param_count(), listed_count(&tied), "{name} tied");
        assert_eq!(
            cfg.param_count() - tied.param_count(),
            (cfg.vocab_size * cfg.dim) as u64
        );
    }
}

#[test]
fn param_list_uses_meta_names_and_linear_layout() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let list = param_names(&cfg);
    assert_eq!(list.len(), 3 + 9 * cfg.n_layers);
    let get = |n: &str| {
        list.iter()
            .find(|(name, _)| name == n)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("missing {n}"))
    };
    // d64, 4 query heads and 2 KV heads of 16, ffn 172, vocab 256.
    assert_eq!(get("tok_embeddings.weight"), [256, 64]);
    assert_eq!(get("layers.1.attention_norm.weight"), [64]);
    assert_eq!(get("layers.1.attention.wq.weight"), [64, 64]);
    assert_eq!(get("layers.1.attention.wk.weight"), [32, 64]);
    assert_eq!(get("layers.1.attention.wv.weight"), [32, 64]);
    assert_eq!(get("layers.1.attention.wo.weight"), [64, 64]);
    assert_eq!(get("layers.0.ffn_norm.weight"), [64]);
    assert_eq!(get("layers.0.feed_forward.w1.weight"), [172, 64]);
    assert_eq!(get("layers.0.feed_forward.w2.weight"), [64, 172]);
    assert_eq!(get("layers.0.feed_forward.w3.weight"), [172, 64]);
    assert_eq!(get("norm.weight"), [64]);
    assert_eq!(get("output.weight"), [256, 64]);
    assert_eq!(list[0].0, "tok_embeddings.weight");
    assert_eq!(list.last().unwrap().0, "output.weight");
    let mut names: Vec<_> = list.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), list.len(), "parameter names are unique");
}

#[test]
fn presets_have_the_documented_shapes() {
    let c = LlamaConfig::preset("llama2-70b").unwrap();
    assert_eq!(
        (
            c.dim,
            c.n_layers,
            c.n_heads,
            c.n_kv_heads,
            c.ffn_dim,
            c.head_dim()
        ),
        (8192, 80, 64, 8, 28672, 128)
    );
    let c = LlamaConfig::preset("tinyllama-1.1b").unwrap();
    assert_eq!(
        (
            c.dim,
            c.n_layers,
            c.n_heads,
            c.n_kv_heads,
            c.ffn_dim,
            c.max_seq_len
        ),
        (2048, 22, 32, 4, 5632, 2048)
    );
    let c = LlamaConfig::preset("llama2-15m").unwrap();
    assert_eq!(
        (
            c.dim,
            c.n_layers,
            c.n_heads,
            c.n_kv_heads,
            c.ffn_dim,
            c.vocab_size,
            c.max_seq_len
        ),
        (288, 6, 6, 6, 768, 32000, 256)
    );
    let c = LlamaConfig::preset("tiny").unwrap();
    assert_eq!((c.n_heads, c.n_kv_heads, c.vocab_size), (4, 2, 256));
    for name in LlamaConfig::preset_names() {
        let c = LlamaConfig::preset(name).unwrap();
        c.validate().unwrap();
        assert_eq!(
            (c.norm_eps, c.rope_theta, c.tie_embeddings),
            (1e-5, 10000.0, false)
        );
    }
}

#[test]
fn with_vocab_changes_only_the_vocabulary() {
    let base = LlamaConfig::preset("llama2-15m").unwrap();
    let bytes = base.clone().with_vocab(256);
    assert_eq!(bytes.vocab_size, 256);
    assert_eq!(
        LlamaConfig {
            vocab_size: 32000,
            ..bytes.clone()
        },
        base
    );
    assert_eq!(
        base.param_count() - bytes.param_count(),
        2 * (32000 - 256) * 288
    );
}

#[test]
fn unknown_preset_lists_the_known_ones() {
    let e = LlamaConfig::preset("llama3-8b").unwrap_err().to_string();
    assert!(
        e.contains("llama3-8b") && e.contains("llama2-70b") && e.contains("tiny"),
        "{e}"
    );
}

#[test]
fn validate_names_the_bad_field() {
    let ok = LlamaConfig::preset("tiny").unwrap();
    let cases: Vec<(LlamaConfig, &str)> = vec![
        (
            LlamaConfig {
                n_heads: 3,
                ..ok.clone()
            },
            "n_heads",
        ),
        (
            LlamaConfig {
                n_kv_heads: 3,
                ..ok.clone()
            },
            "n_kv_heads",
        ),
        (
            LlamaConfig {
                n_kv_heads: 8,
                ..ok.clone()
            },
            "n_kv_heads",
        ),
        (
            LlamaConfig {
                dim: 0,
                ..ok.clone()
            },
            "dim",
        ),
        (
            LlamaConfig {
                ffn_dim: 0,
                ..ok.clone()
            },
            "ffn_dim",
        ),
        (
            LlamaConfig {
                norm_eps: 0.0,
                ..ok.clone()
            },
            "norm_eps",
        ),
        (
            LlamaConfig {
                rope_theta: f64::NAN,
                ..ok.clone()
            },
            "rope_theta",
        ),
        // dim 60 / 4 heads = head dim 15: odd, RoPE needs pairs.
        (
            LlamaConfig {
                dim: 60,
                ..ok.clone()
            },
            "n_heads",
        ),
    ];
    for (cfg, field) in cases {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(
            e.contains(&format!("`{field}`")),
            "expected {field} in: {e}"
        );
    }
}

#[test]
fn config_serializes_with_serde() {
    let cfg = LlamaConfig::preset("tinyllama-1.1b").unwrap();
    let text = serde_json::to_string(&cfg).unwrap();
    let back: LlamaConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cfg);
}
