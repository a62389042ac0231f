//! Extraction: pick one e-node per needed e-class and rebuild a [`Function`].
//!
//! egg's own `Extractor` minimizes the *tree* cost, which counts a shared subterm once per
//! use. On a training step that is useless: the residual stream is used by every later
//! layer, so tree costs grow exponentially with depth, and a horizontally fused matmul
//! shared by Q, K and V looks three times as expensive as it is. Instead:
//!
//! 1. **Amortized cost.** A class's cost is the cheapest of its nodes, where a node costs
//!    its own [`cost`](super::cost) plus, for each operand class, that class's cost divided
//!    by the number of e-nodes that use it. Shared values are paid for once in total,
//!    approximately, which is what a DAG costs. Computed to a fixpoint with a worklist.
//! 2. **Acyclic by construction.** Rewrites such as `reshape(reshape(x)) = x` put a class
//!    below itself, so cheapest choices can form a cycle. Every class also has a *safe*
//!    node whose operands all have a strictly smaller height (the height of a class is the
//!    least height of a node; a node's is one more than its tallest operand's). A depth-first
//!    walk from the outputs finds any cycle among the choices and pins one class on it
//!    (the one that loses least) to its safe node; a cycle of pinned classes cannot exist,
//!    so this ends, and it is needed rarely.
//! 3. **Rebuild.** The chosen nodes are emitted in a topological order that follows the
//!    original function's order; arguments keep their order and names, outputs their order
//!    and `updates`, and a value keeps its name when its class held an original node
//!    (outputs' names win). New values are named `<scope of their first user>.<op>`.
//!
//! Everything iterates in a fixed order, so the same e-graph gives the same function.

use super::analysis::EG;
use super::convert::Loaded;
use super::cost::enode_cost;
use super::internal;
use super::language::TensorLang;
use super::ops::decode;
use crate::error::PassError;
use egg::{Id, Language};
use llc_ir::{Function, NodeId};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

/// Every node costs at least this many seconds, so that among otherwise free choices
/// (views) fewer nodes win and the cost is strictly positive.
const NODE_EPSILON_S: f64 = 1e-12;

/// Chosen node per class (canonical ids), for the classes the outputs need.
pub struct Choice {
    /// The e-node chosen for each needed e-class.
    pub node: HashMap<Id, TensorLang>,
    /// Classes pinned to their safe node to break a cycle.
    pub pinned: usize,
    /// Single-class switches the local search made.
    pub improved: usize,
}

struct Tables {
    /// Canonical class ids in increasing order.
    classes: Vec<Id>,
    /// Own cost in seconds of each node of each class (`None`: not extractable).
    own: HashMap<Id, Vec<Option<f64>>>,
    /// Number of e-nodes using each class.
    users: HashMap<Id, f64>,
}

fn is_attr(eg: &EG, id: Id) -> bool {
    eg[id].data.ty.is_none()
}

fn tables(eg: &EG) -> Tables {
    let mut classes: Vec<Id> = eg.classes().map(|c| c.id).collect();
    classes.sort_unstable();
    let mut own = HashMap::with_capacity(classes.len());
    let mut users: HashMap<Id, f64> = HashMap::with_capacity(classes.len());
    for &c in &classes {
        let class = &eg[c];
        let Some(ty) = class.data.ty.as_ref() else {
            continue;
        };
        let costs = class
            .nodes
            .iter()
            .map(|n| enode_cost(eg, n, ty).map(|k| k.seconds() + NODE_EPSILON_S))
            .collect();
        own.insert(c, costs);
        for n in &class.nodes {
            let mut seen: Vec<Id> = n.children().iter().map(|&k| eg.find(k)).collect();
            seen.sort_unstable();
            seen.dedup();
            for k in seen {
                *users.entry(k).or_insert(0.0) += 1.0;
            }
        }
    }
    Tables {
        classes,
        own,
        users,
    }
}

