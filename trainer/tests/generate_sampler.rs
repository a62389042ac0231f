//! The sampler: greedy is argmax, temperature scales logits, top-p keeps the smallest
//! nucleus, the same seed gives the same draws, and draws follow the distribution.

use llc_trainer::generate::{
    GenerateError, Sampler, SamplingConfig, argmax, nucleus, softmax_with_temperature,
};

fn cfg(temperature: f64, top_p: f64) -> SamplingConfig {
    SamplingConfig {
        temperature,
        top_p,
        top_k: 0,
    }
}

#[test]
fn greedy_picks_the_argmax_and_the_first_of_ties() {
    let mut s = Sampler::new(SamplingConfig::greedy(), 7).unwrap();
    assert_eq!(s.sample(&[0.1, 3.0, -2.0, 2.9], 0).unwrap(), 1);
    assert_eq!(s.sample(&[-5.0, -1.0, -1.0], 0).unwrap(), 1);
    assert_eq!(s.sample(&[4.0], 0).unwrap(), 0);
    assert_eq!(argmax(&[1.0, 2.0, 2.0, 0.0]), 1);
    // Greedy ignores top_p and the seed.
    let mut other = Sampler::new(cfg(0.0, 0.1), 99).unwrap();
    assert_eq!(other.sample(&[0.1, 3.0, -2.0, 2.9], 0).unwrap(), 1);
}

