//! Layout: transposes folded into matmul operand flags, double transposes and reshapes
//! cancelled, identity views removed, slices of concatenations resolved, concatenations of
//! adjacent slices and nested concatenations merged, and elementwise ops moved before a
//! broadcast (so they run on the small tensor and the broadcast is read by the consumer);
//! casts move inside reshapes and transposes too, so a cast meets the cast it undoes
//! (`cast-round-trip`: mixed precision casts a GEMM result up, views it, and casts it
//! down for the next GEMM).

use super::{BuildFn, Ctx, KindSearcher, Rule, RuleGroup, custom, rule};
use crate::egraph::language::{Attr, TensorLang};
use crate::egraph::ops::{attr_of, matmul};
use egg::{FromOp, Id};

const G: RuleGroup = RuleGroup::Layout;

const UNARY: [&str; 12] = [
    "neg", "abs", "exp", "log", "sqrt", "rsqrt", "recip", "sin", "cos", "tanh", "sigmoid", "cast",
];
const BINARY: [&str; 13] = [
    "add", "sub", "mul", "div", "max", "min", "pow", "cmp_lt", "cmp_le", "cmp_gt", "cmp_ge",
    "cmp_eq", "cmp_ne",
];

/// The layout rules.
pub fn rules() -> Vec<Rule> {
    let mut v = vec![
        rule(
            G,
            "transpose-transpose",
            "(transpose (transpose ?x ?p1) ?p2)",
            transpose_transpose,
        ),
        rule(
            G,
            "transpose-identity",
            "(transpose ?x ?p)",
            transpose_identity,
        ),
        rule(
            G,
            "reshape-reshape",
            "(reshape (reshape ?x ?t1) ?t2)",
            reshape_reshape,
        ),
        rule(G, "reshape-identity", "(reshape ?x ?t)", view_identity),
        rule(G, "broadcast-identity", "(broadcast ?x ?t)", view_identity),
        rule(
            G,
            "broadcast-broadcast",
            "(broadcast (broadcast ?x ?t1) ?t2)",
            broadcast_broadcast,
        ),
        rule(
            G,
            "cast-before-reshape",
            "(cast (reshape ?x ?t) ?d)",
            cast_before_reshape,
        ),
        rule(
            G,
            "cast-before-transpose",
            "(cast (transpose ?x ?p) ?d)",
            cast_before_transpose,
        ),
        custom(
            G,
            "slice-of-concat",
            KindSearcher::new(&TensorLang::Slice([Id::from(0usize); 2])),
            slice_of_concat,
        ),
        custom(
            G,
            "concat-of-slices",
            KindSearcher::new(&TensorLang::Concat(Box::new([]))),
            concat_of_slices,
        ),
        custom(
            G,
            "concat-flatten",
            KindSearcher::new(&TensorLang::Concat(Box::new([]))),
            concat_flatten,
        ),
    ];
    let folds: [(&str, BuildFn, BuildFn, BuildFn); 4] = [
        (
            "matmul",
            fold_lhs::<false, false>,
            fold_rhs::<false, false>,
            transpose_of_matmul::<false, false>,
        ),
        (
            "matmul_tn",
            fold_lhs::<true, false>,
            fold_rhs::<true, false>,
            transpose_of_matmul::<true, false>,
        ),
        (
            "matmul_nt",
            fold_lhs::<false, true>,
            fold_rhs::<false, true>,
            transpose_of_matmul::<false, true>,
        ),
        (
            "matmul_tt",
            fold_lhs::<true, true>,
            fold_rhs::<true, true>,
            transpose_of_matmul::<true, true>,
        ),
    ];
    for (m, lhs, rhs, out) in folds {
        v.push(rule(
            G,
            format!("{m}-transposed-lhs"),
            &format!("({m} (transpose ?a ?p) ?b)"),
            lhs,
        ));
        v.push(rule(
            G,
            format!("{m}-transposed-rhs"),
            &format!("({m} ?a (transpose ?b ?p))"),
            rhs,
        ));
        v.push(rule(
            G,
            format!("transpose-of-{m}"),
            &format!("(transpose ({m} ?a ?b) ?p)"),
            out,
        ));
    }
    let unary: [BuildFn; 12] = [
        unary_before_broadcast::<0>,
        unary_before_broadcast::<1>,
        unary_before_broadcast::<2>,
        unary_before_broadcast::<3>,
        unary_before_broadcast::<4>,
        unary_before_broadcast::<5>,
        unary_before_broadcast::<6>,
        unary_before_broadcast::<7>,
        unary_before_broadcast::<8>,
        unary_before_broadcast::<9>,
        unary_before_broadcast::<10>,
        cast_before_broadcast,
    ];
    for (u, f) in UNARY.iter().zip(unary) {
        let lhs = if *u == "cast" {
            "(cast (broadcast ?x ?t) ?d)".to_string()
        } else {
            format!("({u} (broadcast ?x ?t))")
        };
        v.push(rule(G, format!("{u}-before-broadcast"), &lhs, f));
    }
    let binary: [BuildFn; 13] = [
        binary_before_broadcast::<0>,
        binary_before_broadcast::<1>,
        binary_before_broadcast::<2>,
        binary_before_broadcast::<3>,
        binary_before_broadcast::<4>,
        binary_before_broadcast::<5>,
        binary_before_broadcast::<6>,
        binary_before_broadcast::<7>,
        binary_before_broadcast::<8>,
        binary_before_broadcast::<9>,
        binary_before_broadcast::<10>,
        binary_before_broadcast::<11>,
        binary_before_broadcast::<12>,
    ];
    for (b, f) in BINARY.iter().zip(binary) {
        v.push(rule(
            G,
            format!("{b}-before-broadcast"),
            &format!("({b} (broadcast ?x ?t) (broadcast ?y ?t))"),
            f,
        ));
    }
    v
}

