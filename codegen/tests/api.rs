//! The public contract: fingerprints, dedupe, `Target::kernel_class`' classes and rejections, targets.

use crate::common;

use llc_codegen::{
    CodegenError, KernelClass, KernelSpec, ParamRef, Target, compile_kernels, kernel_fingerprint,
};
use llc_ir::{Builder, DType, Function, Op, Real, TensorType};

/// `rms_norm` built with other value names (a scope and other argument names).
fn rms_norm_renamed(rows: usize, d: usize, layer: usize) -> Function {
    let mut f = Function::new(format!("layers.{layer}.attn_norm"));
    let mut b = Builder::new(&mut f);
    b.push_scope(format!("layers.{layer}"));
    let x = b
        .input(&format!("h{layer}"), DType::F32, &[rows, d])
        .unwrap();
    let w = b.input(&format!("g{layer}"), DType::F32, &[d]).unwrap();
    let y = b.rms_norm(x, w, 1e-5).unwrap();
    b.output(y);
    f
}

fn err(f: &Function) -> String {
    match Target::Sm90.kernel_class(f) {
        Ok(c) => panic!("{} should be rejected, got class {c}", f.name),
        Err(e) => e.to_string(),
    }
}

#[test]
fn fingerprint_ignores_names_but_not_shapes_or_attributes() {
    let a = common::rms_norm(8, 64);
    assert_eq!(
        kernel_fingerprint(&a),
        kernel_fingerprint(&rms_norm_renamed(8, 64, 3))
    );
    assert_eq!(
        kernel_fingerprint(&rms_norm_renamed(8, 64, 1)),
        kernel_fingerprint(&rms_norm_renamed(8, 64, 79))
    );
    assert_ne!(
        kernel_fingerprint(&a),
        kernel_fingerprint(&common::rms_norm(8, 128))
    );
    assert_ne!(
        kernel_fingerprint(&a),
        kernel_fingerprint(&common::rms_norm(16, 64))
    );
    let mut eps = Function::new("eps");
    let mut b = Builder::new(&mut eps);
    let x = b.input("x", DType::F32, &[8, 64]).unwrap();
    let w = b.input("w", DType::F32, &[64]).unwrap();
    let y = b.rms_norm(x, w, 1e-6).unwrap();
    b.output(y);
    assert_ne!(kernel_fingerprint(&a), kernel_fingerprint(&eps));
    assert_ne!(
        kernel_fingerprint(&common::rope(&[1, 4, 2, 8], false)),
        kernel_fingerprint(&common::rope(&[1, 4, 2, 8], true))
    );
}

#[test]
fn identical_layers_share_one_set_of_kernels() {
    let mut funcs: Vec<Function> = (0..80).map(|l| rms_norm_renamed(16, 256, l)).collect();
    funcs.push(common::rms_norm_grad_w(2, 8, 256));
    funcs.push(common::rms_norm_grad_w(2, 8, 256));
    let specs: Vec<KernelSpec> = funcs
        .iter()
        .map(|f| KernelSpec {
            name: f.name.clone(),
            func: f,
        })
        .collect();
    let m = compile_kernels(&specs, Target::Sm90).unwrap();
    assert_eq!(m.kernels.len(), 82);
    // one entry for the 80 norms, two launches for rms_norm_grad_w (shared by both)
    assert_eq!(
        m.entries,
        3,
        "{:?}",
        m.kernels.iter().map(|k| &k.launches).collect::<Vec<_>>()
    );
    let entry = &m.kernels[0].launches[0].entry;
    for (i, k) in m.kernels[..80].iter().enumerate() {
        assert_eq!(k.name, format!("layers.{i}.attn_norm"));
        assert_eq!(&k.launches[0].entry, entry);
        assert_eq!(
            k.launches[0].params,
            [ParamRef::Input(0), ParamRef::Input(1), ParamRef::Output(0)]
        );
    }
    assert_eq!(m.kernels[80].launches, m.kernels[81].launches);
    assert_eq!(m.ptx.matches(".entry").count(), 3);
}

#[test]
fn supports_names_the_class_of_each_representative_kernel() {
    use KernelClass::*;
    let cases = [
        (common::elementwise_chain(8, 64), Elementwise),
        (common::adamw(&[16, 16]), Elementwise),
        (common::swiglu_fwd_bwd(&[4, 36]), Elementwise),
        (common::rope(&[1, 4, 2, 8], false), Elementwise),
        (common::rms_norm(8, 64), Row),
        (common::rms_norm_grad_x(8, 64), Row),
        (common::softmax(&[2, 2, 8, 8]), Row),
        (common::masked_softmax(2, 2, 8), Row),
        (common::cross_entropy(4, 100), Row),
        (common::cross_entropy_grad(4, 100), Row),
        (common::sum_squares(&[4, 8]), Row),
        (common::sum_squares(&[512, 1024]), Reduction),
        (common::rms_norm_grad_w(2, 4, 64), Reduction),
        (common::mean_loss(4, 100), Reduction),
        (
            common::reduce(&[4, 6, 8], &[1], llc_ir::ReduceKind::Sum, false),
            Reduction,
        ),
    ];
    for (f, class) in cases {
        assert_eq!(
            Target::Sm90
                .kernel_class(&f)
                .unwrap_or_else(|e| panic!("{e}")),
            class,
            "{}",
            f.name
        );
    }
}

#[test]
fn a_matmul_is_rejected_with_a_clear_message() {
    let e = err(&common::matmul());
    assert!(e.contains("kernel `matmul`"), "{e}");
    assert!(e.contains("%matmul = matmul"), "{e}");
    assert!(e.contains("GEMM library call"), "{e}");
}

