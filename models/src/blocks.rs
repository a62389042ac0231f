//! The Llama building blocks written in primitive ops only: RMSNorm, rotary embeddings,
//! grouped-query causal attention, SwiGLU and softmax. Fusing them into `rms_norm`,
//! `rope`, `attention`, `swiglu`, `softmax` is the optimizer's job, so these spell out
//! exactly the math the fused ops' semantics describe.

use llc_ir::{Builder, CmpOp, DType, NodeId, Result, TensorType};

/// Run `f` with its intermediate values named under the scope `name`, then name its
/// result `name` itself: `layers.0.attn.norm` is the RMSNorm output and
/// `layers.0.attn.norm.rsqrt` one of its steps.
pub(crate) fn named(
    b: &mut Builder,
    name: &str,
    f: impl FnOnce(&mut Builder) -> Result<NodeId>,
) -> Result<NodeId> {
    b.push_scope(name);
    let r = f(b);
    b.pop_scope();
    b.name(r?, name)
}

/// Large negative score for masked (future) positions. Finite on purpose: `0 * mask` stays
/// 0 instead of NaN in any backward or rewritten formula, and a fully masked row (never
/// produced by a causal mask) would give a uniform distribution rather than NaN. It is
/// representable in bf16 and f32; f16 cannot hold -1e9, so it gets its own lowest finite.
pub(crate) fn mask_value(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => -65504.0,
        _ => -1e9,
    }
}

/// `x * rsqrt(mean(x^2 over the last axis) + eps) * w` for `x[..., D]`, `w[D]`.
pub(crate) fn rms_norm(b: &mut Builder, x: NodeId, w: NodeId, eps: f64) -> Result<NodeId> {
    let shape = b.shape(x);
    let last = shape.len() - 1;
    let d = shape[last];
    let sq = b.mul(x, x)?;
    let sum = b.reduce_sum(sq, &[last], true)?;
    let mean = b.mul_scalar(sum, 1.0 / d as f64)?;
    let shifted = b.add_scalar(mean, eps)?;
    let inv = b.rsqrt(shifted)?;
    let inv = b.broadcast(inv, &shape)?;
    let normed = b.mul(x, inv)?;
    let w = b.broadcast(w, &shape)?;
    b.mul(normed, w)
}

/// Numerically stable softmax over the last axis: `exp(x - max) / sum(exp(x - max))`.
pub(crate) fn softmax(b: &mut Builder, x: NodeId) -> Result<NodeId> {
    let shape = b.shape(x);
    let last = shape.len() - 1;
    let m = b.reduce_max(x, &[last], true)?;
    let m = b.broadcast(m, &shape)?;
    let z = b.sub(x, m)?;
    let e = b.exp(z)?;
    let s = b.reduce_sum(e, &[last], true)?;
    let s = b.broadcast(s, &shape)?;
    b.div(e, s)
}

/// RoPE angle tables for positions `0..t` and head dim `hd`, shaped `[t, 1, hd/2, 1]` so
/// they broadcast against `[B, T, heads, hd/2, 1]` halves. Pair `i` at position `p` turns
/// by `p * theta^(-2i/hd) = p * exp(-(2i/hd) ln theta)`. Tables are computed in `dtype`,
/// except that 16-bit floats compute in f32 and round the finished cos/sin once.
pub(crate) struct RopeTables {
    pub cos: NodeId,
    pub sin: NodeId,
}

pub(crate) fn rope_tables(
    b: &mut Builder,
    t: usize,
    hd: usize,
    theta: f64,
    dtype: DType,
) -> Result<RopeTables> {
    let half = hd / 2;
    let compute = match dtype {
        DType::BF16 | DType::F16 => DType::F32,
        other => other,
    };
    let ty = TensorType::new(compute, [t, half]);
    let pair = b.iota(ty.clone(), 1)?;
    let pos = b.iota(ty, 0)?;
    let log_freq = b.mul_scalar(pair, -2.0 * theta.ln() / hd as f64)?;
    let freq = b.exp(log_freq)?;
    let angle = b.mul(pos, freq)?;
    let angle = b.name(angle, "angle")?;
    let mut out = Vec::with_capacity(2);
    for (is_cos, name) in [(true, "cos"), (false, "sin")] {
        let v = if is_cos { b.cos(angle)? } else { b.sin(angle)? };
        let v = if compute != dtype {
            b.cast(v, dtype)?
        } else {
            v
        };
        // Free the plain `cos`/`sin` names (the ops' default names) for the tables.
        let v = b.name(v, &format!("{name}_flat"))?;
        let v = b.reshape(v, &[t, 1, half, 1])?;
        out.push(b.name(v, name)?);
    }
    Ok(RopeTables {
        cos: out[0],
        sin: out[1],
    })
}

