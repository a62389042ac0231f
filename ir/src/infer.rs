//! Type rules: the result type of each op from its operand types (and, for ops that take
//! one, the declared type). The verifier and the builder both go through [`infer_type`].

use crate::dtype::{DType, TensorType, checked_numel};
use crate::op::{AttnOperand, Op};

/// Result type of `op` applied to `operands`, or a message saying what is wrong.
/// `declared` is the type written on the node; ops that take their type from the
/// declaration need it, every other op's inferred type must equal it when given.
pub fn infer_type(
    op: &Op,
    operands: &[&TensorType],
    declared: Option<&TensorType>,
) -> Result<TensorType, String> {
    if let Some(n) = op.arity() {
        if operands.len() != n {
            return Err(format!(
                "`{}` takes {n} operand{}, got {}",
                op.name(),
                if n == 1 { "" } else { "s" },
                operands.len()
            ));
        }
    } else if operands.is_empty() {
        return Err(format!("`{}` takes at least one operand", op.name()));
    }
    if let Some(d) = declared
        && checked_numel(&d.shape).is_none()
    {
        return Err(format!("declared type {d} has more than 2^48 elements"));
    }
    let inferred = infer_inner(op, operands, declared)?;
    if let Some(d) = declared
        && *d != inferred
    {
        return Err(format!(
            "declared type {d} does not match the inferred type {inferred}"
        ));
    }
    Ok(inferred)
}

fn need_declared<'a>(op: &Op, declared: Option<&'a TensorType>) -> Result<&'a TensorType, String> {
    declared.ok_or_else(|| format!("`{}` needs a declared result type", op.name()))
}

fn float(op: &Op, t: &TensorType, what: &str) -> Result<(), String> {
    if t.dtype.is_float() {
        Ok(())
    } else {
        Err(format!("`{}` needs a float {what}, got {t}", op.name()))
    }
}

fn same(op: &Op, a: &TensorType, b: &TensorType, what: &str) -> Result<(), String> {
    if a == b {
        Ok(())
    } else {
        Err(format!(
            "`{}` needs {what} of the same type, got {a} and {b}",
            op.name()
        ))
    }
}

fn rank_at_least(op: &Op, t: &TensorType, r: usize, what: &str) -> Result<(), String> {
    if t.rank() >= r {
        Ok(())
    } else {
        Err(format!(
            "`{}` needs {what} of rank >= {r}, got {t}",
            op.name()
        ))
    }
}

fn rank_eq(op: &Op, t: &TensorType, r: usize, what: &str) -> Result<(), String> {
    if t.rank() == r {
        Ok(())
    } else {
        Err(format!("`{}` needs {what} of rank {r}, got {t}", op.name()))
    }
}

fn int_like(op: &Op, t: &TensorType, what: &str) -> Result<(), String> {
    if t.dtype == DType::I32 {
        Ok(())
    } else {
        Err(format!("`{}` needs i32 {what}, got {t}", op.name()))
    }
}

