//! The decode graphs: a prefill function (prompt tokens → logits and the KV cache) and a
//! decode-step function (one token per sequence at its own position, the cache → logits,
//! the cache updated in place), built from the same config and blocks as training.
//!
//! Conventions (the one home of the KV-cache contract):
//! - The cache of layer `i` is two state arguments, `layers.{i}.k_cache` and
//!   `layers.{i}.v_cache`, each `[B, n_kv_heads, S, head_dim]` (with grouped-query
//!   attention only the KV heads are stored). Keys are stored after RoPE.
//! - Sequence `b` of a decode step feeds `tokens[b]` at position `positions[b]`: the step
//!   writes that position's key and value into the cache (a `select` over the cache whose
//!   result updates the state argument, which the partitioner computes in place) and
//!   attends to cache positions `0..=positions[b]`. Positions at or past `S` are the
//!   caller's error; garbage beyond a sequence's position is never read.
//! - Prefill runs the training forward on `[B, P]` right-padded prompts and also returns
//!   every layer's keys and values `[B, n_kv_heads, P, head_dim]` (names from
//!   [`prefill_kv_name`]); the caller copies them into positions `0..P` of the cache. The
//!   model is causal, so padding after a prompt never changes its rows.

use crate::blocks::{named, rms_norm, rotate_pairs, softmax, swiglu_ffn};
use crate::config::LlamaConfig;
use crate::error::ModelError;
use crate::llama::{BuildOptions, ForwardOutput, LayerParams, build_forward};
use crate::params::param_names;
use llc_ir::{Builder, CmpOp, DType, Function, Module, NodeId, TensorType};
use std::collections::HashMap;

/// Name of the prefill function.
pub const PREFILL_FN: &str = "prefill";
/// Name of the decode-step function.
pub const DECODE_STEP_FN: &str = "decode_step";

/// Which half of a layer's cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvPart {
    /// Keys (after RoPE).
    K,
    /// Values.
    V,
}

impl KvPart {
    /// Both parts, keys first.
    pub const BOTH: [KvPart; 2] = [KvPart::K, KvPart::V];

    fn letter(self) -> &'static str {
        match self {
            KvPart::K => "k",
            KvPart::V => "v",
        }
    }
}

/// The state argument holding `part` of layer `layer`'s cache in the decode step.
pub fn kv_cache_name(layer: usize, part: KvPart) -> String {
    format!("layers.{layer}.{}_cache", part.letter())
}

/// The prefill result holding `part` of layer `layer`'s keys or values for the prompt.
pub fn prefill_kv_name(layer: usize, part: KvPart) -> String {
    format!("layers.{layer}.attn.{}_bhtd", part.letter())
}

/// Shape of one cache tensor: `[batch, n_kv_heads, cache_len, head_dim]`.
pub fn kv_cache_shape(cfg: &LlamaConfig, batch: usize, cache_len: usize) -> Vec<usize> {
    vec![batch, cfg.n_kv_heads, cache_len, cfg.head_dim()]
}

fn check_sizes(
    cfg: &LlamaConfig,
    batch: usize,
    len: usize,
    what: &'static str,
) -> Result<(), ModelError> {
    cfg.validate()?;
    let bad = |option, msg: String| Err(ModelError::InvalidOption { option, msg });
    if batch == 0 {
        return bad("batch", "must be positive, got 0".into());
    }
    if len == 0 {
        return bad(what, "must be positive, got 0".into());
    }
    if len > cfg.max_seq_len {
        return bad(
            what,
            format!("{len} exceeds the model's max_seq_len {}", cfg.max_seq_len),
        );
    }
    Ok(())
}

/// The prefill function `prefill` for `batch` prompts of `prompt_len` tokens (f32):
/// arguments the parameters then `tokens: i32[B, P]`; results `logits: [B, P, V]` then,
/// for each layer, its keys and values ([`prefill_kv_name`]).
pub fn build_prefill(
    cfg: &LlamaConfig,
    batch: usize,
    prompt_len: usize,
) -> Result<Module, ModelError> {
    check_sizes(cfg, batch, prompt_len, "prompt_len")?;
    let opts = BuildOptions {
        output: ForwardOutput::Logits,
        ..BuildOptions::new(batch, prompt_len)
    };
    let mut module = build_forward(cfg, &opts)?;
    let func = &mut module.functions[0];
    func.name = PREFILL_FN.to_string();
    for layer in 0..cfg.n_layers {
        for part in KvPart::BOTH {
            let name = prefill_kv_name(layer, part);
            let id = func
                .by_name(&name)
                .ok_or_else(|| ModelError::InvalidOption {
                    option: "prefill",
                    msg: format!("the forward graph has no value %{name}"),
                })?;
            func.add_output(id, None);
        }
    }
    Ok(module)
}

