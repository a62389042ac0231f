//! `llc-train model`: write a model's forward graph.

use crate::cli::ModelArgs;
use crate::fsutil::write_atomic;
use anyhow::Result;
use llc_models::{BuildOptions, ForwardOutput, LlamaConfig, build_forward};

pub fn run(a: ModelArgs) -> Result<()> {
    if a.list {
        for name in LlamaConfig::preset_names() {
            let cfg = LlamaConfig::preset(name)?;
            println!(
                "{name:<16} d={:<5} L={:<3} H={:<3} KV={:<3} ffn={:<6} vocab={:<6} params={}",
                cfg.dim,
                cfg.n_layers,
                cfg.n_heads,
                cfg.n_kv_heads,
                cfg.ffn_dim,
                cfg.vocab_size,
                llc_ir::human_count(cfg.param_count())
            );
        }
        return Ok(());
    }
    let cfg = super::load_config(&a.spec)?;
    let seq = a.seq.unwrap_or(cfg.max_seq_len.min(2048));
    let opts = BuildOptions {
        loss_mask: a.loss_mask,
        output: if a.logits {
            ForwardOutput::Logits
        } else {
            ForwardOutput::Loss
        },
        ..BuildOptions::new(a.batch, seq)
    };
    let module = build_forward(&cfg, &opts)?;
    let text = llc_ir::print_module(&module);
    match a.output {
        Some(path) => {
            write_atomic(&path, text.as_bytes())?;
            eprintln!(
                "wrote {} ({} params, {} nodes)",
                path.display(),
                llc_ir::human_count(cfg.param_count()),
                module.functions[0].node_count()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
