//! Reverse-mode automatic differentiation over the IR.
//!
//! [`differentiate`] takes a function with a float scalar result (the loss) and builds
//! `forward_backward`: the same arguments, results `loss` then `grad.<param>` for every
//! `Param` argument in argument order. The source function is cloned, so forward values
//! are shared with the backward graph by construction, then:
//!
//! 1. activity analysis ([`activity`]) marks the values that need a cotangent;
//! 2. a reverse topological sweep calls the VJP rule of each such node ([`vjp`]) and
//!    accumulates the contributions with `add` when a value is used several times;
//! 3. each parameter's cotangent becomes the result `grad.<param>` (a zero `full` when
//!    the loss does not depend on the parameter);
//! 4. dead code is removed: the other results of the source function and every forward
//!    value the backward graph does not read.
//!
//! Values are named for reading dumps: the cotangent of `%x` is `%d.x` (`%d.x.N` for
//! partial sums), the intermediates of the VJP of `%y` are `%d.y.<op>`.
//!
//! [`autodiff`] applies this to a module: by default it replaces the source function by
//! the new one, so each stage of the pipeline holds one function.

mod activity;
mod helpers;
mod vjp;

use crate::error::{PassError, Result};
use llc_ir::{ArgRole, Builder, Function, Module, NodeId, Op, Real};

const PASS: &str = "autodiff";

/// What to differentiate and what to call the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutodiffOptions {
    /// The function to differentiate.
    pub function: String,
    /// The name of its scalar result to differentiate.
    pub loss: String,
    /// The name of the function built.
    pub output_function: String,
    /// Keep the source function in the module next to the new one (default: replace it).
    pub keep_source: bool,
}

impl Default for AutodiffOptions {
    fn default() -> Self {
        AutodiffOptions {
            function: "forward".into(),
            loss: "loss".into(),
            output_function: "forward_backward".into(),
            keep_source: false,
        }
    }
}

/// Counters for the compile summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutodiffStats {
    /// Nodes in the source function.
    pub nodes_before: usize,
    /// Nodes in the function built (after dead code removal).
    pub nodes_after: usize,
    /// Parameters whose gradient the loss depends on.
    pub grads: usize,
    /// Parameters the loss does not depend on (their gradient is a zero `full`).
    pub zero_grads: usize,
    /// Nodes removed as dead after differentiation.
    pub removed_dead: usize,
}

/// Differentiate `opts.function` of `module` (see the module docs).
pub fn autodiff(module: &mut Module, opts: &AutodiffOptions) -> Result<AutodiffStats> {
    let idx = module
        .functions
        .iter()
        .position(|f| f.name == opts.function)
        .ok_or_else(|| no_such_function(module, &opts.function))?;
    if opts.output_function != opts.function && module.function(&opts.output_function).is_some() {
        return Err(PassError::InvalidConfig {
            pass: PASS,
            msg: format!(
                "the module already has a function @{}; pick another output_function",
                opts.output_function
            ),
        });
    }
    let (f, stats) = differentiate(&module.functions[idx], &opts.loss, &opts.output_function)?;
    if opts.keep_source {
        module.functions.push(f);
    } else {
        module.functions[idx] = f;
    }
    Ok(stats)
}

