//! `llc-train rm`: the reward model (Llama 2, §3.2.2). `rm train` fine-tunes a pretrained
//! or SFT checkpoint with a score head on preference pairs (the binary ranking loss with
//! the rating's margin), compiled like the pretraining step; `rm score` writes the reward
//! of each `{"prompt", "response"}` line.

use std::path::Path;

use anyhow::{Context, Result, bail};
use llc_models::{BuildOptions, ForwardOutput, Head, build_forward, param_names_for};
use llc_runtime::Tensor;
use llc_runtime::comm::{Communicator, SingleRank};
use llc_trainer::checkpoint::{CheckpointManager, NamedTensor};
use llc_trainer::data::JsonlReader;
use llc_trainer::metrics::MetricsWriter;
use llc_trainer::reward::{
    PairLoader, RewardScorer, encode_pairs, encode_scored, pair_metrics, read_pairs, split_held_out,
};
use llc_trainer::{BatchSource, CheckpointSink, TrainEvent, TrainOptions, Trainer};
use std::rc::Rc;

use super::model_dir::load_model_dir_as;
use super::sample::load_tokenizer;
use super::train::{compile_module_step, fmt_opt, step_backend};
use crate::cli::{RmScoreArgs, RmTrainArgs};
use crate::fsutil::write_atomic;

/// `rm train`.
pub fn train(a: RmTrainArgs) -> Result<()> {
    super::check_batch_seq(2 * a.batch, a.seq)?;
    let policy = load_model_dir_as(&a.init_from, Head::CausalLm)
        .with_context(|| format!("--init-from {}", a.init_from.display()))?;
    let cfg = policy.cfg.clone();
    if a.seq > cfg.max_seq_len {
        bail!(
            "--seq {} is longer than the model's context ({})",
            a.seq,
            cfg.max_seq_len
        );
    }
    let tokenizer = load_tokenizer(a.tokenizer.as_deref(), &policy.dir, &a.init_from)?;
    let pairs = read_pairs(&a.pairs)?;
    let (encoded, too_long) = encode_pairs(&tokenizer, &pairs, a.seq, &a.pairs)?;
    if too_long > 0 {
        eprintln!(
            "{too_long} of {} pairs are longer than --seq {} and are left out",
            pairs.len(),
            a.seq
        );
    }
    let (train_pairs, held_out) = split_held_out(encoded, a.val_fraction);
    eprintln!(
        "{} training pairs, {} held out ({})",
        train_pairs.len(),
        held_out.len(),
        a.pairs.display()
    );
    let out = a.out.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    let opts = BuildOptions {
        output: ForwardOutput::RankingLoss,
        ..BuildOptions::new(2 * a.batch, a.seq)
    };
    let module = build_forward(&cfg, &opts)?;
    let (step, eval) = compile_module_step(module, &a.step, 1, 25)?;
    let comm: Rc<dyn Communicator> = Rc::new(SingleRank::new());
    // The score head starts from the seeded initialization; the trunk from the policy.
    let names = param_names_for(&cfg, Head::Score);
    let trunk: Vec<(String, Tensor)> = policy
        .weights
        .iter()
        .filter(|w| names.iter().any(|(n, _)| *n == w.name))
        .map(|w| {
            Ok((
                w.name.clone(),
                Tensor::from_f32(w.shape.clone(), w.data.clone())?,
            ))
        })
        .collect::<Result<_>>()?;
    let mut backend = step_backend(&a.step, step, eval, &out, Some(trunk), &comm)?;
    eprintln!(
        "reward model on {}: {} pairs x {} tokens per step, backend {}",
        a.init_from.display(),
        a.batch,
        a.seq,
        backend.name()
    );
    let train = PairLoader::new(train_pairs, a.seq, a.batch, a.step.seed, true)?;
    let val = (held_out.len() >= a.batch)
        .then(|| PairLoader::new(held_out.clone(), a.seq, a.batch, 0, false))
        .transpose()?;
    let initial: Vec<NamedTensor> = backend
        .state()?
        .iter()
        .filter(|(n, _)| !n.starts_with("opt."))
        .map(|(n, t)| NamedTensor::new(n, t.shape().to_vec(), t.to_f32_vec()))
        .collect::<Result<_, _>>()?;
    let mut scorer = RewardScorer::new(&cfg, 2 * a.batch, a.seq, &initial)?;
    let held = held_out;
    let metrics_path = out.join("metrics.jsonl");
    let checkpoints = CheckpointSink {
        manager: CheckpointManager::new(&out.join("checkpoints"), a.keep_last)?,
        config_json: cfg.to_hf_config_json_for(Head::Score),
    };
    let mut trainer = Trainer::new(
        backend.as_mut(),
        Box::new(train),
        val.map(|v| Box::new(v) as Box<dyn BatchSource>),
        None,
        Some(checkpoints),
    );
    trainer.extra_eval = Some(Box::new(move |state| {
        scorer.set_state(state)?;
        let m = pair_metrics(&mut scorer, &held)?;
        Ok(vec![
            ("val_accuracy".to_string(), m.accuracy),
            ("val_margin".to_string(), m.mean_margin),
        ])
    }));
    if a.resume {
        let s = trainer.resume(&out.join("checkpoints"))?;
        trainer.metrics = Some(MetricsWriter::resume(&metrics_path, s)?);
        eprintln!("resumed at step {s}");
    } else {
        trainer.metrics = Some(MetricsWriter::create(&metrics_path)?);
    }
    let opts = TrainOptions {
        steps: a.steps,
        eval_every: a.eval_every,
        eval_batches: usize::MAX,
        save_every: a.save_every,
    };
    let mut last = String::new();
    let summary = trainer.run(&opts, |e| match e {
        TrainEvent::Step { step, metrics, .. } => {
            if step % a.log_every.max(1) == 0 || *step == 1 {
                eprintln!(
                    "step {step:>5}/{}: loss {:.4} lr {:.2e} |g| {:.3}",
                    a.steps, metrics.loss, metrics.lr, metrics.grad_norm
                );
            }
        }
        TrainEvent::Eval {
            step,
            val_loss,
            extra,
        } => {
            let mut parts: Vec<String> = val_loss
                .iter()
                .map(|v| format!("val loss {v:.4}"))
                .collect();
            parts.extend(extra.iter().map(|(k, v)| format!("{k} {v:.4}")));
            last = parts.join(", ");
            eprintln!("step {step:>5}: {last}");
        }
        TrainEvent::Saved { step, dir } => {
            eprintln!("step {step:>5}: checkpoint {}", dir.display())
        }
    })?;
    println!(
        "trained the reward model steps {}..{} in {:.1} s: loss {} -> {}; held-out: {last}",
        summary.first_step,
        summary.last_step,
        summary.seconds,
        fmt_opt(summary.first_loss),
        fmt_opt(summary.last_loss),
    );
    println!(
        "metrics in {}; checkpoints (LlamaForSequenceClassification) in {}",
        metrics_path.display(),
        out.join("checkpoints").display()
    );
    Ok(())
}

