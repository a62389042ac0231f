//! Bad input gives an error that names what and where, never a panic.

use crate::common::*;
use llc_ir::{DType, Function, Op, TensorType};
use llc_runtime::RuntimeError;
use llc_runtime::interp::{Precision, run_function};
use llc_runtime::tensor::Tensor;

fn two_inputs() -> Function {
    func(|b| {
        let x = input(b, "x", &[2, 3]);
        let y = input(b, "y", &[2, 3]);
        vec![b.add(x, y).unwrap()]
    })
}

#[test]
fn wrong_argument_count() {
    let f = two_inputs();
    let e = run_function(&f, &[t32(&[2, 3], &[0.; 6])], Precision::F32).unwrap_err();
    assert!(
        matches!(
            e,
            RuntimeError::ArgCount {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "@t takes 2 arguments, got 1");
}

#[test]
fn wrong_argument_shape_names_the_argument_and_both_types() {
    let f = two_inputs();
    let e = run_function(
        &f,
        &[t32(&[2, 3], &[0.; 6]), t32(&[3, 2], &[0.; 6])],
        Precision::F32,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "@t: argument 1 %y must be f32[2,3], got f32[3,2]"
    );
}

#[test]
fn wrong_argument_kind() {
    let f = two_inputs();
    let e = run_function(
        &f,
        &[t32(&[2, 3], &[0.; 6]), ti(&[2, 3], &[0; 6])],
        Precision::F32,
    )
    .unwrap_err();
    assert!(e.to_string().contains("got i32[2,3]"), "{e}");
}

fn gather_fn() -> Function {
    func(|b| {
        let t = input(b, "table", &[4, 2]);
        let i = b.input("idx", DType::I32, &[2, 2]).unwrap();
        vec![b.gather(t, i).unwrap()]
    })
}

#[test]
fn gather_index_out_of_range_names_node_and_index() {
    let f = gather_fn();
    for bad in [7, -1] {
        let e = run_function(
            &f,
            &[t32(&[4, 2], &[0.; 8]), ti(&[2, 2], &[0, 1, bad, 2])],
            Precision::F32,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("%gather = gather: index {bad} at position [1, 0] is outside 0..4")
        );
    }
}

#[test]
fn scatter_add_and_cross_entropy_check_indices() {
    let f = func(|b| {
        let i = b.input("idx", DType::I32, &[2]).unwrap();
        let u = input(b, "upd", &[2, 3]);
        vec![b.scatter_add(i, u, 5).unwrap()]
    });
    let e = run_function(
        &f,
        &[ti(&[2], &[4, 5]), t32(&[2, 3], &[0.; 6])],
        Precision::F32,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            RuntimeError::IndexOutOfRange {
                index: 5,
                bound: 5,
                ..
            }
        ),
        "{e:?}"
    );

    let f = func(|b| {
        let x = input(b, "x", &[2, 3]);
        let t = b.input("t", DType::I32, &[2]).unwrap();
        vec![b.cross_entropy(x, t).unwrap()]
    });
    let e = run_function(
        &f,
        &[t32(&[2, 3], &[0.; 6]), ti(&[2], &[3, 0])],
        Precision::F32,
    )
    .unwrap_err();
    assert!(e.to_string().contains("%cross_entropy"), "{e}");
    assert!(e.to_string().contains("index 3"), "{e}");
}

#[test]
fn integer_division_by_zero() {
    let f = func(|b| {
        let x = b.input("x", DType::I32, &[2]).unwrap();
        let y = b.input("y", DType::I32, &[2]).unwrap();
        vec![b.div(x, y).unwrap()]
    });
    let e = run_function(&f, &[ti(&[2], &[1, 2]), ti(&[2], &[1, 0])], Precision::F32).unwrap_err();
    assert_eq!(
        e.to_string(),
        "%div = div: integer division by zero at flat position 1"
    );
}

#[test]
fn unverified_function_is_rejected() {
    let mut f = Function::new("bad");
    let x = f
        .add_arg(
            "x",
            llc_ir::ArgRole::Input,
            TensorType::new(DType::F32, [2]),
        )
        .unwrap();
    // declared [3] where the rule gives [2]
    let y = f
        .insert(
            "y",
            Op::Unary {
                op: llc_ir::UnaryOp::Exp,
            },
            &[x],
            TensorType::new(DType::F32, [3]),
        )
        .unwrap();
    f.add_output(y, None);
    let e = run_function(&f, &[t32(&[2], &[0., 0.])], Precision::F32).unwrap_err();
    assert!(matches!(e, RuntimeError::Invalid(_)), "{e:?}");
    assert!(e.to_string().contains("%y"), "{e}");
}

#[test]
fn tensor_length_must_match_shape() {
    let e = Tensor::from_f32([2, 3], vec![0.0; 5]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor of shape [2, 3] needs 6 elements, got 5"
    );
}
