//! What one e-graph run did, for `compile`'s summary: rules fired, e-graph size, why the
//! search stopped, time, estimated step cost before and after, and the fused ops in the
//! result.

use super::cost::Cost;
use llc_ir::{Function, Op};
use std::fmt;
use std::time::Duration;

/// The report of one [`optimize`](super::optimize) run.
#[derive(Clone, Debug, PartialEq)]
pub struct EGraphReport {
    /// The function optimized.
    pub function: String,
    /// Rule groups that ran.
    pub groups: Vec<&'static str>,
    /// Times each rule fired (unions that changed the e-graph), by name, sorted by name;
    /// rules that never fired are left out.
    pub rules_fired: Vec<(String, usize)>,
    /// Size of the e-graph when the search stopped.
    pub enodes: usize,
    /// E-classes when the search stopped.
    pub eclasses: usize,
    /// Rewrite iterations run.
    pub iterations: usize,
    /// Why the search stopped (saturated, or which limit it hit).
    pub stop_reason: String,
    /// Wall time of the whole pass (load, search, extraction, rebuild).
    pub time: Duration,
    /// Wall time of the rewrite search alone.
    pub search_time: Duration,
    /// Estimated cost of the function before and after.
    pub cost_before: Cost,
    /// Estimated cost of the result.
    pub cost_after: Cost,
    /// Node counts before and after.
    pub nodes_before: usize,
    /// Nodes in the result.
    pub nodes_after: usize,
    /// Count of each fused op in the result, by op name (ops with count 0 left out).
    pub fused_ops: Vec<(&'static str, usize)>,
    /// E-classes pinned to a non-optimal node to keep the extracted graph acyclic.
    pub cycles_broken: usize,
    /// Choices the extraction's local search changed after the amortized estimate.
    pub extraction_switches: usize,
    /// The extracted function was estimated to cost more than the input, so the input
    /// was kept unchanged.
    pub kept_input: bool,
}

impl EGraphReport {
    /// How many times the named rule fired.
    pub fn fired(&self, rule: &str) -> usize {
        self.rules_fired
            .iter()
            .find(|(n, _)| n == rule)
            .map_or(0, |(_, c)| *c)
    }

    /// How many ops of the named fused kind the result holds.
    pub fn fused(&self, op: &str) -> usize {
        self.fused_ops
            .iter()
            .find(|(n, _)| *n == op)
            .map_or(0, |(_, c)| *c)
    }

    /// Estimated speedup in bytes moved: before / after.
    pub fn bytes_factor(&self) -> f64 {
        self.cost_before.bytes / self.cost_after.bytes.max(1.0)
    }
}

/// Count the fused ops of a function by name, in op-name order.
pub fn count_fused(f: &Function) -> Vec<(&'static str, usize)> {
    let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for n in f.node_ids() {
        let op: &Op = &f.node(n).op;
        if op.is_fused() {
            *counts.entry(op.name()).or_insert(0) += 1;
        }
    }
    counts.into_iter().collect()
}

fn gb(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.2} MB", bytes / 1e6)
    } else {
        format!("{:.1} kB", bytes / 1e3)
    }
}

fn ms(s: f64) -> String {
    if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.3} us", s * 1e6)
    }
}

impl fmt::Display for EGraphReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "egraph @{} [{}]: {} iterations, {} e-nodes, {} e-classes, stopped: {}, {:.2?} (search {:.2?})",
            self.function,
            self.groups.join(","),
            self.iterations,
            self.enodes,
            self.eclasses,
            self.stop_reason,
            self.time,
            self.search_time
        )?;
        writeln!(
            f,
            "  nodes {} -> {}; est. cost {} -> {} moved ({:.2}x), {} -> {} on H100",
            self.nodes_before,
            self.nodes_after,
            gb(self.cost_before.bytes),
            gb(self.cost_after.bytes),
            self.bytes_factor(),
            ms(self.cost_before.seconds()),
            ms(self.cost_after.seconds()),
        )?;
        if self.kept_input {
            writeln!(f, "  result estimated slower than the input: input kept")?;
        }
        writeln!(
            f,
            "  extraction: {} choices improved by local search, {} changed to stay acyclic",
            self.extraction_switches, self.cycles_broken
        )?;
        let rules: Vec<String> = self
            .rules_fired
            .iter()
            .map(|(n, c)| format!("{n} x{c}"))
            .collect();
        writeln!(
            f,
            "  rules: {}",
            if rules.is_empty() {
                "none".to_string()
            } else {
                rules.join(", ")
            }
        )?;
        let fused: Vec<String> = self
            .fused_ops
            .iter()
            .map(|(n, c)| format!("{n} x{c}"))
            .collect();
        write!(
            f,
            "  fused ops: {}",
            if fused.is_empty() {
                "none".to_string()
            } else {
                fused.join(", ")
            }
        )
    }
}
