//! Picking the next token from a row of logits: greedy (temperature 0), or sampling from
//! the temperature-scaled softmax restricted to the top-k most likely tokens and the
//! top-p nucleus, with a seeded ChaCha8
//! generator so the same seed gives the same text on every machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::{GenerateError, GenerateResult};

/// How the next token is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingConfig {
    /// Softmax temperature: logits are divided by it. `0` means greedy (argmax); values
    /// below 1 sharpen the distribution, above 1 flatten it.
    pub temperature: f64,
    /// Nucleus size in `(0, 1]`: sample only from the smallest set of most likely tokens
    /// whose probabilities add up to at least `top_p`. `1` keeps every token.
    pub top_p: f64,
    /// Sample only from the `top_k` most likely tokens (before the nucleus); `0` keeps
    /// every token.
    pub top_k: usize,
}

impl Default for SamplingConfig {
    /// Temperature 1, no nucleus truncation: the model's own distribution.
    fn default() -> Self {
        SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
        }
    }
}

impl SamplingConfig {
    /// Greedy decoding: always the most likely token.
    pub fn greedy() -> Self {
        SamplingConfig {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
        }
    }

    /// Checks the ranges: temperature finite and >= 0, top_p in `(0, 1]`.
    pub fn validate(&self) -> GenerateResult<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(GenerateError::InvalidOption {
                option: "temperature",
                msg: format!(
                    "must be a finite number >= 0 (0 = greedy), got {}",
                    self.temperature
                ),
            });
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(GenerateError::InvalidOption {
                option: "top_p",
                msg: format!("must be in (0, 1], got {}", self.top_p),
            });
        }
        Ok(())
    }
}

/// A seeded sampler: [`SamplingConfig`] plus the random stream it draws from.
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplingConfig,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler drawing from ChaCha8 seeded with `seed` (the config is validated).
    pub fn new(config: SamplingConfig, seed: u64) -> GenerateResult<Self> {
        config.validate()?;
        Ok(Sampler {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The configuration this sampler uses.
    pub fn config(&self) -> SamplingConfig {
        self.config
    }

    /// The next token id for `logits` (one entry per candidate id). Greedy decoding draws
    /// no random numbers. `position` only names the place in error messages.
    pub fn sample(&mut self, logits: &[f32], position: usize) -> GenerateResult<u32> {
        Ok(self.sample_with_logprob(logits, position)?.0)
    }

    /// The next token and its log-probability under the sampling temperature's softmax
    /// over every candidate, `log softmax(logits / T)[id]` (`T = 1` when greedy), before
    /// the top-k / top-p truncation: what a policy-gradient method scores the token with.
    pub fn sample_with_logprob(
        &mut self,
        logits: &[f32],
        position: usize,
    ) -> GenerateResult<(u32, f32)> {
        let id = self.draw(logits, position)?;
        let t = if self.config.temperature == 0.0 {
            1.0
        } else {
            self.config.temperature
        };
        Ok((id, log_softmax_at(logits, t, id as usize) as f32))
    }

    fn draw(&mut self, logits: &[f32], position: usize) -> GenerateResult<u32> {
        if logits.is_empty() {
            return Err(GenerateError::InvalidOption {
                option: "vocab",
                msg: "no candidate tokens to sample from".into(),
            });
        }
        if logits.iter().any(|v| !v.is_finite()) {
            return Err(GenerateError::NonFiniteLogits { position });
        }
        if self.config.temperature == 0.0 {
            return Ok(argmax(logits));
        }
        let probs = softmax_with_temperature(logits, self.config.temperature);
        let kept = nucleus(&probs, self.config.top_p, self.config.top_k);
        let total: f64 = kept.iter().map(|&(_, p)| p).sum();
        let u = self.rng.random::<f64>() * total;
        let mut acc = 0.0;
        for &(id, p) in &kept {
            acc += p;
            if u < acc {
                return Ok(id);
            }
        }
        // Rounding can leave `u` a hair above the last partial sum.
        Ok(kept.last().expect("the nucleus holds at least one token").0)
    }
}

/// Index of the largest logit (the lowest index among equal maxima). `logits` must be
/// non-empty and finite ([`Sampler::sample`] checks both).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// `softmax(logits / temperature)` in f64 (max-subtracted, so large logits do not
/// overflow). `temperature` must be > 0.
pub fn softmax_with_temperature(logits: &[f32], temperature: f64) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let exps: Vec<f64> = logits
        .iter()
        .map(|&v| ((v as f64 - max) / temperature).exp())
        .collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// `log softmax(logits / temperature)[id]` in f64.
pub fn log_softmax_at(logits: &[f32], temperature: f64, id: usize) -> f64 {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let sum: f64 = logits
        .iter()
        .map(|&v| ((v as f64 - max) / temperature).exp())
        .sum();
    (logits[id] as f64 - max) / temperature - sum.ln()
}

/// The top-p nucleus of a distribution within its `top_k` most likely tokens (`0`: all):
/// `(id, probability)` pairs, most likely first (ties by lower id), the shortest prefix
/// whose probabilities add up to at least `top_p` (never empty). Probabilities are not
/// renormalized.
pub fn nucleus(probs: &[f64], top_p: f64, top_k: usize) -> Vec<(u32, f64)> {
    let mut order: Vec<(u32, f64)> = probs
        .iter()
        .enumerate()
        .map(|(i, &p)| (i as u32, p))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if top_k > 0 {
        order.truncate(top_k);
    }
    let mut acc = 0.0;
    let mut keep = order.len();
    for (i, &(_, p)) in order.iter().enumerate() {
        acc += p;
        if acc >= top_p {
            keep = i + 1;
            break;
        }
    }
    order.truncate(keep.max(1));
    order
}
