//! Fusion: the model builder's primitive-op spellings of RMSNorm, SwiGLU, softmax,
//! causal attention, cross-entropy and RoPE become the fused ops, each a single pass over
//! memory. The patterns follow `llc-models`' `blocks.rs` and `loss.rs` op for op; the guards
//! check every shape, axis and constant the fused op's semantics depend on.

use super::{Ctx, Rule, RuleGroup, close, rule};
use crate::egraph::analysis::EG;
use crate::egraph::language::{Attr, TensorLang};
use crate::egraph::ops::attr_of;
use egg::Id;
use llc_ir::DType;

const G: RuleGroup = RuleGroup::Fusion;

/// The fusion rules.
#[rustfmt::skip]
pub fn rules() -> Vec<Rule> { vec![
    // x * rsqrt(sum(x*x, -1)/D + eps) * w
    rule(G, "rms-norm",
        "(mul (mul ?x (broadcast (rsqrt (add (mul (reduce_sum (mul ?x ?x) ?axes) ?inv_d) ?eps)) ?t1))
              (broadcast ?w ?t2))",
        rms_norm),
    // (a * sigmoid(a)) * b
    rule(G, "swiglu", "(mul (mul ?a (sigmoid ?a)) ?b)", swiglu),
    // exp(x - max) / sum(exp(x - max)) over the last axis
    rule(G, "softmax",
        "(div (exp (sub ?x (broadcast (reduce_max ?x ?ax) ?t)))
              (broadcast (reduce_sum (exp (sub ?x (broadcast (reduce_max ?x ?ax) ?t))) ?ax2) ?t2))",
        softmax),
    // softmax(select(causal, q k^T * scale, -big)) v
    rule(G, "attention-causal",
        "(matmul (softmax (select (broadcast ?mask ?tm) (mul (matmul_nt ?q ?k) ?scale) ?fill)) ?v)",
        attention_causal),
    // softmax(q k^T * scale) v
    rule(G, "attention",
        "(matmul (softmax (mul (matmul_nt ?q ?k) ?scale)) ?v)",
        attention),
    // logsumexp(x) - x[target] with the one-hot pick, all relative to the row max
    rule(G, "cross-entropy",
        "(sub (log (reduce_sum (exp (sub ?x (broadcast (reduce_max ?x ?a0) ?tm))) ?a1))
              (reduce_sum (select (cmp_eq ?cls (broadcast (reshape ?tgt ?tt) ?tb))
                                  (sub ?x (broadcast (reduce_max ?x ?a0) ?tm))
                                  ?zero)
                          ?a2))",
        cross_entropy),
    // interleaved pairs: even' = e cos - o sin, odd' = e sin + o cos
    rule(G, "rope",
        "(reshape (concat ?ax
                    (sub (mul (slice (reshape ?x ?tp) ?r0) ?c) (mul (slice (reshape ?x ?tp) ?r1) ?s))
                    (add (mul (slice (reshape ?x ?tp) ?r0) ?s) (mul (slice (reshape ?x ?tp) ?r1) ?c)))
                  ?tout)",
        rope),
]}

/// `axes` is exactly the last axis of a rank-`rank` tensor, kept.
fn last_axis_kept(c: &Ctx, v: &str, rank: usize) -> bool {
    rank >= 1 && c.kept_axes(v).is_some_and(|a| a == [rank - 1])
}

fn rms_norm(c: &mut Ctx) -> Option<Id> {
    let x = c.ty("?x")?;
    let w = c.ty("?w")?;
    let r = x.rank();
    if !x.dtype.is_float() || !last_axis_kept(c, "?axes", r) {
        return None;
    }
    let d = x.shape[r - 1];
    if w.shape != [d] || w.dtype != x.dtype || !close(c.konst("?inv_d")?, 1.0 / d as f64, 1e-6) {
        return None;
    }
    let eps = c.konst("?eps")?;
    let (xi, wi) = (c.id("?x"), c.id("?w"));
    let e = c.real(eps);
    Some(c.add(TensorLang::RmsNorm([xi, wi, e])))
}

fn swiglu(c: &mut Ctx) -> Option<Id> {
    let (a, b) = (c.ty("?a")?, c.ty("?b")?);
    if a != b || !a.dtype.is_float() {
        return None;
    }
    let (ai, bi) = (c.id("?a"), c.id("?b"));
    Some(c.add(TensorLang::Swiglu([ai, bi])))
}

