//! The ops and types a kernel may contain; anything else is rejected naming the value.

use crate::emit::text::Sty;
use crate::error::{CodegenError, Result};
use llc_ir::{ArgRole, Function, NodeId, Op};

/// Reject ops and types no strategy emits, naming the value.
pub(super) fn check_ops(kernel: &str, d: &Function) -> Result<()> {
    let unsupported = |msg: String| CodegenError::Unsupported {
        kernel: kernel.to_string(),
        msg,
    };
    if d.outputs().is_empty() {
        return Err(unsupported("the kernel has no outputs".into()));
    }
    for id in d.node_ids() {
        let n = d.node(id);
        let why = match &n.op {
            Op::Arg { role } if *role != ArgRole::Input => Some(format!(
                "argument %{} has role {}; kernel arguments are buffers of role input",
                n.name,
                role.name()
            )),
            Op::Arg { .. }
            | Op::Full { .. }
            | Op::Iota { .. }
            | Op::Unary { .. }
            | Op::Binary { .. }
            | Op::Compare { .. }
            | Op::Select
            | Op::Cast
            | Op::Broadcast
            | Op::Reshape
            | Op::Reduce { .. }
            | Op::Rope { .. }
            | Op::Transpose { .. }
            | Op::Slice { .. }
            | Op::Concat { .. }
            | Op::Gather => None,
            Op::ScatterAdd => scatter_rule(d, id),
            Op::MatMul { .. } => {
                Some("`matmul` is a GEMM library call, not part of a kernel".to_string())
            }
            Op::Attention { .. } | Op::AttentionGrad { .. } => Some(format!(
                "`{}` is split into GEMMs and softmax row kernels by the partitioner",
                n.op.name()
            )),
            other => Some(format!("`{}` has no kernel lowering", other.name())),
        };
        if let Some(why) = why {
            return Err(unsupported(format!("%{} = {}: {why}", n.name, n.op.name())));
        }
        if Sty::storage(n.ty.dtype).is_none() {
            return Err(unsupported(format!(
                "%{}: {} has dtype {}, which codegen does not handle (f32, bf16, f16, i32, bool)",
                n.name, n.ty, n.ty.dtype
            )));
        }
        if n.ty.numel() == 0 {
            return Err(unsupported(format!("%{}: {} is empty", n.name, n.ty)));
        }
    }
    Ok(())
}

/// `scatter_add` accumulates with atomic adds into a zeroed result, so it must be the
/// kernel's only output, used by nothing else, of f32 or i32.
fn scatter_rule(d: &Function, id: NodeId) -> Option<String> {
    let outs = d.outputs();
    if outs.len() != 1 || outs[0].node != id || d.use_count(id) != 1 {
        return Some(
            "a `scatter_add` must be its kernel's only output and have no other use".into(),
        );
    }
    let dt = d.ty(id).dtype;
    if !matches!(dt, llc_ir::DType::F32 | llc_ir::DType::I32) {
        return Some(format!(
            "`scatter_add` of {dt} (atomic adds need f32 or i32)"
        ));
    }
    None
}
