//! Command-line interface definition (clap).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// llc-train: a compiler for Llama training steps.
#[derive(Parser, Debug)]
#[command(name = "llc-train", version, about, long_about = None)]
pub struct Cli {
    /// Threads for the CPU (kernels, GEMMs, the interpreter); default: all cores.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

/// A compilation target (`--target`); the spelling is codegen's target name.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetArg {
    /// NVIDIA Ampere (A100).
    #[value(name = "sm_80")]
    Sm80,
    /// NVIDIA Hopper (H100, H200).
    #[value(name = "sm_90")]
    Sm90,
    /// This machine's CPU, with every feature it has.
    #[value(name = "cpu")]
    Cpu,
    /// x86-64-v3: AVX2 and FMA.
    #[value(name = "x86-64-v3")]
    X86_64V3,
    /// x86-64-v4: AVX-512.
    #[value(name = "x86-64-v4")]
    X86_64V4,
}

impl TargetArg {
    /// The target's name as codegen and `plan.json` spell it.
    pub fn name(self) -> &'static str {
        match self {
            TargetArg::Sm80 => "sm_80",
            TargetArg::Sm90 => "sm_90",
            TargetArg::Cpu => "cpu",
            TargetArg::X86_64V3 => "x86-64-v3",
            TargetArg::X86_64V4 => "x86-64-v4",
        }
    }
}

/// Where a step computes (`--precision`); the policy is `llc_passes::precision`'s.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrecisionArg {
    /// Everything in f32.
    #[default]
    F32,
    /// GEMMs in bf16 with f32 accumulation; norms, softmax, loss, master weights and
    /// AdamW in f32.
    Bf16,
}

impl From<PrecisionArg> for llc_passes::Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::F32 => llc_passes::Precision::F32,
            PrecisionArg::Bf16 => llc_passes::Precision::Bf16,
        }
    }
}

/// Where a training step runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The GPU when one is usable, else the compiled CPU step.
    Auto,
    /// The step compiled for this CPU (native kernels, CPU GEMMs).
    Cpu,
    /// The reference interpreter on the uncompiled step (the oracle; slow).
    Interp,
    /// The compiled step on an NVIDIA GPU.
    Cuda,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a model's forward + loss graph as `.ir` text.
    Model(ModelArgs),
    /// Compile a model's `.ir` into a training step (and, with `-o`, an artifact).
    Compile(CompileArgs),
    /// Evaluate a module's loss on the CPU with seeded random weights and tokens.
    Run(RunArgs),
    /// Train a model: compile its step, then run it on data (CPU or GPU).
    Train(Box<TrainArgs>),
    /// Prepare training data (token shards) from text or SFT pairs.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a tokenizer.
    #[command(subcommand)]
    Tokenizer(TokenizerCommand),
    /// Plot a metrics log (loss, validation loss, learning rate) to a PNG.
    Plot(PlotArgs),
    /// Benchmarks that print a table: IR round trip, compile times, CPU and GPU steps.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check the CUDA backend against the CPU on a compiled artifact (needs a GPU).
    GpuCheck(GpuCheckArgs),
    // `sample` and `grad` take their help (short and long) from their argument structs.
    #[allow(missing_docs)]
    Sample(crate::cmd::sample::SampleArgs),
    #[allow(missing_docs)]
    Grad(crate::cmd::grad::GradArgs),
    /// The reward model: train one on preference pairs, or score responses.
    #[command(subcommand)]
    Rm(RmCommand),
    /// Rejection sampling: K completions per prompt scored by a reward model, the best
    /// kept as SFT data.
    RejectionSample(Box<crate::cmd::rejection::RejectionArgs>),
    /// RLHF with PPO against a reward model: rollouts, KL-penalized rewards, GAE, and the
    /// compiled PPO-loss step.
    Ppo(Box<crate::cmd::ppo::PpoArgs>),
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Build, print, parse and verify each model's forward graph.
    Ir(BenchModelsArgs),
    /// Time each compiler pass on each model's training step.
    Compile(BenchModelsArgs),
    /// CPU training steps: the interpreter, the compiled step and PyTorch, same shapes.
    Cpu(BenchCpuArgs),
    /// Time training steps of a compiled artifact on the GPU (ms/step, tokens/s, MFU).
    Gpu(BenchGpuArgs),
    /// KV-cache decoding on the CPU: prefill and decode tokens/s against hand-written C.
    Decode(crate::cmd::bench_decode::BenchDecodeArgs),
    /// Data-parallel interpreter steps, alone or under `mpirun -np N`: ms/step,
    /// all-reduce ms/step and MB/step, tokens/s.
    Dp(crate::cmd::bench_dp::BenchDpArgs),
}

