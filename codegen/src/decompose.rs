//! Fused ops rewritten into the primitive row form the strategies emit generically.
//!
//! A kernel may contain the fused ops the optimizer introduces (`rms_norm`, `softmax`,
//! `cross_entropy`, `swiglu` and their gradients). Each becomes its textbook formula in
//! elementwise ops, broadcasts and reductions over the last axis (kept as a size-1 dim and
//! broadcast back), so one generic emitter covers them all and a new fused op only needs a
//! formula here. The formulas follow the interpreter's (see `llc-runtime`'s `interp`):
//!
//! - `rms_norm(x, w)`: `r = rsqrt(sum(x²)·(1/D) + eps)`, `y = x·r·w`
//! - `rms_norm_grad_x(x, w, dy)`: `g = w·dy`, `dx = r·g − x·(r³·sum(g·x)·(1/D))`
//! - `rms_norm_grad_w(x, dy)`: `dw = sum over rows of dy·x·r`
//! - `softmax(x)`: `e = exp(x − max(x))`, `y = e·(1/sum(e))`
//! - `softmax_grad(y, dy)`: `dx = y·(dy − sum(y·dy))`
//! - `cross_entropy(x, t)`: `log(sum(e)) + max(x) − sum(select(iota = t, x, 0))`
//! - `cross_entropy_grad(x, t, dnll)`: `(e·(1/sum(e)) − onehot(t))·dnll`
//! - `swiglu(a, b) = a·σ(a)·b`, `da = dy·b·σ(a)·(1 + a·(1 − σ(a)))`, `db = dy·a·σ(a)`
//!
//! `rope` stays an op: the emitter computes its angles from the element's coordinates.

use crate::error::{CodegenError, Result};
use llc_ir::{Builder, CmpOp, DType, Function, NodeId, Op, TensorType, UnaryOp};
use std::collections::HashMap;

/// A copy of `f` with every fused op except `rope` replaced by primitive ops. Arguments
/// and outputs keep their order, so parameter positions are unchanged.
pub(crate) fn decompose(f: &Function) -> Result<Function> {
    let mut out = Function::new(f.name.clone());
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    let order = f.topo_order().map_err(|source| CodegenError::InvalidIr {
        kernel: f.name.clone(),
        source,
    })?;
    let err = |source| CodegenError::InvalidIr {
        kernel: f.name.clone(),
        source,
    };
    for &a in f.args() {
        let n = f.node(a);
        let role = f.arg_role(a).expect("an argument node has a role");
        let id = out.add_arg(&n.name, role, n.ty.clone()).map_err(err)?;
        map.insert(a, id);
    }
    for id in order {
        if map.contains_key(&id) {
            continue;
        }
        let node = f.node(id);
        let ops: Vec<NodeId> = f.operands(id).iter().map(|o| map[o]).collect();
        let new = {
            let mut b = Builder::new(&mut out);
            b.push_scope(node.name.clone());
            let r = expand(&mut b, &node.op, &ops, &node.ty);
            b.pop_scope();
            r.map_err(err)?
        };
        let new = match new {
            Some(n) => n,
            None => {
                let name = out.unique_name(&node.name);
                out.insert(&name, node.op.clone(), &ops, node.ty.clone())
                    .map_err(err)?
            }
        };
        map.insert(id, new);
    }
    for o in f.outputs() {
        out.add_output(map[&o.node], o.updates.map(|u| map[&u]));
    }
    Ok(out)
}

