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

    // Several rounds, reporting the fastest and the median: the machine may be busy.
    const ROUNDS: usize = 5;
    let mut build_ms = Vec::with_capacity(ROUNDS);
    let mut verify_ms = Vec::with_capacity(ROUNDS);
    let mut nodes = 0;
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        let module = build_forward(&cfg, &opts)?;
        build_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let t1 = Instant::now();
        verify_module(&module)?;
        verify_ms.push(t1.elapsed().as_secs_f64() * 1e3);
        nodes = module
            .function("forward")
            .ok_or("no forward function")?
            .node_count();
    }
    build_ms.sort_by(f64::total_cmp);
    verify_ms.sort_by(f64::total_cmp);
    println!(
        "{preset} (batch {batch}, seq {seq}): {} params, {nodes} nodes; \
         build {:.1} ms (median {:.1}), verify {:.1} ms (median {:.1}) over {ROUNDS} rounds",
        cfg.param_count(),
        build_ms[0],
        build_ms[ROUNDS / 2],
        verify_ms[0],
        verify_ms[ROUNDS / 2],
    );
    Ok(())
}
