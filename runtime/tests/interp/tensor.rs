//! Tensor constructors and the closeness measures.

use llc_ir::{DType, TensorType};
use llc_runtime::interp::Precision;
use llc_runtime::tensor::{Tensor, check_close, max_abs_diff, max_rel_diff, rel_l2_diff};

fn t(v: &[f32]) -> Tensor {
    Tensor::from_f32([v.len()], v.to_vec()).unwrap()
}

#[test]
fn zeros_follow_the_type_and_precision() {
    let z = Tensor::zeros(&TensorType::new(DType::BF16, [2, 2]), Precision::F64);
    assert_eq!(z.as_f64(), Some(&[0.0; 4][..]));
    let z = Tensor::zeros(&TensorType::new(DType::I32, [3]), Precision::F64);
    assert_eq!(z.as_i32(), Some(&[0; 3][..]));
    assert_eq!(Tensor::scalar_f32(2.0).shape(), &[] as &[usize]);
}

#[test]
fn abs_and_relative_differences() {
    let (a, b) = (t(&[1.0, 100.0, 0.0]), t(&[1.5, 101.0, 0.0]));
    assert_eq!(max_abs_diff(&a, &b), 1.0);
    assert!((max_rel_diff(&a, &b) - 0.5 / 1.5).abs() < 1e-12);
    let l2 = rel_l2_diff(&a, &b);
    let want = (0.25f64 + 1.0).sqrt() / (1.5f64 * 1.5 + 101.0 * 101.0).sqrt();
    assert!((l2 - want).abs() < 1e-12, "{l2} vs {want}");
}

#[test]
fn nan_and_shape_mismatch_are_infinitely_far() {
    let a = t(&[1.0, f32::NAN]);
    assert_eq!(max_abs_diff(&a, &t(&[1.0, 2.0])), f64::INFINITY);
    assert_eq!(
        max_abs_diff(&a, &a),
        f64::INFINITY,
        "NaN is never equal, not even to NaN"
    );
    assert_eq!(rel_l2_diff(&a, &a), f64::INFINITY);
    assert_eq!(max_rel_diff(&a, &a), f64::INFINITY);
    assert!(check_close(&a, &a, 1.0, 1.0).is_err(), "NaN is never close");
    let inf = t(&[1.0, f32::INFINITY]);
    assert_eq!(
        max_abs_diff(&inf, &inf),
        0.0,
        "equal infinities count as equal"
    );
    assert_eq!(
        max_abs_diff(&inf, &t(&[1.0, f32::NEG_INFINITY])),
        f64::INFINITY
    );
    assert_eq!(rel_l2_diff(&t(&[1.0]), &t(&[1.0, 2.0])), f64::INFINITY);
    let i = Tensor::from_i32([1], vec![1]).unwrap();
    assert_eq!(max_abs_diff(&t(&[1.0]), &i), f64::INFINITY);
}

#[test]
fn check_close_reports_the_worst_element() {
    let r = t(&[1.0, 2.0, 3.0]);
    assert!(check_close(&t(&[1.0, 2.0001, 3.0]), &r, 1e-3, 0.0).is_ok());
    let e = check_close(&t(&[1.1, 2.0, 4.0]), &r, 1e-3, 0.0).unwrap_err();
    assert!(e.starts_with("2 of 3 elements differ"), "{e}");
    assert!(e.contains("flat index 2: 4 vs reference 3"), "{e}");
}

#[test]
fn random_tensors_are_reproducible_and_in_range() {
    use rand::SeedableRng;
    let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        Tensor::random_normal([10], 1.0, &mut r1),
        Tensor::random_normal([10], 1.0, &mut r2)
    );
    let u = Tensor::random_uniform([1000], -2.0, 3.0, &mut r1);
    assert!(u.to_f64_vec().iter().all(|&v| (-2.0..3.0).contains(&v)));
    let i = Tensor::random_ints([1000], 5..8, &mut r1);
    assert!(i.as_i32().unwrap().iter().all(|&v| (5..8).contains(&v)));
    let e = Tensor::random_ints([3], 4..4, &mut r1);
    assert_eq!(e.as_i32(), Some(&[4, 4, 4][..]));
}
