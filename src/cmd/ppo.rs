//! `llc-train ppo`: RLHF with PPO (Llama 2, §3.2.3) against a reward model. The PPO loss
//! over a mini-batch is one IR graph (`ForwardOutput::PpoLoss`), differentiated and
//! compiled with AdamW by the same pipeline as pretraining; the rollout statistics
//! (`PolicyStats`, the reference's `TokenLogprobs`) and the reward model are forward
//! graphs compiled for this CPU (or run on the interpreter with `--backend interp`); the
//! loop is `llc_trainer::ppo::PpoTrainer`.

use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{Context, Result, bail};
use llc_models::{
    BuildOptions, ForwardOutput, Head, LlamaConfig, PpoLossOptions, build_forward, param_names_for,
};
use llc_runtime::Tensor;
use llc_runtime::comm::{Communicator, SingleRank};
use llc_trainer::CheckpointSink;
use llc_trainer::checkpoint::{CheckpointManager, NamedTensor};
use llc_trainer::data::check_vocab;
use llc_trainer::metrics::MetricsWriter;
use llc_trainer::ppo::{PpoConfig, PpoModels, PpoOptions, PpoTrainer, llama2_kl_beta};
use llc_trainer::reward::{RewardScorer, rewards_function};

use super::decoder::{DecodeBackend, DecoderShape, build_decoder, forward_model};
use super::gpu::{self, BackendKind};
use super::model_dir::load_model_dir_as;
use super::rejection::encode_prompts;
use super::sample::{load_tokenizer, read_prompts};
use super::train::{compile_module_step, step_backend};
use crate::cli::{Backend, EGraphArgs, OptimizerArgs, PrecisionArg, StepArgs};

/// Where the value head starts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueInit {
    /// Seeded small random values (predictions near 0, the whitened returns' mean).
    Random,
    /// The reward model's score head (the paper initializes the value model from the
    /// reward model; here the head sits on the policy's trunk).
    Rm,
}

/// `llc-train ppo`. Defaults are the paper's (β by model size, clip 0.2, AdamW 0.9/0.95,
/// eps 1e-5, weight decay 0.1, gradient clip 1.0, constant lr 1e-6, batch 512,
/// mini-batch 64, one step per mini-batch) and TRL's where it states none.
#[derive(clap::Args, Debug)]
pub struct PpoArgs {
    /// The policy to start from (a causal LM: the SFT or rejection-sampling checkpoint);
    /// it is also the frozen reference of the KL penalty.
    #[arg(long, value_name = "DIR")]
    pub policy: PathBuf,
    /// The reward model (`rm train`'s checkpoint).
    #[arg(long, value_name = "DIR")]
    pub rm: PathBuf,
    /// Prompts: JSONL objects with a "prompt", or one prompt per line.
    #[arg(long, value_name = "FILE")]
    pub prompts: PathBuf,
    /// Output directory: metrics.jsonl, checkpoints/, the compiled artifacts.
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
    /// PPO iterations (each: a rollout of --batch prompts, then the updates).
    #[arg(long, default_value_t = 10)]
    pub iterations: u64,
    /// Prompts per rollout.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Rollouts per gradient step (divides --batch).
    #[arg(long, default_value_t = 64)]
    pub minibatch: usize,
    /// Passes over each rollout.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// New tokens per response at most.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Learning rate (constant).
    #[arg(long, default_value_t = 1e-6)]
    pub lr: f64,
    /// β of the KL penalty (default: the paper's for the model's size, 0.01 below 20B
    /// parameters, else 0.005).
    #[arg(long)]
    pub kl_beta: Option<f64>,
    /// ε of the clipped surrogate.
    #[arg(long, default_value_t = 0.2)]
    pub clip: f64,
    /// Clip range of the value predictions.
    #[arg(long, default_value_t = 0.2)]
    pub value_clip: f64,
    /// Weight of the value loss.
    #[arg(long, default_value_t = 0.1)]
    pub vf_coef: f64,
    /// GAE discount γ.
    #[arg(long, default_value_t = 1.0)]
    pub gamma: f64,
    /// GAE λ.
    #[arg(long, default_value_t = 0.95)]
    pub lambda: f64,
    /// Do not whiten the reward model's scores over the rollout.
    #[arg(long)]
    pub no_whiten: bool,
    /// Where the value head starts.
    #[arg(long, value_enum, default_value_t = ValueInit::Random)]
    pub value_init: ValueInit,
    /// Sequences decoded at once in the rollouts.
    #[arg(long, default_value_t = 16)]
    pub decode_batch: usize,
    /// Checkpoint every N iterations (and after the last).
    #[arg(long, default_value_t = 5)]
    pub save_every: u64,
    /// Keep the newest N checkpoints.
    #[arg(long, default_value_t = 2)]
    pub keep_last: usize,
    /// Continue from the latest checkpoint in OUT/checkpoints.
    #[arg(long)]
    pub resume: bool,
    /// Tokenizer (default: the policy's, else bytes).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Where the PPO step runs (the rollout graphs run compiled on this CPU, or on the
    /// interpreter with `interp`).
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// GPU ordinal for `--backend cuda`.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Seed of the value head, the prompt order, the draws and the mini-batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub egraph: EGraphArgs,
}