#[test]
fn temperature_divides_the_logits() {
    let logits = [1.0f32, 2.0, 0.5, -1.0];
    let p1 = softmax_with_temperature(&logits, 1.0);
    let sum: f64 = p1.iter().sum();
    assert!((sum - 1.0).abs() < 1e-12);
    // By hand: exp(l) / sum exp(l).
    let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
    for (p, &l) in p1.iter().zip(&logits) {
        assert!((p - (l as f64).exp() / z).abs() < 1e-12);
    }
    // T = 0.5 equals softmax(2 * logits).
    let doubled: Vec<f32> = logits.iter().map(|l| 2.0 * l).collect();
    let half = softmax_with_temperature(&logits, 0.5);
    let ref_half = softmax_with_temperature(&doubled, 1.0);
    for (a, b) in half.iter().zip(&ref_half) {
        assert!((a - b).abs() < 1e-12, "{half:?} vs {ref_half:?}");
    }
    // Lower temperature sharpens, higher flattens.
    let hot = softmax_with_temperature(&logits, 4.0);
    assert!(half[1] > p1[1] && p1[1] > hot[1]);
    assert!(half[3] < p1[3] && p1[3] < hot[3]);
    // Large logits do not overflow.
    let big = softmax_with_temperature(&[1000.0, 999.0], 1.0);
    assert!((big[0] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
}

#[test]
fn top_p_keeps_the_smallest_nucleus() {
    let probs = [0.1, 0.4, 0.05, 0.3, 0.15];
    let ids = |k: Vec<(u32, f64)>| k.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(ids(nucleus(&probs, 0.4, 0)), vec![1]);
    assert_eq!(ids(nucleus(&probs, 0.41, 0)), vec![1, 3]);
    assert_eq!(ids(nucleus(&probs, 0.7, 0)), vec![1, 3]);
    assert_eq!(ids(nucleus(&probs, 0.71, 0)), vec![1, 3, 4]);
    assert_eq!(ids(nucleus(&probs, 0.9, 0)), vec![1, 3, 4, 0]);
    assert_eq!(ids(nucleus(&probs, 0.96, 0)), vec![1, 3, 4, 0, 2]);
    assert_eq!(ids(nucleus(&probs, 1.0, 0)), vec![1, 3, 4, 0, 2]);
    assert_eq!(ids(nucleus(&probs, 1e-9, 0)), vec![1]);
    // Ties: lower id first.
    assert_eq!(ids(nucleus(&[0.25, 0.25, 0.5], 0.7, 0)), vec![2, 0]);
}

#[test]
fn top_p_sampling_never_leaves_the_nucleus() {
    // Probabilities ~ [0.64, 0.24, 0.09, 0.03]: top_p 0.8 keeps ids 0 and 1 only.
    let logits = [3.0f32, 2.0, 1.0, 0.0];
    let mut s = Sampler::new(cfg(1.0, 0.8), 3).unwrap();
    let mut seen = [0usize; 4];
    for _ in 0..2000 {
        seen[s.sample(&logits, 0).unwrap() as usize] += 1;
    }
    assert_eq!(seen[2] + seen[3], 0, "{seen:?}");
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    // Renormalized within the nucleus: p0 / (p0 + p1) = e / (e + 1) ~ 0.731.
    let frac = seen[0] as f64 / 2000.0;
    assert!((frac - 0.731).abs() < 0.04, "{frac}");
}

#[test]
fn draws_follow_the_tempered_distribution() {
    let logits = [0.0f32, 1.0, 2.0];
    for t in [0.5, 1.0, 2.0] {
        let p = softmax_with_temperature(&logits, t);
        let mut s = Sampler::new(cfg(t, 1.0), 11).unwrap();
        let n = 20_000;
        let mut counts = [0usize; 3];
        for _ in 0..n {
            counts[s.sample(&logits, 0).unwrap() as usize] += 1;
        }
        for i in 0..3 {
            let f = counts[i] as f64 / n as f64;
            // Binomial standard error is at most 0.0036 here; 5 sigma.
            assert!((f - p[i]).abs() < 0.018, "T={t} id {i}: {f} vs {}", p[i]);
        }
    }
}

#[test]
fn same_seed_same_draws_other_seed_other_draws() {
    let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
    let draw = |seed| {
        let mut s = Sampler::new(cfg(1.0, 0.9), seed).unwrap();
        (0..64)
            .map(|_| s.sample(&logits, 0).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}

#[test]
fn bad_options_and_logits_are_errors() {
    for (t, p, what) in [
        (-0.1, 1.0, "temperature"),
        (f64::NAN, 1.0, "temperature"),
        (f64::INFINITY, 1.0, "temperature"),
        (1.0, 0.0, "top_p"),
        (1.0, 1.5, "top_p"),
        (1.0, f64::NAN, "top_p"),
    ] {
        let err = Sampler::new(cfg(t, p), 0).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
    let mut s = Sampler::new(SamplingConfig::default(), 0).unwrap();
    let err = s.sample(&[0.0, f32::NAN], 12).unwrap_err();
    assert!(matches!(
        err,
        GenerateError::NonFiniteLogits { position: 12 }
    ));
    assert!(err.to_string().contains("12"));
    assert!(s.sample(&[], 0).is_err());
}

#[test]
fn top_k_keeps_the_k_most_likely_before_the_nucleus() {
    let probs = [0.1, 0.4, 0.05, 0.3, 0.15];
    let ids = |v: Vec<(u32, f64)>| v.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(ids(nucleus(&probs, 1.0, 2)), vec![1, 3]);
    assert_eq!(ids(nucleus(&probs, 0.41, 3)), vec![1, 3]);
    assert_eq!(ids(nucleus(&probs, 1.0, 1)), vec![1]);
    assert_eq!(ids(nucleus(&probs, 1.0, 99)), vec![1, 3, 4, 0, 2]);
    // Sampling with top_k = 1 is greedy whatever the seed.
    for seed in 0..20 {
        let mut s = Sampler::new(
            SamplingConfig {
                temperature: 1.5,
                top_p: 1.0,
                top_k: 1,
            },
            seed,
        )
        .unwrap();
        assert_eq!(s.sample(&[0.1, 3.0, -2.0, 2.9], 0).unwrap(), 1);
    }
}

#[test]
fn logprob_is_the_log_softmax_of_the_drawn_token() {
    let logits = [1.0f32, 2.0, 0.5, -1.0];
    let mut greedy = Sampler::new(SamplingConfig::greedy(), 0).unwrap();
    let (id, lp) = greedy.sample_with_logprob(&logits, 0).unwrap();
    assert_eq!(id, 1);
    let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
    assert!((lp as f64 - (2.0 - z.ln())).abs() < 1e-6, "{lp}");
    let mut hot = Sampler::new(cfg(2.0, 1.0), 3).unwrap();
    let (id, lp) = hot.sample_with_logprob(&logits, 0).unwrap();
    let p = softmax_with_temperature(&logits, 2.0);
    assert!((lp as f64 - p[id as usize].ln()).abs() < 1e-6);
}
