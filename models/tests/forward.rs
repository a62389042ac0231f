//! The forward graph builds, verifies, uses primitive ops only and has the documented
//! signature, names and (grouped-query) shapes for every preset.

use llc_ir::{ArgRole, DType, Function, Module, TensorType, verify_module};
use llc_models::{
    BuildOptions, ForwardOutput, LlamaConfig, ModelError, build_forward, param_names,
};

fn build(cfg: &LlamaConfig, opts: &BuildOptions) -> Module {
    let m = build_forward(cfg, opts).unwrap_or_else(|e| panic!("build failed: {e}"));
    verify_module(&m).unwrap_or_else(|e| panic!("verify failed: {e}"));
    m
}

fn forward(m: &Module) -> &Function {
    assert_eq!(m.functions.len(), 1);
    m.function("forward").expect("a function named forward")
}

fn ty_of(f: &Function, name: &str) -> TensorType {
    let id = f
        .by_name(name)
        .unwrap_or_else(|| panic!("no value named %{name}"));
    f.ty(id).clone()
}

#[test]
fn every_preset_builds_and_verifies() {
    for name in LlamaConfig::preset_names() {
        let cfg = LlamaConfig::preset(name).unwrap();
        let m = build(&cfg, &BuildOptions::new(1, 16));
        let f = forward(&m);
        assert_eq!(f.outputs().len(), 1);
        let loss = f.outputs()[0].node;
        assert_eq!(f.node(loss).name, "loss", "{name}");
        assert_eq!(*f.ty(loss), TensorType::scalar(DType::F32), "{name}");
    }
}

#[test]
fn only_primitive_ops_are_used() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let mut opts = BuildOptions::new(2, 8);
    opts.loss_mask = true;
    let m = build(&cfg, &opts);
    let f = forward(&m);
    for id in f.node_ids() {
        let n = f.node(id);
        assert!(!n.op.is_fused(), "%{} uses fused op {}", n.name, n.op);
    }
}

#[test]
fn signature_is_params_then_inputs() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let mut opts = BuildOptions::new(3, 5);
    opts.loss_mask = true;
    let m = build(&cfg, &opts);
    let f = forward(&m);
    let params = param_names(&cfg);
    let args = f.args();
    assert_eq!(args.len(), params.len() + 3);
    for ((name, shape), &a) in params.iter().zip(args) {
        assert_eq!(&f.node(a).name, name);
        assert_eq!(f.arg_role(a), Some(ArgRole::Param));
        assert_eq!(*f.ty(a), TensorType::new(DType::F32, shape.clone()));
    }
    let inputs: Vec<_> = args[params.len()..]
        .iter()
        .map(|&a| (f.node(a).name.clone(), f.ty(a).clone(), f.arg_role(a)))
        .collect();
    let inp = Some(ArgRole::Input);
    assert_eq!(
        inputs,
        vec![
            ("tokens".into(), TensorType::new(DType::I32, [3, 5]), inp),
            ("targets".into(), TensorType::new(DType::I32, [3, 5]), inp),
            ("loss_mask".into(), TensorType::new(DType::F32, [3, 5]), inp),
        ]
    );
}

#[test]
fn logits_output_has_no_targets() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let mut opts = BuildOptions::new(2, 7);
    opts.output = ForwardOutput::Logits;
    let m = build(&cfg, &opts);
    let f = forward(&m);
    assert!(f.by_name("targets").is_none());
    assert!(f.by_name("loss").is_none());
    let out = f.outputs()[0].node;
    assert_eq!(f.node(out).name, "logits");
    assert_eq!(*f.ty(out), TensorType::new(DType::F32, [2, 7, 256]));
    assert_eq!(f.args_with_role(ArgRole::Input).len(), 1);
}

