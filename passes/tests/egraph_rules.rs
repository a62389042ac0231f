//! Per rule group: a small IR input before and after (insta snapshots, IR text), the rules
//! that fired, and interpreter(before) == interpreter(after) on fresh random inputs.

mod egraph_common;

use egraph_common::{assert_same, count};
use llc_ir::{DType, Function, parse_function, print_function};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, EGraphReport, RuleGroup, optimize};

/// Optimize `f` with `groups`, check it numerically on two seeds, and render the
/// snapshot text: input, output, rules fired.
fn run(f: &Function, groups: &[RuleGroup], int_high: i32) -> (Function, EGraphReport, String) {
    let (g, r) = optimize(f, &EGraphOptions::groups(groups)).expect("optimizes");
    for seed in [1, 2] {
        assert_same(f, &g, seed, int_high, 1e-10, 1e-10);
    }
    let rules: Vec<String> = r
        .rules_fired
        .iter()
        .map(|(n, c)| format!("{n} x{c}"))
        .collect();
    let text = format!(
        "{}\n--- after [{}] ---\n{}\n--- rules fired ---\n{}\n",
        print_function(f),
        r.groups.join(","),
        print_function(&g),
        rules.join("\n")
    );
    (g, r, text)
}

/// A one-layer Llama small enough to read: d16, `heads` query / `kv` KV heads, ffn 24,
/// vocab 32, one sequence of 4 tokens.
fn one_layer(heads: usize, kv: usize) -> Function {
    let cfg = LlamaConfig {
        dim: 16,
        n_layers: 1,
        n_heads: heads,
        n_kv_heads: kv,
        ffn_dim: 24,
        vocab_size: 32,
        max_seq_len: 8,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_embeddings: false,
    };
    let mut m = build_forward(&cfg, &BuildOptions::new(1, 4)).expect("builds");
    m.functions.remove(0)
}

