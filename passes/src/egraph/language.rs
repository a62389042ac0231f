//! The e-graph language: one `define_language!` over the IR's op set (in the style of
//! egg's `tests/math.rs`).
//!
//! Every IR op is one symbol. Attributes that are a small enum live in the symbol itself
//! (`matmul_nt` is a matmul with `transpose_rhs`, `attention_causal`, `attention_grad_k`,
//! `rope_inverse`); attributes that carry data are leaf children of the node, so a rule
//! can bind them to a variable and check them in a guard: `(reshape ?x ?ty)` matches every
//! reshape and `?ty` holds its declared type (`f32[4,8]`). Constants, index generators and
//! function arguments are tensor-valued leaves that carry their own type.

use egg::{Id, define_language};
use llc_ir::{DType, Real, TensorType};
use std::fmt;
use std::str::FromStr;

define_language! {
    /// The IR op set as an egg language. Children are tensor operands in IR slot order,
    /// then attribute leaves (see the module doc for which op takes which).
    pub enum TensorLang {
        "neg" = Neg(Id),
        "abs" = Abs(Id),
        "exp" = Exp(Id),
        "log" = Log(Id),
        "sqrt" = Sqrt(Id),
        "rsqrt" = Rsqrt(Id),
        "recip" = Recip(Id),
        "sin" = Sin(Id),
        "cos" = Cos(Id),
        "tanh" = Tanh(Id),
        "sigmoid" = Sigmoid(Id),
        "add" = Add([Id; 2]),
        "sub" = Sub([Id; 2]),
        "mul" = Mul([Id; 2]),
        "div" = Div([Id; 2]),
        "max" = Max([Id; 2]),
        "min" = Min([Id; 2]),
        "pow" = Pow([Id; 2]),
        "cmp_lt" = Lt([Id; 2]),
        "cmp_le" = Le([Id; 2]),
        "cmp_gt" = Gt([Id; 2]),
        "cmp_ge" = Ge([Id; 2]),
        "cmp_eq" = Eq([Id; 2]),
        "cmp_ne" = Ne([Id; 2]),
        "select" = Select([Id; 3]),
        // (cast x ty), (broadcast x ty), (reshape x ty): the declared result type.
        "cast" = Cast([Id; 2]),
        "broadcast" = Broadcast([Id; 2]),
        "reshape" = Reshape([Id; 2]),
        // (transpose x perm), (slice x range)
        "transpose" = Transpose([Id; 2]),
        "slice" = Slice([Id; 2]),
        // (concat axis x0 x1 ...)
        "concat" = Concat(Box<[Id]>),
        // (reduce_sum x axes)
        "reduce_sum" = ReduceSum([Id; 2]),
        "reduce_max" = ReduceMax([Id; 2]),
        // matmul flags: `t` = that operand is transposed, lhs first.
        "matmul" = MatMul([Id; 2]),
        "matmul_tn" = MatMulTN([Id; 2]),
        "matmul_nt" = MatMulNT([Id; 2]),
        "matmul_tt" = MatMulTT([Id; 2]),
        "gather" = Gather([Id; 2]),
        // (scatter_add idx upd ty)
        "scatter_add" = ScatterAdd([Id; 3]),
        // fused ops; real-valued attributes (eps, theta, scale) are the last child.
        "rms_norm" = RmsNorm([Id; 3]),
        "rms_norm_grad_x" = RmsNormGradX([Id; 4]),
        "rms_norm_grad_w" = RmsNormGradW([Id; 3]),
        "swiglu" = Swiglu([Id; 2]),
        "swiglu_grad_a" = SwigluGradA([Id; 3]),
        "swiglu_grad_b" = SwigluGradB([Id; 2]),
        "rope" = Rope([Id; 2]),
        "rope_inverse" = RopeInverse([Id; 2]),
        "softmax" = Softmax(Id),
        "softmax_grad" = SoftmaxGrad([Id; 2]),
        "attention" = Attention([Id; 4]),
        "attention_causal" = AttentionCausal([Id; 4]),
        "attention_grad_q" = AttentionGradQ([Id; 5]),
        "attention_grad_k" = AttentionGradK([Id; 5]),
        "attention_grad_v" = AttentionGradV([Id; 5]),
        "attention_causal_grad_q" = AttentionCausalGradQ([Id; 5]),
        "attention_causal_grad_k" = AttentionCausalGradK([Id; 5]),
        "attention_causal_grad_v" = AttentionCausalGradV([Id; 5]),
        "cross_entropy" = CrossEntropy([Id; 2]),
        "cross_entropy_grad" = CrossEntropyGrad([Id; 3]),
        // collectives: opaque (no rule names them), the kind in the symbol.
        "all_reduce_sum" = AllReduceSum(Id),
        "all_reduce_mean" = AllReduceMean(Id),
        // tensor-valued leaves
        Arg(ArgRef),
        Full(Constant),
        Iota(IotaLeaf),
        // attribute leaves (not tensors)
        Attr(Attr),
    }
}