#[test]
fn grouped_query_shapes_tiny() {
    // tiny: 4 query heads, 2 KV heads, head dim 16.
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let m = build(&cfg, &BuildOptions::new(2, 8));
    let f = forward(&m);
    let f32t = |s: &[usize]| TensorType::new(DType::F32, s.to_vec());
    assert_eq!(ty_of(f, "embed"), f32t(&[2, 8, 64]));
    assert_eq!(ty_of(f, "layers.0.attn.q"), f32t(&[2, 8, 64]));
    assert_eq!(ty_of(f, "layers.0.attn.k"), f32t(&[2, 8, 32]));
    assert_eq!(ty_of(f, "layers.0.attn.v"), f32t(&[2, 8, 32]));
    assert_eq!(ty_of(f, "layers.0.attn.q_rot"), f32t(&[2, 8, 4, 16]));
    assert_eq!(ty_of(f, "layers.0.attn.k_rot"), f32t(&[2, 8, 2, 16]));
    assert_eq!(ty_of(f, "layers.1.attn.k_rep"), f32t(&[2, 4, 8, 16]));
    assert_eq!(ty_of(f, "layers.1.attn.v_rep"), f32t(&[2, 4, 8, 16]));
    assert_eq!(ty_of(f, "layers.1.attn.scores"), f32t(&[2, 4, 8, 8]));
    assert_eq!(ty_of(f, "layers.1.attn.probs"), f32t(&[2, 4, 8, 8]));
    assert_eq!(ty_of(f, "layers.1.attn.out"), f32t(&[2, 8, 64]));
    assert_eq!(ty_of(f, "layers.1.ffn.gate"), f32t(&[2, 8, 172]));
    assert_eq!(ty_of(f, "layers.1.ffn.act"), f32t(&[2, 8, 172]));
    assert_eq!(ty_of(f, "layers.1.h"), f32t(&[2, 8, 64]));
    assert_eq!(ty_of(f, "h"), f32t(&[2, 8, 64]));
    assert_eq!(ty_of(f, "logits"), f32t(&[2, 8, 256]));
    assert_eq!(ty_of(f, "nll"), f32t(&[2, 8]));
    assert_eq!(ty_of(f, "rope.cos"), f32t(&[8, 1, 8, 1]));
    assert_eq!(
        ty_of(f, "causal.mask"),
        TensorType::new(DType::Bool, [8, 8])
    );
    // The repeat is an explicit reshape -> broadcast -> reshape of the KV heads.
    let rep = f.by_name("layers.0.attn.k_rep").unwrap();
    let bcast = f.operands(rep)[0];
    assert_eq!(f.node(bcast).op.name(), "broadcast");
    assert_eq!(f.ty(bcast).shape, [2, 2, 2, 8, 16]);
    let split = f.operands(bcast)[0];
    assert_eq!(f.node(split).op.name(), "reshape");
    assert_eq!(f.ty(split).shape, [2, 2, 1, 8, 16]);
}

#[test]
fn grouped_query_shapes_70b() {
    let cfg = LlamaConfig::preset("llama2-70b").unwrap();
    let m = build(&cfg, &BuildOptions::new(1, 16));
    let f = forward(&m);
    assert_eq!(ty_of(f, "layers.79.attn.k").shape, [1, 16, 1024]);
    assert_eq!(ty_of(f, "layers.79.attn.k_rep").shape, [1, 64, 16, 128]);
    assert_eq!(ty_of(f, "layers.79.attn.scores").shape, [1, 64, 16, 16]);
    assert_eq!(ty_of(f, "layers.79.ffn.up").shape, [1, 16, 28672]);
    assert_eq!(ty_of(f, "logits").shape, [1, 16, 32000]);
}

#[test]
fn multi_head_attention_has_no_repeat() {
    let cfg = LlamaConfig::preset("llama2-15m").unwrap();
    let m = build(&cfg, &BuildOptions::new(1, 4));
    let f = forward(&m);
    assert!(f.by_name("layers.0.attn.k_rep").is_none());
    assert_eq!(ty_of(f, "layers.0.attn.scores").shape, [1, 6, 4, 4]);
}

