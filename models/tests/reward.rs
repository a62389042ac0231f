//! The reward model on the Llama trunk: its graphs (rewards, ranking loss), its parameter
//! list, and its Hugging Face `config.json` (LlamaForSequenceClassification), which a
//! policy load refuses and which refuses a policy's config in turn.

use llc_ir::{DType, Function, TensorType};
use llc_models::{
    BuildOptions, ForwardOutput, Head, LlamaConfig, ModelError, REWARD_PAD_ID, build_forward,
    param_names, param_names_for, reward_inputs,
};
use serde_json::Value;

fn tiny() -> LlamaConfig {
    LlamaConfig::preset("tiny").unwrap()
}

fn build(output: ForwardOutput, batch: usize) -> Function {
    let opts = BuildOptions {
        output,
        ..BuildOptions::new(batch, 8)
    };
    let m = build_forward(&tiny(), &opts).unwrap();
    llc_ir::verify_module(&m).unwrap();
    m.functions.into_iter().next().unwrap()
}

fn arg_names(f: &Function) -> Vec<String> {
    f.args().iter().map(|&a| f.node(a).name.clone()).collect()
}

#[test]
fn reward_params_are_the_trunk_and_a_score_row() {
    let cfg = tiny();
    let lm = param_names(&cfg);
    let rm = param_names_for(&cfg, Head::Score);
    let (last, shape) = rm.last().unwrap();
    assert_eq!(last, Head::SCORE_WEIGHT);
    assert_eq!(shape, &vec![1, cfg.dim]);
    let trunk = |v: &[(String, Vec<usize>)]| {
        v.iter()
            .filter(|(n, _)| n != "output.weight" && n != Head::SCORE_WEIGHT)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(trunk(&lm), trunk(&rm));
    assert!(!rm.iter().any(|(n, _)| n == "output.weight"));
    // A tied LM still gets its own score head.
    let tied = LlamaConfig {
        tie_embeddings: true,
        ..cfg.clone()
    };
    assert_eq!(param_names_for(&tied, Head::Score), rm);
}

#[test]
fn rewards_graph_takes_positions_and_returns_one_reward_per_sequence() {
    let f = build(ForwardOutput::Rewards, 3);
    let names = arg_names(&f);
    let n_params = param_names_for(&tiny(), Head::Score).len();
    assert_eq!(names[n_params..], ["tokens", reward_inputs::REWARD_POS]);
    let pos = f.args()[n_params + 1];
    assert_eq!(f.ty(pos), &TensorType::new(DType::I32, [3]));
    let out = f.outputs()[0].node;
    assert_eq!(f.ty(out), &TensorType::new(DType::F32, [3]));
    assert_eq!(f.node(out).name, "rewards");
}

#[test]
fn ranking_loss_graph_takes_pairs_and_margins() {
    let f = build(ForwardOutput::RankingLoss, 4);
    let names = arg_names(&f);
    let n_params = param_names_for(&tiny(), Head::Score).len();
    assert_eq!(
        names[n_params..],
        ["tokens", reward_inputs::REWARD_POS, reward_inputs::MARGIN]
    );
    let margin = f.args()[n_params + 2];
    assert_eq!(f.ty(margin), &TensorType::new(DType::F32, [2]));
    let out = f.outputs()[0].node;
    assert_eq!(f.ty(out).shape.len(), 0, "the loss is a scalar");
    assert_eq!(f.node(out).name, "loss");
}

#[test]
fn ranking_loss_needs_an_even_batch_and_masks_need_the_lm_loss() {
    let odd = BuildOptions {
        output: ForwardOutput::RankingLoss,
        ..BuildOptions::new(3, 8)
    };
    let e = build_forward(&tiny(), &odd).unwrap_err().to_string();
    assert!(e.contains("batch") && e.contains("odd"), "{e}");
    let masked = BuildOptions {
        output: ForwardOutput::RankingLoss,
        loss_mask: true,
        ..BuildOptions::new(2, 8)
    };
    let e = build_forward(&tiny(), &masked).unwrap_err().to_string();
    assert!(e.contains("loss_mask"), "{e}");
}

#[test]
fn reward_config_json_is_a_one_label_sequence_classifier() {
    let cfg = tiny();
    let text = cfg.to_hf_config_json_for(Head::Score);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["architectures"][0], "LlamaForSequenceClassification");
    assert_eq!(v["id2label"].as_object().unwrap().len(), 1);
    assert_eq!(v["pad_token_id"], REWARD_PAD_ID);
    assert_eq!(v["tie_word_embeddings"], false);
    let (back, head) = LlamaConfig::from_hf_config_json_any(&text).unwrap();
    assert_eq!(head, Head::Score);
    assert_eq!(
        back,
        LlamaConfig {
            tie_embeddings: false,
            ..cfg.clone()
        }
    );
    assert_eq!(
        LlamaConfig::from_hf_config_json_for(&text, Head::Score).unwrap(),
        back
    );
}

#[test]
fn a_reward_config_is_refused_as_a_policy_and_the_reverse() {
    let cfg = tiny();
    let rm = cfg.to_hf_config_json_for(Head::Score);
    let e = LlamaConfig::from_hf_config_json(&rm).unwrap_err();
    assert_eq!(
        e,
        ModelError::WrongHead {
            expected: Head::CausalLm,
            found: Head::Score
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("reward model") && msg.contains("causal language model"),
        "{msg}"
    );
    let lm = cfg.to_hf_config_json();
    let e = LlamaConfig::from_hf_config_json_for(&lm, Head::Score)
        .unwrap_err()
        .to_string();
    assert!(e.contains("describes a causal language model"), "{e}");
}

#[test]
fn reward_configs_with_other_label_counts_or_mixed_heads_are_refused() {
    let rm = tiny().to_hf_config_json_for(Head::Score);
    let with = |key: &str, value: &str| {
        let mut v: Value = serde_json::from_str(&rm).unwrap();
        v[key] = serde_json::from_str(value).unwrap();
        v.to_string()
    };
    for (text, field) in [
        (with("num_labels", "3"), "num_labels"),
        (with("id2label", r#"{"0": "BAD", "1": "GOOD"}"#), "id2label"),
        (
            with(
                "architectures",
                r#"["LlamaForCausalLM", "LlamaForSequenceClassification"]"#,
            ),
            "architectures",
        ),
    ] {
        match LlamaConfig::from_hf_config_json_any(&text) {
            Err(ModelError::HfField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected a field error, got {other:?}"),
        }
    }
}
