//! Horizontal fusion: independent matmuls that share an operand become one matmul over the
//! concatenation of their other operands, and each original product is a slice (a view)
//! of the wide result. The shared operand is then read once instead of once per matmul.
//!
//! - *shared operand*: `x @ Wq^T, x @ Wk^T, x @ Wv^T` (one `x`, weights in `[out, in]`) is
//!   `x @ concat(Wq, Wk, Wv)^T` sliced along the last axis; `W1`/`W3` of SwiGLU likewise.
//!   With the shared operand on the right, as in the weight gradients `dQ^T x, dK^T x,
//!   dV^T x`, the left operands are concatenated and the result is sliced along its rows.
//! - *sum*: `a @ b + c @ d` is `concat(a, c) @ concat(b, d)` with the contraction axis
//!   concatenated, as in the input gradient `dQ Wq + dK Wk + dV Wv` (pairwise, then the
//!   nested concatenations flatten).
//!
//! Operands are concatenated in a canonical order (by the class of their first leaf), so
//! the forward and both gradients agree on one layout of `concat(Wq, Wk, Wv)`.

use super::{Ctx, Rule, RuleGroup, custom_multi, rule};
use crate::egraph::analysis::EG;
use crate::egraph::language::TensorLang;
use crate::egraph::ops::{as_matmul, matmul};
use egg::{Id, SearchMatches, Searcher, Subst, Var};
use llc_ir::TensorType;
use std::collections::BTreeMap;

const G: RuleGroup = RuleGroup::Horizontal;

/// The horizontal fusion rules.
pub fn rules() -> Vec<Rule> {
    vec![
        custom_multi(
            G,
            "horizontal-shared-operand",
            SharedOperand,
            shared_operand,
        ),
        rule(G, "horizontal-sum", "(add ?x ?y)", sum),
    ]
}

/// A matmul that uses the class under consideration in one slot.
#[derive(Clone, Copy, Debug)]
struct Member {
    class: Id,
    other: Id,
}

/// Matmuls grouped by which slot the shared class is in and their flags.
type Groups = BTreeMap<(usize, bool, bool, Vec<usize>), Vec<Member>>;

/// The axis of an operand that the result's rows (slot 0, `M`) or columns (slot 1, `N`)
/// come from; `slot` is the operand's own slot.
fn free_axis(slot: usize, tl: bool, tr: bool, rank: usize) -> usize {
    match (slot, tl, tr) {
        (0, false, _) => rank - 2,
        (0, true, _) => rank - 1,
        (_, _, false) => rank - 1,
        (_, _, true) => rank - 2,
    }
}

/// The contraction axis of an operand.
fn k_axis(slot: usize, tl: bool, tr: bool, rank: usize) -> usize {
    let f = free_axis(slot, tl, tr, rank);
    if f == rank - 1 { rank - 2 } else { rank - 1 }
}

fn ty(eg: &EG, id: Id) -> Option<&TensorType> {
    eg[id].data.ty.as_ref()
}

/// Groups of at least two matmuls sharing class `x` in the same slot with the same flags
/// and other operands that differ only along their free axis.
fn groups(eg: &EG, x: Id) -> Groups {
    let mut g: Groups = BTreeMap::new();
    for p in eg[x].parents() {
        let node = eg.id_to_node(p);
        let Some((tl, tr, [a, b])) = as_matmul(node) else {
            continue;
        };
        let (a, b) = (eg.find(a), eg.find(b));
        let (slot, other) = match (a == x, b == x) {
            (true, false) => (0, b),
            (false, true) => (1, a),
            _ => continue,
        };
        let Some(ot) = ty(eg, other) else { continue };
        // A concatenation is already a fused product: never widen it again.
        let is_concat = eg[other]
            .nodes
            .iter()
            .any(|n| matches!(n, TensorLang::Concat(_)));
        if ot.rank() < 2 || is_concat {
            continue;
        }
        // The other operand's slot is 1 - slot; its free axis is concatenated.
        let fa = free_axis(1 - slot, tl, tr, ot.rank());
        let mut sig = ot.shape.clone();
        sig[fa] = 0;
        sig.push(ot.dtype as usize);
        let members = g.entry((slot, tl, tr, sig)).or_default();
        let class = eg.find(p);
        if members.iter().all(|m| m.other != other && m.class != class) {
            members.push(Member { class, other });
        }
    }
    g.retain(|_, m| m.len() >= 2);
    g
}

