//! Times building the llama2-7b training step: forward graph, autodiff, optimizer
//! lowering. Run in release: `cargo run --release -p llc-passes --example step_compile_time
//! [-- PRESET [BATCH SEQ]]`. The budget is 10 s for 7B on a 2-core machine.

use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{AutodiffOptions, OptimizerConfig, Pipeline, PipelineHooks};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map(String::as_str).unwrap_or("llama2-7b");
    let batch = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let seq = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4096);
    let cfg = LlamaConfig::preset(preset)?;

    let start = Instant::now();
    let mut module = build_forward(&cfg, &BuildOptions::new(batch, seq))?;
    let build = start.elapsed();
    let forward_nodes = module.functions[0].node_count();

    let pipeline = Pipeline::training(AutodiffOptions::default(), OptimizerConfig::default());
    let mut hooks = PipelineHooks {
        verify: false,
        ..Default::default()
    };
    let passes_start = Instant::now();
    let reports = pipeline.run(&mut module, &mut hooks)?;
    let passes = passes_start.elapsed();

    println!("{preset} batch {batch} seq {seq}");
    println!("forward build: {build:.2?}, {forward_nodes} nodes");
    for r in &reports {
        println!(
            "{:>10}: {:>9.2?}  nodes {} -> {}  {:?}",
            r.pass, r.wall, r.nodes_before, r.nodes_after, r.counters
        );
    }
    println!("autodiff + optimizer: {passes:.2?}");
    println!("total (build + passes): {:.2?}", start.elapsed());
    Ok(())
}
