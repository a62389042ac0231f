//! The Llama 2 forward graph: embedding, `L` pre-norm decoder layers, final norm (the
//! trunk), then a head: the LM head with the mean token cross-entropy, the logits or the
//! per-token log-probabilities; a reward model's score head with the rewards or the
//! pairwise ranking loss; or a PPO policy's LM and value heads with its rollout statistics
//! or the PPO loss.

use crate::blocks::{
    RopeTables, causal_attention, causal_mask, named, repeat_kv, rms_norm, rope, rope_tables,
    swiglu_ffn,
};
use crate::config::LlamaConfig;
use crate::error::ModelError;
use crate::head::Head;
use crate::loss::{masked_mean_loss, mean_loss, ranking_loss, token_entropy, token_nll};
use crate::params::param_names_for;
use crate::ppo::{PpoLossOptions, Rollout, ppo_loss};
use llc_ir::{Builder, CmpOp, DType, Function, Module, NodeId, TensorType};
use std::collections::HashMap;

/// What the forward function returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ForwardOutput {
    /// `loss: f32[]`, the mean token cross-entropy (inputs `tokens`, `targets`
    /// [, `loss_mask`]). What training differentiates.
    #[default]
    Loss,
    /// `logits: f32[B, T, V]` (input `tokens` only). For sampling and evaluation.
    Logits,
    /// A reward model's `rewards: f32[B]`: the score head at position `reward_pos[b]` of
    /// each sequence (inputs `tokens`, `reward_pos: i32[B]`).
    Rewards,
    /// A reward model's binary ranking loss over `B / 2` preference pairs (Llama 2,
    /// §3.2.2): rows `0..B/2` of `tokens` are the chosen responses, rows `B/2..B` the
    /// rejected ones in the same order; `loss = mean(−log σ(r_chosen − r_rejected − m))`
    /// with the pair's margin `m` from the input `margin: f32[B/2]`.
    RankingLoss,
    /// A causal LM's `logprobs: f32[B, T]`, `log π(targets[t] | tokens[..=t])` (inputs
    /// `tokens`, `targets`): the frozen reference policy's log-probs in PPO's KL penalty.
    /// A reference policy has no value head, so this output reads the plain causal LM's
    /// parameters rather than asking the caller to bind an unused one.
    TokenLogprobs,
    /// A PPO policy's rollout statistics (inputs `tokens`, `targets`), in order:
    /// `logprobs: f32[B, T]` (as [`ForwardOutput::TokenLogprobs`]), `values: f32[B, T]`
    /// (the value head at every position) and `entropy: f32[B, T]` (of each next-token
    /// distribution, for monitoring).
    PolicyStats,
    /// The PPO loss (Llama 2 §3.2.3, TRL's `PPOTrainer`), `loss: f32[]`: the clipped
    /// surrogate plus `vf_coef` times the clipped value loss, both masked means over
    /// `action_mask` (inputs `tokens`, `targets` and the [`ppo_inputs`] of the rollout;
    /// constants from [`BuildOptions::ppo`]).
    PpoLoss,
}

impl ForwardOutput {
    /// The head this output is read from.
    pub fn head(self) -> Head {
        match self {
            ForwardOutput::Loss | ForwardOutput::Logits => Head::CausalLm,
            ForwardOutput::Rewards | ForwardOutput::RankingLoss => Head::Score,
            ForwardOutput::TokenLogprobs => Head::CausalLm,
            ForwardOutput::PolicyStats | ForwardOutput::PpoLoss => Head::PolicyValue,
        }
    }
}

/// Input names of the reward-model graphs (the one home of that contract).
pub mod reward_inputs {
    /// `i32[B]`: the position whose score is the sequence's reward (its final EOS).
    pub const REWARD_POS: &str = "reward_pos";
    /// `f32[B/2]`: each preference pair's margin `m` in the ranking loss.
    pub const MARGIN: &str = "margin";
}

