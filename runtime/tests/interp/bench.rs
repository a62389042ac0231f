//! Timing of a whole Llama-2-architecture forward pass with loss on the interpreter.
//! Ignored in the normal suite (seconds to minutes in release); run with
//! `cargo test --release -p llc-runtime --test interp bench -- --ignored --nocapture`
//! and pick the size with `LLC_BENCH_MODEL=15m|110m` (default 15m) and
//! `LLC_BENCH_BATCH` / `LLC_BENCH_SEQ`.

use llc_ir::{Builder, DType, Function, NodeId};
use llc_runtime::interp::{Precision, random_args, run_function};
use std::time::Instant;

/// Sizes of a Llama-2-architecture model.
struct Config {
    dim: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    ffn: usize,
    vocab: usize,
}

const STORIES_15M: Config = Config {
    dim: 288,
    layers: 6,
    heads: 6,
    kv_heads: 6,
    ffn: 768,
    vocab: 32000,
};

const LLAMA_110M: Config = Config {
    dim: 768,
    layers: 12,
    heads: 12,
    kv_heads: 12,
    ffn: 2048,
    vocab: 32000,
};

/// Forward pass and mean cross-entropy loss; weights are `[in, out]`, used as `x @ W`;
/// the classifier is the embedding table, transposed.
fn llama_forward(c: &Config, batch: usize, seq: usize) -> Function {
    let mut f = Function::new("forward");
    let mut b = Builder::new(&mut f);
    let (d, hd) = (c.dim, c.dim / c.heads);
    let kvd = c.kv_heads * hd;
    let tokens = b.input("tokens", DType::I32, &[batch, seq]).unwrap();
    let targets = b.input("targets", DType::I32, &[batch, seq]).unwrap();
    let emb = b.param("embed", DType::F32, &[c.vocab, d]).unwrap();
    let mut x = b.gather(emb, tokens).unwrap();
    let heads = |b: &mut Builder, t: NodeId, n: usize, rope: bool| -> NodeId {
        let t = b.reshape(t, &[batch, seq, n, hd]).unwrap();
        let t = if rope {
            b.rope(t, 10000.0, false).unwrap()
        } else {
            t
        };
        b.transpose(t, &[0, 2, 1, 3]).unwrap()
    };
    for l in 0..c.layers {
        b.push_scope(format!("layers.{l}"));
        let p = |b: &mut Builder, name: &str, shape: &[usize]| {
            b.param(&format!("layers.{l}.{name}"), DType::F32, shape)
                .unwrap()
        };
        let (g1, wq, wk, wv, wo) = (
            p(&mut b, "attn_norm", &[d]),
            p(&mut b, "wq", &[d, d]),
            p(&mut b, "wk", &[d, kvd]),
            p(&mut b, "wv", &[d, kvd]),
            p(&mut b, "wo", &[d, d]),
        );
        let (g2, w1, w3, w2) = (
            p(&mut b, "ffn_norm", &[d]),
            p(&mut b, "w1", &[d, c.ffn]),
            p(&mut b, "w3", &[d, c.ffn]),
            p(&mut b, "w2", &[c.ffn, d]),
        );
        let h = b.rms_norm(x, g1, 1e-5).unwrap();
        let q = b.matmul(h, wq).unwrap();
        let q = heads(&mut b, q, c.heads, true);
        let k = b.matmul(h, wk).unwrap();
        let k = heads(&mut b, k, c.kv_heads, true);
        let v = b.matmul(h, wv).unwrap();
        let v = heads(&mut b, v, c.kv_heads, false);
        let a = b
            .attention(q, k, v, 1.0 / (hd as f64).sqrt(), true)
            .unwrap();
        let a = b.transpose(a, &[0, 2, 1, 3]).unwrap();
        let a = b.reshape(a, &[batch, seq, d]).unwrap();
        let o = b.matmul(a, wo).unwrap();
        x = b.add(x, o).unwrap();
        let h = b.rms_norm(x, g2, 1e-5).unwrap();
        let u = b.matmul(h, w1).unwrap();
        let g = b.matmul(h, w3).unwrap();
        let s = b.swiglu(u, g).unwrap();
        let o = b.matmul(s, w2).unwrap();
        x = b.add(x, o).unwrap();
        b.pop_scope();
    }
    let gn = b.param("norm", DType::F32, &[d]).unwrap();
    let h = b.rms_norm(x, gn, 1e-5).unwrap();
    // the classifier shares the embedding table (as llama2.c's stories models do)
    let logits = b.matmul_t(h, emb, false, true).unwrap();
    let nll = b.cross_entropy(logits, targets).unwrap();
    let loss = b.mean(nll, &[0, 1], false).unwrap();
    b.output(loss);
    f
}

/// Peak resident memory of this process in MiB (Linux), for the report.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "benchmark: seconds to minutes, run in --release with --ignored"]
fn llama_forward_timing() {
    let model = std::env::var("LLC_BENCH_MODEL").unwrap_or_else(|_| "15m".into());
    let cfg = if model == "110m" {
        &LLAMA_110M
    } else {
        &STORIES_15M
    };
    let batch = env_usize("LLC_BENCH_BATCH", 8);
    let seq = env_usize("LLC_BENCH_SEQ", 256);
    let f = llama_forward(cfg, batch, seq);
    let args = random_args(&f, 1, cfg.vocab as i32, Precision::F32);
    let params: usize = args.iter().skip(2).map(|t| t.numel()).sum();
    let before = peak_rss_mib().unwrap_or(0.0);
    for run in 0..2 {
        let t0 = Instant::now();
        let out = run_function(&f, &args, Precision::F32).unwrap();
        let dt = t0.elapsed().as_secs_f64();
        let loss = out[0].to_f64_vec()[0];
        let flops = 2.0 * params as f64 * (batch * seq) as f64;
        println!(
            "{model} ({:.1}M params) batch {batch} x seq {seq}: run {run}: {dt:.3} s, loss {loss:.4}, ~{:.1} GFLOP/s (matmul flops only), threads {}",
            params as f64 / 1e6,
            flops / dt / 1e9,
            rayon::current_num_threads()
        );
        // random weights give a loss near ln(vocab)
        assert!((loss - (cfg.vocab as f64).ln()).abs() < 1.0, "loss {loss}");
    }
    if let Some(peak) = peak_rss_mib() {
        println!("peak RSS {peak:.0} MiB (args and setup {before:.0} MiB)");
    }
}