fn perm(c: &Ctx, v: &str) -> Option<Vec<usize>> {
    match c.attr(v)? {
        Attr::Perm(p) => Some(p),
        _ => None,
    }
}

fn is_identity(p: &[usize]) -> bool {
    p.iter().enumerate().all(|(i, &d)| i == d)
}

/// Swaps the last two axes and keeps the others.
fn swaps_last_two(p: &[usize]) -> bool {
    let r = p.len();
    r >= 2
        && p[r - 1] == r - 2
        && p[r - 2] == r - 1
        && p[..r - 2].iter().enumerate().all(|(i, &d)| i == d)
}

fn transpose_transpose(c: &mut Ctx) -> Option<Id> {
    let (p1, p2) = (perm(c, "?p1")?, perm(c, "?p2")?);
    if p1.len() != p2.len() {
        return None;
    }
    let composed: Vec<usize> = p2.iter().map(|&i| p1[i]).collect();
    let x = c.id("?x");
    if is_identity(&composed) {
        return Some(x);
    }
    let a = c.attr_leaf(Attr::Perm(composed));
    Some(c.add(TensorLang::Transpose([x, a])))
}

fn transpose_identity(c: &mut Ctx) -> Option<Id> {
    is_identity(&perm(c, "?p")?).then(|| c.id("?x"))
}

fn reshape_reshape(c: &mut Ctx) -> Option<Id> {
    let shape = c.type_attr("?t2")?;
    let x = c.id("?x");
    c.reshape(x, &shape)
}

fn view_identity(c: &mut Ctx) -> Option<Id> {
    (c.type_attr("?t")? == c.shape("?x")?).then(|| c.id("?x"))
}

fn broadcast_broadcast(c: &mut Ctx) -> Option<Id> {
    let shape = c.type_attr("?t2")?;
    let x = c.id("?x");
    c.broadcast(x, &shape)
}

/// `matmul(transpose(a), b)` with the transpose swapping the last two axes reads `a`
/// with the opposite flag.
fn fold_lhs<const TL: bool, const TR: bool>(c: &mut Ctx) -> Option<Id> {
    if !swaps_last_two(&perm(c, "?p")?) {
        return None;
    }
    let (a, b) = (c.id("?a"), c.id("?b"));
    Some(c.add(matmul(!TL, TR, [a, b])))
}

/// The same for the right-hand operand.
fn fold_rhs<const TL: bool, const TR: bool>(c: &mut Ctx) -> Option<Id> {
    if !swaps_last_two(&perm(c, "?p")?) {
        return None;
    }
    let (a, b) = (c.id("?a"), c.id("?b"));
    Some(c.add(matmul(TL, !TR, [a, b])))
}

/// `transpose(a @ b) = b^T @ a^T` when both operands have the same batch dims.
fn transpose_of_matmul<const TL: bool, const TR: bool>(c: &mut Ctx) -> Option<Id> {
    if !swaps_last_two(&perm(c, "?p")?) || c.ty("?a")?.rank() != c.ty("?b")?.rank() {
        return None;
    }
    let (a, b) = (c.id("?a"), c.id("?b"));
    Some(c.add(matmul(!TR, !TL, [b, a])))
}

/// `f(broadcast(x)) = broadcast(f(x))` for the unary op `UNARY[I]`.
fn unary_before_broadcast<const I: usize>(c: &mut Ctx) -> Option<Id> {
    let x = c.id("?x");
    let shape = c.type_attr("?t")?;
    let inner = TensorLang::from_op(UNARY[I], vec![x]).ok()?;
    let inner = c.add(inner);
    c.broadcast(inner, &shape)
}

/// `cast(broadcast(x)) = broadcast(cast(x))`.
fn cast_before_broadcast(c: &mut Ctx) -> Option<Id> {
    let x = c.id("?x");
    let shape = c.type_attr("?t")?;
    let dtype = match c.attr("?d")? {
        Attr::Type(t) => t.dtype,
        _ => return None,
    };
    let xt = c.ty_of(x)?.with_dtype(dtype);
    let d = c.attr_leaf(Attr::Type((&xt).into()));
    let inner = c.add(TensorLang::Cast([x, d]));
    c.broadcast(inner, &shape)
}

