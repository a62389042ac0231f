//! Functions as dataflow graphs on petgraph. A node is one op producing one value; an edge
//! carries a value to one operand slot of its user.

use crate::dtype::TensorType;
use crate::error::{IrError, Result};
use crate::infer::infer_type;
use crate::op::{ArgRole, Op};
use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};
use std::collections::{BinaryHeap, HashMap};

/// Stable handle of a node: stays valid while other nodes are added or removed.
pub type NodeId = NodeIndex<u32>;

/// One SSA value: the op that makes it, its unique name within the function, its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub ty: TensorType,
}

/// A function result. `updates` names the argument (a param or state) whose next value
/// this result is, so a runtime can feed results back in (the step function's new
/// parameters and optimizer moments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    pub node: NodeId,
    pub updates: Option<NodeId>,
}

/// A function: arguments, a dataflow graph and ordered results.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    graph: StableDiGraph<Node, u32>,
    args: Vec<NodeId>,
    outputs: Vec<Output>,
    names: HashMap<String, NodeId>,
    next_suffix: HashMap<String, usize>,
}

impl Function {
    pub fn new(name: impl Into<String>) -> Self {
        Function {
            name: name.into(),
            graph: StableDiGraph::default(),
            args: Vec::new(),
            outputs: Vec::new(),
            names: HashMap::new(),
            next_suffix: HashMap::new(),
        }
    }

    /// A name not yet used in this function: `base` itself if free, else `base.N`.
    pub fn unique_name(&mut self, base: &str) -> String {
        if !self.names.contains_key(base) {
            return base.to_string();
        }
        let n = self.next_suffix.entry(base.to_string()).or_insert(1);
        loop {
            let cand = format!("{base}.{n}");
            *n += 1;
            if !self.names.contains_key(&cand) {
                return cand;
            }
        }
    }

    fn structure(&self, msg: String) -> IrError {
        IrError::Structure {
            func: self.name.clone(),
            msg,
            span: None,
        }
    }

    /// Append an argument. Names must be unique.
    pub fn add_arg(&mut self, name: &str, role: ArgRole, ty: TensorType) -> Result<NodeId> {
        let id = self.insert(name, Op::Arg { role }, &[], ty)?;
        self.args.push(id);
        Ok(id)
    }

