//! Representative kernel functions, built by hand as the partitioner would hand them over.
#![allow(dead_code)]

pub mod check;

use llc_ir::{Builder, DType, Function, NodeId, TensorType};

pub const F32: DType = DType::F32;

fn build(name: &str, f: impl FnOnce(&mut Builder) -> llc_ir::Result<Vec<NodeId>>) -> Function {
    let mut func = Function::new(name);
    let mut b = Builder::new(&mut func);
    let outs = f(&mut b).expect("the test kernel builds");
    for o in outs {
        b.output(o);
    }
    llc_ir::verify_function(&func, &Default::default()).expect("the test kernel verifies");
    func
}

/// `y = rms_norm(x, w)` over rows of `d`.
pub fn rms_norm(rows: usize, d: usize) -> Function {
    build("rms_norm", |b| {
        let x = b.input("x", F32, &[rows, d])?;
        let w = b.input("w", F32, &[d])?;
        Ok(vec![b.rms_norm(x, w, 1e-5)?])
    })
}

/// `dx = rms_norm_grad_x(x, w, dy)`.
pub fn rms_norm_grad_x(rows: usize, d: usize) -> Function {
    build("rms_norm_grad_x", |b| {
        let x = b.input("x", F32, &[rows, d])?;
        let w = b.input("w", F32, &[d])?;
        let dy = b.input("dy", F32, &[rows, d])?;
        Ok(vec![b.op(
            llc_ir::Op::RmsNormGradX {
                eps: llc_ir::Real(1e-5),
            },
            &[x, w, dy],
            None,
        )?])
    })
}

/// `dw = rms_norm_grad_w(x, dy)` for `x[b, t, d]`.
pub fn rms_norm_grad_w(b_: usize, t: usize, d: usize) -> Function {
    build("rms_norm_grad_w", |b| {
        let x = b.input("x", F32, &[b_, t, d])?;
        let dy = b.input("dy", F32, &[b_, t, d])?;
        Ok(vec![b.op(
            llc_ir::Op::RmsNormGradW {
                eps: llc_ir::Real(1e-5),
            },
            &[x, dy],
            None,
        )?])
    })
}

/// A residual-add-and-scale chain with a row-vector and a scalar broadcast:
/// `y = (a + b) * bias[d] + s`, `z = exp(-(a + b)) > 0.5`.
pub fn elementwise_chain(rows: usize, d: usize) -> Function {
    build("elementwise_chain", |b| {
        let a = b.input("a", F32, &[rows, d])?;
        let bb = b.input("b", F32, &[rows, d])?;
        let bias = b.input("bias", F32, &[d])?;
        let s = b.input("s", F32, &[])?;
        let sum = b.add(a, bb)?;
        let biasb = b.broadcast(bias, &[rows, d])?;
        let y = b.mul(sum, biasb)?;
        let sb = b.broadcast(s, &[rows, d])?;
        let y = b.add(y, sb)?;
        let n = b.neg(sum)?;
        let e = b.exp(n)?;
        let half = b.full_like(e, 0.5)?;
        let z = b.compare(llc_ir::CmpOp::Gt, e, half)?;
        let z = b.cast(z, F32)?;
        Ok(vec![y, z])
    })
}

