//! Choosing the strategy (and, where one launch cannot do it, the launches) for a kernel.
//!
//! Input is a kernel after [`crate::decompose`]. The plan walks back from the outputs to
//! the first reductions met ("top" reductions) and decides:
//!
//! - **elementwise**: no reductions. Every output has the same element count `N`.
//! - **row**: every top reduction is over a trailing run of axes (`[k, rank)`) with the
//!   same row count `R` and row length `C`, and every output has `R·C` elements (one per
//!   row element) or `R` (one per row). Reductions nested inside them with the same
//!   `(R, C)` become earlier passes over the row in the same block.
//! - **reduction**: the top reductions share one operand shape and axis set (any axes)
//!   and every output has as many elements as the reduction result. Also used for a
//!   row-shaped reduction whose outputs are per-row only when there are few rows and long
//!   rows (a full sum to a scalar), so the work spreads over many blocks.
//!
//! A reduction nested inside another with a different shape (the row statistics of
//! `rms_norm_grad_w`, the per-row losses summed into the loss) is *materialized*: planned
//! first as its own launch writing a scratch buffer that the later launch reads. A
//! reduction over few outputs (fewer than 256 blocks' worth) and many elements is split
//! over `G` blocks per output writing partial results, followed by a row launch that
//! combines the `G` partials of each output and applies what follows the reduction.

mod check;
mod extract;

use crate::api::{KernelClass, ParamRef};
use crate::error::{CodegenError, Result};
use extract::Subst;
use llc_ir::{Function, NodeId, Op, ReduceKind, TensorType};
use std::collections::{BTreeSet, HashMap};

/// How one launch iterates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Strategy {
    /// Grid-stride loop over `n` elements, `width` consecutive elements per thread step.
    Elementwise { n: usize, width: usize },
    /// One block per row of `cols` elements; threads stride over the row.
    Row {
        rows: usize,
        cols: usize,
        width: usize,
    },
    /// Reduction of `shape` over `axes`.
    Reduce(ReducePlan),
    /// Atomic accumulation of `n` `scatter_add` update elements into a zeroed result.
    Scatter { n: usize, width: usize },
}

/// Parameters of a reduction launch.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReducePlan {
    /// The (logical) operand shape every top reduction reads.
    pub shape: Vec<usize>,
    /// Reduced axes, ascending.
    pub axes: Vec<usize>,
    /// Output elements (product of the kept dims).
    pub out: usize,
    /// Reduced elements per output.
    pub red: usize,
    /// Kept axes are the trailing ones: a block takes 32 consecutive outputs (threads
    /// `x`) and 8 strided slices of the reduced elements (threads `y`), so loads coalesce.
    pub columns: bool,
    /// Consecutive reduced elements per thread step (1 or 4).
    pub width: usize,
    /// Blocks per output; when above 1 the launch writes `[out, chunks]` partials.
    pub chunks: usize,
}

/// One launch: the function it computes (arguments: the kernel's arguments, then the
/// scratch buffers it reads; outputs: what it writes) and how.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    pub func: Function,
    pub strategy: Strategy,
    /// What each parameter is bound to: the function's arguments, then its outputs.
    pub params: Vec<ParamRef>,
}

/// Every launch of a kernel, in order, and the scratch buffers between them.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub class: KernelClass,
    pub stages: Vec<Stage>,
    pub scratch: Vec<TensorType>,
}

/// Below this many blocks a reduction is split over several blocks per output.
const MIN_BLOCKS: usize = 256;
/// Row-shaped reductions with fewer rows than this and longer rows than `LONG_ROW` run
/// as split reductions instead of one block per row.
const FEW_ROWS: usize = 128;
const LONG_ROW: usize = 32 * 1024;

/// Plan the kernel `d` (already decomposed). `kernel` names it in errors.
pub(crate) fn plan(kernel: &str, d: &Function, lanes: usize) -> Result<Plan> {
    check::check_ops(kernel, d)?;
    let mut p = Planner {
        kernel,
        d,
        lanes,
        stages: Vec::new(),
        scratch: Vec::new(),
        materialized: HashMap::new(),
    };
    if let [o] = d.outputs()
        && matches!(d.node(o.node).op, Op::ScatterAdd)
    {
        let class = p.plan_scatter(o.node)?;
        return Ok(Plan {
            class,
            stages: p.stages,
            scratch: p.scratch,
        });
    }
    let targets: Vec<(NodeId, ParamRef)> = d
        .outputs()
        .iter()
        .enumerate()
        .map(|(i, o)| (o.node, ParamRef::Output(i)))
        .collect();
    let class = p.plan_targets(&targets)?;
    Ok(Plan {
        class,
        stages: p.stages,
        scratch: p.scratch,
    })
}

