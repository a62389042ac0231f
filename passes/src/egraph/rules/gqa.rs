//! Grouped-query attention without copies of K/V heads. The model builder repeats each
//! of the `n_kv_heads` K/V heads `g = n_heads / n_kv_heads` times
//! (`reshape [B,KV,1,S,hd] -> broadcast [B,KV,g,S,hd] -> reshape [B,H,S,hd]`) so that the
//! attention reads one K/V head per query head. These rules remove the repeat:
//!
//! - fused: `attention` natively shares KV head `h / g` among query heads `h`, so it is
//!   applied to the un-repeated K/V. Its gradients then come out per KV head, summed over
//!   the group, with no scatter of copies.
//! - unfused: the `g` query heads of a group are consecutive, so `q [B,H,T,hd]` reshapes
//!   (a view) to `[B,KV,g*T,hd]` and multiplies its own KV head directly:
//!   `q k^T = reshape(reshape(q) k^T)`, and likewise `p v` for the probabilities.

use super::{Ctx, Rule, RuleGroup, rule};
use crate::egraph::language::TensorLang;
use egg::Id;

const G: RuleGroup = RuleGroup::Gqa;

const REPEAT_K: &str = "(reshape (broadcast (reshape ?k ?t1) ?t2) ?t3)";
const REPEAT_V: &str = "(reshape (broadcast (reshape ?v ?t4) ?t5) ?t6)";

/// The GQA rules.
pub fn rules() -> Vec<Rule> {
    vec![
        rule(
            G,
            "gqa-attention-causal",
            &format!("(attention_causal ?q {REPEAT_K} {REPEAT_V} ?scale)"),
            |c| attention(c, true),
        ),
        rule(
            G,
            "gqa-attention",
            &format!("(attention ?q {REPEAT_K} {REPEAT_V} ?scale)"),
            |c| attention(c, false),
        ),
        rule(
            G,
            "gqa-scores",
            &format!("(matmul_nt ?q {REPEAT_K})"),
            scores,
        ),
        rule(
            G,
            "gqa-context",
            "(matmul ?p (reshape (broadcast (reshape ?v ?t4) ?t5) ?t6))",
            context,
        ),
    ]
}

/// The group size `g` when `x [B,KV,S,hd]` is repeated through `[B,KV,1,S,hd]`,
/// `[B,KV,g,S,hd]` to `[B,KV*g,S,hd]` by the attribute variables `t1, t2, t3`.
fn repeat_group(c: &Ctx, x: &str, t1: &str, t2: &str, t3: &str) -> Option<usize> {
    let s = c.shape(x)?;
    let [b, kv, n, hd] = s[..] else { return None };
    let (a1, a2, a3) = (c.type_attr(t1)?, c.type_attr(t2)?, c.type_attr(t3)?);
    let g = *a2.get(2)?;
    let ok = a1 == [b, kv, 1, n, hd] && a2 == [b, kv, g, n, hd] && a3 == [b, kv * g, n, hd];
    ok.then_some(g)
}

fn attention(c: &mut Ctx, causal: bool) -> Option<Id> {
    let gk = repeat_group(c, "?k", "?t1", "?t2", "?t3")?;
    let gv = repeat_group(c, "?v", "?t4", "?t5", "?t6")?;
    if gk != gv || c.ty("?k")? != c.ty("?v")? {
        return None;
    }
    let (q, k, v, s) = (c.id("?q"), c.id("?k"), c.id("?v"), c.id("?scale"));
    Some(c.add(if causal {
        TensorLang::AttentionCausal([q, k, v, s])
    } else {
        TensorLang::Attention([q, k, v, s])
    }))
}

fn scores(c: &mut Ctx) -> Option<Id> {
    let g = repeat_group(c, "?k", "?t1", "?t2", "?t3")?;
    let q = c.shape("?q")?;
    let k = c.shape("?k")?;
    let [b, h, t, hd] = q[..] else { return None };
    let (kv, s) = (k[1], k[2]);
    if h != kv * g || k[3] != hd || k[0] != b {
        return None;
    }
    let (qi, ki) = (c.id("?q"), c.id("?k"));
    let grouped = c.reshape(qi, &[b, kv, g * t, hd])?;
    let prod = c.add(TensorLang::MatMulNT([grouped, ki]));
    c.reshape(prod, &[b, h, t, s])
}

fn context(c: &mut Ctx) -> Option<Id> {
    let g = repeat_group(c, "?v", "?t4", "?t5", "?t6")?;
    let p = c.shape("?p")?;
    let v = c.shape("?v")?;
    let [b, h, t, s] = p[..] else { return None };
    let (kv, hd) = (v[1], v[3]);
    if h != kv * g || v[2] != s || v[0] != b {
        return None;
    }
    let (pi, vi) = (c.id("?p"), c.id("?v"));
    let grouped = c.reshape(pi, &[b, kv, g * t, s])?;
    let prod = c.add(TensorLang::MatMul([grouped, vi]));
    c.reshape(prod, &[b, h, t, hd])
}