impl PpoArgs {
    /// The hyperparameters these flags give for a model of `params` parameters.
    fn config(&self, params: u64) -> PpoConfig {
        PpoConfig {
            kl_beta: self.kl_beta.unwrap_or_else(|| llama2_kl_beta(params)),
            gamma: self.gamma,
            lambda: self.lambda,
            whiten_scores: !self.no_whiten,
            loss: PpoLossOptions {
                clip: self.clip,
                value_clip: self.value_clip,
                vf_coef: self.vf_coef,
            },
            lr: self.lr,
            batch_size: self.batch,
            minibatch_size: self.minibatch,
            epochs: self.epochs,
            ..PpoConfig::default()
        }
    }

    /// How the PPO step is compiled: AdamW with `c`'s values and a constant rate.
    fn step_args(&self, c: &PpoConfig) -> StepArgs {
        StepArgs {
            backend: self.backend,
            precision: PrecisionArg::F32,
            artifact: None,
            device: self.device,
            seed: self.seed,
            optim: OptimizerArgs {
                lr: c.lr,
                beta1: c.beta1,
                beta2: c.beta2,
                adam_eps: c.eps,
                weight_decay: c.weight_decay,
                clip_norm: c.clip_norm,
                warmup_steps: 0,
                total_steps: 1,
                min_lr_ratio: 1.0,
                no_decay: Vec::new(),
            },
            egraph: EGraphArgs {
                no_egraph: self.egraph.no_egraph,
                egraph_iter_limit: self.egraph.egraph_iter_limit,
                egraph_node_limit: self.egraph.egraph_node_limit,
                egraph_time_limit: self.egraph.egraph_time_limit,
            },
        }
    }
}

/// The `[M, T]` forward of `output` for `cfg`.
fn policy_graph(
    cfg: &LlamaConfig,
    output: ForwardOutput,
    m: usize,
    t: usize,
) -> Result<llc_ir::Function> {
    let opts = BuildOptions {
        output,
        ..BuildOptions::new(m, t)
    };
    Ok(build_forward(cfg, &opts)?.functions.remove(0))
}

