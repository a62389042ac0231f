//! The PPO loop (Llama 2 §3.2.3, TRL's `PPOTrainer`). One iteration:
//! 1. `B` prompts (a seeded order, epoch after epoch), one completion each from the
//!    policy as it is now (batched KV-cache decoding at temperature 1, the full
//!    distribution: the samples are the policy's actions);
//! 2. the rollout's statistics: the policy's log-probs and values and the frozen
//!    reference policy's log-probs of every response token (forward graphs), the reward
//!    model's score of `BOS prompt response EOS`;
//! 3. on the host ([`super::batch_rewards`], [`super::advantages_and_returns`]): the
//!    KL-penalized per-token rewards with the whitened score on the last token, GAE
//!    advantages (whitened) and returns;
//! 4. `epochs` passes over the rollout in seeded mini-batches of `M`, one compiled
//!    PPO-loss step (clipped surrogate + clipped value loss, AdamW) each;
//! 5. the decoder and the statistics graph take the new weights.
//!
//! Everything random is a function of the seed and the iteration (prompt order, each
//! draw's sampler, the mini-batch order), so a run resumed from a checkpoint (the
//! policy, its value head, AdamW's moments and the iteration) continues exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use llc_models::ppo_inputs;
use llc_runtime::Tensor;
use llc_runtime::step::{Batch, StepBackend};

use super::{PpoConfig, advantages_and_returns, batch_rewards, masked_mean};
use crate::checkpoint::TrainerState;
use crate::data::shuffle::{mix_seed, permutation};
use crate::error::{Result, TrainerError};
use crate::forward::ForwardModel;
use crate::generate::generate_batch;
use crate::generate::{BatchOptions, GenerateError, KvModel, Sampler, SamplingConfig, StopReason};
use crate::metrics::{MetricRecord, MetricsWriter};
use crate::reward::RewardScorer;
use crate::trainer::{
    CheckpointSink, checkpoint_of_backend, load_checkpoint_for, params_of_state, restore_backend,
};
use llc_ir::fsutil::kill_point;

/// `TrainerState::extra` key of the PPO iterations completed.
const ITERATION_KEY: &str = "ppo_iteration";
/// `TrainerState::extra` key of the rollout batch size (a resume must use the same).
const BATCH_KEY: &str = "ppo_batch_size";
/// `TrainerState::extra` key of the number of prompts (a resume must use the same).
const PROMPTS_KEY: &str = "ppo_prompts";

/// What a PPO run drives. The step owns the policy (trunk, LM head, value head) and its
/// optimizer state; the statistics graph and the decoder follow it after every
/// iteration; the reference policy and the reward model stay frozen.
pub struct PpoModels<'a> {
    /// The compiled PPO-loss step (`ForwardOutput::PpoLoss` at `M × T`, differentiated,
    /// clipped, AdamW with a constant learning rate).
    pub step: &'a mut dyn StepBackend,
    /// `ForwardOutput::PolicyStats` at `M × T` (log-probs, values, entropy).
    pub stats: Box<dyn ForwardModel + 'a>,
    /// `ForwardOutput::TokenLogprobs` at `M × T` with the initial policy's weights.
    pub reference: Box<dyn ForwardModel + 'a>,
    /// The policy's KV-cache decoder (its LM weights follow the step's).
    pub decoder: Box<dyn KvModel + 'a>,
    /// The reward model, scoring sequences of up to `T + 1` tokens.
    pub scorer: RewardScorer,
}

/// The sizes and tokens of a run, besides [`PpoConfig`]'s hyperparameters.
#[derive(Clone, Debug, PartialEq)]
pub struct PpoOptions {
    /// The hyperparameters (`batch_size` `B`, `minibatch_size` `M`, `epochs`, β, γ, λ,
    /// the loss constants; the optimizer's are compiled into the step).
    pub config: PpoConfig,
    /// Positions `T` of the policy graphs: the longest prompt plus `max_tokens`.
    pub seq: usize,
    /// New tokens per response at most.
    pub max_tokens: usize,
    /// Ends a response (an action of the policy when drawn) and closes the scored
    /// sequence.
    pub eos: u32,
    /// Id that pads rows (any valid id: the masks make its value irrelevant).
    pub pad: u32,
    /// Only ids `0..candidates` are drawn (the tokenizer's vocabulary).
    pub candidates: usize,
    /// Seed of the prompt order, the draws and the mini-batch order.
    pub seed: u64,
}

