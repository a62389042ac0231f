//! The training loop: batches in, steps run, metrics logged, validation and checkpoints
//! at fixed intervals, and an exact resume from any checkpoint. The batches come from a
//! [`BatchSource`] (token windows for pretraining and SFT, preference pairs for the reward
//! model), so every objective compiled as a step trains through this one loop.

use crate::checkpoint::{
    Checkpoint, CheckpointManager, NamedTensor, OptimizerState, ParamSpec, TrainerState,
    load_checkpoint,
};
use crate::data::{BatchLoader, LoaderPosition};
use crate::error::{Result, TrainerError};
use crate::metrics::{MetricRecord, MetricsWriter};
use llc_ir::fsutil::kill_point;
use llc_runtime::Tensor;
use llc_runtime::step::{Batch, StepBackend, StepMetrics};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Names the optimizer lowering gives its state: `opt.m.<param>`, `opt.v.<param>` and the
/// completed-step counter `opt.step`.
const M_PREFIX: &str = "opt.m.";
const V_PREFIX: &str = "opt.v.";
const STEP_COUNTER: &str = "opt.step";

/// When to evaluate and save.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Train until this many steps have completed (counting steps before a resume).
    pub steps: u64,
    /// Validation every this many steps (0: never), and after the last step.
    pub eval_every: u64,
    /// Validation batches per evaluation (the same batches every time).
    pub eval_batches: usize,
    /// Checkpoint every this many steps (0: only after the last step).
    pub save_every: u64,
}

/// Where a run's batches come from, in a deterministic order that a checkpoint's
/// [`LoaderPosition`] restores exactly.
pub trait BatchSource {
    /// The next batch of step inputs for this rank's `shard` of the global batch.
    fn next_batch(&mut self, shard: Shard) -> Result<Batch>;
    /// Where the source stands (saved in checkpoints).
    fn position(&self) -> LoaderPosition;
    /// Continue from a saved position.
    fn seek(&mut self, pos: &LoaderPosition) -> Result<()>;
    /// Back to the first batch (validation serves the same batches every time).
    fn reset(&mut self);
    /// Batches in one pass over the data.
    fn batches_per_epoch(&self) -> u64;
}

/// Token windows as step inputs (`tokens`, `targets`, and with `loss_mask` a
/// `loss_mask` input: supervised fine-tuning; windows without a mask get all ones).
pub struct TokenBatches {
    pub loader: BatchLoader,
    pub loss_mask: bool,
}

impl BatchSource for TokenBatches {
    fn next_batch(&mut self, shard: Shard) -> Result<Batch> {
        to_step_batch(shard.take(self.loader.next_batch()?)?, self.loss_mask)
    }
    fn position(&self) -> LoaderPosition {
        self.loader.position()
    }
    fn seek(&mut self, pos: &LoaderPosition) -> Result<()> {
        Ok(self.loader.seek(pos)?)
    }
    fn reset(&mut self) {
        self.loader.reset()
    }
    fn batches_per_epoch(&self) -> u64 {
        self.loader.batches_per_epoch()
    }
}

/// Metrics beyond the validation loss, computed from the current parameters and state
/// at every evaluation (the reward model's held-out accuracy and margin), by name.
pub type ExtraEval<'a> = Box<dyn FnMut(&[(String, Tensor)]) -> Result<Vec<(String, f64)>> + 'a>;

/// What the loop reports as it goes (the CLI turns these into a progress bar).
#[derive(Clone, Debug)]
pub enum TrainEvent {
    Step {
        step: u64,
        metrics: StepMetrics,
        tokens_per_sec: f64,
    },
    Eval {
        step: u64,
        /// Mean validation loss (absent without validation batches).
        val_loss: Option<f64>,
        /// The [`ExtraEval`] metrics, by name.
        extra: Vec<(String, f64)>,
    },
    Saved {
        step: u64,
        dir: PathBuf,
    },
}

/// This process's share of each batch in a data-parallel run: the loader serves the
/// global batch (`world * B` rows, the same sequence on every rank) and rank `r` trains on
/// rows `r*B .. (r+1)*B`. Disjoint, deterministic, and together exactly the batch one rank
/// at batch `world * B` would see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub world: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { rank: 0, world: 1 }
    }
}