/// The class of the first leaf reached through first operands: orders concatenations so
/// that `concat(concat(a, b), c)` and `concat(a, b, c)` sort alike.
fn leaf_key(eg: &EG, id: Id) -> Id {
    let mut cur = eg.find(id);
    for _ in 0..64 {
        let next = eg[cur].nodes.iter().find_map(|n| match n {
            TensorLang::Concat(ch) if ch.len() >= 2 => Some(eg.find(ch[1])),
            _ => None,
        });
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur
}

/// For a left operand (an activation gradient such as `dQ`, possibly reshaped): the
/// argument it is multiplied with as a left operand elsewhere (`dQ @ Wq`), so that the
/// weight gradients `dQ^T x, dK^T x, dV^T x` concatenate in the order of the weights.
fn partner_key(eg: &EG, o: Id) -> Option<Id> {
    let mut cands = vec![o];
    for n in &eg[o].nodes {
        if let TensorLang::Reshape([x, _]) = n {
            cands.push(eg.find(*x));
        }
    }
    let mut best: Option<Id> = None;
    for c in cands {
        for p in eg[c].parents() {
            let Some((_, _, [a, b])) = as_matmul(eg.id_to_node(p)) else {
                continue;
            };
            let b = eg.find(b);
            let is_arg = eg[b].nodes.iter().any(|n| matches!(n, TensorLang::Arg(_)));
            if eg.find(a) == c && is_arg && best.is_none_or(|k| b < k) {
                best = Some(b);
            }
        }
    }
    best
}

/// Finds the classes used by at least two compatible matmuls.
struct SharedOperand;

impl Searcher<TensorLang, crate::egraph::analysis::TypeAnalysis> for SharedOperand {
    fn search_eclass_with_limit(
        &self,
        egraph: &EG,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, TensorLang>> {
        if limit == 0 || egraph[eclass].data.ty.is_none() || egraph[eclass].parents().len() < 2 {
            return None;
        }
        (!groups(egraph, eclass).is_empty()).then(|| SearchMatches {
            eclass,
            substs: vec![Subst::default()],
            ast: None,
        })
    }

    fn search_with_limit(&self, egraph: &EG, limit: usize) -> Vec<SearchMatches<'_, TensorLang>> {
        let mut ids: Vec<Id> = egraph.classes().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.search_eclass_with_limit(egraph, id, limit))
            .take(limit)
            .collect()
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }
}

fn shared_operand(c: &mut Ctx) -> Vec<(Id, Id)> {
    let x = c.eclass;
    let mut out = Vec::new();
    for ((slot, tl, tr, _), mut members) in groups(c.eg, x) {
        // Weights (a shared left operand) sort by themselves; activation gradients (a
        // shared right operand) by the weight they pair with.
        members.sort_by_key(|m| {
            let k = if slot == 1 {
                partner_key(c.eg, m.other)
            } else {
                None
            };
            (k.unwrap_or_else(|| leaf_key(c.eg, m.other)), m.other)
        });
        let Some(first) = ty(c.eg, members[0].other).cloned() else {
            continue;
        };
        let rank = first.rank();
        let fa = free_axis(1 - slot, tl, tr, rank);
        let sizes: Vec<usize> = members
            .iter()
            .filter_map(|m| ty(c.eg, m.other).map(|t| t.shape[fa]))
            .collect();
        if sizes.len() != members.len() {
            continue;
        }
        let others: Vec<Id> = members.iter().map(|m| m.other).collect();
        let cat = c.concat(fa, &others);
        let wide = c.add(if slot == 0 {
            matmul(tl, tr, [x, cat])
        } else {
            matmul(tl, tr, [cat, x])
        });
        let Some(wt) = ty(c.eg, wide).cloned() else {
            continue;
        };
        // Columns for a shared lhs, rows for a shared rhs.
        let axis = if slot == 0 {
            wt.rank() - 1
        } else {
            wt.rank() - 2
        };
        let mut off = 0;
        for (m, len) in members.iter().zip(sizes) {
            if let Some(s) = c.slice(wide, axis, off, off + len) {
                out.push((m.class, s));
            }
            off += len;
        }
    }
    out
}

/// A matmul node of class `id`: flags and operand classes.
fn matmuls_of(eg: &EG, id: Id) -> Vec<(bool, bool, Id, Id)> {
    eg[id]
        .nodes
        .iter()
        .filter_map(|n| {
            let (tl, tr, [a, b]) = as_matmul(n)?;
            Some((tl, tr, eg.find(a), eg.find(b)))
        })
        .collect()
}

/// Same rank and shape except along `axis`.
fn same_but(a: &TensorType, b: &TensorType, axis: usize) -> bool {
    a.dtype == b.dtype
        && a.rank() == b.rank()
        && a.shape
            .iter()
            .zip(&b.shape)
            .enumerate()
            .all(|(i, (x, y))| i == axis || x == y)
}

fn sum(c: &mut Ctx) -> Option<Id> {
    let (x, y) = (c.id("?x"), c.id("?y"));
    if x == y {
        return None;
    }
    let xs = matmuls_of(c.eg, x);
    let ys = matmuls_of(c.eg, y);
    for &(tl, tr, a, b) in &xs {
        for &(tl2, tr2, a2, b2) in &ys {
            if (tl, tr) != (tl2, tr2) {
                continue;
            }
            let (ta, tb) = (ty(c.eg, a)?.clone(), ty(c.eg, b)?.clone());
            let (ta2, tb2) = (ty(c.eg, a2)?.clone(), ty(c.eg, b2)?.clone());
            let ka = k_axis(0, tl, tr, ta.rank());
            let kb = k_axis(1, tl, tr, tb.rank());
            if !same_but(&ta, &ta2, ka) || !same_but(&tb, &tb2, kb) {
                continue;
            }
            // Canonical order: by the right operand's first leaf (the weights).
            let swap = (leaf_key(c.eg, b2), b2) < (leaf_key(c.eg, b), b);
            let (l, r) = if swap {
                ([a2, a], [b2, b])
            } else {
                ([a, a2], [b, b2])
            };
            let lc = c.concat(ka, &l);
            let rc = c.concat(kb, &r);
            return Some(c.add(matmul(tl, tr, [lc, rc])));
        }
    }
    None
}
