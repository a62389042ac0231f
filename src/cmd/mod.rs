//! One module per subcommand.

mod bench;
pub(crate) mod bench_cpu;
pub(crate) mod bench_decode;
pub(crate) mod bench_dp;
mod compile;
mod data;
mod decoder;
mod gpu;
mod model;
mod plot;
pub(crate) mod ppo;
pub(crate) mod rejection;
mod rm;
mod run;
mod tokenizer;
mod train;

pub(crate) mod grad;
mod model_dir;
pub(crate) mod sample;

use crate::cli::{BenchCommand, Cli, Command, DataCommand, ModelSpec, RmCommand, TokenizerCommand};
use anyhow::{Context, Result};
use llc_models::LlamaConfig;

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Model(a) => model::run(a),
        Command::Compile(a) => compile::run(a),
        Command::Run(a) => run::run(a),
        Command::Train(a) => train::run(*a),
        Command::Data(DataCommand::Prepare(a)) => data::prepare(a),
        Command::Data(DataCommand::Sft(a)) => data::sft(a),
        Command::Tokenizer(TokenizerCommand::Train(a)) => tokenizer::train(a),
        Command::Plot(a) => plot::run(a),
        Command::Bench(BenchCommand::Ir(a)) => bench::ir(a),
        Command::Bench(BenchCommand::Compile(a)) => bench::compile(a),
        Command::Bench(BenchCommand::Cpu(a)) => bench_cpu::cpu(a),
        Command::Bench(BenchCommand::Gpu(a)) => gpu::bench_gpu(a),
        Command::Bench(BenchCommand::Decode(a)) => bench_decode::decode(a),
        Command::Bench(BenchCommand::Dp(a)) => bench_dp::dp(a),
        Command::GpuCheck(a) => gpu::gpu_check(a),
        Command::Sample(a) => sample::run(a),
        Command::Grad(a) => grad::run(a),
        Command::Rm(RmCommand::Train(a)) => rm::train(*a),
        Command::Rm(RmCommand::Score(a)) => rm::score(a),
        Command::RejectionSample(a) => rejection::run(*a),
        Command::Ppo(a) => ppo::run(*a),
    }
}

/// Use `threads` CPU threads (default: all cores) for kernels, GEMMs and the
/// interpreter; called once, before any parallel work.
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    let n = match threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // the GEMM libraries keep their own pools, sized from these variables on first use
    // SAFETY: called at startup, before any other thread exists.
    unsafe {
        std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
        // oneDNN's OpenMP team, unless the user sized it
        if threads.is_some() || std::env::var_os("OMP_NUM_THREADS").is_none() {
            std::env::set_var("OMP_NUM_THREADS", n.to_string());
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("starting the thread pool")
}

/// Resolve a preset name or HF config file into a validated config.
pub fn load_config(spec: &ModelSpec) -> Result<LlamaConfig> {
    let mut cfg = if let Some(path) = &spec.hf_config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        LlamaConfig::from_hf_config_json(&text).with_context(|| format!("in {}", path.display()))?
    } else {
        let name = spec.name.as_deref().context(
            "no model given: name a preset (see `llc-train model --list`) or pass --hf-config FILE",
        )?;
        LlamaConfig::preset(name)?
    };
    if let Some(v) = spec.vocab {
        cfg = cfg.with_vocab(v);
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Read and verify a `.ir` file, with errors that name the file and line:column.
pub fn read_module(path: &std::path::Path) -> Result<llc_ir::Module> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    llc_ir::parse_module_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
}

/// The largest number of token ids one batch may hold (`batch * (seq + 1)`): the graph
/// indexes tokens with i32.
pub const MAX_BATCH_TOKENS: u64 = i32::MAX as u64;

/// The one check of the `--batch` and `--seq` flags of `grad` and `train`, before any use
/// of them (reading tokens, preparing data, building the graph): both positive, and
/// `batch * (seq + 1)`, the ids a batch reads, computed with checked arithmetic and at
/// most [`MAX_BATCH_TOKENS`]. Returns `batch * (seq + 1)`.
pub fn check_batch_seq(batch: usize, seq: usize) -> Result<usize> {
    if batch == 0 || seq == 0 {
        anyhow::bail!("--batch and --seq must be positive (got {batch} and {seq})");
    }
    let ids = (seq as u64)
        .checked_add(1)
        .and_then(|row| row.checked_mul(batch as u64))
        .filter(|&n| n <= MAX_BATCH_TOKENS);
    match ids {
        Some(n) => Ok(n as usize),
        None => anyhow::bail!(
            "--batch {batch} --seq {seq}: a batch of batch * (seq + 1) token ids exceeds the limit of {MAX_BATCH_TOKENS}"
        ),
    }
}
