//! Scheduling and memory planning: one device arena holding, in order, the parameters,
//! the optimizer state and the data inputs (persistent regions, each argument at a fixed
//! offset, packed blocks back to back) and the activation region, where every computed
//! buffer gets an offset from its lifetime under the chosen step order, so buffers that
//! are never alive at the same time share bytes. Allocations start at multiples of
//! [`llc_ir::plan::PLAN_ALIGNMENT`].
//!
//! Two orders are planned, the builder order and a greedy order that frees memory early
//! ([`Schedule`]); `Auto` keeps the one with the smaller activation region, so the
//! result is never worse than the builder order.

mod assign;
mod schedule;
mod to_plan;

pub use to_plan::{KernelCode, PlanTarget, assemble_plan};

use crate::error::{PassError, Result};
use crate::partition::{Layout, Program, ValueKind, step_predecessors};
use llc_ir::ArgRole;
use llc_ir::plan::{PLAN_ALIGNMENT, Region, RegionKind};

/// Which step order to plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Schedule {
    /// The program's order.
    Builder,
    /// Memory-aware list scheduling.
    Greedy,
    /// Plan both, keep the smaller.
    #[default]
    Auto,
}

/// Options of [`plan_memory`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemPlanOptions {
    /// Which step order to plan.
    pub schedule: Schedule,
    /// Alignment of every allocation, in bytes.
    pub alignment: u64,
}

impl Default for MemPlanOptions {
    fn default() -> Self {
        MemPlanOptions {
            schedule: Schedule::Auto,
            alignment: PLAN_ALIGNMENT,
        }
    }
}

/// Memory by category, for reports and the "below the sum of intermediates" claim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// Size of the parameter region.
    pub param_bytes: u64,
    /// Size of the optimizer-state region.
    pub state_bytes: u64,
    /// Size of the data-input region.
    pub input_bytes: u64,
    /// Size of the activation region: the plan's peak activation memory.
    pub activation_bytes: u64,
    /// Most bytes of activations alive at one step under the chosen order (a lower
    /// bound for any offset assignment of that order).
    pub live_peak_bytes: u64,
    /// Sum of every activation buffer's size, as if none shared memory.
    pub intermediate_sum_bytes: u64,
    /// Activation region size of the builder order (`None` when not planned).
    pub builder_activation_bytes: Option<u64>,
    /// Activation region size of the greedy order (`None` when not planned).
    pub greedy_activation_bytes: Option<u64>,
    /// The order kept: `builder` or `greedy`.
    pub schedule: &'static str,
}

impl MemoryReport {
    /// How many times smaller the activation region is than the sum of intermediates.
    pub fn reuse_factor(&self) -> f64 {
        self.intermediate_sum_bytes as f64 / self.activation_bytes.max(1) as f64
    }
}

/// A program's memory plan.
#[derive(Clone, Debug)]
pub struct MemoryPlan {
    /// Program step indices in execution order.
    pub order: Vec<usize>,
    /// Absolute arena offset of every value.
    pub value_offsets: Vec<u64>,
    /// Regions in address order.
    pub regions: Vec<Region>,
    /// Size of the arena.
    pub arena_bytes: u64,
    /// Alignment of every allocation.
    pub alignment: u64,
    /// Sizes by region and the reuse numbers.
    pub report: MemoryReport,
}

