//! Horizontal packing, as IR-to-IR rewrites run before partitioning:
//!
//! - **updates**: the optimizer updates every parameter with the same elementwise
//!   formula (one for decayed parameters, one for the others). Each parameter's update
//!   is a *flat cluster*: elementwise ops over its element count reading vectors
//!   (`p`, `g`, `m`, `v`) and shared scalars (`lr`, clip factor ...). Clusters with the
//!   same structure are rewritten into one cluster over the concatenation of their
//!   flattened inputs, whose results are sliced back. Partitioning places the
//!   concatenated arguments (and gradients) back to back so the concats are views, and
//!   computes the update in place, so a class of parameters costs one launch.
//! - **norms**: the global gradient norm is a sum of `reduce_sum(g * g)` over all
//!   gradients; leaves with the same structure become one reduction over the
//!   concatenation, in the order the update packs use (so both read the same block).
//!
//! Packs are cut into chunks of at most `max_elements` elements (so element indices stay
//! in 32 bits), each chunk one launch.

use crate::error::Result;
use llc_ir::{Function, NodeId, Op, ReduceKind, TensorType};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What packing did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Update chunks built (each one launch).
    pub update_packs: usize,
    /// Parameter updates merged into them.
    pub updates_packed: usize,
    /// Norm-reduction chunks built.
    pub norm_packs: usize,
    /// Reduction leaves merged into them.
    pub norm_leaves_packed: usize,
}

/// An elementwise cluster over `n` elements.
struct Cluster {
    n: usize,
    /// Members in topological order.
    body: Vec<NodeId>,
    /// Inputs with `n` elements, in first-use order.
    vectors: Vec<NodeId>,
    /// 0-d inputs, in first-use order.
    scalars: Vec<NodeId>,
    /// Structure key: equal keys mean the same formula over the same kind of inputs.
    key: String,
}

fn numel(t: &TensorType) -> usize {
    t.numel()
}

/// Whether `x` can be a member of a flat cluster over `n` elements: its value at a flat
/// index depends only on its operands at that index.
fn is_flat_body(f: &Function, x: NodeId, n: usize) -> bool {
    let node = f.node(x);
    if numel(&node.ty) != n || node.ty.rank() == 0 {
        return false;
    }
    match &node.op {
        Op::Full { .. } => true,
        Op::Broadcast => f.ty(f.operands(x)[0]).rank() == 0,
        // A cast is where a cluster starts: in mixed precision the gradient of a
        // parameter is the f32 cast of its bf16 GEMM result, made where that result is
        // (its buffer is the GEMM's, not one the pack can place), so the pack reads the
        // f32 gradient as its input.
        Op::Cast => false,
        op => op.is_elementwise(),
    }
}

