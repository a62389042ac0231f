//! The host side of PPO against hand-computed numbers: KL-penalized per-token rewards,
//! GAE (and its λ = 1 and λ = 0 limits), whitening, and the defaults a user gets.

use llc_models::PpoLossOptions;
use llc_trainer::ppo::{
    PpoConfig, advantages_and_returns, batch_rewards, gae, kl_penalized_rewards,
    last_response_position, llama2_kl_beta, masked_mean, whiten,
};

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

/// Two prompt positions, a 3-token response, one padding position.
const MASK: [f64; 6] = [0.0, 0.0, 1.0, 1.0, 1.0, 0.0];

fn three_token_rewards() -> Vec<f64> {
    let logprobs = [-3.0, -3.0, -1.0, -2.0, -0.5, -7.0];
    let ref_logprobs = [-1.0, -1.0, -1.2, -1.5, -0.5, -1.0];
    kl_penalized_rewards(&logprobs, &ref_logprobs, &MASK, 2.0, 0.1)
}

/// Values with junk outside the response, which GAE must not read.
const VALUES: [f64; 6] = [9.0, 9.0, 0.5, 1.0, 1.5, 9.0];

#[test]
fn rewards_are_the_kl_penalty_plus_the_score_at_the_last_response_token() {
    // −0.1 (−1 + 1.2), −0.1 (−2 + 1.5), −0.1 · 0 + score 2
    close(
        &three_token_rewards(),
        &[0.0, 0.0, -0.02, 0.05, 2.0, 0.0],
        1e-15,
    );
    assert_eq!(last_response_position(&MASK), Some(4));
    assert_eq!(last_response_position(&[0.0; 4]), None);
    let none = kl_penalized_rewards(&[-1.0; 3], &[-2.0; 3], &[0.0; 3], 5.0, 0.1);
    assert_eq!(none, vec![0.0; 3], "no response token, no reward");
}

#[test]
fn gae_of_a_three_token_response_by_hand() {
    let r = three_token_rewards();
    let g = gae(&r, &VALUES, &MASK, 1.0, 0.95);
    // t=4: δ = 2 + 0 − 1.5 = 0.5, A = 0.5
    // t=3: δ = 0.05 + 1.5 − 1 = 0.55, A = 0.55 + 0.95 · 0.5 = 1.025
    // t=2: δ = −0.02 + 1 − 0.5 = 0.48, A = 0.48 + 0.95 · 1.025 = 1.45375
    close(&g.advantages, &[0.0, 0.0, 1.45375, 1.025, 0.5, 0.0], 1e-12);
    close(&g.returns, &[0.0, 0.0, 1.95375, 2.025, 2.0, 0.0], 1e-12);
}

#[test]
fn gae_with_lambda_one_is_the_reward_to_go_minus_the_value() {
    let r = three_token_rewards();
    let g = gae(&r, &VALUES, &MASK, 1.0, 1.0);
    // reward-to-go: 2.03, 2.05, 2.0
    close(&g.advantages, &[0.0, 0.0, 1.53, 1.05, 0.5, 0.0], 1e-12);
    close(&g.returns, &[0.0, 0.0, 2.03, 2.05, 2.0, 0.0], 1e-12);
    // with a discount: Σ_k γ^(k−t) r_k − V_t
    let gamma: f64 = 0.9;
    let g = gae(&r, &VALUES, &MASK, gamma, 1.0);
    let to_go = |t: usize| {
        (t..5)
            .map(|k| gamma.powi((k - t) as i32) * r[k])
            .sum::<f64>()
    };
    let want: Vec<f64> = (0..6)
        .map(|t| {
            if MASK[t] != 0.0 {
                to_go(t) - VALUES[t]
            } else {
                0.0
            }
        })
        .collect();
    close(&g.advantages, &want, 1e-12);
}

#[test]
fn gae_with_lambda_zero_is_the_one_step_td_error() {
    let r = three_token_rewards();
    let g = gae(&r, &VALUES, &MASK, 1.0, 0.0);
    close(&g.advantages, &[0.0, 0.0, 0.48, 0.55, 0.5, 0.0], 1e-12);
}

#[test]
fn masked_mean_averages_the_selected_entries_only() {
    assert_eq!(
        masked_mean(&[1.0, 2.0, 3.0, 100.0], &[1.0, 1.0, 1.0, 0.0]),
        2.0
    );
    assert_eq!(masked_mean(&[1.0, 2.0], &[0.0, 0.0]), 0.0, "empty: 0");
}