const PASS: &str = "memplan";

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Plan `p`'s memory (see the module docs).
pub fn plan_memory(p: &Program, opts: &MemPlanOptions) -> Result<MemoryPlan> {
    let fail = |msg: String| PassError::Lowering {
        pass: PASS,
        func: p.func.name.clone(),
        msg,
    };
    if opts.alignment == 0 || !opts.alignment.is_power_of_two() {
        return Err(fail(format!(
            "alignment must be a power of two, got {}",
            opts.alignment
        )));
    }
    let layout = Layout::new(p);
    let uses = schedule::PlaceUse::new(p, &layout);
    let bytes: Vec<u64> = layout.places.iter().map(|pl| pl.bytes as u64).collect();

    // ---- persistent regions ----
    let role_of_place = |pl: usize| -> Result<Option<ArgRole>> {
        let roles: Vec<Option<ArgRole>> = layout.places[pl]
            .members
            .iter()
            .map(|&(r, _, _)| match p.values[r].kind {
                ValueKind::Arg(role) => Some(role),
                _ => None,
            })
            .collect();
        if roles.windows(2).any(|w| w[0] != w[1]) {
            return Err(fail(format!(
                "the block starting at %{} mixes arguments of different roles or computed values",
                p.values[layout.places[pl].members[0].0].name
            )));
        }
        Ok(roles[0])
    };
    let mut place_offset: Vec<Option<u64>> = vec![None; layout.places.len()];
    let mut regions = Vec::new();
    let mut cursor = 0u64;
    let mut report = MemoryReport::default();
    for role in [ArgRole::Param, ArgRole::State, ArgRole::Input] {
        let start = cursor;
        // Places in the order of their first argument.
        let mut seen = vec![false; layout.places.len()];
        for &a in &p.args {
            let (pl, _, _) = layout.loc(p, a);
            if seen[pl] || !matches!(p.values[a].kind, ValueKind::Arg(r) if r == role) {
                continue;
            }
            seen[pl] = true;
            if role_of_place(pl)? != Some(role) {
                return Err(fail(format!(
                    "argument %{} shares a block with values outside the {} region",
                    p.values[a].name,
                    role.name()
                )));
            }
            cursor = align(cursor, opts.alignment);
            place_offset[pl] = Some(cursor);
            cursor += bytes[pl];
        }
        cursor = align(cursor, opts.alignment);
        let size = cursor - start;
        regions.push(Region {
            kind: RegionKind::of_role(role),
            offset: start,
            bytes: size,
        });
        match role {
            ArgRole::Param => report.param_bytes = size,
            ArgRole::State => report.state_bytes = size,
            ArgRole::Input => report.input_bytes = size,
        }
    }

    // ---- order and activations ----
    let preds = step_predecessors(p, &layout);
    let builder: Vec<usize> = (0..p.steps.len()).collect();
    let plan_order = |order: &[usize]| {
        let life = assign::lifetimes(&uses, order);
        let (offsets, size) = assign::assign_offsets(&life, &bytes, opts.alignment);
        (life, offsets, size)
    };
    let mut candidates = Vec::new();
    if opts.schedule != Schedule::Greedy {
        let r = plan_order(&builder);
        report.builder_activation_bytes = Some(r.2);
        candidates.push(("builder", builder.clone(), r));
    }
    if opts.schedule != Schedule::Builder {
        let greedy = schedule::greedy_order(p, &layout, &uses, &preds);
        let r = plan_order(&greedy);
        report.greedy_activation_bytes = Some(r.2);
        candidates.push(("greedy", greedy, r));
    }
    let (name, order, (life, act_offsets, act_size)) = candidates
        .into_iter()
        .min_by_key(|(_, _, r)| r.2)
        .expect("at least one order is planned");
    report.schedule = name;
    report.activation_bytes = act_size;
    report.live_peak_bytes = assign::live_peak(&life, &bytes, order.len());
    report.intermediate_sum_bytes = (0..layout.places.len())
        .filter(|&pl| uses.activation[pl] && life[pl].is_some())
        .map(|pl| bytes[pl])
        .sum();
    let act_start = cursor;
    regions.push(Region {
        kind: RegionKind::Activation,
        offset: act_start,
        bytes: act_size,
    });
    for (pl, off) in act_offsets.iter().enumerate() {
        if let Some(off) = off {
            place_offset[pl] = Some(act_start + off);
        }
    }
    // Places nothing touches (a computed value no step reads or writes) get none; any
    // value in them would be a bug.
    let value_offsets = (0..p.values.len())
        .map(|v| {
            let (pl, start, _) = layout.loc(p, v);
            place_offset[pl].map(|o| o + start as u64).ok_or_else(|| {
                fail(format!(
                    "value %{} has no place in the arena",
                    p.values[v].name
                ))
            })
        })
        .collect::<Result<Vec<u64>>>()?;
    Ok(MemoryPlan {
        order,
        value_offsets,
        regions,
        arena_bytes: act_start + act_size,
        alignment: opts.alignment,
        report,
    })
}
