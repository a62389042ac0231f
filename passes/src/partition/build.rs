//! From fusion groups to a [`Program`]: decide which values need buffers (creating small
//! kernels for constants and broadcasts that a GEMM, a view or a result needs), resolve
//! concats into views where their operands can be placed back to back, build and dedupe
//! the kernel functions, emit GEMM descriptors, compute updates in place where the
//! update kernel allows it (else copy them back at the end), and order the steps.

use super::blocks::Blocks;
use super::classify::{NodeKind, numel};
use super::deps::{step_predecessors, topological_order};
use super::fuse::{Fusion, GroupClass};
use super::gemm::gemm_for;
use super::kernel_fn::{build_kernel, fingerprint, kernel_name};
use super::layout::Layout;
use super::program::{Kernel, Move, Program, ProgramOutput, Step, Value, ValueId, ValueKind};
use super::split::{Part, Splits};
use crate::error::{PassError, Result};
use llc_ir::{Function, NodeId, Op};
use std::collections::HashMap;

const PASS: &str = "partition";

fn internal(f: &Function, msg: String) -> PassError {
    PassError::Lowering {
        pass: PASS,
        func: f.name.clone(),
        msg,
    }
}

/// Build the program of `fusion`'s function.
pub(crate) fn build_program(
    mut fu: Fusion<'_>,
    splits: &Splits,
    order: &[NodeId],
    library_moves: bool,
) -> Result<Program> {
    let f = fu.f;
    let bound = fu.kind.len();
    let mut buffer = vec![false; bound];

    // ---- which values need buffers ----
    let mut to_walk: Vec<usize> = (0..fu.groups.len())
        .filter(|&g| fu.groups[g].alive)
        .collect();
    let mut pending: Vec<NodeId> = Vec::new();
    for &n in order {
        match fu.kind[n.index()] {
            NodeKind::Arg => buffer[n.index()] = true,
            NodeKind::Gemm => {
                buffer[n.index()] = true;
                match splits.parts.get(&n) {
                    Some(parts) => pending.extend(parts.iter().flat_map(|p| [p.a, p.b])),
                    None => pending.extend(f.operands(n)),
                }
            }
            NodeKind::View | NodeKind::ConcatCandidate => {
                buffer[n.index()] = true;
                pending.extend(f.operands(n));
            }
            _ => {}
        }
    }
    pending.extend(f.outputs().iter().map(|o| o.node));
    loop {
        while let Some(o) = pending.pop() {
            if buffer[o.index()] {
                continue;
            }
            buffer[o.index()] = true;
            if fu.group_of[o.index()].is_none() {
                // A constant or a broadcast that must exist as a buffer: its own kernel.
                let class = GroupClass::Elementwise {
                    numel: numel(&f.ty(o).shape),
                };
                to_walk.push(fu.new_group(o, class));
            }
        }
        let Some(g) = to_walk.pop() else { break };
        for &m in &fu.groups[g].nodes {
            for o in f.operands(m) {
                if is_library_step(&f.node(m).op, library_moves) {
                    // Library data movement reads buffers only.
                    pending.push(o);
                } else {
                    needed_through(&fu, o, g, &mut pending);
                }
            }
        }
    }

    // ---- concats: views where the operands can sit back to back ----
    let elem = |n: NodeId| f.ty(n).dtype.size_bytes();
    let mut root_of: Vec<Option<(NodeId, usize)>> = vec![None; bound];
    let mut blocks = Blocks::default();
    let mut concat_view = vec![false; bound];
    for &n in order {
        if !buffer[n.index()] {
            continue;
        }
        let node = f.node(n);
        root_of[n.index()] = Some(match (&node.op, fu.kind[n.index()]) {
            (Op::Reshape, NodeKind::View) => {
                root_of[f.operands(n)[0].index()].expect("operand first")
            }
            (Op::Slice { axis, start, .. }, NodeKind::View) => {
                let src = f.operands(n)[0];
                let (r, off) = root_of[src.index()].expect("operand first");
                let inner = numel(&f.ty(src).shape[axis + 1..]);
                (r, off + start * inner * elem(n))
            }
            (Op::Concat { .. }, NodeKind::ConcatCandidate) => {
                match concat_roots(f, &root_of, n).filter(|roots| {
                    same_region(&fu, roots)
                        && blocks.require(&roots.iter().map(|r| r.index()).collect::<Vec<_>>())
                }) {
                    Some(_) => {
                        concat_view[n.index()] = true;
                        root_of[f.operands(n)[0].index()].expect("operand first")
                    }
                    None => {
                        let class = if library_moves {
                            GroupClass::Single
                        } else {
                            GroupClass::Elementwise {
                                numel: numel(&f.ty(n).shape),
                            }
                        };
                        fu.new_group(n, class);
                        (n, 0)
                    }
                }
            }
            _ => (n, 0),
        });
    }

    // ---- values ----
    let mut value_of: Vec<Option<ValueId>> = vec![None; bound];
    let mut values: Vec<Value> = Vec::new();
    for &n in order {
        if !buffer[n.index()] {
            continue;
        }
        let node = f.node(n);
        let kind = match (&node.op, fu.kind[n.index()]) {
            (Op::Arg { role }, _) => ValueKind::Arg(*role),
            (Op::Reshape, NodeKind::View) => ValueKind::View {
                base: value_of[f.operands(n)[0].index()].expect("operand first"),
                byte_offset: 0,
            },
            (Op::Slice { axis, start, .. }, NodeKind::View) => {
                let src = f.operands(n)[0];
                let inner = numel(&f.ty(src).shape[axis + 1..]);
                ValueKind::View {
                    base: value_of[src.index()].expect("operand first"),
                    byte_offset: start * inner * elem(n),
                }
            }
            (Op::Concat { .. }, _) if concat_view[n.index()] => ValueKind::View {
                base: value_of[f.operands(n)[0].index()].expect("operand first"),
                byte_offset: 0,
            },
            _ => ValueKind::Computed,
        };
        value_of[n.index()] = Some(values.len());
        values.push(Value {
            name: node.name.clone(),
            ty: node.ty.clone(),
            kind,
        });
    }
    let val = |n: NodeId| value_of[n.index()].expect("buffer has a value");

    // ---- kernels and GEMMs ----
    let mut kernels: Vec<Kernel> = Vec::new();
    let mut kernel_by_fp: HashMap<u64, usize> = HashMap::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut priority: Vec<usize> = Vec::new();
    for (g, grp) in fu.groups.iter().enumerate() {
        if !grp.alive {
            continue;
        }
        let mut members = grp.nodes.clone();
        members.sort_by_key(|m| fu.pos[m.index()]);
        if let [m] = members[..]
            && is_library_step(&f.node(m).op, library_moves)
        {
            steps.push(Step::Move(move_step(f, m, &val)));
            priority.push(grp.min_pos);
            continue;
        }
        let in_group = |n: NodeId| fu.group_of[n.index()] == Some(g);
        let body = build_kernel(f, &members, &fu.kind, &in_group, &|n| buffer[n.index()]);
        if body.outputs.is_empty() {
            continue;
        }
        let class = grp.class.kernel_class();
        let fp = fingerprint(&body.func);
        let kernel = match kernel_by_fp.get(&fp) {
            Some(&k) => k,
            None => {
                let name = kernel_name(&body.func, class, fp);
                let mut func = body.func;
                func.name = name.clone();
                fu.target.check_kernel(&func, class).map_err(|source| {
                    PassError::KernelRefused {
                        func: f.name.clone(),
                        target: fu.target.name().to_string(),
                        kernel: name.clone(),
                        class,
                        source,
                    }
                })?;
                kernels.push(Kernel {
                    name,
                    class,
                    func,
                    fingerprint: fp,
                });
                kernel_by_fp.insert(fp, kernels.len() - 1);
                kernels.len() - 1
            }
        };
        steps.push(Step::Kernel {
            kernel,
            inputs: body.inputs.iter().map(|&n| val(n)).collect(),
            outputs: body.outputs.iter().map(|&n| val(n)).collect(),
            scratch: Vec::new(),
        });
        priority.push(grp.min_pos);
    }
    for &n in order {
        if fu.kind[n.index()] != NodeKind::Gemm {
            continue;
        }
        let parts: Vec<Part> = match splits.parts.get(&n) {
            Some(p) => p.clone(),
            None => {
                let Op::MatMul {
                    transpose_lhs,
                    transpose_rhs,
                } = f.node(n).op
                else {
                    return Err(internal(f, format!("%{} is not a matmul", f.node(n).name)));
                };
                let ops = f.operands(n);
                vec![Part {
                    a: ops[0],
                    b: ops[1],
                    ta: transpose_lhs,
                    tb: transpose_rhs,
                }]
            }
        };
        let gemms = parts
            .iter()
            .map(|p| {
                gemm_for(
                    f.ty(p.a),
                    f.ty(p.b),
                    p.ta,
                    p.tb,
                    [val(p.a), val(p.b), val(n)],
                )
            })
            .collect();
        steps.push(Step::Gemm(gemms));
        priority.push(fu.pos[n.index()]);
    }

    let mut program = Program {
        func: f.clone(),
        values,
        kernels,
        steps,
        blocks: blocks
            .into_blocks()
            .into_iter()
            .map(|b| b.into_iter().map(|r| val(NodeId::new(r))).collect())
            .collect(),
        args: f.args().iter().map(|&a| val(a)).collect(),
        outputs: f
            .outputs()
            .iter()
            .map(|o| ProgramOutput {
                name: f.node(o.node).name.clone(),
                value: val(o.node),
                updates: o.updates.map(val),
            })
            .collect(),
    };

    super::inplace::compute_updates_in_place(&mut program, &mut priority);

    // ---- order ----
    let layout = Layout::new(&program);
    let preds = step_predecessors(&program, &layout);
    let order = topological_order(&preds, &priority)
        .ok_or_else(|| internal(f, "the steps depend on each other in a cycle".into()))?;
    let steps = std::mem::take(&mut program.steps);
    let mut slots: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    program.steps = order
        .into_iter()
        .map(|i| slots[i].take().expect("each step once"))
        .collect();
    Ok(program)
}

