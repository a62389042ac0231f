//! Batched generation with a KV cache: the prefill and decode-step functions of
//! `llc_models::build_prefill` / `build_decode_step` (the cache contract is stated there),
//! run on the interpreter ([`InterpKv`], the oracle) or as compiled plans ([`PlanKv`]),
//! driven by [`generate_batch`] for up to `B` ragged prompts at once.
//!
//! Each sequence has its own position and its own stop (the stop token, `max_tokens`, or
//! a full cache); a finished sequence's slot keeps running (static shapes) and its output
//! is ignored. Rejection sampling and PPO call [`generate_batch`] for token ids and
//! per-token log-probabilities.

use super::bind::bind_params;
use super::decode::StopReason;
use super::error::{GenerateError, GenerateResult};
use super::sampler::Sampler;
use crate::checkpoint::NamedTensor;
use llc_ir::{DType, Function};
use llc_models::{KvPart, LlamaConfig, kv_cache_name, kv_cache_shape, prefill_kv_name};
use llc_runtime::interp::run_function;
use llc_runtime::plan_exec::PlanExecutor;
use llc_runtime::tensor::{Precision, Tensor};

/// A model that can prefill a batch of prompts and then decode one token per sequence.
pub trait KvModel {
    /// Sequences per call `B`.
    fn batch(&self) -> usize;
    /// Prompt positions of the prefill `P` (prompts are right-padded to it).
    fn prompt_len(&self) -> usize;
    /// Positions of the cache `S`: the longest sequence (prompt + completion) it holds.
    fn cache_len(&self) -> usize;
    /// Vocabulary size `V`.
    fn vocab(&self) -> usize;
    /// Runs the prefill on `tokens` (`B × P`, row-major), fills cache positions `0..P` and
    /// returns the logits `B × P × V`.
    fn prefill(&mut self, tokens: &[i32]) -> GenerateResult<Vec<f32>>;
    /// Feeds `tokens[b]` at `positions[b]` (each `< S`), updates the cache there and
    /// returns the next-token logits `B × V`.
    fn step(&mut self, tokens: &[i32], positions: &[i32]) -> GenerateResult<Vec<f32>>;
    /// Replaces the weights (by name, as the constructor binds them; names the graphs do
    /// not take are ignored): PPO's rollouts follow the policy as it trains.
    fn set_weights(&mut self, weights: &[NamedTensor]) -> GenerateResult<()>;
    /// The decode step's plan executor, when the step runs as a compiled plan (profiles
    /// read it); `None` on the interpreter.
    fn step_plan(&mut self) -> Option<&mut PlanExecutor> {
        None
    }
}

/// The sizes of a decoder and the model they belong to.
#[derive(Clone, Debug)]
struct KvShape {
    cfg: LlamaConfig,
    batch: usize,
    prompt_len: usize,
    cache_len: usize,
}

impl KvShape {
    fn check_form(&self, prefill: &Function, step: &Function) -> GenerateResult<()> {
        let bad = |f: &Function, msg: String| GenerateError::BadGraph {
            func: f.name.clone(),
            msg,
        };
        let want = |f: &Function, name: &str, shape: Vec<usize>, dtype: DType| {
            let id = f
                .by_name(name)
                .filter(|&id| f.args().contains(&id) || f.output_by_name(name).is_some())
                .ok_or_else(|| bad(f, format!("no %{name}")))?;
            let ty = f.ty(id);
            if ty.shape != shape || ty.dtype != dtype {
                return Err(bad(
                    f,
                    format!("%{name} must be {dtype}{shape:?}, found {ty}"),
                ));
            }
            Ok(())
        };
        let (b, p, s, v) = (
            self.batch,
            self.prompt_len,
            self.cache_len,
            self.cfg.vocab_size,
        );
        want(prefill, "tokens", vec![b, p], DType::I32)?;
        want(prefill, "logits", vec![b, p, v], DType::F32)?;
        want(step, "tokens", vec![b], DType::I32)?;
        want(step, "positions", vec![b], DType::I32)?;
        want(step, "logits", vec![b, v], DType::F32)?;
        for layer in 0..self.cfg.n_layers {
            for part in KvPart::BOTH {
                let kv = kv_cache_shape(&self.cfg, b, p);
                want(prefill, &prefill_kv_name(layer, part), kv, DType::F32)?;
                let cache = kv_cache_shape(&self.cfg, b, s);
                want(step, &kv_cache_name(layer, part), cache, DType::F32)?;
            }
        }
        Ok(())
    }

