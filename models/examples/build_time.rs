//! Times building and verifying a forward graph (default: Llama 2 70B, batch 1, seq 4096).
//! Run in release: `cargo run -p llc-models --release --example build_time [preset] [batch] [seq]`.

use llc_ir::verify_module;
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map(String::as_str).unwrap_or("llama2-70b");
    let cfg = LlamaConfig::preset(preset)?;
    let batch = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let seq = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(cfg.max_seq_len);
    let opts = BuildOptions::new(batch, seq);

    let t0 = Instant::now();
    let module = build_forward(&cfg, &opts)?;
    let built = t0.elapsed();
    let t1 = Instant::now();
    verify_module(&module)?;
    let verified = t1.elapsed();

    let f = module.function("forward").ok_or("no forward function")?;
    println!(
        "{preset} (batch {batch}, seq {seq}): {} params, {} nodes; build {:.1} ms, verify {:.1} ms",
        cfg.param_count(),
        f.node_count(),
        built.as_secs_f64() * 1e3,
        verified.as_secs_f64() * 1e3
    );
    Ok(())
}
