//! The PPO graphs on the Llama trunk: a policy with a value head (its parameters, its
//! config.json), the rollout statistics, the reference policy's log-probs and the PPO
//! loss (their inputs and outputs). Their numbers are checked in
//! `passes/tests/gradcheck_model.rs`.

use llc_ir::{DType, Function, TensorType};
use llc_models::{
    BuildOptions, ForwardOutput, Head, LlamaConfig, ModelError, PpoLossOptions, build_forward,
    param_names, param_names_for, ppo_inputs,
};

fn tiny() -> LlamaConfig {
    LlamaConfig::preset("tiny").unwrap()
}

fn build(output: ForwardOutput) -> Function {
    let opts = BuildOptions {
        output,
        ..BuildOptions::new(3, 8)
    };
    let m = build_forward(&tiny(), &opts).unwrap();
    llc_ir::verify_module(&m).unwrap();
    m.functions.into_iter().next().unwrap()
}

fn arg_names(f: &Function) -> Vec<String> {
    f.args().iter().map(|&a| f.node(a).name.clone()).collect()
}

fn output_names(f: &Function) -> Vec<String> {
    f.outputs()
        .iter()
        .map(|o| f.node(o.node).name.clone())
        .collect()
}

#[test]
fn policy_value_params_are_the_policy_and_a_value_row() {
    let cfg = tiny();
    let pv = param_names_for(&cfg, Head::PolicyValue);
    let (last, shape) = pv.last().unwrap();
    assert_eq!(last, Head::VALUE_WEIGHT);
    assert_eq!(shape, &vec![1, cfg.dim]);
    assert_eq!(pv[..pv.len() - 1], param_names(&cfg)[..]);
    // A tied policy keeps its tied LM head and still gets a value head.
    let tied = LlamaConfig {
        tie_embeddings: true,
        ..cfg.clone()
    };
    let pv = param_names_for(&tied, Head::PolicyValue);
    assert_eq!(pv[..pv.len() - 1], param_names(&tied)[..]);
    assert!(!pv.iter().any(|(n, _)| n == "output.weight"));
}

#[test]
fn a_policy_with_a_value_head_is_a_causal_lm_in_config_json() {
    let cfg = tiny();
    assert_eq!(Head::PolicyValue.hf_architecture(), "LlamaForCausalLM");
    assert!(Head::PolicyValue.describe().contains("value head"));
    let text = cfg.to_hf_config_json_for(Head::PolicyValue);
    assert_eq!(text, cfg.to_hf_config_json());
    let (back, head) = LlamaConfig::from_hf_config_json_any(&text).unwrap();
    assert_eq!((back.clone(), head), (cfg.clone(), Head::CausalLm));
    assert_eq!(
        LlamaConfig::from_hf_config_json_for(&text, Head::PolicyValue).unwrap(),
        back
    );
    let rm = cfg.to_hf_config_json_for(Head::Score);
    assert_eq!(
        LlamaConfig::from_hf_config_json_for(&rm, Head::PolicyValue).unwrap_err(),
        ModelError::WrongHead {
            expected: Head::PolicyValue,
            found: Head::Score
        }
    );
}

#[test]
fn policy_stats_return_logprobs_values_and_entropy_per_token() {
    let f = build(ForwardOutput::PolicyStats);
    let n_params = param_names_for(&tiny(), Head::PolicyValue).len();
    let names = arg_names(&f);
    assert_eq!(names[n_params..], ["tokens", ppo_inputs::TARGETS]);
    assert_eq!(names[n_params - 1], Head::VALUE_WEIGHT);
    assert_eq!(output_names(&f), ["logprobs", "values", "entropy"]);
    for o in f.outputs() {
        assert_eq!(f.ty(o.node), &TensorType::new(DType::F32, [3, 8]));
    }
}

#[test]
fn reference_logprobs_read_a_plain_causal_lm() {
    let f = build(ForwardOutput::TokenLogprobs);
    let n_params = param_names(&tiny()).len();
    let names = arg_names(&f);
    assert_eq!(names.len(), n_params + 2);
    assert!(!names.iter().any(|n| n == Head::VALUE_WEIGHT));
    assert_eq!(names[n_params..], ["tokens", ppo_inputs::TARGETS]);
    assert_eq!(output_names(&f), ["logprobs"]);
    let out = f.outputs()[0].node;
    assert_eq!(f.ty(out), &TensorType::new(DType::F32, [3, 8]));
}

#[test]
fn ppo_loss_takes_the_rollout_and_returns_a_scalar() {
    let f = build(ForwardOutput::PpoLoss);
    let n_params = param_names_for(&tiny(), Head::PolicyValue).len();
    let names = arg_names(&f);
    let mut expected = vec!["tokens", ppo_inputs::TARGETS];
    expected.extend(ppo_inputs::ROLLOUT);
    assert_eq!(names[n_params..], expected[..]);
    assert_eq!(
        ppo_inputs::ROLLOUT,
        [
            "action_mask",
            "old_logprobs",
            "advantages",
            "returns",
            "old_values"
        ]
    );
    for &a in &f.args()[n_params + 2..] {
        assert_eq!(f.ty(a), &TensorType::new(DType::F32, [3, 8]));
    }
    assert_eq!(output_names(&f), ["loss"]);
    assert_eq!(f.ty(f.outputs()[0].node).shape.len(), 0, "a scalar");
}

#[test]
fn ppo_defaults_are_the_papers_and_trls_and_bad_ones_are_refused() {
    let d = PpoLossOptions::default();
    assert_eq!((d.clip, d.value_clip, d.vf_coef), (0.2, 0.2, 0.1));
    assert_eq!(BuildOptions::new(1, 4).ppo, d);
    for (ppo, field) in [
        (PpoLossOptions { clip: 0.0, ..d }, "ppo.clip"),
        (PpoLossOptions { clip: 1.0, ..d }, "ppo.clip"),
        (
            PpoLossOptions {
                value_clip: f64::NAN,
                ..d
            },
            "ppo.value_clip",
        ),
        (PpoLossOptions { vf_coef: -0.1, ..d }, "ppo.vf_coef"),
    ] {
        let opts = BuildOptions {
            output: ForwardOutput::PpoLoss,
            ppo,
            ..BuildOptions::new(1, 4)
        };
        match build_forward(&tiny(), &opts) {
            Err(ModelError::InvalidOption { option, .. }) => assert_eq!(option, field),
            other => panic!("{field}: expected an option error, got {other:?}"),
        }
    }
    let masked = BuildOptions {
        output: ForwardOutput::PpoLoss,
        loss_mask: true,
        ..BuildOptions::new(1, 4)
    };
    assert!(build_forward(&tiny(), &masked).is_err());
}
