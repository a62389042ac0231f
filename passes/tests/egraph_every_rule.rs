//! Every named e-graph rule, one case each: a minimal graph in IR text where the rule
//! fires (asserted by name in the e-graph report), the extracted graph differs from the
//! input, and the interpreter's outputs before and after agree to 1e-12 on fresh random
//! f64 inputs, all finite on both sides. A second test fails when a rule has no case (or a
//! case names no rule), so a new rule cannot land untested.
//!
//! Each case runs its rule's group alone and no other rule may fire, so the changed output
//! is the named rule's own rewrite. The cases are f32 graphs interpreted in f64: every
//! rule fires at f32 (`cast-before-broadcast` casts to bf16).
//!
//! `RULES_TABLE=path cargo test -p llc-passes --test egraph_every_rule` also writes the
//! rule <-> case table (markdown) to `path`; the test prints it either way.

mod egraph_common;

use egraph_common::compare_on;
use llc_ir::{Function, parse_function, print_function};
use llc_passes::egraph::rules::{Rule, RuleGroup};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_runtime::{Precision, Tensor, random_args};
use std::collections::{BTreeMap, BTreeSet};

/// Relative (and absolute, for values near zero) tolerance of before vs after.
const TOL: f64 = 1e-12;

/// Fresh seeds (no other test draws these), several per case.
const SEEDS: [u64; 3] = [1401, 1402, 1403];

/// How the random float arguments are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Domain {
    /// The interpreter's random arguments (inputs standard normal).
    Normal,
    /// `0.5 + |x|`: inside the domain of log, sqrt, rsqrt, recip, pow, and away from 0
    /// for div.
    Positive,
}

/// One rule's case.
struct Case {
    /// The rule it is for.
    rule: String,
    /// The case's name (the function's name in the IR text).
    name: String,
    /// The IR text.
    ir: String,
    /// Integer arguments are drawn from `0..int_high`.
    int_high: i32,
    /// Float arguments.
    domain: Domain,
}

fn case(rule: &str, name: &str, ir: impl Into<String>) -> Case {
    Case {
        rule: rule.to_string(),
        name: name.to_string(),
        ir: ir.into(),
        int_high: 1,
        domain: Domain::Normal,
    }
}

impl Case {
    fn ints(mut self, high: i32) -> Self {
        self.int_high = high;
        self
    }

    fn positive(mut self) -> Self {
        self.domain = Domain::Positive;
        self
    }
}

/// Every rule by name, with its group.
fn all_rules() -> Vec<(String, RuleGroup)> {
    RuleGroup::ALL
        .iter()
        .flat_map(|g| g.rules())
        .map(|r: Rule| (r.name, r.group))
        .collect()
}

