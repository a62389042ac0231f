//! Attention lowering: `attention` and `attention_grad` become batched GEMMs and
//! softmax row work, so they partition into library calls and row kernels.
//!
//! Grouped-query attention needs no copies: `q[B, Hq, T, hd]` is reshaped (a view) to
//! `[B, Hkv, g*T, hd]` with `g = Hq / Hkv`, so the `g` query heads sharing a KV head form
//! one `[g*T, hd]` matrix and each KV head is one batched GEMM against its own K and V:
//!
//! ```text
//! S  = Qg K^T                      [B, Hkv, g*T, S]   (GEMM)
//! P  = softmax(mask(S * scale))    row kernel; causal: row r is position r mod T,
//!                                  key c is allowed when c <= r mod T (iota in-kernel)
//! O  = P V                         [B, Hkv, g*T, hd]  (GEMM), viewed as [B, Hq, T, hd]
//! ```
//!
//! In bf16 (see [`crate::precision`]) the GEMMs read and write bf16 and the softmax
//! work runs in f32: the scores are cast up before the scale, mask and softmax, `P` is
//! cast down for the value GEMMs, `dP` up for `softmax_grad`, and `dS` down again.
//!
//! The backward recomputes `P` (no probabilities are kept between passes) and shares it,
//! and `dP`, among the gradients of one `(q, k, v, dy)`:
//!
//! ```text
//! dV = P^T dOg                     summed over the group by the GEMM's contraction
//! dP = dOg V^T
//! dS = softmax_grad(P, dP) * scale
//! dQ = dS K                        viewed back as [B, Hq, T, hd]
//! dK = dS^T Qg                     summed over the group by the contraction
//! ```

use crate::error::Result;
use llc_ir::{AttnOperand, BinaryOp, CmpOp, DType, Function, NodeId, Op, Real, TensorType};
use std::collections::HashMap;

/// How many `attention` and `attention_grad` nodes were rewritten.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttentionLoweringStats {
    /// `attention` nodes rewritten.
    pub forward: usize,
    /// `attention_grad` nodes rewritten.
    pub backward: usize,
}

struct Shapes {
    b: usize,
    hq: usize,
    hkv: usize,
    t: usize,
    s: usize,
    hd: usize,
    /// The GEMMs' element type (q's).
    dtype: DType,
    /// The softmax work's element type: f32 for bf16/f16 GEMMs, else `dtype`.
    acc: DType,
}

impl Shapes {
    fn of(f: &Function, q: NodeId, k: NodeId) -> Shapes {
        let (qs, ks) = (&f.ty(q).shape, &f.ty(k).shape);
        Shapes {
            b: qs[0],
            hq: qs[1],
            hkv: ks[1],
            t: qs[2],
            s: ks[2],
            hd: qs[3],
            dtype: f.ty(q).dtype,
            acc: match f.ty(q).dtype {
                DType::BF16 | DType::F16 => DType::F32,
                d => d,
            },
        }
    }
    fn group(&self) -> usize {
        self.hq / self.hkv
    }
    fn grouped(&self, cols: usize) -> TensorType {
        TensorType::new(self.dtype, [self.b, self.hkv, self.group() * self.t, cols])
    }
    /// `grouped` in the softmax work's type.
    fn grouped_acc(&self, cols: usize) -> TensorType {
        self.grouped(cols).with_dtype(self.acc)
    }
}

/// Builds the lowered nodes, named after the node they replace.
struct Lowerer<'f> {
    f: &'f mut Function,
    base: String,
}

impl Lowerer<'_> {
    fn add(
        &mut self,
        what: &str,
        op: Op,
        ops: &[NodeId],
        ty: Option<TensorType>,
    ) -> Result<NodeId> {
        let name = format!("{}.{what}", self.base);
        let declared = if op.takes_declared_type() { ty } else { None };
        Ok(self.f.add(&name, op, ops, declared)?)
    }

    fn reshape(&mut self, what: &str, x: NodeId, ty: TensorType) -> Result<NodeId> {
        self.add(what, Op::Reshape, &[x], Some(ty))
    }

    fn matmul(&mut self, what: &str, a: NodeId, b: NodeId, ta: bool, tb: bool) -> Result<NodeId> {
        self.add(
            what,
            Op::MatMul {
                transpose_lhs: ta,
                transpose_rhs: tb,
            },
            &[a, b],
            None,
        )
    }

    /// `x` as `to` (no node when it already is).
    fn cast(&mut self, what: &str, x: NodeId, to: DType) -> Result<NodeId> {
        let t = self.f.ty(x).clone();
        if t.dtype == to {
            return Ok(x);
        }
        self.add(what, Op::Cast, &[x], Some(t.with_dtype(to)))
    }

    fn full(&mut self, what: &str, value: f64, ty: TensorType) -> Result<NodeId> {
        self.add(what, Op::Full { value: Real(value) }, &[], Some(ty))
    }

    fn binary(&mut self, what: &str, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.add(what, Op::Binary { op }, &[a, b], None)
    }

    /// `softmax(mask(qg k^T * scale))` as `[B, Hkv, g*T, S]`: in the softmax work's
    /// type, and in the GEMMs' type for the products that read it.
    fn probs(
        &mut self,
        sh: &Shapes,
        qg: NodeId,
        k: NodeId,
        scale: f64,
        causal: bool,
    ) -> Result<Probs> {
        let scores = self.matmul("scores", qg, k, false, true)?;
        let scores = self.cast("scores_acc", scores, sh.acc)?;
        let st = sh.grouped_acc(sh.s);
        let c = self.full("scale", scale, st.clone())?;
        let mut x = self.binary("scaled", BinaryOp::Mul, scores, c)?;
        if causal {
            let it = st.with_dtype(DType::I32);
            let row = self.add("row", Op::Iota { axis: 2 }, &[], Some(it.clone()))?;
            let pos = if sh.group() > 1 {
                // Row r of the grouped layout is query position r mod T.
                let tt = self.full("seq", sh.t as f64, it.clone())?;
                let quot = self.binary("head", BinaryOp::Div, row, tt)?;
                let start = self.binary("head_start", BinaryOp::Mul, quot, tt)?;
                self.binary("pos", BinaryOp::Sub, row, start)?
            } else {
                row
            };
            let col = self.add("key", Op::Iota { axis: 3 }, &[], Some(it))?;
            let allowed = self.add("allowed", Op::Compare { op: CmpOp::Le }, &[col, pos], None)?;
            let neg = self.full("masked_value", f64::NEG_INFINITY, st)?;
            x = self.add("masked", Op::Select, &[allowed, x, neg], None)?;
        }
        let acc = self.add("probs", Op::Softmax, &[x], None)?;
        let gemm = self.cast("probs_gemm", acc, sh.dtype)?;
        Ok(Probs { acc, gemm })
    }
}

