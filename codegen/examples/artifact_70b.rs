//! Build a full artifact (plan.json, kernels.ptx, kernels.ir, step.ir, report.txt) for a
//! Llama preset through the whole pipeline, printing the time of every stage.
//!
//! ```text
//! cargo run --release -p llc-codegen --example artifact_70b -- [preset] [batch] [seq] [out]
//! ```
//! Defaults: `llama2-70b`, batch 1, sequence 4096, `target/artifact-<preset>`.

use llc_codegen::{ArtifactOptions, build_artifact};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, optimize};
use llc_passes::{OptimizerConfig, build_step, differentiate};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let preset = args.get(1).map_or("llama2-70b", String::as_str);
    let batch: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let seq: usize = args.get(3).map_or(Ok(4096), |s| s.parse())?;
    let out = args.get(4).map_or_else(
        || PathBuf::from(format!("target/artifact-{preset}")),
        PathBuf::from,
    );
    let cfg = LlamaConfig::preset(preset)?;
    let total = Instant::now();
    let mut stage = Instant::now();
    let mut lap = |what: &str| {
        println!("{what:<18} {:>9.2} s", stage.elapsed().as_secs_f64());
        stage = Instant::now();
    };
    let m = build_forward(&cfg, &BuildOptions::new(batch, seq))?;
    let fwd = m.function("forward").ok_or("no forward function")?;
    lap("build forward");
    let (fwd, _) = optimize(fwd, &EGraphOptions::forward())?;
    lap("e-graph forward");
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward")?;
    lap("autodiff");
    let (step, _) = build_step(&fb, &OptimizerConfig::default())?;
    lap("optimizer");
    let (step, _) = optimize(&step, &EGraphOptions::step())?;
    lap("e-graph step");
    let report = build_artifact(&step, &ArtifactOptions::default(), &out)?;
    for (what, d) in &report.timings {
        println!("  {what:<16} {:>9.2} s", d.as_secs_f64());
    }
    lap("artifact");
    println!(
        "total              {:>9.2} s  ({} nodes in the step)",
        total.elapsed().as_secs_f64(),
        step.node_count()
    );
    println!(
        "{} distinct kernels ({} PTX entries), {} kernel steps, {} GEMMs -> {}",
        report.counts.distinct_kernels,
        report.ptx_entries,
        report.counts.launches,
        report.counts.gemms,
        report.dir.display()
    );
    print!("{}", report.text);
    Ok(())
}
