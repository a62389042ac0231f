//! The text forms of the back half's non-IR stages for `--dump-after`: each reads like
//! the artifact file it becomes, with `#` comments (the IR text format's) between parts.

use llc_ir::{Module, print_function, print_module};
use llc_passes::memplan::MemoryPlan;
use llc_passes::partition::Program;
use std::fmt::Write as _;

/// After `partition`: the distinct kernels (`kernels.ir`), then the partitioned step
/// (`step.ir`).
pub(super) fn program(p: &Program) -> String {
    let kernels = print_module(&Module {
        functions: p.kernels.iter().map(|k| k.func.clone()).collect(),
    });
    let c = p.counts();
    format!(
        "# kernels.ir: {} distinct kernels, {} kernel steps, {} GEMMs, {} views\n{kernels}\n# step.ir\n{}",
        c.distinct_kernels,
        c.launches,
        c.gemms,
        c.views,
        print_function(&p.func)
    )
}

/// After `memory-plan`: the regions, every value's arena offset, and the step order.
pub(super) fn memory(p: &Program, mp: &MemoryPlan) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# arena {} bytes, alignment {}, schedule {}",
        mp.arena_bytes, mp.alignment, mp.report.schedule
    );
    let _ = writeln!(t, "# regions: kind offset bytes");
    for r in &mp.regions {
        let _ = writeln!(t, "{:<11} {:>12} {:>12}", r.kind.name(), r.offset, r.bytes);
    }
    let _ = writeln!(t, "# values: offset bytes name type");
    for (v, off) in p.values.iter().zip(&mp.value_offsets) {
        let _ = writeln!(
            t,
            "{off:>12} {:>12} %{} : {}",
            v.ty.size_bytes(),
            v.name,
            v.ty
        );
    }
    let order: Vec<String> = mp.order.iter().map(|i| i.to_string()).collect();
    let _ = writeln!(
        t,
        "# step order (program step indices)\n{}",
        order.join(" ")
    );
    t
}
