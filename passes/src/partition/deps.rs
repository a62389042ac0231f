//! Ordering constraints between steps:
//!
//! - read after write: a step runs after every step that wrote a value it reads (through
//!   views, and for a view spanning a block, after the writers of every root it covers);
//! - write after read: a step that writes into an argument's bytes (an update computed
//!   in place, or a final copy) runs after every other step that reads the old bytes.

use super::layout::Layout;
use super::program::{Program, Step, ValueId, ValueKind};

/// For each step, the steps that must run before it (sorted, no repeats).
pub fn step_predecessors(p: &Program, layout: &Layout) -> Vec<Vec<usize>> {
    let n = p.steps.len();
    // Writer of each value that is a step output (the copy's destination is not a new
    // value: it overwrites an argument).
    let mut writer: Vec<Option<usize>> = vec![None; p.values.len()];
    for (i, s) in p.steps.iter().enumerate() {
        if let Step::Copy { .. } = s {
            continue;
        }
        for w in s.writes() {
            writer[w] = Some(i);
        }
    }
    // Writer of each root (computed roots have exactly one).
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let view_chain = |mut v: ValueId| {
        let mut chain = vec![v];
        while let ValueKind::View { base, .. } = p.values[v].kind {
            v = base;
            chain.push(v);
        }
        chain
    };
    for (i, s) in p.steps.iter().enumerate() {
        for r in s.reads() {
            for v in view_chain(r) {
                if let Some(w) = writer[v]
                    && w != i
                {
                    preds[i].push(w);
                }
            }
            for c in layout.covered_roots(p, r) {
                if let Some(w) = writer[c]
                    && w != i
                {
                    preds[i].push(w);
                }
            }
        }
    }
    // Write after read, for writes into argument bytes. Index the reads by place so a
    // writer only looks at reads of its own place.
    let mut reads_by_place: std::collections::HashMap<usize, Vec<(usize, ValueId, usize, usize)>> =
        std::collections::HashMap::new();
    for (r, rs) in p.steps.iter().enumerate() {
        for v in rs.reads() {
            let (place, start, end) = layout.loc(p, v);
            reads_by_place
                .entry(place)
                .or_default()
                .push((r, v, start, end));
        }
    }
    for (w, s) in p.steps.iter().enumerate() {
        let own: Vec<ValueId> = s.writes();
        for &out in &own {
            let (root, _) = p.root(out);
            if !matches!(p.values[root].kind, ValueKind::Arg(_)) {
                continue;
            }
            let (place, ws, we) = layout.loc(p, out);
            for &(r, v, rs, re) in reads_by_place.get(&place).map_or(&[][..], |x| x) {
                if r == w || rs >= we || ws >= re {
                    continue;
                }
                // Reads of this step's own results (through views) come after it.
                if !view_chain(v).iter().any(|x| own.contains(x)) {
                    preds[w].push(r);
                }
            }
        }
    }
    for v in &mut preds {
        v.sort_unstable();
        v.dedup();
    }
    preds
}

/// A topological order of the steps: among ready steps, the one with the smallest
/// `priority` first. Fails (returns `None`) on a cycle.
pub fn topological_order(preds: &[Vec<usize>], priority: &[usize]) -> Option<Vec<usize>> {
    let n = preds.len();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for (s, ps) in preds.iter().enumerate() {
        indeg[s] = ps.len();
        for &p in ps {
            succs[p].push(s);
        }
    }
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(usize, usize)>> = (0..n)
        .filter(|&s| indeg[s] == 0)
        .map(|s| std::cmp::Reverse((priority[s], s)))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse((_, s))) = heap.pop() {
        order.push(s);
        for &t in &succs[s] {
            indeg[t] -= 1;
            if indeg[t] == 0 {
                heap.push(std::cmp::Reverse((priority[t], t)));
            }
        }
    }
    (order.len() == n).then_some(order)
}
