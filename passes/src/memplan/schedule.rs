//! Step orders. The builder order is the program's own (the function's topological
//! order). The greedy order is list scheduling: among the steps whose inputs are ready,
//! one that frees more activation bytes than it allocates runs first (the one freeing
//! the most), so values die early; when none does, the builder order decides.

use crate::partition::{Layout, Program};

/// Per-place facts the schedulers and liveness share.
pub(crate) struct PlaceUse {
    /// Places in the activation region (all members computed).
    pub activation: Vec<bool>,
    /// Places holding a function result: live until the end.
    pub pinned: Vec<bool>,
    /// For each step, the places it reads and the places it writes (deduplicated).
    pub reads: Vec<Vec<usize>>,
    pub writes: Vec<Vec<usize>>,
}

impl PlaceUse {
    pub fn new(p: &Program, layout: &Layout) -> PlaceUse {
        let n_places = layout.places.len();
        let activation = layout
            .places
            .iter()
            .map(|pl| {
                pl.members.iter().all(|&(r, _, _)| {
                    matches!(p.values[r].kind, crate::partition::ValueKind::Computed)
                })
            })
            .collect();
        let mut pinned = vec![false; n_places];
        for o in &p.outputs {
            pinned[layout.loc(p, o.value).0] = true;
        }
        let places_of = |vals: Vec<usize>| {
            let mut v: Vec<usize> = vals.into_iter().map(|x| layout.loc(p, x).0).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let reads = p.steps.iter().map(|s| places_of(s.reads())).collect();
        let writes = p.steps.iter().map(|s| places_of(s.writes())).collect();
        PlaceUse {
            activation,
            pinned,
            reads,
            writes,
        }
    }
}

/// Greedy memory-aware list scheduling (see the module docs).
pub(crate) fn greedy_order(
    p: &Program,
    layout: &Layout,
    uses: &PlaceUse,
    preds: &[Vec<usize>],
) -> Vec<usize> {
    let n = p.steps.len();
    let n_places = layout.places.len();
    let bytes: Vec<u64> = layout.places.iter().map(|pl| pl.bytes as u64).collect();
    // Steps still to read each place.
    let mut pending_reads = vec![0usize; n_places];
    for r in &uses.reads {
        for &pl in r {
            pending_reads[pl] += 1;
        }
    }
    let mut allocated = vec![false; n_places];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for (s, ps) in preds.iter().enumerate() {
        indeg[s] = ps.len();
        for &q in ps {
            succs[q].push(s);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&s| indeg[s] == 0).collect();
    let mut order = Vec::with_capacity(n);
    let score = |s: usize, allocated: &[bool], pending_reads: &[usize]| -> i128 {
        let mut gain: i128 = 0;
        for &pl in &uses.writes[s] {
            if uses.activation[pl] && !allocated[pl] {
                gain -= i128::from(bytes[pl]);
            }
        }
        for &pl in &uses.reads[s] {
            if uses.activation[pl] && !uses.pinned[pl] && pending_reads[pl] == 1 {
                gain += i128::from(bytes[pl]);
            }
        }
        gain
    };
    while !ready.is_empty() {
        // A step that frees more than it allocates goes first (the one freeing the
        // most); otherwise the builder order decides.
        let (idx, _) = ready
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let gain = score(s, &allocated, &pending_reads).max(0);
                (i, (gain, std::cmp::Reverse(s)))
            })
            .max_by(|a, b| a.1.cmp(&b.1))
            .expect("ready is not empty");
        let s = ready.swap_remove(idx);
        order.push(s);
        for &pl in &uses.writes[s] {
            allocated[pl] = true;
        }
        for &pl in &uses.reads[s] {
            pending_reads[pl] -= 1;
        }
        for &t in &succs[s] {
            indeg[t] -= 1;
            if indeg[t] == 0 {
                ready.push(t);
            }
        }
    }
    debug_assert_eq!(order.len(), n, "the step graph is acyclic");
    order
}