/// A node's operand shape and reduced axes when it reduces anything (a reduction over
/// size-1 axes only is a reshape).
pub(crate) fn reduction(d: &Function, id: NodeId) -> Option<(Vec<usize>, Vec<usize>, ReduceKind)> {
    match &d.node(id).op {
        Op::Reduce { kind, axes, .. } if !is_trivial(d, id, axes) => {
            let x = d.operands(id)[0];
            let mut axes = axes.clone();
            axes.sort_unstable();
            Some((d.ty(x).shape.clone(), axes, *kind))
        }
        _ => None,
    }
}

/// Whether reducing `id`'s operand over `axes` combines nothing (every axis has size 1).
pub(crate) fn is_trivial(d: &Function, id: NodeId, axes: &[usize]) -> bool {
    let x = d.operands(id)[0];
    axes.iter().all(|&a| d.ty(x).shape[a] == 1)
}

/// `(rows, cols)` when `axes` are a trailing run of `shape`'s axes.
fn row_shape(shape: &[usize], axes: &[usize]) -> Option<(usize, usize)> {
    let k = *axes.first()?;
    if axes.iter().copied().eq(k..shape.len()) {
        Some((shape[..k].iter().product(), shape[k..].iter().product()))
    } else {
        None
    }
}

/// Reductions that can share a launch: rows of the same shape, or the same operand shape
/// and axes.
#[derive(PartialEq)]
enum GroupKey {
    Row((usize, usize)),
    Other(Vec<usize>, Vec<usize>),
}

pub(super) struct Planner<'a> {
    kernel: &'a str,
    d: &'a Function,
    /// Widest group of consecutive elements a thread step may take (4 on a GPU: one
    /// 16-byte access; 16 on a CPU: one 512-bit vector).
    lanes: usize,
    stages: Vec<Stage>,
    scratch: Vec<TensorType>,
    materialized: HashMap<NodeId, usize>,
}