fn algebra_cases() -> Vec<Case> {
    let ident = |rule: &str, name: &str, op: &str, unit: &str, konst_first: bool| {
        let (a, b) = if konst_first {
            ("%c", "%x")
        } else {
            ("%x", "%c")
        };
        case(
            rule,
            name,
            format!(
                "func @{name}(input %x: f32[3,4]) {{
  %c = full {{value = {unit}}} : f32[3,4]
  %y = {op} {a}, {b} : f32[3,4]
  return %y
}}"
            ),
        )
    };
    let mut v = vec![
        ident("mul-one", "mul_one", "mul", "1.0", false),
        ident("one-mul", "one_mul", "mul", "1.0", true),
        ident("add-zero", "add_zero", "add", "0.0", false),
        ident("zero-add", "zero_add", "add", "0.0", true),
        ident("sub-zero", "sub_zero", "sub", "0.0", false),
        ident("div-one", "div_one", "div", "1.0", false),
        ident("mul-zero", "mul_zero", "mul", "0.0", false),
        ident("zero-mul", "zero_mul", "mul", "0.0", true),
        case(
            "neg-neg",
            "neg_neg",
            "func @neg_neg(input %x: f32[3,4]) {
  %n = neg %x : f32[3,4]
  %y = neg %n : f32[3,4]
  return %y
}",
        ),
        case(
            "select-same",
            "select_same",
            "func @select_same(input %m: bool[3,4], input %x: f32[3,4]) {
  %e = exp %x : f32[3,4]
  %y = select %m, %e, %e : f32[3,4]
  return %y
}",
        ),
        case(
            "cast-identity",
            "cast_identity",
            "func @cast_identity(input %x: f32[3,4]) {
  %y = cast %x : f32[3,4]
  return %y
}",
        ),
        // bf16 -> f32 -> bf16 is exact (the input is rounded to bf16 first, so the
        // interpreter holds bf16 values); the f32 value stays read by `exp`.
        case(
            "cast-round-trip",
            "cast_round_trip",
            "func @cast_round_trip(input %x: f32[3,4]) {
  %h = cast %x : bf16[3,4]
  %w = cast %h : f32[3,4]
  %n = cast %w : bf16[3,4]
  %e = exp %w : f32[3,4]
  %y = cast %n : f32[3,4]
  %z = add %y, %e : f32[3,4]
  return %z
}",
        ),
    ];
    // Constant folds: the folded constant scales `x`; 2/3 and 2^0.5 are not exact in
    // binary, so the constant must keep its f64 value.
    for (op, a, b) in [
        ("add", "2.0", "3.0"),
        ("sub", "2.0", "3.5"),
        ("mul", "2.0", "3.0"),
        ("div", "2.0", "3.0"),
        ("max", "-2.0", "3.0"),
        ("min", "-2.0", "3.0"),
        ("pow", "2.0", "0.5"),
    ] {
        let name = format!("fold_{op}");
        v.push(case(
            &format!("fold-{op}"),
            &name,
            format!(
                "func @{name}(input %x: f32[3,4]) {{
  %a = full {{value = {a}}} : f32[3,4]
  %b = full {{value = {b}}} : f32[3,4]
  %c = {op} %a, %b : f32[3,4]
  %y = mul %x, %c : f32[3,4]
  return %y
}}"
            ),
        ));
    }
    v
}

