//! The verifier: every node's type follows its op's rule, the graph is acyclic, operand
//! slots are complete, and results refer to real values. Runs between passes in debug
//! builds and after every parse.

use crate::error::{IrError, Result, Span};
use crate::graph::{Function, Module, NodeId};
use crate::infer::infer_type;
use crate::op::{ArgRole, Op};
use std::collections::HashMap;

/// Source locations of a parsed function's nodes, so verifier errors point into the file.
pub type SpanMap = HashMap<NodeId, Span>;

/// Check every function of a module.
pub fn verify_module(m: &Module) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for f in &m.functions {
        if !seen.insert(f.name.as_str()) {
            return Err(IrError::Structure {
                func: f.name.clone(),
                msg: "function defined twice".into(),
                span: None,
            });
        }
        verify_function(f, &SpanMap::new())?;
    }
    Ok(())
}

/// Check one function; errors carry the location from `spans` when one is known.
pub fn verify_function(f: &Function, spans: &SpanMap) -> Result<()> {
    let structure = |msg: String, at: Option<NodeId>| IrError::Structure {
        func: f.name.clone(),
        msg,
        span: at.and_then(|n| spans.get(&n).copied()),
    };
    let order = f.topo_order()?;
    let mut is_arg = HashMap::new();
    for (i, &a) in f.args().iter().enumerate() {
        if !matches!(f.node(a).op, Op::Arg { .. }) {
            return Err(structure(
                format!("argument {i} is not an argument node"),
                Some(a),
            ));
        }
        is_arg.insert(a, i);
    }
    for n in order {
        let node = f.node(n);
        if matches!(node.op, Op::Arg { .. }) && !is_arg.contains_key(&n) {
            return Err(structure(
                format!(
                    "%{} is an argument node missing from the signature",
                    node.name
                ),
                Some(n),
            ));
        }
        let operands = f.operands(n);
        let tys: Vec<_> = operands.iter().map(|&o| f.ty(o)).collect();
        infer_type(&node.op, &tys, Some(&node.ty)).map_err(|msg| IrError::Type {
            node: node.name.clone(),
            op: node.op.name().to_string(),
            msg,
            span: spans.get(&n).copied(),
        })?;
    }
    if f.outputs().is_empty() {
        return Err(structure("function returns nothing".into(), None));
    }
    let mut updated = HashMap::new();
    for o in f.outputs() {
        if !f.contains(o.node) {
            return Err(structure("a result refers to a removed value".into(), None));
        }
        if let Some(arg) = o.updates {
            let role = if f.contains(arg) {
                f.arg_role(arg)
            } else {
                None
            };
            match role {
                Some(ArgRole::Param | ArgRole::State) => {}
                _ => {
                    return Err(structure(
                        format!(
                            "result %{} updates something that is not a param or state argument",
                            f.node(o.node).name
                        ),
                        Some(o.node),
                    ));
                }
            }
            if f.ty(arg) != f.ty(o.node) {
                return Err(structure(
                    format!(
                        "result %{}: {} cannot update %{}: {}",
                        f.node(o.node).name,
                        f.ty(o.node),
                        f.node(arg).name,
                        f.ty(arg)
                    ),
                    Some(o.node),
                ));
            }
            if let Some(prev) = updated.insert(arg, o.node) {
                return Err(structure(
                    format!(
                        "%{} is updated twice (by %{} and %{})",
                        f.node(arg).name,
                        f.node(prev).name,
                        f.node(o.node).name
                    ),
                    Some(o.node),
                ));
            }
        }
    }
    Ok(())
}