/// The attention probabilities `P`, once per type that reads them.
#[derive(Clone, Copy)]
struct Probs {
    /// For `softmax_grad` (the softmax work's type).
    acc: NodeId,
    /// For the GEMMs (`P V`, `P^T dO`).
    gemm: NodeId,
}

/// Key of the gradients that share a recomputation.
type GradKey = (NodeId, NodeId, NodeId, NodeId, Real, bool);

/// The backward pieces shared by the gradients of one key: (qg, P, dS, dOg).
type Shared = (NodeId, Probs, Option<NodeId>, NodeId);

/// Rewrite every `attention` and `attention_grad` of `f` (see the module docs).
pub fn lower_attention(f: &mut Function) -> Result<AttentionLoweringStats> {
    let mut stats = AttentionLoweringStats::default();
    let order = f.topo_order()?;
    // Shared backward pieces per (q, k, v, dy, scale, causal): (qg, P, dS, dOg).
    let mut shared: HashMap<GradKey, Shared> = HashMap::new();
    for n in order {
        let op = f.node(n).op.clone();
        let name = f.node(n).name.clone();
        let ops = f.operands(n);
        match op {
            Op::Attention { scale, causal } => {
                let (q, k, v) = (ops[0], ops[1], ops[2]);
                let sh = Shapes::of(f, q, k);
                let qty = f.ty(q).clone();
                let mut l = Lowerer {
                    f,
                    base: format!("{name}.lowered"),
                };
                let qg = l.reshape("q_grouped", q, sh.grouped(sh.hd))?;
                let p = l.probs(&sh, qg, k, scale.0, causal)?;
                let og = l.matmul("out_grouped", p.gemm, v, false, false)?;
                let out = l.reshape("out", og, qty)?;
                replace(f, n, out)?;
                stats.forward += 1;
            }
            Op::AttentionGrad { scale, causal, wrt } => {
                let (q, k, v, dy) = (ops[0], ops[1], ops[2], ops[3]);
                let sh = Shapes::of(f, q, k);
                let key = (q, k, v, dy, scale, causal);
                let mut l = Lowerer {
                    f,
                    base: format!("{name}.lowered"),
                };
                let (qg, p, ds, dog) = match shared.get(&key) {
                    Some(&s) => s,
                    None => {
                        let qg = l.reshape("q_grouped", q, sh.grouped(sh.hd))?;
                        let dog = l.reshape("dout_grouped", dy, sh.grouped(sh.hd))?;
                        let p = l.probs(&sh, qg, k, scale.0, causal)?;
                        (qg, p, None, dog)
                    }
                };
                let ds = match (wrt, ds) {
                    (AttnOperand::V, _) => ds,
                    (_, Some(ds)) => Some(ds),
                    (_, None) => {
                        let dp = l.matmul("dprobs", dog, v, false, true)?;
                        let dp = l.cast("dprobs_acc", dp, sh.acc)?;
                        let dsm = l.add("dscores_unscaled", Op::SoftmaxGrad, &[p.acc, dp], None)?;
                        let c = l.full("scale", scale.0, sh.grouped_acc(sh.s))?;
                        Some(if sh.acc == sh.dtype {
                            l.binary("dscores", BinaryOp::Mul, dsm, c)?
                        } else {
                            let ds = l.binary("dscores_acc", BinaryOp::Mul, dsm, c)?;
                            l.cast("dscores", ds, sh.dtype)?
                        })
                    }
                };
                let grad = match wrt {
                    AttnOperand::V => l.matmul("dv", p.gemm, dog, true, false)?,
                    AttnOperand::K => l.matmul("dk", ds.expect("built above"), qg, true, false)?,
                    AttnOperand::Q => {
                        let dqg =
                            l.matmul("dq_grouped", ds.expect("built above"), k, false, false)?;
                        let qty = l.f.ty(q).clone();
                        l.reshape("dq", dqg, qty)?
                    }
                };
                shared.insert(key, (qg, p, ds, dog));
                replace(f, n, grad)?;
                stats.backward += 1;
            }
            _ => {}
        }
    }
    f.remove_dead();
    Ok(stats)
}

/// Point every use of `old` at `new`, remove `old`, and give `new` its name.
fn replace(f: &mut Function, old: NodeId, new: NodeId) -> Result<()> {
    let name = f.node(old).name.clone();
    f.replace_all_uses(old, new);
    f.remove(old)?;
    f.rename(new, &name)?;
    Ok(())
}