#[test]
fn fusion_on_a_one_layer_llama() {
    let f = one_layer(2, 2);
    let (g, r, text) = run(&f, &[RuleGroup::Fusion], 32);
    for rule in [
        "rms-norm",
        "swiglu",
        "softmax",
        "attention-causal",
        "cross-entropy",
        "rope",
    ] {
        assert!(r.fired(rule) > 0, "{rule} did not fire:\n{r}");
    }
    assert_eq!(count(&g, "rms_norm"), 3);
    assert_eq!(count(&g, "swiglu"), 1);
    assert_eq!(count(&g, "attention"), 1);
    assert_eq!(count(&g, "rope"), 2);
    assert_eq!(count(&g, "cross_entropy"), 1);
    // Nothing of the primitive spellings is left: no exp (softmax, log-softmax), no
    // rsqrt, no sigmoid, no sin/cos tables.
    for op in ["exp", "rsqrt", "sigmoid", "sin", "cos", "select", "log"] {
        assert_eq!(count(&g, op), 0, "{op} left after fusion");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn gqa_fused_attention_reads_unrepeated_kv() {
    let f = one_layer(4, 2);
    let (g, r, text) = run(&f, &[RuleGroup::Fusion, RuleGroup::Gqa], 32);
    assert_eq!(r.fired("gqa-attention-causal"), 1, "{r}");
    assert_eq!(count(&g, "attention"), 1);
    assert_eq!(
        count(&g, "broadcast"),
        0,
        "K/V repeat left:\n{}",
        print_function(&g)
    );
    insta::assert_snapshot!(text);
}

#[test]
fn gqa_unfused_batches_query_heads_per_kv_head() {
    let f = one_layer(4, 2);
    let (g, r, text) = run(&f, &[RuleGroup::Gqa], 32);
    assert_eq!(r.fired("gqa-scores"), 1, "{r}");
    assert_eq!(r.fired("gqa-context"), 1, "{r}");
    // The only broadcasts left are those of the norm weights, the RoPE tables, the
    // softmax statistics and the mask: none has a 5-d head-repeat shape.
    for n in g.node_ids() {
        if g.node(n).op.name() == "broadcast" {
            let src = g.ty(g.operands(n)[0]);
            let repeats_heads = src.rank() == 5 && src.shape[2] == 1 && g.ty(n).shape[2] > 1;
            assert!(!repeats_heads, "K/V repeat left: %{}", g.node(n).name);
        }
    }
    insta::assert_snapshot!(text);
}

const HORIZONTAL: &str = r#"
func @projections(
  param %wq: f32[8,6], param %wk: f32[4,6], param %wv: f32[4,6],
  input %x: f32[2,3,6], input %dq: f32[6,8], input %dk: f32[6,4], input %dv: f32[6,4],
  input %x2: f32[6,6]
) {
  %q = matmul %x, %wq {transpose_lhs = false, transpose_rhs = true} : f32[2,3,8]
  %k = matmul %x, %wk {transpose_lhs = false, transpose_rhs = true} : f32[2,3,4]
  %v = matmul %x, %wv {transpose_lhs = false, transpose_rhs = true} : f32[2,3,4]
  %dx.q = matmul %dq, %wq {transpose_lhs = false, transpose_rhs = false} : f32[6,6]
  %dx.k = matmul %dk, %wk {transpose_lhs = false, transpose_rhs = false} : f32[6,6]
  %dx.v = matmul %dv, %wv {transpose_lhs = false, transpose_rhs = false} : f32[6,6]
  %dx.qk = add %dx.v, %dx.k : f32[6,6]
  %dx = add %dx.qk, %dx.q : f32[6,6]
  %dwq = matmul %dq, %x2 {transpose_lhs = true, transpose_rhs = false} : f32[8,6]
  %dwk = matmul %dk, %x2 {transpose_lhs = true, transpose_rhs = false} : f32[4,6]
  %dwv = matmul %dv, %x2 {transpose_lhs = true, transpose_rhs = false} : f32[4,6]
  return %q, %k, %v, %dx, %dwq, %dwk, %dwv
}
"#;

#[test]
fn horizontal_fuses_projections_and_their_gradients() {
    let f = parse_function(HORIZONTAL).expect("parses");
    let (g, r, text) = run(&f, &[RuleGroup::Horizontal, RuleGroup::Layout], 1);
    assert!(r.fired("horizontal-shared-operand") >= 6, "{r}");
    assert!(r.fired("horizontal-sum") >= 2, "{r}");
    // One matmul for Q/K/V, one for dX, one for the three weight gradients.
    assert_eq!(count(&g, "matmul"), 3, "{}", print_function(&g));
    assert_eq!(count(&g, "add"), 0);
    // The weights are concatenated once, in argument order, and shared by both uses.
    let concats: Vec<String> = g
        .node_ids()
        .filter(|&n| g.node(n).op.name() == "concat")
        .map(|n| {
            g.operands(n)
                .iter()
                .map(|&o| g.node(o).name.clone())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert!(concats.contains(&"wq,wk,wv".to_string()), "{concats:?}");
    assert!(concats.contains(&"dq,dk,dv".to_string()), "{concats:?}");
    assert_eq!(concats.len(), 2, "{concats:?}");
    insta::assert_snapshot!(text);
}

const LAYOUT: &str = r#"
func @layout(
  input %a: f32[2,3,4], input %b: f32[2,5,4], input %w: f32[6,4], input %s: f32[4],
  input %a2: f32[2,2,4], input %c3: f32[2,3,4]
) {
  %t1 = transpose %a {perm = [0, 2, 1]} : f32[2,4,3]
  %t2 = transpose %t1 {perm = [0, 2, 1]} : f32[2,3,4]
  %bt = transpose %b {perm = [0, 2, 1]} : f32[2,4,5]
  %mm = matmul %t2, %bt {transpose_lhs = false, transpose_rhs = false} : f32[2,3,5]
  %r1 = reshape %mm : f32[6,5]
  %r2 = reshape %r1 : f32[2,15]
  %sb = broadcast %s : f32[2,3,4]
  %e = exp %sb : f32[2,3,4]
  %c = concat %a, %a2 {axis = 1} : f32[2,5,4]
  %sl = slice %c {axis = 1, start = 3, end = 5} : f32[2,2,4]
  %w1 = slice %w {axis = 0, start = 0, end = 2} : f32[2,4]
  %w2 = slice %w {axis = 0, start = 2, end = 6} : f32[4,4]
  %wc = concat %w1, %w2 {axis = 0} : f32[6,4]
  %ws = mul %wc, %wc : f32[6,4]
  %mmt = matmul %c3, %b {transpose_lhs = false, transpose_rhs = true} : f32[2,3,5]
  %tt = transpose %mmt {perm = [0, 2, 1]} : f32[2,5,3]
  return %r2, %e, %sl, %ws, %tt
}
"#;

#[test]
fn layout_folds_transposes_and_views() {
    let f = parse_function(LAYOUT).expect("parses");
    let (g, r, text) = run(&f, &[RuleGroup::Layout], 1);
    for rule in [
        "transpose-transpose",
        "matmul-transposed-rhs",
        "reshape-reshape",
        "exp-before-broadcast",
        "slice-of-concat",
        "concat-of-slices",
        "transpose-of-matmul_nt",
    ] {
        assert!(r.fired(rule) > 0, "{rule} did not fire:\n{r}");
    }
    assert_eq!(count(&g, "transpose"), 0, "{}", print_function(&g));
    assert_eq!(count(&g, "concat"), 0);
    assert_eq!(count(&g, "slice"), 0);
    insta::assert_snapshot!(text);
}

const ALGEBRA: &str = r#"
func @algebra(input %x: f32[3,4], input %c: bool[3,4]) {
  %one = full {value = 1.0} : f32[3,4]
  %zero = full {value = 0.0} : f32[3,4]
  %two = full {value = 2.0} : f32[3,4]
  %three = full {value = 3.0} : f32[3,4]
  %a = mul %x, %one : f32[3,4]
  %b = add %zero, %a : f32[3,4]
  %n1 = neg %b : f32[3,4]
  %n2 = neg %n1 : f32[3,4]
  %d = div %n2, %one : f32[3,4]
  %six = mul %two, %three : f32[3,4]
  %y = mul %d, %six : f32[3,4]
  %s = select %c, %y, %y : f32[3,4]
  %z = mul %s, %zero : f32[3,4]
  %out = add %s, %z : f32[3,4]
  return %out
}
"#;

#[test]
fn algebra_removes_identities_and_folds_constants() {
    let f = parse_function(ALGEBRA).expect("parses");
    let (g, r, text) = run(&f, &[RuleGroup::Algebra], 1);
    for rule in [
        "mul-one",
        "zero-add",
        "neg-neg",
        "div-one",
        "fold-mul",
        "select-same",
        "mul-zero",
    ] {
        assert!(r.fired(rule) > 0, "{rule} did not fire:\n{r}");
    }
    // x * 6 is all that is left.
    assert_eq!(g.node_count(), 4, "{}", print_function(&g));
    insta::assert_snapshot!(text);
}

#[test]
fn fusion_guards_reject_the_wrong_constants() {
    // An RMSNorm-like graph that divides by the wrong count must not become rms_norm.
    let src = r#"
func @not_rms(param %w: f32[8], input %x: f32[2,8]) {
  %sq = mul %x, %x : f32[2,8]
  %sum = reduce_sum %sq {axes = [1], keep_dims = true} : f32[2,1]
  %inv = full {value = 0.25} : f32[2,1]
  %mean = mul %sum, %inv : f32[2,1]
  %eps = full {value = 1e-5} : f32[2,1]
  %sh = add %mean, %eps : f32[2,1]
  %r = rsqrt %sh : f32[2,1]
  %rb = broadcast %r : f32[2,8]
  %n = mul %x, %rb : f32[2,8]
  %wb = broadcast %w : f32[2,8]
  %y = mul %n, %wb : f32[2,8]
  return %y
}
"#;
    let f = parse_function(src).expect("parses");
    let (g, r) = optimize(&f, &EGraphOptions::groups(&[RuleGroup::Fusion])).expect("runs");
    assert_eq!(r.fired("rms-norm"), 0);
    assert_eq!(count(&g, "rms_norm"), 0);
    // With the right count it fuses, and keeps its eps.
    let g2 = parse_function(&src.replace("0.25", "0.125")).expect("parses");
    let (h, _) = optimize(&g2, &EGraphOptions::groups(&[RuleGroup::Fusion])).expect("runs");
    assert_eq!(count(&h, "rms_norm"), 1);
    assert!(print_function(&h).contains("rms_norm %x, %w {eps = 1e-5}"));
    assert_same(&g2, &h, 3, 1, 1e-12, 1e-12);
    let _ = DType::F32;
}