    /// Add a node with an explicit type and the given name, without type checking
    /// (the parser and passes use this; the verifier checks afterwards).
    pub fn insert(
        &mut self,
        name: &str,
        op: Op,
        operands: &[NodeId],
        ty: TensorType,
    ) -> Result<NodeId> {
        if self.names.contains_key(name) {
            return Err(self.structure(format!("value %{name} is defined twice")));
        }
        for &o in operands {
            if !self.graph.contains_node(o) {
                return Err(
                    self.structure(format!("operand {} of %{name} does not exist", o.index()))
                );
            }
        }
        let id = self.graph.add_node(Node {
            name: name.to_string(),
            op,
            ty,
        });
        for (slot, &o) in operands.iter().enumerate() {
            self.graph.add_edge(o, id, slot as u32);
        }
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// Add a node whose type is inferred (or taken from `declared` for ops that need it),
    /// named `base` or `base.N`. This is the checked entry point used by builders.
    pub fn add(
        &mut self,
        base: &str,
        op: Op,
        operands: &[NodeId],
        declared: Option<TensorType>,
    ) -> Result<NodeId> {
        let tys: Vec<&TensorType> = operands
            .iter()
            .map(|&o| {
                self.graph
                    .node_weight(o)
                    .map(|n| &n.ty)
                    .ok_or_else(|| self.structure(format!("operand {} does not exist", o.index())))
            })
            .collect::<Result<_>>()?;
        let ty = infer_type(&op, &tys, declared.as_ref()).map_err(|msg| IrError::Type {
            node: base.to_string(),
            op: op.name().to_string(),
            msg,
            span: None,
        })?;
        let name = self.unique_name(base);
        self.insert(&name, op, operands, ty)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph[id]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.graph[id]
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.graph.contains_node(id)
    }

    /// Rename a node; the new name must be free.
    pub fn rename(&mut self, id: NodeId, name: &str) -> Result<()> {
        if self.graph[id].name == name {
            return Ok(());
        }
        if self.names.contains_key(name) {
            return Err(self.structure(format!("value %{name} is defined twice")));
        }
        let old = std::mem::replace(&mut self.graph[id].name, name.to_string());
        self.names.remove(&old);
        self.names.insert(name.to_string(), id);
        Ok(())
    }

    pub fn ty(&self, id: NodeId) -> &TensorType {
        &self.graph[id].ty
    }

    pub fn by_name(&self, name: &str) -> Option<NodeId> {
        self.names.get(name).copied()
    }

    /// Operands in slot order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<(u32, NodeId)> = self
            .graph
            .edges_directed(id, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        v.sort_unstable_by_key(|&(s, _)| s);
        v.into_iter().map(|(_, n)| n).collect()
    }

    /// Distinct nodes that use `id` as an operand, in node order.
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .graph
            .edges_directed(id, Direction::Outgoing)
            .map(|e| e.target())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Number of operand slots that read `id` plus the outputs that return it.
    pub fn use_count(&self, id: NodeId) -> usize {
        self.graph.edges_directed(id, Direction::Outgoing).count()
            + self.outputs.iter().filter(|o| o.node == id).count()
    }

    /// Point every use of `old` (operands and outputs) at `new`.
    pub fn replace_all_uses(&mut self, old: NodeId, new: NodeId) {
        if old == new {
            return;
        }
        let edges: Vec<_> = self
            .graph
            .edges_directed(old, Direction::Outgoing)
            .map(|e| (e.id(), e.target(), *e.weight()))
            .collect();
        for (e, target, slot) in edges {
            self.graph.remove_edge(e);
            self.graph.add_edge(new, target, slot);
        }
        for o in &mut self.outputs {
            if o.node == old {
                o.node = new;
            }
        }
    }

    /// Replace the operand in `slot` of `user`.
    pub fn set_operand(&mut self, user: NodeId, slot: usize, new: NodeId) {
        let e = self
            .graph
            .edges_directed(user, Direction::Incoming)
            .find(|e| *e.weight() == slot as u32)
            .map(|e| e.id());
        if let Some(e) = e {
            self.graph.remove_edge(e);
        }
        self.graph.add_edge(new, user, slot as u32);
    }

    /// Remove a node that nothing uses. Arguments cannot be removed this way.
    pub fn remove(&mut self, id: NodeId) -> Result<()> {
        if self.args.contains(&id) {
            return Err(self.structure(format!("cannot remove argument %{}", self.graph[id].name)));
        }
        if self.use_count(id) > 0 {
            return Err(self.structure(format!(
                "cannot remove %{}: it is still used",
                self.graph[id].name
            )));
        }
        let n = self.graph.remove_node(id).expect("node exists");
        self.names.remove(&n.name);
        Ok(())
    }

    /// Remove every non-argument node that does not reach an output. Returns how many.
    pub fn remove_dead(&mut self) -> usize {
        let mut live = vec![false; self.graph.node_bound()];
        let mut stack: Vec<NodeId> = self.outputs.iter().map(|o| o.node).collect();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut live[n.index()], true) {
                continue;
            }
            stack.extend(self.graph.neighbors_directed(n, Direction::Incoming));
        }
        for &a in &self.args {
            live[a.index()] = true;
        }
        let dead: Vec<NodeId> = self
            .graph
            .node_indices()
            .filter(|n| !live[n.index()])
            .collect();
        for &d in &dead {
            let n = self.graph.remove_node(d).expect("node exists");
            self.names.remove(&n.name);
        }
        dead.len()
    }

    pub fn args(&self) -> &[NodeId] {
        &self.args
    }

    /// Role of an argument node (`None` for non-arguments).
    pub fn arg_role(&self, id: NodeId) -> Option<ArgRole> {
        match self.graph[id].op {
            Op::Arg { role } => Some(role),
            _ => None,
        }
    }

    /// Arguments with the given role, in argument order.
    pub fn args_with_role(&self, role: ArgRole) -> Vec<NodeId> {
        self.args
            .iter()
            .copied()
            .filter(|&a| self.arg_role(a) == Some(role))
            .collect()
    }

    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// Append a result.
    pub fn add_output(&mut self, node: NodeId, updates: Option<NodeId>) {
        self.outputs.push(Output { node, updates });
    }

    pub fn set_outputs(&mut self, outputs: Vec<Output>) {
        self.outputs = outputs;
    }

    /// The result named `name` (results are named by their value).
    pub fn output_by_name(&self, name: &str) -> Option<NodeId> {
        self.outputs
            .iter()
            .map(|o| o.node)
            .find(|&n| self.graph[n].name == name)
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// All node ids in index order (not necessarily topological).
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.graph.node_indices()
    }

    /// Read access to the underlying petgraph for analyses.
    pub fn graph(&self) -> &StableDiGraph<Node, u32> {
        &self.graph
    }

    /// A deterministic topological order: arguments first in argument order, then ready
    /// nodes smallest-id first (so builder order is kept). Fails on a cycle.
    pub fn topo_order(&self) -> Result<Vec<NodeId>> {
        let bound = self.graph.node_bound();
        let mut indeg = vec![0usize; bound];
        for e in self.graph.edge_references() {
            indeg[e.target().index()] += 1;
        }
        let mut order = Vec::with_capacity(self.graph.node_count());
        let mut heap: BinaryHeap<std::cmp::Reverse<u32>> = BinaryHeap::new();
        let is_arg: Vec<bool> = {
            let mut v = vec![false; bound];
            for a in &self.args {
                v[a.index()] = true;
            }
            v
        };
        for n in self.graph.node_indices() {
            if indeg[n.index()] == 0 && !is_arg[n.index()] {
                heap.push(std::cmp::Reverse(n.index() as u32));
            }
        }
        let mut release = |n: NodeId, heap: &mut BinaryHeap<std::cmp::Reverse<u32>>| {
            for e in self.graph.edges_directed(n, Direction::Outgoing) {
                let t = e.target().index();
                indeg[t] -= 1;
                if indeg[t] == 0 {
                    heap.push(std::cmp::Reverse(t as u32));
                }
            }
        };
        for &a in &self.args {
            order.push(a);
            release(a, &mut heap);
        }
        while let Some(std::cmp::Reverse(i)) = heap.pop() {
            let n = NodeIndex::new(i as usize);
            order.push(n);
            release(n, &mut heap);
        }
        if order.len() != self.graph.node_count() {
            return Err(self.structure("the graph has a cycle".to_string()));
        }
        Ok(order)
    }
}

/// A compilation unit: one or more functions (the model's `forward`, the `step`).
#[derive(Clone, Debug, Default)]
pub struct Module {
    pub functions: Vec<Function>,
}

impl Module {
    pub fn new() -> Self {
        Module::default()
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    pub fn function_mut(&mut self, name: &str) -> Option<&mut Function> {
        self.functions.iter_mut().find(|f| f.name == name)
    }
}