fn softmax(c: &mut Ctx) -> Option<Id> {
    let x = c.ty("?x")?;
    let r = x.rank();
    if !x.dtype.is_float() || !last_axis_kept(c, "?ax", r) || !last_axis_kept(c, "?ax2", r) {
        return None;
    }
    let xi = c.id("?x");
    Some(c.add(TensorLang::Softmax(xi)))
}

/// Whether class `id` holds `key <= query` over `[t, t]` positions (`iota` along axis 1
/// compared with `iota` along axis 0), the causal mask.
fn is_causal_mask(eg: &EG, id: Id, t: usize) -> bool {
    let iota_axis = |k: Id| {
        eg[k].nodes.iter().find_map(|n| match n {
            TensorLang::Iota(i) if i.ty.shape == [t, t] => Some(i.axis),
            _ => None,
        })
    };
    eg[id].nodes.iter().any(|n| match n {
        TensorLang::Le([a, b]) => iota_axis(*a) == Some(1) && iota_axis(*b) == Some(0),
        TensorLang::Ge([a, b]) => iota_axis(*a) == Some(0) && iota_axis(*b) == Some(1),
        _ => false,
    })
}

/// q `[B, Hq, T, hd]`, k and v `[B, Hkv, S, hd]` of one float type, Hkv dividing Hq.
fn attention_shapes(c: &Ctx) -> Option<(usize, usize)> {
    let (q, k, v) = (c.ty("?q")?, c.ty("?k")?, c.ty("?v")?);
    let ok = q.rank() == 4
        && k.rank() == 4
        && k == v
        && q.dtype == k.dtype
        && q.dtype.is_float()
        && q.shape[0] == k.shape[0]
        && q.shape[3] == k.shape[3]
        && k.shape[1] > 0
        && q.shape[1].is_multiple_of(k.shape[1]);
    ok.then_some((q.shape[2], k.shape[2]))
}

fn attention_causal(c: &mut Ctx) -> Option<Id> {
    let (t, s) = attention_shapes(c)?;
    let scale = c.konst("?scale")?;
    let fill = c.konst("?fill")?;
    // The mask must drive every masked score to probability 0 (exp underflows to 0).
    if t != s || fill > -1e4 || !is_causal_mask(c.eg, c.id("?mask"), t) {
        return None;
    }
    let (q, k, v) = (c.id("?q"), c.id("?k"), c.id("?v"));
    let sc = c.real(scale);
    Some(c.add(TensorLang::AttentionCausal([q, k, v, sc])))
}

fn attention(c: &mut Ctx) -> Option<Id> {
    attention_shapes(c)?;
    let scale = c.konst("?scale")?;
    let (q, k, v) = (c.id("?q"), c.id("?k"), c.id("?v"));
    let sc = c.real(scale);
    Some(c.add(TensorLang::Attention([q, k, v, sc])))
}

fn cross_entropy(c: &mut Ctx) -> Option<Id> {
    let x = c.ty("?x")?;
    let tgt = c.ty("?tgt")?;
    if x.rank() != 2 || !x.dtype.is_float() || tgt.dtype != DType::I32 {
        return None;
    }
    let (n, v) = (x.shape[0], x.shape[1]);
    for a in ["?a0", "?a1", "?a2"] {
        if !last_axis_kept(c, a, 2) {
            return None;
        }
    }
    if tgt.numel() != n || c.type_attr("?tt")? != [n, 1] || c.konst("?zero")? != 0.0 {
        return None;
    }
    let class_iota = c.eg[c.id("?cls")].nodes.iter().any(|nd| {
        matches!(nd, TensorLang::Iota(i) if i.axis == 1 && i.ty.shape == [n, v] && i.ty.dtype == DType::I32)
    });
    if !class_iota {
        return None;
    }
    let (xi, ti) = (c.id("?x"), c.id("?tgt"));
    let flat = c.reshape(ti, &[n])?;
    let ce = c.add(TensorLang::CrossEntropy([xi, flat]));
    c.reshape(ce, &[n, 1])
}