/// Rotate the interleaved pairs `(2i, 2i+1)` of `x[B, T, heads, hd]` (Meta's layout):
/// `even' = even*cos - odd*sin`, `odd' = even*sin + odd*cos`.
pub(crate) fn rope(b: &mut Builder, x: NodeId, tables: &RopeTables) -> Result<NodeId> {
    rotate_pairs(b, x, tables.cos, tables.sin)
}

/// The rotation of [`rope`] over the last axis of `x[..., hd]`, with `cos` and `sin`
/// shaped to broadcast against `[..., hd/2, 1]` (the decode step's are per sequence).
pub(crate) fn rotate_pairs(b: &mut Builder, x: NodeId, cos: NodeId, sin: NodeId) -> Result<NodeId> {
    let shape = b.shape(x);
    let last = shape.len() - 1;
    let mut pair_shape = shape[..last].to_vec();
    pair_shape.extend([shape[last] / 2, 2]);
    let mut half_shape = pair_shape.clone();
    half_shape[last + 1] = 1;
    let pairs = b.reshape(x, &pair_shape)?;
    let even = b.slice(pairs, last + 1, 0, 1)?;
    let odd = b.slice(pairs, last + 1, 1, 2)?;
    let cos = b.broadcast(cos, &half_shape)?;
    let sin = b.broadcast(sin, &half_shape)?;
    let ec = b.mul(even, cos)?;
    let os = b.mul(odd, sin)?;
    let new_even = b.sub(ec, os)?;
    let es = b.mul(even, sin)?;
    let oc = b.mul(odd, cos)?;
    let new_odd = b.add(es, oc)?;
    let pairs = b.concat(&[new_even, new_odd], last + 1)?;
    b.reshape(pairs, &shape)
}

/// Causal mask `[t, t]`: true where key position `<=` query position.
pub(crate) fn causal_mask(b: &mut Builder, t: usize) -> Result<NodeId> {
    let ty = TensorType::new(DType::I32, [t, t]);
    let query = b.iota(ty.clone(), 0)?;
    let key = b.iota(ty, 1)?;
    let allowed = b.compare(CmpOp::Le, key, query)?;
    b.name(allowed, "mask")
}

/// Repeat KV heads `[B, KV, T, hd]` to `[B, KV*group, T, hd]` by an explicit
/// reshape -> broadcast -> reshape, so query head `h` reads KV head `h / group`.
pub(crate) fn repeat_kv(b: &mut Builder, x: NodeId, group: usize) -> Result<NodeId> {
    if group == 1 {
        return Ok(x);
    }
    let s = b.shape(x);
    let (bt, kv, t, hd) = (s[0], s[1], s[2], s[3]);
    let x = b.reshape(x, &[bt, kv, 1, t, hd])?;
    let x = b.broadcast(x, &[bt, kv, group, t, hd])?;
    b.reshape(x, &[bt, kv * group, t, hd])
}

/// Causal attention over `q[B, H, T, hd]`, `k, v[B, H, T, hd]` (KV already repeated):
/// `softmax(mask(q k^T / sqrt(hd))) v`. Names `scores`, `probs`, `ctx` in the current scope.
pub(crate) fn causal_attention(
    b: &mut Builder,
    q: NodeId,
    k: NodeId,
    v: NodeId,
    mask: NodeId,
) -> Result<NodeId> {
    let s = b.shape(q);
    let hd = s[3];
    let dtype = b.ty(q).dtype;
    let scores = named(b, "scores", |b| {
        let raw = b.matmul_t(q, k, false, true)?;
        b.mul_scalar(raw, 1.0 / (hd as f64).sqrt())
    })?;
    let masked = named(b, "masked", |b| {
        let score_shape = b.shape(scores);
        let allowed = b.broadcast(mask, &score_shape)?;
        let fill = b.full(mask_value(dtype), TensorType::new(dtype, score_shape))?;
        b.select(allowed, scores, fill)
    })?;
    let probs = named(b, "probs", |b| softmax(b, masked))?;
    let ctx = b.matmul(probs, v)?;
    b.name(ctx, "ctx")
}

/// SwiGLU feed-forward `w2(silu(w1 x) * w3 x)` with `silu(a) = a * sigmoid(a)`; weights
/// in `[out, in]` layout. Names `gate`, `up`, `act`, `out` in the current scope.
pub(crate) fn swiglu_ffn(
    b: &mut Builder,
    x: NodeId,
    w1: NodeId,
    w2: NodeId,
    w3: NodeId,
) -> Result<NodeId> {
    let gate = b.matmul_t(x, w1, false, true)?;
    let gate = b.name(gate, "gate")?;
    let up = b.matmul_t(x, w3, false, true)?;
    let up = b.name(up, "up")?;
    let act = named(b, "act", |b| {
        let sig = b.sigmoid(gate)?;
        let silu = b.mul(gate, sig)?;
        b.mul(silu, up)
    })?;
    let out = b.matmul_t(act, w2, false, true)?;
    b.name(out, "out")
}