#[derive(Args, Debug)]
pub struct BenchGpuArgs {
    /// Artifact directory (`llc-train compile MODEL.ir -o DIR`).
    #[arg(long, value_name = "DIR")]
    pub artifact: PathBuf,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps first (at least 2: the checked step and the graph capture).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// GPU ordinal.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Also write the result as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GpuCheckArgs {
    /// Artifact directory (`llc-train compile MODEL.ir -o DIR`).
    #[arg(long, value_name = "DIR")]
    pub artifact: PathBuf,
    /// Training steps compared with the CPU.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Seed of the initial parameters and the random batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// GPU ordinal.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Skip the plan-step-by-plan-step comparison with the CPU plan executor.
    #[arg(long)]
    pub no_per_op: bool,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchModelsArgs {
    /// Presets to measure (default: all Llama 2 sizes and TinyLlama).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "llama2-7b,llama2-13b,llama2-70b,tinyllama-1.1b"
    )]
    pub models: Vec<String>,
    /// Sequences per step.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 2048)]
    pub seq: usize,
    /// Repetitions (the table shows the fastest).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
}

#[derive(Args, Debug)]
pub struct BenchCpuArgs {
    /// Preset to train; without it, the standard shapes (llama2-15m at 16 x 64 and
    /// llama2-110m at 4 x 256, vocabulary 258).
    #[arg(long)]
    pub model: Option<String>,
    /// Vocabulary (byte-level data has 258).
    #[arg(long, default_value_t = 258)]
    pub vocab: usize,
    /// Sequences per step (with --model).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence (with --model).
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    /// Timed steps per variant (after --warmup untimed ones).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// The CPU target the step is compiled for.
    #[arg(long, value_enum, default_value_t = TargetArg::Cpu)]
    pub target: TargetArg,
    /// Where the step computes; PyTorch runs the same (bf16: autocast, fp32 master
    /// weights) and "% peak" is against a GEMM of that type.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
    /// Skip the interpreter (slow on large shapes).
    #[arg(long)]
    pub no_interp: bool,
    /// Skip the PyTorch reference (`scripts/torch_reference.py`; Python from $LLC_PYTHON,
    /// else the project's `.venv`, else `python3`).
    #[arg(long)]
    pub no_torch: bool,
    /// Also print where the compiled step's time goes, per kernel and per GEMM.
    #[arg(long)]
    pub profile: bool,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Which model: a preset name or a Hugging Face `config.json`.
#[derive(Args, Debug, Clone)]
pub struct ModelSpec {
    /// Preset name (see `llc-train model --list`): llama2-7b, llama2-13b, llama2-70b,
    /// tinyllama-1.1b, llama2-110m, llama2-15m, tiny.
    #[arg(value_name = "NAME")]
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
    /// Build the step for this many data-parallel ranks (the `data-parallel` pass after
    /// autodiff; 1: no pass). The compiled plans do not run collectives yet, so with
    /// N > 1 only the front half (`--dump-after`, `--emit-step`) is useful.
    #[arg(long, default_value_t = 1)]
    pub world_size: usize,
    /// Gradient bucket size in MiB for --world-size > 1.
    #[arg(long, default_value_t = 25)]
    pub bucket_mb: usize,
    /// Print the stage after this pass to stdout: `parse`, a front-half pass (the module
    /// as IR) or a back-half pass (`lower-attention`, `pack`, `partition`, `codegen`,
    /// `memory-plan`, `assemble`; without `-o` the back half runs for the dump only).
    #[arg(long, value_name = "PASS")]
    pub dump_after: Option<String>,
    /// Write the step module (`.ir` text) here.
    #[arg(long, value_name = "FILE")]
    pub emit_step: Option<PathBuf>,
    /// Build the artifact in this directory: plan.json, kernels.ir, step.ir, report.txt
    /// and the kernels (kernels.ptx for a GPU, kernels.so + native.json for a CPU),
    /// written to a temporary directory, then renamed.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// What the kernels are compiled for.
    #[arg(long, value_enum, default_value_t = TargetArg::Sm90)]
    pub target: TargetArg,
    /// Also write the kernels' MLIR before lowering (kernels.mlir).
    #[arg(long)]
    pub emit_mlir: bool,
    /// Where the step computes (the `precision` pass; `--dump-after precision` shows
    /// every cast).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
    #[command(flatten)]
    pub optim: OptimizerArgs,
    #[command(flatten)]
    pub egraph: EGraphArgs,
}

/// E-graph optimizer switches and search limits.
#[derive(Args, Debug, Clone)]
pub struct EGraphArgs {
    /// Skip the e-graph optimizer (fusion, GQA sharing, horizontal fusion, layout).
    #[arg(long)]
    pub no_egraph: bool,
    /// Most rewrite iterations per e-graph run.
    #[arg(long, default_value_t = 16)]
    pub egraph_iter_limit: usize,
    /// Most e-nodes per e-graph run.
    #[arg(long, default_value_t = 4_000_000)]
    pub egraph_node_limit: usize,
    /// Most seconds of rewrite search per e-graph run.
    #[arg(long, default_value_t = 60.0)]
    pub egraph_time_limit: f64,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub spec: ModelSpec,
    /// Start from the weights of a Hugging Face Llama directory (fine-tuning); the
    /// model's shape comes from its `config.json`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["name", "hf_config"])]
    pub init_from: Option<PathBuf>,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    pub seq: usize,
    /// A prepared data directory (`llc-train data prepare`): train_*.bin and val_*.bin.
    #[arg(long, value_name = "DIR", group = "source")]
    pub data: Option<PathBuf>,
    /// Text files or directories to train on, tokenized on the fly into OUT/data.
    #[arg(long, value_name = "PATH", num_args = 1.., group = "source")]
    pub text: Vec<PathBuf>,
    /// Token files to train on (llm.c `.bin` shards or a directory of them, or raw
    /// little-endian ids; see --token-format). The model's vocabulary must cover the ids.
    #[arg(long, value_name = "FILE", num_args = 1.., group = "source")]
    pub tokens: Vec<PathBuf>,
    /// Validation token files for --tokens (same format); without them there is no val loss.
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "tokens")]
    pub val_tokens: Vec<PathBuf>,
    /// Encoding of --tokens files: `shard` (llm.c `.bin`), `raw-u16` or `raw-u32`.
    #[arg(long, default_value = "shard", value_name = "FORMAT")]
    pub token_format: String,
    /// Tokenizer for --text: `byte` (default) or a tokenizer.json.
    #[arg(long, default_value = "byte")]
    pub tokenizer: String,
    /// Document boundaries for --text: file, blank-line, line, or delim:STRING (e.g.
    /// `delim:%` for fortune files).
    #[arg(long, default_value = "blank-line")]
    pub doc_split: String,
    /// Fraction of --text held out for validation.
    #[arg(long, default_value_t = 0.05)]
    pub val_fraction: f64,
    /// Train on answer tokens only (SFT data prepared with `llc-train data sft`).
    #[arg(long)]
    pub sft: bool,
    /// Optimizer steps to run (in total, counting steps before a resume).
    #[arg(long, default_value_t = 200)]
    pub steps: u64,
    /// Evaluate the validation loss every this many steps (0: only at the end).
    #[arg(long, default_value_t = 50)]
    pub eval_every: u64,
    /// Validation batches per evaluation.
    #[arg(long, default_value_t = 8)]
    pub eval_batches: usize,
    /// Run directory: metrics.jsonl, checkpoints/, data/ (default runs/<model>).
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Save a checkpoint every this many steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub save_every: u64,
    /// Keep this many most recent checkpoints.
    #[arg(long, default_value_t = 3)]
    pub keep_last: usize,
    /// Gradient bucket size in MiB for data-parallel runs (`mpirun -np N`): gradients
    /// are averaged over the ranks in all-reduces of at most this size (DDP's 25).
    #[arg(long, default_value_t = 25)]
    pub bucket_mb: usize,
    /// Continue the run in --out from its latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Continue from this checkpoint (a `step_*` directory or a checkpoints root).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub resume_from: Option<PathBuf>,
    /// Print a log line every this many steps when not on a terminal.
    #[arg(long, default_value_t = 10)]
    pub log_every: u64,
    #[command(flatten)]
    pub step: StepArgs,
}