/// Amortized cost of each class and the node achieving it.
fn amortized(eg: &EG, t: &Tables) -> (HashMap<Id, f64>, HashMap<Id, usize>) {
    let mut best: HashMap<Id, f64> = HashMap::with_capacity(t.classes.len());
    let mut pick: HashMap<Id, usize> = HashMap::with_capacity(t.classes.len());
    let mut queue: VecDeque<Id> = t.classes.iter().copied().collect();
    let mut queued: HashSet<Id> = t.classes.iter().copied().collect();
    let node_cost = |best: &HashMap<Id, f64>, c: Id, i: usize| -> Option<f64> {
        let own = t.own.get(&c)?[i]?;
        let n = &eg[c].nodes[i];
        let mut total = own;
        for &k in n.children() {
            let k = eg.find(k);
            if is_attr(eg, k) {
                continue;
            }
            total += best.get(&k)? / t.users.get(&k).copied().unwrap_or(1.0);
        }
        Some(total)
    };
    let mut budget = 64 * t.classes.len() + 1024;
    while let Some(c) = queue.pop_front() {
        queued.remove(&c);
        if budget == 0 {
            break;
        }
        budget -= 1;
        if is_attr(eg, c) {
            continue;
        }
        let mut cand: Option<(f64, usize)> = None;
        for i in 0..eg[c].nodes.len() {
            if let Some(v) = node_cost(&best, c, i)
                && cand.is_none_or(|(b, _)| v < b)
            {
                cand = Some((v, i));
            }
        }
        let Some((v, i)) = cand else { continue };
        let improved = match best.get(&c) {
            None => true,
            Some(&old) => v < old - NODE_EPSILON_S / 2.0,
        };
        if improved {
            best.insert(c, v);
            pick.insert(c, i);
            for p in eg[c].parents() {
                let p = eg.find(p);
                if queued.insert(p) {
                    queue.push_back(p);
                }
            }
        }
    }
    (best, pick)
}

