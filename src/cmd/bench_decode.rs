//! `llc-train bench decode`: KV-cache decoding on this CPU. For each model: prefill
//! tokens/s, decode tokens/s at each batch size, the cache's bytes, and — measured in the
//! same run on the same weights — the hand-written C decoder `scripts/decode_reference.c`
//! (f32, OpenMP, the same thread count) at batch 1, with the ratio.

use super::decoder::{DecodeBackend, DecoderShape, build_decoder};
use super::model_dir::load_model_dir;
use anyhow::{Context, Result, bail};
use clap::Args;
use llc_models::LlamaConfig;
use llc_runtime::{Precision, init};
use llc_trainer::checkpoint::{NamedTensor, to_hf, write_safetensors};
use llc_trainer::generate::{KvModel, argmax};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Decoding speed: prefill and decode tokens/s at batch 1 and 16 against hand-written C.
#[derive(Args, Debug)]
pub struct BenchDecodeArgs {
    /// Measure this checkpoint (or Hugging Face directory) instead of the standard models
    /// (llama2-15m and llama2-110m, vocab 258, seeded random weights).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Prompt tokens per sequence (prefilled).
    #[arg(long, default_value_t = 16)]
    pub prompt_len: usize,
    /// Decoded tokens per sequence (timed).
    #[arg(long, default_value_t = 128)]
    pub tokens: usize,
    /// Batch sizes to decode at.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub batch: Vec<usize>,
    /// Skip the C reference.
    #[arg(long)]
    pub no_reference: bool,
    /// Also print where a decode step's time goes (per kernel and per GEMM of the step
    /// plan, over the timed steps), for each batch size.
    #[arg(long)]
    pub profile: bool,
    /// Also write the results as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

struct Measured {
    model: String,
    batch: usize,
    prefill_tps: f64,
    decode_tps: f64,
    cache_bytes: u64,
}

/// Runs the benchmark.
pub fn decode(a: BenchDecodeArgs) -> Result<()> {
    if a.prompt_len == 0 || a.tokens == 0 || a.batch.contains(&0) {
        bail!("--prompt-len, --tokens and every --batch must be at least 1");
    }
    let threads = rayon::current_num_threads();
    let scratch = tempfile::tempdir()?;
    let models: Vec<(String, LlamaConfig, Vec<NamedTensor>, Option<PathBuf>)> = match &a.checkpoint
    {
        Some(dir) => {
            let m = load_model_dir(dir)?;
            vec![(dir.display().to_string(), m.cfg, m.weights, Some(m.dir))]
        }
        None => ["llama2-15m", "llama2-110m"]
            .into_iter()
            .map(|name| {
                let cfg = LlamaConfig::preset(name)?.with_vocab(258);
                let w = seeded_weights(&cfg)?;
                Ok((format!("{name} (vocab 258)"), cfg, w, None))
            })
            .collect::<Result<_>>()?,
    };
    let reference = if a.no_reference {
        None
    } else {
        Some(build_reference(scratch.path())?)
    };
    println!(
        "decode on this CPU ({threads} threads): prompt {} tokens, {} decoded per sequence",
        a.prompt_len, a.tokens
    );
    println!(
        "{:<28} {:>5} {:>14} {:>14} {:>12} {:>14} {:>8}",
        "model", "batch", "prefill tok/s", "decode tok/s", "cache", "C ref tok/s", "vs C"
    );
    let mut all = Vec::new();
    for (name, cfg, weights, dir) in &models {
        if a.prompt_len + a.tokens > cfg.max_seq_len {
            bail!(
                "{name}: --prompt-len + --tokens = {} exceeds the context {}",
                a.prompt_len + a.tokens,
                cfg.max_seq_len
            );
        }
        let c_tps = match &reference {
            Some(exe) => {
                let hf = match dir {
                    Some(d) => d.clone(),
                    None => write_hf(scratch.path(), name, cfg, weights)?,
                };
                Some(run_reference(exe, &hf, a.prompt_len, a.tokens, threads)?)
            }
            None => None,
        };
        for &batch in &a.batch {
            let m = measure(name, cfg, weights, batch, a.prompt_len, a.tokens, a.profile)?;
            let vs = match (c_tps, batch) {
                (Some(c), 1) => format!("{:.2}x", m.decode_tps / c),
                _ => "-".into(),
            };
            println!(
                "{:<28} {:>5} {:>14.0} {:>14.0} {:>12} {:>14} {:>8}",
                name,
                batch,
                m.prefill_tps,
                m.decode_tps,
                llc_ir::human_bytes(m.cache_bytes),
                match (c_tps, batch) {
                    (Some(c), 1) => format!("{c:.0}"),
                    _ => "-".into(),
                },
                vs
            );
            all.push((m, c_tps));
        }
    }
    if let Some(path) = &a.json {
        let rows: Vec<_> = all
            .iter()
            .map(|(m, c)| {
                json!({"model": m.model, "batch": m.batch, "prefill_tokens_per_s": m.prefill_tps,
                       "decode_tokens_per_s": m.decode_tps, "cache_bytes": m.cache_bytes,
                       "c_reference_tokens_per_s": c, "threads": threads})
            })
            .collect();
        crate::fsutil::write_atomic(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(())
}

/// The compiled decoder at `batch`: prefill tokens/s (the best of 3 prefills) and decode
/// tokens/s over `tokens` greedy steps per sequence.
fn measure(
    name: &str,
    cfg: &LlamaConfig,
    weights: &[NamedTensor],
    batch: usize,
    prompt_len: usize,
    tokens: usize,
    profile: bool,
) -> Result<Measured> {
    let shape = DecoderShape {
        batch,
        prompt_len,
        cache_len: prompt_len + tokens,
    };
    let mut d = build_decoder(cfg, weights, shape, DecodeBackend::Cpu)?;
    let model: &mut dyn KvModel = d.model.as_mut();
    let v = cfg.vocab_size;
    let prompt: Vec<i32> = (0..batch * prompt_len)
        .map(|i| (1 + (i * 7919) % (v - 1)) as i32)
        .collect();
    let mut best = f64::INFINITY;
    let mut logits = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        logits = model.prefill(&prompt)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let prefill_tps = (batch * prompt_len) as f64 / best;
    let mut feed: Vec<i32> = (0..batch)
        .map(|b| argmax(&logits[(b * prompt_len + prompt_len - 1) * v..][..v]) as i32)
        .collect();
    let t = Instant::now();
    for k in 0..tokens {
        let pos = vec![(prompt_len + k) as i32; batch];
        let out = model.step(&feed, &pos)?;
        for (b, f) in feed.iter_mut().enumerate() {
            *f = argmax(&out[b * v..(b + 1) * v]) as i32;
        }
    }
    let decode_tps = (batch * tokens) as f64 / t.elapsed().as_secs_f64();
    if profile {
        profile_steps(model, &feed, prompt_len, tokens)?;
    }
    let cache_bytes = 2
        * cfg.n_layers as u64
        * llc_models::kv_cache_shape(cfg, batch, prompt_len + tokens)
            .iter()
            .product::<usize>() as u64
        * 4;
    Ok(Measured {
        model: name.to_string(),
        batch,
        prefill_tps,
        decode_tps,
        cache_bytes,
    })
}

/// The same `tokens` decode steps again (from the same positions, so the cache holds
/// what attention reads) with the step plan profiled: time per kernel and GEMM per token.
fn profile_steps(
    model: &mut dyn KvModel,
    feed: &[i32],
    prompt_len: usize,
    tokens: usize,
) -> Result<()> {
    let Some(exec) = model.step_plan() else {
        println!("(no profile: the decode step does not run as a compiled plan)");
        return Ok(());
    };
    exec.set_profiling(true);
    let batch = feed.len();
    let t = Instant::now();
    for k in 0..tokens {
        let pos = vec![(prompt_len + k) as i32; batch];
        model.step(feed, &pos)?;
    }
    let wall = t.elapsed().as_secs_f64() * 1e3 / tokens as f64;
    let exec = model.step_plan().context("the step plan")?;
    let p = exec.profile().cloned().context("profiling was on")?;
    exec.set_profiling(false);
    println!("batch {batch}, {tokens} steps:");
    super::bench_cpu::print_profile_table(&p, tokens, wall, "step");
    Ok(())
}

/// The standard models' weights: the training initialization, seed 0.
fn seeded_weights(cfg: &LlamaConfig) -> Result<Vec<NamedTensor>> {
    let m = llc_models::build_forward(cfg, &llc_models::BuildOptions::new(1, 1))?;
    let f = &m.functions[0];
    let values = init::initial_state(f, 0, Precision::F32);
    let mut out = Vec::new();
    for (&a, v) in f.args().iter().zip(values) {
        if let (Some(t), Some(llc_ir::ArgRole::Param)) = (v, f.arg_role(a)) {
            out.push(NamedTensor::new(
                f.node(a).name.clone(),
                t.shape().to_vec(),
                t.to_f32_vec(),
            )?);
        }
    }
    Ok(out)
}

/// The C reference decoder, compiled here (`$LLC_CC` or `cc`).
fn build_reference(dir: &Path) -> Result<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/decode_reference.c");
    let exe = dir.join("decode_reference");
    let cc = std::env::var("LLC_CC").unwrap_or_else(|_| "cc".into());
    let out = std::process::Command::new(&cc)
        .args(["-O3", "-march=native", "-fopenmp", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-lm")
        .output()
        .with_context(|| format!("running {cc} (for the C reference; or pass --no-reference)"))?;
    if !out.status.success() {
        bail!(
            "compiling {} failed (or pass --no-reference): {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(exe)
}

/// `weights` as a Hugging Face directory the C reference reads.
fn write_hf(
    root: &Path,
    name: &str,
    cfg: &LlamaConfig,
    weights: &[NamedTensor],
) -> Result<PathBuf> {
    let dir = root.join(name.split_whitespace().next().unwrap_or("model"));
    std::fs::create_dir_all(&dir)?;
    let json = cfg.to_hf_config_json();
    std::fs::write(dir.join("config.json"), &json)?;
    let hf = to_hf(weights, cfg)?;
    write_safetensors(&dir.join("model.safetensors"), &hf, &[("format", "pt")])?;
    Ok(dir)
}

/// The C reference's decode tokens/s at batch 1 (its `N tokens/s` line).
fn run_reference(
    exe: &Path,
    dir: &Path,
    prompt_len: usize,
    tokens: usize,
    threads: usize,
) -> Result<f64> {
    let prompt: Vec<String> = (0..prompt_len)
        .map(|i| (1 + (i * 7919) % 257).to_string())
        .collect();
    let out = std::process::Command::new(exe)
        .arg(dir)
        .args(["--prompt", &prompt.join(",")])
        .args(["--steps", &tokens.to_string()])
        .args(["--threads", &threads.to_string()])
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "the C reference failed on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    text.lines()
        .find_map(|l| {
            l.strip_suffix(" tokens/s")
                .and_then(|n| n.trim().parse().ok())
        })
        .with_context(|| format!("the C reference printed no `N tokens/s` line: {text}"))
}
