//! Activity analysis: which values need a cotangent. A value does when it is a float, it
//! depends on a trainable parameter (forward from the `Param` arguments) and the loss
//! depends on it (backward from the loss). Everything else (data inputs, optimizer state,
//! integer and bool values, constants, values the loss never reads) gets no gradient
//! work at all.

use llc_ir::{ArgRole, Function, NodeId, Op};
use petgraph::Direction;

/// `needs[n.index()]` for every node of `f` (indexed up to the graph's node bound).
/// `order` must be a topological order of `f`.
pub(crate) fn needs_grad(f: &Function, order: &[NodeId], loss: NodeId) -> Vec<bool> {
    let g = f.graph();
    let bound = order.iter().map(|n| n.index() + 1).max().unwrap_or(0);
    let mut active = vec![false; bound];
    for &n in order {
        let node = f.node(n);
        active[n.index()] = node.ty.dtype.is_float()
            && match node.op {
                Op::Arg { role } => role == ArgRole::Param,
                _ => g
                    .neighbors_directed(n, Direction::Incoming)
                    .any(|o| active[o.index()]),
            };
    }
    let mut reaches = vec![false; bound];
    let mut stack = vec![loss];
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut reaches[n.index()], true) {
            continue;
        }
        stack.extend(
            g.neighbors_directed(n, Direction::Incoming)
                .filter(|o| active[o.index()]),
        );
    }
    active.iter().zip(&reaches).map(|(&a, &r)| a && r).collect()
}