/// Height of each class and a node achieving it (operands strictly lower).
fn heights(eg: &EG, t: &Tables) -> (HashMap<Id, usize>, HashMap<Id, usize>) {
    let mut height: HashMap<Id, usize> = HashMap::with_capacity(t.classes.len());
    let mut safe: HashMap<Id, usize> = HashMap::with_capacity(t.classes.len());
    let mut queue: VecDeque<Id> = t.classes.iter().copied().collect();
    let mut queued: HashSet<Id> = t.classes.iter().copied().collect();
    while let Some(c) = queue.pop_front() {
        queued.remove(&c);
        if is_attr(eg, c) {
            continue;
        }
        let Some(own) = t.own.get(&c) else { continue };
        let mut cand: Option<(usize, usize)> = None;
        for (i, n) in eg[c].nodes.iter().enumerate() {
            if own[i].is_none() {
                continue;
            }
            let mut h = 0usize;
            let mut ok = true;
            for &k in n.children() {
                let k = eg.find(k);
                if is_attr(eg, k) {
                    continue;
                }
                match height.get(&k) {
                    Some(&kh) => h = h.max(kh + 1),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok && cand.is_none_or(|(b, _)| h < b) {
                cand = Some((h, i));
            }
        }
        let Some((h, i)) = cand else { continue };
        if height.get(&c).is_none_or(|&old| h < old) {
            height.insert(c, h);
            safe.insert(c, i);
            for p in eg[c].parents() {
                let p = eg.find(p);
                if queued.insert(p) {
                    queue.push_back(p);
                }
            }
        }
    }
    (height, safe)
}

/// Choose a node for every class the `roots` need, acyclically.
pub fn choose(eg: &EG, roots: &[Id], func: &str) -> Result<Choice, PassError> {
    let t = tables(eg);
    let (best, pick) = amortized(eg, &t);
    let (_height, safe) = heights(eg, &t);
    let mut choice: HashMap<Id, usize> = HashMap::new();
    for &c in &t.classes {
        // An argument leaf is always the choice for its class: it needs nothing.
        if let Some(i) = eg[c]
            .nodes
            .iter()
            .position(|n| matches!(n, TensorLang::Arg(_)))
        {
            choice.insert(c, i);
        } else if let Some(&i) = pick.get(&c) {
            choice.insert(c, i);
        }
    }
    let mut pinned: HashSet<Id> = HashSet::new();
    loop {
        match find_cycle(eg, roots, &choice, func)? {
            None => break,
            Some(cycle) => {
                // Pin the class on the cycle that loses least by taking its safe node.
                let mut victim: Option<(f64, Id)> = None;
                for &c in &cycle {
                    if pinned.contains(&c) {
                        continue;
                    }
                    let Some(&s) = safe.get(&c) else { continue };
                    let loss =
                        safe_cost(eg, &t, &best, c, s) - best.get(&c).copied().unwrap_or(0.0);
                    if victim.is_none_or(|(l, _)| loss < l) {
                        victim = Some((loss, c));
                    }
                }
                let (_, c) = victim
                    .ok_or_else(|| internal(func, "extraction found a cycle it cannot break"))?;
                choice.insert(c, safe[&c]);
                pinned.insert(c);
            }
        }
    }
    let improved = improve(eg, &t, roots, &mut choice);
    let mut node = HashMap::new();
    let mut stack: Vec<Id> = roots.iter().map(|&r| eg.find(r)).collect();
    while let Some(c) = stack.pop() {
        if node.contains_key(&c) || is_attr(eg, c) {
            continue;
        }
        let n = eg[c].nodes[choice[&c]].clone();
        stack.extend(n.children().iter().map(|&k| eg.find(k)));
        node.insert(c, n);
    }
    Ok(Choice {
        node,
        pinned: pinned.len(),
        improved,
    })
}

/// The chosen DAG with reference counts, for exact incremental cost changes.
struct Dag<'a> {
    eg: &'a EG,
    t: &'a Tables,
    choice: &'a mut HashMap<Id, usize>,
    refs: HashMap<Id, usize>,
    total: f64,
}

impl Dag<'_> {
    fn own(&self, c: Id, i: usize) -> f64 {
        self.t
            .own
            .get(&c)
            .and_then(|v| v[i])
            .unwrap_or(f64::INFINITY)
    }

    fn children(&self, c: Id, i: usize) -> Vec<Id> {
        let mut v = tensor_children(self.eg, &self.eg[c].nodes[i]);
        v.sort_unstable();
        v.dedup();
        v
    }

    fn inc(&mut self, c: Id) {
        let mut stack = vec![c];
        while let Some(c) = stack.pop() {
            let r = self.refs.entry(c).or_insert(0);
            *r += 1;
            if *r == 1 {
                let i = self.choice[&c];
                self.total += self.own(c, i);
                stack.extend(self.children(c, i));
            }
        }
    }

    fn dec(&mut self, c: Id) {
        let mut stack = vec![c];
        while let Some(c) = stack.pop() {
            let r = self
                .refs
                .get_mut(&c)
                .expect("a referenced class has a count");
            *r -= 1;
            if *r == 0 {
                self.refs.remove(&c);
                let i = self.choice[&c];
                self.total -= self.own(c, i);
                stack.extend(self.children(c, i));
            }
        }
    }

    /// Switch live class `c` to node `j`.
    fn switch(&mut self, c: Id, j: usize) {
        let i = self.choice[&c];
        for k in self.children(c, j) {
            self.inc(k);
        }
        for k in self.children(c, i) {
            self.dec(k);
        }
        self.choice.insert(c, j);
        self.total += self.own(c, j) - self.own(c, i);
    }

    /// Positions of the live classes in a topological order (operands first).
    fn ranks(&self, roots: &[Id]) -> HashMap<Id, usize> {
        let mut rank = HashMap::with_capacity(self.refs.len());
        let mut state: HashMap<Id, bool> = HashMap::with_capacity(self.refs.len());
        for &r in roots {
            let mut stack: Vec<(Id, usize)> = vec![(r, 0)];
            if state.contains_key(&r) {
                continue;
            }
            state.insert(r, false);
            while let Some(&mut (c, ref mut next)) = stack.last_mut() {
                let ch = self.children(c, self.choice[&c]);
                if *next < ch.len() {
                    let k = ch[*next];
                    *next += 1;
                    if let std::collections::hash_map::Entry::Vacant(e) = state.entry(k) {
                        e.insert(false);
                        stack.push((k, 0));
                    }
                } else {
                    state.insert(c, true);
                    let n = rank.len();
                    rank.insert(c, n);
                    stack.pop();
                }
            }
        }
        rank
    }

    /// Whether node `j` for class `c` keeps the chosen graph acyclic: nothing its operands
    /// reach (through chosen nodes) is `c` or closes another cycle. `None` if it does not;
    /// otherwise whether the ranks must be recomputed after the switch (it reaches a ranked
    /// class above `c`).
    ///
    /// Ranks stay a valid pruning order between recomputations: a ranked class below `c`
    /// cannot reach `c`, and every switch either only adds paths to classes below the
    /// switched one (or to unranked classes that only lead below it) or triggers a
    /// recomputation.
    fn acyclic_with(&self, c: Id, j: usize, rank: &HashMap<Id, usize>) -> Option<bool> {
        let rc = rank[&c];
        let mut rerank = false;
        // false = on the stack, true = finished.
        let mut state: HashMap<Id, bool> = HashMap::new();
        let below = |y: Id, rerank: &mut bool| match rank.get(&y) {
            Some(&ry) if ry < rc => true,
            Some(_) => {
                *rerank = true;
                false
            }
            None => false,
        };
        for k in self.children(c, j) {
            if k == c {
                return None;
            }
            if below(k, &mut rerank) || state.contains_key(&k) {
                continue;
            }
            let mut stack: Vec<(Id, usize)> = vec![(k, 0)];
            state.insert(k, false);
            while let Some(&mut (x, ref mut next)) = stack.last_mut() {
                let xi = *self.choice.get(&x)?;
                let ch = self.children(x, xi);
                if *next < ch.len() {
                    let y = ch[*next];
                    *next += 1;
                    if y == c {
                        return None;
                    }
                    if below(y, &mut rerank) {
                        continue;
                    }
                    match state.get(&y) {
                        Some(false) => return None,
                        Some(true) => {}
                        None => {
                            state.insert(y, false);
                            stack.push((y, 0));
                        }
                    }
                } else {
                    state.insert(x, true);
                    stack.pop();
                }
            }
        }
        Some(rerank)
    }
}

