//! The precision policy as IR: which values are computed in bf16.
//!
//! `bf16` (mixed precision, as PyTorch's autocast and the Llama 2 recipe): every GEMM —
//! the projections, the LM head, and the attention's score and value products — reads
//! bf16 operands and accumulates in f32 (the GEMM's compute type); its result is stored
//! in bf16 and cast back to f32 for whatever follows. Everything else stays f32:
//! RMSNorm and its statistics, SwiGLU, RoPE, residual adds, the softmax (attention's
//! lowering casts the bf16 scores up before it, see [`crate::lower_attention`]),
//! cross-entropy, the loss, every reduction and the gradient norm. Parameters stay f32
//! (master weights): each GEMM reads a bf16 copy made by a `cast`, so the gradient of a
//! parameter is the f32 cast of its bf16 GEMM gradient, and clipping and AdamW run in
//! f32 on f32 moments.
//!
//! The pass runs on the forward graph after the forward e-graph (fusion has formed
//! `attention`, `rms_norm`, `swiglu`, `rope`) and before autodiff, so the casts are
//! ordinary IR that autodiff differentiates (the VJP of a cast is the cast back) and the
//! step e-graph and the partitioner see. One cast per value: a normalized activation
//! read by three projections is rounded once.

use crate::error::{PassError, Result};
use llc_ir::{DType, Function, Module, NodeId, Op};
use std::collections::HashMap;

/// Where the compute of a step happens: `--precision` on compile, train and bench.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Everything in f32 (the graph as the model builder wrote it).
    #[default]
    F32,
    /// GEMMs in bf16 with f32 accumulation; the rest, and the master weights, f32.
    Bf16,
}

impl Precision {
    /// The name the CLI, reports and artifacts use.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the pass rewrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrecisionStats {
    /// `matmul` nodes moved to bf16.
    pub matmuls: usize,
    /// `attention` nodes moved to bf16.
    pub attentions: usize,
    /// `cast` nodes added (operands down, results up).
    pub casts: usize,
}

/// Apply `precision` to function `func` of `m` (see the module doc).
pub fn apply_precision(m: &mut Module, func: &str, precision: Precision) -> Result<PrecisionStats> {
    let available = m
        .functions
        .iter()
        .map(|f| format!("@{}", f.name))
        .collect::<Vec<_>>()
        .join(", ");
    let f = m
        .function_mut(func)
        .ok_or_else(|| PassError::NoSuchFunction {
            pass: "precision",
            func: func.to_string(),
            available,
        })?;
    match precision {
        Precision::F32 => Ok(PrecisionStats::default()),
        Precision::Bf16 => to_bf16(f),
    }
}

/// Is `op` one of the GEMM-shaped ops the policy moves to bf16?
fn is_gemm(op: &Op) -> bool {
    matches!(op, Op::MatMul { .. } | Op::Attention { .. })
}

fn to_bf16(f: &mut Function) -> Result<PrecisionStats> {
    let mut stats = PrecisionStats::default();
    // The bf16 copy of each value, made once.
    let mut down: HashMap<NodeId, NodeId> = HashMap::new();
    for id in f.topo_order()? {
        let node = f.node(id);
        if !is_gemm(&node.op) {
            continue;
        }
        let operands = f.operands(id);
        if operands.iter().any(|&o| f.ty(o).dtype != DType::F32) {
            continue;
        }
        let (name, op, ty) = (node.name.clone(), node.op.clone(), node.ty.clone());
        let mut lowered = Vec::with_capacity(operands.len());
        for &o in &operands {
            let c = match down.get(&o) {
                Some(&c) => c,
                None => {
                    let base = format!("{}.bf16", f.node(o).name);
                    let c = f.add(&base, Op::Cast, &[o], Some(f.ty(o).with_dtype(DType::BF16)))?;
                    stats.casts += 1;
                    down.insert(o, c);
                    c
                }
            };
            lowered.push(c);
        }
        let gemm = f.add(&format!("{name}.bf16"), op, &lowered, None)?;
        let up = f.add(&format!("{name}.f32"), Op::Cast, &[gemm], Some(ty))?;
        stats.casts += 1;
        f.replace_all_uses(id, up);
        f.remove(id)?;
        f.rename(up, &name)?;
        if matches!(f.node(gemm).op, Op::MatMul { .. }) {
            stats.matmuls += 1;
        } else {
            stats.attentions += 1;
        }
    }
    Ok(stats)
}
