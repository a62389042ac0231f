//! Helpers shared by the interpreter tests: one-op functions, literal tensors, finite
//! differences.

use llc_ir::{Builder, DType, Function, NodeId};
use llc_runtime::interp::{Precision, run_function};
use llc_runtime::tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A seeded RNG for reproducible test data.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Build a function named `t` with `body`, which declares args and returns the results.
pub fn func(body: impl FnOnce(&mut Builder) -> Vec<NodeId>) -> Function {
    let mut f = Function::new("t");
    let mut b = Builder::new(&mut f);
    let outs = body(&mut b);
    for o in outs {
        b.output(o);
    }
    f
}

/// An f32 input argument.
pub fn input(b: &mut Builder, name: &str, shape: &[usize]) -> NodeId {
    b.input(name, DType::F32, shape).expect("valid input")
}

pub fn t32(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(shape, v.to_vec()).expect("literal matches shape")
}

pub fn t64(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(shape, v.to_vec()).expect("literal matches shape")
}

pub fn ti(shape: &[usize], v: &[i32]) -> Tensor {
    Tensor::from_i32(shape, v.to_vec()).expect("literal matches shape")
}

/// Run in f32 and return the single result.
pub fn run1(f: &Function, args: &[Tensor]) -> Tensor {
    run(f, args, Precision::F32).remove(0)
}

/// Run and unwrap.
pub fn run(f: &Function, args: &[Tensor], p: Precision) -> Vec<Tensor> {
    run_function(f, args, p).unwrap_or_else(|e| panic!("run failed: {e}"))
}

/// Assert `got` equals `want` elementwise within `tol` (absolute), with the same shape.
pub fn assert_vals(got: &Tensor, shape: &[usize], want: &[f64], tol: f64) {
    assert_eq!(got.shape(), shape, "shape");
    let g = got.to_f64_vec();
    assert_eq!(g.len(), want.len(), "element count");
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        let ok = (a - b).abs() <= tol || (a.is_nan() && b.is_nan()) || a == b;
        assert!(ok, "element {i}: got {a}, want {b} (all: {g:?})");
    }
}

/// Random f64 tensor ~ N(0, 1).
pub fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::random_normal(shape, 1.0, &mut rng(seed)).to_precision(Precision::F64)
}

/// Central-difference gradient of `L(args) = sum(f(args)[0] * dy)` with respect to
/// argument `wrt`, in f64.
pub fn fd_grad(f: &Function, args: &[Tensor], wrt: usize, dy: &Tensor, h: f64) -> Vec<f64> {
    let dyv = dy.to_f64_vec();
    let loss = |a: &[Tensor]| -> f64 {
        let out = run(f, a, Precision::F64).remove(0).to_f64_vec();
        out.iter().zip(&dyv).map(|(x, g)| x * g).sum()
    };
    let base = args[wrt].to_f64_vec();
    let shape = args[wrt].shape().to_vec();
    let mut grad = Vec::with_capacity(base.len());
    let mut a: Vec<Tensor> = args.to_vec();
    for i in 0..base.len() {
        let mut v = base.clone();
        v[i] += h;
        a[wrt] = t64(&shape, &v);
        let up = loss(&a);
        v[i] = base[i] - h;
        a[wrt] = t64(&shape, &v);
        let down = loss(&a);
        grad.push((up - down) / (2.0 * h));
    }
    grad
}

/// Assert an analytic gradient matches central differences (relative to the gradient's
/// largest entry).
pub fn assert_grad(analytic: &Tensor, numeric: &[f64], tol: f64, what: &str) {
    let a = analytic.to_f64_vec();
    assert_eq!(a.len(), numeric.len(), "{what}: gradient size");
    let scale = numeric.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(numeric).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}: element {i}: analytic {x}, numeric {y} (scale {scale})"
        );
    }
}
