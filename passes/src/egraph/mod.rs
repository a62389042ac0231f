//! The e-graph optimizer (egg): equality saturation over a function, then extraction of
//! the cheapest equivalent graph under a cost model of HBM traffic and FLOPs.
//!
//! - [`language`]: the op set as an egg language; [`analysis`]: types on e-classes;
//!   [`ops`]: IR op <-> e-node; [`convert`] / [`extract`]: function -> e-graph -> function;
//!   [`cost`]: the H100 model; [`rules`]: named rewrites by topic; [`report`]: what a run
//!   did. Entry points: [`optimize`] (one function) and [`optimize_module`].
//!
//! # Where it runs: twice
//! The pipeline runs the e-graph **before autodiff** on the forward graph with the
//! [`EGraphOptions::forward`] groups (fusion, GQA, layout, algebra), and **again after
//! autodiff and the optimizer** on the step graph with [`EGraphOptions::step`]
//! (horizontal, layout, algebra). Why:
//! - Fusing the forward first lets autodiff emit fused backward ops straight from the
//!   fused ops' VJPs (`rms_norm_grad_x/w`, `swiglu_grad_a/b`, inverse `rope`,
//!   `attention_grad`, `cross_entropy_grad`). Recognizing the *backward* of RMSNorm or
//!   attention after the fact would need patterns over autodiff's exact output, which are
//!   large, fragile and change whenever autodiff does.
//! - GQA before autodiff means the repeated K/V never exist to be differentiated, so the
//!   backward has no scatter of K/V head copies either: `attention_grad` sums per group.
//! - Horizontal fusion after autodiff sees the weight gradients too: `dQ^T x, dK^T x,
//!   dV^T x` share `x` and become one matmul, as does `dQ Wq + dK Wk + dV Wv`; before
//!   autodiff only the forward projections would fuse.
//!
//! # Language
//! Enum-like attributes are part of the op symbol (`matmul_nt`, `attention_causal`,
//! `rope_inverse`); data attributes (declared types, permutations, axes, ranges, eps /
//! theta / scale) are leaf children, so a rule binds them to pattern variables and checks
//! them in its guard. The e-class analysis types every class with the IR's own inference,
//! so a rule that builds an ill-typed node is reported as an error, not extracted.
//!
//! # Cost and extraction
//! See [`cost`] for the model and [`extract`] for the DAG-aware extraction (egg's tree-cost
//! extractor counts shared values once per use, which is exponential in depth on a step
//! graph). Views (reshape, broadcast, slice, concat) are free in the model: the partitioner
//! turns them into strided accesses, and the memory planner lays out the operands of a
//! concatenation (the weights of a fused QKV projection, the gradients `dQ, dK, dV`)
//! adjacently, in the order the rules canonicalize (argument order of the weights). If
//! the extracted function is estimated to cost more than the input, the input is kept.
//!
//! # Scale
//! The whole function is one e-graph: no per-layer splitting is needed. Measured in
//! release on the 2-core build machine (`cargo run --release -p llc-passes --example
//! egraph_70b`): llama2-70b's forward (7.8k nodes) and step (31k nodes) take 0.2 s +
//! 1.1 s; llama2-7b's 0.1 s + 0.4 s. Identical layers are not deduplicated here: their
//! e-classes differ by their parameters, and the search is linear in the graph anyway.
//!
//! # Bounds and determinism
//! The search stops at saturation or at the iteration, e-node or time limit of
//! [`EGraphOptions`]; the report says which, and the result is a valid equivalent function
//! whichever stopped it. Everything iterates in a fixed order, so the same input gives
//! byte-identical output, unless the time limit is what stopped the search (then how far
//! it got depends on the machine; the defaults let the Llama graphs saturate first).
//!
//! # Limits of the rules
//! `x * 0 = 0` assumes finite values. The optimizer's AdamW chain is left as elementwise
//! ops (the IR has no fused AdamW op), so it dominates the estimated step cost after the
//! rewrites; the partitioner's elementwise fusion is what shrinks it.

pub mod analysis;
pub mod convert;
pub mod cost;
pub mod extract;
pub mod language;
pub mod ops;
pub mod report;
pub mod rules;

pub use cost::{Cost, function_cost};
pub use report::{EGraphReport, count_fused};
pub use rules::RuleGroup;

use crate::error::PassError;
use egg::{Runner, SimpleScheduler, StopReason};
use llc_ir::{Function, IrError, Module, SpanMap, verify_function};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The pass's name in errors and reports.
pub const PASS: &str = "egraph";

/// A broken invariant of the optimizer (a rule that builds an ill-typed node, an
/// extraction that is not a valid function): reported like the verifier rejecting the
/// pass's output, since that is what it is.
pub(crate) fn internal(func: &str, msg: impl Into<String>) -> PassError {
    PassError::Verify {
        pass: PASS,
        source: IrError::Structure {
            func: func.to_string(),
            msg: msg.into(),
            span: None,
        },
    }
}

/// Which rules run and how far the search may go.
#[derive(Clone, Debug, PartialEq)]
pub struct EGraphOptions {
    /// Rule groups to run.
    pub rule_groups: Vec<RuleGroup>,
    /// Most rewrite iterations.
    pub iter_limit: usize,
    /// Most e-nodes; the search stops once the e-graph grows past it.
    pub node_limit: usize,
    /// Most time for the rewrite search.
    pub time_limit: Duration,
}

impl EGraphOptions {
    /// The run before autodiff, on the forward graph: fusion, GQA, layout, algebra.
    pub fn forward() -> Self {
        EGraphOptions {
            rule_groups: vec![
                RuleGroup::Fusion,
                RuleGroup::Gqa,
                RuleGroup::Layout,
                RuleGroup::Algebra,
            ],
            ..Self::default()
        }
    }

