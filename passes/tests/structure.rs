//! Structural checks of autodiff and the optimizer lowering: what is (and is not) built,
//! how values are named, which errors come out. Numeric checks live in `gradcheck.rs`
//! and `optimizer.rs`.

use llc_ir::{
    ArgRole, BinaryOp, Builder, DType, Function, Module, Op, TensorType, verify_function,
};
use llc_models::{BuildOptions, LlamaConfig, build_forward, param_names};
use llc_passes::{
    AutodiffOptions, DecayOverride, OptimizerConfig, PassError, build_step, differentiate,
};

fn f64t(shape: &[usize]) -> TensorType {
    TensorType::new(DType::F64, shape)
}

fn names(f: &Function) -> Vec<String> {
    f.node_ids().map(|n| f.node(n).name.clone()).collect()
}

fn count_ops(f: &Function, pred: impl Fn(&Op) -> bool) -> usize {
    f.node_ids().filter(|&n| pred(&f.node(n).op)).count()
}

/// `loss = sum(matmul(x, w))` with `x` an input and `w` a parameter, plus an unused
/// extra result `aux = exp(x)`.
fn linear_with_aux() -> Function {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let w = b.param("w", DType::F64, &[3, 4]).unwrap();
    let x = b.input("x", DType::F64, &[2, 3]).unwrap();
    let y = b.matmul(x, w).unwrap();
    let s = b.sum_all(y).unwrap();
    let loss = b.name(s, "loss").unwrap();
    let aux = b.exp(x).unwrap();
    let aux = b.name(aux, "aux").unwrap();
    b.output(loss);
    b.output(aux);
    f
}

#[test]
fn data_inputs_get_no_gradient_work() {
    let src = linear_with_aux();
    let (f, stats) = differentiate(&src, "loss", "forward_backward").unwrap();
    verify_function(&f, &Default::default()).unwrap();
    let ns = names(&f);
    assert!(
        !ns.iter().any(|n| n == "d.x"),
        "a cotangent for input x: {ns:?}"
    );
    // forward matmul + the weight gradient only; no matmul for dL/dx
    assert_eq!(count_ops(&f, |o| matches!(o, Op::MatMul { .. })), 2);
    assert_eq!(stats.grads, 1);
    assert_eq!(stats.zero_grads, 0);
}

#[test]
fn results_are_loss_then_param_grads_and_dead_code_is_removed() {
    let src = linear_with_aux();
    let (f, stats) = differentiate(&src, "loss", "forward_backward").unwrap();
    let outs: Vec<&str> = f
        .outputs()
        .iter()
        .map(|o| f.node(o.node).name.as_str())
        .collect();
    assert_eq!(outs, ["loss", "grad.w"]);
    assert!(f.by_name("aux").is_none(), "the unused result survived DCE");
    assert!(stats.removed_dead >= 1);
    assert_eq!(f.ty(f.by_name("grad.w").unwrap()), &f64t(&[3, 4]));
    assert_eq!(
        f.args().len(),
        src.args().len(),
        "arguments must stay the same"
    );
}

#[test]
fn value_used_three_times_accumulates_with_two_adds() {
    // p is read by three multiplies: loss = sum((p * p) * p)
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let p = b.param("p", DType::F64, &[5]).unwrap();
    let sq = b.mul(p, p).unwrap();
    let cube = b.mul(sq, p).unwrap();
    let s = b.sum_all(cube).unwrap();
    let loss = b.name(s, "loss").unwrap();
    b.output(loss);
    let (g, _) = differentiate(&f, "loss", "fb").unwrap();
    verify_function(&g, &Default::default()).unwrap();
    let adds_into_p: Vec<String> = g
        .node_ids()
        .filter(|&n| matches!(g.node(n).op, Op::Binary { op: BinaryOp::Add }))
        .map(|n| g.node(n).name.clone())
        .filter(|n| n.starts_with("d.p") || n == "grad.p")
        .collect();
    assert_eq!(adds_into_p.len(), 2, "{adds_into_p:?}");
    let grad = g.by_name("grad.p").unwrap();
    assert!(matches!(g.node(grad).op, Op::Binary { op: BinaryOp::Add }));
}