    /// The cache `[B, KV, S, hd]` holding `prompt` (`[B, KV, P, hd]`) at positions `0..P`.
    fn cache_from_prompt(&self, prompt: &[f32]) -> Vec<f32> {
        let hd = self.cfg.head_dim();
        let rows = self.batch * self.cfg.n_kv_heads;
        let (p, s) = (self.prompt_len, self.cache_len);
        let mut cache = vec![0.0f32; rows * s * hd];
        for r in 0..rows {
            cache[r * s * hd..(r * s + p) * hd]
                .copy_from_slice(&prompt[r * p * hd..(r + 1) * p * hd]);
        }
        cache
    }
}

/// The decode functions on the interpreter: the reference every compiled decoder is
/// checked against.
pub struct InterpKv {
    shape: KvShape,
    prefill: Function,
    step: Function,
    prefill_args: Vec<Tensor>,
    step_args: Vec<Tensor>,
    /// Argument slots of the step's caches, layer by layer, keys then values.
    cache_slots: Vec<usize>,
    precision: Precision,
}

impl InterpKv {
    /// Binds `weights` to `prefill` and `step` (built for `cfg` with `batch` sequences,
    /// prompts of `prompt_len` and a cache of `cache_len`), checking their form.
    pub fn new(
        cfg: &LlamaConfig,
        prefill: Function,
        step: Function,
        weights: &[NamedTensor],
        precision: Precision,
    ) -> GenerateResult<Self> {
        let shape = shape_of(cfg, &prefill, &step)?;
        shape.check_form(&prefill, &step)?;
        let fill = |f: &Function| -> GenerateResult<Vec<Tensor>> {
            Ok(bind_params(f, weights, precision)?
                .into_iter()
                .zip(f.args())
                .map(|(slot, &a)| slot.unwrap_or_else(|| Tensor::zeros(f.ty(a), precision)))
                .collect())
        };
        let prefill_args = fill(&prefill)?;
        let step_args = fill(&step)?;
        let mut cache_slots = Vec::new();
        for layer in 0..cfg.n_layers {
            for part in KvPart::BOTH {
                let id = step
                    .by_name(&kv_cache_name(layer, part))
                    .expect("check_form found every cache");
                cache_slots.push(step.args().iter().position(|&a| a == id).expect("an arg"));
            }
        }
        Ok(InterpKv {
            shape,
            prefill,
            step,
            prefill_args,
            step_args,
            cache_slots,
            precision,
        })
    }

    fn slot(f: &Function, name: &str) -> usize {
        let id = f.by_name(name).expect("check_form found it");
        f.args().iter().position(|&a| a == id).expect("an argument")
    }
}

impl KvModel for InterpKv {
    fn set_weights(&mut self, weights: &[NamedTensor]) -> GenerateResult<()> {
        for (f, args) in [
            (&self.prefill, &mut self.prefill_args),
            (&self.step, &mut self.step_args),
        ] {
            for (i, slot) in bind_params(f, weights, self.precision)?
                .into_iter()
                .enumerate()
            {
                if let Some(t) = slot {
                    args[i] = t;
                }
            }
        }
        Ok(())
    }

    fn batch(&self) -> usize {
        self.shape.batch
    }
    fn prompt_len(&self) -> usize {
        self.shape.prompt_len
    }
    fn cache_len(&self) -> usize {
        self.shape.cache_len
    }
    fn vocab(&self) -> usize {
        self.shape.cfg.vocab_size
    }