#[test]
fn every_layer_has_the_same_number_of_nodes() {
    let base = LlamaConfig::preset("tiny").unwrap();
    let count = |layers: usize| {
        let cfg = LlamaConfig {
            n_layers: layers,
            ..base.clone()
        };
        forward(&build(&cfg, &BuildOptions::new(1, 4))).node_count()
    };
    let (one, two, five) = (count(1), count(2), count(5));
    assert_eq!(five - two, 3 * (two - one));
}

#[test]
fn tied_embeddings_reuse_the_token_table() {
    let cfg = LlamaConfig {
        tie_embeddings: true,
        ..LlamaConfig::preset("tiny").unwrap()
    };
    let m = build(&cfg, &BuildOptions::new(1, 4));
    let f = forward(&m);
    assert!(f.by_name("output.weight").is_none());
    let logits = f.by_name("logits").unwrap();
    let head = f.operands(logits)[1];
    assert_eq!(f.node(head).name, "tok_embeddings.weight");
}

#[test]
fn other_float_dtypes_build() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    for dt in [DType::F64, DType::BF16, DType::F16] {
        let mut opts = BuildOptions::new(1, 4);
        opts.dtype = dt;
        opts.loss_mask = true;
        let m = build(&cfg, &opts);
        let f = forward(&m);
        assert_eq!(*f.ty(f.outputs()[0].node), TensorType::scalar(dt));
        assert_eq!(ty_of(f, "loss_mask").dtype, dt);
    }
}

#[test]
fn bad_options_are_rejected_by_name() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let check = |opts: BuildOptions, option: &str| {
        let e = build_forward(&cfg, &opts).unwrap_err();
        assert!(
            matches!(&e, ModelError::InvalidOption { option: o, .. } if *o == option),
            "expected {option}: {e}"
        );
    };
    check(BuildOptions::new(0, 4), "batch");
    check(BuildOptions::new(1, 0), "seq");
    check(BuildOptions::new(1, 65), "seq");
    check(
        BuildOptions {
            dtype: DType::I32,
            ..BuildOptions::new(1, 4)
        },
        "dtype",
    );
    check(
        BuildOptions {
            loss_mask: true,
            output: ForwardOutput::Logits,
            ..BuildOptions::new(1, 4)
        },
        "loss_mask",
    );
    let bad = LlamaConfig {
        n_kv_heads: 3,
        ..cfg.clone()
    };
    assert!(matches!(
        build_forward(&bad, &BuildOptions::new(1, 4)),
        Err(ModelError::InvalidConfig {
            field: "n_kv_heads",
            ..
        })
    ));
}

/// Every preset's graph (plain, with a loss mask, and logits-only) survives the text and
/// JSON forms unchanged: `print(parse(print(m))) == print(m)`, the parsed module verifies,
/// and the JSON form parses back to the same text.
#[test]
fn every_preset_round_trips_through_text_and_json() {
    for name in LlamaConfig::preset_names() {
        let cfg = LlamaConfig::preset(name).unwrap();
        let variants = [
            BuildOptions::new(2, 16),
            BuildOptions {
                loss_mask: true,
                ..BuildOptions::new(2, 16)
            },
            BuildOptions {
                output: ForwardOutput::Logits,
                ..BuildOptions::new(1, 8)
            },
        ];
        for opts in variants {
            let m = build(&cfg, &opts);
            let text = llc_ir::print_module(&m);
            let parsed = llc_ir::parse_module(&text)
                .unwrap_or_else(|e| panic!("{name}: the printed module does not parse: {e}"));
            verify_module(&parsed).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(llc_ir::print_module(&parsed), text, "{name}: {opts:?}");
            let json = llc_ir::to_json(&m);
            let back = llc_ir::from_json(&json).unwrap();
            assert_eq!(llc_ir::print_module(&back), text, "{name}: json {opts:?}");
        }
    }
}
