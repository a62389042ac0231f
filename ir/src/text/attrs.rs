//! Op spellings in the text format: how each [`Op`] writes its attribute block, and how an
//! op name plus parsed attributes turns back into an [`Op`]. The two halves are kept next to
//! each other so that they stay inverse; the round-trip test over every op checks it.

use super::suggest::did_you_mean;
use crate::dtype::MAX_ELEMENTS;
use crate::error::{IrError, Result, Span};
use crate::op::{
    ArgRole, AttnOperand, BinaryOp, CmpOp, CollectiveKind, Op, Real, ReduceKind, UnaryOp,
};
use std::fmt::Write;

// ---------------------------------------------------------------- printing

/// One attribute value as it is printed.
enum Shown<'o> {
    Int(usize),
    Real(Real),
    Bool(bool),
    Word(&'static str),
    List(&'o [usize]),
}

/// Every attribute of `op`, in the canonical order (the order of the variant's fields).
fn attributes(op: &Op) -> Vec<(&'static str, Shown<'_>)> {
    use Shown::*;
    match op {
        Op::Arg { role } => vec![("role", Word(role.name()))],
        Op::Full { value } => vec![("value", Real(*value))],
        Op::Iota { axis } => vec![("axis", Int(*axis))],
        Op::Transpose { perm } => vec![("perm", List(perm))],
        Op::Slice { axis, start, end } => vec![
            ("axis", Int(*axis)),
            ("start", Int(*start)),
            ("end", Int(*end)),
        ],
        Op::Concat { axis } => vec![("axis", Int(*axis))],
        Op::Reduce {
            axes, keep_dims, ..
        } => vec![("axes", List(axes)), ("keep_dims", Bool(*keep_dims))],
        Op::MatMul {
            transpose_lhs,
            transpose_rhs,
        } => vec![
            ("transpose_lhs", Bool(*transpose_lhs)),
            ("transpose_rhs", Bool(*transpose_rhs)),
        ],
        Op::RmsNorm { eps } | Op::RmsNormGradX { eps } | Op::RmsNormGradW { eps } => {
            vec![("eps", Real(*eps))]
        }
        Op::Rope { theta, inverse } => vec![("theta", Real(*theta)), ("inverse", Bool(*inverse))],
        Op::Attention { scale, causal } => {
            vec![("scale", Real(*scale)), ("causal", Bool(*causal))]
        }
        Op::AttentionGrad { scale, causal, wrt } => vec![
            ("scale", Real(*scale)),
            ("causal", Bool(*causal)),
            ("wrt", Word(wrt.name())),
        ],
        Op::AllReduce { kind } => vec![("kind", Word(kind.name()))],
        Op::Unary { .. }
        | Op::Binary { .. }
        | Op::Compare { .. }
        | Op::Select
        | Op::Cast
        | Op::Broadcast
        | Op::Reshape
        | Op::Gather
        | Op::ScatterAdd
        | Op::Swiglu
        | Op::SwigluGradA
        | Op::SwigluGradB
        | Op::Softmax
        | Op::SoftmaxGrad
        | Op::CrossEntropy
        | Op::CrossEntropyGrad => Vec::new(),
    }
}

/// Append ` {k = v, ...}` for an op with attributes; nothing for one without.
pub(crate) fn write_attributes(out: &mut String, op: &Op) {
    let attrs = attributes(op);
    if attrs.is_empty() {
        return;
    }
    out.push_str(" {");
    for (i, (key, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push_str(" = ");
        // Writing to a String cannot fail.
        let _ = match v {
            Shown::Int(n) => write!(out, "{n}"),
            Shown::Real(r) => write!(out, "{r}"),
            Shown::Bool(b) => write!(out, "{b}"),
            Shown::Word(w) => write!(out, "{w}"),
            Shown::List(xs) => {
                out.push('[');
                for (j, x) in xs.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{x}");
                }
                out.push(']');
                Ok(())
            }
        };
    }
    out.push('}');
}

// ---------------------------------------------------------------- parsing

/// A scalar attribute value as written: a number or a word, maybe with a leading `-`.
#[derive(Clone, Debug)]
pub(crate) struct RawScalar<'a> {
    pub neg: bool,
    pub is_number: bool,
    pub text: &'a str,
    pub span: Span,
}

