//! Updates in place: a result `y` of an elementwise kernel that updates arguments
//! (directly or through views, covering `y` exactly) is written straight into those
//! arguments' bytes when the kernel reads, element for element, an input `x` that holds
//! exactly those arguments at the same offsets (AdamW reads `p`, `m`, `v` and writes
//! their next values; a decode step's cache write reads the cache and writes its next
//! value, which attention then reads). Later steps may read `y` (they depend on the
//! kernel, so they see the new bytes); no step may read the old `x` after the kernel, and
//! `y` may not also be a plain result. Every other update is computed into its own buffer
//! and copied back by a final [`Step::Copy`].

use super::layout::Layout;
use super::program::{Program, Step, ValueId, ValueKind};
use llc_ir::plan::KernelClass;
use llc_ir::{NodeId, Op};

/// Rewrite eligible update results into views of their arguments, then append a copy
/// for every update that does not land in its argument. `priority` gets an entry per
/// appended step.
pub(crate) fn compute_updates_in_place(p: &mut Program, priority: &mut Vec<usize>) {
    let n_values = p.values.len();
    let mut views_of: Vec<Vec<ValueId>> = vec![Vec::new(); n_values];
    for (v, val) in p.values.iter().enumerate() {
        if let ValueKind::View { base, .. } = val.kind {
            views_of[base].push(v);
        }
    }
    let mut updates_of: Vec<Vec<ValueId>> = vec![Vec::new(); n_values];
    let mut plain_output = vec![false; n_values];
    for o in &p.outputs {
        match o.updates {
            Some(a) => updates_of[o.value].push(a),
            None => plain_output[o.value] = true,
        }
    }
    let layout = Layout::new(p);
    // Read-after-write successors of each step, for "is this reader after the kernel".
    let mut writer: Vec<Option<usize>> = vec![None; n_values];
    for (i, s) in p.steps.iter().enumerate() {
        for w in s.writes() {
            writer[w] = Some(i);
        }
    }
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); p.steps.len()];
    for (i, s) in p.steps.iter().enumerate() {
        for r in s.reads() {
            let mut v = r;
            loop {
                if let Some(w) = writer[v]
                    && w != i
                {
                    succs[w].push(i);
                }
                match p.values[v].kind {
                    ValueKind::View { base, .. } => v = base,
                    _ => break,
                }
            }
            for c in layout.covered_roots(p, r) {
                if let Some(w) = writer[c]
                    && w != i
                {
                    succs[w].push(i);
                }
            }
        }
    }
    let mut aliases: Vec<(ValueId, ValueId)> = Vec::new();
    for (si, s) in p.steps.iter().enumerate() {
        let Step::Kernel {
            kernel,
            inputs,
            outputs,
            ..
        } = s
        else {
            continue;
        };
        let k = &p.kernels[*kernel];
        if k.class != KernelClass::Elementwise {
            continue;
        }
        let closure = |y: ValueId| {
            let mut all = vec![y];
            let mut i = 0;
            while i < all.len() {
                all.extend(views_of[all[i]].iter().copied());
                i += 1;
            }
            all
        };
        let mut after: Option<Vec<bool>> = None;
        let args = k.func.args();
        for &y in outputs {
            if !matches!(p.values[y].kind, ValueKind::Computed) || !layout_is_single(&layout, p, y)
            {
                continue;
            }
            // y's value may be read by later steps (they read it where it lands: the
            // arguments' bytes, after this kernel wrote them, since they depend on it)
            // and used as updates of arguments, but not be a plain result too (a result
            // must not share bytes with the state it would be read beside).
            let uses = closure(y);
            if uses.iter().any(|&w| plain_output[w]) {
                continue;
            }
            // Leaves: (result value, updated argument, byte offset inside y).
            let mut leaves = Vec::new();
            for &w in &uses {
                for &a in &updates_of[w] {
                    leaves.push((w, a, p.root(w).1));
                }
            }
            if leaves.is_empty() || !tiles(p, y, &leaves) {
                continue;
            }
            let found = inputs.iter().enumerate().find(|&(j, &x)| {
                p.values[x].ty.dtype == p.values[y].ty.dtype
                    && p.values[x].ty.size_bytes() == p.values[y].ty.size_bytes()
                    && read_elementwise(&k.func, args[j])
                    && leaves.iter().all(|&(w, a, off)| {
                        let (xp, xs, _) = layout.loc(p, x);
                        let (ap, as_, ae) = layout.loc(p, a);
                        xp == ap && as_ == xs + off && ae - as_ == p.values[w].ty.size_bytes()
                    })
            });
            let Some((_, &x)) = found else { continue };
            // Every other reader of the old bytes must be able to run before the kernel:
            // none may depend on it. (Readers of y depend on it but read y, not x; a step
            // reading both x and y is a reader of the old bytes after the kernel and
            // blocks the alias.)
            let after = after.get_or_insert_with(|| reachable(&succs, si));
            let blocked = p.steps.iter().enumerate().any(|(ri, rs)| {
                ri != si && after[ri] && rs.reads().into_iter().any(|v| layout.overlaps(p, v, x))
            });
            if !blocked {
                aliases.push((y, x));
            }
        }
    }
    for (y, x) in aliases {
        p.values[y].kind = ValueKind::View {
            base: x,
            byte_offset: 0,
        };
    }
    // Copy back what is not in place.
    let layout = Layout::new(p);
    let copies: Vec<Step> = p
        .outputs
        .iter()
        .filter_map(|o| {
            let a = o.updates?;
            (layout.loc(p, o.value) != layout.loc(p, a)).then_some(Step::Copy {
                src: o.value,
                dst: a,
            })
        })
        .collect();
    for c in copies {
        p.steps.push(c);
        priority.push(usize::MAX);
    }
}

/// Steps reachable from `start` along `succs` (`start` itself excluded).
fn reachable(succs: &[Vec<usize>], start: usize) -> Vec<bool> {
    let mut seen = vec![false; succs.len()];
    let mut stack = succs[start].clone();
    while let Some(s) = stack.pop() {
        if !std::mem::replace(&mut seen[s], true) {
            stack.extend(succs[s].iter().copied());
        }
    }
    seen
}

/// Whether `y` is a root alone in its place (not part of a block).
fn layout_is_single(layout: &Layout, p: &Program, y: ValueId) -> bool {
    let (place, _, _) = layout.loc(p, y);
    layout.places[place].members.len() == 1
}

/// Whether the leaves cover `y`'s bytes exactly once.
fn tiles(p: &Program, y: ValueId, leaves: &[(ValueId, ValueId, usize)]) -> bool {
    let mut spans: Vec<(usize, usize)> = leaves
        .iter()
        .map(|&(w, _, off)| (off, off + p.values[w].ty.size_bytes()))
        .collect();
    spans.sort_unstable();
    let mut next = 0;
    for (s, e) in spans {
        if s != next {
            return false;
        }
        next = e;
    }
    next == p.values[y].ty.size_bytes()
}

/// Whether the kernel reads argument `arg` only element for element (no broadcast, no
/// rope reading neighbours).
fn read_elementwise(k: &llc_ir::Function, arg: NodeId) -> bool {
    k.users(arg)
        .into_iter()
        .all(|u| k.node(u).op.is_elementwise())
        && !matches!(k.node(arg).op, Op::Rope { .. })
}
