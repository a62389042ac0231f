//! `llc-train bench cpu`: training steps on the CPU, for each shape, by the interpreter,
//! the step compiled for this CPU, and PyTorch (eager and torch.compile, f32) running the
//! same model and optimizer in the same run; ms/step, tokens/s, GFLOP/s (the plan's
//! FLOPs), the share of the machine's GEMM rate (measured here) and the ratio to
//! torch.compile. `--profile` prints where the compiled step's time goes.

use super::compile::pipeline_for;
use crate::cli::{BenchCpuArgs, PrecisionArg};
use anyhow::{Context, Result, bail};
use llc_ir::Function;
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::PipelineHooks;
use llc_runtime::plan_exec::Profile;
use llc_runtime::plan_exec::gemm::sgemm_peak_gflops;
use llc_runtime::step::{Batch, CpuBackend, PlanBackend, StepBackend};
use llc_runtime::{PlanExecutor, Precision, Tensor, init};
use rand::SeedableRng;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The shapes the table uses: (preset, batch, seq).
const STANDARD: [(&str, usize, usize); 2] = [("llama2-15m", 16, 64), ("llama2-110m", 4, 256)];

/// One measured variant of one shape.
struct Row {
    variant: String,
    ms: f64,
    loss: f64,
}

fn step_and_eval(
    cfg: &LlamaConfig,
    batch: usize,
    seq: usize,
    precision: llc_passes::Precision,
) -> Result<(Function, Function)> {
    let (optim, eg) = super::bench::default_flags();
    let mut m = build_forward(cfg, &BuildOptions::new(batch, seq))?;
    let eval = m.functions[0].clone();
    pipeline_for(&optim, &eg, precision)?.run(&mut m, &mut PipelineHooks::default())?;
    let step = m.function("step").context("no step function")?.clone();
    Ok((step, eval))
}

fn random_batch(vocab: usize, batch: usize, seq: usize) -> Batch {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let shape = vec![batch, seq];
    Batch {
        inputs: vec![
            (
                "tokens".into(),
                Tensor::random_ints(shape.clone(), 0..vocab as i32, &mut rng),
            ),
            (
                "targets".into(),
                Tensor::random_ints(shape, 0..vocab as i32, &mut rng),
            ),
        ],
    }
}

/// Mean ms per step over `steps` steps after `warmup` untimed ones, and the last loss.
fn time_steps(
    b: &mut dyn StepBackend,
    batch: &Batch,
    warmup: usize,
    steps: usize,
) -> Result<(f64, f64)> {
    for _ in 0..warmup {
        b.step(batch)?;
    }
    let t = Instant::now();
    let mut loss = f64::NAN;
    for _ in 0..steps.max(1) {
        loss = b.step(batch)?.loss;
    }
    Ok((t.elapsed().as_secs_f64() * 1e3 / steps.max(1) as f64, loss))
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("LLC_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// PyTorch's ms/step for the same model and optimizer, eager and torch.compile, in the
/// benchmark's precision (bf16: autocast with fp32 master weights).
fn torch_reference(
    cfg: &LlamaConfig,
    a: &BenchCpuArgs,
    batch: usize,
    seq: usize,
) -> Result<Vec<Row>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/torch_reference.py");
    let threads = rayon::current_num_threads();
    let out = std::process::Command::new(python())
        .arg(&script)
        .args(["--device", "cpu", "--precision", torch_precision(a)])
        .args(["--mode", "eager", "--mode", "compile"])
        .arg("--custom")
        .arg(format!(
            "{},{},{},{},{},{},{},{},{}",
            cfg.dim,
            cfg.n_layers,
            cfg.n_heads,
            cfg.n_kv_heads,
            cfg.ffn_dim,
            cfg.vocab_size,
            u8::from(cfg.tie_embeddings),
            batch,
            seq
        ))
        .args(["--steps", &a.steps.max(1).to_string()])
        .args(["--warmup", &(a.warmup.max(1) + 1).to_string()])
        .args(["--threads", &threads.to_string()])
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed (install torch, or pass --no-torch): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{}: output is not JSON", script.display()))?;
    let rows = v["results"]
        .as_array()
        .context("torch reference: no results")?
        .iter()
        .map(|r| Row {
            variant: format!(
                "torch {} {} ({})",
                r["mode"].as_str().unwrap_or("?"),
                torch_precision(a),
                r["torch"].as_str().unwrap_or("?")
            ),
            ms: r["ms_per_step"].as_f64().unwrap_or(f64::NAN),
            loss: r["loss_last"].as_f64().unwrap_or(f64::NAN),
        })
        .collect();
    Ok(rows)
}

/// `scripts/torch_reference.py`'s name for the benchmark's precision.
fn torch_precision(a: &BenchCpuArgs) -> &'static str {
    match a.precision {
        PrecisionArg::F32 => "f32",
        PrecisionArg::Bf16 => "bf16",
    }
}

