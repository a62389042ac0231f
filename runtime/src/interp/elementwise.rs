//! Leaves and elementwise ops: full, iota, unary, binary, compare, select, cast.

use crate::error::Result;
use crate::interp::ctx::{Ctx, strides};
use crate::interp::float::{Float, nan_max, nan_min, sigmoid};
use crate::interp::parallel::{map_index, map1, map2};
use crate::tensor::{Precision, Tensor, TensorData};
use llc_ir::{BinaryOp, CmpOp, DType, TensorType, UnaryOp};

/// Element = its index along `axis` (as the declared dtype).
pub(crate) fn iota<T: Float>(ty: &TensorType, axis: usize) -> Tensor {
    let st = strides(&ty.shape);
    let (stride, len) = (st[axis], ty.shape[axis].max(1));
    let n = ty.numel();
    let pos = move |i: usize| (i / stride) % len;
    let data = match ty.dtype {
        DType::I32 => TensorData::I32(map_index(n, |i| pos(i) as i32)),
        _ => T::wrap(map_index(n, |i| T::from_f64(pos(i) as f64))),
    };
    Tensor::from_parts(ty.shape.clone(), data)
}

/// A unary float function.
fn unary_float<T: Float>(op: UnaryOp) -> fn(T) -> T {
    match op {
        UnaryOp::Neg => |x: T| -x,
        UnaryOp::Abs => |x: T| x.abs(),
        UnaryOp::Exp => |x: T| x.exp(),
        UnaryOp::Log => |x: T| x.ln(),
        UnaryOp::Sqrt => |x: T| x.sqrt(),
        UnaryOp::Rsqrt => |x: T| T::ONE / x.sqrt(),
        UnaryOp::Recip => |x: T| T::ONE / x,
        UnaryOp::Sin => |x: T| x.sin(),
        UnaryOp::Cos => |x: T| x.cos(),
        UnaryOp::Tanh => |x: T| x.tanh(),
        UnaryOp::Sigmoid => |x: T| sigmoid(x),
    }
}

/// `op(x)` elementwise. On i32 only `neg` and `abs` exist (both wrap on `i32::MIN`).
pub(crate) fn unary<T: Float>(cx: &Ctx, op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let data = match x.data() {
        TensorData::I32(v) => match op {
            UnaryOp::Neg => TensorData::I32(map1(v, |a| a.wrapping_neg())),
            UnaryOp::Abs => TensorData::I32(map1(v, |a| a.wrapping_abs())),
            _ => return Err(cx.type_err(format!("`{}` is not defined on i32", op.name()))),
        },
        _ => {
            let v = cx.floats::<T>(x, "operand")?;
            let f = unary_float::<T>(op);
            T::wrap(map1(v, |&a| f(a)))
        }
    };
    Ok(Tensor::from_parts(x.shape().to_vec(), data))
}

fn binary_float<T: Float>(op: BinaryOp) -> fn(T, T) -> T {
    match op {
        BinaryOp::Add => |a, b| a + b,
        BinaryOp::Sub => |a, b| a - b,
        BinaryOp::Mul => |a, b| a * b,
        BinaryOp::Div => |a, b| a / b,
        BinaryOp::Max => nan_max,
        BinaryOp::Min => nan_min,
        BinaryOp::Pow => |a: T, b| a.powf(b),
    }
}

/// `a op b` elementwise on equal shapes. Integer add/sub/mul wrap; integer division
/// truncates toward zero and fails on a zero divisor; float max/min propagate NaN.
pub(crate) fn binary<T: Float>(cx: &Ctx, op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let data = match (a.data(), b.data()) {
        (TensorData::I32(x), TensorData::I32(y)) => TensorData::I32(binary_int(cx, op, x, y)?),
        _ => {
            let x = cx.floats::<T>(a, "lhs")?;
            let y = cx.floats::<T>(b, "rhs")?;
            let f = binary_float::<T>(op);
            T::wrap(map2(x, y, |&p, &q| f(p, q)))
        }
    };
    Ok(Tensor::from_parts(a.shape().to_vec(), data))
}

fn binary_int(cx: &Ctx, op: BinaryOp, x: &[i32], y: &[i32]) -> Result<Vec<i32>> {
    Ok(match op {
        BinaryOp::Add => map2(x, y, |p, q| p.wrapping_add(*q)),
        BinaryOp::Sub => map2(x, y, |p, q| p.wrapping_sub(*q)),
        BinaryOp::Mul => map2(x, y, |p, q| p.wrapping_mul(*q)),
        BinaryOp::Max => map2(x, y, |p, q| *p.max(q)),
        BinaryOp::Min => map2(x, y, |p, q| *p.min(q)),
        BinaryOp::Div => {
            if let Some(position) = y.iter().position(|&q| q == 0) {
                return Err(crate::error::RuntimeError::DivisionByZero {
                    node: cx.node.name.clone(),
                    op: cx.node.op.name().to_string(),
                    position,
                });
            }
            map2(x, y, |p, q| p.wrapping_div(*q))
        }
        BinaryOp::Pow => return Err(cx.type_err("`pow` is not defined on i32")),
    })
}