    fn prefill(&mut self, tokens: &[i32]) -> GenerateResult<Vec<f32>> {
        let (b, p) = (self.shape.batch, self.shape.prompt_len);
        self.prefill_args[Self::slot(&self.prefill, "tokens")] =
            Tensor::from_i32(vec![b, p], tokens.to_vec())?;
        let outs = run_function(&self.prefill, &self.prefill_args, self.precision)?;
        let cache_shape = kv_cache_shape(&self.shape.cfg, b, self.shape.cache_len);
        // Results: logits, then each layer's keys and values (build_prefill's order).
        for (i, &slot) in self.cache_slots.iter().enumerate() {
            let cache = self.shape.cache_from_prompt(&outs[1 + i].to_f32_vec());
            self.step_args[slot] =
                Tensor::from_f32(cache_shape.clone(), cache)?.to_precision(self.precision);
        }
        Ok(outs[0].to_f32_vec())
    }

    fn step(&mut self, tokens: &[i32], positions: &[i32]) -> GenerateResult<Vec<f32>> {
        let b = self.shape.batch;
        self.step_args[Self::slot(&self.step, "tokens")] =
            Tensor::from_i32(vec![b], tokens.to_vec())?;
        self.step_args[Self::slot(&self.step, "positions")] =
            Tensor::from_i32(vec![b], positions.to_vec())?;
        let mut outs = run_function(&self.step, &self.step_args, self.precision)?;
        // Results: logits, then the caches' next values in argument order.
        for (i, &slot) in self.cache_slots.iter().enumerate() {
            self.step_args[slot] = std::mem::replace(&mut outs[1 + i], Tensor::scalar_f32(0.0));
        }
        Ok(outs[0].to_f32_vec())
    }
}

/// The decode functions as compiled plans (a CPU artifact's native code, or any artifact
/// on the interpreter): the cache lives in the step plan's arena and is updated there.
pub struct PlanKv {
    shape: KvShape,
    /// The functions the plans were compiled from (for binding weights by name).
    prefill_fn: Function,
    step_fn: Function,
    prefill: PlanExecutor,
    step: PlanExecutor,
}

impl PlanKv {
    /// Writes `weights` into both plans (compiled from `build_prefill` and
    /// `build_decode_step` for `cfg`), checking the functions' form first.
    pub fn new(
        cfg: &LlamaConfig,
        prefill_fn: &Function,
        step_fn: &Function,
        prefill: PlanExecutor,
        step: PlanExecutor,
        weights: &[NamedTensor],
    ) -> GenerateResult<Self> {
        let shape = shape_of(cfg, prefill_fn, step_fn)?;
        shape.check_form(prefill_fn, step_fn)?;
        let mut kv = PlanKv {
            shape,
            prefill_fn: prefill_fn.clone(),
            step_fn: step_fn.clone(),
            prefill,
            step,
        };
        kv.set_weights(weights)?;
        Ok(kv)
    }
}

impl KvModel for PlanKv {
    fn set_weights(&mut self, weights: &[NamedTensor]) -> GenerateResult<()> {
        for (f, exec) in [
            (&self.prefill_fn, &mut self.prefill),
            (&self.step_fn, &mut self.step),
        ] {
            let bound = bind_params(f, weights, Precision::F32)?;
            for (slot, &a) in bound.into_iter().zip(f.args()) {
                if let Some(t) = slot {
                    exec.set_arg(&f.node(a).name, &t)?;
                }
            }
        }
        Ok(())
    }

    fn batch(&self) -> usize {
        self.shape.batch
    }
    fn prompt_len(&self) -> usize {
        self.shape.prompt_len
    }
    fn cache_len(&self) -> usize {
        self.shape.cache_len
    }
    fn vocab(&self) -> usize {
        self.shape.cfg.vocab_size
    }