/// Local search on the exact DAG cost: switch single live classes to other nodes while
/// that lowers the total. Fixes what the amortized estimate gets wrong (it credits a
/// subterm shared by two *alternatives* as if both were extracted). Returns the number of
/// switches made.
fn improve(eg: &EG, t: &Tables, roots: &[Id], choice: &mut HashMap<Id, usize>) -> usize {
    let roots: Vec<Id> = roots.iter().map(|&r| eg.find(r)).collect();
    let mut dag = Dag {
        eg,
        t,
        choice,
        refs: HashMap::new(),
        total: 0.0,
    };
    for &r in &roots {
        dag.inc(r);
    }
    let mut switches = 0;
    for _pass in 0..4 {
        let mut changed = false;
        let mut rank = dag.ranks(&roots);
        let mut order: Vec<(usize, Id)> = rank.iter().map(|(&c, &r)| (r, c)).collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        for (_, c) in order {
            if !dag.refs.contains_key(&c) {
                continue;
            }
            let current = dag.choice[&c];
            if matches!(eg[c].nodes[current], TensorLang::Arg(_)) {
                continue;
            }
            let mut best: Option<(f64, usize, bool)> = None;
            for j in 0..eg[c].nodes.len() {
                if j == current || dag.own(c, j).is_infinite() {
                    continue;
                }
                let ch = dag.children(c, j);
                if ch.iter().any(|k| !dag.choice.contains_key(k)) {
                    continue;
                }
                let Some(rerank) = dag.acyclic_with(c, j, &rank) else {
                    continue;
                };
                let before = dag.total;
                dag.switch(c, j);
                let delta = dag.total - before;
                dag.switch(c, current);
                if delta < -NODE_EPSILON_S / 2.0 && best.is_none_or(|(d, _, _)| delta < d) {
                    best = Some((delta, j, rerank));
                }
            }
            if let Some((_, j, rerank)) = best {
                dag.switch(c, j);
                switches += 1;
                changed = true;
                if rerank {
                    rank = dag.ranks(&roots);
                }
            }
        }
        if !changed {
            break;
        }
    }
    switches
}

fn safe_cost(eg: &EG, t: &Tables, best: &HashMap<Id, f64>, c: Id, i: usize) -> f64 {
    let own = t.own.get(&c).and_then(|v| v[i]).unwrap_or(f64::INFINITY);
    eg[c].nodes[i].children().iter().fold(own, |acc, &k| {
        let k = eg.find(k);
        if is_attr(eg, k) {
            acc
        } else {
            acc + best.get(&k).copied().unwrap_or(f64::INFINITY)
                / t.users.get(&k).copied().unwrap_or(1.0)
        }
    })
}

