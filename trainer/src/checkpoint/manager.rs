//! Checkpoint directories: saving crash-safely, keeping the last K, finding the latest, and
//! loading with full validation.
//!
//! Layout under a checkpoint root:
//! ```text
//! root/
//!   latest                 # one line: the name of the newest complete checkpoint dir
//!   step_000100/
//!     config.json          # Hugging Face LlamaConfig
//!     model.safetensors    # parameters, Hugging Face names and layout, F32
//!     optimizer.safetensors# AdamW moments: "m.<our name>", "v.<our name>", our layout
//!     trainer_state.json   # step, loader positions, RNG, metrics path, version
//! ```
//! A save writes `step_000100.tmp/` (each file via temp + fsync + rename), fsyncs it,
//! renames it to `step_000100/`, fsyncs the root, then replaces `latest` atomically and
//! prunes. A SIGKILL at any point leaves either no `step_000100/` or a complete one; stale
//! `*.tmp` directories are removed by the next save. Only one process may save into a root.

use std::path::{Path, PathBuf};

use super::error::{CheckpointError, CheckpointResult};
use super::hf_config::read_model_config_any;
use super::hf_convert::{from_hf, to_hf};
use super::hf_load::{HF_CONFIG_FILE, HF_MODEL_FILE};
use super::safetensors_io::{read_safetensors, write_safetensors};
use super::tensor::{NamedTensor, ParamSpec, match_spec};
use super::trainer_state::TrainerState;
use llc_ir::fsutil::{fsync_dir, kill_point, replace_dir, write_atomic};

/// Optimizer state file name.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Trainer state file name.
pub const TRAINER_STATE_FILE: &str = "trainer_state.json";
/// Name of the pointer file in the root.
pub const LATEST_FILE: &str = "latest";

/// AdamW moments, one tensor per parameter, in our names and layout.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// First moments (named like their parameters).
    pub m: Vec<NamedTensor>,
    /// Second moments (named like their parameters).
    pub v: Vec<NamedTensor>,
}

/// Everything in one checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Parameters, our names and layout.
    pub params: Vec<NamedTensor>,
    /// Optimizer moments (absent for weights-only checkpoints).
    pub optimizer: Option<OptimizerState>,
    /// Hugging Face `config.json` text (from `LlamaConfig::to_hf_config_json`).
    pub config_json: String,
    /// Step, loader positions, RNG...
    pub state: TrainerState,
}

/// Saves, lists, prunes and finds checkpoints under one root directory.
#[derive(Clone, Debug)]
pub struct CheckpointManager {
    root: PathBuf,
    keep_last: usize,
}

/// Directory name of the checkpoint at `step`.
pub fn step_dir_name(step: u64) -> String {
    format!("step_{step:06}")
}