/// `rm score`.
pub fn score(a: RmScoreArgs) -> Result<()> {
    let rm = load_model_dir_as(&a.checkpoint, Head::Score)
        .with_context(|| format!("--checkpoint {}", a.checkpoint.display()))?;
    let tokenizer = load_tokenizer(a.tokenizer.as_deref(), &rm.dir, &a.checkpoint)?;
    let mut lines = Vec::new();
    for obj in JsonlReader::open(&a.input, "\"prompt\" and \"response\"")? {
        let obj = obj?;
        let (prompt, response) = (obj.string("prompt")?, obj.string("response")?);
        let ids = encode_scored(&tokenizer, &prompt, &response, &a.input, obj.line)?;
        if ids.len() > rm.cfg.max_seq_len {
            bail!(
                "{}:{}: {} tokens, longer than the reward model's context ({})",
                a.input.display(),
                obj.line,
                ids.len(),
                rm.cfg.max_seq_len
            );
        }
        lines.push((prompt, response, ids));
    }
    if lines.is_empty() {
        bail!("{}: nothing to score", a.input.display());
    }
    let seq = lines.iter().map(|l| l.2.len()).max().unwrap_or(1);
    let mut scorer = RewardScorer::new(&rm.cfg, a.batch.max(1), seq, &rm.weights)?;
    let rows: Vec<&[u32]> = lines.iter().map(|l| l.2.as_slice()).collect();
    let rewards = scorer.score(&rows)?;
    let mut text = String::new();
    for ((prompt, response, _), r) in lines.iter().zip(&rewards) {
        let line = serde_json::json!({"prompt": prompt, "response": response, "reward": r});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    write_jsonl(&a.jsonl, &text)?;
    let mean = rewards.iter().map(|&r| r as f64).sum::<f64>() / rewards.len() as f64;
    eprintln!(
        "scored {} responses (mean reward {mean:.4}) into {}",
        rewards.len(),
        a.jsonl.display()
    );
    Ok(())
}

fn write_jsonl(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes())
}
