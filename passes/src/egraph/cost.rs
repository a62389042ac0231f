//! The cost model: time on an H100 as bytes moved through HBM over 3.35 TB/s plus FLOPs
//! over 989 TFLOP/s (dense bf16), op by op. A fusion wins by removing round trips to
//! memory: a fused op reads its inputs and writes its result once.
//!
//! Modelling choices (see the module doc of [`crate::egraph`] for why):
//! - every op reads each operand whole and writes its result once, except that operands
//!   which are splat constants or index generators (and views of them) are free to read;
//! - a `broadcast` operand is read at its broadcast size (a stride-0 loop still streams);
//! - views cost nothing themselves: `reshape`, `broadcast`, `slice` (strided access) and
//!   `concat` (its producers write into the concatenated buffer in place);
//! - `transpose` is a copy; leaves (arguments, constants, iotas) cost nothing.

use super::analysis::EG;
use super::language::TensorLang;
use super::ops::decode;
use llc_ir::{Function, NodeId, Op, TensorType};
use std::ops::{Add, AddAssign};

/// HBM bandwidth of an H100 SXM, bytes per second.
pub const HBM_BYTES_PER_S: f64 = 3.35e12;
/// Dense bf16 tensor-core throughput of an H100 SXM, FLOP per second.
pub const FLOPS_PER_S: f64 = 989e12;

/// Estimated work of an op or a graph.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Bytes read from and written to HBM.
    pub bytes: f64,
    /// Floating-point operations.
    pub flops: f64,
}

