//! The whole tiny GQA Llama (d64, 2 layers, 4 query / 2 KV heads, vocab 256) checked in
//! f64 against finite differences: every parameter tensor, its largest-gradient entry plus
//! a few random ones. Relative error bound 1e-6 (see `support` for the measure).

mod support;

use llc_ir::{DType, Function};
use llc_models::{
    BuildOptions, ForwardOutput, Head, LlamaConfig, PpoLossOptions, build_forward, ppo_inputs,
    reward_inputs,
};
use llc_runtime::{Precision, Tensor, run_function, run_function_traced};
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

/// The PPO graphs of the tiny policy with a value head at `B = 2`, `T = 6`, in f64.
const PPO_B: usize = 2;
const PPO_T: usize = 6;

fn ppo_graph(output: ForwardOutput) -> Function {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let opts = BuildOptions {
        dtype: DType::F64,
        output,
        ..BuildOptions::new(PPO_B, PPO_T)
    };
    build_forward(&cfg, &opts).unwrap().functions.remove(0)
}

fn arg_index(f: &Function, name: &str) -> usize {
    f.args()
        .iter()
        .position(|&a| f.node(a).name == name)
        .unwrap_or_else(|| panic!("no argument {name}"))
}

fn bt_tensor(v: Vec<f64>) -> Tensor {
    Tensor::from_f64(vec![PPO_B, PPO_T], v).unwrap()
}

/// A rollout for the PPO loss: the stats graph's arguments (parameters, tokens, targets,
/// random with `seed`), its outputs (logprobs, values, entropy), and the loss graph's
/// arguments with `old_logprobs = logprobs − dlogp` and `old_values = values − dvalue`,
/// a 0/1 action mask, and random advantages and returns.
struct PpoCase {
    loss_fn: Function,
    stats: Vec<Vec<f64>>,
    args: Vec<Tensor>,
}

fn ppo_case(seed: u64, dlogp: &[f64], dvalue: &[f64]) -> PpoCase {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let stats_fn = ppo_graph(ForwardOutput::PolicyStats);
    let loss_fn = ppo_graph(ForwardOutput::PpoLoss);
    let stats_args = args_for(&stats_fn, seed, cfg.vocab_size as i32, |x| x);
    let stats: Vec<Vec<f64>> = run_function(&stats_fn, &stats_args, Precision::F64)
        .unwrap()
        .iter()
        .map(Tensor::to_f64_vec)
        .collect();
    let mut args = args_for(&loss_fn, seed + 1, cfg.vocab_size as i32, |x| x);
    args[..stats_args.len()].clone_from_slice(&stats_args);
    let n = PPO_B * PPO_T;
    let shifted = |x: &[f64], d: &[f64]| (0..n).map(|i| x[i] - d[i % d.len()]).collect();
    // prompt tokens, then the response: row 0 answers from position 2, row 1 from 3
    let mask = (0..n)
        .map(|i| if i % PPO_T >= 2 + i / PPO_T { 1.0 } else { 0.0 })
        .collect();
    for (name, v) in [
        (ppo_inputs::ACTION_MASK, mask),
        (ppo_inputs::OLD_LOGPROBS, shifted(&stats[0], dlogp)),
        (ppo_inputs::OLD_VALUES, shifted(&stats[1], dvalue)),
    ] {
        args[arg_index(&loss_fn, name)] = bt_tensor(v);
    }
    PpoCase {
        loss_fn,
        stats,
        args,
    }
}

fn masked_mean(x: &[f64], mask: &[f64]) -> f64 {
    let n: f64 = mask.iter().sum();
    x.iter().zip(mask).map(|(x, m)| x * m).sum::<f64>() / n.max(1.0)
}

