//! The closed op set. Every op has interpreter semantics (in `llc-runtime`) and a type rule
//! (in [`crate::infer`]); the text spelling of each op is [`Op::name`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// An f64 attribute with bitwise equality and hashing, so that ops can be hashed and
/// compared structurally (kernel dedupe, e-graph nodes).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Real(pub f64);

impl PartialEq for Real {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for Real {}
impl Hash for Real {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}
impl PartialOrd for Real {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Real {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl fmt::Display for Real {
    /// Shortest text that parses back to the same bits (Rust's float formatting
    /// round-trips), always with a `.` or exponent so it reads as a float.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            return f.write_str("nan");
        }
        if v.is_infinite() {
            return f.write_str(if v > 0.0 { "inf" } else { "-inf" });
        }
        let s = format!("{v:?}");
        f.write_str(&s)
    }
}

/// How a function argument is bound by whoever runs the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArgRole {
    /// A trainable parameter: autodiff produces its gradient.
    Param,
    /// Persistent non-trainable state (optimizer moments, the step counter).
    State,
    /// Data fed each call (tokens, targets, loss masks).
    Input,
}

impl ArgRole {
    pub fn name(self) -> &'static str {
        match self {
            ArgRole::Param => "param",
            ArgRole::State => "state",
            ArgRole::Input => "input",
        }
    }
    pub fn from_name(s: &str) -> Option<ArgRole> {
        [ArgRole::Param, ArgRole::State, ArgRole::Input]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

/// Elementwise functions of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Recip,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 11] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Recip,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
    ];
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Recip => "recip",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
        }
    }
    /// Whether the op is defined on integers too (otherwise floats only).
    pub fn allows_int(self) -> bool {
        matches!(self, UnaryOp::Neg | UnaryOp::Abs)
    }
}

/// Elementwise functions of two operands of the same type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 7] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Pow,
    ];
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Pow => "pow",
        }
    }
    pub fn allows_int(self) -> bool {
        !matches!(self, BinaryOp::Pow)
    }
}

/// Elementwise comparisons; the result is `bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Eq,
        CmpOp::Ne,
    ];
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Lt => "cmp_lt",
            CmpOp::Le => "cmp_le",
            CmpOp::Gt => "cmp_gt",
            CmpOp::Ge => "cmp_ge",
            CmpOp::Eq => "cmp_eq",
            CmpOp::Ne => "cmp_ne",
        }
    }
}

/// Reduction combiners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReduceKind {
    Sum,
    Max,
}

impl ReduceKind {
    pub fn name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "reduce_sum",
            ReduceKind::Max => "reduce_max",
        }
    }
}

/// How `all_reduce` combines the ranks' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectiveKind {
    /// Elementwise sum over the ranks.
    Sum,
    /// Elementwise sum over the ranks divided by the number of ranks.
    Mean,
}

impl CollectiveKind {
    pub const ALL: [CollectiveKind; 2] = [CollectiveKind::Sum, CollectiveKind::Mean];
    pub fn name(self) -> &'static str {
        match self {
            CollectiveKind::Sum => "sum",
            CollectiveKind::Mean => "mean",
        }
    }
}

/// Which operand of `attention` an `attention_grad` differentiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttnOperand {
    Q,
    K,
    V,
}

