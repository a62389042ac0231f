//! The whole tiny GQA Llama (d64, 2 layers, 4 query / 2 KV heads, vocab 256) checked in
//! f64 against finite differences: every parameter tensor, its largest-gradient entry plus
//! a few random ones. Relative error bound 1e-6 (see `support` for the measure).

mod support;

use llc_ir::DType;
use llc_models::{BuildOptions, ForwardOutput, Head, LlamaConfig, build_forward, reward_inputs};
use support::{Entries, args_for, grad_check};

fn check_model(opts: BuildOptions, seed: u64) {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let m = build_forward(&cfg, &opts).unwrap();
    let f = &m.functions[0];
    let mut args = args_for(f, seed, cfg.vocab_size as i32, |x| x);
    if opts.loss_mask {
        // a 0/1 mask: the loss covers about half the tokens
        let i = f
            .args()
            .iter()
            .position(|&a| f.node(a).name == "loss_mask")
            .unwrap();
        let v = args[i]
            .to_f64_vec()
            .into_iter()
            .map(|x| if x > 0.0 { 1.0 } else { 0.0 })
            .collect();
        args[i] = llc_runtime::Tensor::from_f64(args[i].shape().to_vec(), v).unwrap();
    }
    let r = grad_check(f, &args, Entries::Sample(3), seed);
    for (p, e) in &r.per_param {
        eprintln!("{p:<36} max rel err {e:.2e}");
    }
    eprintln!(
        "tiny model: max rel err {:.2e} over {} entries",
        r.max_err, r.entries
    );
    assert_eq!(r.per_param.len(), llc_models::param_names(&cfg).len());
    assert!(r.max_err < 1e-6, "{:?}", r.per_param);
}

#[test]
fn tiny_gqa_llama_gradients_match_finite_differences() {
    let opts = BuildOptions {
        dtype: DType::F64,
        ..BuildOptions::new(2, 6)
    };
    check_model(opts, 7);
}

#[test]
fn tiny_llama_masked_loss_gradients_match_finite_differences() {
    let opts = BuildOptions {
        dtype: DType::F64,
        loss_mask: true,
        ..BuildOptions::new(1, 5)
    };
    check_model(opts, 8);
}

/// The reward model's ranking loss (Llama 2 §3.2.2) on the tiny trunk with a score head:
/// 3 pairs (6 rows) of 6 tokens, each sequence read at its own position, margins from the
/// paper's scale. Every parameter, the score head included, against finite differences.
#[test]
fn tiny_reward_model_ranking_loss_gradients_match_finite_differences() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let opts = BuildOptions {
        dtype: DType::F64,
        output: ForwardOutput::RankingLoss,
        ..BuildOptions::new(6, 6)
    };
    let m = build_forward(&cfg, &opts).unwrap();
    let f = &m.functions[0];
    let mut args = args_for(f, 11, cfg.vocab_size as i32, |x| x);
    let arg = |name: &str| {
        f.args()
            .iter()
            .position(|&a| f.node(a).name == name)
            .unwrap()
    };
    args[arg(reward_inputs::REWARD_POS)] =
        llc_runtime::Tensor::from_i32(vec![6], vec![5, 3, 4, 2, 5, 1]).unwrap();
    args[arg(reward_inputs::MARGIN)] =
        llc_runtime::Tensor::from_f64(vec![3], vec![1.0, 2.0 / 3.0, 0.0]).unwrap();
    let r = grad_check(f, &args, Entries::Sample(3), 11);
    for (p, e) in &r.per_param {
        eprintln!("{p:<36} max rel err {e:.2e}");
    }
    eprintln!(
        "tiny reward model: max rel err {:.2e} over {} entries",
        r.max_err, r.entries
    );
    let names = llc_models::param_names_for(&cfg, Head::Score);
    assert_eq!(r.per_param.len(), names.len());
    assert!(names.iter().any(|(n, _)| n == Head::SCORE_WEIGHT));
    assert!(r.max_err < 1e-6, "{:?}", r.per_param);
}