impl Shard {
    /// Rank `rank`'s rows of a global batch.
    pub fn take(&self, b: crate::data::Batch) -> Result<crate::data::Batch> {
        if self.world == 1 {
            return Ok(b);
        }
        if self.rank >= self.world || !b.batch_size.is_multiple_of(self.world) {
            return Err(TrainerError::UnevenShard {
                rank: self.rank,
                world: self.world,
                rows: b.batch_size,
            });
        }
        let rows = b.batch_size / self.world;
        let span = rows * b.seq_len;
        let range = self.rank * span..(self.rank + 1) * span;
        Ok(crate::data::Batch {
            batch_size: rows,
            seq_len: b.seq_len,
            tokens: b.tokens[range.clone()].to_vec(),
            targets: b.targets[range.clone()].to_vec(),
            loss_mask: b.loss_mask.map(|m| m[range].to_vec()),
            source: b.source,
        })
    }
}

/// Where checkpoints go and what they describe.
pub struct CheckpointSink {
    pub manager: CheckpointManager,
    /// Hugging Face `config.json` of the model.
    pub config_json: String,
}

/// A training run: backend, data, logs and checkpoints.
pub struct Trainer<'a> {
    pub backend: &'a mut dyn StepBackend,
    pub train: Box<dyn BatchSource + 'a>,
    pub val: Option<Box<dyn BatchSource + 'a>>,
    /// More metrics at every evaluation (written to the metrics log under their names).
    pub extra_eval: Option<ExtraEval<'a>>,
    pub metrics: Option<MetricsWriter>,
    pub checkpoints: Option<CheckpointSink>,
    /// This rank's share of every training batch (one rank by default).
    pub shard: Shard,
    step: u64,
    tokens_seen: u64,
}

/// Totals of a run.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub first_step: u64,
    pub last_step: u64,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub last_val_loss: Option<f64>,
    /// The last evaluation's [`ExtraEval`] metrics.
    pub last_extra: Vec<(String, f64)>,
    /// Tokens trained on in this run (not counting those before a resume).
    pub tokens: u64,
    pub seconds: f64,
}

impl<'a> Trainer<'a> {
    pub fn new(
        backend: &'a mut dyn StepBackend,
        train: Box<dyn BatchSource + 'a>,
        val: Option<Box<dyn BatchSource + 'a>>,
        metrics: Option<MetricsWriter>,
        checkpoints: Option<CheckpointSink>,
    ) -> Self {
        Trainer {
            backend,
            train,
            val,
            extra_eval: None,
            metrics,
            checkpoints,
            shard: Shard::default(),
            step: 0,
            tokens_seen: 0,
        }
    }

    /// Steps completed so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Continue from the checkpoint in `dir` (a `step_*` dir or a checkpoint root):
    /// parameters, optimizer moments and step counter, and the data loader's position.
    /// Returns the step it resumes at.
    pub fn resume(&mut self, dir: &Path) -> Result<u64> {
        let ckpt = load_checkpoint_for(self.backend, dir)?;
        let saved_world = ckpt.state.world_size.unwrap_or(1);
        if saved_world != self.shard.world as u64 {
            return Err(TrainerError::WorldMismatch {
                dir: dir.to_path_buf(),
                saved_world,
                world: self.shard.world,
            });
        }
        restore_backend(self.backend, &ckpt, dir)?;
        if let Some(pos) = &ckpt.state.train_loader {
            self.train.seek(pos)?;
        }
        self.step = ckpt.state.step;
        self.tokens_seen = ckpt.state.tokens_seen;
        Ok(self.step)
    }

    /// Mean validation loss over the first `batches` validation batches.
    pub fn evaluate(&mut self, batches: usize) -> Result<Option<f64>> {
        let Some(val) = self.val.as_mut() else {
            return Ok(None);
        };
        val.reset();
        let n = batches.min(val.batches_per_epoch() as usize).max(1);
        let mut sum = 0.0;
        for _ in 0..n {
            let b = val.next_batch(Shard::default())?;
            sum += self.backend.eval_loss(&b)?;
        }
        Ok(Some(sum / n as f64))
    }