/// `x` cast to the dtype of the cast attribute bound to `d`.
fn cast_to(c: &mut Ctx, x: Id, d: &str) -> Option<Id> {
    let dtype = match c.attr(d)? {
        Attr::Type(t) => t.dtype,
        _ => return None,
    };
    let xt = c.ty_of(x)?.with_dtype(dtype);
    let d = c.attr_leaf(Attr::Type((&xt).into()));
    Some(c.add(TensorLang::Cast([x, d])))
}

/// `cast(reshape(x)) = reshape(cast(x))`.
fn cast_before_reshape(c: &mut Ctx) -> Option<Id> {
    let shape = c.type_attr("?t")?;
    let inner = cast_to(c, c.id("?x"), "?d")?;
    c.reshape(inner, &shape)
}

/// `cast(transpose(x)) = transpose(cast(x))`.
fn cast_before_transpose(c: &mut Ctx) -> Option<Id> {
    let p = c.id("?p");
    let inner = cast_to(c, c.id("?x"), "?d")?;
    Some(c.add(TensorLang::Transpose([inner, p])))
}

/// `f(broadcast(x), broadcast(y)) = broadcast(f(x, y))` for `BINARY[I]` and equal shapes
/// of `x` and `y`.
fn binary_before_broadcast<const I: usize>(c: &mut Ctx) -> Option<Id> {
    let (x, y) = (c.id("?x"), c.id("?y"));
    if c.ty_of(x)?.shape != c.ty_of(y)?.shape {
        return None;
    }
    let shape = c.type_attr("?t")?;
    let inner = TensorLang::from_op(BINARY[I], vec![x, y]).ok()?;
    let inner = c.add(inner);
    c.broadcast(inner, &shape)
}

fn range_of(c: &Ctx, id: Id) -> Option<(usize, usize, usize)> {
    match attr_of(c.eg, id)? {
        Attr::Range { axis, start, end } => Some((*axis, *start, *end)),
        _ => None,
    }
}

/// The concat nodes of class `id`: axis and operands.
fn concats_of(c: &Ctx, id: Id) -> Vec<(usize, Vec<Id>)> {
    c.eg[id]
        .nodes
        .iter()
        .filter_map(|n| match n {
            TensorLang::Concat(ch) => match attr_of(c.eg, ch[0])? {
                Attr::Axis(a) => Some((*a, ch[1..].iter().map(|&k| c.eg.find(k)).collect())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// `slice(concat(a, b, ...), r)` is a slice of the one operand the range falls in.
fn slice_of_concat(c: &mut Ctx) -> Option<Id> {
    let slices: Vec<(Id, Id)> = c.eg[c.eclass]
        .nodes
        .iter()
        .filter_map(|n| match n {
            TensorLang::Slice([x, r]) => Some((c.eg.find(*x), *r)),
            _ => None,
        })
        .collect();
    for (x, r) in slices {
        let Some((axis, start, end)) = range_of(c, r) else {
            continue;
        };
        for (cax, parts) in concats_of(c, x) {
            if cax != axis {
                continue;
            }
            let mut off = 0;
            for &p in &parts {
                let len = c.ty_of(p)?.shape[axis];
                if start >= off && end <= off + len {
                    return c.slice(p, axis, start - off, end - off);
                }
                off += len;
            }
        }
    }
    None
}

/// `concat(slice(x, a..b), slice(x, b..c))` along the sliced axis is `slice(x, a..c)`.
fn concat_of_slices(c: &mut Ctx) -> Option<Id> {
    for (axis, parts) in concats_of(c, c.eclass) {
        let mut src: Option<Id> = None;
        let mut range: Option<(usize, usize)> = None;
        let mut ok = true;
        for &p in &parts {
            let found = c.eg[p].nodes.iter().find_map(|n| match n {
                TensorLang::Slice([x, r]) => {
                    let (ax, s, e) = range_of(c, *r)?;
                    (ax == axis).then_some((c.eg.find(*x), s, e))
                }
                _ => None,
            });
            match (found, src, range) {
                (Some((x, s, e)), None, None) => {
                    src = Some(x);
                    range = Some((s, e));
                }
                (Some((x, s, e)), Some(sx), Some((rs, re))) if x == sx && s == re => {
                    range = Some((rs, e));
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if let (true, Some(x), Some((s, e))) = (ok, src, range) {
            return c.slice(x, axis, s, e);
        }
    }
    None
}

/// `concat(a, concat(b, c), d)` on one axis is `concat(a, b, c, d)`.
fn concat_flatten(c: &mut Ctx) -> Option<Id> {
    for (axis, parts) in concats_of(c, c.eclass) {
        let mut flat = Vec::with_capacity(parts.len() + 2);
        let mut changed = false;
        for &p in &parts {
            match concats_of(c, p).into_iter().find(|(a, _)| *a == axis) {
                Some((_, inner)) => {
                    flat.extend(inner);
                    changed = true;
                }
                None => flat.push(p),
            }
        }
        if changed {
            return Some(c.concat(axis, &flat));
        }
    }
    None
}