/// Input names of the PPO graphs (the one home of that contract), after `tokens`. Every
/// one is `[B, T]` and position `t` is about the prediction of `targets[t]` from
/// `tokens[..=t]`.
pub mod ppo_inputs {
    /// `i32[B, T]`: the next token at each position (`tokens` shifted left by one).
    pub const TARGETS: &str = "targets";
    /// `f32[B, T]`: 1 where `targets[t]` is a response token (the policy's action), else 0.
    pub const ACTION_MASK: &str = "action_mask";
    /// `f32[B, T]`: the rollout policy's log-probs of the targets.
    pub const OLD_LOGPROBS: &str = "old_logprobs";
    /// `f32[B, T]`: the (whitened) GAE advantages.
    pub const ADVANTAGES: &str = "advantages";
    /// `f32[B, T]`: the value targets, advantages (before whitening) plus old values.
    pub const RETURNS: &str = "returns";
    /// `f32[B, T]`: the rollout value head's predictions.
    pub const OLD_VALUES: &str = "old_values";
    /// The rollout inputs of the PPO loss in argument order (after `tokens`, `targets`).
    pub const ROLLOUT: [&str; 5] = [ACTION_MASK, OLD_LOGPROBS, ADVANTAGES, RETURNS, OLD_VALUES];
}

/// Everything about a build that is not the model itself.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildOptions {
    /// Sequences per step `B`.
    pub batch: usize,
    /// Tokens per sequence `T` (at most the config's `max_seq_len`).
    pub seq: usize,
    /// Take a `loss_mask: [B, T]` input and average the loss over masked-in tokens only
    /// (supervised fine-tuning: loss on answer tokens). Needs `ForwardOutput::Loss`.
    pub loss_mask: bool,
    /// Loss or logits.
    pub output: ForwardOutput,
    /// Float type of parameters and activations.
    pub dtype: DType,
    /// The PPO loss's clip ranges and value coefficient (read by
    /// [`ForwardOutput::PpoLoss`] only).
    pub ppo: PpoLossOptions,
}

impl BuildOptions {
    /// Loss output, no mask, f32, for `batch` sequences of `seq` tokens.
    pub fn new(batch: usize, seq: usize) -> Self {
        BuildOptions {
            batch,
            seq,
            loss_mask: false,
            output: ForwardOutput::Loss,
            dtype: DType::F32,
            ppo: PpoLossOptions::default(),
        }
    }

    fn validate(&self, cfg: &LlamaConfig) -> Result<(), ModelError> {
        let bad = |option, msg: String| Err(ModelError::InvalidOption { option, msg });
        if self.batch == 0 {
            return bad("batch", "must be positive, got 0".into());
        }
        if self.seq == 0 {
            return bad("seq", "must be positive, got 0".into());
        }
        if self.seq > cfg.max_seq_len {
            return bad(
                "seq",
                format!(
                    "{} exceeds the model's max_seq_len {}",
                    self.seq, cfg.max_seq_len
                ),
            );
        }
        // Every activation is at most `batch * seq * max(vocab, ffn_dim, dim)` elements (the
        // logits, the FFN's hidden values, the residual stream): that product, computed
        // with checked arithmetic, stays within llc_ir::MAX_ELEMENTS (the IR's size limit).
        let widest = cfg.vocab_size.max(cfg.ffn_dim).max(cfg.dim) as u64;
        let elements = (self.batch as u64)
            .checked_mul(self.seq as u64)
            .and_then(|t| t.checked_mul(widest));
        if elements.is_none_or(|n| n > llc_ir::MAX_ELEMENTS) {
            return bad(
                "batch",
                format!(
                    "batch {} x seq {} x {widest} (the widest activation) exceeds the limit of {} elements",
                    self.batch,
                    self.seq,
                    llc_ir::MAX_ELEMENTS
                ),
            );
        }
        if !self.dtype.is_float() {
            return bad("dtype", format!("must be a float type, got {}", self.dtype));
        }
        if self.loss_mask && self.output != ForwardOutput::Loss {
            return bad(
                "loss_mask",
                "needs the LM loss output, not logits or rewards".into(),
            );
        }
        if self.output == ForwardOutput::RankingLoss && !self.batch.is_multiple_of(2) {
            return bad(
                "batch",
                format!(
                    "the ranking loss takes pairs (chosen rows, then rejected rows): {} rows is odd",
                    self.batch
                ),
            );
        }
        let ppo = &self.ppo;
        if !(ppo.clip > 0.0 && ppo.clip < 1.0) {
            return bad("ppo.clip", format!("must be in (0, 1), got {}", ppo.clip));
        }
        if !(ppo.value_clip > 0.0 && ppo.value_clip.is_finite()) {
            return bad(
                "ppo.value_clip",
                format!("must be positive, got {}", ppo.value_clip),
            );
        }
        if !(ppo.vf_coef >= 0.0 && ppo.vf_coef.is_finite()) {
            return bad(
                "ppo.vf_coef",
                format!("must be non-negative, got {}", ppo.vf_coef),
            );
        }
        Ok(())
    }
}

