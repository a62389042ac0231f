//! The mapping between IR ops and language nodes, both ways: [`encode`] turns an op with
//! its operand classes into a node (adding attribute leaves), [`decode`] turns a node back
//! into the op, its tensor operands and its declared type. Type inference, costs and
//! extraction all go through [`decode`], so the IR's own type rules check every node a
//! rule creates.

use super::analysis::EG;
use super::language::{ArgRef, Attr, Constant, IotaLeaf, TensorLang, TypeKey};
use egg::Id;
use llc_ir::{
    AttnOperand, BinaryOp, CmpOp, CollectiveKind, Op, Real, ReduceKind, TensorType, UnaryOp,
};

/// An op as the IR sees it: the op, its tensor operands (classes) in slot order and the
/// declared type for ops that take one.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The IR op with its attributes.
    pub op: Op,
    /// Tensor operands in IR slot order (attribute leaves left out).
    pub operands: Vec<Id>,
    /// The declared result type, for ops that take one.
    pub declared: Option<TensorType>,
}

/// The attribute leaf in class `id`, if that class is an attribute.
pub fn attr_of(eg: &EG, id: Id) -> Option<&Attr> {
    eg[id].nodes.iter().find_map(|n| match n {
        TensorLang::Attr(a) => Some(a),
        _ => None,
    })
}

/// Add an attribute leaf (hash-consed: equal attributes share one class).
pub fn add_attr(eg: &mut EG, a: Attr) -> Id {
    eg.add(TensorLang::Attr(a))
}

fn type_attr(eg: &EG, id: Id) -> Option<TensorType> {
    match attr_of(eg, id)? {
        Attr::Type(t) => Some(t.to_type()),
        _ => None,
    }
}

fn real_attr(eg: &EG, id: Id) -> Option<Real> {
    match attr_of(eg, id)? {
        Attr::Real(r) => Some(*r),
        _ => None,
    }
}

fn unary(op: UnaryOp, x: Id) -> TensorLang {
    use TensorLang as L;
    match op {
        UnaryOp::Neg => L::Neg(x),
        UnaryOp::Abs => L::Abs(x),
        UnaryOp::Exp => L::Exp(x),
        UnaryOp::Log => L::Log(x),
        UnaryOp::Sqrt => L::Sqrt(x),
        UnaryOp::Rsqrt => L::Rsqrt(x),
        UnaryOp::Recip => L::Recip(x),
        UnaryOp::Sin => L::Sin(x),
        UnaryOp::Cos => L::Cos(x),
        UnaryOp::Tanh => L::Tanh(x),
        UnaryOp::Sigmoid => L::Sigmoid(x),
    }
}

/// The node for a binary elementwise op.
pub fn binary(op: BinaryOp, ab: [Id; 2]) -> TensorLang {
    use TensorLang as L;
    match op {
        BinaryOp::Add => L::Add(ab),
        BinaryOp::Sub => L::Sub(ab),
        BinaryOp::Mul => L::Mul(ab),
        BinaryOp::Div => L::Div(ab),
        BinaryOp::Max => L::Max(ab),
        BinaryOp::Min => L::Min(ab),
        BinaryOp::Pow => L::Pow(ab),
    }
}

fn compare(op: CmpOp, ab: [Id; 2]) -> TensorLang {
    use TensorLang as L;
    match op {
        CmpOp::Lt => L::Lt(ab),
        CmpOp::Le => L::Le(ab),
        CmpOp::Gt => L::Gt(ab),
        CmpOp::Ge => L::Ge(ab),
        CmpOp::Eq => L::Eq(ab),
        CmpOp::Ne => L::Ne(ab),
    }
}

/// The matmul node with the given transpose flags.
pub fn matmul(transpose_lhs: bool, transpose_rhs: bool, ab: [Id; 2]) -> TensorLang {
    use TensorLang as L;
    match (transpose_lhs, transpose_rhs) {
        (false, false) => L::MatMul(ab),
        (true, false) => L::MatMulTN(ab),
        (false, true) => L::MatMulNT(ab),
        (true, true) => L::MatMulTT(ab),
    }
}

/// The transpose flags and operands of a matmul node.
pub fn as_matmul(n: &TensorLang) -> Option<(bool, bool, [Id; 2])> {
    use TensorLang as L;
    match n {
        L::MatMul(ab) => Some((false, false, *ab)),
        L::MatMulTN(ab) => Some((true, false, *ab)),
        L::MatMulNT(ab) => Some((false, true, *ab)),
        L::MatMulTT(ab) => Some((true, true, *ab)),
        _ => None,
    }
}