/// The primitive form of one fused op, or `None` to copy the op unchanged.
fn expand(
    b: &mut Builder,
    op: &Op,
    x: &[NodeId],
    ty: &TensorType,
) -> llc_ir::Result<Option<NodeId>> {
    Ok(Some(match op {
        Op::RmsNorm { eps } => {
            let shape = b.shape(x[0]);
            let r = inv_rms(b, x[0], eps.0)?;
            let r = b.broadcast(r, &shape)?;
            let w = b.broadcast(x[1], &shape)?;
            let xr = b.mul(x[0], r)?;
            b.mul(xr, w)?
        }
        Op::RmsNormGradX { eps } => {
            let (xv, w, dy) = (x[0], x[1], x[2]);
            let shape = b.shape(xv);
            let last = shape.len() - 1;
            let d = shape[last] as f64;
            let r = inv_rms(b, xv, eps.0)?;
            let wb = b.broadcast(w, &shape)?;
            let g = b.mul(wb, dy)?;
            let gx = b.mul(g, xv)?;
            let dot = b.reduce_sum(gx, &[last], true)?;
            let r2 = b.mul(r, r)?;
            let r3 = b.mul(r2, r)?;
            let c = b.mul(r3, dot)?;
            let c = b.mul_scalar(c, 1.0 / d)?;
            let rb = b.broadcast(r, &shape)?;
            let cb = b.broadcast(c, &shape)?;
            let t1 = b.mul(rb, g)?;
            let t2 = b.mul(xv, cb)?;
            b.sub(t1, t2)?
        }
        Op::RmsNormGradW { eps } => {
            let (xv, dy) = (x[0], x[1]);
            let shape = b.shape(xv);
            let r = inv_rms(b, xv, eps.0)?;
            let rb = b.broadcast(r, &shape)?;
            let p = b.mul(dy, xv)?;
            let p = b.mul(p, rb)?;
            if shape.len() == 1 {
                p
            } else {
                let rows: Vec<usize> = (0..shape.len() - 1).collect();
                b.reduce_sum(p, &rows, false)?
            }
        }
        Op::Softmax => {
            let (e, inv) = exp_and_inv_sum(b, x[0])?;
            let shape = b.shape(x[0]);
            let inv = b.broadcast(inv, &shape)?;
            b.mul(e, inv)?
        }
        Op::SoftmaxGrad => {
            let (y, dy) = (x[0], x[1]);
            let shape = b.shape(y);
            let yd = b.mul(y, dy)?;
            let dot = b.reduce_sum(yd, &[shape.len() - 1], true)?;
            let dot = b.broadcast(dot, &shape)?;
            let d = b.sub(dy, dot)?;
            b.mul(y, d)?
        }
        Op::CrossEntropy => {
            let (logits, t) = (x[0], x[1]);
            let shape = b.shape(logits);
            let last = shape.len() - 1;
            let m = b.reduce_max(logits, &[last], true)?;
            let mb = b.broadcast(m, &shape)?;
            let z = b.sub(logits, mb)?;
            let e = b.exp(z)?;
            let s = b.reduce_sum(e, &[last], true)?;
            let lse = b.log(s)?;
            let lse = b.add(lse, m)?;
            let hot = one_hot(b, logits, t)?;
            let zero = b.full_like(logits, 0.0)?;
            let sel = b.select(hot, logits, zero)?;
            let picked = b.reduce_sum(sel, &[last], true)?;
            let nll = b.sub(lse, picked)?;
            b.reshape(nll, &ty.shape)?
        }
        Op::CrossEntropyGrad => {
            let (logits, t, dnll) = (x[0], x[1], x[2]);
            let shape = b.shape(logits);
            let (e, inv) = exp_and_inv_sum(b, logits)?;
            let inv = b.broadcast(inv, &shape)?;
            let p = b.mul(e, inv)?;
            let hot = one_hot(b, logits, t)?;
            let one = b.full_like(logits, 1.0)?;
            let zero = b.full_like(logits, 0.0)?;
            let hot = b.select(hot, one, zero)?;
            let diff = b.sub(p, hot)?;
            let mut kept = shape.clone();
            *kept.last_mut().expect("logits have rank >= 1") = 1;
            let g = b.reshape(dnll, &kept)?;
            let g = b.broadcast(g, &shape)?;
            b.mul(diff, g)?
        }
        Op::Swiglu => {
            let s = b.sigmoid(x[0])?;
            let a = b.mul(x[0], s)?;
            b.mul(a, x[1])?
        }
        Op::SwigluGradA => {
            let (a, bb, dy) = (x[0], x[1], x[2]);
            let s = b.unary(UnaryOp::Sigmoid, a)?;
            let one = b.full_like(a, 1.0)?;
            let oms = b.sub(one, s)?;
            let t = b.mul(a, oms)?;
            let t = b.add(one, t)?;
            let g = b.mul(dy, bb)?;
            let g = b.mul(g, s)?;
            b.mul(g, t)?
        }
        Op::SwigluGradB => {
            let (a, dy) = (x[0], x[1]);
            let s = b.sigmoid(a)?;
            let g = b.mul(dy, a)?;
            b.mul(g, s)?
        }
        _ => return Ok(None),
    }))
}

/// `rsqrt(sum(x², last, keep) · (1/D) + eps)`, shape `[..., 1]`.
fn inv_rms(b: &mut Builder, x: NodeId, eps: f64) -> llc_ir::Result<NodeId> {
    let shape = b.shape(x);
    let last = shape.len() - 1;
    let sq = b.mul(x, x)?;
    let ss = b.reduce_sum(sq, &[last], true)?;
    let ms = b.mul_scalar(ss, 1.0 / shape[last] as f64)?;
    let me = b.add_scalar(ms, eps)?;
    b.rsqrt(me)
}

/// `(exp(x − max(x)), 1/sum(exp(x − max(x))))` over the last axis; the second is `[..., 1]`.
fn exp_and_inv_sum(b: &mut Builder, x: NodeId) -> llc_ir::Result<(NodeId, NodeId)> {
    let shape = b.shape(x);
    let last = shape.len() - 1;
    let m = b.reduce_max(x, &[last], true)?;
    let m = b.broadcast(m, &shape)?;
    let z = b.sub(x, m)?;
    let e = b.exp(z)?;
    let s = b.reduce_sum(e, &[last], true)?;
    let inv = b.recip(s)?;
    Ok((e, inv))
}

/// `iota(last axis) == t` as a bool tensor of the logits' shape.
fn one_hot(b: &mut Builder, logits: NodeId, t: NodeId) -> llc_ir::Result<NodeId> {
    let shape = b.shape(logits);
    let last = shape.len() - 1;
    let iota = b.iota(TensorType::new(DType::I32, shape.clone()), last)?;
    let mut kept = shape.clone();
    kept[last] = 1;
    let t = b.reshape(t, &kept)?;
    let t = b.broadcast(t, &shape)?;
    b.compare(CmpOp::Eq, iota, t)
}