/// What one iteration measured (the metrics log's fields).
#[derive(Clone, Debug, PartialEq)]
pub struct PpoIterationStats {
    /// Iterations completed, this one included.
    pub iteration: u64,
    /// Optimizer steps completed.
    pub steps: u64,
    /// Mean reward-model score of the rollout's responses (raw, before whitening).
    pub reward: f64,
    /// Standard deviation of those scores.
    pub reward_std: f64,
    /// KL to the reference policy: the mean over responses of `Σ_t log π − log π_ref`
    /// over its tokens (nats per response, the sampled estimate TRL reports).
    pub kl: f64,
    /// Mean entropy of the policy's next-token distribution over response tokens.
    pub entropy: f64,
    /// The value head's loss on the rollout before the updates,
    /// `0.5 · mean (V − returns)²` over response tokens.
    pub value_loss: f64,
    /// Fraction of response tokens whose probability ratio new/old after the
    /// iteration's updates is outside `[1 − ε, 1 + ε]`.
    pub clip_frac: f64,
    /// `0.5 · mean (log π_new − log π_old)²` over response tokens after the updates.
    pub approx_kl: f64,
    /// Mean of the mini-batch losses (surrogate + `vf_coef` · value loss).
    pub loss: f64,
    /// Mean global gradient norm of the mini-batch steps (before clipping).
    pub grad_norm: f64,
    /// The steps' learning rate.
    pub lr: f64,
    /// Mean response length (tokens, the EOS included when drawn).
    pub response_len: f64,
    /// Response tokens drawn per second of decoding.
    pub gen_tokens_per_sec: f64,
    /// Response tokens per second of the whole iteration.
    pub tokens_per_sec: f64,
    /// Seconds of the iteration.
    pub seconds: f64,
}

/// A rollout of `B` rows, row-major `[B, T]`.
struct Rollout {
    tokens: Vec<i32>,
    targets: Vec<i32>,
    mask: Vec<f64>,
    logprobs: Vec<f64>,
    values: Vec<f64>,
    advantages: Vec<f64>,
    returns: Vec<f64>,
}

/// A PPO run: models, prompts, logs and checkpoints.
pub struct PpoTrainer<'a> {
    models: PpoModels<'a>,
    prompts: Vec<Vec<u32>>,
    opts: PpoOptions,
    iteration: u64,
    steps: u64,
    /// The metrics log (one record per iteration).
    pub metrics: Option<MetricsWriter>,
    /// Where checkpoints go (policy, value head, AdamW moments, iteration).
    pub checkpoints: Option<CheckpointSink>,
}

impl<'a> PpoTrainer<'a> {
    /// A run over `prompts` (each starting with BOS, at most `seq − max_tokens` tokens),
    /// checking that the sizes fit together.
    pub fn new(models: PpoModels<'a>, prompts: Vec<Vec<u32>>, opts: PpoOptions) -> Result<Self> {
        opts.config.validate()?;
        let bad = |msg: String| Err(TrainerError::PpoOptions { msg });
        if opts.max_tokens == 0 {
            return bad("responses need at least 1 new token".into());
        }
        if prompts.is_empty() {
            return bad("no prompts".into());
        }
        if let Some(p) = prompts
            .iter()
            .find(|p| p.is_empty() || p.len() + opts.max_tokens > opts.seq)
        {
            return bad(format!(
                "a prompt of {} tokens and {} new tokens do not fit the {} positions of the policy graphs",
                p.len(),
                opts.max_tokens,
                opts.seq
            ));
        }
        if models.scorer.seq() < opts.seq + 1 {
            return bad(format!(
                "the reward model scores {} tokens; responses need {}",
                models.scorer.seq(),
                opts.seq + 1
            ));
        }
        Ok(PpoTrainer {
            models,
            prompts,
            opts,
            iteration: 0,
            steps: 0,
            metrics: None,
            checkpoints: None,
        })
    }