/// The first value `f` returns for a node of class `id` (children canonical).
fn node_in<T>(eg: &EG, id: Id, f: impl Fn(&TensorLang) -> Option<T>) -> Option<T> {
    eg[id].nodes.iter().find_map(f)
}

/// Whether class `id` holds an `iota` along `axis` of shape `shape`.
fn has_iota(eg: &EG, id: Id, axis: usize, shape: &[usize]) -> bool {
    node_in(eg, id, |n| match n {
        TensorLang::Iota(i) if i.axis == axis && i.ty.shape == shape => Some(()),
        _ => None,
    })
    .is_some()
}

/// For a RoPE table class: `broadcast(reshape([cast] f(angle), [T, 1, hd/2, 1]))` with
/// `f` cos or sin, returns the angle class and `k` of
/// `angle = iota0 * exp(iota1 * k)` over `[T, hd/2]`.
fn rope_table(eg: &EG, id: Id, cos: bool, t: usize, half: usize) -> Option<(Id, f64)> {
    let trig = |n: &TensorLang| match (n, cos) {
        (TensorLang::Cos(a), true) | (TensorLang::Sin(a), false) => Some(eg.find(*a)),
        _ => None,
    };
    let table = node_in(eg, id, |n| match n {
        TensorLang::Broadcast([r, _]) => Some(eg.find(*r)),
        _ => None,
    })?;
    let flat = node_in(eg, table, |n| match n {
        TensorLang::Reshape([x, ty]) => match attr_of(eg, *ty)? {
            Attr::Type(k) if k.shape == [t, 1, half, 1] => Some(eg.find(*x)),
            _ => None,
        },
        _ => None,
    })?;
    let angle = node_in(eg, flat, trig).or_else(|| {
        let inner = node_in(eg, flat, |n| match n {
            TensorLang::Cast([x, _]) => Some(eg.find(*x)),
            _ => None,
        })?;
        node_in(eg, inner, trig)
    })?;
    let (pos, freq) = node_in(eg, angle, |n| match n {
        TensorLang::Mul([a, b]) => Some((eg.find(*a), eg.find(*b))),
        _ => None,
    })?;
    let log_freq = node_in(eg, freq, |n| match n {
        TensorLang::Exp(x) => Some(eg.find(*x)),
        _ => None,
    })?;
    let (pair, k) = node_in(eg, log_freq, |n| match n {
        TensorLang::Mul([a, b]) => Some((eg.find(*a), eg.find(*b))),
        _ => None,
    })?;
    let k = eg[k].data.konst?.0;
    (has_iota(eg, pos, 0, &[t, half]) && has_iota(eg, pair, 1, &[t, half])).then_some((angle, k))
}

/// The `theta` of a RoPE `cos`/`sin` table pair over one angle, with
/// `k = -2 ln(theta) / hd`.
fn rope_theta(c: &Ctx, t: usize, hd: usize) -> Option<f64> {
    let (a1, k) = rope_table(c.eg, c.id("?c"), true, t, hd / 2)?;
    let (a2, _) = rope_table(c.eg, c.id("?s"), false, t, hd / 2)?;
    if a1 != a2 {
        return None;
    }
    let theta = (-k * hd as f64 / 2.0).exp();
    // Undo the rounding of ln/exp for the usual integral thetas (10000, 500000).
    let rounded = theta.round();
    Some(if close(theta, rounded, 1e-9) {
        rounded
    } else {
        theta
    })
}

fn rope(c: &mut Ctx) -> Option<Id> {
    let x = c.ty("?x")?;
    if x.rank() != 4 || !x.dtype.is_float() || !x.shape[3].is_multiple_of(2) {
        return None;
    }
    let (b, t, h, hd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let pairs_ok = c.type_attr("?tp")? == [b, t, h, hd / 2, 2]
        && c.type_attr("?tout")? == x.shape
        && c.attr("?ax")? == Attr::Axis(4)
        && c.attr("?r0")?
            == (Attr::Range {
                axis: 4,
                start: 0,
                end: 1,
            })
        && c.attr("?r1")?
            == (Attr::Range {
                axis: 4,
                start: 1,
                end: 2,
            });
    if !pairs_ok {
        return None;
    }
    let theta = rope_theta(c, t, hd)?;
    let xi = c.id("?x");
    let th = c.real(theta);
    Some(c.add(TensorLang::Rope([xi, th])))
}