impl Cost {
    /// Estimated time: memory time plus compute time (no overlap assumed).
    pub fn seconds(&self) -> f64 {
        self.bytes / HBM_BYTES_PER_S + self.flops / FLOPS_PER_S
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            bytes: self.bytes + o.bytes,
            flops: self.flops + o.flops,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

/// What the cost of an op needs to know about one operand.
#[derive(Clone, Copy, Debug)]
pub struct OperandInfo<'a> {
    /// The operand's type.
    pub ty: &'a TensorType,
    /// Reading it moves no bytes (splat constant, index generator).
    pub free_read: bool,
}

fn numel(t: &TensorType) -> f64 {
    t.numel() as f64
}

/// Cost of one op reading `operands` and producing `result`.
pub fn op_cost(op: &Op, operands: &[OperandInfo], result: &TensorType) -> Cost {
    match op {
        Op::Arg { .. }
        | Op::Full { .. }
        | Op::Iota { .. }
        | Op::Reshape
        | Op::Broadcast
        | Op::Slice { .. }
        | Op::Concat { .. } => return Cost::default(),
        _ => {}
    }
    let reads: f64 = operands
        .iter()
        .filter(|o| !o.free_read)
        .map(|o| o.ty.size_bytes() as f64)
        .sum();
    let bytes = reads + result.size_bytes() as f64;
    let n = numel(result);
    let first = |i: usize| operands.get(i).map(|o| numel(o.ty)).unwrap_or(0.0);
    let flops = match op {
        Op::Transpose { .. } | Op::Cast | Op::Gather => 0.0,
        Op::Unary { .. } | Op::Binary { .. } | Op::Compare { .. } | Op::Select => n,
        Op::Reduce { .. } => first(0),
        Op::ScatterAdd => first(1),
        Op::MatMul {
            transpose_lhs,
            transpose_rhs: _,
        } => {
            let a = operands.first().map(|o| o.ty);
            let k = a
                .map(|a| {
                    let r = a.rank();
                    if *transpose_lhs {
                        a.shape[r - 2]
                    } else {
                        a.shape[r - 1]
                    }
                })
                .unwrap_or(0) as f64;
            2.0 * n * k
        }
        Op::RmsNorm { .. } => 4.0 * n,
        Op::RmsNormGradX { .. } => 8.0 * n,
        Op::RmsNormGradW { .. } => 3.0 * first(0),
        Op::Swiglu => 5.0 * n,
        Op::SwigluGradA => 8.0 * n,
        Op::SwigluGradB => 5.0 * n,
        Op::Rope { .. } => 6.0 * n,
        Op::Softmax => 5.0 * n,
        Op::SoftmaxGrad => 4.0 * n,
        Op::CrossEntropy => 4.0 * first(0),
        Op::CrossEntropyGrad => 5.0 * first(0),
        // A library call; its cost is the bytes it moves, the same in every extraction.
        Op::AllReduce { .. } => 0.0,
        Op::Attention { causal, .. } => attention_flops(operands, *causal),
        // Each gradient recomputes the probabilities and does two more contractions.
        Op::AttentionGrad { causal, .. } => 2.0 * attention_flops(operands, *causal),
        Op::Arg { .. }
        | Op::Full { .. }
        | Op::Iota { .. }
        | Op::Reshape
        | Op::Broadcast
        | Op::Slice { .. }
        | Op::Concat { .. } => 0.0,
    };
    Cost { bytes, flops }
}

/// `q k^T` and `p v`: `4 B Hq T S hd`, halved under a causal mask.
fn attention_flops(operands: &[OperandInfo], causal: bool) -> f64 {
    let (Some(q), Some(k)) = (operands.first(), operands.get(1)) else {
        return 0.0;
    };
    if q.ty.rank() != 4 || k.ty.rank() != 4 {
        return 0.0;
    }
    let s = k.ty.shape[2] as f64;
    let f = 4.0 * numel(q.ty) * s;
    if causal { f / 2.0 } else { f }
}

/// Cost of one e-node whose class has type `result`, from the analysis data of its
/// operand classes. `None` for attribute leaves and undecodable nodes (never extracted).
pub fn enode_cost(eg: &EG, n: &TensorLang, result: &TensorType) -> Option<Cost> {
    let dec = decode(eg, n)?;
    let mut ops = Vec::with_capacity(dec.operands.len());
    for &o in &dec.operands {
        let d = &eg[o].data;
        ops.push(OperandInfo {
            ty: d.ty.as_ref()?,
            free_read: d.free_read,
        });
    }
    Some(op_cost(&dec.op, &ops, result))
}

/// Whether reading each node is free: constants and iotas, and views of them.
fn free_reads(f: &Function, order: &[NodeId]) -> Vec<bool> {
    let bound = order.iter().map(|n| n.index()).max().map_or(0, |m| m + 1);
    let mut free = vec![false; bound];
    for &n in order {
        let node = f.node(n);
        free[n.index()] = match node.op {
            Op::Full { .. } | Op::Iota { .. } => true,
            Op::Broadcast | Op::Reshape | Op::Transpose { .. } | Op::Slice { .. } => {
                f.operands(n).first().is_some_and(|o| free[o.index()])
            }
            _ => false,
        };
    }
    free
}

/// Estimated cost of running a whole function once: every node costed once (shared
/// values are computed once). Fails only on a cyclic graph.
pub fn function_cost(f: &Function) -> llc_ir::Result<Cost> {
    let order = f.topo_order()?;
    let free = free_reads(f, &order);
    let mut total = Cost::default();
    for &n in &order {
        let operands = f.operands(n);
        let infos: Vec<OperandInfo> = operands
            .iter()
            .map(|&o| OperandInfo {
                ty: f.ty(o),
                free_read: free[o.index()],
            })
            .collect();
        total += op_cost(&f.node(n).op, &infos, f.ty(n));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llc_ir::{DType, parse_function};

    fn t(shape: &[usize]) -> TensorType {
        TensorType::new(DType::BF16, shape.to_vec())
    }

    #[test]
    fn matmul_reads_both_operands_writes_once_and_counts_2mnk() {
        let (a, b, out) = (t(&[4, 8, 16]), t(&[32, 16]), t(&[4, 8, 32]));
        let ops = [
            OperandInfo {
                ty: &a,
                free_read: false,
            },
            OperandInfo {
                ty: &b,
                free_read: false,
            },
        ];
        let mm = Op::MatMul {
            transpose_lhs: false,
            transpose_rhs: true,
        };
        let c = op_cost(&mm, &ops, &out);
        assert_eq!(
            c.bytes,
            ((4 * 8 * 16) + (32 * 16) + (4 * 8 * 32)) as f64 * 2.0
        );
        assert_eq!(c.flops, 2.0 * (4 * 8 * 32) as f64 * 16.0);
        assert!((c.seconds() - (c.bytes / HBM_BYTES_PER_S + c.flops / FLOPS_PER_S)).abs() < 1e-18);
    }

    #[test]
    fn views_are_free_transposes_copy_and_constants_are_free_to_read() {
        let x = t(&[4, 8]);
        let one = [OperandInfo {
            ty: &x,
            free_read: false,
        }];
        assert_eq!(op_cost(&Op::Reshape, &one, &t(&[32])), Cost::default());
        assert_eq!(
            op_cost(&Op::Broadcast, &one, &t(&[2, 4, 8])),
            Cost::default()
        );
        let tr = op_cost(&Op::Transpose { perm: vec![1, 0] }, &one, &t(&[8, 4]));
        assert_eq!(tr.bytes, 2.0 * 32.0 * 2.0);
        let k = [
            OperandInfo {
                ty: &x,
                free_read: false,
            },
            OperandInfo {
                ty: &x,
                free_read: true,
            },
        ];
        let mul = Op::Binary {
            op: llc_ir::BinaryOp::Mul,
        };
        assert_eq!(op_cost(&mul, &k, &x).bytes, 2.0 * 32.0 * 2.0);
    }

    #[test]
    fn a_shared_value_is_costed_once() {
        let f = parse_function(
            "func @f(input %x: f32[256]) {
  %e = exp %x : f32[256]
  %a = add %e, %e : f32[256]
  %b = mul %a, %e : f32[256]
  return %b
}",
        )
        .expect("parses");
        let c = function_cost(&f).expect("acyclic");
        // exp: read + write; add: two reads + write; mul: two reads + write.
        assert_eq!(c.bytes, (2 + 3 + 3) as f64 * 1024.0);
        assert_eq!(c.flops, 3.0 * 256.0);
    }
}
