//! Command-line interface definition (clap).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// llc-train: a compiler for Llama training steps.
#[derive(Parser, Debug)]
#[command(name = "llc-train", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a model's forward + loss graph as `.ir` text.
    Model(ModelArgs),
    /// Compile a model's `.ir` into a training step (and, with `-o`, an artifact).
    Compile(CompileArgs),
    /// Evaluate a module's loss on the CPU with seeded random weights and tokens.
    Run(RunArgs),
    // `sample` and `grad` take their help (short and long) from their argument structs.
    #[allow(missing_docs)]
    Sample(crate::cmd::sample::SampleArgs),
    #[allow(missing_docs)]
    Grad(crate::cmd::grad::GradArgs),
}

/// Which model: a preset name or a Hugging Face `config.json`.
#[derive(Args, Debug, Clone)]
pub struct ModelSpec {
    /// Preset name (see `llc-train model --list`): llama2-7b, llama2-13b, llama2-70b,
    /// tinyllama-1.1b, llama2-110m, llama2-15m, tiny.
    #[arg(value_name = "NAME", required_unless_present_any = ["hf_config", "list"])]
    pub name: Option<String>,
    /// Build from a Hugging Face `config.json` instead of a preset.
    #[arg(long, value_name = "FILE", conflicts_with = "name")]
    pub hf_config: Option<PathBuf>,
    /// Override the vocabulary size (e.g. 256 for byte-level data).
    #[arg(long)]
    pub vocab: Option<usize>,
}

#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(flatten)]
    pub spec: ModelSpec,
    /// List the presets and exit.
    #[arg(long)]
    pub list: bool,
    /// Sequences per step.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Tokens per sequence (default: the model's context length, capped at 2048).
    #[arg(long)]
    pub seq: Option<usize>,
    /// Add a per-token `loss_mask` input (supervised fine-tuning: loss on answers only).
    #[arg(long)]
    pub loss_mask: bool,
    /// Output logits instead of the loss.
    #[arg(long)]
    pub logits: bool,
    /// Output file (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The model's forward `.ir` file.
    pub input: PathBuf,
    /// Print the module after this pass (`parse`, or any pipeline pass name) to stdout.
    #[arg(long, value_name = "PASS")]
    pub dump_after: Option<String>,
    /// Write the step module (`.ir` text) here.
    #[arg(long, value_name = "FILE")]
    pub emit_step: Option<PathBuf>,
    #[command(flatten)]
    pub optim: OptimizerArgs,
}

/// Training-step hyperparameters; defaults are the Llama 2 paper's.
#[derive(Args, Debug, Clone)]
pub struct OptimizerArgs {
    /// Peak learning rate.
    #[arg(long, default_value_t = 3e-4)]
    pub lr: f64,
    /// AdamW beta1.
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f64,
    /// AdamW beta2.
    #[arg(long, default_value_t = 0.95)]
    pub beta2: f64,
    /// AdamW epsilon.
    #[arg(long, default_value_t = 1e-5)]
    pub adam_eps: f64,
    /// Decoupled weight decay (matrices only; norm gains are not decayed).
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f64,
    /// Clip gradients to this global L2 norm (0 disables).
    #[arg(long, default_value_t = 1.0)]
    pub clip_norm: f64,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 2000)]
    pub warmup_steps: u64,
    /// Step at which the cosine schedule reaches its floor.
    #[arg(long, default_value_t = 500_000)]
    pub total_steps: u64,
    /// Floor of the cosine schedule, as a fraction of the peak.
    #[arg(long, default_value_t = 0.1)]
    pub min_lr_ratio: f64,
    /// Parameters (glob over names, e.g. `tok_embeddings.*`) that get no weight decay.
    #[arg(long, value_name = "GLOB")]
    pub no_decay: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The `.ir` file to evaluate.
    pub input: PathBuf,
    /// Backend: `cpu` (the reference interpreter).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Seed for the random weights and tokens.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