impl RawScalar<'_> {
    fn shown(&self) -> String {
        format!("`{}{}`", if self.neg { "-" } else { "" }, self.text)
    }
}

/// An attribute value as written, before the op says what it must be.
#[derive(Clone, Debug)]
pub(crate) enum RawValue<'a> {
    Scalar(RawScalar<'a>),
    List {
        items: Vec<RawScalar<'a>>,
        span: Span,
    },
}

impl RawValue<'_> {
    fn span(&self) -> Span {
        match self {
            RawValue::Scalar(s) => s.span,
            RawValue::List { span, .. } => *span,
        }
    }
    fn shown(&self) -> String {
        match self {
            RawValue::Scalar(s) => s.shown(),
            RawValue::List { .. } => "a list".to_string(),
        }
    }
}

/// `key = value` as written.
#[derive(Clone, Debug)]
pub(crate) struct RawAttr<'a> {
    pub key: &'a str,
    pub key_span: Span,
    pub value: RawValue<'a>,
}

fn perr(span: Span, msg: String) -> IrError {
    IrError::Parse { span, msg }
}

/// A non-negative integer literal (attributes and dimensions), at most `MAX_ELEMENTS`
/// when `what` is a dimension.
pub(crate) fn parse_uint(s: &RawScalar<'_>, what: &dyn Fn() -> String) -> Result<usize> {
    if s.neg || !s.is_number || !s.text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(perr(
            s.span,
            format!(
                "{} must be a non-negative integer, found {}",
                what(),
                s.shown()
            ),
        ));
    }
    let too_large = || perr(s.span, format!("{} {} is too large", what(), s.text));
    let v: u64 = s.text.parse().map_err(|_| too_large())?;
    if v > MAX_ELEMENTS && what() == "dimension" {
        return Err(perr(
            s.span,
            format!(
                "dimension {} is too large (a tensor holds at most 2^48 elements)",
                s.text
            ),
        ));
    }
    usize::try_from(v).map_err(|_| too_large())
}

/// Reads the attributes an op asks for, converting each to the kind it needs. Problems
/// are collected, not raised at once, so that an unknown (likely misspelled) attribute
/// is reported before the missing one it was meant to be.
struct AttrReader<'r, 'a> {
    op_name: &'r str,
    op_span: Span,
    attrs: &'r [RawAttr<'a>],
    used: Vec<bool>,
    requested: Vec<&'static str>,
    first_error: Option<IrError>,
}

impl<'r, 'a> AttrReader<'r, 'a> {
    fn fail(&mut self, e: IrError) {
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }

    /// The raw value of `key`, or a "needs attribute" error described by `kind`.
    fn take(&mut self, key: &'static str, kind: &str) -> Option<&'r RawValue<'a>> {
        self.requested.push(key);
        match self.attrs.iter().position(|a| a.key == key) {
            Some(i) => {
                self.used[i] = true;
                Some(&self.attrs[i].value)
            }
            None => {
                let e = perr(
                    self.op_span,
                    format!("`{}` needs attribute `{key}` ({kind})", self.op_name),
                );
                self.fail(e);
                None
            }
        }
    }

    fn mismatch(&mut self, key: &str, kind: &str, v: &RawValue<'_>) {
        let e = perr(
            v.span(),
            format!(
                "attribute `{key}` of `{}` must be {kind}, found {}",
                self.op_name,
                v.shown()
            ),
        );
        self.fail(e);
    }

