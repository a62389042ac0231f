//! The precision pass: IR text in, IR text out (insta), and what its casts mean, checked
//! on the reference interpreter against bf16 arithmetic written out in the test.

mod egraph_common;

use egraph_common::count;
use llc_ir::{DType, Function, Module, Op, parse_function, print_function};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_passes::lower_attention::lower_attention;
use llc_passes::{OptimizerConfig, Precision, PrecisionStats, apply_precision, build_step};
use llc_runtime::tensor::rel_l2_diff;
use llc_runtime::{Tensor, random_args, run_function};

/// `f` as the `forward` of a module, through the pass.
fn bf16(f: &Function) -> (Function, PrecisionStats) {
    let mut g = f.clone();
    g.name = "forward".into();
    let mut m = Module::new();
    m.functions.push(g);
    let s = apply_precision(&mut m, "forward", Precision::Bf16).expect("pass runs");
    llc_ir::verify_module(&m).expect("verifies");
    (m.functions.remove(0), s)
}

/// Round to bf16, nearest even (the format's definition, written out here so the test
/// does not lean on the interpreter's own rounding).
fn round_bf16(x: f64) -> f64 {
    let bits = (x as f32).to_bits();
    let lsb = (bits >> 16) & 1;
    let rounded = bits.wrapping_add(0x7fff + lsb) & 0xffff_0000;
    f32::from_bits(rounded) as f64
}

const PROJECTION: &str = "
func @forward(input %x: f32[2,3,8], param %w: f32[5,8]) {
  %y = matmul %x, %w {transpose_lhs = false, transpose_rhs = true} : f32[2,3,5]
  %z = matmul %x, %w {transpose_lhs = false, transpose_rhs = true} : f32[2,3,5]
  %s = add %y, %z : f32[2,3,5]
  %loss = reduce_sum %s {axes = [0, 1, 2], keep_dims = false} : f32[]
  return %loss, %y
}
";

#[test]
fn gemms_read_bf16_copies_made_once_and_results_come_back_as_f32() {
    let f = parse_function(PROJECTION).expect("parses");
    let (g, s) = bf16(&f);
    assert_eq!(
        s,
        PrecisionStats {
            matmuls: 2,
            attentions: 0,
            casts: 4
        },
        "{}",
        print_function(&g)
    );
    // every result keeps its name and f32 type; the parameter stays f32 (master weight)
    assert_eq!(g.ty(g.by_name("y").unwrap()).dtype, DType::F32);
    assert_eq!(g.ty(g.by_name("w").unwrap()).dtype, DType::F32);
    insta::assert_snapshot!(format!(
        "{}\n--- after precision bf16 ---\n{}",
        print_function(&f),
        print_function(&g)
    ));
}

#[test]
fn a_bf16_gemm_is_the_product_of_rounded_operands_rounded_once() {
    let f = parse_function(PROJECTION).expect("parses");
    let (g, _) = bf16(&f);
    for seed in [11, 12, 13] {
        let args = random_args(&f, seed, 1, llc_runtime::Precision::F64);
        let out = run_function(&g, &args, llc_runtime::Precision::F64).expect("runs");
        let (x, w) = (args[0].to_f64_vec(), args[1].to_f64_vec());
        let y = out[1].to_f64_vec();
        let mut worst_f32_vs_bf16: f64 = 0.0;
        for r in 0..6 {
            for c in 0..5 {
                let exact: f64 = (0..8).map(|k| x[r * 8 + k] * w[c * 8 + k]).sum();
                let want = round_bf16(
                    (0..8)
                        .map(|k| round_bf16(x[r * 8 + k]) * round_bf16(w[c * 8 + k]))
                        .sum(),
                );
                assert_eq!(y[r * 5 + c], want, "seed {seed}, y[{r}, {c}]");
                worst_f32_vs_bf16 = worst_f32_vs_bf16.max((want - exact).abs());
            }
        }
        // the rounding is real: bf16 has 8 significant bits
        assert!(worst_f32_vs_bf16 > 1e-4, "no bf16 rounding seen");
    }
}

