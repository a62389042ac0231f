//! The execution loop: bind and check arguments, run live nodes in topological order,
//! free each intermediate as soon as its last user has run, collect the results.

use crate::comm::Communicator;
use crate::error::{Result, RuntimeError};
use crate::interp::eval::eval;
use crate::interp::float::Float;
use crate::tensor::{Precision, Tensor, TensorData};
use llc_ir::{DType, Function, NodeId, Op, SpanMap, TensorType, verify_function};
use std::borrow::Cow;

/// What one run produced: the results and, when tracing, every value in execution order.
pub(crate) struct Execution {
    pub outputs: Vec<Tensor>,
    pub trace: Vec<(String, Tensor)>,
}

/// Run `f` on `args`; with `trace`, every node is computed and kept.
pub(crate) fn execute(
    f: &Function,
    args: &[Tensor],
    precision: Precision,
    trace: bool,
    comm: &dyn Communicator,
) -> Result<Execution> {
    verify_function(f, &SpanMap::new())?;
    match precision {
        Precision::F32 => run::<f32>(f, args, precision, trace, comm),
        Precision::F64 => run::<f64>(f, args, precision, trace, comm),
    }
}

/// Whether a tensor's storage can hold values of IR type `ty` in this precision.
fn storage_fits(t: &Tensor, dtype: DType, precision: Precision) -> bool {
    match dtype {
        DType::I32 => matches!(t.data(), TensorData::I32(_)),
        DType::Bool => matches!(t.data(), TensorData::Bool(_)),
        _ => t.dtype() == precision.dtype(),
    }
}

/// Check argument `i` against its declared type; float arguments in the other precision
/// are converted.
fn bind_arg<'a>(
    f: &Function,
    i: usize,
    id: NodeId,
    t: &'a Tensor,
    precision: Precision,
) -> Result<Cow<'a, Tensor>> {
    let ty: &TensorType = f.ty(id);
    let kind_ok = match ty.dtype {
        DType::I32 => matches!(t.data(), TensorData::I32(_)),
        DType::Bool => matches!(t.data(), TensorData::Bool(_)),
        _ => t.is_float(),
    };
    if t.shape() != ty.shape.as_slice() || !kind_ok {
        return Err(RuntimeError::ArgMismatch {
            func: f.name.clone(),
            index: i,
            arg: f.node(id).name.clone(),
            expected: ty.to_string(),
            got: t.type_string(),
        });
    }
    if storage_fits(t, ty.dtype, precision) {
        Ok(Cow::Borrowed(t))
    } else {
        Ok(Cow::Owned(t.to_precision(precision)))
    }
}

/// One past the largest node index: the length of per-node tables.
fn index_bound(f: &Function) -> usize {
    f.node_ids().map(|n| n.index() + 1).max().unwrap_or(0)
}

/// Nodes that some output depends on (arguments always count as live).
fn live_nodes(f: &Function) -> Vec<bool> {
    let mut live = vec![false; index_bound(f)];
    let mut stack: Vec<NodeId> = f.outputs().iter().map(|o| o.node).collect();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut live[n.index()], true) {
            continue;
        }
        stack.extend(f.operands(n));
    }
    for &a in f.args() {
        live[a.index()] = true;
    }
    live
}

fn run<T: Float>(
    f: &Function,
    args: &[Tensor],
    precision: Precision,
    trace: bool,
    comm: &dyn Communicator,
) -> Result<Execution> {
    if args.len() != f.args().len() {
        return Err(RuntimeError::ArgCount {
            func: f.name.clone(),
            expected: f.args().len(),
            got: args.len(),
        });
    }
    let bound = index_bound(f);
    let mut values: Vec<Option<Cow<Tensor>>> = vec![None; bound];
    for (i, (&id, t)) in f.args().iter().zip(args).enumerate() {
        values[id.index()] = Some(bind_arg(f, i, id, t, precision)?);
    }

    let live = if trace {
        vec![true; bound]
    } else {
        live_nodes(f)
    };
    let order: Vec<NodeId> = f
        .topo_order()?
        .into_iter()
        .filter(|n| live[n.index()])
        .collect();
    let steps: Vec<(NodeId, Vec<NodeId>)> = order
        .iter()
        .filter(|&&n| !matches!(f.node(n).op, Op::Arg { .. }))
        .map(|&n| (n, f.operands(n)))
        .collect();
    let mut remaining = vec![0usize; bound];
    for (_, ops) in &steps {
        for o in ops {
            remaining[o.index()] += 1;
        }
    }
    let mut pinned = vec![trace; bound];
    for o in f.outputs() {
        pinned[o.node.index()] = true;
    }

    for (n, ops) in &steps {
        let node = f.node(*n);
        let steal = matches!(node.op, Op::Reshape)
            && !pinned[ops[0].index()]
            && remaining[ops[0].index()] == 1;
        let result = if steal {
            let src = values[ops[0].index()]
                .take()
                .expect("operand computed before its user");
            src.into_owned().reshaped(node.ty.shape.clone())?
        } else {
            let inputs: Vec<&Tensor> = ops
                .iter()
                .map(|o| {
                    values[o.index()]
                        .as_deref()
                        .expect("operand computed before its user")
                })
                .collect();
            eval::<T>(node, &inputs, precision, comm)?
        };
        if result.shape() != node.ty.shape.as_slice()
            || !storage_fits(&result, node.ty.dtype, precision)
        {
            return Err(RuntimeError::Type {
                node: node.name.clone(),
                op: node.op.name().to_string(),
                msg: format!(
                    "interpreter bug: produced {}, declared {}",
                    result.type_string(),
                    node.ty
                ),
            });
        }
        values[n.index()] = Some(Cow::Owned(result));
        for o in ops {
            let r = &mut remaining[o.index()];
            *r -= 1;
            if *r == 0 && !pinned[o.index()] {
                values[o.index()] = None;
            }
        }
    }

    let mut left: Vec<usize> = vec![0; bound];
    for o in f.outputs() {
        left[o.node.index()] += 1;
    }
    let mut outputs = Vec::with_capacity(f.outputs().len());
    for o in f.outputs() {
        let i = o.node.index();
        left[i] -= 1;
        let t = if left[i] == 0 && !trace {
            values[i].take().map(Cow::into_owned)
        } else {
            values[i].as_deref().cloned()
        };
        outputs.push(t.expect("every output is computed"));
    }
    let trace = if trace {
        order
            .iter()
            .map(|&n| {
                let t = values[n.index()].take().expect("traced values are kept");
                (f.node(n).name.clone(), t.into_owned())
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Execution { outputs, trace })
}
