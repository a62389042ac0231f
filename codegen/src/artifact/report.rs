//! `report.txt`: what the artifact holds, its memory, FLOPs and pass timings, for people.

use crate::target::Target;
use llc_ir::Function;
use llc_ir::plan::{KernelClass, Plan, Step};
use llc_passes::memplan::MemoryReport;
use llc_passes::partition::Program;
use std::fmt::Write as _;
use std::time::Duration;

/// Bytes in binary units, for reports.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

pub(super) fn report_text(
    step: &Function,
    target: Target,
    program: &Program,
    plan: &Plan,
    ptx_entries: usize,
    memory: &MemoryReport,
    timings: &[(&'static str, Duration)],
) -> String {
    let c = program.counts();
    let s = &plan.stats;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "llc-train artifact: @{} for {target} (plan schema v{})",
        step.name, plan.schema_version
    );
    let _ = writeln!(t, "\n[kernels]");
    let _ = writeln!(
        t,
        "distinct kernels: {} ({ptx_entries} PTX entries)",
        c.distinct_kernels
    );
    let by_class: Vec<String> = plan_class_counts(plan)
        .into_iter()
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
    let _ = writeln!(
        t,
        "kernel steps: {} ({}), GPU launches: {}",
        s.kernel_steps,
        by_class.join(", "),
        s.launches
    );
    let _ = writeln!(t, "GEMMs: {}", s.gemms);
    let _ = writeln!(
        t,
        "data movement steps (transpose, strided copy, gather, scatter-add): {}",
        s.moves
    );
    let _ = writeln!(t, "views (free): {}", c.views);
    let _ = writeln!(t, "copies: {}", c.copies);
    let _ = writeln!(t, "\n[memory] arena {}", human_bytes(plan.arena_bytes));
    for r in &plan.regions {
        let _ = writeln!(
            t,
            "{:<11} {:>12} at offset {}",
            r.kind.name(),
            human_bytes(r.bytes),
            r.offset
        );
    }
    let _ = writeln!(
        t,
        "activation peak {} vs sum of all intermediates {}: {:.2}x smaller",
        human_bytes(memory.activation_bytes),
        human_bytes(memory.intermediate_sum_bytes),
        memory.reuse_factor()
    );
    let _ = writeln!(
        t,
        "live peak under this order (lower bound): {}",
        human_bytes(memory.live_peak_bytes)
    );
    let _ = writeln!(
        t,
        "schedule: {} (builder order {}, greedy order {})",
        memory.schedule,
        memory
            .builder_activation_bytes
            .map_or("-".into(), human_bytes),
        memory
            .greedy_activation_bytes
            .map_or("-".into(), human_bytes)
    );
    let _ = writeln!(t, "\n[per step]");
    let _ = writeln!(t, "FLOPs: {:.3e}", s.flops as f64);
    let _ = writeln!(t, "bytes read+written: {}", human_bytes(s.bytes_moved));
    let _ = writeln!(t, "\n[timings]");
    for (stage, d) in timings {
        let _ = writeln!(t, "{stage:<15} {:>10.1} ms", d.as_secs_f64() * 1e3);
    }
    t
}

fn plan_class_counts(plan: &Plan) -> Vec<(KernelClass, usize)> {
    let mut v: Vec<(KernelClass, usize)> = Vec::new();
    for s in &plan.steps {
        if let Step::Kernel(k) = s {
            let class = plan.kernel(&k.kernel).map(|d| d.class);
            if let Some(class) = class {
                match v.iter_mut().find(|(c, _)| *c == class) {
                    Some((_, n)) => *n += 1,
                    None => v.push((class, 1)),
                }
            }
        }
    }
    v.sort();
    v
}