impl AttnOperand {
    pub fn name(self) -> &'static str {
        match self {
            AttnOperand::Q => "q",
            AttnOperand::K => "k",
            AttnOperand::V => "v",
        }
    }
    pub fn from_name(s: &str) -> Option<AttnOperand> {
        [AttnOperand::Q, AttnOperand::K, AttnOperand::V]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

/// One operation. Ops whose result type is not implied by their operands (`full`, `iota`,
/// `cast`, `broadcast`, `reshape`, `scatter_add`, arguments) take it from the node's
/// declared type; every other op's type is inferred and checked against it.
///
/// Primitive ops come first; the fused ops after them are introduced by the optimizer
/// (or written by hand) and each has plain interpreter semantics and, where it can occur
/// before autodiff, a VJP rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// A function argument; its position is its index in `Function::args`.
    Arg {
        role: ArgRole,
    },
    /// Every element equal to `value` (the declared type gives dtype and shape).
    Full {
        value: Real,
    },
    /// Element = its index along `axis`.
    Iota {
        axis: usize,
    },
    Unary {
        op: UnaryOp,
    },
    Binary {
        op: BinaryOp,
    },
    Compare {
        op: CmpOp,
    },
    /// `select(cond, a, b)`: `a` where `cond`, else `b`.
    Select,
    /// Convert to the declared dtype (same shape).
    Cast,
    /// Numpy-style broadcast (operand right-aligned to the declared shape, size-1 or
    /// missing dims expanded).
    Broadcast,
    /// Same elements in row-major order, declared shape.
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    /// Elements `start..end` along `axis`.
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    Concat {
        axis: usize,
    },
    Reduce {
        kind: ReduceKind,
        axes: Vec<usize>,
        keep_dims: bool,
    },
    /// `lhs[..., M, K] @ rhs[..., K, N]` (operands optionally transposed in their last two
    /// dims). A rank-2 `rhs` is shared by every batch of `lhs`.
    MatMul {
        transpose_lhs: bool,
        transpose_rhs: bool,
    },
    /// `gather(table[V, R...], idx[I...]) -> [I..., R...]`: rows of `table`.
    Gather,
    /// `scatter_add(idx[I...], upd[I..., R...]) -> [V, R...]`: sums rows of `upd` into a
    /// zero table of the declared shape. The VJP of `gather`.
    ScatterAdd,

    // ---- fused ops ----
    /// `x * rsqrt(mean(x^2, -1) + eps) * w` for `x[..., D]`, `w[D]`.
    RmsNorm {
        eps: Real,
    },
    /// d/dx of `rms_norm(x, w)` given `dy`: operands `(x, w, dy)`.
    RmsNormGradX {
        eps: Real,
    },
    /// d/dw of `rms_norm(x, w)` given `dy`, summed over rows: operands `(x, dy)`.
    RmsNormGradW {
        eps: Real,
    },
    /// `silu(a) * b` (SwiGLU's gate with `a = x W1`, `b = x W3`).
    Swiglu,
    /// d/da of `swiglu(a, b)`: operands `(a, b, dy)`.
    SwigluGradA,
    /// d/db of `swiglu(a, b)`: operands `(a, dy)`.
    SwigluGradB,
    /// Rotary embedding of `x[B, T, H, hd]` at positions `0..T`, rotating the interleaved
    /// pairs `(2i, 2i+1)` by `t * theta^(-2i/hd)`; `inverse` rotates by the negative angle
    /// (which is also the VJP).
    Rope {
        theta: Real,
        inverse: bool,
    },
    /// Softmax over the last axis.
    Softmax,
    /// VJP of softmax over the last axis: operands `(y, dy)` with `y = softmax(x)`.
    SoftmaxGrad,
    /// Scaled dot-product attention `softmax(q k^T * scale [+ causal mask]) v` with
    /// `q[B, Hq, T, hd]`, `k, v[B, Hkv, S, hd]`; query head `h` uses KV head
    /// `h / (Hq / Hkv)` (grouped-query attention, KV heads shared, never copied).
    Attention {
        scale: Real,
        causal: bool,
    },
    /// Gradient of `attention` with respect to one operand: operands `(q, k, v, dy)`.
    /// K and V gradients are summed over the query heads of each group.
    AttentionGrad {
        scale: Real,
        causal: bool,
        wrt: AttnOperand,
    },
    /// Per-row negative log-likelihood `logsumexp(logits) - logits[target]` for
    /// `logits[..., V]`, `targets[...]` (i32) without materializing log-probabilities.
    CrossEntropy,
    /// d/dlogits of `cross_entropy` given the per-row upstream gradient:
    /// operands `(logits, targets, dnll)`.
    CrossEntropyGrad,

    // ---- collectives ----
    /// `all_reduce(x)`: every rank of the data-parallel group contributes its `x` and
    /// receives the elementwise combination of all of them (`kind = sum`, or `mean`: the
    /// sum divided by the world size `N`), the same on every rank. Float tensors only;
    /// the result has the operand's type. On a single rank (`N = 1`) both kinds are the
    /// identity. Ranks must run their `all_reduce`s in the same order with the same
    /// types (the data-parallel pass guarantees it: every rank runs the same step).
    AllReduce {
        kind: CollectiveKind,
    },
}