/// A one-layer Llama (d16, 2 heads, ffn 24, vocab 32) at 1 x 4, fused as the compiler
/// fuses it before the pass runs.
fn one_layer() -> Function {
    let cfg = LlamaConfig {
        dim: 16,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: 1,
        ffn_dim: 24,
        vocab_size: 32,
        max_seq_len: 8,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_embeddings: false,
    };
    let mut m = build_forward(&cfg, &BuildOptions::new(1, 4)).expect("builds");
    let f = m.functions.remove(0);
    optimize(&f, &EGraphOptions::forward()).expect("fuses").0
}

#[test]
fn on_a_llama_layer_every_gemm_and_attention_is_bf16_and_the_rest_f32() {
    let f = one_layer();
    let (g, s) = bf16(&f);
    // q, k, v, o, gate, up, down, LM head; one attention
    assert_eq!((s.matmuls, s.attentions), (8, 1), "{}", print_function(&g));
    for n in g.node_ids() {
        let node = g.node(n);
        let is_gemm = matches!(node.op, Op::MatMul { .. } | Op::Attention { .. });
        let want = if is_gemm { DType::BF16 } else { node.ty.dtype };
        assert_eq!(node.ty.dtype, want, "%{} should be bf16", node.name);
        if matches!(
            node.op,
            Op::RmsNorm { .. } | Op::Swiglu | Op::Rope { .. } | Op::CrossEntropy
        ) {
            assert_eq!(node.ty.dtype, DType::F32, "%{} should stay f32", node.name);
        }
    }
    // the normalized activation read by q, k and v is rounded once
    assert_eq!(count(&g, "cast"), s.casts);
    insta::assert_snapshot!(print_function(&g));
}

#[test]
fn the_bf16_loss_and_step_stay_near_f32_and_parameters_stay_f32() {
    let f = one_layer();
    let (g, _) = bf16(&f);
    let opt = OptimizerConfig {
        warmup_steps: 0,
        lr: 1e-2,
        ..OptimizerConfig::default()
    };
    let step_of = |fwd: &Function| {
        let (fb, _) = llc_passes::differentiate(fwd, "loss", "forward_backward").expect("ad");
        build_step(&fb, &opt).expect("optimizer").0
    };
    let (s32, s16) = (step_of(&f), step_of(&g));
    for id in s16.args() {
        let t = s16.ty(*id);
        assert_ne!(
            t.dtype,
            DType::BF16,
            "step argument %{}",
            s16.node(*id).name
        );
    }
    for seed in [21, 22] {
        let args = random_args(&s32, seed, 32, llc_runtime::Precision::F64);
        let a = run_function(&s32, &args, llc_runtime::Precision::F64).expect("f32 runs");
        let b = run_function(&s16, &args, llc_runtime::Precision::F64).expect("bf16 runs");
        let loss = |o: &[Tensor]| o[0].to_f64_vec()[0];
        let rel = (loss(&a) - loss(&b)).abs() / loss(&a).abs();
        assert!(rel < 1e-2 && rel > 0.0, "seed {seed}: loss rel diff {rel}");
        // every state update (parameters and moments) within bf16's reach of f32's
        for (i, (x, y)) in a.iter().zip(&b).enumerate().skip(1) {
            let d = rel_l2_diff(y, x);
            assert!(d < 0.1, "seed {seed}: output {i} rel L2 {d}");
        }
    }
}

#[test]
fn lowered_bf16_attention_does_its_softmax_in_f32() {
    let f = one_layer();
    let (mut g, _) = bf16(&f);
    let before = g.clone();
    let s = lower_attention(&mut g).expect("lowers");
    assert_eq!(s.forward, 1);
    let softmax: Vec<_> = g
        .node_ids()
        .filter(|&n| matches!(g.node(n).op, Op::Softmax))
        .collect();
    assert_eq!(softmax.len(), 1);
    assert_eq!(g.ty(softmax[0]).dtype, DType::F32);
    let args = random_args(&before, 31, 32, llc_runtime::Precision::F64);
    let a = run_function(&before, &args, llc_runtime::Precision::F64).expect("runs");
    let b = run_function(&g, &args, llc_runtime::Precision::F64).expect("runs");
    // the lowered form also rounds P to bf16 for the value GEMM
    let d = rel_l2_diff(&b[0], &a[0]);
    assert!(d < 1e-2, "loss rel diff {d}");
}