    /// The [`ExtraEval`] metrics of the current state (none without one).
    pub fn evaluate_extra(&mut self) -> Result<Vec<(String, f64)>> {
        match self.extra_eval.as_mut() {
            None => Ok(Vec::new()),
            Some(f) => f(&self.backend.state()?),
        }
    }

    /// Write a checkpoint of the current state.
    pub fn save(&mut self) -> Result<Option<PathBuf>> {
        let Some(sink) = &self.checkpoints else {
            return Ok(None);
        };
        let mut state = TrainerState::new(self.step);
        state.tokens_seen = self.tokens_seen;
        state.train_loader = Some(self.train.position());
        state.metrics_path = self.metrics.as_ref().map(|w| w.path().to_path_buf());
        state.world_size = Some(self.shard.world as u64);
        let ckpt = checkpoint_of_backend(self.backend, state, &sink.config_json)?;
        Ok(Some(sink.manager.save(&ckpt)?))
    }

    /// Train until `opts.steps` steps are done, reporting through `on_event`.
    pub fn run(
        &mut self,
        opts: &TrainOptions,
        mut on_event: impl FnMut(&TrainEvent),
    ) -> Result<RunSummary> {
        let started = Instant::now();
        let tokens_at_start = self.tokens_seen;
        let mut summary = RunSummary {
            first_step: self.step,
            last_step: self.step,
            ..Default::default()
        };
        while self.step < opts.steps {
            let t0 = Instant::now();
            let batch = self.train.next_batch(self.shard)?;
            kill_point("train.batch_read");
            let metrics = self.backend.step(&batch)?;
            kill_point("train.stepped");
            // Tokens of the global batch (every rank's share).
            let batch_tokens = batch.tokens() * self.shard.world;
            if !metrics.loss.is_finite() {
                return Err(TrainerError::Diverged {
                    loss: metrics.loss,
                    step: self.step + 1,
                });
            }
            self.step += 1;
            self.tokens_seen += batch_tokens as u64;
            let tokens_per_sec = batch_tokens as f64 / t0.elapsed().as_secs_f64().max(1e-9);
            summary.first_loss.get_or_insert(metrics.loss);
            summary.last_loss = Some(metrics.loss);
            on_event(&TrainEvent::Step {
                step: self.step,
                metrics,
                tokens_per_sec,
            });
            let last = self.step == opts.steps;
            let eval_now =
                (opts.eval_every > 0 && self.step.is_multiple_of(opts.eval_every)) || last;
            let (val_loss, extra) = if eval_now {
                (self.evaluate(opts.eval_batches)?, self.evaluate_extra()?)
            } else {
                (None, Vec::new())
            };
            if val_loss.is_some() || !extra.is_empty() {
                kill_point("train.evaluated");
                if val_loss.is_some() {
                    summary.last_val_loss = val_loss;
                }
                summary.last_extra.clone_from(&extra);
                on_event(&TrainEvent::Eval {
                    step: self.step,
                    val_loss,
                    extra: extra.clone(),
                });
            }
            if let Some(w) = self.metrics.as_mut() {
                let mut r = MetricRecord::at_step(self.step);
                r.loss = Some(metrics.loss);
                r.val_loss = val_loss;
                r.lr = Some(metrics.lr);
                r.grad_norm = Some(metrics.grad_norm);
                r.tokens_per_sec = Some(tokens_per_sec);
                r.elapsed = Some(started.elapsed().as_secs_f64());
                for (k, v) in &extra {
                    r.extra.insert(k.clone(), serde_json::json!(v));
                }
                w.write(&r)?;
                kill_point("train.metrics_written");
            }
            let save_now =
                (opts.save_every > 0 && self.step.is_multiple_of(opts.save_every)) || last;
            if save_now && let Some(dir) = self.save()? {
                kill_point("train.saved");
                on_event(&TrainEvent::Saved {
                    step: self.step,
                    dir,
                });
            }
        }
        summary.last_step = self.step;
        summary.tokens = self.tokens_seen - tokens_at_start;
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }
}