fn parse_step_dir(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("step_")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl CheckpointManager {
    /// A manager keeping the newest `keep_last` (>= 1) checkpoints under `root`.
    pub fn new(root: &Path, keep_last: usize) -> CheckpointResult<Self> {
        if keep_last == 0 {
            return Err(CheckpointError::InvalidOption(
                "keep_last must be at least 1".into(),
            ));
        }
        Ok(Self {
            root: root.to_path_buf(),
            keep_last,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `ckpt` as `step_{step}` (replacing one of the same step), points `latest` at
    /// it and prunes to the last K. Returns the checkpoint directory.
    pub fn save(&self, ckpt: &Checkpoint) -> CheckpointResult<PathBuf> {
        let root = &self.root;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| CheckpointError::io(p, e)
        };
        std::fs::create_dir_all(root).map_err(io(root))?;
        let name = step_dir_name(ckpt.state.step);
        let final_dir = root.join(&name);
        // Written as `step_N.tmp/`; a kill leaves that, and the next save prunes it.
        replace_dir(&final_dir, |tmp_dir: &Path| write_files(tmp_dir, ckpt))?;
        kill_point("checkpoint.dir_done");
        let latest = root.join(LATEST_FILE);
        write_atomic(&latest, format!("{name}\n").as_bytes()).map_err(io(&latest))?;
        kill_point("checkpoint.latest_written");
        self.prune()?;
        kill_point("checkpoint.saved");
        Ok(final_dir)
    }

    /// Complete checkpoint directories, oldest step first.
    pub fn list(&self) -> CheckpointResult<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(CheckpointError::io(&self.root, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| CheckpointError::io(&self.root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(step) = parse_step_dir(&name)
                && entry.path().is_dir()
            {
                out.push((step, entry.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The newest complete checkpoint: the one `latest` names, or (when `latest` is
    /// missing, e.g. a crash between the rename and the pointer update) the highest step.
    pub fn latest(&self) -> CheckpointResult<Option<PathBuf>> {
        let pointer = self.root.join(LATEST_FILE);
        match std::fs::read_to_string(&pointer) {
            Ok(text) => {
                let target = text.trim();
                let dir = self.root.join(target);
                let valid =
                    parse_step_dir(target).is_some() && dir.join(TRAINER_STATE_FILE).is_file();
                if !valid {
                    return Err(CheckpointError::DanglingLatest {
                        path: pointer,
                        target: target.to_string(),
                    });
                }
                Ok(Some(dir))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(self.list()?.pop().map(|(_, p)| p))
            }
            Err(e) => Err(CheckpointError::io(pointer, e)),
        }
    }

    /// Removes all but the newest K checkpoints and the leftovers of killed saves
    /// (`step_*.tmp` directories, temp `latest` files).
    fn prune(&self) -> CheckpointResult<()> {
        let all = self.list()?;
        let excess = all.len().saturating_sub(self.keep_last);
        for (_, dir) in &all[..excess] {
            // Rename first (atomic), delete after: a kill mid-delete leaves a `*.tmp`
            // directory, never a `step_*` one with files missing.
            let mut doomed = dir.clone().into_os_string();
            doomed.push(".deleting.tmp");
            let doomed = PathBuf::from(doomed);
            std::fs::rename(dir, &doomed).map_err(|e| CheckpointError::io(dir, e))?;
            kill_point("checkpoint.prune_renamed");
            std::fs::remove_dir_all(&doomed).map_err(|e| CheckpointError::io(&doomed, e))?;
            kill_point("checkpoint.prune_deleted");
        }
        for entry in
            std::fs::read_dir(&self.root).map_err(|e| CheckpointError::io(&self.root, e))?
        {
            let entry = entry.map_err(|e| CheckpointError::io(&self.root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let temp_pointer = name.starts_with(&format!(".{LATEST_FILE}."));
            if name.starts_with("step_") && name.ends_with(".tmp") && path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(|e| CheckpointError::io(&path, e))?;
            } else if temp_pointer && name.ends_with(".tmp") && path.is_file() {
                // A temp pointer left by a kill during an earlier pointer update.
                std::fs::remove_file(&path).map_err(|e| CheckpointError::io(&path, e))?;
            }
        }
        fsync_dir(&self.root).map_err(|e| CheckpointError::io(&self.root, e))
    }
}

fn write_files(dir: &Path, ckpt: &Checkpoint) -> CheckpointResult<()> {
    let config_path = dir.join(HF_CONFIG_FILE);
    let (cfg, _) = read_model_config_any(&ckpt.config_json, &config_path)?;
    write_atomic(&config_path, ckpt.config_json.as_bytes())
        .map_err(|e| CheckpointError::io(&config_path, e))?;
    kill_point("checkpoint.config_written");
    let hf = to_hf(&ckpt.params, &cfg)?;
    let step = ckpt.state.step.to_string();
    write_safetensors(
        &dir.join(HF_MODEL_FILE),
        &hf,
        &[("format", "pt"), ("step", &step)],
    )?;
    kill_point("checkpoint.model_written");
    if let Some(opt) = &ckpt.optimizer {
        let prefixed: Vec<NamedTensor> = opt
            .m
            .iter()
            .map(|t| NamedTensor {
                name: format!("m.{}", t.name),
                ..t.clone()
            })
            .chain(opt.v.iter().map(|t| NamedTensor {
                name: format!("v.{}", t.name),
                ..t.clone()
            }))
            .collect();
        write_safetensors(&dir.join(OPTIMIZER_FILE), &prefixed, &[("step", &step)])?;
        kill_point("checkpoint.optimizer_written");
    }
    let state_path = dir.join(TRAINER_STATE_FILE);
    write_atomic(&state_path, ckpt.state.to_json().as_bytes())
        .map_err(|e| CheckpointError::io(&state_path, e))?;
    kill_point("checkpoint.state_written");
    Ok(())
}

/// Loads the checkpoint in `dir` (a `step_*` directory, or a root whose latest checkpoint
/// is taken) and validates parameters and optimizer moments against `spec`.
pub fn load_checkpoint(dir: &Path, spec: &[ParamSpec]) -> CheckpointResult<(PathBuf, Checkpoint)> {
    let dir = if dir.join(TRAINER_STATE_FILE).is_file() {
        dir.to_path_buf()
    } else {
        CheckpointManager::new(dir, 1)?
            .latest()?
            .ok_or_else(|| CheckpointError::NoCheckpoint {
                path: dir.to_path_buf(),
            })?
    };
    let config_path = dir.join(HF_CONFIG_FILE);
    let config_json =
        std::fs::read_to_string(&config_path).map_err(|e| CheckpointError::io(&config_path, e))?;
    let (cfg, _) = read_model_config_any(&config_json, &config_path)?;

    let model_path = dir.join(HF_MODEL_FILE);
    let hf = read_safetensors(&model_path)?.tensors;
    let ours = from_hf(hf, &cfg).map_err(|e| e.in_file(&model_path))?;
    let params = match_spec(ours, spec, &model_path)?;

    let opt_path = dir.join(OPTIMIZER_FILE);
    let optimizer = if opt_path.is_file() {
        let mut m = Vec::new();
        let mut v = Vec::new();
        for t in read_safetensors(&opt_path)?.tensors {
            if let Some(name) = t.name.strip_prefix("m.") {
                m.push(NamedTensor {
                    name: name.to_string(),
                    ..t
                });
            } else if let Some(name) = t.name.strip_prefix("v.") {
                v.push(NamedTensor {
                    name: name.to_string(),
                    ..t
                });
            } else {
                return Err(CheckpointError::UnexpectedTensor {
                    path: opt_path,
                    name: t.name,
                });
            }
        }
        let prefixed = |p: &str| -> Vec<ParamSpec> {
            spec.iter()
                .map(|s| ParamSpec::new(format!("{p}.{}", s.name), s.shape.clone()))
                .collect()
        };
        // Validate with the prefixed names so messages say which moment is wrong.
        let rename = |ts: Vec<NamedTensor>, p: &str| -> Vec<NamedTensor> {
            ts.into_iter()
                .map(|t| NamedTensor {
                    name: format!("{p}.{}", t.name),
                    ..t
                })
                .collect()
        };
        let strip = |ts: Vec<NamedTensor>| -> Vec<NamedTensor> {
            ts.into_iter()
                .map(|t| NamedTensor {
                    name: t.name[2..].to_string(),
                    ..t
                })
                .collect()
        };
        let m = strip(match_spec(rename(m, "m"), &prefixed("m"), &opt_path)?);
        let v = strip(match_spec(rename(v, "v"), &prefixed("v"), &opt_path)?);
        Some(OptimizerState { m, v })
    } else {
        None
    };

    let state_path = dir.join(TRAINER_STATE_FILE);
    let text =
        std::fs::read_to_string(&state_path).map_err(|e| CheckpointError::io(&state_path, e))?;
    let state = TrainerState::from_json(&text, &state_path)?;
    Ok((
        dir,
        Checkpoint {
            params,
            optimizer,
            config_json,
            state,
        },
    ))
}
