//! `llc-train train`: compile the step for a model, then train it on data with progress,
//! metrics, validation and checkpoints; `--resume` continues a run exactly.

use super::compile::{pipeline_for, summarize_reports};
use super::gpu::{self, BackendKind};
use crate::cli::{StepArgs, TrainArgs};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use llc_ir::{Function, Module};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{DataParallelOptions, Pass, Pipeline, PipelineHooks};
use llc_runtime::comm::{self, Communicator};
use llc_runtime::step::{CpuBackend, PlanBackend, StepBackend};
use llc_runtime::{PlanExecutor, Precision, Tensor, init};
use llc_trainer::checkpoint::{CheckpointManager, load_hf_model_dir};
use llc_trainer::data::{
    BatchLoader, DocSplit, LoaderConfig, PrepareOptions, TextTokenizer, TokenDataset, TokenFormat,
    expand_text_inputs, prepare_shards,
};
use llc_trainer::metrics::MetricsWriter;
use llc_trainer::{
    BatchSource, CheckpointSink, Shard, TokenBatches, TrainEvent, TrainOptions, Trainer,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The training (and validation) tokens of a run and the vocabulary they use, if known.
struct DataSource {
    train: TokenDataset,
    val: Option<TokenDataset>,
    /// Where the data is, for messages.
    place: String,
    vocab: Option<usize>,
}

/// Open `--tokens` files, prepare `--text` inputs into `out/data` (once), or open the
/// prepared `--data` directory.
fn resolve_data(a: &TrainArgs, out: &Path) -> Result<DataSource> {
    if !a.tokens.is_empty() {
        let format = TokenFormat::parse(&a.token_format)?;
        let train = TokenDataset::open(&a.tokens, format).context("--tokens")?;
        let val = if a.val_tokens.is_empty() {
            eprintln!("no --val-tokens: no val loss");
            None
        } else {
            Some(TokenDataset::open(&a.val_tokens, format).context("--val-tokens")?)
        };
        return Ok(DataSource {
            train,
            val,
            place: a
                .val_tokens
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            vocab: None,
        });
    }
    let dir = match &a.data {
        Some(dir) => dir.clone(),
        None => prepare_text(a, out)?,
    };
    let val = match TokenDataset::open_split(&dir, "val") {
        Ok(ds) => Some(ds),
        Err(_) => {
            eprintln!("no validation split in {}: no val loss", dir.display());
            None
        }
    };
    Ok(DataSource {
        train: TokenDataset::open_split(&dir, "train")?,
        val,
        place: dir.display().to_string(),
        vocab: dataset_vocab(&dir),
    })
}

/// Tokenize the `--text` inputs into `out/data` unless that was done before.
fn prepare_text(a: &TrainArgs, out: &Path) -> Result<PathBuf> {
    if a.text.is_empty() {
        bail!(
            "no training data: give --data DIR (prepared shards), --tokens FILE... or --text FILE..."
        );
    }
    let dir = out.join("data");
    if dir.join("dataset.json").is_file() {
        eprintln!("using the data already prepared in {}", dir.display());
        return Ok(dir);
    }
    let tok = TextTokenizer::load(&a.tokenizer)?;
    let opts = PrepareOptions {
        val_fraction: a.val_fraction,
        split: DocSplit::parse(&a.doc_split)?,
        show_progress: std::io::stderr().is_terminal(),
        ..PrepareOptions::default()
    };
    let inputs = expand_text_inputs(&a.text)?;
    let s = prepare_shards(&tok, &inputs, &dir, &opts)?;
    eprintln!(
        "prepared {} documents: {} train + {} val tokens ({}, vocab {})",
        s.documents, s.train_tokens, s.val_tokens, s.tokenizer, s.vocab_size
    );
    Ok(dir)
}

/// The vocabulary size recorded by `data prepare` (`dataset.json`), if any.
fn dataset_vocab(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("dataset.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("vocab_size")?.as_u64().map(|n| n as usize)
}

/// Parameter values by name (weights to start from).
type NamedValues = Vec<(String, Tensor)>;

/// The model config and, when fine-tuning, its starting weights.
fn resolve_model(
    a: &TrainArgs,
    data_vocab: Option<usize>,
) -> Result<(LlamaConfig, Option<NamedValues>)> {
    if let Some(dir) = &a.init_from {
        let hf = load_hf_model_dir(dir)?;
        let cfg = hf.cfg;
        if let Some(v) = data_vocab
            && v > cfg.vocab_size
        {
            bail!(
                "the data uses a vocabulary of {v} tokens but the model in {} has {}",
                dir.display(),
                cfg.vocab_size
            );
        }
        let weights = hf
            .params
            .into_iter()
            .map(|t| Ok((t.name, Tensor::from_f32(t.shape, t.data)?)))
            .collect::<Result<Vec<_>>>()?;
        return Ok((cfg, Some(weights)));
    }
    let mut cfg = super::load_config(&a.spec)?;
    if let Some(v) = data_vocab
        && a.spec.vocab.is_none()
        && v != cfg.vocab_size
    {
        if a.spec.hf_config.is_some() && v > cfg.vocab_size {
            bail!(
                "the data uses a vocabulary of {v} tokens but the model has {}",
                cfg.vocab_size
            );
        }
        if a.spec.hf_config.is_none() {
            eprintln!(
                "model vocabulary set to {v} to match the data's tokenizer (was {}; --vocab overrides)",
                cfg.vocab_size
            );
            cfg = cfg.with_vocab(v);
        }
    }
    cfg.validate()?;
    Ok((cfg, None))
}

/// The compiled training step and the eval forward (fused like the step) for this run;
/// on `world > 1` ranks the step averages its gradients over them (the data-parallel pass).
fn compile_step(a: &TrainArgs, cfg: &LlamaConfig, world: usize) -> Result<(Function, Function)> {
    let opts = BuildOptions {
        loss_mask: a.sft,
        ..BuildOptions::new(a.batch, a.seq)
    };
    compile_module_step(build_forward(cfg, &opts)?, &a.step, world, a.bucket_mb)
}

/// The training step of a forward `module` (whose result is a loss) as `step` flags
/// configure the pipeline, and the eval forward (fused like the step); on `world > 1`
/// ranks the gradients are averaged in all-reduces of at most `bucket_mb` MiB.
pub(crate) fn compile_module_step(
    mut module: Module,
    step: &StepArgs,
    world: usize,
    bucket_mb: usize,
) -> Result<(Function, Function)> {
    let mut eval = module.clone();
    let pipeline = pipeline_for(&step.optim, &step.egraph, step.precision.into())?
        .with_data_parallel(DataParallelOptions {
            bucket_bytes: bucket_mb.max(1) << 20,
            ..DataParallelOptions::new(world)
        });
    let reports = pipeline.run(&mut module, &mut PipelineHooks::default())?;
    eprint!("{}", summarize_reports(&reports, false));
    if !step.egraph.no_egraph {
        let fuse = Pipeline {
            passes: vec![Pass::EGraphForward(super::compile::egraph_options(
                &step.egraph,
                true,
            ))],
        };
        fuse.run(&mut eval, &mut PipelineHooks::default())?;
    }
    let train_step = module
        .function("step")
        .context("the pipeline produced no step function")?
        .clone();
    let eval = eval
        .functions
        .into_iter()
        .next()
        .context("the model has no forward function")?;
    Ok((train_step, eval))
}

/// The backend of `--backend`: the compiled step on the CPU or the GPU, or the
/// interpreter. All start from the same seeded values, then `weights` when fine-tuning.
fn make_backend(
    a: &TrainArgs,
    cfg: &LlamaConfig,
    out: &Path,
    weights: Option<NamedValues>,
    comm: &Rc<dyn Communicator>,
) -> Result<Box<dyn StepBackend>> {
    let world = comm.world_size();
    let kind = gpu::choose_backend(a.step.backend)?;
    if world > 1 && kind == BackendKind::Cuda {
        bail!(
            "a data-parallel run ({world} ranks) executes its step on the CPU for now: pass --backend cpu or interp (the CUDA plan has no NCCL all-reduce yet)"
        );
    }
    let (step, eval) = compile_step(a, cfg, world)?;
    step_backend(&a.step, step, eval, out, weights, comm)
}

/// The backend `args` choose for a compiled `step` (and its `eval` forward, which the
/// interpreter runs): seeded initial values, then `weights` (by name) when given.
pub(crate) fn step_backend(
    args: &StepArgs,
    step: Function,
    eval: Function,
    out: &Path,
    weights: Option<NamedValues>,
    comm: &Rc<dyn Communicator>,
) -> Result<Box<dyn StepBackend>> {
    let mut backend: Box<dyn StepBackend> = match gpu::choose_backend(args.backend)? {
        BackendKind::Cuda => return gpu::cuda_backend(args, &step, out, weights),
        BackendKind::Cpu => Box::new(cpu_plan_backend(args, &step, out, comm)?),
        BackendKind::Interp => {
            if args.artifact.is_some() {
                bail!("--artifact runs a compiled step: use it with --backend cpu or cuda");
            }
            let initial = init::initial_state(&step, args.seed, Precision::F32);
            Box::new(CpuBackend::new(step, eval, initial, Precision::F32)?.with_comm(comm.clone()))
        }
    };
    if let Some(w) = weights {
        backend.load_state(&w)?;
    }
    Ok(backend)
}

/// The compiled CPU step: `--artifact`, or the step compiled here for this CPU into
/// `out/artifact`; parameters seeded as on every backend.
fn cpu_plan_backend(
    a: &StepArgs,
    step: &Function,
    out: &Path,
    comm: &Rc<dyn Communicator>,
) -> Result<PlanBackend> {
    let dir = match &a.artifact {
        Some(dir) => dir.clone(),
        None => {
            // Rank 0 compiles; the other ranks load its artifact once it is written.
            let dir = out.join("artifact");
            if comm.rank() == 0 {
                eprintln!("compiling the step for this CPU into {}", dir.display());
                let report = super::compile::write_artifact(step, "cpu", false, &dir)?;
                eprint!("{report}");
            }
            if comm.world_size() > 1 {
                comm.barrier()?;
            }
            dir
        }
    };
    let exec =
        PlanExecutor::load(&dir).with_context(|| format!("--backend cpu: {}", dir.display()))?;
    if !exec.is_native() {
        bail!(
            "artifact {}: compiled for {}, a GPU target; --backend cpu needs one compiled with --target cpu (or x86-64-v3, x86-64-v4)",
            dir.display(),
            exec.plan().target
        );
    }
    gpu::check_plan_matches(exec.plan(), &dir, step)?;
    let initial: NamedValues = step
        .args()
        .iter()
        .zip(init::initial_state(step, a.seed, Precision::F32))
        .filter_map(|(&id, v)| Some((step.node(id).name.clone(), v?)))
        .collect();
    Ok(PlanBackend::new(exec, &initial)?.with_comm(comm.clone()))
}

fn progress_bar(total: u64, start: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    pb.set_position(start);
    pb
}

/// Train on this process's rank: a single rank, or one of `mpirun -np N` ranks. A rank
/// that fails aborts the whole group (the others would wait for it in their next
/// all-reduce).
pub fn run(a: TrainArgs) -> Result<()> {
    super::check_batch_seq(a.batch, a.seq)?;
    let comm = comm::from_env().context("setting up the ranks")?;
    let result = run_rank(a, &comm);
    if let Err(e) = &result
        && comm.world_size() > 1
    {
        eprintln!(
            "error: rank {} of {}: {e:#}",
            comm.rank(),
            comm.world_size()
        );
        comm.abort(1);
    }
    result
}

fn run_rank(a: TrainArgs, comm: &Rc<dyn Communicator>) -> Result<()> {
    let (rank, world) = (comm.rank(), comm.world_size());
    let lead = rank == 0;
    if world > 1 && a.sft {
        bail!(
            "--sft with {world} ranks: the loss is a mean over each rank's answer tokens, whose counts differ between ranks, so averaging the ranks' gradients would not be the global mean; train SFT on one rank"
        );
    }
    let model_name = a
        .spec
        .name
        .clone()
        .or_else(|| {
            a.init_from
                .as_ref()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "model".into());
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&model_name));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    if a.init_from.is_none() {
        // Fail on a bad model name before any data is prepared.
        super::load_config(&a.spec)?;
    }
    // Rank 0 prepares the data (once, into out/data), the others open it afterwards.
    if !lead {
        comm.barrier()?;
    }
    let data = resolve_data(&a, &out)?;
    if lead && world > 1 {
        comm.barrier()?;
    }
    let (cfg, weights) = resolve_model(&a, data.vocab)?;
    if a.seq > cfg.max_seq_len {
        bail!(
            "--seq {} is longer than the model's context ({})",
            a.seq,
            cfg.max_seq_len
        );
    }
    let mut backend = make_backend(&a, &cfg, &out, weights, comm)?;
    if lead {
        eprintln!(
            "model {model_name}: {} parameters, batch {} x {} tokens{}, backend {}",
            llc_ir::human_count(cfg.param_count()),
            a.batch,
            a.seq,
            if world > 1 {
                format!(" per rank x {world} ranks")
            } else {
                String::new()
            },
            backend.name()
        );
    }

    // The training loader serves the global batch (world x --batch rows); each rank trains
    // on its rows (Shard). Validation runs on rank 0 at --batch.
    let loader_cfg = |batch: usize, seed: u64, shuffle: bool| LoaderConfig {
        batch_size: batch,
        seq_len: a.seq,
        seed,
        shuffle,
        vocab_limit: Some(cfg.vocab_size),
    };
    let train = BatchLoader::new(data.train, loader_cfg(a.batch * world, a.step.seed, true))?;
    let val = match data.val.filter(|_| lead) {
        Some(ds) => Some(
            BatchLoader::new(ds, loader_cfg(a.batch, 0, false)).with_context(|| {
                format!(
                    "the validation data in {} is too small for batch {} x {}",
                    data.place, a.batch, a.seq
                )
            })?,
        ),
        None => None,
    };
    let metrics_path = out.join("metrics.jsonl");
    let checkpoints = CheckpointSink {
        manager: CheckpointManager::new(&out.join("checkpoints"), a.keep_last)?,
        config_json: cfg.to_hf_config_json(),
    };
    let resume_dir = match (&a.resume_from, a.resume) {
        (Some(dir), _) => Some(dir.clone()),
        (None, true) => Some(out.join("checkpoints")),
        (None, false) => None,
    };
    // Rank 0 alone writes metrics and checkpoints; every rank reads the checkpoint it
    // resumes from.
    let mut trainer = Trainer::new(
        backend.as_mut(),
        Box::new(TokenBatches {
            loader: train,
            loss_mask: a.sft,
        }),
        val.map(|loader| {
            Box::new(TokenBatches {
                loader,
                loss_mask: a.sft,
            }) as Box<dyn BatchSource>
        }),
        None,
        lead.then_some(checkpoints),
    );
    trainer.shard = Shard { rank, world };
    let start = match &resume_dir {
        Some(dir) => {
            let step = trainer.resume(dir)?;
            if lead {
                trainer.metrics = Some(MetricsWriter::resume(&metrics_path, step)?);
                eprintln!("resumed at step {step} from {}", dir.display());
            }
            step
        }
        None => {
            if lead {
                trainer.metrics = Some(MetricsWriter::create(&metrics_path)?);
            }
            0
        }
    };
    let opts = TrainOptions {
        steps: a.steps,
        eval_every: a.eval_every,
        eval_batches: a.eval_batches,
        save_every: a.save_every,
    };
    let pb = if lead {
        progress_bar(a.steps, start)
    } else {
        ProgressBar::hidden()
    };
    let log_lines = lead && pb.is_hidden();
    let log_every = a.log_every.max(1);
    let mut last_val: Option<f64> = None;
    let summary = trainer.run(&opts, |e| match e {
        TrainEvent::Step {
            step,
            metrics,
            tokens_per_sec,
        } => {
            let val = last_val.map_or(String::new(), |v| format!(" val {v:.4}"));
            let msg = format!(
                "loss {:.4}{val} lr {:.2e} |g| {:.3} {:.0} tok/s",
                metrics.loss, metrics.lr, metrics.grad_norm, tokens_per_sec
            );
            pb.set_position(*step);
            pb.set_message(msg.clone());
            if log_lines && (step % log_every == 0 || *step == 1) {
                eprintln!("step {step:>6}/{} {msg}", a.steps);
            }
        }
        TrainEvent::Eval {
            step,
            val_loss: Some(val_loss),
            ..
        } => {
            last_val = Some(*val_loss);
            if !lead {
                return;
            }
            pb.println(format!("step {step:>6}: val loss {val_loss:.4}"));
            if log_lines {
                eprintln!("step {step:>6}: val loss {val_loss:.4}");
            }
        }
        TrainEvent::Eval { .. } => {}
        TrainEvent::Saved { step, dir } => {
            let line = format!("step {step:>6}: checkpoint {}", dir.display());
            pb.println(&line);
            if log_lines {
                eprintln!("{line}");
            }
        }
    })?;
    pb.finish_and_clear();
    if !lead {
        return Ok(());
    }
    if world > 1 {
        let s = comm.stats();
        let steps = (summary.last_step - summary.first_step).max(1) as f64;
        println!(
            "all-reduce ({}): {} calls, {:.2} MB and {:.2} ms per step on rank 0",
            comm.name(),
            s.all_reduces,
            s.bytes as f64 / steps / 1e6,
            s.seconds * 1e3 / steps
        );
    }
    println!(
        "trained steps {}..{} in {:.1} s ({:.0} tokens/s): loss {} -> {}, val loss {}",
        summary.first_step,
        summary.last_step,
        summary.seconds,
        (summary.tokens as f64) / summary.seconds.max(1e-9),
        fmt_opt(summary.first_loss),
        fmt_opt(summary.last_loss),
        fmt_opt(summary.last_val_loss),
    );
    println!(
        "ln(vocab) = {:.4}; metrics in {}; checkpoints in {}",
        (cfg.vocab_size as f64).ln(),
        metrics_path.display(),
        out.join("checkpoints").display()
    );
    Ok(())
}

/// A loss for a summary line, `-` when there is none.
pub(crate) fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}