/// A cycle among the chosen nodes reachable from `roots`, as the classes on it.
fn find_cycle(
    eg: &EG,
    roots: &[Id],
    choice: &HashMap<Id, usize>,
    func: &str,
) -> Result<Option<Vec<Id>>, PassError> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state: HashMap<Id, u8> = HashMap::new();
    for &r in roots {
        let r = eg.find(r);
        if state.contains_key(&r) {
            continue;
        }
        let mut stack: Vec<(Id, usize)> = vec![(r, 0)];
        state.insert(r, 1);
        while let Some(&mut (c, ref mut next)) = stack.last_mut() {
            let i = *choice.get(&c).ok_or_else(|| {
                internal(
                    func,
                    format!(
                        "e-class {c} has no extractable node (type {:?})",
                        eg[c].data.ty
                    ),
                )
            })?;
            let children = eg[c].nodes[i].children();
            if *next < children.len() {
                let k = eg.find(children[*next]);
                *next += 1;
                if is_attr(eg, k) {
                    continue;
                }
                match state.get(&k).copied().unwrap_or(0) {
                    0 => {
                        state.insert(k, 1);
                        stack.push((k, 0));
                    }
                    1 => {
                        let from = stack
                            .iter()
                            .position(|&(s, _)| s == k)
                            .expect("a class on the stack is in it");
                        return Ok(Some(stack[from..].iter().map(|&(s, _)| s).collect()));
                    }
                    _ => {}
                }
            } else {
                state.insert(c, 2);
                stack.pop();
            }
        }
    }
    Ok(None)
}

fn scope_of(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(s, _)| s)
}

