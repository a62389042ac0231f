//! Greedy fusion: walk the nodes in topological order and put each compute node into the
//! kernel group of one of its operands when the kernel class rules allow it and no cycle
//! between kernels would follow; else it starts a group of its own. Then independent
//! elementwise groups over the same element count that read a common input merge
//! (sibling fusion), so e.g. the two swiglu gradients are one launch.
//!
//! Constants and broadcasts are never group members: each kernel that reads one gets its
//! own copy (see [`NodeKind::ConstLike`], [`NodeKind::Broadcast`]).
//!
//! The size rules here are the fusion *policy* (which groups are worth proposing); every
//! join and merge is also put to the [`KernelTarget`], which has the last word on what
//! one kernel of a class may hold.

use super::classify::{NodeKind, is_row_broadcast, is_row_shape, numel, row_dims};
use super::kernel_fn::{build_kernel, fingerprint};
use super::target::KernelTarget;
use llc_ir::plan::KernelClass;
use llc_ir::{Function, NodeId};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// The class a group is heading for, with the sizes its rules depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupClass {
    Elementwise { numel: usize },
    Row { rows: usize, width: usize },
    Reduction { input: usize, output: usize },
    Scatter,
    Single,
}

impl GroupClass {
    /// The kernel class a group of this class becomes.
    pub fn kernel_class(self) -> KernelClass {
        match self {
            GroupClass::Elementwise { .. } => KernelClass::Elementwise,
            GroupClass::Row { .. } => KernelClass::Row,
            GroupClass::Reduction { .. } => KernelClass::Reduction,
            GroupClass::Scatter => KernelClass::Scatter,
            GroupClass::Single => KernelClass::Single,
        }
    }
}

/// A set of nodes that becomes one kernel.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub nodes: Vec<NodeId>,
    pub class: GroupClass,
    /// Smallest topological position of a member (prunes cycle searches).
    pub min_pos: usize,
    /// False once merged into another group.
    pub alive: bool,
    /// The group this one was merged into.
    pub merged_into: Option<usize>,
}

/// How a node reads one operand, seen through constants and broadcasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// A constant: no buffer, no dependency.
    Inline,
    /// The operand itself.
    Direct(NodeId),
    /// The operand is a broadcast of this (non-broadcast) value.
    BroadcastOf(NodeId),
}

/// Fusion state over one function.
pub(crate) struct Fusion<'f> {
    pub f: &'f Function,
    /// Who says whether a group may be one kernel.
    pub target: &'f dyn KernelTarget,
    /// The target's answers by candidate kernel (fingerprint and class): identical
    /// layers ask identical questions.
    answers: RefCell<HashMap<(u64, KernelClass), bool>>,
    pub kind: Vec<NodeKind>,
    /// Topological position of each node index.
    pub pos: Vec<usize>,
    pub group_of: Vec<Option<usize>>,
    pub groups: Vec<Group>,
    /// Function outputs (by node index), which must be materialized.
    is_output: Vec<bool>,
    /// Scratch for cycle searches: the generation a node was last visited in.
    seen: Vec<u32>,
    generation: u32,
}

impl<'f> Fusion<'f> {
    pub fn new(
        f: &'f Function,
        order: &[NodeId],
        kind: Vec<NodeKind>,
        target: &'f dyn KernelTarget,
    ) -> Self {
        let bound = kind.len();
        let mut pos = vec![usize::MAX; bound];
        for (i, &n) in order.iter().enumerate() {
            pos[n.index()] = i;
        }
        let mut is_output = vec![false; bound];
        for o in f.outputs() {
            is_output[o.node.index()] = true;
        }
        Fusion {
            f,
            target,
            answers: RefCell::default(),
            kind,
            pos,
            group_of: vec![None; bound],
            groups: Vec::new(),
            is_output,
            seen: vec![0; bound],
            generation: 0,
        }
    }

    fn kind(&self, n: NodeId) -> NodeKind {
        self.kind[n.index()]
    }

    fn access(&self, o: NodeId) -> Access {
        let mut o = o;
        loop {
            match self.kind(o) {
                NodeKind::ConstLike => return Access::Inline,
                NodeKind::Broadcast => {
                    let src = self.f.operands(o)[0];
                    if self.kind(src) == NodeKind::Broadcast {
                        o = src;
                        continue;
                    }
                    if self.kind(src) == NodeKind::ConstLike {
                        return Access::Inline;
                    }
                    return Access::BroadcastOf(src);
                }
                _ => return Access::Direct(o),
            }
        }
    }

