//! A checked, ergonomic way to build functions: every method infers the result type (so a
//! mistake is caught where it is made) and names the value after its scope and op.

use crate::dtype::{DType, TensorType};
use crate::error::Result;
use crate::graph::{Function, NodeId};
use crate::op::{ArgRole, AttnOperand, BinaryOp, CmpOp, Op, Real, ReduceKind, UnaryOp};

/// Builds into a [`Function`]; values are named `scope.op` (made unique with `.N`).
pub struct Builder<'f> {
    pub func: &'f mut Function,
    scope: Vec<String>,
}

impl<'f> Builder<'f> {
    pub fn new(func: &'f mut Function) -> Self {
        Builder {
            func,
            scope: Vec::new(),
        }
    }

    /// Enter a naming scope (`layers.3`, `attn`); values made inside are prefixed by it.
    pub fn push_scope(&mut self, s: impl Into<String>) {
        self.scope.push(s.into());
    }

    pub fn pop_scope(&mut self) {
        self.scope.pop();
    }

    fn scoped(&self, base: &str) -> String {
        if self.scope.is_empty() {
            base.to_string()
        } else {
            format!("{}.{base}", self.scope.join("."))
        }
    }

    /// Give a value a readable name within the current scope (made unique if taken).
    pub fn name(&mut self, id: NodeId, base: &str) -> Result<NodeId> {
        let full = self.scoped(base);
        if self.func.node(id).name != full {
            let name = self.func.unique_name(&full);
            self.func.rename(id, &name)?;
        }
        Ok(id)
    }

    pub fn ty(&self, id: NodeId) -> &TensorType {
        self.func.ty(id)
    }

    pub fn shape(&self, id: NodeId) -> Vec<usize> {
        self.func.ty(id).shape.clone()
    }

    /// Add any op; the type is inferred (or `declared` for ops that need one).
    pub fn op(
        &mut self,
        op: Op,
        operands: &[NodeId],
        declared: Option<TensorType>,
    ) -> Result<NodeId> {
        let base = self.scoped(op.name());
        self.func.add(&base, op, operands, declared)
    }

    // ---- arguments ----

    /// A function argument, named exactly `name` (no scope), appended to the signature.
    pub fn arg(&mut self, name: &str, role: ArgRole, ty: TensorType) -> Result<NodeId> {
        self.func.add_arg(name, role, ty)
    }
    pub fn param(&mut self, name: &str, dtype: DType, shape: &[usize]) -> Result<NodeId> {
        self.arg(name, ArgRole::Param, TensorType::new(dtype, shape))
    }
    pub fn input(&mut self, name: &str, dtype: DType, shape: &[usize]) -> Result<NodeId> {
        self.arg(name, ArgRole::Input, TensorType::new(dtype, shape))
    }
    pub fn state(&mut self, name: &str, dtype: DType, shape: &[usize]) -> Result<NodeId> {
        self.arg(name, ArgRole::State, TensorType::new(dtype, shape))
    }

    // ---- leaves ----

    pub fn full(&mut self, value: f64, ty: TensorType) -> Result<NodeId> {
        self.op(Op::Full { value: Real(value) }, &[], Some(ty))
    }
    /// A constant with the type of `like`.
    pub fn full_like(&mut self, like: NodeId, value: f64) -> Result<NodeId> {
        let ty = self.ty(like).clone();
        self.full(value, ty)
    }
    pub fn scalar(&mut self, value: f64, dtype: DType) -> Result<NodeId> {
        self.full(value, TensorType::scalar(dtype))
    }
    pub fn iota(&mut self, ty: TensorType, axis: usize) -> Result<NodeId> {
        self.op(Op::Iota { axis }, &[], Some(ty))
    }

