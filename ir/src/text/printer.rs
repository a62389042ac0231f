//! The `.ir` printer: one canonical text per function, so that printing is a stable
//! snapshot format and `print(parse(t)) == t`.

use super::attrs::write_attributes;
use super::names::write_name;
use crate::graph::{Function, Module, NodeId};
use petgraph::visit::NodeIndexable;
use std::fmt::Write;

/// Signature and `return` lines longer than this are broken one item per line.
const MAX_LINE: usize = 100;

/// Print every function, separated by a blank line.
pub fn print_module(m: &Module) -> String {
    let mut out = String::new();
    for (i, f) in m.functions.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        write_function(&mut out, f);
    }
    out
}

/// Print one function (ends with a newline).
pub fn print_function(f: &Function) -> String {
    let mut out = String::with_capacity(64 * f.node_count() + 64);
    write_function(&mut out, f);
    out
}

fn value(out: &mut String, f: &Function, id: NodeId) {
    out.push('%');
    if f.contains(id) {
        write_name(out, &f.node(id).name);
    } else {
        // Only a broken graph refers to a removed node; print something the reader can
        // see (and that fails to parse as an undefined value) rather than panic.
        write_name(out, &format!("<removed node {}>", id.index()));
    }
}

/// Write `items` after `head` on one line, or one per line when that is too long.
fn write_list(out: &mut String, head: &str, items: &[String], tail: &str, indent: &str) {
    let width = head.len() + tail.len() + items.iter().map(|s| s.len() + 2).sum::<usize>();
    if width <= MAX_LINE {
        out.push_str(head);
        out.push_str(&items.join(", "));
        out.push_str(tail);
    } else {
        out.push_str(head.trim_end());
        for (i, it) in items.iter().enumerate() {
            out.push('\n');
            out.push_str(indent);
            out.push_str(it);
            if i + 1 < items.len() {
                out.push(',');
            }
        }
        if !tail.is_empty() {
            out.push('\n');
            out.push_str(indent.get(2..).unwrap_or(""));
            out.push_str(tail);
        }
    }
}

fn write_function(out: &mut String, f: &Function) {
    let args: Vec<String> = f
        .args()
        .iter()
        .map(|&a| {
            let mut s = String::new();
            if !f.contains(a) {
                value(&mut s, f, a);
                return s;
            }
            let role = f.arg_role(a).map(|r| r.name()).unwrap_or("?");
            s.push_str(role);
            s.push(' ');
            value(&mut s, f, a);
            let _ = write!(s, ": {}", f.ty(a));
            s
        })
        .collect();
    let mut head = String::from("func @");
    write_name(&mut head, &f.name);
    head.push('(');
    write_list(out, &head, &args, ") {", "  ");
    out.push('\n');

    let (order, note) = match f.topo_order() {
        Ok(o) => (o, None),
        Err(_) => (
            f.node_ids().collect(),
            Some("  # the graph has a cycle: values are listed in creation order\n"),
        ),
    };
    if let Some(n) = note {
        out.push_str(n);
    }
    let mut in_signature = vec![false; f.graph().node_bound()];
    for a in f.args() {
        if let Some(slot) = in_signature.get_mut(a.index()) {
            *slot = true;
        }
    }
    for id in order {
        if in_signature[id.index()] {
            continue;
        }
        let node = f.node(id);
        out.push_str("  ");
        value(out, f, id);
        out.push_str(" = ");
        out.push_str(node.op.name());
        for (i, o) in f.operands(id).into_iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            value(out, f, o);
        }
        write_attributes(out, &node.op);
        let _ = writeln!(out, " : {}", node.ty);
    }

    let results: Vec<String> = f
        .outputs()
        .iter()
        .map(|o| {
            let mut s = String::new();
            value(&mut s, f, o.node);
            if let Some(u) = o.updates {
                s.push_str(" -> ");
                value(&mut s, f, u);
            }
            s
        })
        .collect();
    if results.is_empty() {
        out.push_str("  return\n");
    } else {
        write_list(out, "  return ", &results, "", "    ");
        out.push('\n');
    }
    out.push_str("}\n");
}