fn fusion_cases() -> Vec<Case> {
    let attention = |rule: &str, name: &str, causal: bool| {
        let masked = if causal {
            "  %i0 = iota {axis = 0} : i32[4,4]
  %i1 = iota {axis = 1} : i32[4,4]
  %mask = cmp_le %i1, %i0 : bool[4,4]
  %mb = broadcast %mask : bool[1,4,4,4]
  %fill = full {value = -1e9} : f32[1,4,4,4]
  %m = select %mb, %ss, %fill : f32[1,4,4,4]
  %p = softmax %m : f32[1,4,4,4]"
        } else {
            "  %p = softmax %ss : f32[1,4,4,4]"
        };
        // Two KV heads shared by four query heads: the fused op's GQA form.
        case(
            rule,
            name,
            format!(
                "func @{name}(input %q: f32[1,4,4,3], input %k: f32[1,2,4,3], input %v: f32[1,2,4,3]) {{
  %k1 = reshape %k : f32[1,2,1,4,3]
  %k2 = broadcast %k1 : f32[1,2,2,4,3]
  %kr = reshape %k2 : f32[1,4,4,3]
  %v1 = reshape %v : f32[1,2,1,4,3]
  %v2 = broadcast %v1 : f32[1,2,2,4,3]
  %vr = reshape %v2 : f32[1,4,4,3]
  %s = matmul %q, %kr {{transpose_lhs = false, transpose_rhs = true}} : f32[1,4,4,4]
  %scale = full {{value = 0.5}} : f32[1,4,4,4]
  %ss = mul %s, %scale : f32[1,4,4,4]
{masked}
  %y = matmul %p, %vr {{transpose_lhs = false, transpose_rhs = false}} : f32[1,4,4,3]
  return %y
}}"
            ),
        )
    };
    vec![
        case(
            "rms-norm",
            "rms_norm",
            "func @rms_norm(param %w: f32[8], input %x: f32[2,8]) {
  %sq = mul %x, %x : f32[2,8]
  %sum = reduce_sum %sq {axes = [1], keep_dims = true} : f32[2,1]
  %inv = full {value = 0.125} : f32[2,1]
  %mean = mul %sum, %inv : f32[2,1]
  %eps = full {value = 1e-5} : f32[2,1]
  %sh = add %mean, %eps : f32[2,1]
  %r = rsqrt %sh : f32[2,1]
  %rb = broadcast %r : f32[2,8]
  %n = mul %x, %rb : f32[2,8]
  %wb = broadcast %w : f32[2,8]
  %y = mul %n, %wb : f32[2,8]
  return %y
}",
        ),
        case(
            "swiglu",
            "swiglu",
            "func @swiglu(input %a: f32[3,4], input %b: f32[3,4]) {
  %s = sigmoid %a : f32[3,4]
  %g = mul %a, %s : f32[3,4]
  %y = mul %g, %b : f32[3,4]
  return %y
}",
        ),
        case(
            "softmax",
            "softmax",
            "func @softmax(input %x: f32[2,5]) {
  %m = reduce_max %x {axes = [1], keep_dims = true} : f32[2,1]
  %mb = broadcast %m : f32[2,5]
  %d = sub %x, %mb : f32[2,5]
  %e = exp %d : f32[2,5]
  %s = reduce_sum %e {axes = [1], keep_dims = true} : f32[2,1]
  %sb = broadcast %s : f32[2,5]
  %y = div %e, %sb : f32[2,5]
  return %y
}",
        ),
        attention("attention-causal", "attention_causal", true),
        attention("attention", "attention", false),
        case(
            "cross-entropy",
            "cross_entropy",
            "func @cross_entropy(input %x: f32[4,8], input %tgt: i32[1,4]) {
  %m = reduce_max %x {axes = [1], keep_dims = true} : f32[4,1]
  %mb = broadcast %m : f32[4,8]
  %d = sub %x, %mb : f32[4,8]
  %e = exp %d : f32[4,8]
  %se = reduce_sum %e {axes = [1], keep_dims = true} : f32[4,1]
  %lse = log %se : f32[4,1]
  %cls = iota {axis = 1} : i32[4,8]
  %t = reshape %tgt : i32[4,1]
  %tb = broadcast %t : i32[4,8]
  %hit = cmp_eq %cls, %tb : bool[4,8]
  %zero = full {value = 0.0} : f32[4,8]
  %pick = select %hit, %d, %zero : f32[4,8]
  %ps = reduce_sum %pick {axes = [1], keep_dims = true} : f32[4,1]
  %nll = sub %lse, %ps : f32[4,1]
  return %nll
}",
        )
        .ints(8),
        // Interleaved RoPE over [B=1, T=4, H=2, hd=4] with theta 10000:
        // k = -2 ln(10000) / hd.
        case(
            "rope",
            "rope",
            "func @rope(input %x: f32[1,4,2,4]) {
  %pair = iota {axis = 1} : f32[4,2]
  %pos = iota {axis = 0} : f32[4,2]
  %k = full {value = -4.605170185988092} : f32[4,2]
  %lf = mul %pair, %k : f32[4,2]
  %freq = exp %lf : f32[4,2]
  %angle = mul %pos, %freq : f32[4,2]
  %cf = cos %angle : f32[4,2]
  %cos = reshape %cf : f32[4,1,2,1]
  %sf = sin %angle : f32[4,2]
  %sin = reshape %sf : f32[4,1,2,1]
  %xp = reshape %x : f32[1,4,2,2,2]
  %e = slice %xp {axis = 4, start = 0, end = 1} : f32[1,4,2,2,1]
  %o = slice %xp {axis = 4, start = 1, end = 2} : f32[1,4,2,2,1]
  %cb = broadcast %cos : f32[1,4,2,2,1]
  %sb = broadcast %sin : f32[1,4,2,2,1]
  %ec = mul %e, %cb : f32[1,4,2,2,1]
  %os = mul %o, %sb : f32[1,4,2,2,1]
  %even = sub %ec, %os : f32[1,4,2,2,1]
  %es = mul %e, %sb : f32[1,4,2,2,1]
  %oc = mul %o, %cb : f32[1,4,2,2,1]
  %odd = add %es, %oc : f32[1,4,2,2,1]
  %cat = concat %even, %odd {axis = 4} : f32[1,4,2,2,2]
  %y = reshape %cat : f32[1,4,2,4]
  return %y
}",
        ),
    ]
}