    // ---- elementwise ----

    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId> {
        self.op(Op::Unary { op }, &[x], None)
    }
    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.op(Op::Binary { op }, &[a, b], None)
    }
    pub fn neg(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Neg, x)
    }
    pub fn exp(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Exp, x)
    }
    pub fn log(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Log, x)
    }
    pub fn sqrt(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Sqrt, x)
    }
    pub fn rsqrt(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Rsqrt, x)
    }
    pub fn recip(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Recip, x)
    }
    pub fn sin(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Sin, x)
    }
    pub fn cos(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Cos, x)
    }
    pub fn sigmoid(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Sigmoid, x)
    }
    pub fn add(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Div, a, b)
    }
    pub fn max(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Max, a, b)
    }
    pub fn min(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Min, a, b)
    }
    pub fn pow(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Pow, a, b)
    }
    /// `x op c` for a scalar constant `c` (a full of x's type).
    pub fn binary_scalar(&mut self, op: BinaryOp, x: NodeId, c: f64) -> Result<NodeId> {
        let k = self.full_like(x, c)?;
        self.binary(op, x, k)
    }
    pub fn mul_scalar(&mut self, x: NodeId, c: f64) -> Result<NodeId> {
        self.binary_scalar(BinaryOp::Mul, x, c)
    }
    pub fn add_scalar(&mut self, x: NodeId, c: f64) -> Result<NodeId> {
        self.binary_scalar(BinaryOp::Add, x, c)
    }
    pub fn compare(&mut self, op: CmpOp, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.op(Op::Compare { op }, &[a, b], None)
    }
    pub fn select(&mut self, cond: NodeId, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.op(Op::Select, &[cond, a, b], None)
    }
    pub fn cast(&mut self, x: NodeId, dtype: DType) -> Result<NodeId> {
        let ty = self.ty(x).with_dtype(dtype);
        self.op(Op::Cast, &[x], Some(ty))
    }

    // ---- shape ----

    /// Broadcast to `shape`; a no-op (returns `x`) when the shape already matches.
    pub fn broadcast(&mut self, x: NodeId, shape: &[usize]) -> Result<NodeId> {
        if self.ty(x).shape == shape {
            return Ok(x);
        }
        let ty = self.ty(x).with_shape(shape);
        self.op(Op::Broadcast, &[x], Some(ty))
    }
    /// Broadcast `x` to the shape of `like`.
    pub fn broadcast_like(&mut self, x: NodeId, like: NodeId) -> Result<NodeId> {
        let s = self.shape(like);
        self.broadcast(x, &s)
    }
    /// Reshape; a no-op (returns `x`) when the shape already matches.
    pub fn reshape(&mut self, x: NodeId, shape: &[usize]) -> Result<NodeId> {
        if self.ty(x).shape == shape {
            return Ok(x);
        }
        let ty = self.ty(x).with_shape(shape);
        self.op(Op::Reshape, &[x], Some(ty))
    }
    pub fn transpose(&mut self, x: NodeId, perm: &[usize]) -> Result<NodeId> {
        self.op(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            &[x],
            None,
        )
    }
    pub fn slice(&mut self, x: NodeId, axis: usize, start: usize, end: usize) -> Result<NodeId> {
        self.op(Op::Slice { axis, start, end }, &[x], None)
    }
    pub fn concat(&mut self, xs: &[NodeId], axis: usize) -> Result<NodeId> {
        self.op(Op::Concat { axis }, xs, None)
    }

    /// `all_reduce {kind}` over the data-parallel ranks (see [`Op::AllReduce`]).
    pub fn all_reduce(&mut self, x: NodeId, kind: crate::op::CollectiveKind) -> Result<NodeId> {
        self.op(Op::AllReduce { kind }, &[x], None)
    }

    // ---- reductions ----

    pub fn reduce(
        &mut self,
        kind: ReduceKind,
        x: NodeId,
        axes: &[usize],
        keep_dims: bool,
    ) -> Result<NodeId> {
        self.op(
            Op::Reduce {
                kind,
                axes: axes.to_vec(),
                keep_dims,
            },
            &[x],
            None,
        )
    }
    pub fn reduce_sum(&mut self, x: NodeId, axes: &[usize], keep_dims: bool) -> Result<NodeId> {
        self.reduce(ReduceKind::Sum, x, axes, keep_dims)
    }
    pub fn reduce_max(&mut self, x: NodeId, axes: &[usize], keep_dims: bool) -> Result<NodeId> {
        self.reduce(ReduceKind::Max, x, axes, keep_dims)
    }
    /// Mean over `axes`: a sum times the reciprocal count.
    pub fn mean(&mut self, x: NodeId, axes: &[usize], keep_dims: bool) -> Result<NodeId> {
        let shape = self.shape(x);
        let count: usize = axes
            .iter()
            .map(|&a| shape.get(a).copied().unwrap_or(1))
            .product();
        let s = self.reduce_sum(x, axes, keep_dims)?;
        self.mul_scalar(s, 1.0 / count as f64)
    }
    /// Sum of every element, as a scalar.
    pub fn sum_all(&mut self, x: NodeId) -> Result<NodeId> {
        let axes: Vec<usize> = (0..self.ty(x).rank()).collect();
        if axes.is_empty() {
            return Ok(x);
        }
        self.reduce_sum(x, &axes, false)
    }

    // ---- contraction and indexing ----

    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.matmul_t(a, b, false, false)
    }
    pub fn matmul_t(
        &mut self,
        a: NodeId,
        b: NodeId,
        transpose_lhs: bool,
        transpose_rhs: bool,
    ) -> Result<NodeId> {
        self.op(
            Op::MatMul {
                transpose_lhs,
                transpose_rhs,
            },
            &[a, b],
            None,
        )
    }
    pub fn gather(&mut self, table: NodeId, idx: NodeId) -> Result<NodeId> {
        self.op(Op::Gather, &[table, idx], None)
    }
    /// Scatter-add `upd` rows into a zero table of `rows` rows.
    pub fn scatter_add(&mut self, idx: NodeId, upd: NodeId, rows: usize) -> Result<NodeId> {
        let ut = self.ty(upd).clone();
        let it = self.ty(idx).rank();
        let mut s = vec![rows];
        s.extend_from_slice(&ut.shape[it.min(ut.rank())..]);
        self.op(Op::ScatterAdd, &[idx, upd], Some(ut.with_shape(s)))
    }

    // ---- fused ----

    pub fn rms_norm(&mut self, x: NodeId, w: NodeId, eps: f64) -> Result<NodeId> {
        self.op(Op::RmsNorm { eps: Real(eps) }, &[x, w], None)
    }
    pub fn swiglu(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.op(Op::Swiglu, &[a, b], None)
    }
    pub fn rope(&mut self, x: NodeId, theta: f64, inverse: bool) -> Result<NodeId> {
        self.op(
            Op::Rope {
                theta: Real(theta),
                inverse,
            },
            &[x],
            None,
        )
    }
    pub fn softmax(&mut self, x: NodeId) -> Result<NodeId> {
        self.op(Op::Softmax, &[x], None)
    }
    pub fn attention(
        &mut self,
        q: NodeId,
        k: NodeId,
        v: NodeId,
        scale: f64,
        causal: bool,
    ) -> Result<NodeId> {
        self.op(
            Op::Attention {
                scale: Real(scale),
                causal,
            },
            &[q, k, v],
            None,
        )
    }
    pub fn attention_grad(
        &mut self,
        wrt: AttnOperand,
        qkv_dy: [NodeId; 4],
        scale: f64,
        causal: bool,
    ) -> Result<NodeId> {
        self.op(
            Op::AttentionGrad {
                scale: Real(scale),
                causal,
                wrt,
            },
            &qkv_dy,
            None,
        )
    }
    pub fn cross_entropy(&mut self, logits: NodeId, targets: NodeId) -> Result<NodeId> {
        self.op(Op::CrossEntropy, &[logits, targets], None)
    }

    // ---- results ----

    /// Append a result.
    pub fn output(&mut self, node: NodeId) {
        self.func.add_output(node, None);
    }
    /// Append a result that is the next value of argument `arg`.
    pub fn output_update(&mut self, node: NodeId, arg: NodeId) {
        self.func.add_output(node, Some(arg));
    }
}
