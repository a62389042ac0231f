//! No `config.json` panics the reader: random JSON, random text, and a valid config with
//! random (huge, negative, float, string, nested) values in its fields all give `Ok` or an
//! error that names what is wrong. Whatever is accepted validates, and everything derived
//! from it (parameter names, count, the written config) is computed without overflow.

use llc_models::{LlamaConfig, ModelError, param_names};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Number, Value, json};
use std::cell::Cell;

/// 2000 cases per property, or `PROPTEST_CASES` to fuzz longer.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// A small valid Llama config (every field the reader looks at).
fn base() -> Map<String, Value> {
    let v = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "intermediate_size": 172,
        "vocab_size": 256,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": null,
        "tie_word_embeddings": false,
        "hidden_act": "silu",
        "attention_bias": false,
        "mlp_bias": false,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Every field the reader interprets, plus the nested rope parameters.
const FIELDS: &[&str] = &[
    "architectures",
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "tie_word_embeddings",
    "hidden_act",
    "attention_bias",
    "mlp_bias",
];

/// Numbers at and around the interesting edges: 0, 1, powers of two, the limits, `u64`
/// and `i64` extremes, floats that look like integers, huge and tiny floats.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        (0u32..64).prop_map(|s| Value::from(1u64 << s)),
        (0u32..64).prop_map(|s| Value::from((1u64 << s).wrapping_sub(1))),
        (0u64..300).prop_map(Value::from),
        prop::sample::select(vec![
            0u64,
            1,
            2,
            10_000,
            10_001,
            1 << 20,
            (1 << 20) + 1,
            1 << 24,
            (1 << 24) + 1,
            100_000_000_000_000_000,
            u64::MAX / 9 + 1,
            u64::MAX,
        ])
        .prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            1e17,
            1e300,
            -1.0,
            0.5,
            64.0,
            1.8446744073709552e19,
            -0.0
        ])
        .prop_map(Value::from),
    ]
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["llama", "silu", "default", "LlamaForCausalLM", ""])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..4).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// What to do to one field of the base config.
#[derive(Debug, Clone)]
enum Change {
    Remove,
    Set(Value),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        1 => Just(Change::Remove),
        4 => number().prop_map(Change::Set),
        2 => any_json().prop_map(Change::Set),
    ]
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected,
}

/// The checks every outcome must pass: an error has a message and names its field; an
/// accepted config is valid and everything computed from it works.
fn check(text: &str) -> Result<Outcome, TestCaseError> {
    match LlamaConfig::from_hf_config_json(text) {
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(!msg.trim().is_empty(), "empty message for {:?}", e);
            if let ModelError::HfField { field, msg: detail } = &e {
                prop_assert!(!field.is_empty(), "{}", msg);
                prop_assert!(!detail.trim().is_empty(), "{}", msg);
                prop_assert!(
                    msg.contains(&format!("`{field}`")),
                    "message does not name the field: {}",
                    msg
                );
            }
            Ok(Outcome::Rejected)
        }
        Ok(cfg) => {
            prop_assert!(cfg.validate().is_ok(), "accepted but invalid: {:?}", cfg);
            let count = cfg.checked_param_count();
            prop_assert!(
                count.is_some_and(|n| n <= LlamaConfig::MAX_PARAMS),
                "{:?}",
                cfg
            );
            let names = param_names(&cfg);
            let summed = names.iter().try_fold(0u64, |acc, (_, shape)| {
                acc.checked_add(llc_ir::dtype::checked_numel(shape)?)
            });
            prop_assert_eq!(summed, count);
            let again = LlamaConfig::from_hf_config_json(&cfg.to_hf_config_json());
            prop_assert_eq!(again.as_ref(), Ok(&cfg));
            Ok(Outcome::Accepted)
        }
    }
}

/// Run `check` on the text of `cases()` values of `strategy` (a panic fails the case and
/// is shrunk like any other failure), print how many were accepted and rejected, and
/// return those counts.
fn fuzz<S: Strategy>(name: &str, strategy: S, text: impl Fn(S::Value) -> String) -> [u32; 2] {
    let counts = [Cell::new(0u32), Cell::new(0u32)];
    let mut runner = TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    });
    let result = runner.run(&strategy, |v| {
        let i = match check(&text(v))? {
            Outcome::Accepted => 0,
            Outcome::Rejected => 1,
        };
        counts[i].set(counts[i].get() + 1);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let [ok, err] = counts.map(|c| c.get());
    println!("{name}: {} cases, {ok} accepted, {err} rejected", cases());
    [ok, err]
}

/// Apply `changes` to the base config.
fn changed(changes: Vec<(&str, Change)>) -> String {
    let mut obj = base();
    for (field, change) in changes {
        match change {
            Change::Remove => {
                obj.remove(field);
            }
            Change::Set(v) => {
                obj.insert(field.to_string(), v);
            }
        }
    }
    Value::Object(obj).to_string()
}

#[test]
fn one_field_changed_never_panics() {
    let [ok, err] = fuzz(
        "one field changed",
        (prop::sample::select(FIELDS), change()),
        |c| changed(vec![c]),
    );
    // Both branches of `check` run: some changes keep the config valid (removing an
    // optional field, a new rope_theta), most break it.
    assert!(ok > 0 && err > 0, "{ok} accepted, {err} rejected");
}

#[test]
fn several_fields_changed_never_panic() {
    let [_, err] = fuzz(
        "several fields changed",
        prop::collection::vec((prop::sample::select(FIELDS), change()), 1..8),
        changed,
    );
    assert!(err > 0);
}

#[test]
fn size_fields_with_random_integers_never_panic() {
    // All six size fields at once, so combinations (many layers times a huge width) are
    // reached, not just one absurd field among sane ones. Powers of two up to 2^25 often
    // make a consistent model, some near the 2^48 parameter limit and some past it.
    let size = prop_oneof![1 => number(), 6 => (0u32..26).prop_map(|s| Value::from(1u64 << s))];
    let sizes = prop::collection::vec(size, 6);
    let [ok, err] = fuzz("all size fields random", sizes, |sizes| {
        let mut obj = base();
        obj.remove("head_dim");
        for (field, v) in [
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "intermediate_size",
            "vocab_size",
        ]
        .into_iter()
        .zip(sizes)
        {
            obj.insert(field.to_string(), v);
        }
        Value::Object(obj).to_string()
    });
    // About 1.5% of cases are consistent models: expect some in a full run.
    assert!(
        err > 0 && (ok > 0 || cases() < 1000),
        "{ok} accepted, {err} rejected"
    );
}

#[test]
fn random_json_never_panics() {
    let [_, err] = fuzz("random JSON", any_json(), |v| v.to_string());
    assert!(err > 0);
}

#[test]
fn random_text_never_panics() {
    let [_, err] = fuzz("random text", "\\PC{0,200}", |s| s);
    assert!(err > 0);
}

#[test]
fn the_base_config_is_accepted() {
    // The mutations start from a config that reads: otherwise every case would be an
    // error and the `Ok` branch of `check` would never run.
    let cfg = LlamaConfig::from_hf_config_json(&changed(vec![])).unwrap();
    assert_eq!((cfg.dim, cfg.n_layers, cfg.n_kv_heads), (64, 2, 2));
}
