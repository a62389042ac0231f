//! The VJP rules: one match over [`Op`] that, given a node `y = op(x0, x1, ..)` and the
//! cotangent `g = dL/dy`, builds each operand's cotangent contribution `dL/dxi`.
//!
//! Conventions (documented here because they are choices, not mathematics):
//! - `max(a, b)` / `min(a, b)` at ties send the whole gradient to `a` (the first operand).
//! - `abs` at 0 has gradient 0 (`sign(0) = 0`, as in PyTorch).
//! - `reduce_max` splits the gradient evenly between tied maxima (PyTorch `amax`).
//! - `pow(a, b)`: the gradient wrt `b` is 0 where `a == 0` and `b >= 0` (PyTorch);
//!   elsewhere it is `g * a^b * log(a)`, NaN for negative `a`.
//! - `compare`, `iota`, `full`, integer and bool values carry no gradient; the condition
//!   of `select` and the indices of `gather`/`scatter_add`/`cross_entropy` get none.
//! - `all_reduce` differentiates the sum of every rank's loss: `y = sum_r x_r` (or the
//!   mean) is replicated, so `dL/dx_r = sum_r' g_r'` (or the mean): the VJP of an
//!   `all_reduce` is the same `all_reduce` of the cotangent.

use super::helpers::{
    flatten_rows, inverse_perm, keep_dims_shape, transpose_last2, unbroadcast, zeros,
};
use crate::error::PassError;
use llc_ir::{AttnOperand, BinaryOp, Builder, CmpOp, NodeId, Op, UnaryOp};