/// K and V `[1, 2, 3, 2]` repeated to four heads (`g = 2`), as the model builder does.
const REPEAT_KV: &str = "  %k1 = reshape %k : f32[1,2,1,3,2]
  %k2 = broadcast %k1 : f32[1,2,2,3,2]
  %kr = reshape %k2 : f32[1,4,3,2]
  %v1 = reshape %v : f32[1,2,1,3,2]
  %v2 = broadcast %v1 : f32[1,2,2,3,2]
  %vr = reshape %v2 : f32[1,4,3,2]";

fn gqa_cases() -> Vec<Case> {
    let fused = |rule: &str, name: &str, causal: bool| {
        case(
            rule,
            name,
            format!(
                "func @{name}(input %q: f32[1,4,3,2], input %k: f32[1,2,3,2], input %v: f32[1,2,3,2]) {{
{REPEAT_KV}
  %y = attention %q, %kr, %vr {{scale = 0.5, causal = {causal}}} : f32[1,4,3,2]
  return %y
}}"
            ),
        )
    };
    vec![
        fused("gqa-attention-causal", "gqa_attention_causal", true),
        fused("gqa-attention", "gqa_attention", false),
        case(
            "gqa-scores",
            "gqa_scores",
            format!(
                "func @gqa_scores(input %q: f32[1,4,3,2], input %k: f32[1,2,3,2], input %v: f32[1,2,3,2]) {{
{REPEAT_KV}
  %s = matmul %q, %kr {{transpose_lhs = false, transpose_rhs = true}} : f32[1,4,3,3]
  return %s
}}"
            ),
        ),
        case(
            "gqa-context",
            "gqa_context",
            format!(
                "func @gqa_context(input %p: f32[1,4,3,3], input %k: f32[1,2,3,2], input %v: f32[1,2,3,2]) {{
{REPEAT_KV}
  %y = matmul %p, %vr {{transpose_lhs = false, transpose_rhs = false}} : f32[1,4,3,2]
  return %y
}}"
            ),
        ),
    ]
}

fn horizontal_cases() -> Vec<Case> {
    vec![
        case(
            "horizontal-shared-operand",
            "horizontal_shared_operand",
            "func @horizontal_shared_operand(input %x: f32[3,4], param %w1: f32[5,4], param %w2: f32[6,4]) {
  %y1 = matmul %x, %w1 {transpose_lhs = false, transpose_rhs = true} : f32[3,5]
  %y2 = matmul %x, %w2 {transpose_lhs = false, transpose_rhs = true} : f32[3,6]
  return %y1, %y2
}",
        ),
        case(
            "horizontal-sum",
            "horizontal_sum",
            "func @horizontal_sum(input %a: f32[3,4], param %b: f32[4,5], input %c: f32[3,2], param %d: f32[2,5]) {
  %ab = matmul %a, %b {transpose_lhs = false, transpose_rhs = false} : f32[3,5]
  %cd = matmul %c, %d {transpose_lhs = false, transpose_rhs = false} : f32[3,5]
  %y = add %ab, %cd : f32[3,5]
  return %y
}",
        ),
    ]
}

/// The IR spelling of a shape.
fn shape(dims: [usize; 2]) -> String {
    format!("f32[{},{}]", dims[0], dims[1])
}