/// How a training step is compiled and where it runs: the flags every trainer shares
/// (pretraining, SFT, the reward model).
#[derive(Args, Debug)]
pub struct StepArgs {
    /// Where the step runs.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Where the step computes: f32, or bf16 GEMMs with f32 master weights.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
    /// The compiled artifact the run executes (`compile MODEL.ir -o DIR --target ...`
    /// with this run's model, batch, sequence and optimizer flags); without it the step
    /// is compiled here for the GPU found or this CPU, into OUT/artifact.
    #[arg(long, value_name = "DIR")]
    pub artifact: Option<PathBuf>,
    /// GPU ordinal for `--backend cuda`.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Seed of the initial weights and the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub optim: OptimizerArgs,
    #[command(flatten)]
    pub egraph: EGraphArgs,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Tokenize text into llm.c-style token shards with a held-out validation shard.
    Prepare(DataPrepareArgs),
    /// Tokenize a JSONL of {"prompt", "answer"} pairs into shards with loss masks.
    Sft(DataSftArgs),
}

#[derive(Args, Debug)]
pub struct DataPrepareArgs {
    /// Text files or directories.
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// `byte` or a tokenizer.json.
    #[arg(long, default_value = "byte")]
    pub tokenizer: String,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Fraction held out for validation.
    #[arg(long, default_value_t = 0.05)]
    pub val_fraction: f64,
    /// Document boundaries: file, blank-line, line, or delim:STRING.
    #[arg(long, default_value = "blank-line")]
    pub doc_split: String,
    /// Most tokens per shard.
    #[arg(long, default_value_t = 100_000_000)]
    pub shard_tokens: usize,
    /// Replace existing shards.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct DataSftArgs {
    /// The JSONL file of {"prompt": ..., "answer": ...} objects.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// `byte` or a tokenizer.json.
    #[arg(long, default_value = "byte")]
    pub tokenizer: String,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Training sequence length (the padded layout pads each example to it).
    #[arg(long, default_value_t = 256)]
    pub seq: usize,
    /// `packed` (examples back to back, as the Llama 2 paper) or `padded`.
    #[arg(long, default_value = "packed")]
    pub layout: String,
    /// Fraction held out for validation.
    #[arg(long, default_value_t = 0.05)]
    pub val_fraction: f64,
    /// Cut over-long examples instead of failing (padded layout).
    #[arg(long)]
    pub truncate: bool,
    /// Replace existing shards.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Subcommand, Debug)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE tokenizer (Hugging Face tokenizers) on text.
    Train(TokenizerTrainArgs),
}