/// The GEMM rate "% peak" is against: oneDNN's f32 or bf16 GEMM at 1024³.
fn gemm_peak(precision: PrecisionArg) -> Result<(f64, &'static str)> {
    Ok(match precision {
        PrecisionArg::F32 => (sgemm_peak_gflops(1024, 3), "f32"),
        PrecisionArg::Bf16 => (
            llc_runtime::plan_exec::gemm::bf16_gemm_peak_gflops(1024, 3)
                .context("--precision bf16 needs oneDNN's bf16 GEMM (libdnnl.so.2)")?,
            "bf16",
        ),
    })
}

/// Run the benchmark (see the module docs).
pub fn cpu(a: BenchCpuArgs) -> Result<()> {
    let shapes: Vec<(String, usize, usize)> = match &a.model {
        Some(m) => vec![(m.clone(), a.batch, a.seq)],
        None => STANDARD
            .iter()
            .map(|(m, b, s)| (m.to_string(), *b, *s))
            .collect(),
    };
    let threads = rayon::current_num_threads();
    let (peak, peak_type) = gemm_peak(a.precision)?;
    println!(
        "CPU: {}, {threads} threads; GEMMs by {}; {peak_type} GEMM peak (1024^3, this machine): {peak:.0} GFLOP/s",
        cpu_model(),
        llc_runtime::plan_exec::onednn::gemm_library()
    );
    let mut json_shapes = Vec::new();
    for (model, batch, seq) in shapes {
        let cfg = LlamaConfig::preset(&model)?.with_vocab(a.vocab);
        let seq = seq.min(cfg.max_seq_len);
        let data = random_batch(a.vocab, batch, seq);
        let tokens = (batch * seq) as f64;
        let (step, eval) = step_and_eval(&cfg, batch, seq, a.precision.into())?;
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("artifact");
        let t = Instant::now();
        super::compile::write_artifact(&step, a.target.name(), false, &dir)?;
        let compile_s = t.elapsed().as_secs_f64();
        let exec = PlanExecutor::load(&dir)?;
        let flops = exec.plan().stats.flops as f64;
        let initial: Vec<(String, Tensor)> = step
            .args()
            .iter()
            .zip(init::initial_state(&step, 0, Precision::F32))
            .filter_map(|(&id, v)| Some((step.node(id).name.clone(), v?)))
            .collect();
        let mut rows = Vec::new();
        if !a.no_interp {
            let init = init::initial_state(&step, 0, Precision::F32);
            let mut b = CpuBackend::new(step.clone(), eval, init, Precision::F32)?;
            let (ms, loss) = time_steps(&mut b, &data, a.warmup, a.steps)?;
            rows.push(Row {
                variant: "llc-train interpreter".into(),
                ms,
                loss,
            });
        }
        let mut plan = PlanBackend::new(exec, &initial)?;
        let (ms, loss) = time_steps(&mut plan, &data, a.warmup, a.steps)?;
        rows.push(Row {
            variant: format!(
                "llc-train compiled ({}, {})",
                a.target.name(),
                torch_precision(&a)
            ),
            ms,
            loss,
        });
        if !a.no_torch {
            rows.extend(torch_reference(&cfg, &a, batch, seq)?);
        }
        let compiled_ref = rows
            .iter()
            .find(|r| r.variant.starts_with("torch compile"))
            .map(|r| r.ms);
        println!(
            "\n{model} (vocab {}), batch {batch} x {seq}, {:.2} GFLOP/step, compiled in {compile_s:.1} s",
            a.vocab,
            flops / 1e9
        );
        println!(
            "| {:<34} | {:>9} | {:>9} | {:>8} | {:>7} | {:>14} | {:>9} |",
            "variant", "ms/step", "tokens/s", "GFLOP/s", "% peak", "vs torch.comp.", "loss"
        );
        println!(
            "|{:-<36}|{:->11}|{:->11}|{:->10}|{:->9}|{:->16}|{:->11}|",
            "", "", "", "", "", "", ""
        );
        let mut json_rows = Vec::new();
        for r in &rows {
            let gflops = flops / (r.ms / 1e3) / 1e9;
            let ratio = compiled_ref.map(|c| c / r.ms);
            println!(
                "| {:<34} | {:>9.1} | {:>9.0} | {:>8.1} | {:>6.1}% | {:>14} | {:>9.4} |",
                r.variant,
                r.ms,
                tokens / (r.ms / 1e3),
                gflops,
                100.0 * gflops / peak,
                ratio.map_or("-".into(), |x| format!("{x:.2}x")),
                r.loss
            );
            json_rows.push(json!({
                "variant": r.variant, "ms_per_step": r.ms, "tokens_per_s": tokens / (r.ms / 1e3),
                "gflops": gflops, "pct_peak": 100.0 * gflops / peak,
                "vs_torch_compile": ratio, "loss": r.loss,
            }));
        }
        if a.profile {
            print_profile(&mut plan, &data)?;
        }
        json_shapes.push(json!({
            "model": model, "vocab": a.vocab, "batch": batch, "seq": seq,
            "flops_per_step": flops, "compile_seconds": compile_s, "rows": json_rows,
        }));
    }
    if let Some(p) = &a.json {
        let v = json!({
            "cpu": cpu_model(), "threads": threads, "gemm_peak_gflops": peak,
            "precision": torch_precision(&a), "gemm_peak_type": peak_type,
            "gemm_library": llc_runtime::plan_exec::onednn::gemm_library(),
            "shapes": json_shapes,
        });
        crate::fsutil::write_atomic(p, serde_json::to_string_pretty(&v)?.as_bytes())?;
    }
    Ok(())
}