fn ids<const N: usize>(v: &[Id]) -> [Id; N] {
    v.try_into().expect("operand count checked by the caller")
}

/// The node for `op` applied to `operands` with result type `ty` (used for the declared
/// types of `cast`, `broadcast`, `reshape`, `scatter_add`, constants and iotas);
/// `arg_index` is the argument position for `Op::Arg`. Returns `None` when the operand
/// count does not fit the op (the verifier rejects such IR before it gets here).
pub fn encode(
    eg: &mut EG,
    op: &Op,
    ty: &TensorType,
    operands: &[Id],
    arg_index: Option<usize>,
) -> Option<TensorLang> {
    use TensorLang as L;
    if let Some(n) = op.arity()
        && operands.len() != n
    {
        return None;
    }
    let o = operands;
    let key = TypeKey::from(ty);
    let real = |eg: &mut EG, r: Real| add_attr(eg, Attr::Real(r));
    Some(match op {
        Op::Arg { .. } => L::Arg(ArgRef(arg_index?)),
        Op::Full { value } => L::Full(Constant {
            value: *value,
            ty: key,
        }),
        Op::Iota { axis } => L::Iota(IotaLeaf {
            axis: *axis,
            ty: key,
        }),
        Op::Unary { op } => unary(*op, o[0]),
        Op::Binary { op } => binary(*op, ids(o)),
        Op::Compare { op } => compare(*op, ids(o)),
        Op::Select => L::Select(ids(o)),
        Op::Cast => L::Cast([o[0], add_attr(eg, Attr::Type(key))]),
        Op::Broadcast => L::Broadcast([o[0], add_attr(eg, Attr::Type(key))]),
        Op::Reshape => L::Reshape([o[0], add_attr(eg, Attr::Type(key))]),
        Op::Transpose { perm } => L::Transpose([o[0], add_attr(eg, Attr::Perm(perm.clone()))]),
        Op::Slice { axis, start, end } => L::Slice([
            o[0],
            add_attr(
                eg,
                Attr::Range {
                    axis: *axis,
                    start: *start,
                    end: *end,
                },
            ),
        ]),
        Op::Concat { axis } => {
            if o.is_empty() {
                return None;
            }
            let mut c = vec![add_attr(eg, Attr::Axis(*axis))];
            c.extend_from_slice(o);
            L::Concat(c.into_boxed_slice())
        }
        Op::Reduce {
            kind,
            axes,
            keep_dims,
        } => {
            let a = add_attr(
                eg,
                Attr::Axes {
                    axes: axes.clone(),
                    keep: *keep_dims,
                },
            );
            match kind {
                ReduceKind::Sum => L::ReduceSum([o[0], a]),
                ReduceKind::Max => L::ReduceMax([o[0], a]),
            }
        }
        Op::MatMul {
            transpose_lhs,
            transpose_rhs,
        } => matmul(*transpose_lhs, *transpose_rhs, ids(o)),
        Op::Gather => L::Gather(ids(o)),
        Op::ScatterAdd => L::ScatterAdd([o[0], o[1], add_attr(eg, Attr::Type(key))]),
        Op::RmsNorm { eps } => L::RmsNorm([o[0], o[1], real(eg, *eps)]),
        Op::RmsNormGradX { eps } => L::RmsNormGradX([o[0], o[1], o[2], real(eg, *eps)]),
        Op::RmsNormGradW { eps } => L::RmsNormGradW([o[0], o[1], real(eg, *eps)]),
        Op::Swiglu => L::Swiglu(ids(o)),
        Op::SwigluGradA => L::SwigluGradA(ids(o)),
        Op::SwigluGradB => L::SwigluGradB(ids(o)),
        Op::Rope { theta, inverse } => {
            let t = real(eg, *theta);
            if *inverse {
                L::RopeInverse([o[0], t])
            } else {
                L::Rope([o[0], t])
            }
        }
        Op::Softmax => L::Softmax(o[0]),
        Op::SoftmaxGrad => L::SoftmaxGrad(ids(o)),
        Op::Attention { scale, causal } => {
            let s = real(eg, *scale);
            let c = [o[0], o[1], o[2], s];
            if *causal {
                L::AttentionCausal(c)
            } else {
                L::Attention(c)
            }
        }
        Op::AttentionGrad { scale, causal, wrt } => {
            let s = real(eg, *scale);
            let c = [o[0], o[1], o[2], o[3], s];
            match (causal, wrt) {
                (false, AttnOperand::Q) => L::AttentionGradQ(c),
                (false, AttnOperand::K) => L::AttentionGradK(c),
                (false, AttnOperand::V) => L::AttentionGradV(c),
                (true, AttnOperand::Q) => L::AttentionCausalGradQ(c),
                (true, AttnOperand::K) => L::AttentionCausalGradK(c),
                (true, AttnOperand::V) => L::AttentionCausalGradV(c),
            }
        }
        Op::CrossEntropy => L::CrossEntropy(ids(o)),
        Op::CrossEntropyGrad => L::CrossEntropyGrad(ids(o)),
        Op::AllReduce { kind } => match kind {
            CollectiveKind::Sum => L::AllReduceSum(o[0]),
            CollectiveKind::Mean => L::AllReduceMean(o[0]),
        },
    })
}