/// Runs (or resumes) a PPO run.
pub fn run(a: PpoArgs) -> Result<()> {
    if a.decode_batch == 0 {
        bail!("--decode-batch must be at least 1");
    }
    let policy = load_model_dir_as(&a.policy, Head::CausalLm)
        .with_context(|| format!("--policy {}", a.policy.display()))?;
    let rm = load_model_dir_as(&a.rm, Head::Score)
        .with_context(|| format!("--rm {}", a.rm.display()))?;
    let cfg = policy.cfg.clone();
    let tokenizer = load_tokenizer(a.tokenizer.as_deref(), &policy.dir, &a.policy)?;
    check_vocab(&tokenizer, cfg.vocab_size)
        .with_context(|| format!("tokenizer {}", tokenizer.describe()))?;
    check_vocab(&tokenizer, rm.cfg.vocab_size)
        .with_context(|| format!("tokenizer {} for the reward model", tokenizer.describe()))?;
    let texts = read_prompts(&a.prompts)?;
    let ctx = cfg.max_seq_len.min(rm.cfg.max_seq_len);
    if a.max_tokens == 0 || a.max_tokens + 2 > ctx {
        bail!(
            "--max-tokens {} does not fit the context of the policy and reward model ({ctx})",
            a.max_tokens
        );
    }
    let prompts = encode_prompts(
        &tokenizer,
        &texts,
        ctx - 1 - a.max_tokens,
        &format!("with --max-tokens {}, the context ({ctx})", a.max_tokens),
    )?;
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(1);
    let seq = longest + a.max_tokens;
    let config = a.config(cfg.param_count());
    config
        .validate()
        .context("--batch, --minibatch and --epochs")?;
    let (m, b) = (config.minibatch_size, config.batch_size);
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;

    // The step: the PPO loss over a mini-batch, differentiated, with AdamW, where
    // --backend resolves (once: `auto` probes for a GPU).
    let kind = gpu::choose_backend(a.backend)?;
    let mut step_args = a.step_args(&config);
    step_args.backend = match kind {
        BackendKind::Interp => Backend::Interp,
        BackendKind::Cpu => Backend::Cpu,
        BackendKind::Cuda => Backend::Cuda,
    };
    let module = build_forward(
        &cfg,
        &BuildOptions {
            output: ForwardOutput::PpoLoss,
            ppo: config.loss,
            ..BuildOptions::new(m, seq)
        },
    )?;
    let (step, eval) = compile_module_step(module, &step_args, 1, 25)?;
    let comm: Rc<dyn Communicator> = Rc::new(SingleRank::new());
    let mut initial: Vec<(String, Tensor)> = Vec::new();
    let names = param_names_for(&cfg, Head::PolicyValue);
    for w in &policy.weights {
        if names.iter().any(|(n, _)| *n == w.name) {
            initial.push((
                w.name.clone(),
                Tensor::from_f32(w.shape.clone(), w.data.clone())?,
            ));
        }
    }
    if a.value_init == ValueInit::Rm {
        let score = rm
            .weights
            .iter()
            .find(|w| w.name == Head::SCORE_WEIGHT)
            .context("the reward model has no score head")?;
        if rm.cfg.dim != cfg.dim {
            bail!(
                "--value-init rm: the reward model's width ({}) is not the policy's ({})",
                rm.cfg.dim,
                cfg.dim
            );
        }
        initial.push((
            Head::VALUE_WEIGHT.to_string(),
            Tensor::from_f32(score.shape.clone(), score.data.clone())?,
        ));
    }
    let mut backend = step_backend(&step_args, step, eval, &a.out, Some(initial), &comm)?;
    let start: Vec<NamedTensor> = llc_trainer::params_of_state(&backend.state()?)?;

    // The rollout graphs: compiled for this CPU unless the step runs on the interpreter.
    let compiled = kind != BackendKind::Interp;
    let graphs = a.out.join("rollout");
    let stats = forward_model(
        policy_graph(&cfg, ForwardOutput::PolicyStats, m, seq)?,
        &start,
        compiled,
        &graphs.join("policy_stats"),
    )?;
    let reference = forward_model(
        policy_graph(&cfg, ForwardOutput::TokenLogprobs, m, seq)?,
        &policy.weights,
        compiled,
        &graphs.join("reference"),
    )?;
    let score_batch = a.decode_batch.min(b);
    let scorer = RewardScorer::with_model(
        forward_model(
            rewards_function(&rm.cfg, score_batch, seq + 1)?,
            &rm.weights,
            compiled,
            &graphs.join("reward"),
        )?,
        score_batch,
        seq + 1,
    );
    let shape = DecoderShape {
        batch: a.decode_batch.min(b),
        prompt_len: longest,
        cache_len: seq,
    };
    let decode_backend = if compiled {
        DecodeBackend::Cpu
    } else {
        DecodeBackend::Interp
    };
    let decoder = build_decoder(&cfg, &start, shape, decode_backend)?;
    eprintln!(
        "ppo on {}: {} prompts, rollouts of {b} x {seq} tokens, mini-batches of {m}, step on {}, rollout graphs on {}, decoder {}; β {}, lr {:.1e}",
        a.policy.display(),
        prompts.len(),
        backend.name(),
        stats.describe(),
        decoder.describe,
        config.kl_beta,
        config.lr,
    );
    let opts = PpoOptions {
        config,
        seq,
        max_tokens: a.max_tokens,
        eos: tokenizer.eos_id(),
        pad: tokenizer.eos_id(),
        candidates: tokenizer.vocab_size(),
        seed: a.seed,
    };
    let models = PpoModels {
        step: backend.as_mut(),
        stats,
        reference,
        decoder: decoder.model,
        scorer,
    };
    let mut trainer = PpoTrainer::new(models, prompts, opts)?;
    let root = a.out.join("checkpoints");
    trainer.checkpoints = Some(CheckpointSink {
        manager: CheckpointManager::new(&root, a.keep_last)?,
        config_json: cfg.to_hf_config_json_for(Head::PolicyValue),
    });
    let metrics_path = a.out.join("metrics.jsonl");
    if a.resume {
        let it = trainer.resume(&root)?;
        trainer.metrics = Some(MetricsWriter::resume(&metrics_path, it)?);
        eprintln!("resumed after iteration {it}");
    } else {
        trainer.metrics = Some(MetricsWriter::create(&metrics_path)?);
    }
    let first = trainer.iteration();
    let all = trainer.run(a.iterations, a.save_every, |s, saved| {
        eprintln!(
            "iteration {:>4}/{}: reward {:+.4} kl {:.3} entropy {:.3} value loss {:.4} clip frac {:.3} loss {:+.4} |g| {:.3} len {:.1} ({:.0} tokens/s, decode {:.0} tokens/s)",
            s.iteration,
            a.iterations,
            s.reward,
            s.kl,
            s.entropy,
            s.value_loss,
            s.clip_frac,
            s.loss,
            s.grad_norm,
            s.response_len,
            s.tokens_per_sec,
            s.gen_tokens_per_sec,
        );
        if let Some(dir) = saved {
            eprintln!("iteration {:>4}: checkpoint {}", s.iteration, dir.display());
        }
    })?;
    match (all.first(), all.last()) {
        (Some(f), Some(l)) => println!(
            "ppo iterations {}..{}: mean reward {:+.4} -> {:+.4}, KL to the reference {:.3} -> {:.3} nats per response",
            first + 1,
            l.iteration,
            f.reward,
            l.reward,
            f.kl,
            l.kl
        ),
        _ => println!("nothing to do: {first} iterations already done"),
    }
    println!(
        "metrics in {}; checkpoints (the policy, with its value head) in {}",
        metrics_path.display(),
        root.display()
    );
    Ok(())
}