    fn prefill(&mut self, tokens: &[i32]) -> GenerateResult<Vec<f32>> {
        let (b, p) = (self.shape.batch, self.shape.prompt_len);
        self.prefill
            .set_arg("tokens", &Tensor::from_i32(vec![b, p], tokens.to_vec())?)?;
        self.prefill.run()?;
        let cache_shape = kv_cache_shape(&self.shape.cfg, b, self.shape.cache_len);
        for layer in 0..self.shape.cfg.n_layers {
            for part in KvPart::BOTH {
                let kv = self.prefill.output(&prefill_kv_name(layer, part))?;
                let cache = self.shape.cache_from_prompt(&kv.to_f32_vec());
                self.step.set_arg(
                    &kv_cache_name(layer, part),
                    &Tensor::from_f32(cache_shape.clone(), cache)?,
                )?;
            }
        }
        Ok(self.prefill.output("logits")?.to_f32_vec())
    }

    fn step(&mut self, tokens: &[i32], positions: &[i32]) -> GenerateResult<Vec<f32>> {
        let b = self.shape.batch;
        self.step
            .set_arg("tokens", &Tensor::from_i32(vec![b], tokens.to_vec())?)?;
        self.step
            .set_arg("positions", &Tensor::from_i32(vec![b], positions.to_vec())?)?;
        self.step.run()?;
        Ok(self.step.output("logits")?.to_f32_vec())
    }

    fn step_plan(&mut self) -> Option<&mut PlanExecutor> {
        Some(&mut self.step)
    }
}

/// Batch, prompt and cache sizes read off the functions' `tokens` and first cache.
fn shape_of(cfg: &LlamaConfig, prefill: &Function, step: &Function) -> GenerateResult<KvShape> {
    let arg_shape = |f: &Function, name: &str| -> GenerateResult<Vec<usize>> {
        f.by_name(name)
            .filter(|&id| f.args().contains(&id))
            .map(|id| f.ty(id).shape.clone())
            .ok_or_else(|| GenerateError::BadGraph {
                func: f.name.clone(),
                msg: format!("no argument %{name}"),
            })
    };
    let tokens = arg_shape(prefill, "tokens")?;
    let cache = arg_shape(step, &kv_cache_name(0, KvPart::K))?;
    if tokens.len() != 2 || cache.len() != 4 {
        return Err(GenerateError::BadGraph {
            func: prefill.name.clone(),
            msg: format!(
                "`tokens` {tokens:?} and the cache {cache:?} are not [B, P] and [B, KV, S, hd]"
            ),
        });
    }
    Ok(KvShape {
        cfg: cfg.clone(),
        batch: tokens[0],
        prompt_len: tokens[1],
        cache_len: cache[2],
    })
}

/// Limits and special tokens of a batched generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// New tokens per sequence at most.
    pub max_tokens: usize,
    /// Stop a sequence (without emitting it) when this token is drawn (the EOS).
    pub stop_token: Option<u32>,
    /// Id used to pad prompts and idle slots (any valid id: causality and the masks make
    /// its value irrelevant).
    pub pad_token: u32,
    /// Only ids `0..candidates` may be drawn.
    pub candidates: usize,
}

/// One finished sequence of [`generate_batch`].
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The new tokens (the stop token excluded).
    pub tokens: Vec<u32>,
    /// Each new token's log-probability ([`Sampler::sample_with_logprob`]).
    pub logprobs: Vec<f32>,
    /// Why it ended.
    pub stop: StopReason,
}

