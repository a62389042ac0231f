//! Static statistics of a function: op counts, parameter sizes, FLOPs and bytes. Used by
//! `compile`'s summary and by reports that compare graphs before and after a pass.

use crate::graph::Function;
use crate::op::{ArgRole, Op};
use std::collections::BTreeMap;

/// What a function costs and contains, computed from its types alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionStats {
    /// Number of nodes of each op name (arguments excluded).
    pub ops_by_kind: BTreeMap<&'static str, usize>,
    /// Total elements of all `param` arguments.
    pub param_count: u64,
    /// Total bytes of all `param` arguments.
    pub param_bytes: u64,
    /// Total bytes of all `state` arguments.
    pub state_bytes: u64,
    /// Floating-point operations of one call (multiply-add = 2).
    pub flops: u64,
    /// FLOPs spent in matmuls (the part tensor cores run).
    pub matmul_flops: u64,
    /// Bytes of every value produced by a non-argument node if each were stored.
    pub intermediate_bytes: u64,
    pub nodes: usize,
}

/// FLOPs of one node given its operand and result element counts.
pub fn node_flops(f: &Function, id: crate::NodeId) -> u64 {
    let node = f.node(id);
    let out = node.ty.numel() as u64;
    let operands = f.operands(id);
    let in0 = operands
        .first()
        .map(|&o| f.ty(o).numel() as u64)
        .unwrap_or(0);
    match &node.op {
        Op::Arg { .. }
        | Op::Full { .. }
        | Op::Iota { .. }
        | Op::Broadcast
        | Op::Reshape
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Concat { .. }
        | Op::Cast
        | Op::Gather => 0,
        Op::Unary { .. } | Op::Binary { .. } | Op::Compare { .. } | Op::Select => out,
        Op::Reduce { .. } | Op::ScatterAdd => in0,
        Op::MatMul {
            transpose_lhs,
            transpose_rhs: _,
        } => {
            let lhs = f.ty(operands[0]);
            let r = lhs.rank();
            let k = if *transpose_lhs {
                lhs.shape[r - 2]
            } else {
                lhs.shape[r - 1]
            } as u64;
            2 * out * k
        }
        Op::RmsNorm { .. } | Op::RmsNormGradW { .. } => 4 * out.max(in0),
        Op::RmsNormGradX { .. } => 8 * out,
        Op::Swiglu | Op::SwigluGradB => 5 * out,
        Op::SwigluGradA => 8 * out,
        Op::Rope { .. } => 3 * out,
        Op::Softmax | Op::SoftmaxGrad => 5 * out,
        Op::CrossEntropy => 4 * in0,
        Op::CrossEntropyGrad => 5 * out,
        // One add per element per rank, in the library; no kernel FLOPs.
        Op::AllReduce { .. } => 0,
        Op::Attention { .. } | Op::AttentionGrad { .. } => {
            let q = f.ty(operands[0]);
            let k = f.ty(operands[1]);
            let (b, h, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
            let s = k.shape[2];
            let causal = matches!(
                node.op,
                Op::Attention { causal: true, .. } | Op::AttentionGrad { causal: true, .. }
            );
            // Two GEMMs forward (scores, context); the backward of one operand costs about
            // two GEMMs more with recomputation. Causal masking halves useful work.
            let gemm = 2 * (b * h * t * s * d) as u64;
            let per = if matches!(node.op, Op::Attention { .. }) {
                2 * gemm
            } else {
                3 * gemm / 2
            };
            if causal { per / 2 } else { per }
        }
    }
}

/// Compute [`FunctionStats`] for `f`.
pub fn function_stats(f: &Function) -> FunctionStats {
    let mut s = FunctionStats {
        nodes: f.node_count(),
        ..Default::default()
    };
    for id in f.node_ids() {
        let node = f.node(id);
        match node.op {
            Op::Arg { role } => {
                let bytes = node.ty.size_bytes() as u64;
                match role {
                    ArgRole::Param => {
                        s.param_count += node.ty.numel() as u64;
                        s.param_bytes += bytes;
                    }
                    ArgRole::State => s.state_bytes += bytes,
                    ArgRole::Input => {}
                }
                continue;
            }
            _ => {
                *s.ops_by_kind.entry(node.op.name()).or_default() += 1;
                s.intermediate_bytes += node.ty.size_bytes() as u64;
            }
        }
        let fl = node_flops(f, id);
        s.flops += fl;
        if matches!(
            node.op,
            Op::MatMul { .. } | Op::Attention { .. } | Op::AttentionGrad { .. }
        ) {
            s.matmul_flops += fl;
        }
    }
    s
}

/// Human-readable count with a unit suffix (`6.74B`, `15.2M`).
pub fn human_count(n: u64) -> String {
    let v = n as f64;
    if v >= 1e12 {
        format!("{:.2}T", v / 1e12)
    } else if v >= 1e9 {
        format!("{:.2}B", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2}K", v / 1e3)
    } else {
        format!("{n}")
    }
}

/// Human-readable byte count (`1.50 GiB`).
pub fn human_bytes(n: u64) -> String {
    let v = n as f64;
    const K: f64 = 1024.0;
    if v >= K * K * K {
        format!("{:.2} GiB", v / (K * K * K))
    } else if v >= K * K {
        format!("{:.2} MiB", v / (K * K))
    } else if v >= K {
        format!("{:.2} KiB", v / K)
    } else {
        format!("{n} B")
    }
}
