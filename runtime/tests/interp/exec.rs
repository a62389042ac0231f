//! The execution loop: dead code, tracing, results that are arguments or repeated,
//! determinism across thread counts, random arguments.

use crate::common::*;
use llc_ir::{ArgRole, DType, TensorType};
use llc_runtime::interp::{Precision, random_args, run_function, run_function_traced};
use llc_runtime::tensor::{Tensor, TensorData};

#[test]
fn dead_nodes_are_skipped_but_traced() {
    // a gather with a bad index that no result depends on
    let f = func(|b| {
        let t = input(b, "table", &[2, 2]);
        let i = b.input("idx", DType::I32, &[1]).unwrap();
        let _dead = b.gather(t, i).unwrap();
        vec![b.exp(t).unwrap()]
    });
    let args = [t32(&[2, 2], &[0.; 4]), ti(&[1], &[9])];
    let out = run_function(&f, &args, Precision::F32).unwrap();
    assert_vals(&out[0], &[2, 2], &[1.; 4], 0.0);
    let e = run_function_traced(&f, &args, Precision::F32).unwrap_err();
    assert!(e.to_string().contains("%gather"), "{e}");
}

#[test]
fn trace_keeps_every_value_by_name() {
    let f = func(|b| {
        let x = input(b, "x", &[2]);
        let e = b.exp(x).unwrap();
        let n = b.neg(e).unwrap();
        vec![n]
    });
    let tr = run_function_traced(&f, &[t32(&[2], &[0., 1.])], Precision::F64).unwrap();
    let names: Vec<&str> = tr.values.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x", "exp", "neg"]);
    assert_vals(tr.get("exp").unwrap(), &[2], &[1.0, 1f64.exp()], 1e-15);
    assert_eq!(tr.outputs[0], *tr.get("neg").unwrap());
}

#[test]
fn results_may_be_arguments_or_repeated() {
    let f = func(|b| {
        let x = input(b, "x", &[2]);
        let e = b.exp(x).unwrap();
        vec![x, e, e, x]
    });
    let out = run_function(&f, &[t32(&[2], &[0., 0.])], Precision::F32).unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0], out[3]);
    assert_eq!(out[1], out[2]);
    assert_vals(&out[1], &[2], &[1., 1.], 0.0);
}

/// A graph that exercises every parallel path with tensors above the threshold.
fn wide_graph() -> llc_ir::Function {
    func(|b| {
        let x = input(b, "x", &[4, 64, 256]);
        let w = b.param("w", DType::F32, &[256, 256]).unwrap();
        let g = b.param("g", DType::F32, &[256]).unwrap();
        let n = b.rms_norm(x, g, 1e-5).unwrap();
        let h = b.matmul(n, w).unwrap();
        let s = b.softmax(h).unwrap();
        let r = b.reduce_sum(s, &[0, 1], false).unwrap();
        let t = b.transpose(h, &[2, 0, 1]).unwrap();
        let m = b.reduce_max(t, &[2], false).unwrap();
        let q = b.reshape(h, &[4, 64, 4, 64]).unwrap();
        let q = b.transpose(q, &[0, 2, 1, 3]).unwrap();
        let a = b.attention(q, q, q, 0.125, true).unwrap();
        // a tall GEMM that more than four threads split by rows
        let tall = b.reshape(x, &[1024, 64]).unwrap();
        let w2 = b.param("w2", DType::F32, &[64, 300]).unwrap();
        let t = b.matmul(tall, w2).unwrap();
        vec![r, m, a, t]
    })
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let f = wide_graph();
    let args = random_args(&f, 3, 10, Precision::F32);
    let in_pool = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_function(&f, &args, Precision::F32).unwrap())
    };
    let one = in_pool(1);
    let eight = in_pool(8);
    for (a, b) in one.iter().zip(&eight) {
        let (x, y) = (a.as_f32().unwrap(), b.as_f32().unwrap());
        assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}

#[test]
fn random_args_follow_roles_and_are_reproducible() {
    let f = func(|b| {
        let w = b.param("w", DType::F32, &[400, 30]).unwrap();
        let g = b.param("g", DType::F32, &[30]).unwrap();
        let m = b.state("m", DType::F32, &[100]).unwrap();
        let x = b.input("x", DType::F32, &[2000]).unwrap();
        let t = b.input("t", DType::I32, &[500]).unwrap();
        let k = b
            .arg("k", ArgRole::Input, TensorType::new(DType::Bool, [100]))
            .unwrap();
        vec![w, g, m, x, t, k]
    });
    let a = random_args(&f, 7, 11, Precision::F32);
    assert_eq!(
        a,
        random_args(&f, 7, 11, Precision::F32),
        "same seed, same args"
    );
    assert_ne!(
        a,
        random_args(&f, 8, 11, Precision::F32),
        "other seed, other args"
    );
    let std = |t: &Tensor| {
        let v = t.to_f64_vec();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!((std(&a[0]) * 20.0 - 1.0).abs() < 0.1, "param ~ N(0, 1/400)");
    assert!(
        a[1].to_f64_vec().iter().all(|&v| (0.5..1.5).contains(&v)),
        "gains near 1"
    );
    assert!(
        a[2].to_f64_vec().iter().all(|&v| (0.0..1.0).contains(&v)),
        "state in [0,1)"
    );
    assert!((std(&a[3]) - 1.0).abs() < 0.1, "input ~ N(0, 1)");
    let ids = a[4].as_i32().unwrap();
    assert!(ids.iter().all(|&i| (0..11).contains(&i)));
    assert!(ids.contains(&0) && ids.contains(&10));
    let flags = a[5].as_bool().unwrap();
    assert!(flags.contains(&true) && flags.contains(&false));
    // the f64 set holds the same numbers
    let b = random_args(&f, 7, 11, Precision::F64);
    assert!(matches!(b[0].data(), TensorData::F64(_)));
    assert_eq!(a[0].to_f64_vec(), b[0].to_f64_vec());
}