#[test]
fn whitening_gives_mean_zero_and_unit_unbiased_std_over_the_mask() {
    let mask = [1.0, 1.0, 1.0, 0.0];
    // mean 2, unbiased variance (1 + 0 + 1) / 2 = 1
    let w = whiten(&[1.0, 2.0, 3.0, 100.0], &mask, true).unwrap();
    close(&w, &[-1.0, 0.0, 1.0, 0.0], 1e-8);
    let kept = whiten(&[1.0, 2.0, 3.0, 100.0], &mask, false).unwrap();
    close(&kept, &[1.0, 2.0, 3.0, 0.0], 1e-8);

    let x: Vec<f64> = (0..40)
        .map(|i| ((i * 37) % 11) as f64 * 0.3 - 1.0)
        .collect();
    let m: Vec<f64> = (0..40).map(|i| f64::from(u8::from(i % 3 != 0))).collect();
    let w = whiten(&x, &m, true).unwrap();
    let n: f64 = m.iter().sum();
    let mean = masked_mean(&w, &m);
    let sq: Vec<f64> = w.iter().map(|v| v * v).collect();
    let var = masked_mean(&sq, &m) * n / (n - 1.0);
    assert!(mean.abs() < 1e-12, "{mean}");
    assert!((var - 1.0).abs() < 1e-6, "{var}");
    assert!(w.iter().zip(&m).all(|(v, m)| *m != 0.0 || *v == 0.0));
    assert_eq!(whiten(&[1.0, 2.0], &[0.0, 1.0], true), None, "one entry");
}

#[test]
fn batch_rewards_whiten_the_scores_then_pay_each_at_its_row_end() {
    let lp = [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0];
    let mask = [0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
    // two scores whiten to ∓1/√2 (unbiased std of a pair is |s1 − s2| / √2)
    let r = batch_rewards(&lp, &lp, &mask, &[3.0, 7.0], 3, 0.1, true).unwrap();
    let h = std::f64::consts::FRAC_1_SQRT_2;
    close(&r, &[0.0, 0.0, -h, 0.0, 0.0, h], 1e-8);
    let raw = batch_rewards(&lp, &lp, &mask, &[3.0, 7.0], 3, 0.1, false).unwrap();
    close(&raw, &[0.0, 0.0, 3.0, 0.0, 0.0, 7.0], 0.0);
    assert_eq!(
        batch_rewards(&lp[..3], &lp[..3], &mask[..3], &[3.0], 3, 0.1, true),
        None
    );
}

#[test]
fn batch_advantages_are_whitened_over_the_response_and_returns_are_raw() {
    let r = three_token_rewards();
    let (rewards, values, mask) = (
        [r.clone(), r.iter().map(|x| -x).collect()].concat(),
        [VALUES, VALUES].concat(),
        [MASK, MASK].concat(),
    );
    let g = advantages_and_returns(&rewards, &values, &mask, 6, 1.0, 0.95).unwrap();
    let row0 = gae(&r, &VALUES, &MASK, 1.0, 0.95);
    assert_eq!(
        g.returns[..6],
        row0.returns[..],
        "returns use the raw advantages"
    );
    let raw = [
        row0.advantages.clone(),
        gae(&rewards[6..], &VALUES, &MASK, 1.0, 0.95).advantages,
    ]
    .concat();
    assert_eq!(Some(g.advantages.clone()), whiten(&raw, &mask, true));
    assert!(masked_mean(&g.advantages, &mask).abs() < 1e-12);
    assert_eq!(
        advantages_and_returns(&[0.0; 3], &[0.0; 3], &[0.0, 0.0, 1.0], 3, 1.0, 0.95),
        None
    );
}

#[test]
fn defaults_are_the_papers_and_trls() {
    let c = PpoConfig::default();
    assert_eq!((c.kl_beta, c.gamma, c.lambda), (0.01, 1.0, 0.95));
    assert_eq!(c.loss, PpoLossOptions::default());
    assert_eq!(c.loss.clip, 0.2);
    assert_eq!((c.lr, c.beta1, c.beta2, c.eps), (1e-6, 0.9, 0.95, 1e-5));
    assert_eq!((c.weight_decay, c.clip_norm), (0.1, 1.0));
    assert_eq!((c.batch_size, c.minibatch_size, c.epochs), (512, 64, 1));
    assert!(c.whiten_scores);
    assert_eq!(llama2_kl_beta(6_738_415_616), 0.01);
    assert_eq!(llama2_kl_beta(13_015_864_320), 0.01);
    assert_eq!(llama2_kl_beta(68_976_648_192), 0.005);
}
