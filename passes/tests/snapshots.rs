//! Snapshots of the printed step module: a small hand-built model after autodiff and
//! after optimizer lowering (short enough to review line by line), and a 1-layer micro
//! Llama after autodiff. Each snapshot is also parsed back and run, so a snapshot cannot
//! drift from what the passes actually produce.

use llc_ir::{Builder, DType, Function, Module, parse_module};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{AutodiffOptions, OptimizerConfig, Pipeline};
use llc_runtime::{Precision, random_args, run_function};

/// `loss = mean((tanh(x @ w) * gain)^2)` with a data input `x`.
fn small_model() -> Module {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let w = b.param("w", DType::F32, &[3, 4]).unwrap();
    let gain = b.param("gain", DType::F32, &[4]).unwrap();
    let x = b.input("x", DType::F32, &[2, 3]).unwrap();
    let h = b.matmul(x, w).unwrap();
    let h = b.unary(llc_ir::UnaryOp::Tanh, h).unwrap();
    let h = b.name(h, "h").unwrap();
    let g = b.broadcast(gain, &[2, 4]).unwrap();
    let y = b.mul(h, g).unwrap();
    let y = b.name(y, "y").unwrap();
    let sq = b.mul(y, y).unwrap();
    let loss = b.mean(sq, &[0, 1], false).unwrap();
    let loss = b.name(loss, "loss").unwrap();
    b.output(loss);
    let mut m = Module::new();
    m.functions.push(f);
    m
}

fn training_pipeline() -> Pipeline {
    Pipeline::training(
        AutodiffOptions::default(),
        OptimizerConfig {
            warmup_steps: 10,
            total_steps: 100,
            ..Default::default()
        },
    )
}

/// The text parses back, and the parsed function runs.
fn reparse_and_run(text: &str) {
    let m = parse_module(text).expect("the dump parses");
    let f = &m.functions[0];
    let args = random_args(f, 1, 4, Precision::F32);
    let out = run_function(f, &args, Precision::F32).expect("the parsed dump runs");
    assert!(out[0].to_f64_vec()[0].is_finite());
}

#[test]
fn small_model_after_autodiff() {
    let mut m = small_model();
    let (_, text) = training_pipeline()
        .run_and_dump(&mut m, "autodiff")
        .unwrap();
    reparse_and_run(&text);
    insta::assert_snapshot!(text);
}

#[test]
fn small_model_after_optimizer() {
    let mut m = small_model();
    let (reports, text) = training_pipeline()
        .run_and_dump(&mut m, "optimizer")
        .unwrap();
    assert_eq!(reports.len(), 2);
    reparse_and_run(&text);
    insta::assert_snapshot!(text);
}

#[test]
fn micro_llama_after_autodiff() {
    let cfg = LlamaConfig {
        dim: 8,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: 1,
        ffn_dim: 16,
        vocab_size: 16,
        max_seq_len: 8,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_embeddings: false,
    };
    let mut m = build_forward(&cfg, &BuildOptions::new(1, 4)).unwrap();
    let (_, text) = training_pipeline()
        .run_and_dump(&mut m, "autodiff")
        .unwrap();
    reparse_and_run(&text);
    insta::assert_snapshot!(text);
}