impl Op {
    /// The op's spelling in the text format.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Arg { .. } => "arg",
            Op::Full { .. } => "full",
            Op::Iota { .. } => "iota",
            Op::Unary { op } => op.name(),
            Op::Binary { op } => op.name(),
            Op::Compare { op } => op.name(),
            Op::Select => "select",
            Op::Cast => "cast",
            Op::Broadcast => "broadcast",
            Op::Reshape => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::Slice { .. } => "slice",
            Op::Concat { .. } => "concat",
            Op::Reduce { kind, .. } => kind.name(),
            Op::MatMul { .. } => "matmul",
            Op::Gather => "gather",
            Op::ScatterAdd => "scatter_add",
            Op::RmsNorm { .. } => "rms_norm",
            Op::RmsNormGradX { .. } => "rms_norm_grad_x",
            Op::RmsNormGradW { .. } => "rms_norm_grad_w",
            Op::Swiglu => "swiglu",
            Op::SwigluGradA => "swiglu_grad_a",
            Op::SwigluGradB => "swiglu_grad_b",
            Op::Rope { .. } => "rope",
            Op::Softmax => "softmax",
            Op::SoftmaxGrad => "softmax_grad",
            Op::Attention { .. } => "attention",
            Op::AttentionGrad { .. } => "attention_grad",
            Op::CrossEntropy => "cross_entropy",
            Op::CrossEntropyGrad => "cross_entropy_grad",
            Op::AllReduce { .. } => "all_reduce",
        }
    }

    /// Number of operands the op takes; `None` for variadic ops (`concat`, at least one).
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Arg { .. } | Op::Full { .. } | Op::Iota { .. } => 0,
            Op::Unary { .. }
            | Op::Cast
            | Op::Broadcast
            | Op::Reshape
            | Op::Transpose { .. }
            | Op::Slice { .. }
            | Op::Reduce { .. }
            | Op::Rope { .. }
            | Op::Softmax
            | Op::AllReduce { .. } => 1,
            Op::Binary { .. }
            | Op::Compare { .. }
            | Op::MatMul { .. }
            | Op::Gather
            | Op::ScatterAdd
            | Op::RmsNorm { .. }
            | Op::RmsNormGradW { .. }
            | Op::Swiglu
            | Op::SwigluGradB
            | Op::SoftmaxGrad
            | Op::CrossEntropy => 2,
            Op::Select
            | Op::RmsNormGradX { .. }
            | Op::SwigluGradA
            | Op::Attention { .. }
            | Op::CrossEntropyGrad => 3,
            Op::AttentionGrad { .. } => 4,
            Op::Concat { .. } => return None,
        })
    }

    /// Ops whose result type comes from the declaration rather than inference.
    pub fn takes_declared_type(&self) -> bool {
        matches!(
            self,
            Op::Arg { .. }
                | Op::Full { .. }
                | Op::Iota { .. }
                | Op::Cast
                | Op::Broadcast
                | Op::Reshape
                | Op::ScatterAdd
        )
    }

    /// Elementwise ops map equal-shaped operands to a result of the same shape, element by
    /// element; they fuse freely into one loop.
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Unary { .. }
                | Op::Binary { .. }
                | Op::Compare { .. }
                | Op::Select
                | Op::Cast
                | Op::Swiglu
                | Op::SwigluGradA
                | Op::SwigluGradB
        )
    }

    /// Ops introduced by fusion rather than written by the model builder.
    pub fn is_fused(&self) -> bool {
        matches!(
            self,
            Op::RmsNorm { .. }
                | Op::RmsNormGradX { .. }
                | Op::RmsNormGradW { .. }
                | Op::Swiglu
                | Op::SwigluGradA
                | Op::SwigluGradB
                | Op::Rope { .. }
                | Op::Softmax
                | Op::SoftmaxGrad
                | Op::Attention { .. }
                | Op::AttentionGrad { .. }
                | Op::CrossEntropy
                | Op::CrossEntropyGrad
        )
    }

    /// Collectives: every rank must run them, in the same order (a library step, never
    /// part of a kernel, never duplicated or removed by a rewrite).
    pub fn is_collective(&self) -> bool {
        matches!(self, Op::AllReduce { .. })
    }

    /// Every op name the text format knows, for "expected one of" messages.
    pub fn all_names() -> Vec<&'static str> {
        let mut v = vec!["full", "iota"];
        v.extend(UnaryOp::ALL.iter().map(|o| o.name()));
        v.extend(BinaryOp::ALL.iter().map(|o| o.name()));
        v.extend(CmpOp::ALL.iter().map(|o| o.name()));
        v.extend([
            "select",
            "cast",
            "broadcast",
            "reshape",
            "transpose",
            "slice",
            "concat",
            "reduce_sum",
            "reduce_max",
            "matmul",
            "gather",
            "scatter_add",
            "rms_norm",
            "rms_norm_grad_x",
            "rms_norm_grad_w",
            "swiglu",
            "swiglu_grad_a",
            "swiglu_grad_b",
            "rope",
            "softmax",
            "softmax_grad",
            "attention",
            "attention_grad",
            "cross_entropy",
            "cross_entropy_grad",
            "all_reduce",
        ]);
        v
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