/// Generates a completion for each of `prompts` (at most `B`, each 1..=P tokens below the
/// vocabulary) at once, drawing sequence `i`'s tokens with `samplers[i]`; `on_token(i,
/// id)` sees each new token as soon as it is drawn (for streaming).
pub fn generate_batch<E: From<GenerateError>>(
    model: &mut dyn KvModel,
    prompts: &[Vec<u32>],
    opts: &BatchOptions,
    samplers: &mut [Sampler],
    mut on_token: impl FnMut(usize, u32) -> Result<(), E>,
) -> Result<Vec<Completion>, E> {
    check_batch(model, prompts, opts, samplers.len())?;
    let (b, p, v) = (model.batch(), model.prompt_len(), model.vocab());
    let s = model.cache_len();
    let mut out: Vec<Completion> = prompts
        .iter()
        .map(|_| Completion {
            tokens: Vec::new(),
            logprobs: Vec::new(),
            stop: StopReason::MaxTokens,
        })
        .collect();
    if opts.max_tokens == 0 {
        return Ok(out);
    }
    let mut tokens = vec![opts.pad_token as i32; b * p];
    for (i, prompt) in prompts.iter().enumerate() {
        for (j, &t) in prompt.iter().enumerate() {
            tokens[i * p + j] = t as i32;
        }
    }
    let logits = model.prefill(&tokens)?;
    let mut active: Vec<bool> = (0..b).map(|i| i < prompts.len()).collect();
    // Position of each sequence's newest token (the one fed next).
    let mut last_pos: Vec<usize> = (0..b)
        .map(|i| prompts.get(i).map_or(0, |pr| pr.len()))
        .collect();
    let mut rows = logits;
    let row_of = |i: usize| -> usize {
        let len = prompts[i].len();
        (i * p + len - 1) * v
    };
    let mut first = true;
    loop {
        let mut feed = vec![opts.pad_token as i32; b];
        let mut feed_pos = vec![0i32; b];
        for i in 0..prompts.len() {
            if !active[i] {
                continue;
            }
            let at = if first { row_of(i) } else { i * v };
            let position = last_pos[i] - 1;
            let (id, lp) =
                samplers[i].sample_with_logprob(&rows[at..at + opts.candidates], position)?;
            if opts.stop_token == Some(id) {
                active[i] = false;
                out[i].stop = StopReason::StopToken;
                continue;
            }
            on_token(i, id)?;
            out[i].tokens.push(id);
            out[i].logprobs.push(lp);
            if out[i].tokens.len() >= opts.max_tokens {
                active[i] = false;
                continue;
            }
            if last_pos[i] >= s {
                active[i] = false;
                out[i].stop = StopReason::ContextFull;
                continue;
            }
            feed[i] = id as i32;
            feed_pos[i] = last_pos[i] as i32;
            last_pos[i] += 1;
        }
        if !active.iter().any(|&a| a) {
            break;
        }
        first = false;
        rows = model.step(&feed, &feed_pos)?;
    }
    Ok(out)
}

fn check_batch(
    model: &dyn KvModel,
    prompts: &[Vec<u32>],
    opts: &BatchOptions,
    samplers: usize,
) -> GenerateResult<()> {
    let bad = |option, msg: String| Err(GenerateError::InvalidOption { option, msg });
    if prompts.is_empty() || prompts.len() > model.batch() {
        return bad(
            "prompts",
            format!(
                "{} prompts for a decoder of batch {}",
                prompts.len(),
                model.batch()
            ),
        );
    }
    if samplers != prompts.len() {
        return bad(
            "samplers",
            format!("{samplers} samplers for {} prompts", prompts.len()),
        );
    }
    if opts.candidates == 0 || opts.candidates > model.vocab() {
        return bad(
            "candidates",
            format!(
                "must be in 1..={} (the model's vocabulary), got {}",
                model.vocab(),
                opts.candidates
            ),
        );
    }
    if opts.pad_token as usize >= model.vocab() {
        return Err(GenerateError::TokenOutOfRange {
            position: 0,
            token: opts.pad_token,
            vocab: model.vocab(),
        });
    }
    for prompt in prompts {
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        if prompt.len() > model.prompt_len() {
            return Err(GenerateError::PromptTooLong {
                tokens: prompt.len(),
                limit: model.prompt_len(),
            });
        }
        super::decode::check_prompt_tokens(prompt, model.vocab())?;
    }
    Ok(())
}
