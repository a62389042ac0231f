//! Snapshots a reviewer can read: the `config.json` we write, and the whole forward graph
//! of a one-layer tiny model as a node listing (until the IR text printer exists, this
//! listing is the readable form: `%name = op{attributes}(%operands) : type`).

use llc_ir::{Function, Op};
use llc_models::{BuildOptions, LlamaConfig, build_forward};

#[test]
fn tiny_config_json() {
    insta::assert_snapshot!(LlamaConfig::preset("tiny").unwrap().to_hf_config_json());
}

/// One line per node in topological order.
fn listing(f: &Function) -> String {
    let mut out = String::new();
    for id in f.topo_order().unwrap() {
        let n = f.node(id);
        let operands: Vec<String> = f
            .operands(id)
            .iter()
            .map(|&o| format!("%{}", f.node(o).name))
            .collect();
        let op = match &n.op {
            Op::Arg { role } => format!("arg {}", role.name()),
            Op::Full { value } => format!("full {value}"),
            Op::Iota { axis } => format!("iota axis={axis}"),
            Op::Transpose { perm } => format!("transpose perm={perm:?}"),
            Op::Slice { axis, start, end } => format!("slice axis={axis} {start}..{end}"),
            Op::Concat { axis } => format!("concat axis={axis}"),
            Op::Reduce {
                axes, keep_dims, ..
            } => format!("{} axes={axes:?} keep_dims={keep_dims}", n.op.name()),
            Op::MatMul {
                transpose_lhs,
                transpose_rhs,
            } => format!("matmul t_lhs={transpose_lhs} t_rhs={transpose_rhs}"),
            other => other.name().to_string(),
        };
        out.push_str(&format!(
            "%{} = {op}({}) : {}\n",
            n.name,
            operands.join(", "),
            n.ty
        ));
    }
    for o in f.outputs() {
        out.push_str(&format!("return %{}\n", f.node(o.node).name));
    }
    out
}

#[test]
fn tiny_one_layer_forward_graph() {
    let cfg = LlamaConfig {
        n_layers: 1,
        ..LlamaConfig::preset("tiny").unwrap()
    };
    let mut opts = BuildOptions::new(2, 4);
    opts.loss_mask = true;
    let m = build_forward(&cfg, &opts).unwrap();
    insta::assert_snapshot!(listing(m.function("forward").unwrap()));
}
