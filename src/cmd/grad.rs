//! `llc-train grad`: the loss and every parameter's gradient of a Hugging Face Llama model
//! on a batch of tokens, computed by our forward + autodiff graph on the CPU interpreter
//! and written under Hugging Face names and layout, to check against PyTorch.

use super::model_dir::load_model_dir;
use anyhow::{Context, Result, bail};
use clap::Args;
use llc_ir::DType;
use llc_models::{BuildOptions, ForwardOutput, build_forward};
use llc_runtime::{Precision, Tensor, run_function};
use llc_trainer::checkpoint::{NamedTensor, gradients_to_hf, write_safetensors};
use llc_trainer::generate::bind_params;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Loss and gradients of a Hugging Face Llama model on a token batch, as safetensors.
///
/// The tokens file holds raw little-endian u32 ids, B * (T + 1) of them (llm.c style):
/// row b is ids [b(T+1), (b+1)(T+1)); its first T ids are the inputs and its last T the
/// targets (each input's next token). The loss is the mean cross-entropy over all B * T
/// targets; in PyTorch: `F.cross_entropy(model(rows[:, :-1]).logits.flatten(0, 1),
/// rows[:, 1:].flatten())` (not `labels=rows[:, :-1]`, which drops the last target).
///
/// The output holds `loss` (a 0-d tensor) and, for every parameter, its gradient under
/// the parameter's Hugging Face name (`model.layers.0.self_attn.q_proj.weight`, ...) in
/// Hugging Face layout (q/k rows in HF's RoPE order), as F32. It is written atomically:
/// on any error nothing is written.
#[derive(Args, Debug)]
pub struct GradArgs {
    /// Hugging Face Llama directory (`config.json` + `model.safetensors` or shards).
    #[arg(long, value_name = "DIR")]
    pub hf_dir: PathBuf,
    /// Raw little-endian u32 token ids, B * (T + 1) of them (see --help).
    #[arg(long, value_name = "FILE")]
    pub tokens: PathBuf,
    /// Sequences B.
    #[arg(long)]
    pub batch: usize,
    /// Tokens per sequence T (inputs; each row holds T + 1 ids).
    #[arg(long)]
    pub seq: usize,
    /// Output safetensors file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Compute in f64 (the file still stores f32).
    #[arg(long)]
    pub f64: bool,
}

/// Runs the command.
pub fn run(a: GradArgs) -> Result<()> {
    let ids = super::check_batch_seq(a.batch, a.seq)?;
    check_out_dir(&a.out)?;
    let model = load_model_dir(&a.hf_dir)?;
    let vocab = model.cfg.vocab_size;
    if a.seq > model.cfg.max_seq_len {
        bail!(
            "--seq {} exceeds the model's max_seq_len {}",
            a.seq,
            model.cfg.max_seq_len
        );
    }
    let (inputs, targets) = read_token_rows(&a.tokens, a.batch, a.seq, ids, vocab)?;

    let (dtype, precision) = if a.f64 {
        (DType::F64, Precision::F64)
    } else {
        (DType::F32, Precision::F32)
    };
    let opts = BuildOptions {
        output: ForwardOutput::Loss,
        dtype,
        ..BuildOptions::new(a.batch, a.seq)
    };
    let t0 = Instant::now();
    let module = build_forward(&model.cfg, &opts)?;
    let forward = module
        .function("forward")
        .context("the model builder made no `forward` function")?;
    let (func, _) = llc_passes::differentiate(forward, "loss", "forward_backward")?;
    let build_time = t0.elapsed();

    let mut args = bind_params(&func, &model.weights, precision)?;
    let shape = vec![a.batch, a.seq];
    for (slot, &arg) in args.iter_mut().zip(func.args()) {
        if slot.is_none() {
            let data = match func.node(arg).name.as_str() {
                "tokens" => inputs.clone(),
                "targets" => targets.clone(),
                other => bail!("unexpected input %{other} in the gradient function"),
            };
            *slot = Some(Tensor::from_i32(shape.clone(), data)?);
        }
    }
    let args: Vec<Tensor> = args
        .into_iter()
        .map(|s| s.expect("every argument was filled"))
        .collect();
    let t1 = Instant::now();
    let outputs = run_function(&func, &args, precision).context("running the gradient graph")?;
    let run_time = t1.elapsed();

    let mut loss = None;
    let mut grads = Vec::new();
    for (o, t) in func.outputs().iter().zip(&outputs) {
        let name = &func.node(o.node).name;
        if name == "loss" {
            loss = Some(t.to_f64_vec()[0]);
        } else if let Some(param) = name.strip_prefix("grad.") {
            grads.push(NamedTensor::new(param, t.shape().to_vec(), t.to_f32_vec())?);
        }
    }
    let loss = loss.context("the gradient function has no `loss` result")?;
    let mut tensors = vec![NamedTensor::new("loss", vec![], vec![loss as f32])?];
    tensors.extend(gradients_to_hf(&grads, &model.cfg)?);
    write_safetensors(&a.out, &tensors, &[("format", "pt")])?;
    println!(
        "loss = {loss:.6} over {} tokens; {} gradients written to {}",
        a.batch * a.seq,
        tensors.len() - 1,
        a.out.display()
    );
    eprintln!(
        "graph {} nodes, built in {:.1} ms; cpu interpreter ({}) {:.1} ms",
        func.node_count(),
        build_time.as_secs_f64() * 1e3,
        if a.f64 { "f64" } else { "f32" },
        run_time.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Fails early (before any work) when `out` cannot be created: its directory is missing.
fn check_out_dir(out: &Path) -> Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: directory {} does not exist",
            out.display(),
            dir.display()
        );
    }
    if out.is_dir() {
        bail!("cannot write {}: it is a directory", out.display());
    }
    Ok(())
}

/// Reads `expected = batch * (seq + 1)` little-endian u32 ids (checked by
/// [`super::check_batch_seq`]) and splits each row into inputs (its first `seq` ids) and
/// targets (its last `seq`), checking every id against `vocab`.
fn read_token_rows(
    path: &Path,
    batch: usize,
    seq: usize,
    expected: usize,
    vocab: usize,
) -> Result<(Vec<i32>, Vec<i32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let row = seq + 1;
    if bytes.len() % 4 != 0 {
        bail!(
            "{}: {} bytes is not a whole number of u32 tokens",
            path.display(),
            bytes.len()
        );
    }
    let count = bytes.len() / 4;
    if count != expected {
        bail!(
            "{}: holds {count} tokens, but --batch {batch} --seq {seq} needs batch * (seq + 1) = {expected} \
             ({} bytes)",
            path.display(),
            expected * 4
        );
    }
    let ids: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some((i, &id)) = ids
        .iter()
        .enumerate()
        .find(|&(_, &id)| id as usize >= vocab)
    {
        bail!(
            "{}: token {id} at index {i} (row {}, column {}, byte offset {}) is outside the model's vocabulary 0..{vocab}",
            path.display(),
            i / row,
            i % row,
            i * 4
        );
    }
    let mut inputs = Vec::with_capacity(batch * seq);
    let mut targets = Vec::with_capacity(batch * seq);
    for r in ids.chunks_exact(row) {
        inputs.extend(r[..seq].iter().map(|&t| t as i32));
        targets.extend(r[1..].iter().map(|&t| t as i32));
    }
    Ok((inputs, targets))
}