/// The IR op of a node. `None` for attribute leaves and for nodes whose attribute
/// children are not the attributes the op needs (which only a broken rule makes).
pub fn decode(eg: &EG, n: &TensorLang) -> Option<Decoded> {
    use TensorLang as L;
    let d = |op: Op, operands: &[Id]| {
        Some(Decoded {
            op,
            operands: operands.to_vec(),
            declared: None,
        })
    };
    let un = |op: UnaryOp, x: &Id| d(Op::Unary { op }, &[*x]);
    let bin = |op: BinaryOp, ab: &[Id; 2]| d(Op::Binary { op }, ab);
    let cmp = |op: CmpOp, ab: &[Id; 2]| d(Op::Compare { op }, ab);
    let declared = |op: Op, operands: &[Id], ty_id: Id| {
        Some(Decoded {
            op,
            operands: operands.to_vec(),
            declared: Some(type_attr(eg, ty_id)?),
        })
    };
    let attn_grad = |c: &[Id; 5], causal: bool, wrt: AttnOperand| {
        d(
            Op::AttentionGrad {
                scale: real_attr(eg, c[4])?,
                causal,
                wrt,
            },
            &c[..4],
        )
    };
    match n {
        L::Neg(x) => un(UnaryOp::Neg, x),
        L::Abs(x) => un(UnaryOp::Abs, x),
        L::Exp(x) => un(UnaryOp::Exp, x),
        L::Log(x) => un(UnaryOp::Log, x),
        L::Sqrt(x) => un(UnaryOp::Sqrt, x),
        L::Rsqrt(x) => un(UnaryOp::Rsqrt, x),
        L::Recip(x) => un(UnaryOp::Recip, x),
        L::Sin(x) => un(UnaryOp::Sin, x),
        L::Cos(x) => un(UnaryOp::Cos, x),
        L::Tanh(x) => un(UnaryOp::Tanh, x),
        L::Sigmoid(x) => un(UnaryOp::Sigmoid, x),
        L::Add(ab) => bin(BinaryOp::Add, ab),
        L::Sub(ab) => bin(BinaryOp::Sub, ab),
        L::Mul(ab) => bin(BinaryOp::Mul, ab),
        L::Div(ab) => bin(BinaryOp::Div, ab),
        L::Max(ab) => bin(BinaryOp::Max, ab),
        L::Min(ab) => bin(BinaryOp::Min, ab),
        L::Pow(ab) => bin(BinaryOp::Pow, ab),
        L::Lt(ab) => cmp(CmpOp::Lt, ab),
        L::Le(ab) => cmp(CmpOp::Le, ab),
        L::Gt(ab) => cmp(CmpOp::Gt, ab),
        L::Ge(ab) => cmp(CmpOp::Ge, ab),
        L::Eq(ab) => cmp(CmpOp::Eq, ab),
        L::Ne(ab) => cmp(CmpOp::Ne, ab),
        L::Select(c) => d(Op::Select, c),
        L::Cast([x, t]) => declared(Op::Cast, &[*x], *t),
        L::Broadcast([x, t]) => declared(Op::Broadcast, &[*x], *t),
        L::Reshape([x, t]) => declared(Op::Reshape, &[*x], *t),
        L::Transpose([x, p]) => match attr_of(eg, *p)? {
            Attr::Perm(perm) => d(Op::Transpose { perm: perm.clone() }, &[*x]),
            _ => None,
        },
        L::Slice([x, r]) => match attr_of(eg, *r)? {
            Attr::Range { axis, start, end } => d(
                Op::Slice {
                    axis: *axis,
                    start: *start,
                    end: *end,
                },
                &[*x],
            ),
            _ => None,
        },
        L::Concat(c) => match attr_of(eg, *c.first()?)? {
            Attr::Axis(axis) if c.len() >= 2 => d(Op::Concat { axis: *axis }, &c[1..]),
            _ => None,
        },
        L::ReduceSum([x, a]) | L::ReduceMax([x, a]) => match attr_of(eg, *a)? {
            Attr::Axes { axes, keep } => d(
                Op::Reduce {
                    kind: if matches!(n, L::ReduceSum(_)) {
                        ReduceKind::Sum
                    } else {
                        ReduceKind::Max
                    },
                    axes: axes.clone(),
                    keep_dims: *keep,
                },
                &[*x],
            ),
            _ => None,
        },
        L::MatMul(ab) | L::MatMulTN(ab) | L::MatMulNT(ab) | L::MatMulTT(ab) => {
            let (transpose_lhs, transpose_rhs, _) = as_matmul(n)?;
            d(
                Op::MatMul {
                    transpose_lhs,
                    transpose_rhs,
                },
                ab,
            )
        }
        L::Gather(ab) => d(Op::Gather, ab),
        L::ScatterAdd([i, u, t]) => declared(Op::ScatterAdd, &[*i, *u], *t),
        L::RmsNorm([x, w, e]) => d(
            Op::RmsNorm {
                eps: real_attr(eg, *e)?,
            },
            &[*x, *w],
        ),
        L::RmsNormGradX([x, w, dy, e]) => d(
            Op::RmsNormGradX {
                eps: real_attr(eg, *e)?,
            },
            &[*x, *w, *dy],
        ),
        L::RmsNormGradW([x, dy, e]) => d(
            Op::RmsNormGradW {
                eps: real_attr(eg, *e)?,
            },
            &[*x, *dy],
        ),
        L::Swiglu(ab) => d(Op::Swiglu, ab),
        L::SwigluGradA(c) => d(Op::SwigluGradA, c),
        L::SwigluGradB(c) => d(Op::SwigluGradB, c),
        L::Rope([x, t]) | L::RopeInverse([x, t]) => d(
            Op::Rope {
                theta: real_attr(eg, *t)?,
                inverse: matches!(n, L::RopeInverse(_)),
            },
            &[*x],
        ),
        L::Softmax(x) => d(Op::Softmax, &[*x]),
        L::SoftmaxGrad(c) => d(Op::SoftmaxGrad, c),
        L::Attention(c) | L::AttentionCausal(c) => d(
            Op::Attention {
                scale: real_attr(eg, c[3])?,
                causal: matches!(n, L::AttentionCausal(_)),
            },
            &c[..3],
        ),
        L::AttentionGradQ(c) => attn_grad(c, false, AttnOperand::Q),
        L::AttentionGradK(c) => attn_grad(c, false, AttnOperand::K),
        L::AttentionGradV(c) => attn_grad(c, false, AttnOperand::V),
        L::AttentionCausalGradQ(c) => attn_grad(c, true, AttnOperand::Q),
        L::AttentionCausalGradK(c) => attn_grad(c, true, AttnOperand::K),
        L::AttentionCausalGradV(c) => attn_grad(c, true, AttnOperand::V),
        L::CrossEntropy(c) => d(Op::CrossEntropy, c),
        L::CrossEntropyGrad(c) => d(Op::CrossEntropyGrad, c),
        L::AllReduceSum(x) => d(
            Op::AllReduce {
                kind: CollectiveKind::Sum,
            },
            &[*x],
        ),
        L::AllReduceMean(x) => d(
            Op::AllReduce {
                kind: CollectiveKind::Mean,
            },
            &[*x],
        ),
        L::Arg(ArgRef(i)) => {
            let (role, ty) = eg.analysis.args.get(*i)?;
            Some(Decoded {
                op: Op::Arg { role: *role },
                operands: Vec::new(),
                declared: Some(ty.clone()),
            })
        }
        L::Full(c) => Some(Decoded {
            op: Op::Full { value: c.value },
            operands: Vec::new(),
            declared: Some(c.ty.to_type()),
        }),
        L::Iota(i) => Some(Decoded {
            op: Op::Iota { axis: i.axis },
            operands: Vec::new(),
            declared: Some(i.ty.to_type()),
        }),
        L::Attr(_) => None,
    }
}