fn layout_cases() -> Vec<Case> {
    let mut v = vec![
        case(
            "transpose-transpose",
            "transpose_transpose",
            "func @transpose_transpose(input %x: f32[2,3,4]) {
  %t1 = transpose %x {perm = [1, 2, 0]} : f32[3,4,2]
  %t2 = transpose %t1 {perm = [1, 2, 0]} : f32[4,2,3]
  return %t2
}",
        ),
        case(
            "transpose-identity",
            "transpose_identity",
            "func @transpose_identity(input %x: f32[3,4]) {
  %t = transpose %x {perm = [0, 1]} : f32[3,4]
  %y = exp %t : f32[3,4]
  return %y
}",
        ),
        case(
            "reshape-reshape",
            "reshape_reshape",
            "func @reshape_reshape(input %x: f32[2,6]) {
  %r1 = reshape %x : f32[3,4]
  %r2 = reshape %r1 : f32[12]
  return %r2
}",
        ),
        case(
            "reshape-identity",
            "reshape_identity",
            "func @reshape_identity(input %x: f32[2,6]) {
  %r = reshape %x : f32[2,6]
  %y = exp %r : f32[2,6]
  return %y
}",
        ),
        case(
            "cast-before-reshape",
            "cast_before_reshape",
            // moved into the view, the cast is the one already made of `x`
            "func @cast_before_reshape(input %x: f32[2,6]) {
  %c = cast %x : bf16[2,6]
  %r = reshape %x : f32[3,4]
  %y = cast %r : bf16[3,4]
  return %c, %y
}",
        ),
        case(
            "cast-before-transpose",
            "cast_before_transpose",
            "func @cast_before_transpose(input %x: f32[2,3,4]) {
  %h = cast %x : bf16[2,3,4]
  %w = cast %h : f32[2,3,4]
  %t = transpose %w {perm = [0, 2, 1]} : f32[2,4,3]
  %y = cast %t : bf16[2,4,3]
  return %y
}",
        ),
        case(
            "broadcast-identity",
            "broadcast_identity",
            "func @broadcast_identity(input %x: f32[2,6]) {
  %b = broadcast %x : f32[2,6]
  %y = exp %b : f32[2,6]
  return %y
}",
        ),
        case(
            "broadcast-broadcast",
            "broadcast_broadcast",
            "func @broadcast_broadcast(input %s: f32[4]) {
  %b1 = broadcast %s : f32[3,4]
  %b2 = broadcast %b1 : f32[2,3,4]
  return %b2
}",
        ),
        case(
            "slice-of-concat",
            "slice_of_concat",
            "func @slice_of_concat(input %a: f32[2,3], input %b: f32[2,3]) {
  %c = concat %a, %b {axis = 1} : f32[2,6]
  %s = slice %c {axis = 1, start = 4, end = 6} : f32[2,2]
  return %s
}",
        ),
        case(
            "concat-of-slices",
            "concat_of_slices",
            "func @concat_of_slices(input %w: f32[6,4]) {
  %s1 = slice %w {axis = 0, start = 1, end = 3} : f32[2,4]
  %s2 = slice %w {axis = 0, start = 3, end = 6} : f32[3,4]
  %c = concat %s1, %s2 {axis = 0} : f32[5,4]
  return %c
}",
        ),
        case(
            "concat-flatten",
            "concat_flatten",
            "func @concat_flatten(input %a: f32[2,2], input %b: f32[1,2], input %c: f32[3,2]) {
  %i = concat %a, %b {axis = 0} : f32[3,2]
  %o = concat %i, %c {axis = 0} : f32[6,2]
  return %o
}",
        ),
    ];
    // Matmuls of each flag combination: [M, K] x [K, N] with M 3, K 4, N 5.
    for (m, tl, tr) in [
        ("matmul", false, false),
        ("matmul_tn", true, false),
        ("matmul_nt", false, true),
        ("matmul_tt", true, true),
    ] {
        let lhs = if tl { [4, 3] } else { [3, 4] };
        let rhs = if tr { [5, 4] } else { [4, 5] };
        let flags = format!("{{transpose_lhs = {tl}, transpose_rhs = {tr}}}");
        let t = |d: [usize; 2]| [d[1], d[0]];
        let (l, r, lt, rt) = (shape(lhs), shape(rhs), shape(t(lhs)), shape(t(rhs)));
        let name = format!("{m}_transposed_lhs");
        v.push(case(
            &format!("{m}-transposed-lhs"),
            &name,
            format!(
                "func @{name}(input %a: {lt}, input %b: {r}) {{
  %at = transpose %a {{perm = [1, 0]}} : {l}
  %y = matmul %at, %b {flags} : f32[3,5]
  return %y
}}"
            ),
        ));
        let name = format!("{m}_transposed_rhs");
        v.push(case(
            &format!("{m}-transposed-rhs"),
            &name,
            format!(
                "func @{name}(input %a: {l}, input %b: {rt}) {{
  %bt = transpose %b {{perm = [1, 0]}} : {r}
  %y = matmul %a, %bt {flags} : f32[3,5]
  return %y
}}"
            ),
        ));
        // Batched, so the swap of the last two axes keeps a leading axis.
        let name = format!("transpose_of_{m}");
        let (l3, r3) = (
            format!("f32[2,{},{}]", lhs[0], lhs[1]),
            format!("f32[2,{},{}]", rhs[0], rhs[1]),
        );
        v.push(case(
            &format!("transpose-of-{m}"),
            &name,
            format!(
                "func @{name}(input %a: {l3}, input %b: {r3}) {{
  %y = matmul %a, %b {flags} : f32[2,3,5]
  %t = transpose %y {{perm = [0, 2, 1]}} : f32[2,5,3]
  return %t
}}"
            ),
        ));
    }
    // Elementwise ops on broadcasts: f(broadcast x) = broadcast f(x).
    for op in [
        "neg", "abs", "exp", "log", "sqrt", "rsqrt", "recip", "sin", "cos", "tanh", "sigmoid",
    ] {
        let name = format!("{op}_before_broadcast");
        let c = case(
            &format!("{op}-before-broadcast"),
            &name,
            format!(
                "func @{name}(input %x: f32[4]) {{
  %b = broadcast %x : f32[3,4]
  %y = {op} %b : f32[3,4]
  return %y
}}"
            ),
        );
        v.push(if matches!(op, "log" | "sqrt" | "rsqrt" | "recip") {
            c.positive()
        } else {
            c
        });
    }
    v.push(case(
        "cast-before-broadcast",
        "cast_before_broadcast",
        "func @cast_before_broadcast(input %x: f32[4]) {
  %b = broadcast %x : f32[3,4]
  %y = cast %b : bf16[3,4]
  return %y
}",
    ));
    for op in ["add", "sub", "mul", "div", "max", "min", "pow"] {
        let name = format!("{op}_before_broadcast");
        let c = case(
            &format!("{op}-before-broadcast"),
            &name,
            format!(
                "func @{name}(input %x: f32[4], input %y: f32[4]) {{
  %bx = broadcast %x : f32[3,4]
  %by = broadcast %y : f32[3,4]
  %z = {op} %bx, %by : f32[3,4]
  return %z
}}"
            ),
        );
        v.push(if matches!(op, "div" | "pow") {
            c.positive()
        } else {
            c
        });
    }
    // Comparisons of small integers, so that every outcome occurs.
    for op in ["cmp_lt", "cmp_le", "cmp_gt", "cmp_ge", "cmp_eq", "cmp_ne"] {
        let name = format!("{op}_before_broadcast");
        v.push(
            case(
                &format!("{op}-before-broadcast"),
                &name,
                format!(
                    "func @{name}(input %x: i32[4], input %y: i32[4]) {{
  %bx = broadcast %x : i32[3,4]
  %by = broadcast %y : i32[3,4]
  %z = {op} %bx, %by : bool[3,4]
  return %z
}}"
                ),
            )
            .ints(3),
        );
    }
    v
}