/// Mark what group `g` reading operand `o` needs as a buffer.
fn needed_through(fu: &Fusion<'_>, o: NodeId, g: usize, pending: &mut Vec<NodeId>) {
    if fu.group_of[o.index()] == Some(g) {
        return;
    }
    match fu.kind[o.index()] {
        NodeKind::ConstLike => {}
        NodeKind::Broadcast if fu.group_of[o.index()].is_none() => {
            for x in fu.f.operands(o) {
                needed_through(fu, x, g, pending);
            }
        }
        _ => pending.push(o),
    }
}

/// The roots a concat's operands cover, one per root, if every root is covered whole
/// and in order (consecutive operands may be consecutive slices of one root).
fn concat_roots(
    f: &Function,
    root_of: &[Option<(NodeId, usize)>],
    n: NodeId,
) -> Option<Vec<NodeId>> {
    let mut roots: Vec<NodeId> = Vec::new();
    let mut next_off = 0usize;
    for o in f.operands(n) {
        let (r, off) = root_of[o.index()]?;
        let bytes = f.ty(o).size_bytes();
        if roots.last() == Some(&r) && off == next_off {
            next_off += bytes;
        } else {
            if let Some(&last) = roots.last()
                && next_off != f.ty(last).size_bytes()
            {
                return None;
            }
            if off != 0 {
                return None;
            }
            roots.push(r);
            next_off = bytes;
        }
    }
    let last = *roots.last()?;
    (next_off == f.ty(last).size_bytes()).then_some(roots)
}