/// Reads the checkpoint in `dir` (a `step_*` dir or a root) with the parameters
/// `backend` trains (names and shapes checked).
pub fn load_checkpoint_for(backend: &dyn StepBackend, dir: &Path) -> Result<Checkpoint> {
    let specs: Vec<ParamSpec> = backend
        .state()?
        .iter()
        .filter(|(n, _)| !n.starts_with("opt."))
        .map(|(n, t)| ParamSpec::new(n.clone(), t.shape().to_vec()))
        .collect();
    Ok(load_checkpoint(dir, &specs)?.1)
}

/// Puts a checkpoint's parameters, AdamW moments and step counter into `backend` (a
/// resume continues exactly where the save was); `dir` is for messages.
pub fn restore_backend(backend: &mut dyn StepBackend, ckpt: &Checkpoint, dir: &Path) -> Result<()> {
    let mut values: Vec<(String, Tensor)> = Vec::new();
    for p in &ckpt.params {
        values.push((p.name.clone(), named_to_tensor(p)?));
    }
    let opt = ckpt
        .optimizer
        .as_ref()
        .ok_or_else(|| TrainerError::NoOptimizerState {
            dir: dir.to_path_buf(),
        })?;
    for (prefix, list) in [(M_PREFIX, &opt.m), (V_PREFIX, &opt.v)] {
        for t in list {
            values.push((format!("{prefix}{}", t.name), named_to_tensor(t)?));
        }
    }
    if backend.state()?.iter().any(|(n, _)| n == STEP_COUNTER) {
        let step =
            i32::try_from(ckpt.state.step).map_err(|_| TrainerError::StepCounterOverflow {
                step: ckpt.state.step,
            })?;
        values.push((STEP_COUNTER.to_string(), Tensor::scalar_i32(step)));
    }
    backend.load_state(&values)?;
    Ok(())
}

/// A checkpoint of `backend`'s parameters and AdamW moments with `state` (whose `step`
/// must be the optimizer steps taken) and the model's `config_json`.
pub fn checkpoint_of_backend(
    backend: &dyn StepBackend,
    state: TrainerState,
    config_json: &str,
) -> Result<Checkpoint> {
    let mut params = Vec::new();
    let mut m = Vec::new();
    let mut v = Vec::new();
    for (name, t) in backend.state()? {
        if let Some(p) = name.strip_prefix(M_PREFIX) {
            m.push(tensor_to_named(p, &t)?);
        } else if let Some(p) = name.strip_prefix(V_PREFIX) {
            v.push(tensor_to_named(p, &t)?);
        } else if !name.starts_with("opt.") {
            params.push(tensor_to_named(&name, &t)?);
        }
    }
    Ok(Checkpoint {
        params,
        optimizer: Some(OptimizerState { m, v }),
        config_json: config_json.to_string(),
        state,
    })
}

/// A loader batch as the step's named inputs.
pub fn to_step_batch(b: crate::data::Batch, loss_mask: bool) -> Result<Batch> {
    let shape = vec![b.batch_size, b.seq_len];
    let mut inputs = vec![
        (
            "tokens".to_string(),
            Tensor::from_i32(shape.clone(), b.tokens)?,
        ),
        (
            "targets".to_string(),
            Tensor::from_i32(shape.clone(), b.targets)?,
        ),
    ];
    if loss_mask {
        let n = b.batch_size * b.seq_len;
        let mask = b.loss_mask.unwrap_or_else(|| vec![1.0; n]);
        inputs.push(("loss_mask".to_string(), Tensor::from_f32(shape, mask)?));
    }
    Ok(Batch { inputs })
}

/// The parameters among a step backend's state (optimizer moments and counters left
/// out), as named tensors: what a forward graph or a decoder binds.
pub fn params_of_state(state: &[(String, Tensor)]) -> Result<Vec<NamedTensor>> {
    state
        .iter()
        .filter(|(n, _)| !n.starts_with("opt."))
        .map(|(n, t)| tensor_to_named(n, t))
        .collect()
}

fn tensor_to_named(name: &str, t: &Tensor) -> Result<NamedTensor> {
    NamedTensor::new(name, t.shape().to_vec(), t.to_f32_vec()).map_err(TrainerError::from)
}

fn named_to_tensor(t: &NamedTensor) -> Result<Tensor> {
    Ok(Tensor::from_f32(t.shape.clone(), t.data.clone())?)
}
