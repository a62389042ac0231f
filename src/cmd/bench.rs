//! `llc-train bench`: measurements anyone can rerun, printed as tables. Timings on shared
//! machines are noisy: each row is the fastest of `--repeat` runs, and comparisons are
//! made as ratios within one run.

use super::compile::{egraph_options, optimizer_config};
use crate::cli::{BenchModelsArgs, EGraphArgs, OptimizerArgs};
use anyhow::Result;
use clap::Parser;
use llc_ir::{Module, human_count};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{AutodiffOptions, Pipeline, PipelineHooks};
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The fastest of `repeat` runs of `f`, with the last result.
fn best_of<T>(repeat: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed());
        last = Some(v);
    }
    Ok((best, last.expect("at least one run")))
}

fn forward(name: &str, batch: usize, seq: usize) -> Result<(LlamaConfig, Module)> {
    let cfg = LlamaConfig::preset(name)?;
    let seq = seq.min(cfg.max_seq_len);
    let m = build_forward(&cfg, &BuildOptions::new(batch, seq))?;
    Ok((cfg, m))
}

/// Forward graph round trip per model: build, print, parse + verify.
pub fn ir(a: BenchModelsArgs) -> Result<()> {
    println!(
        "{:<16} {:>9} {:>8} {:>9} {:>9} {:>9} {:>13} {:>10}",
        "model", "params", "nodes", "build ms", "print ms", "parse ms", "round trip ms", "text MiB"
    );
    for name in &a.models {
        let (tb, (cfg, m)) = best_of(a.repeat, || forward(name, a.batch, a.seq))?;
        let (tp, text) = best_of(a.repeat, || Ok(llc_ir::print_module(&m)))?;
        let (tr, parsed) = best_of(a.repeat, || Ok(llc_ir::parse_module(&text)?))?;
        anyhow::ensure!(
            llc_ir::print_module(&parsed) == text,
            "{name}: print(parse(text)) differs from text"
        );
        println!(
            "{:<16} {:>9} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>13.1} {:>10.2}",
            name,
            human_count(cfg.param_count()),
            m.functions[0].node_count(),
            ms(tb),
            ms(tp),
            ms(tr),
            ms(tb + tp + tr),
            text.len() as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}

/// Default optimizer and e-graph flags, as `compile` has them.
pub(super) fn default_flags() -> (OptimizerArgs, EGraphArgs) {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        optim: OptimizerArgs,
        #[command(flatten)]
        egraph: EGraphArgs,
    }
    let d = Defaults::parse_from(["defaults"]);
    (d.optim, d.egraph)
}

/// Time of each pass of the standard pipeline, per model.
pub fn compile(a: BenchModelsArgs) -> Result<()> {
    let (optim, egraph) = default_flags();
    let limits = egraph_options(&egraph, true);
    let pipeline = Pipeline::standard(
        AutodiffOptions::default(),
        optimizer_config(&optim)?,
        Some(&limits),
    );
    let names = pipeline.pass_names();
    print!("{:<16} {:>8} {:>8}", "model", "fwd", "step");
    for n in &names {
        print!(" {:>15}", format!("{n} ms"));
    }
    println!(" {:>9}", "total s");
    for name in &a.models {
        let (_, m) = forward(name, a.batch, a.seq)?;
        let fwd_nodes = m.functions[0].node_count();
        let (_, (reports, step_nodes)) = best_of(a.repeat, || {
            let mut m = m.clone();
            let r = pipeline.run(&mut m, &mut PipelineHooks::default())?;
            let nodes = m.function("step").map_or(0, |f| f.node_count());
            Ok((r, nodes))
        })?;
        print!("{:<16} {:>8} {:>8}", name, fwd_nodes, step_nodes);
        let mut total = Duration::ZERO;
        for r in &reports {
            print!(" {:>15.1}", ms(r.wall));
            total += r.wall;
        }
        println!(" {:>9.2}", total.as_secs_f64());
    }
    Ok(())
}
