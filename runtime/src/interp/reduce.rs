//! `reduce_sum` / `reduce_max` over any set of axes. Each output element is folded by one
//! thread in the input's row-major order; float sums accumulate in f64 (then round once),
//! so results are accurate and identical for any thread count.

use crate::error::Result;
use crate::interp::ctx::{Ctx, strides};
use crate::interp::float::{Float, nan_max};
use crate::interp::parallel::map_heavy;
use crate::tensor::{Tensor, TensorData};
use llc_ir::ReduceKind;

/// Where each output element starts in the input, and how to walk its reduced elements.
struct Plan {
    kept_shape: Vec<usize>,
    kept_strides: Vec<usize>,
    red_shape: Vec<usize>,
    red_strides: Vec<usize>,
}

impl Plan {
    fn new(shape: &[usize], axes: &[usize]) -> Plan {
        let st = strides(shape);
        let mut p = Plan {
            kept_shape: vec![],
            kept_strides: vec![],
            red_shape: vec![],
            red_strides: vec![],
        };
        for d in 0..shape.len() {
            if axes.contains(&d) {
                p.red_shape.push(shape[d]);
                p.red_strides.push(st[d]);
            } else {
                p.kept_shape.push(shape[d]);
                p.kept_strides.push(st[d]);
            }
        }
        p
    }

    fn out_count(&self) -> usize {
        self.kept_shape.iter().product()
    }

    fn red_count(&self) -> usize {
        self.red_shape.iter().product()
    }

    fn base(&self, mut o: usize) -> usize {
        let mut base = 0;
        for d in (0..self.kept_shape.len()).rev() {
            base += (o % self.kept_shape[d]) * self.kept_strides[d];
            o /= self.kept_shape[d];
        }
        base
    }

    /// Fold `f` over the input offsets reduced into output `o`, in row-major order.
    fn fold<A>(&self, o: usize, init: A, mut f: impl FnMut(A, usize) -> A) -> A {
        let count = self.red_count();
        let base = self.base(o);
        let r = self.red_shape.len();
        let mut acc = init;
        if count == 0 {
            return acc;
        }
        if r == 0 {
            return f(acc, base);
        }
        let (inner, inner_stride) = (self.red_shape[r - 1], self.red_strides[r - 1]);
        let mut idx = vec![0usize; r];
        let mut off = base;
        loop {
            for j in 0..inner {
                acc = f(acc, off + j * inner_stride);
            }
            // advance the outer reduced dims (odometer)
            let mut d = r - 1;
            loop {
                if d == 0 {
                    return acc;
                }
                d -= 1;
                idx[d] += 1;
                off += self.red_strides[d];
                if idx[d] < self.red_shape[d] {
                    break;
                }
                off -= idx[d] * self.red_strides[d];
                idx[d] = 0;
            }
        }
    }

    /// `g(o)` for every output element, in parallel when the whole reduction is large.
    fn map<U: Send>(&self, g: impl Fn(usize) -> U + Sync + Send) -> Vec<U> {
        map_heavy(self.out_count(), self.red_count(), g)
    }
}

/// Reduce `x` over `axes`; `out_shape` is the declared result shape (with or without
/// the kept size-1 dims; the element order is the same).
pub(crate) fn reduce<T: Float>(
    cx: &Ctx,
    kind: ReduceKind,
    x: &Tensor,
    axes: &[usize],
    out_shape: &[usize],
) -> Result<Tensor> {
    let plan = Plan::new(x.shape(), axes);
    let data = match x.data() {
        TensorData::I32(v) => TensorData::I32(match kind {
            ReduceKind::Sum => plan.map(|o| plan.fold(o, 0i64, |a, i| a + v[i] as i64) as i32),
            ReduceKind::Max => plan.map(|o| plan.fold(o, i32::MIN, |a, i| a.max(v[i]))),
        }),
        TensorData::Bool(_) => {
            return Err(cx.type_err(format!("cannot reduce {}", x.type_string())));
        }
        _ => {
            let v = cx.floats::<T>(x, "operand")?;
            T::wrap(match kind {
                ReduceKind::Sum => {
                    plan.map(|o| T::from_f64(plan.fold(o, 0.0f64, |a, i| a + v[i].to_f64())))
                }
                ReduceKind::Max => {
                    plan.map(|o| plan.fold(o, T::NEG_INFINITY, |a, i| nan_max(a, v[i])))
                }
            })
        }
    };
    Ok(Tensor::from_parts(out_shape.to_vec(), data))
}
