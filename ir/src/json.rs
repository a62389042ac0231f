//! The JSON form of a module, for tools outside Rust (scripts, notebooks, other
//! frontends). It mirrors the text format: per function the arguments (name, role, type),
//! the nodes in topological order (name, op as the serde form of [`Op`], operands by
//! name, type) and the results (name, and the argument each one updates).
//!
//! ```json
//! {"functions":[{"name":"f",
//!   "args":[{"name":"x","role":"param","type":{"dtype":"f32","shape":[4]}}],
//!   "nodes":[{"name":"y","op":{"type":"unary","op":"exp"},"operands":["x"],
//!             "type":{"dtype":"f32","shape":[4]}}],
//!   "outputs":[{"name":"y","updates":"x"}]}]}
//! ```
//!
//! JSON numbers cannot be infinite or NaN, so a non-finite float attribute is written as
//! the string `"inf"`, `"-inf"` or `"nan"` (the text format's spelling).

use crate::dtype::TensorType;
use crate::error::{IrError, Result};
use crate::graph::{Function, Module, NodeId};
use crate::op::{ArgRole, Op, Real};
use crate::verify::{SpanMap, verify_function};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleJson {
    functions: Vec<FunctionJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionJson {
    name: String,
    args: Vec<ArgJson>,
    nodes: Vec<NodeJson>,
    outputs: Vec<OutputJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgJson {
    name: String,
    role: ArgRole,
    #[serde(rename = "type")]
    ty: TensorType,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeJson {
    name: String,
    op: Value,
    operands: Vec<String>,
    #[serde(rename = "type")]
    ty: TensorType,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputJson {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updates: Option<String>,
}

/// The op's float attribute, if it has one, with its serde field name.
fn real_field(op: &mut Op) -> Option<(&'static str, &mut Real)> {
    match op {
        Op::Full { value } => Some(("value", value)),
        Op::RmsNorm { eps } | Op::RmsNormGradX { eps } | Op::RmsNormGradW { eps } => {
            Some(("eps", eps))
        }
        Op::Rope { theta, .. } => Some(("theta", theta)),
        Op::Attention { scale, .. } | Op::AttentionGrad { scale, .. } => Some(("scale", scale)),
        _ => None,
    }
}

fn op_to_value(op: &Op) -> Value {
    let mut v = serde_json::to_value(op).expect("an Op always serializes to JSON");
    let mut op = op.clone();
    if let Some((key, r)) = real_field(&mut op)
        && !r.0.is_finite()
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert(key.to_string(), Value::String(r.to_string()));
    }
    v
}

fn op_from_value(mut v: Value, at: &str) -> Result<Op> {
    let mut special: Option<(String, f64)> = None;
    if let Some(obj) = v.as_object_mut() {
        for key in ["value", "eps", "theta", "scale"] {
            if let Some(Value::String(s)) = obj.get(key) {
                let x = match s.as_str() {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" => f64::NAN,
                    other => {
                        return Err(IrError::Json(format!(
                            "{at}: attribute `{key}` must be a number, \"inf\", \"-inf\" or \"nan\", found {other:?}"
                        )));
                    }
                };
                obj.insert(key.to_string(), Value::from(0.0));
                special = Some((key.to_string(), x));
            }
        }
    }
    let mut op: Op =
        serde_json::from_value(v).map_err(|e| IrError::Json(format!("{at}: op: {e}")))?;
    if let Some((key, x)) = special
        && let Some((field, r)) = real_field(&mut op)
        && field == key
    {
        *r = Real(x);
    }
    Ok(op)
}

fn name_of(f: &Function, id: NodeId) -> String {
    if f.contains(id) {
        f.node(id).name.clone()
    } else {
        format!("<removed node {}>", id.index())
    }
}

fn function_to_json(f: &Function) -> FunctionJson {
    let args = f
        .args()
        .iter()
        .filter(|&&a| f.contains(a))
        .map(|&a| ArgJson {
            name: f.node(a).name.clone(),
            role: f.arg_role(a).unwrap_or(ArgRole::Input),
            ty: f.ty(a).clone(),
        })
        .collect();
    let in_signature: HashSet<NodeId> = f.args().iter().copied().collect();
    let order = f
        .topo_order()
        .unwrap_or_else(|_| f.node_ids().collect::<Vec<_>>());
    let nodes = order
        .into_iter()
        .filter(|n| !in_signature.contains(n))
        .map(|n| {
            let node = f.node(n);
            NodeJson {
                name: node.name.clone(),
                op: op_to_value(&node.op),
                operands: f.operands(n).into_iter().map(|o| name_of(f, o)).collect(),
                ty: node.ty.clone(),
            }
        })
        .collect();
    let outputs = f
        .outputs()
        .iter()
        .map(|o| OutputJson {
            name: name_of(f, o.node),
            updates: o.updates.map(|u| name_of(f, u)),
        })
        .collect();
    FunctionJson {
        name: f.name.clone(),
        args,
        nodes,
        outputs,
    }
}

/// The JSON form of `m` (compact, one line).
pub fn to_json(m: &Module) -> String {
    let mj = ModuleJson {
        functions: m.functions.iter().map(function_to_json).collect(),
    };
    serde_json::to_string(&mj).expect("the JSON mirror always serializes")
}

fn function_from_json(fj: FunctionJson) -> Result<Function> {
    let mut f = Function::new(fj.name.clone());
    let at_fn = format!("function @{}", fj.name);
    for a in fj.args {
        f.add_arg(&a.name, a.role, a.ty)?;
    }
    let lookup = |f: &Function, name: &str, what: &str| {
        f.by_name(name).ok_or_else(|| {
            IrError::Json(format!(
                "{at_fn}: {what} uses undefined value %{name} (a node must come after its operands)"
            ))
        })
    };
    for n in fj.nodes {
        let at = format!("{at_fn}, node %{}", n.name);
        let op = op_from_value(n.op, &at)?;
        let operands = n
            .operands
            .iter()
            .map(|o| lookup(&f, o, &format!("node %{}", n.name)))
            .collect::<Result<Vec<_>>>()?;
        f.insert(&n.name, op, &operands, n.ty)?;
    }
    for o in fj.outputs {
        let node = lookup(&f, &o.name, "a result")?;
        let updates = match &o.updates {
            Some(u) => Some(lookup(&f, u, &format!("result %{}", o.name))?),
            None => None,
        };
        f.add_output(node, updates);
    }
    verify_function(&f, &SpanMap::new())?;
    Ok(f)
}

/// Read the JSON form back into a module and verify it.
pub fn from_json(s: &str) -> Result<Module> {
    let mj: ModuleJson = serde_json::from_str(s).map_err(|e| IrError::Json(e.to_string()))?;
    let mut m = Module::new();
    let mut seen = HashSet::new();
    for fj in mj.functions {
        if !seen.insert(fj.name.clone()) {
            return Err(IrError::Json(format!(
                "function @{} is defined twice",
                fj.name
            )));
        }
        m.functions.push(function_from_json(fj)?);
    }
    Ok(m)
}