#[test]
fn param_that_does_not_reach_the_loss_gets_a_zero_full() {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let p = b.param("p", DType::F64, &[2]).unwrap();
    let unused = b.param("unused", DType::F64, &[3, 3]).unwrap();
    let e = b.exp(unused).unwrap();
    b.name(e, "side").unwrap();
    let s = b.sum_all(p).unwrap();
    let loss = b.name(s, "loss").unwrap();
    b.output(loss);
    b.output(e);
    let (g, stats) = differentiate(&f, "loss", "fb").unwrap();
    assert_eq!(stats.zero_grads, 1);
    let gu = g.by_name("grad.unused").unwrap();
    assert!(matches!(g.node(gu).op, Op::Full { value } if value.0 == 0.0));
    assert_eq!(g.ty(gu), &f64t(&[3, 3]));
    assert!(g.by_name("side").is_none());
}

#[test]
fn shared_pass_through_gradients_get_their_own_named_values() {
    // loss = sum(a + b): both gradients are the same broadcast cotangent.
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let a = b.param("a", DType::F64, &[4]).unwrap();
    let c = b.param("c", DType::F64, &[4]).unwrap();
    let s = b.add(a, c).unwrap();
    let s = b.sum_all(s).unwrap();
    let loss = b.name(s, "loss").unwrap();
    b.output(loss);
    let (g, _) = differentiate(&f, "loss", "fb").unwrap();
    verify_function(&g, &Default::default()).unwrap();
    let ga = g.by_name("grad.a").unwrap();
    let gc = g.by_name("grad.c").unwrap();
    assert_ne!(ga, gc);
    assert_eq!(g.outputs().len(), 3);
}

#[test]
fn shared_weight_gradient_is_one_rank2_matmul() {
    // x[2, 3, 4] @ w[5, 4]^T: the weight is shared by the batch.
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let w = b.param("w", DType::F64, &[5, 4]).unwrap();
    let x = b.param("x", DType::F64, &[2, 3, 4]).unwrap();
    let y = b.matmul_t(x, w, false, true).unwrap();
    let s = b.sum_all(y).unwrap();
    let loss = b.name(s, "loss").unwrap();
    b.output(loss);
    let (g, _) = differentiate(&f, "loss", "fb").unwrap();
    let gw = g.by_name("grad.w").unwrap();
    assert!(matches!(g.node(gw).op, Op::MatMul { .. }));
    for o in g.operands(gw) {
        assert_eq!(
            g.ty(o).rank(),
            2,
            "weight gradient operand {}",
            g.node(o).name
        );
    }
    assert_eq!(g.ty(gw), &f64t(&[5, 4]));
}

