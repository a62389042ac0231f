//! A kernel group as an IR function with canonical names (`in0..` for the buffers it
//! reads, `v0..` for its values), so identical layers give byte-identical functions, and
//! the structural fingerprint that dedupes them.

use super::classify::{NodeKind, op_label};
use llc_ir::plan::KernelClass;
use llc_ir::{ArgRole, Function, NodeId, Op, print_function};
use std::collections::HashMap;

/// A group's function and which program values it reads and writes.
pub(crate) struct KernelBody {
    pub func: Function,
    /// Source nodes read, in argument order.
    pub inputs: Vec<NodeId>,
    /// Source nodes written, in result order.
    pub outputs: Vec<NodeId>,
}

/// Build the function of a group. `members` must be in topological order; `in_group`
/// says which nodes are members; `materialized` which members are written out.
pub(crate) fn build_kernel(
    f: &Function,
    members: &[NodeId],
    kinds: &[NodeKind],
    in_group: &dyn Fn(NodeId) -> bool,
    materialized: &dyn Fn(NodeId) -> bool,
) -> KernelBody {
    struct Ctx<'a> {
        f: &'a Function,
        k: Function,
        map: HashMap<NodeId, NodeId>,
        inputs: Vec<NodeId>,
        next_value: usize,
    }
    impl Ctx<'_> {
        fn copy_node(&mut self, src: NodeId, operands: &[NodeId]) -> NodeId {
            let name = format!("v{}", self.next_value);
            self.next_value += 1;
            let node = self.f.node(src);
            self.k
                .insert(&name, node.op.clone(), operands, node.ty.clone())
                .expect("fresh names and existing operands")
        }
    }
    fn value(
        c: &mut Ctx<'_>,
        o: NodeId,
        kinds: &[NodeKind],
        in_group: &dyn Fn(NodeId) -> bool,
    ) -> NodeId {
        if let Some(&v) = c.map.get(&o) {
            return v;
        }
        let clone =
            !in_group(o) && matches!(kinds[o.index()], NodeKind::ConstLike | NodeKind::Broadcast);
        let v = if clone {
            let ops: Vec<NodeId> =
                c.f.operands(o)
                    .into_iter()
                    .map(|x| value(c, x, kinds, in_group))
                    .collect();
            c.copy_node(o, &ops)
        } else {
            assert!(
                !in_group(o),
                "kernel member %{} used before it is defined",
                c.f.node(o).name
            );
            let name = format!("in{}", c.inputs.len());
            c.inputs.push(o);
            c.k.add_arg(&name, ArgRole::Input, c.f.ty(o).clone())
                .expect("fresh argument name")
        };
        c.map.insert(o, v);
        v
    }
    let mut c = Ctx {
        f,
        k: Function::new("kernel"),
        map: HashMap::new(),
        inputs: Vec::new(),
        next_value: 0,
    };
    for &m in members {
        let ops: Vec<NodeId> = f
            .operands(m)
            .into_iter()
            .map(|x| value(&mut c, x, kinds, in_group))
            .collect();
        let v = c.copy_node(m, &ops);
        c.map.insert(m, v);
    }
    let mut outputs = Vec::new();
    for &m in members {
        if materialized(m) {
            c.k.add_output(c.map[&m], None);
            outputs.push(m);
        }
    }
    KernelBody {
        func: c.k,
        inputs: c.inputs,
        outputs,
    }
}

/// FNV-1a over the function's text: equal structure, attributes and types give equal
/// fingerprints, and the names are canonical so nothing else enters.
pub fn fingerprint(k: &Function) -> u64 {
    let text = print_function(k);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `<class>_<main op>_<fingerprint>`: readable and unique per distinct kernel.
pub(crate) fn kernel_name(k: &Function, class: KernelClass, fp: u64) -> String {
    let short = match class {
        KernelClass::Elementwise => "ew",
        KernelClass::Row => "row",
        KernelClass::Reduction => "red",
        KernelClass::Scatter => "scatter",
        KernelClass::Single => "one",
    };
    let order = k.topo_order().expect("kernels are acyclic");
    let main = order
        .iter()
        .map(|&n| &k.node(n).op)
        .filter(|op| !matches!(op, Op::Arg { .. } | Op::Full { .. } | Op::Iota { .. }))
        .find(|op| match class {
            KernelClass::Row => matches!(
                op,
                Op::Reduce { .. }
                    | Op::RmsNorm { .. }
                    | Op::RmsNormGradX { .. }
                    | Op::Softmax
                    | Op::SoftmaxGrad
                    | Op::CrossEntropy
                    | Op::CrossEntropyGrad
            ),
            KernelClass::Reduction => matches!(op, Op::Reduce { .. } | Op::RmsNormGradW { .. }),
            _ => !matches!(op, Op::Broadcast),
        })
        .map(op_label)
        .unwrap_or("fill");
    format!("{short}_{main}_{fp:016x}")
}
