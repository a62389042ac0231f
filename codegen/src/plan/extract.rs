//! Cutting the function of one launch out of a kernel.

use super::Planner;
use crate::api::ParamRef;
use crate::error::{CodegenError, Result};
use llc_ir::{ArgRole, Function, NodeId, Op, ReduceKind, TensorType};
use std::collections::HashMap;

/// What a reduction stage replaces a node by.
pub(super) enum Subst {
    /// An argument of the node's type bound to a parameter.
    Arg(ParamRef),
    /// The combination of `[out, chunks]` partials (a row reduction of them).
    Partials {
        param: ParamRef,
        chunks: usize,
        kind: ReduceKind,
    },
}

impl Planner<'_> {
    /// The function of one launch: the kernel's arguments, then an argument per
    /// substituted node it reaches, the nodes reachable from `targets`, and `targets` as
    /// outputs. Returns it with its parameter bindings.
    pub(super) fn extract(
        &self,
        targets: &[(NodeId, ParamRef)],
        subst: &HashMap<NodeId, Subst>,
    ) -> Result<(Function, Vec<ParamRef>)> {
        let d = self.d;
        let err = |source| CodegenError::InvalidIr {
            kernel: self.kernel.to_string(),
            source,
        };
        let roots: Vec<NodeId> = targets.iter().map(|t| t.0).collect();
        let reached = self.reach(&roots, &|n| subst.contains_key(&n));
        let mut f = Function::new(d.name.clone());
        let mut map: HashMap<NodeId, NodeId> = HashMap::new();
        let mut params = Vec::new();
        for (i, &a) in d.args().iter().enumerate() {
            let n = d.node(a);
            map.insert(
                a,
                f.add_arg(&n.name, ArgRole::Input, n.ty.clone())
                    .map_err(err)?,
            );
            params.push(ParamRef::Input(i));
        }
        for &n in &reached {
            let Some(s) = subst.get(&n) else { continue };
            let ty = d.ty(n).clone();
            let name = f.unique_name(&format!("{}.in", d.node(n).name));
            let id = match s {
                Subst::Arg(p) => {
                    params.push(*p);
                    f.add_arg(&name, ArgRole::Input, ty).map_err(err)?
                }
                Subst::Partials {
                    param,
                    chunks,
                    kind,
                } => {
                    params.push(*param);
                    let pty = TensorType::new(ty.dtype, vec![ty.numel(), *chunks]);
                    let p = f.add_arg(&name, ArgRole::Input, pty).map_err(err)?;
                    let r = f
                        .add(
                            &format!("{}.combine", d.node(n).name),
                            Op::Reduce {
                                kind: *kind,
                                axes: vec![1],
                                keep_dims: false,
                            },
                            &[p],
                            None,
                        )
                        .map_err(err)?;
                    f.add(
                        &format!("{}.reshape", d.node(n).name),
                        Op::Reshape,
                        &[r],
                        Some(ty),
                    )
                    .map_err(err)?
                }
            };
            map.insert(n, id);
        }
        let order = d.topo_order().map_err(err)?;
        for n in order {
            if !reached.contains(&n) || map.contains_key(&n) {
                continue;
            }
            let node = d.node(n);
            let ops: Vec<NodeId> = d.operands(n).iter().map(|o| map[o]).collect();
            let name = f.unique_name(&node.name);
            let id = f
                .insert(&name, node.op.clone(), &ops, node.ty.clone())
                .map_err(err)?;
            map.insert(n, id);
        }
        for &(t, p) in targets {
            f.add_output(map[&t], None);
            params.push(p);
        }
        Ok((f, params))
    }
}