impl Default for BuildOptions {
    /// One sequence of 16 tokens.
    fn default() -> Self {
        BuildOptions::new(1, 16)
    }
}

/// One decoder layer's parameters, looked up by name.
pub(crate) struct LayerParams {
    pub attention_norm: NodeId,
    pub wq: NodeId,
    pub wk: NodeId,
    pub wv: NodeId,
    pub wo: NodeId,
    pub ffn_norm: NodeId,
    pub w1: NodeId,
    pub w2: NodeId,
    pub w3: NodeId,
}

impl LayerParams {
    /// Layer `i`'s parameters among `params` (every name of [`param_names`]).
    pub fn lookup(params: &HashMap<String, NodeId>, i: usize) -> LayerParams {
        let p = |name: &str| -> NodeId {
            *params
                .get(&format!("layers.{i}.{name}"))
                .expect("param_names lists every parameter the builder reads")
        };
        LayerParams {
            attention_norm: p("attention_norm.weight"),
            wq: p("attention.wq.weight"),
            wk: p("attention.wk.weight"),
            wv: p("attention.wv.weight"),
            wo: p("attention.wo.weight"),
            ffn_norm: p("ffn_norm.weight"),
            w1: p("feed_forward.w1.weight"),
            w2: p("feed_forward.w2.weight"),
            w3: p("feed_forward.w3.weight"),
        }
    }
}

/// Shared per-forward constants: RoPE tables and the causal mask.
struct Shared {
    rope: RopeTables,
    mask: NodeId,
}