/// Cotangent contributions of `y`'s operands, one entry per operand slot; `None` where
/// the operand needs no gradient (`needs[i]` false) or has none.
pub(crate) fn vjp(
    b: &mut Builder<'_>,
    y: NodeId,
    xs: &[NodeId],
    needs: &[bool],
    g: NodeId,
) -> Result<Vec<Option<NodeId>>, PassError> {
    let op = b.func.node(y).op.clone();
    let mut out: Vec<Option<NodeId>> = vec![None; xs.len()];
    // `set!(slot, expr)`: evaluate `expr` only when that operand needs a gradient.
    macro_rules! set {
        ($i:expr, $e:expr) => {
            if needs[$i] {
                out[$i] = Some($e);
            }
        };
    }
    match op {
        Op::Arg { .. } | Op::Full { .. } | Op::Iota { .. } | Op::Compare { .. } => {}
        Op::Unary { op: u } => {
            let x = xs[0];
            set!(0, unary_vjp(b, u, x, y, g)?);
        }
        Op::Binary { op: bo } => {
            let (a, c) = (xs[0], xs[1]);
            match bo {
                BinaryOp::Add => {
                    set!(0, g);
                    set!(1, g);
                }
                BinaryOp::Sub => {
                    set!(0, g);
                    set!(1, b.neg(g)?);
                }
                BinaryOp::Mul => {
                    set!(0, b.mul(g, c)?);
                    set!(1, b.mul(g, a)?);
                }
                BinaryOp::Div => {
                    set!(0, b.div(g, c)?);
                    // d/dc (a / c) = -a / c^2 = -y / c
                    set!(1, {
                        let t = b.div(y, c)?;
                        let t = b.mul(g, t)?;
                        b.neg(t)?
                    });
                }
                BinaryOp::Max | BinaryOp::Min => {
                    let cmp = if bo == BinaryOp::Max {
                        CmpOp::Ge
                    } else {
                        CmpOp::Le
                    };
                    let first_wins = b.compare(cmp, a, c)?;
                    let z = b.full_like(g, 0.0)?;
                    set!(0, b.select(first_wins, g, z)?);
                    set!(1, b.select(first_wins, z, g)?);
                }
                BinaryOp::Pow => {
                    // d/da a^c = c * a^(c - 1)
                    set!(0, {
                        let cm1 = b.add_scalar(c, -1.0)?;
                        let p = b.pow(a, cm1)?;
                        let t = b.mul(c, p)?;
                        b.mul(g, t)?
                    });
                    // d/dc a^c = a^c * log(a), masked to 0 where a == 0 and c >= 0
                    set!(1, {
                        let la = b.log(a)?;
                        let t = b.mul(y, la)?;
                        let t = b.mul(g, t)?;
                        let z = b.full_like(g, 0.0)?;
                        let a_zero = b.compare(CmpOp::Eq, a, z)?;
                        let c_nonneg = b.compare(CmpOp::Ge, c, z)?;
                        let masked = b.select(c_nonneg, z, t)?;
                        b.select(a_zero, masked, t)?
                    });
                }
            }
        }
        Op::Select => {
            let cond = xs[0];
            let z = b.full_like(g, 0.0)?;
            set!(1, b.select(cond, g, z)?);
            set!(2, b.select(cond, z, g)?);
        }
        Op::Cast => {
            let dt = b.ty(xs[0]).dtype;
            set!(0, b.cast(g, dt)?);
        }
        Op::Broadcast => {
            let target = b.shape(xs[0]);
            set!(0, unbroadcast(b, g, &target)?);
        }
        Op::Reshape => {
            let target = b.shape(xs[0]);
            set!(0, b.reshape(g, &target)?);
        }
        Op::Transpose { perm } => {
            set!(0, b.transpose(g, &inverse_perm(&perm))?);
        }
        Op::Slice { axis, start, end } => {
            set!(0, {
                let xt = b.ty(xs[0]).clone();
                let mut parts = Vec::with_capacity(3);
                if start > 0 {
                    let mut s = xt.shape.clone();
                    s[axis] = start;
                    parts.push(zeros(b, &xt.with_shape(s))?);
                }
                parts.push(g);
                if end < xt.shape[axis] {
                    let mut s = xt.shape.clone();
                    s[axis] = xt.shape[axis] - end;
                    parts.push(zeros(b, &xt.with_shape(s))?);
                }
                if parts.len() == 1 {
                    g
                } else {
                    b.concat(&parts, axis)?
                }
            });
        }
        Op::Concat { axis } => {
            let total = b.shape(g)[axis];
            let mut offset = 0;
            for (i, &x) in xs.iter().enumerate() {
                let len = b.shape(x)[axis];
                if needs[i] {
                    out[i] = Some(if offset == 0 && len == total {
                        g
                    } else {
                        b.slice(g, axis, offset, offset + len)?
                    });
                }
                offset += len;
            }
        }
        Op::Reduce { kind, axes, .. } => {
            let x = xs[0];
            let xshape = b.shape(x);
            let kshape = keep_dims_shape(&xshape, &axes);
            let gk = b.reshape(g, &kshape)?;
            match kind {
                llc_ir::ReduceKind::Sum => set!(0, b.broadcast(gk, &xshape)?),
                llc_ir::ReduceKind::Max => set!(0, {
                    // Positions equal to the maximum share the gradient evenly.
                    let yk = b.reshape(y, &kshape)?;
                    let yb = b.broadcast(yk, &xshape)?;
                    let is_max = b.compare(CmpOp::Eq, x, yb)?;
                    let xt = b.ty(x).clone();
                    let one = b.full(1.0, xt.clone())?;
                    let z = zeros(b, &xt)?;
                    let hits = b.select(is_max, one, z)?;
                    let count = b.reduce_sum(hits, &axes, true)?;
                    let share = b.div(gk, count)?;
                    let share = b.broadcast(share, &xshape)?;
                    b.select(is_max, share, z)?
                }),
            }
        }
        Op::MatMul {
            transpose_lhs: tl,
            transpose_rhs: tr,
        } => {
            let (lhs, rhs) = (xs[0], xs[1]);
            let shared_rhs = b.ty(rhs).rank() == 2 && b.ty(lhs).rank() > 2;
            set!(0, {
                if !tl {
                    // dA = g @ B'^T
                    b.matmul_t(g, rhs, false, !tr)?
                } else if !shared_rhs {
                    // dA = (g @ B'^T)^T = B' @ g^T
                    b.matmul_t(rhs, g, tr, true)?
                } else {
                    let t = b.matmul_t(g, rhs, false, !tr)?;
                    transpose_last2(b, t)?
                }
            });
            set!(1, {
                if shared_rhs {
                    // The weight is shared by every batch: flatten the batch into rows so
                    // its gradient is one rank-2 matmul (the sum over batches is the
                    // contraction itself).
                    let a_rows = if tl {
                        let t = transpose_last2(b, lhs)?;
                        flatten_rows(b, t)?
                    } else {
                        flatten_rows(b, lhs)?
                    };
                    let g_rows = flatten_rows(b, g)?;
                    if !tr {
                        b.matmul_t(a_rows, g_rows, true, false)?
                    } else {
                        b.matmul_t(g_rows, a_rows, true, false)?
                    }
                } else if !tr {
                    // dB = A'^T @ g
                    b.matmul_t(lhs, g, !tl, false)?
                } else {
                    // dB = (A'^T @ g)^T = g^T @ A'
                    b.matmul_t(g, lhs, true, tl)?
                }
            });
        }
        Op::Gather => {
            let (table, idx) = (xs[0], xs[1]);
            let rows = b.shape(table)[0];
            set!(0, b.scatter_add(idx, g, rows)?);
        }
        Op::ScatterAdd => {
            let idx = xs[0];
            set!(1, b.gather(g, idx)?);
        }
        Op::RmsNorm { eps } => {
            let (x, w) = (xs[0], xs[1]);
            set!(0, b.op(Op::RmsNormGradX { eps }, &[x, w, g], None)?);
            set!(1, b.op(Op::RmsNormGradW { eps }, &[x, g], None)?);
        }
        Op::Swiglu => {
            let (a, c) = (xs[0], xs[1]);
            set!(0, b.op(Op::SwigluGradA, &[a, c, g], None)?);
            set!(1, b.op(Op::SwigluGradB, &[a, g], None)?);
        }
        Op::Rope { theta, inverse } => {
            set!(0, b.rope(g, theta.0, !inverse)?);
        }
        Op::Softmax => {
            set!(0, b.op(Op::SoftmaxGrad, &[y, g], None)?);
        }
        Op::Attention { scale, causal } => {
            let qkv_dy = [xs[0], xs[1], xs[2], g];
            for (i, wrt) in [AttnOperand::Q, AttnOperand::K, AttnOperand::V]
                .into_iter()
                .enumerate()
            {
                set!(i, b.attention_grad(wrt, qkv_dy, scale.0, causal)?);
            }
        }
        Op::CrossEntropy => {
            let (logits, targets) = (xs[0], xs[1]);
            set!(0, b.op(Op::CrossEntropyGrad, &[logits, targets, g], None)?);
        }
        Op::AllReduce { kind } => set!(0, b.all_reduce(g, kind)?),
        Op::RmsNormGradX { .. }
        | Op::RmsNormGradW { .. }
        | Op::SwigluGradA
        | Op::SwigluGradB
        | Op::SoftmaxGrad
        | Op::AttentionGrad { .. }
        | Op::CrossEntropyGrad => {
            let f = &*b.func;
            let operand_types = xs
                .iter()
                .map(|&x| f.ty(x).to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PassError::NotDifferentiable {
                func: f.name.clone(),
                node: f.node(y).name.clone(),
                op: op.name(),
                operand_types,
            });
        }
    }
    Ok(out)
}