/// Rebuild a function from the chosen nodes.
pub fn rebuild(loaded: &Loaded, choice: &Choice) -> Result<Function, PassError> {
    let eg = &loaded.egraph;
    let func = loaded.func_name.as_str();
    let chosen = &choice.node;
    // Names and ordering keys from the original nodes: outputs' names first, then the
    // earliest original node of each class.
    let mut name: HashMap<Id, (usize, usize, &str)> = HashMap::new();
    let mut key: HashMap<Id, usize> = HashMap::new();
    for o in &loaded.origins {
        let c = eg.find(o.class);
        let rank = (o.output.map_or(1, |_| 0), o.output.unwrap_or(o.position));
        let e = name.entry(c).or_insert((rank.0, rank.1, &o.name));
        if (rank.0, rank.1) < (e.0, e.1) {
            *e = (rank.0, rank.1, &o.name);
        }
        let k = key.entry(c).or_insert(o.position);
        *k = (*k).min(o.position);
    }
    // Users of each chosen class among the chosen nodes (for topological order).
    let mut classes: Vec<Id> = chosen.keys().copied().collect();
    classes.sort_unstable();
    let mut users: HashMap<Id, Vec<Id>> = HashMap::new();
    let mut indeg: HashMap<Id, usize> = HashMap::new();
    for &c in &classes {
        let mut ops: Vec<Id> = tensor_children(eg, &chosen[&c]);
        ops.sort_unstable();
        ops.dedup();
        indeg.insert(c, ops.len());
        for k in ops {
            users.entry(k).or_default().push(c);
        }
    }
    // Ordering key of new classes: right after their latest operand.
    let mut order: Vec<Id> = Vec::with_capacity(classes.len());
    let mut eff_key: HashMap<Id, (usize, usize)> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<((usize, usize), Id)>> = BinaryHeap::new();
    let mut remaining = indeg.clone();
    for &c in &classes {
        if indeg[&c] == 0 {
            let k = (key.get(&c).copied().unwrap_or(0), usize::from(c));
            eff_key.insert(c, k);
            heap.push(Reverse((k, c)));
        }
    }
    while let Some(Reverse((_, c))) = heap.pop() {
        order.push(c);
        for &u in users.get(&c).map(|v| v.as_slice()).unwrap_or(&[]) {
            let r = remaining.get_mut(&u).expect("users are chosen classes");
            *r -= 1;
            if *r == 0 {
                let derived = tensor_children(eg, &chosen[&u])
                    .iter()
                    .map(|k| eff_key[k].0)
                    .max()
                    .unwrap_or(0);
                let k = (key.get(&u).copied().unwrap_or(derived), usize::from(u));
                eff_key.insert(u, k);
                heap.push(Reverse((k, u)));
            }
        }
    }
    if order.len() != classes.len() {
        return Err(internal(func, "the extracted graph has a cycle"));
    }
    // Names: original ones where the class had an original node, otherwise derived from
    // the first user's scope (users come later in `order`, so walk it backwards).
    let mut used: HashSet<String> = HashSet::new();
    for a in &loaded.args {
        used.insert(a.name.clone());
    }
    let arg_of_class: HashMap<Id, usize> = loaded
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| (eg.find(a.class), i))
        .rev()
        .collect();
    let mut final_name: HashMap<Id, String> = HashMap::new();
    for &c in &order {
        if let Some(&i) = arg_of_class.get(&c) {
            final_name.insert(c, loaded.args[i].name.clone());
        } else if let Some(&(_, _, n)) = name.get(&c)
            && used.insert(n.to_string())
        {
            final_name.insert(c, n.to_string());
        }
    }
    let position: HashMap<Id, usize> = order.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    for &c in order.iter().rev() {
        if final_name.contains_key(&c) {
            continue;
        }
        let first_user = users
            .get(&c)
            .and_then(|us| us.iter().min_by_key(|u| position[u]))
            .and_then(|u| final_name.get(u));
        let scope = first_user.map_or("", |n| scope_of(n));
        let op = decode(eg, &chosen[&c]).map_or("value", |d| d.op.name());
        let base = if scope.is_empty() {
            op.to_string()
        } else {
            format!("{scope}.{op}")
        };
        let mut cand = base.clone();
        let mut n = 1;
        while !used.insert(cand.clone()) {
            cand = format!("{base}.{n}");
            n += 1;
        }
        final_name.insert(c, cand);
    }
    // Emit.
    let mut f = Function::new(loaded.func_name.clone());
    let mut ids: HashMap<Id, NodeId> = HashMap::new();
    let mut arg_ids = Vec::with_capacity(loaded.args.len());
    for a in &loaded.args {
        let id = f.add_arg(&a.name, a.role, a.ty.clone())?;
        arg_ids.push(id);
        ids.entry(eg.find(a.class)).or_insert(id);
    }
    for &c in &order {
        if ids.contains_key(&c) {
            continue;
        }
        let n = &chosen[&c];
        let dec =
            decode(eg, n).ok_or_else(|| internal(func, format!("extracted `{n}` is not an op")))?;
        let operands: Vec<NodeId> = dec.operands.iter().map(|k| ids[&eg.find(*k)]).collect();
        let ty = eg[c]
            .data
            .ty
            .clone()
            .ok_or_else(|| internal(func, format!("extracted `{n}` has no type")))?;
        let id = f.insert(&final_name[&c], dec.op, &operands, ty)?;
        ids.insert(c, id);
    }
    for o in &loaded.outputs {
        let node = ids[&eg.find(o.class)];
        f.add_output(node, o.updates.map(|i| arg_ids[i]));
    }
    Ok(f)
}

fn tensor_children(eg: &EG, n: &TensorLang) -> Vec<Id> {
    n.children()
        .iter()
        .map(|&k| eg.find(k))
        .filter(|&k| !is_attr(eg, k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egraph::convert::load;
    use llc_ir::{parse_function, print_function};

    #[test]
    fn a_class_below_itself_still_extracts_acyclically() {
        let f = parse_function(
            "func @f(input %x: f32[2,3]) {
  %a = reshape %x : f32[3,2]
  %b = reshape %a : f32[2,3]
  %y = exp %b : f32[2,3]
  return %y
}",
        )
        .expect("parses");
        let mut l = load(&f).expect("loads");
        // Prove b == x: x's class now holds reshape(a), whose operand's class holds
        // reshape(x), a cycle through the e-graph.
        let (x, b) = (l.args[0].class, l.origins[2].class);
        l.egraph.union(x, b);
        l.egraph.rebuild();
        let roots: Vec<Id> = l.outputs.iter().map(|o| o.class).collect();
        let c = choose(&l.egraph, &roots, "f").expect("chooses");
        let g = rebuild(&l, &c).expect("rebuilds");
        assert_eq!(
            print_function(&g),
            "func @f(input %x: f32[2,3]) {\n  %y = exp %x : f32[2,3]\n  return %y\n}\n"
        );
    }
}
