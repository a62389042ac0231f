//! The e-class analysis: every tensor class carries its [`TensorType`] (so rules can have
//! shape guards and costs can use sizes), whether all its elements are one known constant,
//! and whether reading it is free (a splat constant or an index generator that a consumer
//! computes in registers instead of loading).
//!
//! Types come from the IR's own inference ([`llc_ir::infer::infer_type`]) applied to the
//! decoded node, so a rule that builds an ill-typed node, or merges two classes of different
//! types, is caught: the analysis records the problem and the driver reports it as an error.

use super::language::{Constant, TensorLang, TypeKey};
use super::ops::decode;
use egg::{Analysis, DidMerge, Id};
use llc_ir::infer::infer_type;
use llc_ir::{ArgRole, Op, Real, TensorType};

/// The e-graph type used throughout the optimizer.
pub type EG = egg::EGraph<TensorLang, TypeAnalysis>;

/// Per-class facts.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ClassData {
    /// The tensor type; `None` for attribute leaves.
    pub ty: Option<TensorType>,
    /// Every element equals this value.
    pub konst: Option<Real>,
    /// Reading the value costs no memory traffic: a splat constant or an index generator
    /// (or a view of one).
    pub free_read: bool,
}

/// The analysis state: argument roles and types (argument leaves only carry a position)
/// and the problems found while typing nodes.
#[derive(Clone, Debug, Default)]
pub struct TypeAnalysis {
    /// Role and type of each argument, by position.
    pub args: Vec<(ArgRole, TensorType)>,
    /// Problems found typing nodes or merging classes (bugs in rules).
    pub errors: Vec<String>,
}

impl TypeAnalysis {
    /// An analysis for a function with these arguments.
    pub fn new(args: Vec<(ArgRole, TensorType)>) -> Self {
        TypeAnalysis {
            args,
            errors: Vec::new(),
        }
    }
}

fn is_view(op: &Op) -> bool {
    matches!(
        op,
        Op::Broadcast | Op::Reshape | Op::Transpose { .. } | Op::Slice { .. }
    )
}

impl Analysis<TensorLang> for TypeAnalysis {
    type Data = ClassData;

    fn make(egraph: &mut EG, enode: &TensorLang) -> ClassData {
        match enode {
            TensorLang::Attr(_) => return ClassData::default(),
            TensorLang::Full(c) => {
                return ClassData {
                    ty: Some(c.ty.to_type()),
                    konst: Some(c.value),
                    free_read: true,
                };
            }
            TensorLang::Iota(i) => {
                return ClassData {
                    ty: Some(i.ty.to_type()),
                    konst: None,
                    free_read: true,
                };
            }
            _ => {}
        }
        let Some(dec) = decode(egraph, enode) else {
            egraph.analysis.errors.push(format!(
                "`{enode}` has attribute children that do not fit the op"
            ));
            return ClassData::default();
        };
        let mut tys = Vec::with_capacity(dec.operands.len());
        for &o in &dec.operands {
            match &egraph[o].data.ty {
                Some(t) => tys.push(t),
                None => {
                    let msg = format!("`{enode}` has an operand that is not a tensor");
                    egraph.analysis.errors.push(msg);
                    return ClassData::default();
                }
            }
        }
        let ty = match infer_type(&dec.op, &tys, dec.declared.as_ref()) {
            Ok(t) => t,
            Err(msg) => {
                egraph
                    .analysis
                    .errors
                    .push(format!("a rule built an ill-typed `{enode}`: {msg}"));
                return ClassData::default();
            }
        };
        let view_of = |f: fn(&ClassData) -> bool| {
            is_view(&dec.op) && dec.operands.first().is_some_and(|&o| f(&egraph[o].data))
        };
        let konst = if view_of(|d| d.konst.is_some()) {
            egraph[dec.operands[0]].data.konst
        } else {
            None
        };
        ClassData {
            ty: Some(ty),
            konst,
            free_read: view_of(|d| d.free_read),
        }
    }

    fn merge(&mut self, to: &mut ClassData, from: ClassData) -> DidMerge {
        let mut to_changed = false;
        let mut from_changed = false;
        match (&to.ty, &from.ty) {
            (None, Some(_)) => {
                to.ty = from.ty.clone();
                to_changed = true;
            }
            (Some(_), None) => from_changed = true,
            (Some(a), Some(b)) if a != b => {
                self.errors
                    .push(format!("a rule merged values of types {a} and {b}"));
            }
            _ => {}
        }
        match (to.konst, from.konst) {
            (None, Some(v)) => {
                to.konst = Some(v);
                to_changed = true;
            }
            (Some(_), None) => from_changed = true,
            _ => {}
        }
        if to.free_read != from.free_read {
            if from.free_read {
                to_changed = true;
            } else {
                from_changed = true;
            }
            to.free_read = true;
        }
        DidMerge(to_changed, from_changed)
    }

    /// A class known to be a constant gets the constant leaf itself, so extraction can
    /// pick it instead of the computation (constant folding).
    fn modify(egraph: &mut EG, id: Id) {
        let data = &egraph[id].data;
        let (Some(v), Some(ty)) = (data.konst, data.ty.as_ref()) else {
            return;
        };
        if egraph[id]
            .nodes
            .iter()
            .any(|n| matches!(n, TensorLang::Full(_)))
        {
            return;
        }
        let leaf = TensorLang::Full(Constant {
            value: v,
            ty: TypeKey::from(ty),
        });
        let c = egraph.add(leaf);
        egraph.union(id, c);
    }
}
