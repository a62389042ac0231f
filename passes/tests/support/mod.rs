//! Gradient checking against finite differences, in f64 on the reference interpreter.
//!
//! The derivative of the loss along one parameter entry is estimated with the fourth-order
//! central stencil `(-L(x+2h) + 8 L(x+h) - 8 L(x-h) + L(x-2h)) / 12h`, `h = 1e-3 max(1,|x|)`:
//! its truncation error (`O(h^4)`, ~1e-13) and rounding error (`~eps |L| / h`, ~1e-13) are
//! both far below the 1e-6 tolerance, which a plain two-point difference cannot promise.
//!
//! Error of an entry: `|autodiff - fd| / max(|fd|, floor)` with `floor = 1e-3` times the
//! largest gradient magnitude of that tensor, so that exact zeros and entries a thousand
//! times smaller than the tensor's scale are compared at that scale instead of dividing
//! rounding noise by nearly nothing.

#![allow(dead_code)]

use llc_ir::{ArgRole, Function, NodeId};
use llc_passes::differentiate;
use llc_runtime::{Precision, Tensor, random_args, run_function};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Which entries of each parameter to check.
#[derive(Clone, Copy, Debug)]
pub enum Entries {
    /// Every entry.
    All,
    /// `n` entries per parameter, drawn at random, plus the entry with the largest
    /// gradient.
    Sample(usize),
}

/// The result of checking one function.
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// Largest error over all checked entries.
    pub max_err: f64,
    /// Per parameter: name and its largest error.
    pub per_param: Vec<(String, f64)>,
    /// Entries checked.
    pub entries: usize,
}

/// Random f64 arguments for `f` (ints uniform in `0..int_high`), with every float param
/// passed through `domain` (to keep log/sqrt inputs positive, abs inputs off zero, ...).
pub fn args_for(f: &Function, seed: u64, int_high: i32, domain: fn(f64) -> f64) -> Vec<Tensor> {
    let mut args = random_args(f, seed, int_high, Precision::F64);
    for (i, &a) in f.args().iter().enumerate() {
        if f.arg_role(a) == Some(ArgRole::Param) && f.ty(a).dtype.is_float() {
            let v: Vec<f64> = args[i].to_f64_vec().into_iter().map(domain).collect();
            args[i] = Tensor::from_f64(args[i].shape().to_vec(), v).expect("same shape");
        }
    }
    args
}

fn loss_of(f: &Function, args: &[Tensor]) -> f64 {
    let out = run_function(f, args, Precision::F64).expect("forward runs");
    out[0].to_f64_vec()[0]
}

fn with_entry(t: &Tensor, j: usize, v: f64) -> Tensor {
    let mut d = t.to_f64_vec();
    d[j] = v;
    Tensor::from_f64(t.shape().to_vec(), d).expect("same shape")
}

/// Differentiate `f` (result 0 is the loss) and compare every parameter's gradient with
/// finite differences at `args`.
pub fn grad_check(f: &Function, args: &[Tensor], entries: Entries, seed: u64) -> GradCheck {
    let loss_name = f.node(f.outputs()[0].node).name.clone();
    let (fb, _) = differentiate(f, &loss_name, "forward_backward").expect("autodiff");
    llc_ir::verify_function(&fb, &Default::default()).expect("forward_backward verifies");
    let out = run_function(&fb, args, Precision::F64).expect("forward_backward runs");
    let loss = out[0].to_f64_vec()[0];
    let loss_fwd = loss_of(f, args);
    assert!(
        (loss - loss_fwd).abs() <= 1e-12 * loss_fwd.abs().max(1.0),
        "forward_backward's loss {loss} differs from forward's {loss_fwd}"
    );

    let params: Vec<(usize, NodeId)> = f
        .args()
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, a)| f.arg_role(a) == Some(ArgRole::Param))
        .collect();
    assert_eq!(out.len(), 1 + params.len());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut result = GradCheck {
        max_err: 0.0,
        per_param: Vec::new(),
        entries: 0,
    };
    for (k, &(ai, p)) in params.iter().enumerate() {
        let grad = out[1 + k].to_f64_vec();
        assert_eq!(out[1 + k].shape(), f.ty(p).shape.as_slice());
        let scale = grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let picks: Vec<usize> = match entries {
            Entries::All => (0..grad.len()).collect(),
            Entries::Sample(n) => {
                let largest = (0..grad.len())
                    .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
                    .unwrap_or(0);
                let mut v = vec![largest];
                v.extend((0..n).map(|_| rng.random_range(0..grad.len())));
                v
            }
        };
        let base = args[ai].to_f64_vec();
        let mut worst = 0.0f64;
        for j in picks {
            let x = base[j];
            let h = 1e-3 * x.abs().max(1.0);
            let eval = |dx: f64| {
                let mut a = args.to_vec();
                a[ai] = with_entry(&args[ai], j, x + dx);
                loss_of(f, &a)
            };
            let fd =
                (-eval(2.0 * h) + 8.0 * eval(h) - 8.0 * eval(-h) + eval(-2.0 * h)) / (12.0 * h);
            let floor = (1e-3 * scale).max(1e-300);
            let err = (grad[j] - fd).abs() / fd.abs().max(floor);
            assert!(
                err.is_finite(),
                "%{}[{j}]: autodiff {} vs finite difference {fd}",
                f.node(p).name,
                grad[j]
            );
            worst = worst.max(err);
            result.entries += 1;
        }
        result.max_err = result.max_err.max(worst);
        result.per_param.push((f.node(p).name.clone(), worst));
    }
    result
}