fn cases() -> Vec<Case> {
    let mut v = algebra_cases();
    v.extend(fusion_cases());
    v.extend(gqa_cases());
    v.extend(horizontal_cases());
    v.extend(layout_cases());
    v
}

/// Random f64 arguments of `f` for `domain`.
fn args_for(f: &Function, seed: u64, int_high: i32, domain: Domain) -> Vec<Tensor> {
    let mut args = random_args(f, seed, int_high, Precision::F64);
    if domain == Domain::Positive {
        for a in &mut args {
            if a.is_float() {
                let v = a.to_f64_vec().into_iter().map(|x| 0.5 + x.abs()).collect();
                *a = Tensor::from_f64(a.shape().to_vec(), v).expect("same shape");
            }
        }
    }
    args
}

/// One case's row of the table.
struct Row {
    rule: String,
    group: RuleGroup,
    case: String,
    fired: usize,
    /// Node counts of the input and the result.
    nodes: (usize, usize),
}

/// Run one case: the rule fires and no other, the result differs from the input, and the
/// interpreter agrees before and after on every seed. Returns the table row, or what
/// went wrong.
fn check(c: &Case, group: RuleGroup) -> Result<Row, String> {
    let f = parse_function(&c.ir).map_err(|e| format!("does not parse: {e}\n{}", c.ir))?;
    if f.name != c.name {
        return Err(format!(
            "the function is @{}, not named after the case",
            f.name
        ));
    }
    let (g, r) =
        optimize(&f, &EGraphOptions::groups(&[group])).map_err(|e| format!("optimize: {e}"))?;
    let fired = r.fired(&c.rule);
    if fired == 0 {
        return Err(format!("rule {} did not fire:\n{r}", c.rule));
    }
    let (before, after) = (print_function(&f), print_function(&g));
    if r.kept_input || before == after {
        return Err(format!("the extraction kept the input:\n{r}"));
    }
    for seed in SEEDS {
        let args = args_for(&f, seed, c.int_high, c.domain);
        compare_on(&f, &g, &args, TOL, TOL).map_err(|e| {
            format!("seed {seed}: {e}\n--- before ---\n{before}\n--- after ---\n{after}")
        })?;
    }
    let others: Vec<String> = r
        .rules_fired
        .iter()
        .filter(|(n, _)| *n != c.rule)
        .map(|(n, k)| format!("{n} x{k}"))
        .collect();
    // Only then is the changed output the named rule's own rewrite.
    if !others.is_empty() {
        return Err(format!(
            "other rules fired too ({}): make the case fire {} alone",
            others.join(", "),
            c.rule
        ));
    }
    Ok(Row {
        rule: c.rule.clone(),
        group,
        case: c.name.clone(),
        fired,
        nodes: (r.nodes_before, r.nodes_after),
    })
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| rule | topic | case | fired | nodes before -> after |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        s += &format!(
            "| `{}` | {} | `{}` | yes (x{}) | {} -> {} |\n",
            r.rule, r.group, r.case, r.fired, r.nodes.0, r.nodes.1
        );
    }
    s
}