/// PolicyStats on the interpreter: its log-probs are the LM loss graph's per-token `−nll`
/// (the same trunk and LM head), its entropies lie in `[0, ln V]`.
#[test]
fn policy_stats_logprobs_are_the_lm_nll_and_entropies_are_bounded() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let stats_fn = ppo_graph(ForwardOutput::PolicyStats);
    let args = args_for(&stats_fn, 21, cfg.vocab_size as i32, |x| x);
    let out = run_function(&stats_fn, &args, Precision::F64).unwrap();
    let (logprobs, entropy) = (out[0].to_f64_vec(), out[2].to_f64_vec());

    let lm = build_forward(
        &cfg,
        &BuildOptions {
            dtype: DType::F64,
            ..BuildOptions::new(PPO_B, PPO_T)
        },
    )
    .unwrap()
    .functions
    .remove(0);
    // the LM's arguments: every parameter but the value head, then tokens and targets
    let lm_args: Vec<Tensor> = lm
        .args()
        .iter()
        .map(|&a| args[arg_index(&stats_fn, &lm.node(a).name)].clone())
        .collect();
    let trace = run_function_traced(&lm, &lm_args, Precision::F64).unwrap();
    let nll = trace
        .get("nll")
        .expect("the LM graph names its nll")
        .to_f64_vec();
    assert_eq!(nll.len(), logprobs.len());
    for (lp, nll) in logprobs.iter().zip(&nll) {
        assert!((lp + nll).abs() < 1e-12, "logprob {lp} vs nll {nll}");
        assert!(*lp < 0.0);
    }
    // the reference policy's graph gives the same numbers from the plain LM's parameters
    let reference = ppo_graph(ForwardOutput::TokenLogprobs);
    let ref_args: Vec<Tensor> = reference
        .args()
        .iter()
        .map(|&a| args[arg_index(&stats_fn, &reference.node(a).name)].clone())
        .collect();
    let ref_lp = run_function(&reference, &ref_args, Precision::F64).unwrap()[0].to_f64_vec();
    assert_eq!(ref_lp, logprobs);

    let ln_v = (cfg.vocab_size as f64).ln();
    for h in &entropy {
        assert!(
            (0.0..=ln_v).contains(h),
            "entropy {h} outside [0, ln V = {ln_v}]"
        );
    }
    // random small weights: nearly uniform predictions, entropy close to ln V
    assert!(entropy.iter().all(|h| *h > 0.5 * ln_v), "{entropy:?}");
}