/// Whether the roots all live in one region (arguments of one role, or computed).
fn same_region(fu: &Fusion<'_>, roots: &[NodeId]) -> bool {
    let region = |r: NodeId| match fu.f.node(r).op {
        Op::Arg { role } => Some(role),
        _ => None,
    };
    roots.windows(2).all(|w| region(w[0]) == region(w[1]))
}

/// Ops that become library data movement instead of kernels.
fn is_move(op: &Op) -> bool {
    matches!(
        op,
        Op::Transpose { .. } | Op::Slice { .. } | Op::Concat { .. } | Op::Gather | Op::ScatterAdd
    )
}

/// Ops computed by a library step of their own, not a kernel: collectives always, data
/// movement when `library_moves`.
fn is_library_step(op: &Op, library_moves: bool) -> bool {
    op.is_collective() || (library_moves && is_move(op))
}

/// Row-major strides of `shape`, in elements.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * shape[i + 1];
    }
    st
}

/// The library step computing node `n` (an op for which [`is_library_step`] holds).
fn move_step(f: &Function, n: NodeId, val: &dyn Fn(NodeId) -> ValueId) -> Vec<Move> {
    let ops = f.operands(n);
    let out = &f.ty(n).shape;
    match &f.node(n).op {
        Op::Transpose { perm } => {
            let src = strides(&f.ty(ops[0]).shape);
            vec![Move::StridedCopy {
                src: val(ops[0]),
                dst: val(n),
                shape: out.clone(),
                src_offset: 0,
                src_strides: perm.iter().map(|&p| src[p]).collect(),
                dst_offset: 0,
                dst_strides: strides(out),
            }]
        }
        Op::Slice { axis, start, .. } => {
            let src = strides(&f.ty(ops[0]).shape);
            vec![Move::StridedCopy {
                src: val(ops[0]),
                dst: val(n),
                shape: out.clone(),
                src_offset: start * src[*axis],
                src_strides: src,
                dst_offset: 0,
                dst_strides: strides(out),
            }]
        }
        Op::Concat { axis } => {
            let dst = strides(out);
            let mut at = 0;
            ops.iter()
                .map(|&o| {
                    let shape = f.ty(o).shape.clone();
                    let m = Move::StridedCopy {
                        src: val(o),
                        dst: val(n),
                        src_offset: 0,
                        src_strides: strides(&shape),
                        dst_offset: at * dst[*axis],
                        dst_strides: dst.clone(),
                        shape: shape.clone(),
                    };
                    at += shape[*axis];
                    m
                })
                .collect()
        }
        Op::Gather => vec![Move::Gather {
            table: val(ops[0]),
            indices: val(ops[1]),
            out: val(n),
        }],
        Op::ScatterAdd => vec![Move::ScatterAdd {
            indices: val(ops[0]),
            updates: val(ops[1]),
            out: val(n),
        }],
        Op::AllReduce { kind } => vec![Move::AllReduce {
            src: val(ops[0]),
            out: val(n),
            kind: *kind,
        }],
        other => unreachable!("`{}` is not data movement", other.name()),
    }
}