/// Build the module with one function, `forward`, for `cfg` at the given options.
/// Arguments: every parameter of [`crate::param_names_for`] (for the output's head) in
/// that order (role `param`), then the inputs the output takes: `tokens: i32[B, T]`, and
/// `targets: i32[B, T]` and `loss_mask: [B, T]` (LM loss), or `reward_pos: i32[B]` and
/// `margin: f32[B/2]` (reward model), or `targets` and the [`ppo_inputs`] (PPO). Results:
/// `loss` (scalar), `logits` `[B, T, V]`, `rewards` `[B]`, `logprobs` `[B, T]`, or
/// `logprobs`, `values`, `entropy` `[B, T]`.
pub fn build_forward(cfg: &LlamaConfig, opts: &BuildOptions) -> Result<Module, ModelError> {
    cfg.validate()?;
    opts.validate(cfg)?;
    let mut func = Function::new("forward");
    let mut b = Builder::new(&mut func);
    let dt = opts.dtype;
    let (bt, t) = (opts.batch, opts.seq);
    let head = opts.output.head();

    let mut params = HashMap::new();
    for (name, shape) in param_names_for(cfg, head) {
        let id = b.param(&name, dt, &shape)?;
        params.insert(name, id);
    }
    let p = |name: &str| -> NodeId {
        *params
            .get(name)
            .expect("param_names_for lists every parameter the builder reads")
    };
    let tokens = b.input("tokens", DType::I32, &[bt, t])?;
    let lm_head = if cfg.tie_embeddings {
        "tok_embeddings.weight"
    } else {
        "output.weight"
    };
    let results = match opts.output {
        ForwardOutput::Loss | ForwardOutput::Logits => {
            let targets = match opts.output {
                ForwardOutput::Loss => Some(b.input("targets", DType::I32, &[bt, t])?),
                _ => None,
            };
            let mask_in = if opts.loss_mask {
                Some(b.input("loss_mask", dt, &[bt, t])?)
            } else {
                None
            };
            let h = trunk(&mut b, cfg, &params, tokens)?;
            let logits = b.matmul_t(h, p(lm_head), false, true)?;
            let logits = b.name(logits, "logits")?;
            vec![match targets {
                None => logits,
                Some(targets) => {
                    let nll = named(&mut b, "nll", |b| token_nll(b, logits, targets))?;
                    named(&mut b, "loss", |b| match mask_in {
                        Some(m) => masked_mean_loss(b, nll, m),
                        None => mean_loss(b, nll),
                    })?
                }
            }]
        }
        ForwardOutput::Rewards | ForwardOutput::RankingLoss => {
            let pos = b.input(reward_inputs::REWARD_POS, DType::I32, &[bt])?;
            let margin = match opts.output {
                ForwardOutput::RankingLoss => {
                    Some(b.input(reward_inputs::MARGIN, dt, &[bt / 2])?)
                }
                _ => None,
            };
            let h = trunk(&mut b, cfg, &params, tokens)?;
            let rewards = named(&mut b, "rewards", |b| {
                score_at(b, h, p(Head::SCORE_WEIGHT), pos)
            })?;
            vec![match margin {
                None => rewards,
                Some(m) => named(&mut b, "loss", |b| ranking_loss(b, rewards, m))?,
            }]
        }
        ForwardOutput::TokenLogprobs | ForwardOutput::PolicyStats | ForwardOutput::PpoLoss => {
            let targets = b.input(ppo_inputs::TARGETS, DType::I32, &[bt, t])?;
            let rollout = match opts.output {
                ForwardOutput::PpoLoss => {
                    let mut r = Vec::with_capacity(ppo_inputs::ROLLOUT.len());
                    for name in ppo_inputs::ROLLOUT {
                        r.push(b.input(name, dt, &[bt, t])?);
                    }
                    Some(Rollout {
                        action_mask: r[0],
                        old_logprobs: r[1],
                        advantages: r[2],
                        returns: r[3],
                        old_values: r[4],
                    })
                }
                _ => None,
            };
            let h = trunk(&mut b, cfg, &params, tokens)?;
            let logits = b.matmul_t(h, p(lm_head), false, true)?;
            let logits = b.name(logits, "logits")?;
            let logprobs = named(&mut b, "logprobs", |b| {
                let nll = token_nll(b, logits, targets)?;
                b.neg(nll)
            })?;
            if opts.output == ForwardOutput::TokenLogprobs {
                vec![logprobs]
            } else {
                let values = named(&mut b, "values", |b| {
                    let v = b.matmul_t(h, p(Head::VALUE_WEIGHT), false, true)?; // [B, T, 1]
                    b.reshape(v, &[bt, t])
                })?;
                match rollout {
                    None => {
                        let entropy = named(&mut b, "entropy", |b| token_entropy(b, logits))?;
                        vec![logprobs, values, entropy]
                    }
                    Some(r) => vec![named(&mut b, "loss", |b| {
                        ppo_loss(b, logprobs, values, &r, &opts.ppo)
                    })?],
                }
            }
        }
    };
    for r in results {
        b.output(r);
    }
    let mut module = Module::new();
    module.functions.push(func);
    Ok(module)
}

/// The trunk: token embedding, the decoder layers and the final RMSNorm, `h: [B, T, D]`.
fn trunk(
    b: &mut Builder,
    cfg: &LlamaConfig,
    params: &HashMap<String, NodeId>,
    tokens: NodeId,
) -> Result<NodeId, ModelError> {
    let t = b.shape(tokens)[1];
    let dt = b.ty(params["norm.weight"]).dtype;
    b.push_scope("rope");
    let rope = rope_tables(b, t, cfg.head_dim(), cfg.rope_theta, dt)?;
    b.pop_scope();
    b.push_scope("causal");
    let mask = causal_mask(b, t)?;
    b.pop_scope();
    let shared = Shared { rope, mask };

    let embed = b.gather(params["tok_embeddings.weight"], tokens)?;
    let mut h = b.name(embed, "embed")?;
    for i in 0..cfg.n_layers {
        let lp = LayerParams::lookup(params, i);
        b.push_scope(format!("layers.{i}"));
        h = decoder_layer(b, cfg, h, &lp, &shared)?;
        b.pop_scope();
    }
    let final_norm = params["norm.weight"];
    Ok(named(b, "h", |b| rms_norm(b, h, final_norm, cfg.norm_eps))?)
}