/// Three profiled steps of the compiled plan, summed by step label, largest first.
fn print_profile(plan: &mut PlanBackend, data: &Batch) -> Result<()> {
    plan.executor().set_profiling(true);
    let runs = 3;
    let t = Instant::now();
    for _ in 0..runs {
        plan.step(data)?;
    }
    let wall = t.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let p = plan
        .executor()
        .profile()
        .cloned()
        .context("profiling was on")?;
    plan.executor().set_profiling(false);
    print_profile_table(&p, runs, wall, "step");
    Ok(())
}

/// A plan profile of `runs` runs taking `wall_ms` each (wall clock, per run): the time
/// per step label, largest first (labels under 0.5% left out), then per kind of step.
/// `per` names one run in the headers (`step`, `token`).
pub fn print_profile_table(p: &Profile, runs: usize, wall_ms: f64, per: &str) {
    let mut rows = p.rows.clone();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total = p.total() * 1e3 / runs as f64;
    println!(
        "\nprofile: {total:.3} ms/{per} in plan steps of {wall_ms:.3} ms/{per} wall (the rest: inputs and results)"
    );
    println!(
        "| {:<60} | {:>6} | {:>9} | {:>6} |",
        "step",
        "runs",
        format!("ms/{per}"),
        "share"
    );
    let mut by_kind: Vec<(String, f64)> = Vec::new();
    for (label, secs, n) in &rows {
        let ms = secs * 1e3 / runs as f64;
        let kind = label.split(' ').next().unwrap_or("").to_string();
        match by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, v)) => *v += ms,
            None => by_kind.push((kind, ms)),
        }
        if ms / total >= 0.005 {
            println!(
                "| {:<60} | {:>6} | {:>9.3} | {:>5.1}% |",
                label,
                n / runs as u64,
                ms,
                100.0 * ms / total
            );
        }
    }
    for (kind, ms) in by_kind {
        println!(
            "| {:<60} | {:>6} | {:>9.3} | {:>5.1}% |",
            format!("all {kind} steps"),
            "",
            ms,
            100.0 * ms / total
        );
    }
}

/// The CPU's model name, from /proc/cpuinfo where there is one.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