/// A function argument by position: `arg:3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArgRef(pub usize);

/// A `full` constant: every element of `ty` equals `value`. Written `full:0.5:f32[4,8]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Constant {
    /// The value of every element.
    pub value: Real,
    /// The constant's type.
    pub ty: TypeKey,
}

/// An `iota` along `axis` of `ty`. Written `iota:1:i32[4,8]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IotaLeaf {
    /// The axis whose index each element holds.
    pub axis: usize,
    /// The iota's type.
    pub ty: TypeKey,
}

/// A [`TensorType`] with a total order (egg nodes must be `Ord`), written like the IR:
/// `f32[4,8]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeKey {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
}

impl TypeKey {
    /// The IR type this key stands for.
    pub fn to_type(&self) -> TensorType {
        TensorType::new(self.dtype, self.shape.clone())
    }
}

impl From<&TensorType> for TypeKey {
    fn from(t: &TensorType) -> Self {
        TypeKey {
            dtype: t.dtype,
            shape: t.shape.clone(),
        }
    }
}

/// Data-valued attributes of ops, as leaf children.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    /// Declared result type of `cast`, `broadcast`, `reshape`, `scatter_add`: `f32[4,8]`.
    Type(TypeKey),
    /// `transpose` permutation: `perm:0,2,1,3`.
    Perm(Vec<usize>),
    /// Reduction axes and whether they are kept: `axes:2:keep`, `axes:0,1:drop`.
    Axes {
        /// The reduced axes.
        axes: Vec<usize>,
        /// Whether they stay as size-1 dims.
        keep: bool,
    },
    /// `slice` range: `slice:4:0..1` (axis, start..end).
    Range {
        /// The sliced axis.
        axis: usize,
        /// First index kept.
        start: usize,
        /// One past the last index kept.
        end: usize,
    },
    /// `concat` axis: `axis:4`.
    Axis(usize),
    /// eps, theta or scale: `#1e-5`.
    Real(Real),
}

fn list(v: &[usize]) -> String {
    v.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| p.parse::<usize>().map_err(|e| format!("`{p}`: {e}")))
        .collect()
}

impl fmt::Display for ArgRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arg:{}", self.0)
    }
}

impl FromStr for ArgRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n = s.strip_prefix("arg:").ok_or("not an argument")?;
        n.parse().map(ArgRef).map_err(|e| format!("`{s}`: {e}"))
    }
}

impl fmt::Display for TypeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.dtype, list(&self.shape))
    }
}

impl FromStr for TypeKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (dt, rest) = s.split_once('[').ok_or("not a type")?;
        let dtype = DType::from_name(dt).ok_or_else(|| format!("unknown dtype `{dt}`"))?;
        let dims = rest.strip_suffix(']').ok_or("type without `]`")?;
        Ok(TypeKey {
            dtype,
            shape: parse_list(dims)?,
        })
    }
}

impl fmt::Display for Constant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "full:{}:{}", self.value, self.ty)
    }
}