impl Planner<'_> {
    /// The widest group (`lanes`, then 8, then 4) that divides `n`, else 1. Groups
    /// wider than 4 (the CPU's) also leave at least two of them, so that a row is never
    /// a single group (whose index math folds the row into the lane).
    fn width(&self, n: usize) -> usize {
        [self.lanes, 8, 4]
            .into_iter()
            .find(|&w| w <= self.lanes && n.is_multiple_of(w) && (w <= 4 || n >= 2 * w))
            .unwrap_or(1)
    }

    fn unsupported(&self, msg: String) -> CodegenError {
        CodegenError::Unsupported {
            kernel: self.kernel.to_string(),
            msg,
        }
    }

    fn describe(&self, id: NodeId) -> String {
        let n = self.d.node(id);
        match reduction(self.d, id) {
            Some((shape, axes, _)) => format!(
                "%{} ({} over axes {axes:?} of {})",
                n.name,
                n.op.name(),
                TensorType::new(n.ty.dtype, shape)
            ),
            None => format!("%{}: {}", n.name, n.ty),
        }
    }

    /// Nodes reachable from `roots` through operands, not going past materialized nodes
    /// or nodes `stop` accepts (those are included but not entered). Sorted by id.
    fn reach(&self, roots: &[NodeId], stop: &dyn Fn(NodeId) -> bool) -> BTreeSet<NodeId> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            if self.materialized.contains_key(&n) || stop(n) {
                continue;
            }
            stack.extend(self.d.operands(n));
        }
        seen
    }

    /// Reductions reachable from `roots` without passing through another reduction.
    fn top_reductions(&self, roots: &[NodeId]) -> Vec<NodeId> {
        let d = self.d;
        let is_red = |n: NodeId| reduction(d, n).is_some();
        self.reach(roots, &is_red)
            .into_iter()
            .filter(|&n| is_red(n) && !self.materialized.contains_key(&n))
            .collect()
    }

    /// Plan the launches that compute `targets` (appended to `self.stages`, after the
    /// launches of anything they need materialized). Returns the class of the last one.
    fn plan_targets(&mut self, targets: &[(NodeId, ParamRef)]) -> Result<KernelClass> {
        let d = self.d;
        let roots: Vec<NodeId> = targets.iter().map(|t| t.0).collect();
        let top = self.top_reductions(&roots);
        if top.is_empty() {
            let n = self.same_numel(&roots, None)?;
            let width = self.width(n);
            let (func, params) = self.extract(targets, &HashMap::new())?;
            self.stages.push(Stage {
                func,
                strategy: Strategy::Elementwise { n, width },
                params,
            });
            return Ok(KernelClass::Elementwise);
        }
        let infos: Vec<_> = top
            .iter()
            .map(|&t| reduction(d, t).expect("top reductions reduce"))
            .collect();
        let rows: Vec<Option<(usize, usize)>> =
            infos.iter().map(|(s, a, _)| row_shape(s, a)).collect();
        if let Some(rc) = rows[0]
            && rows.iter().all(|r| *r == Some(rc))
        {
            return self.plan_row(targets, &top, rc);
        }
        let (shape, axes, _) = &infos[0];
        if let Some(i) = infos.iter().position(|(s, a, _)| s != shape || a != axes) {
            return Err(self.unsupported(format!(
                "the outputs need reductions of different shapes, {} and {}: split them into separate kernels",
                self.describe(top[0]),
                self.describe(top[i])
            )));
        }
        self.plan_reduce(targets, &top, shape.clone(), axes.clone())
    }

    /// All `roots` have the same element count (`want` when given); returns it.
    fn same_numel(&self, roots: &[NodeId], want: Option<(usize, &str)>) -> Result<usize> {
        let first = roots[0];
        let n = want.map_or(self.d.ty(first).numel(), |w| w.0);
        for &r in roots {
            if self.d.ty(r).numel() != n {
                let why = match want {
                    Some((_, what)) => format!(
                        "output {} does not have {n} elements ({what})",
                        self.describe(r)
                    ),
                    None => format!(
                        "outputs {} and {} have different element counts",
                        self.describe(first),
                        self.describe(r)
                    ),
                };
                return Err(self.unsupported(why));
            }
        }
        Ok(n)
    }

    fn plan_row(
        &mut self,
        targets: &[(NodeId, ParamRef)],
        top: &[NodeId],
        (rows, cols): (usize, usize),
    ) -> Result<KernelClass> {
        let d = self.d;
        for &(t, _) in targets {
            let n = d.ty(t).numel();
            if n != rows * cols && n != rows {
                return Err(self.unsupported(format!(
                    "output {} has neither {rows}·{cols} elements (one per row element) nor {rows} (one per row) of the row reduction {}",
                    self.describe(t),
                    self.describe(top[0])
                )));
            }
        }
        // reductions inside the top ones: same rows stay in this launch, others are cut
        let same_rows = |n: NodeId| {
            reduction(d, n).and_then(|(s, a, _)| row_shape(&s, &a)) == Some((rows, cols))
        };
        let mut inner = Vec::new();
        let mut cut = Vec::new();
        let mut frontier: Vec<NodeId> = top.to_vec();
        let mut seen = BTreeSet::new();
        while let Some(r) = frontier.pop() {
            let ops = d.operands(r);
            for n in self.top_reductions(&ops) {
                if !seen.insert(n) {
                    continue;
                }
                if same_rows(n) {
                    inner.push(n);
                    frontier.push(n);
                } else {
                    cut.push(n);
                }
            }
        }
        self.materialize(&cut)?;
        let per_row_only = targets.iter().all(|&(t, _)| d.ty(t).numel() == rows);
        if per_row_only && inner.is_empty() && rows < FEW_ROWS && cols >= LONG_ROW {
            self.plan_reduce(targets, top, vec![rows, cols], vec![1])?;
            return Ok(KernelClass::Reduction);
        }
        let subst = self.scratch_substs();
        let (func, params) = self.extract(targets, &subst)?;
        let width = self.width(cols);
        self.stages.push(Stage {
            func,
            strategy: Strategy::Row { rows, cols, width },
            params,
        });
        Ok(if self.stages.len() == 1 {
            KernelClass::Row
        } else {
            KernelClass::Reduction
        })
    }

    fn plan_reduce(
        &mut self,
        targets: &[(NodeId, ParamRef)],
        top: &[NodeId],
        shape: Vec<usize>,
        axes: Vec<usize>,
    ) -> Result<KernelClass> {
        let d = self.d;
        let out: usize = (0..shape.len())
            .filter(|a| !axes.contains(a))
            .map(|a| shape[a])
            .product();
        let red: usize = axes.iter().map(|&a| shape[a]).product();
        let roots: Vec<NodeId> = targets.iter().map(|t| t.0).collect();
        self.same_numel(&roots, Some((out, "one per reduction result")))?;
        // every reduction inside the operands is computed by an earlier launch
        let mut cut = Vec::new();
        for &t in top {
            for n in self.top_reductions(&d.operands(t)) {
                if !cut.contains(&n) {
                    cut.push(n);
                }
            }
        }
        self.materialize(&cut)?;

        let last = shape.len() - 1;
        let columns = out >= 32 && axes.iter().copied().eq(0..axes.len());
        let width = if !columns && axes.contains(&last) {
            self.width(shape[last])
        } else {
            1
        };
        let blocks = if columns { out.div_ceil(32) } else { out };
        let threads = if columns { 8 } else { 256 };
        let chunks = if blocks >= MIN_BLOCKS {
            1
        } else {
            // enough blocks to fill the GPU, but at least 8 steps per thread
            let fill = (2 * MIN_BLOCKS).div_ceil(blocks);
            let work = red / (threads * width * 8);
            fill.min(work).clamp(1, 65535)
        };
        let plan = ReducePlan {
            shape,
            axes,
            out,
            red,
            columns,
            width,
            chunks,
        };
        let mut subst = self.scratch_substs();
        if chunks == 1 {
            let (func, params) = self.extract(targets, &subst)?;
            self.stages.push(Stage {
                func,
                strategy: Strategy::Reduce(plan),
                params,
            });
            return Ok(KernelClass::Reduction);
        }
        // partials of every top reduction, then a row launch combining them
        let mut partial_targets = Vec::new();
        for &t in top {
            let s = self.scratch.len();
            self.scratch
                .push(TensorType::new(d.ty(t).dtype, vec![out, chunks]));
            partial_targets.push((t, ParamRef::Scratch(s)));
            let kind = reduction(d, t).expect("top reductions reduce").2;
            subst.insert(
                t,
                Subst::Partials {
                    param: ParamRef::Scratch(s),
                    chunks,
                    kind,
                },
            );
        }
        let (pfunc, pparams) = self.extract(&partial_targets, &self.scratch_substs())?;
        self.stages.push(Stage {
            func: pfunc,
            strategy: Strategy::Reduce(plan),
            params: pparams,
        });
        let (func, params) = self.extract(targets, &subst)?;
        let width = self.width(chunks);
        self.stages.push(Stage {
            func,
            strategy: Strategy::Row {
                rows: out,
                cols: chunks,
                width,
            },
            params,
        });
        Ok(KernelClass::Reduction)
    }

    /// `scatter_add` node `s` (the only output): a launch zeroing the result, then one
    /// adding the updates into it.
    fn plan_scatter(&mut self, s: NodeId) -> Result<KernelClass> {
        let d = self.d;
        let ops = d.operands(s);
        if let Some(&r) = self.top_reductions(&ops).first() {
            return Err(self.unsupported(format!(
                "the operands of a scatter_add are computed per update element; {} reduces",
                self.describe(r)
            )));
        }
        let err = |source| CodegenError::InvalidIr {
            kernel: self.kernel.to_string(),
            source,
        };
        let ty = d.ty(s).clone();
        let mut zero = Function::new(d.name.clone());
        let mut params = Vec::new();
        for (i, &a) in d.args().iter().enumerate() {
            let n = d.node(a);
            zero.add_arg(&n.name, llc_ir::ArgRole::Input, n.ty.clone())
                .map_err(err)?;
            params.push(ParamRef::Input(i));
        }
        let z = zero
            .add(
                "zero",
                Op::Full {
                    value: llc_ir::Real(0.0),
                },
                &[],
                Some(ty.clone()),
            )
            .map_err(err)?;
        zero.add_output(z, None);
        params.push(ParamRef::Output(0));
        let n = ty.numel();
        self.stages.push(Stage {
            func: zero,
            strategy: Strategy::Elementwise {
                n,
                width: if n.is_multiple_of(4) { 4 } else { 1 },
            },
            params,
        });
        let (func, params) = self.extract(&[(s, ParamRef::Output(0))], &HashMap::new())?;
        let n = d.ty(ops[1]).numel();
        self.stages.push(Stage {
            func,
            strategy: Strategy::Scatter {
                n,
                width: if n.is_multiple_of(4) { 4 } else { 1 },
            },
            params,
        });
        Ok(KernelClass::Scatter)
    }

    /// Plan launches writing each of `nodes` to a new scratch buffer, grouped so nodes
    /// needing the same kind of launch share one.
    fn materialize(&mut self, nodes: &[NodeId]) -> Result<()> {
        // a row reduction groups by (rows, cols), any other by (shape, axes)
        let mut groups: Vec<(GroupKey, Vec<NodeId>)> = Vec::new();
        for &n in nodes {
            if self.materialized.contains_key(&n) {
                continue;
            }
            let (shape, axes, _) = reduction(self.d, n).expect("only reductions are cut");
            let key = match row_shape(&shape, &axes) {
                Some(rc) => GroupKey::Row(rc),
                None => GroupKey::Other(shape, axes),
            };
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1.push(n),
                None => groups.push((key, vec![n])),
            }
        }
        for (_, group) in groups {
            let mut targets = Vec::new();
            for &n in &group {
                let s = self.scratch.len();
                self.scratch.push(self.d.ty(n).clone());
                targets.push((n, ParamRef::Scratch(s)));
            }
            self.plan_targets(&targets)?;
            for (n, p) in targets {
                let ParamRef::Scratch(s) = p else {
                    unreachable!("targets above are scratch")
                };
                self.materialized.insert(n, s);
            }
        }
        Ok(())
    }

    fn scratch_substs(&self) -> HashMap<NodeId, Subst> {
        self.materialized
            .iter()
            .map(|(&n, &s)| (n, Subst::Arg(ParamRef::Scratch(s))))
            .collect()
    }
}