#[test]
fn outputs_needing_different_reductions_are_rejected() {
    let mut f = Function::new("norm_and_grad_w");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[8, 64]).unwrap();
    let w = b.input("w", DType::F32, &[64]).unwrap();
    let dy = b.input("dy", DType::F32, &[8, 64]).unwrap();
    let dx = b
        .op(Op::RmsNormGradX { eps: Real(1e-5) }, &[x, w, dy], None)
        .unwrap();
    let dw = b
        .op(Op::RmsNormGradW { eps: Real(1e-5) }, &[x, dy], None)
        .unwrap();
    b.output(dx);
    b.output(dw);
    let e = err(&f);
    assert!(
        e.contains("different shapes") && e.contains("split them"),
        "{e}"
    );
}

#[test]
fn a_row_statistic_read_in_another_row_is_rejected() {
    // sum over each row of x[4, 8], then broadcast along the other axis of [8, 4]
    let mut f = Function::new("transposed_stat");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F32, &[4, 8]).unwrap();
    let s = b.reduce_sum(x, &[1], false).unwrap();
    let s = b.reshape(s, &[1, 4]).unwrap();
    let s = b.broadcast(s, &[8, 4]).unwrap();
    b.output(s);
    let e = err(&f);
    assert!(e.contains("only be used in its own row"), "{e}");
}

#[test]
fn unsupported_dtypes_roles_and_invalid_ir_are_errors() {
    let mut f = Function::new("f64");
    let mut b = Builder::new(&mut f);
    let x = b.input("x", DType::F64, &[4]).unwrap();
    let y = b.exp(x).unwrap();
    b.output(y);
    assert!(err(&f).contains("dtype f64"), "{}", err(&f));

    let mut f = Function::new("param");
    let mut b = Builder::new(&mut f);
    let x = b.param("w", DType::F32, &[4]).unwrap();
    let y = b.exp(x).unwrap();
    b.output(y);
    assert!(err(&f).contains("role param"), "{}", err(&f));

    // a declared type that breaks the type rule: an error, not a panic
    let mut f = Function::new("bad");
    let x = f
        .add_arg(
            "x",
            llc_ir::ArgRole::Input,
            TensorType::new(DType::F32, [4]),
        )
        .unwrap();
    let y = f
        .insert(
            "y",
            Op::Unary {
                op: llc_ir::UnaryOp::Exp,
            },
            &[x],
            TensorType::new(DType::F32, [5]),
        )
        .unwrap();
    f.add_output(y, None);
    match Target::Sm90.kernel_class(&f) {
        Err(CodegenError::InvalidIr { kernel, .. }) => assert_eq!(kernel, "bad"),
        other => panic!("expected invalid IR, got {other:?}"),
    }
    let spec = KernelSpec {
        name: "bad".into(),
        func: &f,
    };
    assert!(matches!(
        compile_kernels(&[spec], Target::Sm90),
        Err(CodegenError::InvalidIr { .. })
    ));
}

#[test]
fn targets_parse_from_their_names() {
    assert_eq!("sm_80".parse::<Target>().unwrap(), Target::Sm80);
    assert_eq!("sm_90".parse::<Target>().unwrap(), Target::Sm90);
    assert_eq!(Target::default(), Target::Sm90);
    let e = "sm_75".parse::<Target>().unwrap_err().to_string();
    assert!(
        e.contains("sm_75") && e.contains("sm_80, sm_90, cpu"),
        "{e}"
    );
    assert_eq!("cpu".parse::<Target>().unwrap(), Target::CpuNative);
    assert_eq!("x86-64-v4".parse::<Target>().unwrap(), Target::X86_64V4);
    for t in Target::ALL {
        assert_eq!(t.name().parse::<Target>().unwrap(), t);
        assert_eq!(t.is_cpu(), !Target::GPUS.contains(&t));
    }
    for t in Target::GPUS {
        let f = common::rms_norm(4, 32);
        let m = compile_kernels(
            &[KernelSpec {
                name: "n".into(),
                func: &f,
            }],
            t,
        )
        .unwrap();
        assert!(m.ptx.contains(&format!(".target {}", t.name())), "{t}");
    }
}

#[test]
fn launches_beyond_grid_limits_are_errors() {
    // 2^32 rows of 64: one block per row would need more blocks than CUDA allows
    let e = err(&common::softmax(&[1 << 32, 64]));
    assert!(e.contains("exceeds CUDA's grid limits"), "{e}");
    // the same rows, short: a thread per row fits
    assert_eq!(
        Target::Sm90
            .kernel_class(&common::softmax(&[1 << 32, 2]))
            .unwrap(),
        KernelClass::Row
    );
}

#[test]
fn entry_names_stay_unique_whatever_the_spec_names() {
    // a single-launch kernel named like the second launch of a two-launch one, a name
    // that is not a symbol, and no kernels at all
    let a = common::rms_norm(4, 32);
    let b = common::rms_norm_grad_w(2, 4, 64);
    let c = common::softmax(&[4, 32]);
    let specs = [
        KernelSpec {
            name: "x_0".into(),
            func: &a,
        },
        KernelSpec {
            name: "x".into(),
            func: &b,
        },
        KernelSpec {
            name: "3.layer/norm".into(),
            func: &c,
        },
    ];
    let m = compile_kernels(&specs, Target::Sm90).unwrap();
    let entries: Vec<&str> = m
        .kernels
        .iter()
        .flat_map(|k| k.launches.iter().map(|l| l.entry.as_str()))
        .collect();
    assert_eq!(entries, ["x_0", "x_1_0", "x_1_1", "k_3_layer_norm"]);
    for e in entries {
        assert!(m.ptx.contains(&format!(".entry {e}(")), "{e}");
    }
    let empty = compile_kernels(&[], Target::Sm90).unwrap();
    assert!(empty.kernels.is_empty() && empty.ptx.is_empty());
}
