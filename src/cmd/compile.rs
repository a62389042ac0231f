//! `llc-train compile`: parse, verify and summarize (the pipeline grows here).

use crate::cli::CompileArgs;
use anyhow::Result;
use std::time::Instant;

pub fn run(a: CompileArgs) -> Result<()> {
    let t0 = Instant::now();
    let module = super::read_module(&a.input)?;
    let t_parse = t0.elapsed();
    if a.dump_after.as_deref() == Some("parse") {
        print!("{}", llc_ir::print_module(&module));
    }
    for f in &module.functions {
        let s = llc_ir::function_stats(f);
        println!("func @{}: {} nodes", f.name, s.nodes);
        println!(
            "  parameters: {} ({})",
            llc_ir::human_count(s.param_count),
            llc_ir::human_bytes(s.param_bytes)
        );
        println!("  FLOPs per call: {}", llc_ir::human_count(s.flops));
        let ops: Vec<String> = s
            .ops_by_kind
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("  ops: {}", ops.join(" "));
    }
    println!("parse + verify: {:.1} ms", t_parse.as_secs_f64() * 1e3);
    Ok(())
}
