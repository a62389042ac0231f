//! Times the e-graph optimizer on a Llama 2 training step and prints its reports.
//!
//! `cargo run --release -p llc-passes --example egraph_70b [preset] [batch] [seq]`
//! (default `llama2-70b 1 4096`). Builds the forward graph, runs the forward e-graph,
//! autodiff and the optimizer lowering, then the step e-graph, and prints the time of
//! each stage, both reports and what the step holds: fused ops, K/V head copies and fused
//! QKV projections.

use llc_ir::{DType, Function, Op};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::egraph::{EGraphOptions, function_cost, optimize};
use llc_passes::{OptimizerConfig, build_step, differentiate};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let preset = args.get(1).map_or("llama2-70b", |s| s.as_str());
    let batch: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let seq: usize = args.get(3).map_or(Ok(4096), |s| s.parse())?;
    let cfg = LlamaConfig::preset(preset)?;
    let mut opts = BuildOptions::new(batch, seq);
    opts.dtype = DType::BF16;

    let t = Instant::now();
    let m = build_forward(&cfg, &opts)?;
    let fwd = &m.functions[0];
    println!(
        "{preset}: forward built in {:.2?}, {} nodes",
        t.elapsed(),
        fwd.node_count()
    );

    let (fb0, _) = differentiate(fwd, "loss", "forward_backward")?;
    let (plain_step, _) = build_step(&fb0, &OptimizerConfig::default())?;
    let plain_cost = function_cost(&plain_step)?;

    let t = Instant::now();
    let (fwd_opt, r1) = optimize(fwd, &EGraphOptions::forward())?;
    let t_fwd = t.elapsed();
    println!("{r1}");

    let t = Instant::now();
    let (fb, _) = differentiate(&fwd_opt, "loss", "forward_backward")?;
    let (step, _) = build_step(&fb, &OptimizerConfig::default())?;
    println!(
        "autodiff + optimizer in {:.2?}, step has {} nodes",
        t.elapsed(),
        step.node_count()
    );

    let t = Instant::now();
    let (step_opt, r2) = optimize(&step, &EGraphOptions::step())?;
    let t_step = t.elapsed();
    println!("{r2}");
    println!(
        "e-graph time: forward {t_fwd:.2?} + step {t_step:.2?} = {:.2?}",
        t_fwd + t_step
    );

    let cost = function_cost(&step_opt)?;
    println!(
        "estimated step cost without the e-graph {:.1} GB, {:.1} ms; with it {:.1} GB, {:.1} ms: {:.2}x fewer bytes",
        plain_cost.bytes / 1e9,
        plain_cost.seconds() * 1e3,
        cost.bytes / 1e9,
        cost.seconds() * 1e3,
        plain_cost.bytes / cost.bytes
    );
    let kv_copies = kv_head_copies(&step_opt);
    let qkv = fused_qkv(&step_opt, &cfg);
    println!(
        "step: {} nodes, {kv_copies} K/V head copies, {qkv} fused QKV projections ({} layers)",
        step_opt.node_count(),
        cfg.n_layers
    );
    Ok(())
}

/// Broadcasts that repeat a head axis: `[B, KV, 1, T, hd] -> [B, KV, g, T, hd]`.
fn kv_head_copies(f: &Function) -> usize {
    f.node_ids()
        .filter(|&n| {
            matches!(f.node(n).op, Op::Broadcast) && {
                let src = &f.ty(f.operands(n)[0]).shape;
                let dst = &f.ty(n).shape;
                src.len() == 5 && src[2] == 1 && dst[2] > 1
            }
        })
        .count()
}

/// Forward matmuls whose weight is the concatenation of three weights of one layer.
fn fused_qkv(f: &Function, cfg: &LlamaConfig) -> usize {
    let width = (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim();
    f.node_ids()
        .filter(|&n| {
            let Op::MatMul { .. } = f.node(n).op else {
                return false;
            };
            let ops = f.operands(n);
            matches!(f.node(ops[1]).op, Op::Concat { .. })
                && f.operands(ops[1]).len() == 3
                && f.ty(n).shape.last() == Some(&width)
        })
        .count()
}