pub(crate) fn no_such_function(module: &Module, name: &str) -> PassError {
    PassError::NoSuchFunction {
        pass: PASS,
        func: name.to_string(),
        available: module
            .functions
            .iter()
            .map(|f| format!("@{}", f.name))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One value's cotangent so far and whether autodiff made that node for this value
/// alone (so it may be renamed after it) or shares it (a pass-through like `add`'s).
#[derive(Clone, Copy)]
struct Cotangent {
    node: NodeId,
    owned: bool,
}

/// Build the gradient function of `src` with respect to its `Param` arguments, for
/// the scalar result named `loss`; the new function is called `name`.
pub fn differentiate(src: &Function, loss: &str, name: &str) -> Result<(Function, AutodiffStats)> {
    let mut f = src.clone();
    f.name = name.to_string();
    let loss_node = src
        .output_by_name(loss)
        .ok_or_else(|| PassError::NoSuchOutput {
            pass: PASS,
            func: src.name.clone(),
            name: loss.to_string(),
        })?;
    let loss_ty = src.ty(loss_node).clone();
    if !loss_ty.dtype.is_float() || loss_ty.rank() != 0 {
        return Err(PassError::LossNotScalar {
            pass: PASS,
            func: src.name.clone(),
            name: loss.to_string(),
            ty: loss_ty,
        });
    }
    let params = f.args_with_role(ArgRole::Param);
    for &p in &params {
        if !f.ty(p).dtype.is_float() {
            return Err(PassError::NonFloatParam {
                pass: PASS,
                func: src.name.clone(),
                name: f.node(p).name.clone(),
                ty: f.ty(p).clone(),
            });
        }
    }

    let order = f.topo_order()?;
    let needs = activity::needs_grad(&f, &order, loss_node);
    let bound = needs.len();
    let mut cot: Vec<Option<Cotangent>> = vec![None; bound];
    // Nodes that already stand for some value's cotangent (or are forward values): a
    // contribution that is one of them is shared, not owned.
    let mut taken = vec![false; bound];
    for &n in &order {
        taken[n.index()] = true;
    }

    let seed_name = f.unique_name(&format!("d.{loss}"));
    let seed = f.insert(&seed_name, Op::Full { value: Real(1.0) }, &[], loss_ty)?;
    mark(&mut taken, seed);
    if needs.get(loss_node.index()).copied().unwrap_or(false) {
        cot[loss_node.index()] = Some(Cotangent {
            node: seed,
            owned: true,
        });
    }

    for &y in order.iter().rev() {
        let Some(gy) = cot[y.index()] else { continue };
        if matches!(f.node(y).op, Op::Arg { .. }) {
            continue;
        }
        let xs = f.operands(y);
        let slot_needs: Vec<bool> = xs.iter().map(|x| needs[x.index()]).collect();
        if !slot_needs.iter().any(|&n| n) {
            continue;
        }
        let contribs = {
            let scope = format!("d.{}", f.node(y).name);
            let mut b = Builder::new(&mut f);
            b.push_scope(scope);
            vjp::vjp(&mut b, y, &xs, &slot_needs, gy.node)?
        };
        for (&x, c) in xs.iter().zip(contribs) {
            let Some(c) = c else { continue };
            accumulate(&mut f, &mut cot, &mut taken, x, c)?;
        }
    }

    let mut outputs = vec![llc_ir::Output {
        node: loss_node,
        updates: None,
    }];
    let mut stats = AutodiffStats {
        nodes_before: src.node_count(),
        ..Default::default()
    };
    for &p in &params {
        let gname = format!("grad.{}", f.node(p).name);
        let ty = f.ty(p).clone();
        let gnode = match cot[p.index()] {
            Some(Cotangent { node, owned: true }) => {
                f.rename(node, &gname)?;
                stats.grads += 1;
                node
            }
            Some(Cotangent { node, owned: false }) => {
                // A pass-through cotangent shared with other values: give the gradient
                // its own named value with a same-shape reshape (a copy).
                stats.grads += 1;
                f.insert(&gname, Op::Reshape, &[node], ty)?
            }
            None => {
                stats.zero_grads += 1;
                f.insert(&gname, Op::Full { value: Real(0.0) }, &[], ty)?
            }
        };
        outputs.push(llc_ir::Output {
            node: gnode,
            updates: None,
        });
    }
    f.set_outputs(outputs);
    stats.removed_dead = f.remove_dead();
    stats.nodes_after = f.node_count();
    Ok((f, stats))
}

fn mark(taken: &mut Vec<bool>, n: NodeId) {
    if n.index() >= taken.len() {
        taken.resize(n.index() + 1, false);
    }
    taken[n.index()] = true;
}

fn is_taken(taken: &[bool], n: NodeId) -> bool {
    taken.get(n.index()).copied().unwrap_or(false)
}

/// Add contribution `c` to the cotangent of `x`.
fn accumulate(
    f: &mut Function,
    cot: &mut [Option<Cotangent>],
    taken: &mut Vec<bool>,
    x: NodeId,
    c: NodeId,
) -> Result<()> {
    let base = format!("d.{}", f.node(x).name);
    let fresh = !is_taken(taken, c);
    if fresh {
        let name = f.unique_name(&base);
        f.rename(c, &name)?;
        mark(taken, c);
    }
    cot[x.index()] = Some(match cot[x.index()] {
        None => Cotangent {
            node: c,
            owned: fresh,
        },
        Some(prev) => {
            let sum = f.add(
                &base,
                Op::Binary {
                    op: llc_ir::BinaryOp::Add,
                },
                &[prev.node, c],
                None,
            )?;
            mark(taken, sum);
            Cotangent {
                node: sum,
                owned: true,
            }
        }
    });
    Ok(())
}