fn compare_with<E: PartialOrd + Sync>(op: CmpOp, x: &[E], y: &[E]) -> Vec<bool> {
    match op {
        CmpOp::Lt => map2(x, y, |p, q| p < q),
        CmpOp::Le => map2(x, y, |p, q| p <= q),
        CmpOp::Gt => map2(x, y, |p, q| p > q),
        CmpOp::Ge => map2(x, y, |p, q| p >= q),
        CmpOp::Eq => map2(x, y, |p, q| p == q),
        CmpOp::Ne => map2(x, y, |p, q| p != q),
    }
}

/// `a op b` elementwise, giving bool. IEEE rules for floats (NaN compares unequal to
/// everything); `false < true` for bools.
pub(crate) fn compare<T: Float>(cx: &Ctx, op: CmpOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let out = match (a.data(), b.data()) {
        (TensorData::I32(x), TensorData::I32(y)) => compare_with(op, x, y),
        (TensorData::Bool(x), TensorData::Bool(y)) => compare_with(op, x, y),
        _ => compare_with(op, cx.floats::<T>(a, "lhs")?, cx.floats::<T>(b, "rhs")?),
    };
    Ok(Tensor::from_parts(
        a.shape().to_vec(),
        TensorData::Bool(out),
    ))
}

/// `a` where `cond`, else `b`.
pub(crate) fn select(cx: &Ctx, cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let c = cx.bools(cond, "condition")?;
    fn pick<E: Copy + Send + Sync>(c: &[bool], x: &[E], y: &[E]) -> Vec<E> {
        map_index(c.len(), |i| if c[i] { x[i] } else { y[i] })
    }
    let data = match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => TensorData::F32(pick(c, x, y)),
        (TensorData::F64(x), TensorData::F64(y)) => TensorData::F64(pick(c, x, y)),
        (TensorData::I32(x), TensorData::I32(y)) => TensorData::I32(pick(c, x, y)),
        (TensorData::Bool(x), TensorData::Bool(y)) => TensorData::Bool(pick(c, x, y)),
        _ => {
            return Err(cx.type_err(format!(
                "branches {} and {} differ in element type",
                a.type_string(),
                b.type_string()
            )));
        }
    };
    Ok(Tensor::from_parts(a.shape().to_vec(), data))
}

/// Convert to dtype `to`. Floats stay in the working precision (a cast between f32 and
/// f64 changes nothing); a cast to bf16 or f16 rounds the value to that format (round to
/// nearest even); to i32 truncates toward zero (saturating, NaN to 0); to bool is
/// `x != 0`; from bool gives 0 or 1.
pub(crate) fn cast<T: Float>(
    cx: &Ctx,
    x: &Tensor,
    to: DType,
    precision: Precision,
) -> Result<Tensor> {
    let as_working = |v: &[T]| -> TensorData {
        match to {
            DType::BF16 => T::wrap(map1(v, |a| a.round_bf16())),
            DType::F16 => T::wrap(map1(v, |a| a.round_f16())),
            _ => T::wrap(v.to_vec()),
        }
    };
    let data = match (x.data(), to) {
        (TensorData::I32(v), DType::I32) => TensorData::I32(v.clone()),
        (TensorData::I32(v), DType::Bool) => TensorData::Bool(map1(v, |&a| a != 0)),
        (TensorData::I32(v), _) => {
            let f: Vec<T> = map1(v, |&a| T::from_f64(a as f64));
            as_working(&f)
        }
        (TensorData::Bool(v), DType::Bool) => TensorData::Bool(v.clone()),
        (TensorData::Bool(v), DType::I32) => TensorData::I32(map1(v, |&a| a as i32)),
        (TensorData::Bool(v), _) => {
            let f: Vec<T> = map1(v, |&a| if a { T::ONE } else { T::ZERO });
            as_working(&f)
        }
        _ => {
            let v = cx.floats::<T>(x, "operand")?;
            match to {
                DType::I32 => TensorData::I32(map1(v, |&a| a.to_f64() as i32)),
                DType::Bool => TensorData::Bool(map1(v, |&a| a != T::ZERO)),
                _ => as_working(v),
            }
        }
    };
    debug_assert!(
        !to.is_float() || data.dtype() == precision.dtype(),
        "a float cast result is stored in the working precision"
    );
    Ok(Tensor::from_parts(x.shape().to_vec(), data))
}