/// The flat cluster reachable backwards from `roots` (all with the same element count).
/// `root_key` describes each root for the structure key.
fn flat_cluster(
    f: &Function,
    roots: &[NodeId],
    root_key: &dyn Fn(&Cluster, NodeId) -> String,
) -> Option<Cluster> {
    let n = numel(f.ty(roots[0]));
    let mut body: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = roots.to_vec();
    while let Some(x) = stack.pop() {
        if body.contains(&x) {
            continue;
        }
        if !is_flat_body(f, x, n) {
            if roots.contains(&x) {
                return None;
            }
            continue;
        }
        body.insert(x);
        stack.extend(f.operands(x));
    }
    // Canonical order: post-order from the roots, operands in slot order. It does not
    // depend on where shared members sit in the function, so equal formulas get equal
    // keys.
    let body = {
        let mut order = Vec::with_capacity(body.len());
        let mut done: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<(NodeId, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((x, expanded)) = stack.pop() {
            if done.contains(&x) {
                continue;
            }
            if expanded {
                done.insert(x);
                order.push(x);
                continue;
            }
            stack.push((x, true));
            for o in f.operands(x).into_iter().rev() {
                if body.contains(&o) && !done.contains(&o) {
                    stack.push((o, false));
                }
            }
        }
        order
    };
    let index: HashMap<NodeId, usize> = body.iter().enumerate().map(|(i, &b)| (b, i)).collect();
    let mut c = Cluster {
        n,
        body: body.clone(),
        vectors: Vec::new(),
        scalars: Vec::new(),
        key: String::new(),
    };
    let mut key = String::new();
    for &b in &body {
        let node = f.node(b);
        key.push_str(&format!("{:?}:{}(", node.op, node.ty.dtype));
        for o in f.operands(b) {
            if let Some(i) = index.get(&o) {
                key.push_str(&format!("b{i},"));
            } else if f.ty(o).rank() == 0 {
                let i = c.scalars.iter().position(|&s| s == o).unwrap_or_else(|| {
                    c.scalars.push(o);
                    c.scalars.len() - 1
                });
                key.push_str(&format!("s{i}={},", o.index()));
            } else if numel(f.ty(o)) == n {
                let i = c.vectors.iter().position(|&s| s == o).unwrap_or_else(|| {
                    c.vectors.push(o);
                    c.vectors.len() - 1
                });
                let origin = match f.node(o).op {
                    Op::Arg { role } => role.name(),
                    _ => "value",
                };
                key.push_str(&format!("v{i}:{}:{origin},", f.ty(o).dtype));
            } else {
                return None;
            }
        }
        key.push_str(");");
    }
    for &r in roots {
        let k = root_key(&c, r);
        key.push_str(&format!("root b{}{k};", index[&r]));
    }
    c.key = key;
    Some(c)
}

/// Constants and broadcasts of scalars: free to duplicate, so they may be shared.
fn is_splat(f: &Function, b: NodeId) -> bool {
    matches!(f.node(b).op, Op::Full { .. } | Op::Broadcast)
}

/// Whether every member's users lie inside the cluster or are `allowed`, and no member
/// but a root is a function result.
fn self_contained(f: &Function, c: &Cluster, roots: &[NodeId], allowed: &[NodeId]) -> bool {
    let members: HashSet<NodeId> = c.body.iter().copied().collect();
    let results: HashSet<NodeId> = f.outputs().iter().map(|o| o.node).collect();
    c.body.iter().all(|&b| {
        if is_splat(f, b) && !results.contains(&b) {
            return true;
        }
        (!results.contains(&b) || roots.contains(&b))
            && f.users(b)
                .into_iter()
                .all(|u| members.contains(&u) || allowed.contains(&u))
    })
}

/// Rebuild a cluster's formula over the concatenation of `members`' inputs; returns the
/// new node of each body position. `tag` names the new values.
fn rebuild_packed(f: &mut Function, members: &[&Cluster], tag: &str) -> Result<Vec<NodeId>> {
    let total: usize = members.iter().map(|c| c.n).sum();
    let first = members[0];
    let mut vec_inputs = Vec::with_capacity(first.vectors.len());
    for j in 0..first.vectors.len() {
        let mut parts = Vec::with_capacity(members.len());
        for c in members {
            let x = c.vectors[j];
            let flat = if f.ty(x).rank() == 1 {
                x
            } else {
                let ty = f.ty(x).with_shape(vec![c.n]);
                f.add(&format!("{tag}.flat"), Op::Reshape, &[x], Some(ty))?
            };
            parts.push(flat);
        }
        let ty = f.ty(parts[0]).with_shape(vec![total]);
        vec_inputs.push(f.add(
            &format!("{tag}.in{j}"),
            Op::Concat { axis: 0 },
            &parts,
            Some(ty),
        )?);
    }
    let mut new_body: Vec<NodeId> = Vec::with_capacity(first.body.len());
    let index: HashMap<NodeId, usize> = first
        .body
        .iter()
        .enumerate()
        .map(|(i, &b)| (b, i))
        .collect();
    for &b in &first.body {
        let node = f.node(b).clone();
        let mut ops = Vec::new();
        for o in f.operands(b) {
            ops.push(if let Some(&i) = index.get(&o) {
                new_body[i]
            } else if let Some(j) = first.vectors.iter().position(|&v| v == o) {
                vec_inputs[j]
            } else {
                o
            });
        }
        let ty = node.ty.with_shape(vec![total]);
        let declared = node.op.takes_declared_type().then_some(ty);
        new_body.push(f.add(&format!("{tag}.v"), node.op.clone(), &ops, declared)?);
    }
    Ok(new_body)
}

/// Replace `old` by `new` everywhere and give `new` the old name (results keep names).
fn take_place(f: &mut Function, old: NodeId, new: NodeId) -> Result<()> {
    let name = f.node(old).name.clone();
    let tmp = f.unique_name(&format!("{name}.unpacked"));
    f.rename(old, &tmp)?;
    f.replace_all_uses(old, new);
    f.rename(new, &name)?;
    Ok(())
}

/// Consecutive runs of `items` whose sizes add up to at most `max` (a bigger item is a
/// run of its own).
fn chunks<T: Copy>(items: &[T], size: impl Fn(T) -> usize, max: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    let mut cur_size = 0usize;
    for &it in items {
        let s = size(it);
        if !cur.is_empty() && cur_size + s > max {
            out.push(std::mem::take(&mut cur));
            cur_size = 0;
        }
        cur.push(it);
        cur_size += s;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn positions(f: &Function) -> Result<Vec<usize>> {
    let order = f.topo_order()?;
    let mut pos = vec![usize::MAX; order.iter().map(|n| n.index() + 1).max().unwrap_or(0)];
    for (i, n) in order.iter().enumerate() {
        pos[n.index()] = i;
    }
    Ok(pos)
}

/// Pack parameter updates, then norm reductions, in `f` (see the module docs).
pub fn pack_step(f: &mut Function, max_elements: usize) -> Result<PackStats> {
    let mut stats = PackStats::default();
    let order_of = pack_updates(f, max_elements, &mut stats)?;
    f.remove_dead();
    pack_norms(f, max_elements, &order_of, &mut stats)?;
    f.remove_dead();
    Ok(stats)
}

/// Returns, for every vector input of a packed update, `(pack, member index)`.
fn pack_updates(
    f: &mut Function,
    max_elements: usize,
    stats: &mut PackStats,
) -> Result<HashMap<NodeId, (usize, usize)>> {
    let updates: Vec<(NodeId, NodeId)> = f
        .outputs()
        .iter()
        .filter_map(|o| o.updates.map(|a| (o.node, a)))
        .collect();
    let updated: HashMap<NodeId, NodeId> = updates.iter().copied().collect();
    // Group update results whose clusters share members (a parameter's p, m, v): a
    // union-find over the results.
    let mut parent: Vec<usize> = (0..updates.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut claimed: HashMap<NodeId, usize> = HashMap::new();
    let mut clusterable = vec![false; updates.len()];
    for (i, &(o, _)) in updates.iter().enumerate() {
        let Some(c) = flat_cluster(f, &[o], &|_, _| String::new()) else {
            continue;
        };
        clusterable[i] = true;
        // Constants and scalar broadcasts may be shared between parameters' updates
        // (common subexpressions); they are rebuilt per pack, so they link nothing.
        for b in c.body.into_iter().filter(|&b| !is_splat(f, b)) {
            match claimed.get(&b) {
                Some(&j) => {
                    let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                    parent[ri] = rj;
                }
                None => {
                    claimed.insert(b, i);
                }
            }
        }
    }
    let mut grouped: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
    for (i, &(o, _)) in updates.iter().enumerate() {
        if clusterable[i] {
            let r = find(&mut parent, i);
            grouped.entry(r).or_default().push(o);
        }
    }
    let groups: Vec<Vec<NodeId>> = grouped.into_values().collect();
    // Build each group's cluster with its roots in output order, keyed by which input
    // each root updates.
    let mut by_key: BTreeMap<String, Vec<Cluster>> = BTreeMap::new();
    let mut key_order: Vec<String> = Vec::new();
    let out_pos: HashMap<NodeId, usize> = f
        .outputs()
        .iter()
        .enumerate()
        .map(|(i, o)| (o.node, i))
        .collect();
    let mut groups = groups;
    for g in &mut groups {
        g.sort_by_key(|o| out_pos[o]);
    }
    groups.sort_by_key(|g| out_pos[&g[0]]);
    for roots in groups {
        let n = numel(f.ty(roots[0]));
        if roots.iter().any(|&r| numel(f.ty(r)) != n) {
            continue;
        }
        let root_key = |c: &Cluster, r: NodeId| {
            let a = updated[&r];
            match c.vectors.iter().position(|&v| v == a) {
                Some(j) => format!("->v{j}"),
                None => "->none".to_string(),
            }
        };
        let Some(c) = flat_cluster(f, &roots, &root_key) else {
            continue;
        };
        if !self_contained(f, &c, &roots, &[]) {
            continue;
        }
        if !by_key.contains_key(&c.key) {
            key_order.push(c.key.clone());
        }
        by_key.entry(c.key.clone()).or_default().push(c);
    }
    let mut order_of: HashMap<NodeId, (usize, usize)> = HashMap::new();
    for key in key_order {
        let members = &by_key[&key];
        if members.len() < 2 {
            continue;
        }
        let refs: Vec<&Cluster> = members.iter().collect();
        for chunk in chunks(&refs, |c| c.n, max_elements) {
            if chunk.len() < 2 {
                continue;
            }
            let pack = stats.update_packs;
            let tag = format!("pack.update{pack}");
            let new_body = rebuild_packed(f, &chunk, &tag)?;
            let roots_idx: Vec<usize> = chunk[0]
                .body
                .iter()
                .enumerate()
                .filter(|(_, b)| updated.contains_key(b))
                .map(|(i, _)| i)
                .collect();
            let mut off = 0;
            for (mi, c) in chunk.iter().enumerate() {
                for &v in &c.vectors {
                    order_of.insert(v, (pack, mi));
                }
                for &ri in &roots_idx {
                    let old = c.body[ri];
                    let sliced = f.add(
                        &format!("{tag}.out"),
                        Op::Slice {
                            axis: 0,
                            start: off,
                            end: off + c.n,
                        },
                        &[new_body[ri]],
                        None,
                    )?;
                    let shaped = if f.ty(old).rank() == 1 {
                        sliced
                    } else {
                        let ty = f.ty(old).clone();
                        f.add(&format!("{tag}.out"), Op::Reshape, &[sliced], Some(ty))?
                    };
                    take_place(f, old, shaped)?;
                }
                off += c.n;
            }
            stats.update_packs += 1;
            stats.updates_packed += chunk.len();
        }
    }
    Ok(order_of)
}

/// Leaves of the scalar add tree rooted at `root`: operands reached through adds that
/// feed only their parent.
fn add_tree_leaves(f: &Function, root: NodeId, results: &HashSet<NodeId>) -> Vec<NodeId> {
    let mut leaves = Vec::new();
    let mut stack = vec![root];
    while let Some(x) = stack.pop() {
        let interior = x == root
            || (is_scalar_add(f, x)
                && f.users(x).len() == 1
                && f.use_count(x) == 1
                && !results.contains(&x));
        if interior {
            let mut ops = f.operands(x);
            ops.reverse();
            stack.extend(ops);
        } else {
            leaves.push(x);
        }
    }
    leaves
}

fn is_scalar_add(f: &Function, x: NodeId) -> bool {
    matches!(
        f.node(x).op,
        Op::Binary {
            op: llc_ir::BinaryOp::Add
        }
    ) && f.ty(x).rank() == 0
}

fn pack_norms(
    f: &mut Function,
    max_elements: usize,
    order_of: &HashMap<NodeId, (usize, usize)>,
    stats: &mut PackStats,
) -> Result<()> {
    let pos = positions(f)?;
    let results: HashSet<NodeId> = f.outputs().iter().map(|o| o.node).collect();
    // Roots: scalar adds not feeding another interior add.
    let roots: Vec<NodeId> = {
        let mut v: Vec<NodeId> = f
            .node_ids()
            .filter(|&x| is_scalar_add(f, x))
            .filter(|&x| {
                let users = f.users(x);
                !(users.len() == 1
                    && f.use_count(x) == 1
                    && is_scalar_add(f, users[0])
                    && !results.contains(&x))
            })
            .collect();
        v.sort_by_key(|x| pos[x.index()]);
        v
    };
    for root in roots {
        let leaves = add_tree_leaves(f, root, &results);
        // Sum reductions of flat clusters, by structure.
        let mut by_key: BTreeMap<String, Vec<(NodeId, Cluster)>> = BTreeMap::new();
        let mut key_order = Vec::new();
        let mut rest = Vec::new();
        for &leaf in &leaves {
            let cluster = match &f.node(leaf).op {
                Op::Reduce {
                    kind: ReduceKind::Sum,
                    axes,
                    keep_dims: false,
                } if axes.len() == f.ty(f.operands(leaf)[0]).rank()
                    && f.use_count(leaf) == 1
                    && !results.contains(&leaf) =>
                {
                    let z = f.operands(leaf)[0];
                    flat_cluster(f, &[z], &|_, _| String::new())
                        .filter(|c| self_contained(f, c, &[z], &[leaf]) && f.use_count(z) == 1)
                }
                _ => None,
            };
            match cluster {
                Some(c) => {
                    let key = format!("{}:{}", c.key, f.ty(leaf).dtype);
                    if !by_key.contains_key(&key) {
                        key_order.push(key.clone());
                    }
                    by_key.entry(key).or_default().push((leaf, c));
                }
                None => rest.push(leaf),
            }
        }
        if by_key.values().all(|m| m.len() < 2) {
            continue;
        }
        let mut terms: Vec<NodeId> = Vec::new();
        for key in key_order {
            let mut members = by_key.remove(&key).expect("listed key");
            if members.len() < 2 {
                rest.extend(members.into_iter().map(|(l, _)| l));
                continue;
            }
            members.sort_by_key(|(l, c)| {
                let first = c.vectors.first().copied();
                let packed = first.and_then(|v| order_of.get(&v).copied());
                (packed.unwrap_or((usize::MAX, 0)), pos[l.index()])
            });
            let refs: Vec<&Cluster> = members.iter().map(|(_, c)| c).collect();
            for chunk in chunks(&refs, |c| c.n, max_elements) {
                if chunk.len() < 2 {
                    let leaf = members
                        .iter()
                        .find(|(_, c)| std::ptr::eq(c, chunk[0]))
                        .map(|(l, _)| *l)
                        .expect("chunk member is a leaf");
                    terms.push(leaf);
                    continue;
                }
                let tag = format!("pack.norm{}", stats.norm_packs);
                let body = rebuild_packed(f, &chunk, &tag)?;
                let z = body[chunk[0].body.len() - 1];
                let sum = f.add(
                    &format!("{tag}.sum"),
                    Op::Reduce {
                        kind: ReduceKind::Sum,
                        axes: vec![0],
                        keep_dims: false,
                    },
                    &[z],
                    None,
                )?;
                terms.push(sum);
                stats.norm_packs += 1;
                stats.norm_leaves_packed += chunk.len();
            }
        }
        terms.extend(rest);
        let mut total = terms[0];
        for &t in &terms[1..] {
            total = f.add(
                "pack.norm.total",
                Op::Binary {
                    op: llc_ir::BinaryOp::Add,
                },
                &[total, t],
                None,
            )?;
        }
        take_place(f, root, total)?;
    }
    Ok(())
}