fn parse_real(s: &str) -> Result<Real, String> {
    match s {
        "inf" => Ok(Real(f64::INFINITY)),
        "-inf" => Ok(Real(f64::NEG_INFINITY)),
        "nan" => Ok(Real(f64::NAN)),
        _ => s
            .parse::<f64>()
            .map(Real)
            .map_err(|e| format!("`{s}`: {e}")),
    }
}

impl FromStr for Constant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s.strip_prefix("full:").ok_or("not a constant")?;
        let (v, ty) = rest.split_once(':').ok_or("constant without a type")?;
        Ok(Constant {
            value: parse_real(v)?,
            ty: ty.parse()?,
        })
    }
}

impl fmt::Display for IotaLeaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "iota:{}:{}", self.axis, self.ty)
    }
}

impl FromStr for IotaLeaf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s.strip_prefix("iota:").ok_or("not an iota")?;
        let (a, ty) = rest.split_once(':').ok_or("iota without a type")?;
        Ok(IotaLeaf {
            axis: a.parse().map_err(|e| format!("`{a}`: {e}"))?,
            ty: ty.parse()?,
        })
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attr::Type(t) => write!(f, "{t}"),
            Attr::Perm(p) => write!(f, "perm:{}", list(p)),
            Attr::Axes { axes, keep } => {
                write!(
                    f,
                    "axes:{}:{}",
                    list(axes),
                    if *keep { "keep" } else { "drop" }
                )
            }
            Attr::Range { axis, start, end } => write!(f, "slice:{axis}:{start}..{end}"),
            Attr::Axis(a) => write!(f, "axis:{a}"),
            Attr::Real(r) => write!(f, "#{r}"),
        }
    }
}

impl FromStr for Attr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("perm:") {
            return Ok(Attr::Perm(parse_list(p)?));
        }
        if let Some(rest) = s.strip_prefix("axes:") {
            let (a, k) = rest.rsplit_once(':').ok_or("axes without keep/drop")?;
            let keep = match k {
                "keep" => true,
                "drop" => false,
                _ => return Err(format!("`{k}` is neither keep nor drop")),
            };
            return Ok(Attr::Axes {
                axes: parse_list(a)?,
                keep,
            });
        }
        if let Some(rest) = s.strip_prefix("slice:") {
            let (a, r) = rest.split_once(':').ok_or("slice without a range")?;
            let (st, en) = r.split_once("..").ok_or("slice range without `..`")?;
            let num = |x: &str| x.parse::<usize>().map_err(|e| format!("`{x}`: {e}"));
            return Ok(Attr::Range {
                axis: num(a)?,
                start: num(st)?,
                end: num(en)?,
            });
        }
        if let Some(a) = s.strip_prefix("axis:") {
            return a.parse().map(Attr::Axis).map_err(|e| format!("`{a}`: {e}"));
        }
        if let Some(r) = s.strip_prefix('#') {
            return parse_real(r).map(Attr::Real);
        }
        s.parse::<TypeKey>().map(Attr::Type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egg::RecExpr;

    #[test]
    fn leaves_print_and_parse_back() {
        let text = "(reshape (add arg:0 full:0.5:f32[2,3]) f32[3,2])";
        let e: RecExpr<TensorLang> = text.parse().expect("parses");
        assert_eq!(e.to_string(), text);
        let text = "(reduce_sum (transpose iota:1:f32[2,3] perm:1,0) axes:0:keep)";
        let e: RecExpr<TensorLang> = text.parse().expect("parses");
        assert_eq!(e.to_string(), text);
        let text = "(rms_norm (slice arg:1 slice:0:2..4) arg:2 #1e-5)";
        let e: RecExpr<TensorLang> = text.parse().expect("parses");
        assert_eq!(
            e.to_string(),
            "(rms_norm (slice arg:1 slice:0:2..4) arg:2 #1e-5)"
        );
    }

    #[test]
    fn bad_leaves_are_rejected() {
        assert!("f32[2,x]".parse::<Attr>().is_err());
        assert!("axes:1:maybe".parse::<Attr>().is_err());
        assert!("q32[2]".parse::<TypeKey>().is_err());
        assert!("(frobnicate arg:0)".parse::<RecExpr<TensorLang>>().is_err());
    }
}
