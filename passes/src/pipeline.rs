//! The pass pipeline: a linear list of named passes over a [`Module`]. After each pass
//! the verifier runs (by default in debug builds), a report records the pass's wall time
//! and node counts, and the module can be handed to a hook (`--dump-after PASS`).

use crate::autodiff::{AutodiffOptions, autodiff};
use crate::data_parallel::{DataParallelOptions, data_parallel};
use crate::egraph::{EGraphOptions, optimize_module};
use crate::error::{PassError, Result};
use crate::optimizer::{OptimizerConfig, lower_optimizer};
use crate::precision::{Precision, apply_precision};
use llc_ir::{Module, print_module, verify_module};
use std::time::{Duration, Instant};

/// One pass with its options. A closed set: the pipeline is data, printable by name.
#[derive(Clone, Debug, PartialEq)]
pub enum Pass {
    /// Reverse-mode differentiation of the loss (see [`crate::autodiff`]).
    Autodiff(AutodiffOptions),
    /// The gradients (and the loss) averaged over the data-parallel ranks by bucketed
    /// `all_reduce`s (see [`crate::data_parallel`]); between autodiff and the optimizer.
    DataParallel(DataParallelOptions),
    /// Clipping, AdamW and the LR schedule as IR (see [`crate::optimizer`]).
    Optimizer(OptimizerConfig),
    /// Equality saturation on the forward graph (fusion, GQA, layout, algebra), before
    /// autodiff, so the VJPs of fused ops give fused backward ops.
    EGraphForward(EGraphOptions),
    /// The precision policy on the forward graph (see [`crate::precision`]): casts
    /// around every GEMM, after fusion and before autodiff.
    Precision(Precision),
    /// Equality saturation on the step graph (horizontal fusion, layout, algebra), after
    /// the optimizer, so fused projections' weight gradients are fused too.
    EGraphStep(EGraphOptions),
    /// Remove values no result depends on, in every function.
    Dce,
}

/// What one pass did, for `compile`'s summary.
#[derive(Clone, Debug, PartialEq)]
pub struct PassReport {
    /// The pass's name.
    pub pass: &'static str,
    /// Wall time of the pass itself (the verifier and hooks are not counted).
    pub wall: Duration,
    /// Nodes in the module before the pass.
    pub nodes_before: usize,
    /// Nodes in the module after the pass.
    pub nodes_after: usize,
    /// Pass-specific counters (`("grads", 9)`, `("removed", 12)` ...).
    pub counters: Vec<(&'static str, usize)>,
    /// A multi-line report for passes that have more to say (the e-graph runs).
    pub detail: Option<String>,
}

fn module_nodes(m: &Module) -> usize {
    m.functions.iter().map(|f| f.node_count()).sum()
}

impl Pass {
    /// The name `--dump-after` and reports use.
    pub fn name(&self) -> &'static str {
        match self {
            Pass::Autodiff(_) => "autodiff",
            Pass::DataParallel(_) => "data-parallel",
            Pass::Optimizer(_) => "optimizer",
            Pass::EGraphForward(_) => "egraph-forward",
            Pass::Precision(_) => "precision",
            Pass::EGraphStep(_) => "egraph-step",
            Pass::Dce => "dce",
        }
    }

    /// Run the pass on `m`.
    pub fn run(&self, m: &mut Module) -> Result<PassReport> {
        let nodes_before = module_nodes(m);
        let start = Instant::now();
        let mut detail = None;
        let counters = match self {
            Pass::Autodiff(opts) => {
                let s = autodiff(m, opts)?;
                vec![
                    ("grads", s.grads),
                    ("zero_grads", s.zero_grads),
                    ("removed_dead", s.removed_dead),
                ]
            }
            Pass::DataParallel(opts) => {
                let s = data_parallel(m, opts)?;
                vec![
                    ("reduced", s.reduced),
                    ("buckets", s.buckets),
                    ("bytes", s.bytes),
                ]
            }
            Pass::Optimizer(cfg) => {
                let s = lower_optimizer(m, cfg)?;
                vec![("params", s.params), ("decayed", s.decayed)]
            }
            Pass::EGraphForward(opts) | Pass::EGraphStep(opts) => {
                let function = match self {
                    Pass::EGraphForward(_) => "forward",
                    _ => "step",
                };
                let r = optimize_module(m, function, opts)?;
                detail = Some(r.to_string());
                vec![("e-nodes", r.enodes), ("iterations", r.iterations)]
            }
            Pass::Precision(p) => {
                let s = apply_precision(m, "forward", *p)?;
                vec![
                    ("matmuls", s.matmuls),
                    ("attentions", s.attentions),
                    ("casts", s.casts),
                ]
            }
            Pass::Dce => {
                let removed = m.functions.iter_mut().map(|f| f.remove_dead()).sum();
                vec![("removed", removed)]
            }
        };
        Ok(PassReport {
            pass: self.name(),
            wall: start.elapsed(),
            nodes_before,
            nodes_after: module_nodes(m),
            counters,
            detail,
        })
    }
}

/// Receives a pass name and the module right after that pass.
pub type DumpHook<'a> = Box<dyn FnMut(&str, &Module) + 'a>;

/// The name under which `--dump-after` shows a pipeline's input, before any pass.
pub const PARSE: &str = "parse";

