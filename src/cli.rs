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
