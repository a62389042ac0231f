//! Structural identity of kernels: two kernel functions that compute the same thing on
//! the same shapes get the same canonical form (and fingerprint), whatever their value
//! names or the order their nodes were created in, so identical layers share one kernel.

use llc_ir::{ArgRole, Function, NodeId, Op, TensorType};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// A reference to a value in canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ref {
    Arg(u32),
    Node(u32),
}

/// A kernel function with names and node ids erased: arguments by position; the other
/// nodes in depth-first post-order from the outputs (operands in slot order), each with
/// its op, type and operand references; the outputs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Canonical {
    args: Vec<(ArgRole, TensorType)>,
    nodes: Vec<(Op, TensorType, Vec<Ref>)>,
    outputs: Vec<Ref>,
}

/// The canonical form of `f`.
pub(crate) fn canonical(f: &Function) -> Canonical {
    let mut refs: HashMap<NodeId, Ref> = HashMap::new();
    let mut args = Vec::new();
    for (i, &a) in f.args().iter().enumerate() {
        refs.insert(a, Ref::Arg(i as u32));
        args.push((f.arg_role(a).unwrap_or(ArgRole::Input), f.ty(a).clone()));
    }
    let mut nodes = Vec::new();
    let mut outputs = Vec::new();
    for o in f.outputs() {
        // iterative post-order: (node, operands pushed?)
        let mut stack = vec![(o.node, false)];
        while let Some((n, expanded)) = stack.pop() {
            if refs.contains_key(&n) {
                continue;
            }
            let ops = f.operands(n);
            if expanded {
                let r: Vec<Ref> = ops.iter().map(|x| refs[x]).collect();
                let node = f.node(n);
                refs.insert(n, Ref::Node(nodes.len() as u32));
                nodes.push((node.op.clone(), node.ty.clone(), r));
            } else {
                stack.push((n, true));
                for &x in ops.iter().rev() {
                    if !refs.contains_key(&x) {
                        stack.push((x, false));
                    }
                }
            }
        }
        outputs.push(refs[&o.node]);
    }
    Canonical {
        args,
        nodes,
        outputs,
    }
}

/// 64-bit FNV-1a: a fixed, portable hash, so fingerprints are stable across runs and
/// builds (for caching compiled kernels).
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A structural hash of a kernel function ignoring value names (see [`canonical`]):
/// equal for identical layers, different for different ops, attributes or shapes.
pub fn kernel_fingerprint(f: &Function) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    canonical(f).hash(&mut h);
    h.finish()
}