/// The decode-step function `decode_step` for `batch` sequences and a cache of
/// `cache_len` positions (f32): arguments the parameters, the caches
/// ([`kv_cache_name`], role state, layer by layer, keys then values), `tokens: i32[B]`
/// and `positions: i32[B]`; results `logits: [B, V]` then every cache's next value.
pub fn build_decode_step(
    cfg: &LlamaConfig,
    batch: usize,
    cache_len: usize,
) -> Result<Module, ModelError> {
    check_sizes(cfg, batch, cache_len, "cache_len")?;
    let mut func = Function::new(DECODE_STEP_FN);
    let mut b = Builder::new(&mut func);
    let dt = DType::F32;
    let mut params = HashMap::new();
    for (name, shape) in param_names(cfg) {
        let id = b.param(&name, dt, &shape)?;
        params.insert(name, id);
    }
    let cache_shape = kv_cache_shape(cfg, batch, cache_len);
    let mut caches = Vec::with_capacity(cfg.n_layers);
    for layer in 0..cfg.n_layers {
        let k = b.state(&kv_cache_name(layer, KvPart::K), dt, &cache_shape)?;
        let v = b.state(&kv_cache_name(layer, KvPart::V), dt, &cache_shape)?;
        caches.push((k, v));
    }
    let tokens = b.input("tokens", DType::I32, &[batch])?;
    let positions = b.input("positions", DType::I32, &[batch])?;

    b.push_scope("step");
    let step = step_constants(&mut b, cfg, positions, batch, cache_len)?;
    b.pop_scope();

    let embed = b.gather(params["tok_embeddings.weight"], tokens)?;
    let mut h = b.name(embed, "embed")?;
    let mut updates = Vec::with_capacity(2 * cfg.n_layers);
    for (layer, &(k_cache, v_cache)) in caches.iter().enumerate() {
        let lp = LayerParams::lookup(&params, layer);
        b.push_scope(format!("layers.{layer}"));
        b.push_scope("attn");
        let x = named(&mut b, "norm", |b| {
            rms_norm(b, h, lp.attention_norm, cfg.norm_eps)
        })?;
        let (a, k_next, v_next) = decode_attention(&mut b, cfg, x, &lp, &step, k_cache, v_cache)?;
        b.pop_scope();
        let h_attn = b.add(h, a)?;
        let h_attn = b.name(h_attn, "h_attn")?;
        b.push_scope("ffn");
        let x = named(&mut b, "norm", |b| {
            rms_norm(b, h_attn, lp.ffn_norm, cfg.norm_eps)
        })?;
        let f = swiglu_ffn(&mut b, x, lp.w1, lp.w2, lp.w3)?;
        b.pop_scope();
        let next = b.add(h_attn, f)?;
        h = b.name(next, "h")?;
        b.pop_scope();
        updates.push((k_next, k_cache));
        updates.push((v_next, v_cache));
    }
    let h = named(&mut b, "h", |b| {
        rms_norm(b, h, params["norm.weight"], cfg.norm_eps)
    })?;
    let head = if cfg.tie_embeddings {
        params["tok_embeddings.weight"]
    } else {
        params["output.weight"]
    };
    let logits = b.matmul_t(h, head, false, true)?;
    let logits = b.name(logits, "logits")?;
    b.output(logits);
    for (next, cache) in updates {
        b.output_update(next, cache);
    }
    let mut module = Module::new();
    module.functions.push(func);
    Ok(module)
}

/// Per-step values every layer shares, computed once from `positions`.
struct StepConstants {
    /// RoPE angles' cosines and sines `[B, 1, hd/2, 1]` at each sequence's position.
    cos: NodeId,
    sin: NodeId,
    /// `[B, 1, S, 1]`: true at each sequence's own position (where the cache is written).
    write: NodeId,
    /// `[B, 1, 1, S]`: true at cache positions `<=` the sequence's position.
    visible: NodeId,
}