#[test]
fn every_rule_fires_and_keeps_the_numbers() {
    let groups: BTreeMap<String, RuleGroup> = all_rules().into_iter().collect();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for c in cases() {
        let result = match groups.get(&c.rule) {
            Some(&g) => check(&c, g),
            None => Err(format!("{} is no rule", c.rule)),
        };
        match result {
            Ok(row) => rows.push(row),
            Err(e) => failures.push(format!("case {} (rule {}): {e}", c.name, c.rule)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        failures.len() + rows.len(),
        failures.join("\n\n")
    );
    // In rule order, as the rule lists define them.
    let order: BTreeMap<String, usize> = all_rules()
        .into_iter()
        .enumerate()
        .map(|(i, (n, _))| (n, i))
        .collect();
    rows.sort_by_key(|r| order[&r.rule]);
    let t = table(&rows);
    println!("{t}");
    if let Ok(path) = std::env::var("RULES_TABLE") {
        std::fs::write(&path, &t).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
}

#[test]
fn every_rule_has_exactly_one_case() {
    let rules = all_rules();
    let names: BTreeSet<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), rules.len(), "rule names are unique");
    let cases = cases();
    let mut per_rule: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in &cases {
        assert!(
            names.contains(c.rule.as_str()),
            "case {} is for {}, which is no rule",
            c.name,
            c.rule
        );
        per_rule.entry(&c.rule).or_default().push(&c.name);
    }
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !per_rule.contains_key(n))
        .collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
    let doubled: Vec<_> = per_rule.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(doubled.is_empty(), "rules with several cases: {doubled:?}");
    let case_names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(case_names.len(), cases.len(), "case names are unique");
}