fn infer_inner(
    op: &Op,
    o: &[&TensorType],
    declared: Option<&TensorType>,
) -> Result<TensorType, String> {
    match op {
        Op::Arg { .. } | Op::Full { .. } => Ok(need_declared(op, declared)?.clone()),
        Op::Iota { axis } => {
            let d = need_declared(op, declared)?;
            if *axis >= d.rank() {
                return Err(format!("iota axis {axis} out of range for {d}"));
            }
            if d.dtype == DType::Bool {
                return Err(format!("iota cannot produce {d}"));
            }
            Ok(d.clone())
        }
        Op::Unary { op: u } => {
            let t = o[0];
            if t.dtype == DType::Bool || (!u.allows_int() && !t.dtype.is_float()) {
                return Err(format!("`{}` is not defined on {t}", u.name()));
            }
            Ok(t.clone())
        }
        Op::Binary { op: b } => {
            same(op, o[0], o[1], "operands")?;
            let t = o[0];
            if t.dtype == DType::Bool || (!b.allows_int() && !t.dtype.is_float()) {
                return Err(format!("`{}` is not defined on {t}", b.name()));
            }
            Ok(t.clone())
        }
        Op::Compare { .. } => {
            same(op, o[0], o[1], "operands")?;
            Ok(o[0].with_dtype(DType::Bool))
        }
        Op::Select => {
            if o[0].dtype != DType::Bool {
                return Err(format!("`select` needs a bool condition, got {}", o[0]));
            }
            same(op, o[1], o[2], "branches")?;
            if o[0].shape != o[1].shape {
                return Err(format!(
                    "`select` condition {} and branches {} differ in shape",
                    o[0], o[1]
                ));
            }
            Ok(o[1].clone())
        }
        Op::Cast => {
            let d = need_declared(op, declared)?;
            if d.shape != o[0].shape {
                return Err(format!("`cast` cannot change the shape: {} to {d}", o[0]));
            }
            Ok(d.clone())
        }
        Op::Broadcast => {
            let d = need_declared(op, declared)?;
            let s = o[0];
            if d.dtype != s.dtype {
                return Err(format!("`broadcast` cannot change the dtype: {s} to {d}"));
            }
            if s.rank() > d.rank() {
                return Err(format!("`broadcast` cannot lower the rank: {s} to {d}"));
            }
            let off = d.rank() - s.rank();
            for (i, &sd) in s.shape.iter().enumerate() {
                let dd = d.shape[off + i];
                if sd != dd && sd != 1 {
                    return Err(format!(
                        "`broadcast` of {s} to {d}: dim {i} has size {sd}, which is neither 1 nor {dd}"
                    ));
                }
            }
            Ok(d.clone())
        }
        Op::Reshape => {
            let d = need_declared(op, declared)?;
            if d.dtype != o[0].dtype {
                return Err(format!(
                    "`reshape` cannot change the dtype: {} to {d}",
                    o[0]
                ));
            }
            if d.numel() != o[0].numel() {
                return Err(format!(
                    "`reshape` of {} ({} elements) to {d} ({} elements)",
                    o[0],
                    o[0].numel(),
                    d.numel()
                ));
            }
            Ok(d.clone())
        }
        Op::Transpose { perm } => {
            let t = o[0];
            let mut seen = vec![false; t.rank()];
            if perm.len() != t.rank() {
                return Err(format!(
                    "`transpose` perm {perm:?} has {} entries for {t}",
                    perm.len()
                ));
            }
            for &p in perm {
                if p >= t.rank() || seen[p] {
                    return Err(format!(
                        "`transpose` perm {perm:?} is not a permutation of 0..{}",
                        t.rank()
                    ));
                }
                seen[p] = true;
            }
            Ok(t.with_shape(perm.iter().map(|&p| t.shape[p]).collect::<Vec<_>>()))
        }
        Op::Slice { axis, start, end } => {
            let t = o[0];
            if *axis >= t.rank() {
                return Err(format!("`slice` axis {axis} out of range for {t}"));
            }
            if start >= end || *end > t.shape[*axis] {
                return Err(format!(
                    "`slice` range {start}..{end} is empty or outside 0..{} on axis {axis} of {t}",
                    t.shape[*axis]
                ));
            }
            let mut s = t.shape.clone();
            s[*axis] = end - start;
            Ok(t.with_shape(s))
        }
        Op::Concat { axis } => {
            let first = o[0];
            if *axis >= first.rank() {
                return Err(format!("`concat` axis {axis} out of range for {first}"));
            }
            let mut total = 0usize;
            for t in o {
                if t.dtype != first.dtype || t.rank() != first.rank() {
                    return Err(format!("`concat` operands {first} and {t} disagree"));
                }
                for d in 0..t.rank() {
                    if d != *axis && t.shape[d] != first.shape[d] {
                        return Err(format!(
                            "`concat` on axis {axis}: operands {first} and {t} differ in dim {d}"
                        ));
                    }
                }
                total += t.shape[*axis];
            }
            let mut s = first.shape.clone();
            s[*axis] = total;
            Ok(first.with_shape(s))
        }
        Op::Reduce {
            axes, keep_dims, ..
        } => {
            let t = o[0];
            if t.dtype == DType::Bool {
                return Err(format!("`{}` is not defined on {t}", op.name()));
            }
            let mut seen = vec![false; t.rank()];
            for &a in axes {
                if a >= t.rank() || seen[a] {
                    return Err(format!("`{}` axes {axes:?} invalid for {t}", op.name()));
                }
                seen[a] = true;
            }
            let shape: Vec<usize> = (0..t.rank())
                .filter_map(|d| {
                    if seen[d] {
                        keep_dims.then_some(1)
                    } else {
                        Some(t.shape[d])
                    }
                })
                .collect();
            Ok(t.with_shape(shape))
        }
        Op::MatMul {
            transpose_lhs,
            transpose_rhs,
        } => {
            let (a, b) = (o[0], o[1]);
            float(op, a, "lhs")?;
            if a.dtype != b.dtype {
                return Err(format!("`matmul` operands {a} and {b} differ in dtype"));
            }
            rank_at_least(op, a, 2, "lhs")?;
            rank_at_least(op, b, 2, "rhs")?;
            let (ra, rb) = (a.rank(), b.rank());
            let (m, ka) = if *transpose_lhs {
                (a.shape[ra - 1], a.shape[ra - 2])
            } else {
                (a.shape[ra - 2], a.shape[ra - 1])
            };
            let (kb, n) = if *transpose_rhs {
                (b.shape[rb - 1], b.shape[rb - 2])
            } else {
                (b.shape[rb - 2], b.shape[rb - 1])
            };
            if ka != kb {
                return Err(format!(
                    "`matmul` contracting dims differ: lhs {a} has K={ka}, rhs {b} has K={kb}"
                ));
            }
            if rb != 2 && a.shape[..ra - 2] != b.shape[..rb - 2] {
                return Err(format!(
                    "`matmul` batch dims differ: lhs {a}, rhs {b} (rhs must be rank 2 or share lhs's batch dims)"
                ));
            }
            let mut s = a.shape[..ra - 2].to_vec();
            s.push(m);
            s.push(n);
            Ok(a.with_shape(s))
        }
        Op::Gather => {
            let (table, idx) = (o[0], o[1]);
            rank_at_least(op, table, 1, "table")?;
            int_like(op, idx, "indices")?;
            let mut s = idx.shape.clone();
            s.extend_from_slice(&table.shape[1..]);
            Ok(table.with_shape(s))
        }
        Op::ScatterAdd => {
            let d = need_declared(op, declared)?;
            let (idx, upd) = (o[0], o[1]);
            int_like(op, idx, "indices")?;
            rank_at_least(op, d, 1, "result")?;
            let mut s = idx.shape.clone();
            s.extend_from_slice(&d.shape[1..]);
            if upd.shape != s || upd.dtype != d.dtype {
                return Err(format!(
                    "`scatter_add` into {d} with indices {idx} needs updates {}, got {upd}",
                    d.with_shape(s)
                ));
            }
            Ok(d.clone())
        }
        Op::RmsNorm { .. } => {
            let (x, w) = (o[0], o[1]);
            float(op, x, "input")?;
            rank_at_least(op, x, 1, "input")?;
            norm_weight(op, x, w)?;
            Ok(x.clone())
        }
        Op::RmsNormGradX { .. } => {
            let (x, w, dy) = (o[0], o[1], o[2]);
            float(op, x, "input")?;
            rank_at_least(op, x, 1, "input")?;
            norm_weight(op, x, w)?;
            same(op, x, dy, "x and dy")?;
            Ok(x.clone())
        }
        Op::RmsNormGradW { .. } => {
            let (x, dy) = (o[0], o[1]);
            float(op, x, "input")?;
            rank_at_least(op, x, 1, "input")?;
            same(op, x, dy, "x and dy")?;
            Ok(x.with_shape(vec![x.shape[x.rank() - 1]]))
        }
        Op::Swiglu | Op::SoftmaxGrad => {
            float(op, o[0], "input")?;
            same(op, o[0], o[1], "operands")?;
            Ok(o[0].clone())
        }
        Op::SwigluGradA => {
            float(op, o[0], "input")?;
            same(op, o[0], o[1], "operands")?;
            same(op, o[0], o[2], "operands")?;
            Ok(o[0].clone())
        }
        Op::SwigluGradB => {
            float(op, o[0], "input")?;
            same(op, o[0], o[1], "operands")?;
            Ok(o[0].clone())
        }
        Op::Rope { .. } => {
            let x = o[0];
            float(op, x, "input")?;
            rank_eq(op, x, 4, "input [B, T, H, hd]")?;
            if !x.shape[3].is_multiple_of(2) {
                return Err(format!("`rope` needs an even head dim, got {x}"));
            }
            Ok(x.clone())
        }
        Op::Softmax => {
            float(op, o[0], "input")?;
            rank_at_least(op, o[0], 1, "input")?;
            Ok(o[0].clone())
        }
        Op::Attention { causal, .. } => attention_types(op, o[0], o[1], o[2], *causal),
        Op::AttentionGrad { causal, wrt, .. } => {
            let out = attention_types(op, o[0], o[1], o[2], *causal)?;
            same(op, &out, o[3], "output and dy")?;
            Ok(match wrt {
                AttnOperand::Q => o[0].clone(),
                AttnOperand::K => o[1].clone(),
                AttnOperand::V => o[2].clone(),
            })
        }
        Op::CrossEntropy => {
            let (logits, tgt) = (o[0], o[1]);
            cross_entropy_types(op, logits, tgt)
        }
        Op::CrossEntropyGrad => {
            let (logits, tgt, dnll) = (o[0], o[1], o[2]);
            let rows = cross_entropy_types(op, logits, tgt)?;
            same(op, &rows, dnll, "per-row loss and its gradient")?;
            Ok(logits.clone())
        }
        Op::AllReduce { .. } => {
            float(op, o[0], "operand")?;
            Ok(o[0].clone())
        }
    }
}

