//! Each target answers the partitioner's "may this be one kernel of that class?" with its
//! own planner: a model's step partitions for every target into kernels that target
//! compiles in the class the partitioner meant, the same kernels as for the interpreter
//! (the fusion policy asks nothing any target refuses), and a refusal keeps codegen's
//! error whole.

use llc_codegen::{CodegenError, KernelClass, Target};
use llc_ir::{Builder, DType, Function};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_passes::partition::{InterpreterTarget, KernelTarget, PartitionOptions, partition};
use llc_passes::{OptimizerConfig, PassError, build_step, differentiate};

fn tiny_step(fused: bool) -> Function {
    let cfg = LlamaConfig {
        n_layers: 2,
        ..LlamaConfig::preset("tiny").unwrap()
    };
    let m = build_forward(&cfg, &BuildOptions::new(2, 8)).unwrap();
    let mut fwd = m.function("forward").unwrap().clone();
    if fused {
        fwd = optimize(&fwd, &EGraphOptions::forward()).unwrap().0;
    }
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward").unwrap();
    let (mut step, _) = build_step(&fb, &OptimizerConfig::default()).unwrap();
    if fused {
        step = optimize(&step, &EGraphOptions::step()).unwrap().0;
    }
    step
}

#[test]
fn every_target_accepts_the_kernels_of_a_step_in_their_class() {
    for fused in [false, true] {
        let step = tiny_step(fused);
        let opts = PartitionOptions::default();
        let oracle = partition(&step, &opts, &InterpreterTarget).unwrap();
        for target in Target::ALL {
            let p = partition(&step, &opts, &target).unwrap();
            let names = |p: &llc_passes::partition::Program| -> Vec<String> {
                p.kernels.iter().map(|k| k.name.clone()).collect()
            };
            assert_eq!(names(&p), names(&oracle), "{target}: the same kernels");
            for k in &p.kernels {
                target
                    .check_kernel(&k.func, k.class)
                    .unwrap_or_else(|e| panic!("{target}: {}: {e}", k.name));
            }
        }
    }
}

#[test]
fn a_refusal_names_the_kernel_and_keeps_the_codegen_error() {
    // Unlowered attention is no kernel codegen compiles.
    let step = tiny_step(true);
    let opts = PartitionOptions {
        lower_attention: false,
        ..Default::default()
    };
    assert!(partition(&step, &opts, &InterpreterTarget).is_ok());
    let err = partition(&step, &opts, &Target::Sm90).unwrap_err();
    let PassError::KernelRefused {
        target,
        kernel,
        class,
        source,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((target.as_str(), *class), ("sm_90", KernelClass::Single));
    assert!(kernel.contains("attention"), "{kernel}");
    let cg = source
        .downcast_ref::<CodegenError>()
        .expect("codegen's error");
    assert!(matches!(cg, CodegenError::Unsupported { .. }), "{cg:?}");
    assert!(err.to_string().contains("split into GEMMs"), "{err}");
}

#[test]
fn a_kernel_in_another_class_than_asked_is_refused() {
    // Outputs of different sizes are no elementwise kernel ...
    let mut k = Function::new("k");
    let mut b = Builder::new(&mut k);
    let x = b.input("x", DType::F32, &[4]).unwrap();
    let y = b.input("y", DType::F32, &[2, 4]).unwrap();
    let e = b.exp(x).unwrap();
    let z = b.exp(y).unwrap();
    b.output(e);
    b.output(z);
    let why = Target::Sm90
        .check_kernel(&k, KernelClass::Elementwise)
        .unwrap_err()
        .to_string();
    assert!(why.contains("different element counts"), "{why}");
    // ... and a row reduction is not one either.
    let mut k = Function::new("k");
    let mut b = Builder::new(&mut k);
    let x = b.input("x", DType::F32, &[4, 8]).unwrap();
    let s = b.reduce_sum(x, &[1], false).unwrap();
    b.output(s);
    for t in Target::ALL {
        assert!(t.check_kernel(&k, KernelClass::Row).is_ok(), "{t}");
        let why = t
            .check_kernel(&k, KernelClass::Elementwise)
            .unwrap_err()
            .to_string();
        assert!(why.contains("compiles as a row kernel"), "{t}: {why}");
    }
    // A row reduction over rows of one element compiles as an elementwise kernel, which
    // serves as the row kernel the partitioner asked for (a softmax over one position).
    let mut k = Function::new("k");
    let mut b = Builder::new(&mut k);
    let x = b.input("x", DType::F32, &[4, 1]).unwrap();
    let s = b.reduce_sum(x, &[1], false).unwrap();
    b.output(s);
    for t in Target::ALL {
        assert_eq!(t.kernel_class(&k).unwrap(), KernelClass::Elementwise, "{t}");
        assert!(t.check_kernel(&k, KernelClass::Row).is_ok(), "{t}");
    }
}