#[test]
fn grad_ops_on_the_path_are_not_differentiable() {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let p = b.param("p", DType::F64, &[2, 3]).unwrap();
    let sm = b.softmax(p).unwrap();
    let dy = b.full_like(p, 1.0).unwrap();
    let sg = b.op(Op::SoftmaxGrad, &[sm, dy], None).unwrap();
    let s = b.sum_all(sg).unwrap();
    let loss = b.name(s, "loss").unwrap();
    b.output(loss);
    let err = differentiate(&f, "loss", "fb").unwrap_err();
    assert!(
        matches!(
            &err,
            PassError::NotDifferentiable {
                op: "softmax_grad",
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("softmax_grad") && msg.contains("f64[2,3]"),
        "{msg}"
    );
}

#[test]
fn bad_loss_names_and_types_are_reported() {
    let src = linear_with_aux();
    let err = differentiate(&src, "nope", "fb").unwrap_err();
    assert!(matches!(err, PassError::NoSuchOutput { .. }), "{err}");
    assert!(err.to_string().contains("%nope"));
    let err = differentiate(&src, "aux", "fb").unwrap_err();
    assert!(matches!(err, PassError::LossNotScalar { .. }), "{err}");
    assert!(err.to_string().contains("f64[2,3]"), "{err}");

    let mut m = Module::new();
    m.functions.push(src);
    let opts = AutodiffOptions {
        function: "missing".into(),
        ..Default::default()
    };
    let err = llc_passes::autodiff(&mut m, &opts).unwrap_err();
    assert!(err.to_string().contains("@missing") && err.to_string().contains("@forward"));
}

fn tiny_module() -> (LlamaConfig, Module) {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let m = build_forward(&cfg, &BuildOptions::new(2, 8)).unwrap();
    (cfg, m)
}

#[test]
fn tiny_llama_forward_backward_has_every_param_grad_in_order() {
    let (cfg, mut m) = tiny_module();
    let stats = llc_passes::autodiff(&mut m, &AutodiffOptions::default()).unwrap();
    assert_eq!(m.functions.len(), 1);
    let f = &m.functions[0];
    assert_eq!(f.name, "forward_backward");
    verify_function(f, &Default::default()).unwrap();
    let expected: Vec<String> = std::iter::once("loss".to_string())
        .chain(
            param_names(&cfg)
                .into_iter()
                .map(|(n, _)| format!("grad.{n}")),
        )
        .collect();
    let outs: Vec<String> = f
        .outputs()
        .iter()
        .map(|o| f.node(o.node).name.clone())
        .collect();
    assert_eq!(outs, expected);
    assert_eq!(stats.zero_grads, 0);
    // The embedding gradient is a scatter-add of the embedding output's cotangent.
    let ge = f.by_name("grad.tok_embeddings.weight").unwrap();
    assert!(matches!(f.node(ge).op, Op::ScatterAdd));
    // No cotangent for the integer inputs.
    for n in f.node_ids() {
        let name = &f.node(n).name;
        assert!(!name.starts_with("d.tokens") && !name.starts_with("d.targets"));
        if name.starts_with("d.") || name.starts_with("grad.") {
            assert!(f.ty(n).dtype.is_float() || f.ty(n).dtype == DType::Bool);
        }
    }
}

#[test]
fn step_function_signature_and_results() {
    let (cfg, mut m) = tiny_module();
    llc_passes::autodiff(&mut m, &AutodiffOptions::default()).unwrap();
    let ocfg = OptimizerConfig {
        decay_overrides: vec![DecayOverride {
            pattern: "tok_embeddings.*".into(),
            decay: false,
        }],
        ..Default::default()
    };
    let (f, stats) = build_step(&m.functions[0], &ocfg).unwrap();
    verify_function(&f, &Default::default()).unwrap();
    assert_eq!(f.name, "step");
    let params = param_names(&cfg);
    let n = params.len();
    assert_eq!(stats.params, n);
    // matrices decay except the embedding (override); norm gains never
    let matrices = params.iter().filter(|(_, s)| s.len() >= 2).count();
    assert_eq!(stats.decayed, matrices - 1);

    let arg_names: Vec<&str> = f.args().iter().map(|&a| f.node(a).name.as_str()).collect();
    assert_eq!(arg_names.len(), n + 2 + 2 * n + 1);
    assert_eq!(arg_names[n + 2], format!("opt.m.{}", params[0].0));
    assert_eq!(arg_names[2 * n + 2], format!("opt.v.{}", params[0].0));
    assert_eq!(*arg_names.last().unwrap(), "opt.step");
    let step = *f.args().last().unwrap();
    assert_eq!(f.arg_role(step), Some(ArgRole::State));
    assert_eq!(f.ty(step), &TensorType::scalar(DType::I32));

    let outs = f.outputs();
    assert_eq!(outs.len(), 3 + 3 * n + 1);
    let out_name = |i: usize| f.node(outs[i].node).name.clone();
    assert_eq!(
        [out_name(0), out_name(1), out_name(2)],
        ["loss", "grad_norm", "lr"]
    );
    for (i, (p, _)) in params.iter().enumerate() {
        assert_eq!(out_name(3 + i), format!("{p}.next"));
        assert_eq!(f.node(outs[3 + i].updates.unwrap()).name, *p);
        assert_eq!(out_name(3 + n + i), format!("opt.m.{p}.next"));
        assert_eq!(
            f.node(outs[3 + n + i].updates.unwrap()).name,
            format!("opt.m.{p}")
        );
        assert_eq!(out_name(3 + 2 * n + i), format!("opt.v.{p}.next"));
    }
    assert_eq!(out_name(3 + 3 * n), "opt.step.next");
    assert_eq!(outs[3 + 3 * n].updates, Some(step));
    // gradients are no longer results
    assert!(f.output_by_name("grad.norm.weight").is_none());
}

#[test]
fn optimizer_config_is_validated() {
    let (_, mut m) = tiny_module();
    llc_passes::autodiff(&mut m, &AutodiffOptions::default()).unwrap();
    let bad = [
        OptimizerConfig {
            beta2: 1.0,
            ..Default::default()
        },
        OptimizerConfig {
            total_steps: 10,
            warmup_steps: 10,
            ..Default::default()
        },
        OptimizerConfig {
            lr: -1.0,
            ..Default::default()
        },
        OptimizerConfig {
            min_lr_ratio: 2.0,
            ..Default::default()
        },
    ];
    for cfg in bad {
        let err = build_step(&m.functions[0], &cfg).unwrap_err();
        assert!(matches!(err, PassError::InvalidConfig { .. }), "{err}");
    }
    let err = build_step(
        &m.functions[0],
        &OptimizerConfig {
            loss: "nll_total".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("%nll_total"), "{err}");
}

#[test]
fn clipping_disabled_builds_no_clip_factor() {
    let (_, mut m) = tiny_module();
    llc_passes::autodiff(&mut m, &AutodiffOptions::default()).unwrap();
    let with = build_step(&m.functions[0], &OptimizerConfig::default())
        .unwrap()
        .0;
    let without = build_step(
        &m.functions[0],
        &OptimizerConfig {
            clip_norm: Some(0.0),
            ..Default::default()
        },
    )
    .unwrap()
    .0;
    // one multiply per parameter fewer, and no min() for the factor
    assert!(without.node_count() < with.node_count());
    assert!(without.output_by_name("grad_norm").is_some());
}

#[test]
fn decay_patterns_glob() {
    use llc_passes::optimizer::glob_match;
    assert!(glob_match("tok_embeddings.*", "tok_embeddings.weight"));
    assert!(glob_match("*norm*", "layers.0.attention_norm.weight"));
    assert!(glob_match("layers.*.wq.*", "layers.10.wq.weight"));
    assert!(!glob_match("layers.*.wq.*", "layers.10.wk.weight"));
    assert!(glob_match("exact", "exact"));
    assert!(!glob_match("exact", "exactly"));
    assert!(!glob_match("a*a", "a"));
    let cfg = OptimizerConfig::default();
    assert!(cfg.decays("w", &f64t(&[2, 2])));
    assert!(!cfg.decays("norm.weight", &f64t(&[2])));
}

#[test]
fn bf16_model_keeps_step_scalars_in_f32() {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let opts = BuildOptions {
        dtype: DType::BF16,
        ..BuildOptions::new(1, 4)
    };
    let mut m = build_forward(&cfg, &opts).unwrap();
    llc_passes::autodiff(&mut m, &AutodiffOptions::default()).unwrap();
    let (f, _) = build_step(&m.functions[0], &OptimizerConfig::default()).unwrap();
    verify_function(&f, &Default::default()).unwrap();
    for name in ["grad_norm", "lr", "opt.t", "opt.step_size"] {
        let n = f.by_name(name).unwrap();
        assert_eq!(f.ty(n), &TensorType::scalar(DType::F32), "%{name}");
    }
    let w = f.by_name("norm.weight.next").unwrap();
    assert_eq!(f.ty(w).dtype, DType::BF16);
}