/// One AdamW step for a parameter of `shape`: `(p, g, m, v, lr, bc1, bc2, clip)` with
/// scalar learning rate, bias corrections `1/(1-β^t)` and gradient clip scale.
/// Outputs `(p', m', v')`.
pub fn adamw(shape: &[usize]) -> Function {
    let (b1, b2, eps, wd) = (0.9, 0.95, 1e-5, 0.1);
    build("adamw", |b| {
        let p = b.input("p", F32, shape)?;
        let g = b.input("g", F32, shape)?;
        let m = b.input("m", F32, shape)?;
        let v = b.input("v", F32, shape)?;
        let lr = b.input("lr", F32, &[])?;
        let bc1 = b.input("bc1", F32, &[])?;
        let bc2 = b.input("bc2", F32, &[])?;
        let clip = b.input("clip", F32, &[])?;
        let clip = b.broadcast(clip, shape)?;
        let g = b.mul(g, clip)?;
        let m1 = b.mul_scalar(m, b1)?;
        let gm = b.mul_scalar(g, 1.0 - b1)?;
        let m2 = b.add(m1, gm)?;
        let v1 = b.mul_scalar(v, b2)?;
        let g2 = b.mul(g, g)?;
        let g2 = b.mul_scalar(g2, 1.0 - b2)?;
        let v2 = b.add(v1, g2)?;
        let bc1 = b.broadcast(bc1, shape)?;
        let bc2 = b.broadcast(bc2, shape)?;
        let mh = b.mul(m2, bc1)?;
        let vh = b.mul(v2, bc2)?;
        let den = b.sqrt(vh)?;
        let den = b.add_scalar(den, eps)?;
        let upd = b.div(mh, den)?;
        let decay = b.mul_scalar(p, wd)?;
        let upd = b.add(upd, decay)?;
        let lr = b.broadcast(lr, shape)?;
        let step = b.mul(upd, lr)?;
        let p2 = b.sub(p, step)?;
        Ok(vec![p2, m2, v2])
    })
}

/// `softmax(x)` over the last axis of `x[b, h, t, t]`.
pub fn softmax(shape: &[usize]) -> Function {
    build("softmax", |b| {
        let x = b.input("x", F32, shape)?;
        Ok(vec![b.softmax(x)?])
    })
}

/// `softmax_grad(y, dy)`.
pub fn softmax_grad(shape: &[usize]) -> Function {
    build("softmax_grad", |b| {
        let y = b.input("y", F32, shape)?;
        let dy = b.input("dy", F32, shape)?;
        Ok(vec![b.op(llc_ir::Op::SoftmaxGrad, &[y, dy], None)?])
    })
}

/// Per-row loss `cross_entropy(logits[r, v], targets[r])`.
pub fn cross_entropy(rows: usize, v: usize) -> Function {
    build("cross_entropy", |b| {
        let x = b.input("logits", F32, &[rows, v])?;
        let t = b.input("targets", DType::I32, &[rows])?;
        Ok(vec![b.cross_entropy(x, t)?])
    })
}

/// `cross_entropy_grad(logits, targets, dnll)`.
pub fn cross_entropy_grad(rows: usize, v: usize) -> Function {
    build("cross_entropy_grad", |b| {
        let x = b.input("logits", F32, &[rows, v])?;
        let t = b.input("targets", DType::I32, &[rows])?;
        let d = b.input("dnll", F32, &[rows])?;
        Ok(vec![b.op(
            llc_ir::Op::CrossEntropyGrad,
            &[x, t, d],
            None,
        )?])
    })
}

/// The mean loss: `sum(cross_entropy(logits, targets)) / rows`, a scalar.
pub fn mean_loss(rows: usize, v: usize) -> Function {
    build("mean_loss", |b| {
        let x = b.input("logits", F32, &[rows, v])?;
        let t = b.input("targets", DType::I32, &[rows])?;
        let nll = b.cross_entropy(x, t)?;
        let s = b.sum_all(nll)?;
        Ok(vec![b.mul_scalar(s, 1.0 / rows as f64)?])
    })
}

/// `sum(g²)` over all elements, a scalar (the squared gradient norm).
pub fn sum_squares(shape: &[usize]) -> Function {
    build("sum_squares", |b| {
        let g = b.input("g", F32, shape)?;
        let sq = b.mul(g, g)?;
        Ok(vec![b.sum_all(sq)?])
    })
}

/// `swiglu(a, b)` and its two gradients in one kernel.
pub fn swiglu_fwd_bwd(shape: &[usize]) -> Function {
    build("swiglu", |b| {
        let a = b.input("a", F32, shape)?;
        let bb = b.input("b", F32, shape)?;
        let dy = b.input("dy", F32, shape)?;
        let y = b.swiglu(a, bb)?;
        let da = b.op(llc_ir::Op::SwigluGradA, &[a, bb, dy], None)?;
        let db = b.op(llc_ir::Op::SwigluGradB, &[a, dy], None)?;
        Ok(vec![y, da, db])
    })
}

/// `rope(x)` for `x[b, t, h, hd]`.
pub fn rope(shape: &[usize], inverse: bool) -> Function {
    build("rope", |b| {
        let x = b.input("x", F32, shape)?;
        Ok(vec![b.rope(x, 10000.0, inverse)?])
    })
}