    /// The run after autodiff and the optimizer, on the step graph: horizontal fusion,
    /// layout, algebra.
    pub fn step() -> Self {
        EGraphOptions {
            rule_groups: vec![RuleGroup::Horizontal, RuleGroup::Layout, RuleGroup::Algebra],
            ..Self::default()
        }
    }

    /// Only the given groups, default limits.
    pub fn groups(groups: &[RuleGroup]) -> Self {
        EGraphOptions {
            rule_groups: groups.to_vec(),
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), PassError> {
        if self.iter_limit == 0 {
            return Err(EGraphOptions::bad("iter_limit must be at least 1"));
        }
        if self.node_limit == 0 {
            return Err(EGraphOptions::bad("node_limit must be at least 1"));
        }
        if self.time_limit.is_zero() {
            return Err(EGraphOptions::bad("time_limit must be positive"));
        }
        Ok(())
    }

    fn bad(msg: &str) -> PassError {
        PassError::InvalidConfig {
            pass: PASS,
            msg: msg.to_string(),
        }
    }
}

impl Default for EGraphOptions {
    /// Every group; 16 iterations, 4M e-nodes, 60 s.
    fn default() -> Self {
        EGraphOptions {
            rule_groups: RuleGroup::ALL.to_vec(),
            iter_limit: 16,
            node_limit: 4_000_000,
            time_limit: Duration::from_secs(60),
        }
    }
}

fn stop_reason(r: &Option<StopReason>, opts: &EGraphOptions) -> String {
    match r {
        None => "not run".into(),
        Some(StopReason::Saturated) => "saturated".into(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
        Some(StopReason::NodeLimit(_)) => format!("e-node limit ({})", opts.node_limit),
        Some(StopReason::TimeLimit(_)) => {
            format!("time limit ({:.1} s)", opts.time_limit.as_secs_f64())
        }
        Some(StopReason::Other(s)) => s.clone(),
    }
}

/// Optimize `f`: load it into an e-graph, run the selected rule groups within the limits,
/// extract the cheapest equivalent function. Arguments, outputs (with `updates`) and the
/// names of surviving values are kept. Returns the new function and a report.
pub fn optimize(f: &Function, opts: &EGraphOptions) -> Result<(Function, EGraphReport), PassError> {
    let start = Instant::now();
    opts.validate()?;
    verify_function(f, &SpanMap::new())?;
    let cost_before = function_cost(f)?;
    let loaded = convert::load(f)?;
    let rules = rules::rules_for(&opts.rule_groups);
    let rewrites: Vec<&rules::Rw> = rules.iter().map(|r| &r.rewrite).collect();
    let mut loaded = loaded;
    let egraph = std::mem::take(&mut loaded.egraph);
    let search_start = Instant::now();
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_iter_limit(opts.iter_limit)
        .with_node_limit(opts.node_limit)
        .with_time_limit(opts.time_limit)
        .with_scheduler(SimpleScheduler)
        .run(rewrites);
    let search_time = search_start.elapsed();
    let mut fired: BTreeMap<String, usize> = BTreeMap::new();
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            *fired.entry(name.to_string()).or_insert(0) += n;
        }
    }
    fired.retain(|_, n| *n > 0);
    let iterations = runner.iterations.len();
    let stop = stop_reason(&runner.stop_reason, opts);
    loaded.egraph = runner.egraph;
    if let Some(e) = loaded.egraph.analysis.errors.first() {
        return Err(internal(&f.name, e.clone()));
    }
    let enodes = loaded.egraph.total_number_of_nodes();
    let eclasses = loaded.egraph.number_of_classes();
    let roots: Vec<egg::Id> = loaded.outputs.iter().map(|o| o.class).collect();
    let choice = extract::choose(&loaded.egraph, &roots, &f.name)?;
    let out = extract::rebuild(&loaded, &choice)?;
    verify_function(&out, &SpanMap::new())
        .map_err(|source| PassError::Verify { pass: PASS, source })?;
    let cost_after = function_cost(&out)?;
    let kept_input = cost_after.seconds() > cost_before.seconds() * (1.0 + 1e-9);
    let result = if kept_input { f.clone() } else { out };
    let report = EGraphReport {
        function: f.name.clone(),
        groups: {
            let mut g = opts.rule_groups.clone();
            g.sort_unstable();
            g.dedup();
            g.into_iter().map(|g| g.name()).collect()
        },
        rules_fired: fired.into_iter().collect(),
        enodes,
        eclasses,
        iterations,
        stop_reason: stop,
        time: start.elapsed(),
        search_time,
        cost_before,
        cost_after: if kept_input { cost_before } else { cost_after },
        nodes_before: f.node_count(),
        nodes_after: result.node_count(),
        fused_ops: count_fused(&result),
        cycles_broken: choice.pinned,
        extraction_switches: choice.improved,
        kept_input,
    };
    Ok((result, report))
}

/// Run [`optimize`] on the function `function` of `m` and replace it: the entry point for
/// a named `egraph` pass in the pipeline (run it on `forward` before autodiff with
/// [`EGraphOptions::forward`], and on `step` after the optimizer with
/// [`EGraphOptions::step`]).
pub fn optimize_module(
    m: &mut Module,
    function: &str,
    opts: &EGraphOptions,
) -> Result<EGraphReport, PassError> {
    let idx = m
        .functions
        .iter()
        .position(|f| f.name == function)
        .ok_or_else(|| PassError::NoSuchFunction {
            pass: PASS,
            func: function.to_string(),
            available: m
                .functions
                .iter()
                .map(|f| format!("@{}", f.name))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let (f, report) = optimize(&m.functions[idx], opts)?;
    m.functions[idx] = f;
    Ok(report)
}