#[derive(Args, Debug)]
pub struct TokenizerTrainArgs {
    /// Vocabulary size.
    #[arg(long)]
    pub vocab: usize,
    /// Text files or directories.
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// Output tokenizer.json.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Pairs seen fewer times than this are never merged.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// The metrics log (metrics.jsonl of a run); several runs share one plot, each
    /// named by its directory.
    #[arg(required = true, num_args = 1..)]
    pub metrics: Vec<PathBuf>,
    /// Output PNG.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Plot these fields of one log instead, a panel each (e.g. `reward,kl` of a PPO
    /// run's metrics.jsonl).
    #[arg(long, value_delimiter = ',', value_name = "FIELD,...")]
    pub fields: Vec<String>,
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

#[derive(Subcommand, Debug)]
pub enum RmCommand {
    /// Train a reward model on preference pairs (the ranking loss with a margin).
    Train(Box<RmTrainArgs>),
    /// Score `{"prompt", "response"}` lines with a reward model.
    Score(RmScoreArgs),
}

#[derive(Args, Debug)]
pub struct RmTrainArgs {
    /// The pretrained or SFT causal LM to start from (a Hugging Face directory or an
    /// llc-train checkpoint); the score head is new.
    #[arg(long, value_name = "DIR")]
    pub init_from: PathBuf,
    /// Preference pairs, JSONL `{"prompt", "chosen", "rejected", "rating"?}` (ratings:
    /// significantly better, better, slightly better, negligibly better, unsure).
    #[arg(long, value_name = "FILE")]
    pub pairs: PathBuf,
    /// Tokenizer: `byte` or a tokenizer.json (default: the checkpoint's, else bytes).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Preference pairs per step (each is two sequences).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence (`BOS prompt response EOS`; longer pairs are left out).
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    /// Fraction of the pairs held out for accuracy and margin.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Optimizer steps in total.
    #[arg(long, default_value_t = 200)]
    pub steps: u64,
    /// Evaluate on the held-out pairs every this many steps (0: only at the end).
    #[arg(long, default_value_t = 50)]
    pub eval_every: u64,
    /// Run directory: metrics.jsonl, checkpoints/, artifact/.
    #[arg(short, long, value_name = "DIR", default_value = "runs/rm")]
    pub out: PathBuf,
    /// Save a checkpoint every this many steps (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub save_every: u64,
    /// Keep this many most recent checkpoints.
    #[arg(long, default_value_t = 3)]
    pub keep_last: usize,
    /// Continue the run in --out from its latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Print a log line every this many steps.
    #[arg(long, default_value_t = 10)]
    pub log_every: u64,
    #[command(flatten)]
    pub step: StepArgs,
}

#[derive(Args, Debug)]
pub struct RmScoreArgs {
    /// The reward model (a checkpoint of `rm train`, or a Hugging Face
    /// LlamaForSequenceClassification directory with one label).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// JSONL `{"prompt", "response"}` lines to score.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write `{"prompt", "response", "reward"}` lines.
    #[arg(long, value_name = "FILE")]
    pub jsonl: PathBuf,
    /// Tokenizer (default: the checkpoint's, else bytes).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Sequences scored at once.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}
