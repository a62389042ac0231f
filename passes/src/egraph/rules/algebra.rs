//! Algebra: identities (`x*1`, `x+0`, `x-0`, `x/1`, `--x`, `select(c, x, x)`, casts to the
//! same type, a float widened and narrowed back) and constant folding of elementwise ops on constants. Common subexpressions
//! need no rule: equal terms share one e-class from the moment they are added.
//!
//! `x*0 = 0` is folded too, which assumes finite values (`inf*0` is NaN); a training step
//! that produces an infinity has failed already.

use super::{BuildFn, Ctx, Rule, RuleGroup, rule};
use crate::egraph::language::{Attr, TensorLang};
use egg::Id;

const G: RuleGroup = RuleGroup::Algebra;

/// The algebra rules.
#[rustfmt::skip]
pub fn rules() -> Vec<Rule> {
    let mut v = vec![
        rule(G, "mul-one", "(mul ?x ?c)", |c| identity(c, 1.0)),
        rule(G, "one-mul", "(mul ?c ?x)", |c| identity(c, 1.0)),
        rule(G, "add-zero", "(add ?x ?c)", |c| identity(c, 0.0)),
        rule(G, "zero-add", "(add ?c ?x)", |c| identity(c, 0.0)),
        rule(G, "sub-zero", "(sub ?x ?c)", |c| identity(c, 0.0)),
        rule(G, "div-one", "(div ?x ?c)", |c| identity(c, 1.0)),
        rule(G, "mul-zero", "(mul ?x ?c)", mul_zero),
        rule(G, "zero-mul", "(mul ?c ?x)", mul_zero),
        rule(G, "neg-neg", "(neg (neg ?x))", |c| Some(c.id("?x"))),
        rule(G, "select-same", "(select ?m ?x ?x)", |c| Some(c.id("?x"))),
        rule(G, "cast-identity", "(cast ?x ?t)", cast_identity),
        rule(G, "cast-round-trip", "(cast (cast ?x ?wide) ?t)", cast_round_trip),
    ];
    let folds: [(&str, BuildFn); 7] = [
        ("add", |c| fold(c, |a, b| a + b)),
        ("sub", |c| fold(c, |a, b| a - b)),
        ("mul", |c| fold(c, |a, b| a * b)),
        ("div", |c| fold(c, |a, b| a / b)),
        ("max", |c| fold(c, f64::max)),
        ("min", |c| fold(c, f64::min)),
        ("pow", |c| fold(c, f64::powf)),
    ];
    for (op, f) in folds {
        v.push(rule(G, format!("fold-{op}"), &format!("({op} ?a ?b)"), f));
    }
    v
}

/// `x op c = x` when `c` is the constant `unit` of `x`'s type.
fn identity(c: &mut Ctx, unit: f64) -> Option<Id> {
    (c.konst("?c")? == unit && c.ty("?c")? == c.ty("?x")?).then(|| c.id("?x"))
}

fn mul_zero(c: &mut Ctx) -> Option<Id> {
    let t = c.ty("?x")?;
    if c.konst("?c")? != 0.0 || c.ty("?c")? != t || !t.dtype.is_float() {
        return None;
    }
    Some(c.full(0.0, &t))
}

fn cast_identity(c: &mut Ctx) -> Option<Id> {
    let x = c.ty("?x")?;
    match c.attr("?t")? {
        Attr::Type(t) if t.to_type() == x => Some(c.id("?x")),
        _ => None,
    }
}

/// A float widened to a format that holds every value of its own (bf16 or f16 to f32 or
/// f64, f32 to f64) and cast back is itself: the widening is exact. (Mixed precision's
/// casts leave such pairs where a bf16 GEMM result is cast up and the next GEMM's
/// operand down again.)
fn cast_round_trip(c: &mut Ctx) -> Option<Id> {
    use llc_ir::DType::{BF16, F16, F32, F64};
    let x = c.ty("?x")?;
    let (Attr::Type(wide), Attr::Type(back)) = (c.attr("?wide")?, c.attr("?t")?) else {
        return None;
    };
    let exact = matches!((x.dtype, wide.dtype), (BF16 | F16, F32 | F64) | (F32, F64));
    (exact && back.to_type() == x).then(|| c.id("?x"))
}

/// Both operands constant: the result is the constant `f(a, b)` (computed in f64; the
/// constant is rounded to the result dtype where it is materialized). Integer results are
/// only folded when exact.
fn fold(c: &mut Ctx, f: fn(f64, f64) -> f64) -> Option<Id> {
    let (a, b) = (c.konst("?a")?, c.konst("?b")?);
    let t = c.ty("?a")?;
    let v = f(a, b);
    if !v.is_finite() || (!t.dtype.is_float() && v.fract() != 0.0) {
        return None;
    }
    if c.eg[c.eclass]
        .nodes
        .iter()
        .any(|n| matches!(n, TensorLang::Full(_)))
    {
        return None;
    }
    Some(c.full(v, &t))
}