    /// Iterations completed.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Draws one completion per prompt of iteration `it`; returns the full sequences
    /// (`prompt response [EOS]`), the prompt lengths, and the decoding time.
    fn draw(&mut self, it: u64) -> Result<(Vec<Vec<u32>>, Vec<usize>, f64)> {
        let idx = prompt_indices(
            self.opts.seed,
            self.prompts.len(),
            self.opts.config.batch_size,
            it,
        );
        let b = self.opts.config.batch_size as u64;
        let opts = BatchOptions {
            max_tokens: self.opts.max_tokens,
            stop_token: Some(self.opts.eos),
            pad_token: self.opts.pad,
            candidates: self.opts.candidates,
        };
        let sampling = SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
        };
        let t0 = Instant::now();
        let mut seqs = Vec::with_capacity(idx.len());
        let rows: Vec<usize> = (0..idx.len()).collect();
        for chunk in rows.chunks(self.models.decoder.batch().max(1)) {
            let prompts: Vec<Vec<u32>> = chunk
                .iter()
                .map(|&r| self.prompts[idx[r]].clone())
                .collect();
            let mut samplers = chunk
                .iter()
                .map(|&r| {
                    Sampler::new(
                        sampling,
                        mix_seed(&[self.opts.seed, 0x6472, it * b + r as u64]),
                    )
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let done = generate_batch(
                self.models.decoder.as_mut(),
                &prompts,
                &opts,
                &mut samplers,
                |_, _| Ok::<(), GenerateError>(()),
            )?;
            for (prompt, c) in prompts.into_iter().zip(done) {
                let mut s = prompt;
                s.extend_from_slice(&c.tokens);
                if c.stop == StopReason::StopToken {
                    s.push(self.opts.eos);
                }
                seqs.push(s);
            }
        }
        let lens = idx.iter().map(|&i| self.prompts[i].len()).collect();
        Ok((seqs, lens, t0.elapsed().as_secs_f64()))
    }

    /// Runs a `[M, T]` forward over every mini-batch of the rollout's rows; returns each
    /// result concatenated over the rows.
    fn forward_rows(
        model: &mut dyn ForwardModel,
        tokens: &[i32],
        targets: &[i32],
        m: usize,
        t: usize,
    ) -> Result<Vec<Vec<f64>>> {
        let mut out: Vec<Vec<f64>> = Vec::new();
        for (tok, tgt) in tokens.chunks(m * t).zip(targets.chunks(m * t)) {
            let r = model.run(&[
                ("tokens", Tensor::from_i32(vec![m, t], tok.to_vec())?),
                (
                    ppo_inputs::TARGETS,
                    Tensor::from_i32(vec![m, t], tgt.to_vec())?,
                ),
            ])?;
            out.resize(r.len(), Vec::new());
            for (o, v) in out.iter_mut().zip(r) {
                o.extend(v.to_f32_vec().into_iter().map(f64::from));
            }
        }
        Ok(out)
    }

    /// One PPO iteration.
    pub fn step_iteration(&mut self) -> Result<PpoIterationStats> {
        let started = Instant::now();
        let it = self.iteration;
        let (t, m) = (self.opts.seq, self.opts.config.minibatch_size);
        let cfg = self.opts.config.clone();
        let (seqs, prompt_lens, gen_secs) = self.draw(it)?;
        kill_point("ppo.drawn");
        let b = seqs.len();
        let (mut tokens, mut targets) = (
            vec![self.opts.pad as i32; b * t],
            vec![self.opts.pad as i32; b * t],
        );
        let mut mask = vec![0.0; b * t];
        let mut response_tokens = 0usize;
        for (r, (s, &p)) in seqs.iter().zip(&prompt_lens).enumerate() {
            for j in 0..s.len() - 1 {
                tokens[r * t + j] = s[j] as i32;
                targets[r * t + j] = s[j + 1] as i32;
                if j + 1 >= p {
                    mask[r * t + j] = 1.0;
                    response_tokens += 1;
                }
            }
        }
        let stats = Self::forward_rows(self.models.stats.as_mut(), &tokens, &targets, m, t)?;
        let (logprobs, values, entropy) = (&stats[0], &stats[1], &stats[2]);
        let reference =
            Self::forward_rows(self.models.reference.as_mut(), &tokens, &targets, m, t)?;
        let ref_logprobs = &reference[0];
        let scored: Vec<Vec<u32>> = seqs
            .iter()
            .map(|s| {
                let mut s = s.clone();
                if s.last() != Some(&self.opts.eos) {
                    s.push(self.opts.eos);
                }
                s
            })
            .collect();
        let rows: Vec<&[u32]> = scored.iter().map(Vec::as_slice).collect();
        let scores: Vec<f64> = self
            .models
            .scorer
            .score(&rows)?
            .into_iter()
            .map(f64::from)
            .collect();
        let not_enough = || TrainerError::PpoOptions {
            msg: "a rollout needs at least two responses with a token each to whiten over".into(),
        };
        let rewards = batch_rewards(
            logprobs,
            ref_logprobs,
            &mask,
            &scores,
            t,
            cfg.kl_beta,
            cfg.whiten_scores,
        )
        .ok_or_else(not_enough)?;
        let gae = advantages_and_returns(&rewards, values, &mask, t, cfg.gamma, cfg.lambda)
            .ok_or_else(not_enough)?;
        let rollout = Rollout {
            tokens,
            targets,
            mask,
            logprobs: logprobs.clone(),
            values: values.clone(),
            advantages: gae.advantages,
            returns: gae.returns,
        };

        // Statistics of the rollout as drawn.
        let n = b as f64;
        let reward = scores.iter().sum::<f64>() / n;
        let reward_std =
            (scores.iter().map(|s| (s - reward).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        let kl_tokens: Vec<f64> = (0..b * t)
            .map(|i| rollout.mask[i] * (logprobs[i] - ref_logprobs[i]))
            .collect();
        let kl = kl_tokens.iter().sum::<f64>() / n;
        let entropy = masked_mean(entropy, &rollout.mask);
        let sq: Vec<f64> = (0..b * t)
            .map(|i| (values[i] - rollout.returns[i]).powi(2))
            .collect();
        let value_loss = 0.5 * masked_mean(&sq, &rollout.mask);

        // The updates.
        let (mut loss_sum, mut norm_sum, mut lr, mut updates) = (0.0, 0.0, 0.0, 0usize);
        for epoch in 0..cfg.epochs as u64 {
            let order = permutation(b, mix_seed(&[self.opts.seed, 0x6d62, it, epoch]));
            for chunk in order.chunks(m) {
                let batch = minibatch(&rollout, chunk, t)?;
                let metrics = self.models.step.step(&batch)?;
                if !metrics.loss.is_finite() {
                    return Err(TrainerError::Diverged {
                        loss: metrics.loss,
                        step: self.steps + 1,
                    });
                }
                self.steps += 1;
                loss_sum += metrics.loss;
                norm_sum += metrics.grad_norm;
                lr = metrics.lr;
                updates += 1;
            }
        }
        kill_point("ppo.updated");
        let weights = params_of_state(&self.models.step.state()?)?;
        self.models.stats.set_weights(&weights)?;
        self.models.decoder.set_weights(&weights)?;

        // How far the updates moved the policy on this rollout.
        let after = Self::forward_rows(
            self.models.stats.as_mut(),
            &rollout.tokens,
            &rollout.targets,
            m,
            t,
        )?;
        let diff: Vec<f64> = (0..b * t)
            .map(|i| after[0][i] - rollout.logprobs[i])
            .collect();
        let clipped: Vec<f64> = diff
            .iter()
            .map(|d| f64::from(u8::from((d.exp() - 1.0).abs() > cfg.loss.clip)))
            .collect();
        let clip_frac = masked_mean(&clipped, &rollout.mask);
        let half_sq: Vec<f64> = diff.iter().map(|d| 0.5 * d * d).collect();
        let approx_kl = masked_mean(&half_sq, &rollout.mask);

        self.iteration += 1;
        let seconds = started.elapsed().as_secs_f64();
        Ok(PpoIterationStats {
            iteration: self.iteration,
            steps: self.steps,
            reward,
            reward_std,
            kl,
            entropy,
            value_loss,
            clip_frac,
            approx_kl,
            loss: loss_sum / updates as f64,
            grad_norm: norm_sum / updates as f64,
            lr,
            response_len: response_tokens as f64 / n,
            gen_tokens_per_sec: response_tokens as f64 / gen_secs.max(1e-9),
            tokens_per_sec: response_tokens as f64 / seconds.max(1e-9),
            seconds,
        })
    }

    /// Writes a checkpoint of the policy, its value head, AdamW's state and the
    /// iteration (`None` without a checkpoint sink).
    pub fn save(&mut self) -> Result<Option<PathBuf>> {
        let Some(sink) = &self.checkpoints else {
            return Ok(None);
        };
        let mut state = TrainerState::new(self.steps);
        state.metrics_path = self.metrics.as_ref().map(|w| w.path().to_path_buf());
        state.world_size = Some(1);
        state
            .extra
            .insert(ITERATION_KEY.into(), self.iteration.into());
        state
            .extra
            .insert(BATCH_KEY.into(), self.opts.config.batch_size.into());
        state
            .extra
            .insert(PROMPTS_KEY.into(), self.prompts.len().into());
        let ckpt = checkpoint_of_backend(self.models.step, state, &sink.config_json)?;
        Ok(Some(sink.manager.save(&ckpt)?))
    }

    /// Continues from the PPO checkpoint in `dir` (a `step_*` dir or a root): the
    /// policy, value head, optimizer state and iteration; returns the iteration.
    pub fn resume(&mut self, dir: &Path) -> Result<u64> {
        let ckpt = load_checkpoint_for(self.models.step, dir)?;
        let extra = |key: &str| {
            ckpt.state
                .extra
                .get(key)
                .and_then(serde_json::Value::as_u64)
        };
        let bad = |msg: String| TrainerError::PpoResume {
            dir: dir.to_path_buf(),
            msg,
        };
        let iteration = extra(ITERATION_KEY)
            .ok_or_else(|| bad("not a PPO checkpoint (no iteration recorded)".into()))?;
        for (key, what, now) in [
            (BATCH_KEY, "rollout batch", self.opts.config.batch_size),
            (PROMPTS_KEY, "number of prompts", self.prompts.len()),
        ] {
            if extra(key) != Some(now as u64) {
                return Err(bad(format!(
                    "saved with a {what} of {}, resumed with {now}: the run would not continue as it was",
                    extra(key).map_or("?".into(), |v| v.to_string())
                )));
            }
        }
        restore_backend(self.models.step, &ckpt, dir)?;
        let weights = params_of_state(&self.models.step.state()?)?;
        self.models.stats.set_weights(&weights)?;
        self.models.decoder.set_weights(&weights)?;
        self.iteration = iteration;
        self.steps = ckpt.state.step;
        Ok(iteration)
    }

    /// Runs iterations until `iterations` are done, logging each, checkpointing every
    /// `save_every` (and at the end); `on_iteration` sees each iteration's statistics and
    /// the checkpoint written after it, if any.
    pub fn run(
        &mut self,
        iterations: u64,
        save_every: u64,
        mut on_iteration: impl FnMut(&PpoIterationStats, Option<&Path>),
    ) -> Result<Vec<PpoIterationStats>> {
        let started = Instant::now();
        let mut all = Vec::new();
        while self.iteration < iterations {
            let s = self.step_iteration()?;
            if let Some(w) = self.metrics.as_mut() {
                w.write(&record(&s, started.elapsed().as_secs_f64()))?;
                kill_point("ppo.metrics_written");
            }
            let last = self.iteration == iterations;
            let saved = if (save_every > 0 && self.iteration.is_multiple_of(save_every)) || last {
                self.save()?
            } else {
                None
            };
            on_iteration(&s, saved.as_deref());
            all.push(s);
        }
        Ok(all)
    }
}

/// The prompts of iteration `it` of `b` prompts each out of `n`: the `b` after the first
/// `it · b` of an endless sequence of seeded permutations of `0..n` (one per epoch), so
/// every prompt is used once per epoch and an iteration's prompts follow from its number.
pub fn prompt_indices(seed: u64, n: usize, b: usize, it: u64) -> Vec<usize> {
    let (n, b) = (n as u64, b as u64);
    let mut out = Vec::with_capacity(b as usize);
    let mut order: Option<(u64, Vec<u64>)> = None;
    for g in it * b..(it + 1) * b {
        let epoch = g / n;
        if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let p = permutation(n as usize, mix_seed(&[seed, 0x7070, epoch]));
            order = Some((epoch, p));
        }
        out.push(order.as_ref().expect("set above").1[(g % n) as usize] as usize);
    }
    out
}

/// The step's inputs for rows `rows` of the rollout.
fn minibatch(r: &Rollout, rows: &[u64], t: usize) -> Result<Batch> {
    let m = rows.len();
    let gather_i = |v: &[i32]| -> Vec<i32> {
        rows.iter()
            .flat_map(|&i| v[i as usize * t..(i as usize + 1) * t].iter().copied())
            .collect()
    };
    let gather_f = |v: &[f64]| -> Vec<f32> {
        rows.iter()
            .flat_map(|&i| {
                v[i as usize * t..(i as usize + 1) * t]
                    .iter()
                    .map(|&x| x as f32)
            })
            .collect()
    };
    let shape = vec![m, t];
    let mut inputs = vec![
        (
            "tokens".to_string(),
            Tensor::from_i32(shape.clone(), gather_i(&r.tokens))?,
        ),
        (
            ppo_inputs::TARGETS.to_string(),
            Tensor::from_i32(shape.clone(), gather_i(&r.targets))?,
        ),
    ];
    let rollout: [&[f64]; 5] = [&r.mask, &r.logprobs, &r.advantages, &r.returns, &r.values];
    for (name, v) in ppo_inputs::ROLLOUT.into_iter().zip(rollout) {
        inputs.push((
            name.to_string(),
            Tensor::from_f32(shape.clone(), gather_f(v))?,
        ));
    }
    Ok(Batch { inputs })
}

/// The metrics-log record of an iteration (`step` is the iteration).
fn record(s: &PpoIterationStats, elapsed: f64) -> MetricRecord {
    let mut r = MetricRecord::at_step(s.iteration);
    r.loss = Some(s.loss);
    r.lr = Some(s.lr);
    r.grad_norm = Some(s.grad_norm);
    r.tokens_per_sec = Some(s.tokens_per_sec);
    r.elapsed = Some(elapsed);
    for (k, v) in [
        ("reward", s.reward),
        ("reward_std", s.reward_std),
        ("kl", s.kl),
        ("entropy", s.entropy),
        ("value_loss", s.value_loss),
        ("clip_frac", s.clip_frac),
        ("approx_kl", s.approx_kl),
        ("response_len", s.response_len),
        ("gen_tokens_per_sec", s.gen_tokens_per_sec),
        ("optimizer_steps", s.steps as f64),
    ] {
        r.extra.insert(k.into(), serde_json::json!(v));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::prompt_indices;

    #[test]
    fn every_prompt_once_per_epoch_and_a_new_order_each_epoch() {
        // 10 prompts, 4 per iteration: iterations 0..5 cover two epochs exactly.
        let all: Vec<usize> = (0..5).flat_map(|it| prompt_indices(3, 10, 4, it)).collect();
        let (first, second) = all.split_at(10);
        for epoch in [first, second] {
            let mut sorted = epoch.to_vec();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(first, second, "each epoch is reshuffled");
        assert_eq!(
            prompt_indices(3, 10, 4, 2),
            all[8..12],
            "a function of the iteration"
        );
        assert_ne!(prompt_indices(4, 10, 4, 0), all[..4], "and of the seed");
    }
}
