//! One node: the match over every op, handing each to its kernel.

use crate::comm::Communicator;
use crate::error::Result;
use crate::interp::ctx::Ctx;
use crate::interp::float::Float;
use crate::interp::{activation, attention, collective, cross_entropy, elementwise, index, layout};
use crate::interp::{matmul, norm, reduce, rope};
use crate::tensor::{Precision, Tensor};
use llc_ir::{DType, Node, Op};

/// Evaluate `node` on its operand values (in slot order) in working float type `T`.
/// The function has been verified, so operand counts and shapes follow the op's type rule.
/// Collectives run through `comm`.
///
/// A result of a 16-bit float type is computed in the working type and then rounded to
/// its type, as a kernel that computes in f32 and stores bf16 would: the interpreter's
/// bf16 is the compiled code's.
pub(crate) fn eval<T: Float>(
    node: &Node,
    x: &[&Tensor],
    precision: Precision,
    comm: &dyn Communicator,
) -> Result<Tensor> {
    let y = eval_op::<T>(node, x, precision, comm)?;
    match node.ty.dtype {
        DType::BF16 | DType::F16 if !matches!(node.op, Op::Cast) => {
            elementwise::cast::<T>(&Ctx { node }, &y, node.ty.dtype, precision)
        }
        _ => Ok(y),
    }
}

fn eval_op<T: Float>(
    node: &Node,
    x: &[&Tensor],
    precision: Precision,
    comm: &dyn Communicator,
) -> Result<Tensor> {
    let cx = Ctx { node };
    let shape = &node.ty.shape;
    match &node.op {
        Op::Arg { .. } => Err(cx.type_err("an argument is bound by the caller, not evaluated")),
        Op::Full { value } => Ok(Tensor::full(&node.ty, value.0, precision)),
        Op::Iota { axis } => Ok(elementwise::iota::<T>(&node.ty, *axis)),
        Op::Unary { op } => elementwise::unary::<T>(&cx, *op, x[0]),
        Op::Binary { op } => elementwise::binary::<T>(&cx, *op, x[0], x[1]),
        Op::Compare { op } => elementwise::compare::<T>(&cx, *op, x[0], x[1]),
        Op::Select => elementwise::select(&cx, x[0], x[1], x[2]),
        Op::Cast => elementwise::cast::<T>(&cx, x[0], node.ty.dtype, precision),
        Op::Broadcast => Ok(layout::broadcast(x[0], shape)),
        Op::Reshape => x[0].clone().reshaped(shape.clone()),
        Op::Transpose { perm } => Ok(layout::transpose(x[0], perm)),
        Op::Slice { axis, start, end } => Ok(layout::slice(x[0], *axis, *start, *end)),
        Op::Concat { axis } => layout::concat(&cx, x, *axis, shape),
        Op::Reduce { kind, axes, .. } => reduce::reduce::<T>(&cx, *kind, x[0], axes, shape),
        Op::MatMul {
            transpose_lhs,
            transpose_rhs,
        } => matmul::matmul::<T>(&cx, x[0], x[1], *transpose_lhs, *transpose_rhs, shape),
        Op::Gather => index::gather(&cx, x[0], x[1], shape),
        Op::ScatterAdd => index::scatter_add::<T>(&cx, x[0], x[1], shape),
        Op::RmsNorm { eps } => norm::rms_norm::<T>(&cx, x[0], x[1], eps.0),
        Op::RmsNormGradX { eps } => norm::rms_norm_grad_x::<T>(&cx, x[0], x[1], x[2], eps.0),
        Op::RmsNormGradW { eps } => norm::rms_norm_grad_w::<T>(&cx, x[0], x[1], eps.0),
        Op::Swiglu => activation::swiglu::<T>(&cx, x[0], x[1]),
        Op::SwigluGradA => activation::swiglu_grad_a::<T>(&cx, x[0], x[1], x[2]),
        Op::SwigluGradB => activation::swiglu_grad_b::<T>(&cx, x[0], x[1]),
        Op::Rope { theta, inverse } => rope::rope::<T>(&cx, x[0], theta.0, *inverse),
        Op::Softmax => activation::softmax::<T>(&cx, x[0]),
        Op::SoftmaxGrad => activation::softmax_grad::<T>(&cx, x[0], x[1]),
        Op::Attention { scale, causal } => {
            attention::attention::<T>(&cx, x[0], x[1], x[2], scale.0, *causal)
        }
        Op::AttentionGrad { scale, causal, wrt } => {
            attention::attention_grad::<T>(&cx, x[0], x[1], x[2], x[3], scale.0, *causal, *wrt)
        }
        Op::CrossEntropy => cross_entropy::cross_entropy::<T>(&cx, x[0], x[1]),
        Op::CrossEntropyGrad => cross_entropy::cross_entropy_grad::<T>(&cx, x[0], x[1], x[2]),
        Op::AllReduce { kind } => collective::all_reduce(&cx, *kind, x[0], comm),
    }
}