fn norm_weight(op: &Op, x: &TensorType, w: &TensorType) -> Result<(), String> {
    let d = x.shape[x.rank() - 1];
    if w.shape != [d] || w.dtype != x.dtype {
        return Err(format!(
            "`{}` weight must be {}, got {w}",
            op.name(),
            x.with_shape(vec![d])
        ));
    }
    Ok(())
}

fn attention_types(
    op: &Op,
    q: &TensorType,
    k: &TensorType,
    v: &TensorType,
    causal: bool,
) -> Result<TensorType, String> {
    float(op, q, "q")?;
    rank_eq(op, q, 4, "q [B, Hq, T, hd]")?;
    rank_eq(op, k, 4, "k [B, Hkv, S, hd]")?;
    same(op, k, v, "k and v")?;
    if q.dtype != k.dtype || q.shape[0] != k.shape[0] || q.shape[3] != k.shape[3] {
        return Err(format!(
            "`{}` q {q} and k {k} differ in dtype, batch or head dim",
            op.name()
        ));
    }
    if k.shape[1] == 0 || !q.shape[1].is_multiple_of(k.shape[1]) {
        return Err(format!(
            "`{}`: {} query heads are not a multiple of {} KV heads",
            op.name(),
            q.shape[1],
            k.shape[1]
        ));
    }
    if causal && q.shape[2] != k.shape[2] {
        return Err(format!(
            "causal `{}` needs as many queries as keys: q {q}, k {k}",
            op.name()
        ));
    }
    Ok(q.clone())
}

fn cross_entropy_types(
    op: &Op,
    logits: &TensorType,
    tgt: &TensorType,
) -> Result<TensorType, String> {
    float(op, logits, "logits")?;
    rank_at_least(op, logits, 1, "logits")?;
    int_like(op, tgt, "targets")?;
    let rows = &logits.shape[..logits.rank() - 1];
    if tgt.shape != rows {
        return Err(format!(
            "`{}` targets must have shape {:?} for logits {logits}, got {tgt}",
            op.name(),
            rows
        ));
    }
    Ok(logits.with_shape(rows.to_vec()))
}