/// `dL/dx` of `y = u(x)` given `g = dL/dy`.
fn unary_vjp(
    b: &mut Builder<'_>,
    u: UnaryOp,
    x: NodeId,
    y: NodeId,
    g: NodeId,
) -> llc_ir::Result<NodeId> {
    match u {
        UnaryOp::Neg => b.neg(g),
        UnaryOp::Abs => {
            // g * sign(x), sign(0) = 0
            let z = b.full_like(x, 0.0)?;
            let pos = b.compare(CmpOp::Gt, x, z)?;
            let negx = b.compare(CmpOp::Lt, x, z)?;
            let ng = b.neg(g)?;
            let inner = b.select(negx, ng, z)?;
            b.select(pos, g, inner)
        }
        UnaryOp::Exp => b.mul(g, y),
        UnaryOp::Log => b.div(g, x),
        UnaryOp::Sqrt => {
            // g / (2 sqrt(x))
            let t = b.div(g, y)?;
            b.mul_scalar(t, 0.5)
        }
        UnaryOp::Rsqrt => {
            // d/dx x^(-1/2) = -1/2 x^(-3/2) = -0.5 * y / x
            let t = b.div(y, x)?;
            let t = b.mul_scalar(t, -0.5)?;
            b.mul(g, t)
        }
        UnaryOp::Recip => {
            // d/dx 1/x = -y^2
            let t = b.mul(y, y)?;
            let t = b.mul(g, t)?;
            b.neg(t)
        }
        UnaryOp::Sin => {
            let c = b.cos(x)?;
            b.mul(g, c)
        }
        UnaryOp::Cos => {
            let s = b.sin(x)?;
            let t = b.mul(g, s)?;
            b.neg(t)
        }
        UnaryOp::Tanh => {
            // 1 - y^2
            let y2 = b.mul(y, y)?;
            let one = b.full_like(y, 1.0)?;
            let d = b.sub(one, y2)?;
            b.mul(g, d)
        }
        UnaryOp::Sigmoid => {
            // y (1 - y)
            let one = b.full_like(y, 1.0)?;
            let omy = b.sub(one, y)?;
            let d = b.mul(y, omy)?;
            b.mul(g, d)
        }
    }
}