/// At the rollout's own log-probs and values (ratio 1, nothing clipped) the PPO loss is
/// `−masked_mean(A) + vf_coef · 0.5 · masked_mean((V − R)²)`, each part as TRL computes it.
#[test]
fn ppo_loss_at_the_rollout_policy_is_minus_the_mean_advantage_plus_the_value_error() {
    let case = ppo_case(23, &[0.0], &[0.0]);
    let f = &case.loss_fn;
    let trace = run_function_traced(f, &case.args, Precision::F64).unwrap();
    let input = |name| case.args[arg_index(f, name)].to_f64_vec();
    let mask = input(ppo_inputs::ACTION_MASK);
    let adv = input(ppo_inputs::ADVANTAGES);
    let ret = input(ppo_inputs::RETURNS);
    let values = &case.stats[1];
    let pg = -masked_mean(&adv, &mask);
    let sq: Vec<f64> = values
        .iter()
        .zip(&ret)
        .map(|(v, r)| (v - r).powi(2))
        .collect();
    let vf = 0.5 * masked_mean(&sq, &mask);
    let part = |suffix: &str| {
        let (name, t) = trace
            .values
            .iter()
            .find(|(n, _)| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no value named *{suffix}"));
        eprintln!("{name} = {:?}", t.to_f64_vec());
        t.to_f64_vec()[0]
    };
    assert!((part("pg_loss") - pg).abs() < 1e-10);
    assert!((part("vf_loss") - vf).abs() < 1e-10);
    let loss = trace.outputs[0].to_f64_vec()[0];
    let vf_coef = PpoLossOptions::default().vf_coef;
    assert!(
        (loss - (pg + vf_coef * vf)).abs() < 1e-10,
        "{loss} vs {pg} + {vf_coef} * {vf}"
    );
}

/// Away from the rollout policy the graph's loss is TRL's formula computed on the host
/// from PolicyStats' outputs, with ratios and values on both sides of the clip ranges
/// (a graph that forgot a clip, or clipped the wrong side, differs here).
#[test]
fn ppo_loss_matches_trls_formula_inside_and_outside_the_clips() {
    let dlogp = [0.1, -0.4, -0.1, 0.4, 0.05];
    let dvalue = [0.4, -0.1, 0.1, -0.4, 0.3];
    let case = ppo_case(27, &dlogp, &dvalue);
    let f = &case.loss_fn;
    let input = |name| case.args[arg_index(f, name)].to_f64_vec();
    let (mask, adv, ret) = (
        input(ppo_inputs::ACTION_MASK),
        input(ppo_inputs::ADVANTAGES),
        input(ppo_inputs::RETURNS),
    );
    let (old_lp, old_v) = (
        input(ppo_inputs::OLD_LOGPROBS),
        input(ppo_inputs::OLD_VALUES),
    );
    let (lp, v) = (&case.stats[0], &case.stats[1]);
    let o = PpoLossOptions::default();
    let n = PPO_B * PPO_T;
    let (mut pg, mut vf, mut clipped) = (vec![0.0; n], vec![0.0; n], 0);
    for i in 0..n {
        let ratio = (lp[i] - old_lp[i]).exp();
        let r_clip = ratio.clamp(1.0 - o.clip, 1.0 + o.clip);
        pg[i] = (-adv[i] * ratio).max(-adv[i] * r_clip);
        let v_clip = v[i].clamp(old_v[i] - o.value_clip, old_v[i] + o.value_clip);
        vf[i] = (v[i] - ret[i]).powi(2).max((v_clip - ret[i]).powi(2));
        clipped += usize::from(r_clip != ratio) + usize::from(v_clip != v[i]);
    }
    assert!(
        clipped >= n / 2,
        "the case clips only {clipped} of {n} ratios and values"
    );
    let want = masked_mean(&pg, &mask) + o.vf_coef * 0.5 * masked_mean(&vf, &mask);
    let got = run_function(f, &case.args, Precision::F64).unwrap()[0].to_f64_vec()[0];
    assert!(
        (got - want).abs() < 1e-10,
        "graph {got} vs TRL's formula {want}"
    );
}

/// The PPO loss (Llama 2 §3.2.3, TRL's clipped surrogate and clipped value loss) on the
/// tiny policy with a value head, every parameter including `value_head.weight`, against
/// finite differences. The rollout's log-probs and values are offset from the current
/// ones so that ratios and values fall inside and outside the clip ranges (log-ratio
/// ±0.1 inside, ±0.4 outside of [ln 0.8, ln 1.2]; value offsets ±0.1 inside, ±0.4 outside
/// of ±0.2), each at least 0.05 from a kink, far beyond what a perturbation moves them.
#[test]
fn tiny_ppo_loss_gradients_match_finite_differences() {
    let case = ppo_case(
        25,
        &[0.1, -0.4, -0.1, 0.4, 0.05],
        &[0.4, -0.1, 0.1, -0.4, 0.3],
    );
    let r = grad_check(&case.loss_fn, &case.args, Entries::Sample(3), 25);
    for (p, e) in &r.per_param {
        eprintln!("{p:<36} max rel err {e:.2e}");
    }
    eprintln!(
        "tiny PPO loss: max rel err {:.2e} over {} entries",
        r.max_err, r.entries
    );
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let names = llc_models::param_names_for(&cfg, Head::PolicyValue);
    assert_eq!(r.per_param.len(), names.len());
    assert!(r.per_param.iter().any(|(n, _)| n == Head::VALUE_WEIGHT));
    assert!(r.max_err < 1e-6, "{:?}", r.per_param);
}