/// Callbacks and checks around a pipeline run.
pub struct PipelineHooks<'a> {
    /// Call `on_dump` with the module after the pass of this name ([`PARSE`]: before
    /// the first pass).
    pub dump_after: Option<String>,
    /// Receives the pass name and the module after it (the CLI prints it with
    /// `llc_ir::print_module`; [`Pipeline::run_and_dump`] returns that text).
    pub on_dump: Option<DumpHook<'a>>,
    /// Run the verifier after every pass (default: in debug builds).
    pub verify: bool,
}

impl Default for PipelineHooks<'_> {
    fn default() -> Self {
        PipelineHooks {
            dump_after: None,
            on_dump: None,
            verify: cfg!(debug_assertions),
        }
    }
}

/// A linear list of passes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    /// The passes, run first to last.
    pub passes: Vec<Pass>,
}

impl Pipeline {
    /// The training-step pipeline: differentiate, then lower the optimizer.
    pub fn training(autodiff: AutodiffOptions, optimizer: OptimizerConfig) -> Self {
        Pipeline {
            passes: vec![Pass::Autodiff(autodiff), Pass::Optimizer(optimizer)],
        }
    }

    /// The compiler's standard pipeline: e-graph fusion on the forward graph, autodiff,
    /// the optimizer, then e-graph horizontal/layout rewrites on the step. `egraph: None`
    /// leaves the e-graph out (`--no-egraph`). Limits from `limits` (iterations, nodes,
    /// time) apply to both e-graph runs.
    pub fn standard(
        autodiff: AutodiffOptions,
        optimizer: OptimizerConfig,
        egraph: Option<&EGraphOptions>,
    ) -> Self {
        let mut passes = Vec::new();
        let with_limits = |groups: EGraphOptions, limits: &EGraphOptions| EGraphOptions {
            rule_groups: groups.rule_groups,
            ..limits.clone()
        };
        if let Some(limits) = egraph {
            passes.push(Pass::EGraphForward(with_limits(
                EGraphOptions::forward(),
                limits,
            )));
        }
        passes.push(Pass::Autodiff(autodiff));
        passes.push(Pass::Optimizer(optimizer));
        if let Some(limits) = egraph {
            passes.push(Pass::EGraphStep(with_limits(EGraphOptions::step(), limits)));
        }
        Pipeline { passes }
    }

    /// The same pipeline with the data-parallel pass right after autodiff (before the
    /// optimizer, so clipping and AdamW see averaged gradients). `world_size = 1` adds
    /// nothing: on one rank the pipeline is unchanged.
    pub fn with_data_parallel(mut self, opts: DataParallelOptions) -> Self {
        if opts.world_size > 1 {
            let at = self
                .passes
                .iter()
                .position(|p| matches!(p, Pass::Autodiff(_)))
                .map_or(0, |i| i + 1);
            self.passes.insert(at, Pass::DataParallel(opts));
        }
        self
    }

    /// The same pipeline computing in `precision`: for anything but f32, the
    /// [`Pass::Precision`] pass goes right before autodiff (after the forward e-graph).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        if precision != Precision::F32 {
            let at = self
                .passes
                .iter()
                .position(|p| matches!(p, Pass::Autodiff(_)))
                .unwrap_or(0);
            self.passes.insert(at, Pass::Precision(precision));
        }
        self
    }

    /// Names of the passes in order.
    pub fn pass_names(&self) -> Vec<&'static str> {
        self.passes.iter().map(Pass::name).collect()
    }

    /// The names `dump_after` accepts: [`PARSE`], then the passes in order.
    pub fn dump_names(&self) -> Vec<&'static str> {
        std::iter::once(PARSE).chain(self.pass_names()).collect()
    }

    /// Run every pass in order; see [`PipelineHooks`].
    pub fn run(&self, m: &mut Module, hooks: &mut PipelineHooks<'_>) -> Result<Vec<PassReport>> {
        if let Some(name) = &hooks.dump_after
            && !self.dump_names().contains(&name.as_str())
        {
            return Err(PassError::UnknownPass {
                name: name.clone(),
                available: self.dump_names().join(", "),
            });
        }
        if hooks.dump_after.as_deref() == Some(PARSE)
            && let Some(cb) = hooks.on_dump.as_mut()
        {
            cb(PARSE, m);
        }
        let mut reports = Vec::with_capacity(self.passes.len());
        for pass in &self.passes {
            let report = pass.run(m)?;
            if hooks.verify {
                verify_module(m).map_err(|source| PassError::Verify {
                    pass: pass.name(),
                    source,
                })?;
            }
            if hooks.dump_after.as_deref() == Some(pass.name())
                && let Some(cb) = hooks.on_dump.as_mut()
            {
                cb(pass.name(), m);
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Run every pass (verifying in debug builds) and return the module's text right
    /// after the pass named `dump_after` (`--dump-after PASS`).
    pub fn run_and_dump(
        &self,
        m: &mut Module,
        dump_after: &str,
    ) -> Result<(Vec<PassReport>, String)> {
        let mut text = String::new();
        let reports = {
            let mut hooks = PipelineHooks {
                dump_after: Some(dump_after.to_string()),
                on_dump: Some(Box::new(|_: &str, m: &Module| text = print_module(m))),
                ..Default::default()
            };
            self.run(m, &mut hooks)?
        };
        Ok((reports, text))
    }
}
