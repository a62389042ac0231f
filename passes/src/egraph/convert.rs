//! From a [`Function`] into an e-graph: every node becomes an e-node (equal subterms are
//! shared on the way in, which is common-subexpression elimination for free), and the
//! function's outputs become the roots. What extraction needs to rebuild a function with
//! the same signature is kept alongside: argument names and roles, output order and
//! `updates`, and every original node's name and position for naming and ordering.

use super::analysis::{EG, TypeAnalysis};
use super::internal;
use super::ops::encode;
use crate::error::PassError;
use egg::Id;
use llc_ir::{ArgRole, Function, IrError, NodeId, TensorType};
use std::collections::HashMap;

/// Where an original node went: its class when loaded (look it up with `find` after
/// rewriting), its name and its position in the function's topological order.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Its e-class when loaded.
    pub class: Id,
    /// Its name in the input function.
    pub name: String,
    /// Its position in the input's topological order.
    pub position: usize,
    /// Index into the outputs when this node is returned (the first such output).
    pub output: Option<usize>,
}

/// One argument of the function being optimized.
#[derive(Clone, Debug)]
pub struct ArgInfo {
    /// The argument's name.
    pub name: String,
    /// How it is bound.
    pub role: ArgRole,
    /// Its type.
    pub ty: TensorType,
    /// Its e-class.
    pub class: Id,
}

/// One result: its class and the argument index it updates.
#[derive(Clone, Copy, Debug)]
pub struct OutputInfo {
    /// The e-class returned.
    pub class: Id,
    /// Position of the argument this result is the next value of.
    pub updates: Option<usize>,
}

/// A function loaded into an e-graph.
pub struct Loaded {
    /// The e-graph, one e-node per input node.
    pub egraph: EG,
    /// The input function's name.
    pub func_name: String,
    /// Its arguments, in order.
    pub args: Vec<ArgInfo>,
    /// Its results, in order.
    pub outputs: Vec<OutputInfo>,
    /// Every input node, in topological order.
    pub origins: Vec<Origin>,
}

/// Load `f` into a fresh e-graph.
pub fn load(f: &Function) -> Result<Loaded, PassError> {
    let order = f.topo_order()?;
    let arg_pos: HashMap<NodeId, usize> =
        f.args().iter().enumerate().map(|(i, &a)| (a, i)).collect();
    let args_meta: Vec<(ArgRole, TensorType)> = f
        .args()
        .iter()
        .map(|&a| {
            let role = f.arg_role(a).expect("argument nodes are arguments");
            (role, f.ty(a).clone())
        })
        .collect();
    let mut eg = EG::new(TypeAnalysis::new(args_meta));
    let mut first_output: HashMap<NodeId, usize> = HashMap::new();
    for (i, o) in f.outputs().iter().enumerate() {
        first_output.entry(o.node).or_insert(i);
    }
    let mut class_of: HashMap<NodeId, Id> = HashMap::with_capacity(order.len());
    let mut origins = Vec::with_capacity(order.len());
    for (position, &n) in order.iter().enumerate() {
        let node = f.node(n);
        let operands: Vec<Id> = f.operands(n).iter().map(|o| class_of[o]).collect();
        let enode = encode(
            &mut eg,
            &node.op,
            &node.ty,
            &operands,
            arg_pos.get(&n).copied(),
        )
        .ok_or_else(|| {
            PassError::Ir(IrError::Structure {
                func: f.name.clone(),
                msg: format!(
                    "%{}: the e-graph cannot load `{}` with {} operands",
                    node.name,
                    node.op.name(),
                    operands.len()
                ),
                span: None,
            })
        })?;
        let class = eg.add(enode);
        class_of.insert(n, class);
        origins.push(Origin {
            class,
            name: node.name.clone(),
            position,
            output: first_output.get(&n).copied(),
        });
    }
    if let Some(e) = eg.analysis.errors.first() {
        return Err(internal(&f.name, format!("loading failed: {e}")));
    }
    let args = f
        .args()
        .iter()
        .map(|&a| ArgInfo {
            name: f.node(a).name.clone(),
            role: f.arg_role(a).expect("argument nodes are arguments"),
            ty: f.ty(a).clone(),
            class: class_of[&a],
        })
        .collect();
    let outputs = f
        .outputs()
        .iter()
        .map(|o| OutputInfo {
            class: class_of[&o.node],
            updates: o.updates.and_then(|u| arg_pos.get(&u).copied()),
        })
        .collect();
    eg.rebuild();
    Ok(Loaded {
        egraph: eg,
        func_name: f.name.clone(),
        args,
        outputs,
        origins,
    })
}