    /// Start a group holding `n` alone.
    pub fn new_group(&mut self, n: NodeId, class: GroupClass) -> usize {
        let g = self.groups.len();
        self.groups.push(Group {
            nodes: vec![n],
            class,
            min_pos: self.pos[n.index()],
            alive: true,
            merged_into: None,
        });
        self.group_of[n.index()] = Some(g);
        g
    }

    fn join(&mut self, n: NodeId, g: usize) {
        self.groups[g].nodes.push(n);
        self.groups[g].min_pos = self.groups[g].min_pos.min(self.pos[n.index()]);
        self.group_of[n.index()] = Some(g);
    }

    /// Whether some node reachable backwards from `start` (including itself) is in a
    /// group of `targets`, not counting paths that run only through constants and
    /// broadcasts cloned into the target.
    fn reaches(&mut self, start: NodeId, targets: &[usize], min_pos: usize) -> bool {
        self.generation += 1;
        let gen_ = self.generation;
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            let i = n.index();
            if self.seen[i] == gen_ || self.pos[i] < min_pos {
                continue;
            }
            self.seen[i] = gen_;
            if let Some(g) = self.group_of[i]
                && targets.contains(&g)
            {
                return true;
            }
            stack.extend(self.f.operands(n));
        }
        false
    }

    /// Operands of `n` that are real producers (through broadcasts), outside `targets`.
    fn external_producers(&self, n: NodeId, targets: &[usize]) -> Vec<NodeId> {
        let mut v = Vec::new();
        for o in self.f.operands(n) {
            let p = match self.access(o) {
                Access::Inline => continue,
                Access::Direct(p) | Access::BroadcastOf(p) => p,
            };
            if self.group_of[p.index()].is_none_or(|g| !targets.contains(&g)) {
                v.push(p);
            }
        }
        v
    }

    /// Whether putting `n` into group `g` keeps the kernel graph acyclic.
    fn acyclic_with(&mut self, n: NodeId, g: usize) -> bool {
        let min_pos = self.groups[g].min_pos;
        for p in self.external_producers(n, &[g]) {
            if self.reaches(p, &[g], min_pos) {
                return false;
            }
        }
        true
    }

    /// Whether merging groups `a` and `b` keeps the kernel graph acyclic.
    fn acyclic_merge(&mut self, a: usize, b: usize) -> bool {
        let min_pos = self.groups[a].min_pos.min(self.groups[b].min_pos);
        for (from, to) in [(a, b), (b, a)] {
            let nodes = self.groups[from].nodes.clone();
            for n in nodes {
                for p in self.external_producers(n, &[a, b]) {
                    if self.reaches(p, &[to], min_pos) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Whether a member of a candidate group must be written out: it is a result, or
    /// something outside the candidate reads it (through cloned broadcasts too).
    fn needed_outside(&self, m: NodeId, inside: &dyn Fn(NodeId) -> bool) -> bool {
        self.is_output[m.index()]
            || self.f.users(m).into_iter().any(|u| {
                !inside(u)
                    && (self.kind(u) != NodeKind::Broadcast
                        || self.group_of[u.index()].is_some()
                        || self.needed_outside(u, inside))
            })
    }

    /// Asks the target whether groups `groups` together with `extra` may be one kernel
    /// of `class`, as they would be built now.
    fn target_accepts(&self, groups: &[usize], extra: Option<NodeId>, class: GroupClass) -> bool {
        let inside = |n: NodeId| {
            Some(n) == extra || self.group_of[n.index()].is_some_and(|g| groups.contains(&g))
        };
        let mut members: Vec<NodeId> = groups
            .iter()
            .flat_map(|&g| self.groups[g].nodes.iter().copied())
            .chain(extra)
            .collect();
        members.sort_by_key(|m| self.pos[m.index()]);
        let body = build_kernel(self.f, &members, &self.kind, &inside, &|m| {
            self.needed_outside(m, &inside)
        });
        if body.outputs.is_empty() {
            return true;
        }
        let key = (fingerprint(&body.func), class.kernel_class());
        *self.answers.borrow_mut().entry(key).or_insert_with(|| {
            self.target
                .check_kernel(&body.func, class.kernel_class())
                .is_ok()
        })
    }

    fn merge(&mut self, into: usize, from: usize) {
        let nodes = std::mem::take(&mut self.groups[from].nodes);
        for &n in &nodes {
            self.group_of[n.index()] = Some(into);
        }
        self.groups[into].min_pos = self.groups[into].min_pos.min(self.groups[from].min_pos);
        self.groups[into].nodes.extend(nodes);
        self.groups[from].alive = false;
        self.groups[from].merged_into = Some(into);
    }

    /// Whether elementwise node `n` may join group `g` under `g`'s class rules.
    fn elementwise_fits(&self, n: NodeId, g: usize) -> bool {
        let shape = &self.f.ty(n).shape;
        let count = numel(shape);
        let class = self.groups[g].class;
        let in_g = |p: NodeId| self.group_of[p.index()] == Some(g);
        let ops = self.f.operands(n);
        match class {
            GroupClass::Elementwise { numel: c } => {
                count == c
                    && ops.iter().all(|&o| match self.access(o) {
                        Access::BroadcastOf(p) => !in_g(p),
                        _ => true,
                    })
            }
            GroupClass::Row { rows, width } => {
                is_row_shape(shape, rows, width)
                    && ops.iter().all(|&o| match self.access(o) {
                        Access::BroadcastOf(p) if in_g(p) => {
                            is_row_broadcast(&self.f.ty(p).shape, &self.f.ty(o).shape, rows, width)
                                && numel(&self.f.ty(p).shape) == rows
                        }
                        _ => true,
                    })
            }
            GroupClass::Reduction { output, .. } => {
                count == output
                    && ops.iter().all(|&o| match self.access(o) {
                        Access::BroadcastOf(p) => !in_g(p),
                        _ => true,
                    })
            }
            GroupClass::Scatter | GroupClass::Single => false,
        }
    }

    /// Whether every member of elementwise group `g` is used only inside `g` or by `n`
    /// (so `g` can become `n`'s prologue without writing anything else).
    fn only_feeds(&self, g: usize, n: NodeId) -> bool {
        self.groups[g].nodes.iter().all(|&m| {
            !self.is_output[m.index()]
                && self.f.users(m).into_iter().all(|u| {
                    u == n
                        || self.group_of[u.index()] == Some(g)
                        || (self.kind(u) == NodeKind::Broadcast
                            && self.f.users(u).into_iter().all(|uu| uu == n))
                })
        })
    }

    /// Groups of the producers `n` reads (directly or through a broadcast), first use
    /// first, without repeats.
    fn candidate_groups(&self, n: NodeId) -> Vec<usize> {
        let mut out = Vec::new();
        for o in self.f.operands(n) {
            let p = match self.access(o) {
                Access::Inline => continue,
                Access::Direct(p) | Access::BroadcastOf(p) => p,
            };
            if let Some(g) = self.group_of[p.index()]
                && !out.contains(&g)
            {
                out.push(g);
            }
        }
        out
    }

    fn place_elementwise(&mut self, n: NodeId) {
        let count = numel(&self.f.ty(n).shape);
        let cands = self.candidate_groups(n);
        let mut home = None;
        for &g in &cands {
            if self.elementwise_fits(n, g)
                && self.acyclic_with(n, g)
                && self.target_accepts(&[g], Some(n), self.groups[g].class)
            {
                home = Some(g);
                break;
            }
        }
        let Some(g) = home else {
            self.new_group(n, GroupClass::Elementwise { numel: count });
            return;
        };
        self.join(n, g);
        // Pull the other elementwise operand groups of the same size in too.
        for &other in &cands {
            if other == g || !self.groups[other].alive {
                continue;
            }
            if self.groups[g].class == self.groups[other].class
                && matches!(self.groups[g].class, GroupClass::Elementwise { .. })
                && self.acyclic_merge(g, other)
                && self.target_accepts(&[g, other], None, self.groups[g].class)
            {
                self.merge(g, other);
            }
        }
    }

    /// A transpose joins the elementwise kernel computing its operand (the kernel then
    /// writes the permuted result), else starts one.
    fn place_transpose(&mut self, n: NodeId) {
        let count = numel(&self.f.ty(n).shape);
        let class = GroupClass::Elementwise { numel: count };
        let src = self.f.operands(n)[0];
        if let Some(g) = self.group_of[src.index()]
            && self.groups[g].class == class
            && self.acyclic_with(n, g)
            && self.target_accepts(&[g], Some(n), class)
        {
            self.join(n, g);
            return;
        }
        self.new_group(n, class);
    }

    fn place_row_op(&mut self, n: NodeId) {
        let (rows, width) = row_dims(self.f, n);
        let row = GroupClass::Row { rows, width };
        for g in self.candidate_groups(n) {
            let fits = match self.groups[g].class {
                GroupClass::Row { .. } => self.groups[g].class == row,
                GroupClass::Elementwise { .. } => {
                    self.only_feeds(g, n)
                        && self.groups[g]
                            .nodes
                            .iter()
                            .all(|&m| is_row_shape(&self.f.ty(m).shape, rows, width))
                }
                _ => false,
            };
            if fits && self.acyclic_with(n, g) && self.target_accepts(&[g], Some(n), row) {
                self.groups[g].class = row;
                self.join(n, g);
                return;
            }
        }
        self.new_group(n, row);
    }

    fn place_reduce_op(&mut self, n: NodeId) {
        let input = numel(&self.f.ty(self.f.operands(n)[0]).shape);
        let output = numel(&self.f.ty(n).shape);
        let class = GroupClass::Reduction { input, output };
        for g in self.candidate_groups(n) {
            let fits = matches!(self.groups[g].class, GroupClass::Elementwise { numel } if numel == input)
                && self.only_feeds(g, n);
            if fits && self.acyclic_with(n, g) && self.target_accepts(&[g], Some(n), class) {
                self.groups[g].class = class;
                self.join(n, g);
                return;
            }
        }
        self.new_group(n, class);
    }

    /// Assign every compute node of `order` to a group.
    pub fn run(&mut self, order: &[NodeId]) {
        for &n in order {
            match self.kind(n) {
                NodeKind::Elementwise => self.place_elementwise(n),
                NodeKind::Rope => {
                    let c = numel(&self.f.ty(n).shape);
                    self.new_group(n, GroupClass::Elementwise { numel: c });
                }
                NodeKind::RowOp => self.place_row_op(n),
                NodeKind::ReduceOp => self.place_reduce_op(n),
                NodeKind::Movement => {
                    let c = numel(&self.f.ty(n).shape);
                    self.new_group(n, GroupClass::Elementwise { numel: c });
                }
                NodeKind::Transpose => self.place_transpose(n),
                NodeKind::Scatter => {
                    self.new_group(n, GroupClass::Scatter);
                }
                NodeKind::Single => {
                    self.new_group(n, GroupClass::Single);
                }
                NodeKind::Arg
                | NodeKind::Gemm
                | NodeKind::View
                | NodeKind::ConcatCandidate
                | NodeKind::ConstLike
                | NodeKind::Broadcast
                | NodeKind::Absorbed => {}
            }
        }
        self.merge_siblings();
    }

    /// Merge independent elementwise groups of equal size that read a common buffer.
    fn merge_siblings(&mut self) {
        // For each producer, the live elementwise groups reading it.
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); self.kind.len()];
        for (g, grp) in self.groups.iter().enumerate() {
            if !grp.alive || !matches!(grp.class, GroupClass::Elementwise { .. }) {
                continue;
            }
            let mut seen = HashSet::new();
            for &n in &grp.nodes {
                for p in self.external_producers(n, &[g]) {
                    if seen.insert(p) {
                        readers[p.index()].push(g);
                    }
                }
            }
        }
        for list in readers {
            if list.len() < 2 {
                continue;
            }
            let mut canon: Vec<usize> = Vec::new();
            for g in list {
                // Follow merges.
                let g = self.live(g);
                if !canon.contains(&g) {
                    canon.push(g);
                }
            }
            for i in 0..canon.len() {
                for j in (i + 1)..canon.len() {
                    let (a, b) = (self.live(canon[i]), self.live(canon[j]));
                    if a == b || self.groups[a].class != self.groups[b].class {
                        continue;
                    }
                    if self.acyclic_merge(a, b)
                        && self.target_accepts(&[a, b], None, self.groups[a].class)
                    {
                        self.merge(a, b);
                    }
                }
            }
        }
    }

    /// The live group that `g` was merged into.
    fn live(&self, mut g: usize) -> usize {
        while let Some(next) = self.groups[g].merged_into {
            g = next;
        }
        g
    }
}