    fn scalar(&mut self, key: &'static str, kind: &str) -> Option<&'r RawScalar<'a>> {
        let v = self.take(key, kind)?;
        match v {
            RawValue::Scalar(s) => Some(s),
            RawValue::List { .. } => {
                self.mismatch(key, kind, v);
                None
            }
        }
    }

    fn int(&mut self, key: &'static str) -> usize {
        let Some(s) = self.scalar(key, "a non-negative integer") else {
            return 0;
        };
        parse_uint(s, &|| format!("attribute `{key}`")).unwrap_or_else(|e| {
            self.fail(e);
            0
        })
    }

    fn real(&mut self, key: &'static str) -> Real {
        const KIND: &str = "a float like 1e-5, `inf` or `nan`";
        let Some(s) = self.scalar(key, KIND) else {
            return Real(0.0);
        };
        let magnitude = if s.is_number {
            match s.text.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    let e = perr(
                        s.span,
                        format!(
                            "float {} is out of range (write `inf` for infinity)",
                            s.text
                        ),
                    );
                    self.fail(e);
                    return Real(0.0);
                }
            }
        } else {
            match s.text {
                "inf" => Some(f64::INFINITY),
                "nan" => Some(f64::NAN),
                _ => None,
            }
        };
        match magnitude {
            Some(v) => Real(if s.neg { -v } else { v }),
            None => {
                self.mismatch(key, KIND, &RawValue::Scalar(s.clone()));
                Real(0.0)
            }
        }
    }

    fn boolean(&mut self, key: &'static str) -> bool {
        const KIND: &str = "`true` or `false`";
        let Some(s) = self.scalar(key, KIND) else {
            return false;
        };
        match (s.neg, s.is_number, s.text) {
            (false, false, "true") => true,
            (false, false, "false") => false,
            _ => {
                self.mismatch(key, KIND, &RawValue::Scalar(s.clone()));
                false
            }
        }
    }

    fn list(&mut self, key: &'static str) -> Vec<usize> {
        const KIND: &str = "a list of integers like [0, 1]";
        let Some(v) = self.take(key, KIND) else {
            return Vec::new();
        };
        match v {
            RawValue::List { items, .. } => {
                let mut out = Vec::with_capacity(items.len());
                for s in items {
                    match parse_uint(s, &|| format!("an element of `{key}`")) {
                        Ok(x) => out.push(x),
                        Err(e) => {
                            self.fail(e);
                            return Vec::new();
                        }
                    }
                }
                out
            }
            RawValue::Scalar(_) => {
                self.mismatch(key, KIND, v);
                Vec::new()
            }
        }
    }

    /// A word from a closed set (`wrt = q`, `role = param`).
    fn word<T: Copy>(
        &mut self,
        key: &'static str,
        options: &[(&'static str, T)],
        fallback: T,
    ) -> T {
        let kind = format!(
            "one of {}",
            options
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let Some(s) = self.scalar(key, &kind) else {
            return fallback;
        };
        if !s.neg
            && !s.is_number
            && let Some((_, v)) = options.iter().find(|(n, _)| *n == s.text)
        {
            return *v;
        }
        self.mismatch(key, &kind, &RawValue::Scalar(s.clone()));
        fallback
    }

    /// Report leftovers (unknown attributes) first, then the first other problem.
    fn finish(self) -> Result<()> {
        if let Some(i) = self.used.iter().position(|u| !u) {
            let a = &self.attrs[i];
            let msg = if self.requested.is_empty() {
                format!(
                    "unknown attribute `{}`: `{}` takes no attributes",
                    a.key, self.op_name
                )
            } else {
                format!(
                    "unknown attribute `{}` for `{}`{}",
                    a.key,
                    self.op_name,
                    did_you_mean(a.key, self.requested.iter().copied())
                )
            };
            return Err(perr(a.key_span, msg));
        }
        match self.first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Whether `name` spells an op: one of `known` (from [`Op::all_names`]) or `arg`, which
/// only an invalid graph has outside a signature but which still prints.
pub(crate) fn is_op_name(name: &str, known: &[&str]) -> bool {
    name == "arg" || known.contains(&name)
}

/// Build the op spelled `name` from its written attributes. `name` must satisfy
/// [`is_op_name`]; errors name the attribute and its location.
pub(crate) fn build_op(name: &str, op_span: Span, attrs: &[RawAttr<'_>]) -> Result<Op> {
    let mut r = AttrReader {
        op_name: name,
        op_span,
        attrs,
        used: vec![false; attrs.len()],
        requested: Vec::new(),
        first_error: None,
    };
    let roles = [
        ("param", ArgRole::Param),
        ("state", ArgRole::State),
        ("input", ArgRole::Input),
    ];
    let operands = [
        ("q", AttnOperand::Q),
        ("k", AttnOperand::K),
        ("v", AttnOperand::V),
    ];
    let op = match name {
        "arg" => Op::Arg {
            role: r.word("role", &roles, ArgRole::Input),
        },
        "full" => Op::Full {
            value: r.real("value"),
        },
        "iota" => Op::Iota {
            axis: r.int("axis"),
        },
        "select" => Op::Select,
        "cast" => Op::Cast,
        "broadcast" => Op::Broadcast,
        "reshape" => Op::Reshape,
        "transpose" => Op::Transpose {
            perm: r.list("perm"),
        },
        "slice" => Op::Slice {
            axis: r.int("axis"),
            start: r.int("start"),
            end: r.int("end"),
        },
        "concat" => Op::Concat {
            axis: r.int("axis"),
        },
        "reduce_sum" | "reduce_max" => Op::Reduce {
            kind: if name == "reduce_sum" {
                ReduceKind::Sum
            } else {
                ReduceKind::Max
            },
            axes: r.list("axes"),
            keep_dims: r.boolean("keep_dims"),
        },
        "matmul" => Op::MatMul {
            transpose_lhs: r.boolean("transpose_lhs"),
            transpose_rhs: r.boolean("transpose_rhs"),
        },
        "gather" => Op::Gather,
        "scatter_add" => Op::ScatterAdd,
        "rms_norm" => Op::RmsNorm { eps: r.real("eps") },
        "rms_norm_grad_x" => Op::RmsNormGradX { eps: r.real("eps") },
        "rms_norm_grad_w" => Op::RmsNormGradW { eps: r.real("eps") },
        "swiglu" => Op::Swiglu,
        "swiglu_grad_a" => Op::SwigluGradA,
        "swiglu_grad_b" => Op::SwigluGradB,
        "rope" => Op::Rope {
            theta: r.real("theta"),
            inverse: r.boolean("inverse"),
        },
        "softmax" => Op::Softmax,
        "softmax_grad" => Op::SoftmaxGrad,
        "attention" => Op::Attention {
            scale: r.real("scale"),
            causal: r.boolean("causal"),
        },
        "attention_grad" => Op::AttentionGrad {
            scale: r.real("scale"),
            causal: r.boolean("causal"),
            wrt: r.word("wrt", &operands, AttnOperand::Q),
        },
        "cross_entropy" => Op::CrossEntropy,
        "cross_entropy_grad" => Op::CrossEntropyGrad,
        "all_reduce" => Op::AllReduce {
            kind: r.word(
                "kind",
                &CollectiveKind::ALL.map(|k| (k.name(), k)),
                CollectiveKind::Sum,
            ),
        },
        other => {
            if let Some(&op) = UnaryOp::ALL.iter().find(|u| u.name() == other) {
                Op::Unary { op }
            } else if let Some(&op) = BinaryOp::ALL.iter().find(|b| b.name() == other) {
                Op::Binary { op }
            } else if let Some(&op) = CmpOp::ALL.iter().find(|c| c.name() == other) {
                Op::Compare { op }
            } else {
                return Err(perr(op_span, format!("unknown op `{other}`")));
            }
        }
    };
    r.finish()?;
    Ok(op)
}