/// `reduce_{kind}(x, axes)` of `x[shape]`, optionally followed by `* 2`.
pub fn reduce(shape: &[usize], axes: &[usize], kind: llc_ir::ReduceKind, keep: bool) -> Function {
    build("reduce", |b| {
        let x = b.input("x", F32, shape)?;
        let r = b.reduce(kind, x, axes, keep)?;
        Ok(vec![b.mul_scalar(r, 2.0)?])
    })
}

/// Causal-masked, scaled softmax of attention scores `s[b, h, t, t]`, with the mask
/// built from two iotas (a row kernel whose mask depends on the row's query position).
pub fn masked_softmax(b_: usize, h: usize, t: usize) -> Function {
    build("masked_softmax", |b| {
        let shape = [b_, h, t, t];
        let s = b.input("s", F32, &shape)?;
        let q = b.iota(TensorType::new(DType::I32, shape.to_vec()), 2)?;
        let k = b.iota(TensorType::new(DType::I32, shape.to_vec()), 3)?;
        let keep = b.compare(llc_ir::CmpOp::Le, k, q)?;
        let scaled = b.mul_scalar(s, 0.125)?;
        let ninf = b.full_like(s, f64::NEG_INFINITY)?;
        let masked = b.select(keep, scaled, ninf)?;
        Ok(vec![b.softmax(masked)?])
    })
}

/// Integer and bool elementwise ops: `(abs(i) max j) as f32 * [i > j]`, `i / 3`.
pub fn int_ops(n: usize) -> Function {
    build("int_ops", |b| {
        let i = b.input("i", DType::I32, &[n])?;
        let j = b.input("j", DType::I32, &[n])?;
        let m = b.input("m", DType::Bool, &[n])?;
        let a = b.unary(llc_ir::UnaryOp::Abs, i)?;
        let mx = b.max(a, j)?;
        let f = b.cast(mx, F32)?;
        let gt = b.compare(llc_ir::CmpOp::Gt, i, j)?;
        let both = b.select(m, gt, m)?;
        let g = b.cast(both, F32)?;
        let y = b.mul(f, g)?;
        let three = b.full_like(i, 3.0)?;
        let q = b.div(i, three)?;
        Ok(vec![y, q, both])
    })
}

/// Attention's head transpose `[b, t, h, hd] -> [b, h, t, hd]`.
pub fn heads_transpose(shape: &[usize]) -> Function {
    build("heads_transpose", |b| {
        let x = b.input("x", F32, shape)?;
        Ok(vec![b.transpose(x, &[0, 2, 1, 3])?])
    })
}

/// Concatenation of `[r, a]` and `[r, b]` along the last axis.
pub fn concat_last(r: usize, a: usize, bb: usize) -> Function {
    build("concat", |b| {
        let x = b.input("x", F32, &[r, a])?;
        let y = b.input("y", F32, &[r, bb])?;
        Ok(vec![b.concat(&[x, y], 1)?])
    })
}

/// Embedding lookup `table[v, d]` at `tokens[n]`.
pub fn embedding(v: usize, d: usize, n: usize) -> Function {
    build("embedding", |b| {
        let t = b.input("table", F32, &[v, d])?;
        let i = b.input("tokens", DType::I32, &[n])?;
        Ok(vec![b.gather(t, i)?])
    })
}

/// Embedding gradient: `scatter_add(tokens[n], g[n, d])` into `[v, d]`.
pub fn embedding_grad(v: usize, d: usize, n: usize) -> Function {
    build("embedding_grad", |b| {
        let i = b.input("tokens", DType::I32, &[n])?;
        let g = b.input("g", F32, &[n, d])?;
        Ok(vec![b.scatter_add(i, g, v)?])
    })
}

/// A matmul: not a kernel.
pub fn matmul() -> Function {
    build("matmul", |b| {
        let x = b.input("x", F32, &[4, 8])?;
        let w = b.input("w", F32, &[8, 16])?;
        Ok(vec![b.matmul(x, w)?])
    })
}

/// A type for tests.
pub fn ty(shape: &[usize]) -> TensorType {
    TensorType::new(F32, shape)
}