/// The score head `h · score` read at one position per sequence: `[B]` from `h: [B, T, D]`,
/// `score: [1, D]` and `pos: i32[B]` (a position outside `0..T` reads nothing: 0).
fn score_at(b: &mut Builder, h: NodeId, score: NodeId, pos: NodeId) -> llc_ir::Result<NodeId> {
    let s = b.shape(h);
    let (bt, t) = (s[0], s[1]);
    let scores = b.matmul_t(h, score, false, true)?; // [B, T, 1]
    let scores = b.reshape(scores, &[bt, t])?;
    let at = b.iota(TensorType::new(DType::I32, [bt, t]), 1)?;
    let pos = b.reshape(pos, &[bt, 1])?;
    let pos = b.broadcast(pos, &[bt, t])?;
    let hit = b.compare(CmpOp::Eq, at, pos)?;
    let zero = b.full_like(scores, 0.0)?;
    let picked = b.select(hit, scores, zero)?;
    b.reduce_sum(picked, &[1], false)
}

/// `h + attn(norm(h))` then `+ ffn(norm(.))`, in the current `layers.{i}` scope.
fn decoder_layer(
    b: &mut Builder,
    cfg: &LlamaConfig,
    h: NodeId,
    lp: &LayerParams,
    shared: &Shared,
) -> Result<NodeId, ModelError> {
    b.push_scope("attn");
    let a = attention_block(b, cfg, h, lp, shared)?;
    b.pop_scope();
    let h = b.add(h, a)?;
    let h = b.name(h, "h_attn")?;

    b.push_scope("ffn");
    let x = named(b, "norm", |b| rms_norm(b, h, lp.ffn_norm, cfg.norm_eps))?;
    let f = swiglu_ffn(b, x, lp.w1, lp.w2, lp.w3)?;
    b.pop_scope();
    let h = b.add(h, f)?;
    Ok(b.name(h, "h")?)
}

/// RMSNorm, Q/K/V projections, RoPE, KV-head repeat, causal attention, output projection.
fn attention_block(
    b: &mut Builder,
    cfg: &LlamaConfig,
    h: NodeId,
    lp: &LayerParams,
    shared: &Shared,
) -> Result<NodeId, ModelError> {
    let s = b.shape(h);
    let (bt, t, d) = (s[0], s[1], s[2]);
    let (nh, nkv, hd) = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim());

    let x = named(b, "norm", |b| {
        rms_norm(b, h, lp.attention_norm, cfg.norm_eps)
    })?;
    let mut heads = Vec::with_capacity(3);
    for (w, n, name) in [(lp.wq, nh, "q"), (lp.wk, nkv, "k"), (lp.wv, nkv, "v")] {
        let proj = b.matmul_t(x, w, false, true)?;
        let proj = b.name(proj, name)?;
        let split = b.reshape(proj, &[bt, t, n, hd])?;
        heads.push((b.name(split, &format!("{name}_heads"))?, name));
    }
    let mut bhtd = Vec::with_capacity(3);
    for (x4, name) in heads {
        let x4 = if name == "v" {
            x4
        } else {
            named(b, &format!("{name}_rot"), |b| rope(b, x4, &shared.rope))?
        };
        let x4 = b.transpose(x4, &[0, 2, 1, 3])?; // [B, heads, T, hd]
        let x4 = b.name(x4, &format!("{name}_bhtd"))?;
        let x4 = if name == "q" || cfg.kv_group() == 1 {
            x4
        } else {
            named(b, &format!("{name}_rep"), |b| {
                repeat_kv(b, x4, cfg.kv_group())
            })?
        };
        bhtd.push(x4);
    }
    let ctx = causal_attention(b, bhtd[0], bhtd[1], bhtd[2], shared.mask)?;
    let ctx = named(b, "merged", |b| {
        let ctx = b.transpose(ctx, &[0, 2, 1, 3])?; // [B, T, H, hd]
        b.reshape(ctx, &[bt, t, d]) // heads concatenated
    })?;
    let out = b.matmul_t(ctx, lp.wo, false, true)?;
    Ok(b.name(out, "out")?)
}