/// RoPE angles as the training forward computes them (`position * exp(pair * -2 ln(theta)
/// / hd)`, see `blocks::rope_tables`), but at each sequence's own position, and the
/// write and visibility masks over the cache.
fn step_constants(
    b: &mut Builder,
    cfg: &LlamaConfig,
    positions: NodeId,
    batch: usize,
    cache_len: usize,
) -> llc_ir::Result<StepConstants> {
    let hd = cfg.head_dim();
    let half = hd / 2;
    let pair = b.iota(TensorType::new(DType::F32, [1, half]), 1)?;
    let log_freq = b.mul_scalar(pair, -2.0 * cfg.rope_theta.ln() / hd as f64)?;
    let freq = b.exp(log_freq)?;
    let freq = b.broadcast(freq, &[batch, half])?;
    let pos = b.cast(positions, DType::F32)?;
    let pos = b.reshape(pos, &[batch, 1])?;
    let pos = b.broadcast(pos, &[batch, half])?;
    let angle = b.mul(pos, freq)?;
    let angle = b.name(angle, "angle")?;
    let cos = b.cos(angle)?;
    let cos = b.name(cos, "cos_flat")?;
    let cos = b.reshape(cos, &[batch, 1, half, 1])?;
    let cos = b.name(cos, "cos")?;
    let sin = b.sin(angle)?;
    let sin = b.name(sin, "sin_flat")?;
    let sin = b.reshape(sin, &[batch, 1, half, 1])?;
    let sin = b.name(sin, "sin")?;

    let slot = b.iota(TensorType::new(DType::I32, [batch, 1, cache_len, 1]), 2)?;
    let at = b.reshape(positions, &[batch, 1, 1, 1])?;
    let at = b.broadcast(at, &[batch, 1, cache_len, 1])?;
    let write = b.compare(CmpOp::Eq, slot, at)?;
    let write = b.name(write, "write")?;
    let key = b.iota(TensorType::new(DType::I32, [batch, 1, 1, cache_len]), 3)?;
    let query = b.reshape(positions, &[batch, 1, 1, 1])?;
    let query = b.broadcast(query, &[batch, 1, 1, cache_len])?;
    let visible = b.compare(CmpOp::Le, key, query)?;
    let visible = b.name(visible, "visible")?;
    Ok(StepConstants {
        cos,
        sin,
        write,
        visible,
    })
}

/// `cache` with each sequence's row at its position replaced by `row[B, KV, hd]`.
fn write_cache(
    b: &mut Builder,
    cache: NodeId,
    row: NodeId,
    step: &StepConstants,
) -> llc_ir::Result<NodeId> {
    let shape = b.shape(cache);
    let (bt, kv, hd) = (shape[0], shape[1], shape[3]);
    let row = b.reshape(row, &[bt, kv, 1, hd])?;
    let row = b.broadcast(row, &shape)?;
    let write = b.broadcast(step.write, &shape)?;
    b.select(write, row, cache)
}

/// Q/K/V projections of one token, RoPE at its position, the cache write, attention over
/// the visible cache (query heads grouped by their KV head, so GQA reads each KV head
/// once), output projection. Returns the block's output and the caches' next values.
fn decode_attention(
    b: &mut Builder,
    cfg: &LlamaConfig,
    x: NodeId,
    lp: &LayerParams,
    step: &StepConstants,
    k_cache: NodeId,
    v_cache: NodeId,
) -> llc_ir::Result<(NodeId, NodeId, NodeId)> {
    let bt = b.shape(x)[0];
    let (nh, nkv, hd) = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim());
    let group = cfg.kv_group();
    let s = b.shape(k_cache)[2];
    let mut heads = Vec::with_capacity(3);
    for (w, n, name) in [(lp.wq, nh, "q"), (lp.wk, nkv, "k"), (lp.wv, nkv, "v")] {
        let proj = b.matmul_t(x, w, false, true)?;
        let proj = b.name(proj, name)?;
        let split = b.reshape(proj, &[bt, n, hd])?;
        heads.push(b.name(split, &format!("{name}_heads"))?);
    }
    let q = named(b, "q_rot", |b| {
        rotate_pairs(b, heads[0], step.cos, step.sin)
    })?;
    let k = named(b, "k_rot", |b| {
        rotate_pairs(b, heads[1], step.cos, step.sin)
    })?;
    let k_next = named(b, "k_cache", |b| write_cache(b, k_cache, k, step))?;
    let v_next = named(b, "v_cache", |b| write_cache(b, v_cache, heads[2], step))?;

    // Query head h = kv * group + g reads KV head kv (as `blocks::repeat_kv` repeats).
    let q = b.reshape(q, &[bt, nkv, group, hd])?;
    let scores = named(b, "scores", |b| {
        let raw = b.matmul_t(q, k_next, false, true)?;
        b.mul_scalar(raw, 1.0 / (hd as f64).sqrt())
    })?;
    let masked = named(b, "masked", |b| {
        let shape = [bt, nkv, group, s];
        let visible = b.broadcast(step.visible, &shape)?;
        let fill = b.full(mask_value(), TensorType::new(DType::F32, shape))?;
        b.select(visible, scores, fill)
    })?;
    let probs = named(b, "probs", |b| softmax(b, masked))?;
    let ctx = b.matmul(probs, v_next)?;
    let ctx = b.name(ctx, "ctx")?;
    let merged = b.reshape(ctx, &[bt, nh * hd])?;
    let merged = b.name(merged, "merged")?;
    let out = b.matmul_t(merged, lp.wo, false, true)?;
    Ok((b.name(out, "out")?, k_next, v_next))
}

/// The masked-score fill of training's causal attention (f32).
fn mask_value() -> f64 {
    crate::blocks::mask_value(DType::F32)
}
