//! Finding and loading the weights `sample` and `grad` run: a Hugging Face Llama directory
//! (`config.json` + safetensors), one checkpoint written by `llc-train`, or a checkpoint
//! root (its latest checkpoint).

use anyhow::{Context, Result, bail};
use llc_models::{Head, LlamaConfig, ModelError};
use llc_trainer::checkpoint::{
    CheckpointError, CheckpointManager, NamedTensor, load_checkpoint, load_hf_model_dir,
    param_specs_for, read_model_config_any,
};
use std::path::{Path, PathBuf};

/// A model ready to build graphs for: its config and its weights in our names and layout.
pub struct LoadedModel {
    /// The directory the weights came from (a `step_*` dir when a root was given).
    pub dir: PathBuf,
    /// The model's hyper-parameters (also what converting tensors to Hugging Face
    /// layout needs).
    pub cfg: LlamaConfig,
    /// Parameters, our (Meta) names and layout.
    pub weights: Vec<NamedTensor>,
}

/// Loads the causal LM in `dir` (see [`load_model_dir_as`]).
pub fn load_model_dir(dir: &Path) -> Result<LoadedModel> {
    load_model_dir_as(dir, Head::CausalLm)
}

/// Loads `dir`: a checkpoint (has `trainer_state.json`), a Hugging Face directory (has
/// `config.json`), or a checkpoint root (has `step_*/` checkpoints; the latest is used).
/// Its `config.json` must describe a model with `head`: a reward model where a policy is
/// expected (or the reverse) is refused before any tensor is read.
pub fn load_model_dir_as(dir: &Path, head: Head) -> Result<LoadedModel> {
    if !dir.is_dir() {
        bail!("model directory {} does not exist", dir.display());
    }
    let (dir, is_checkpoint) = if dir.join("trainer_state.json").is_file() {
        (dir.to_path_buf(), true)
    } else if dir.join("config.json").is_file() {
        (dir.to_path_buf(), false)
    } else {
        let latest = CheckpointManager::new(dir, 1)?.latest()?.with_context(|| {
            format!(
                "{} holds neither a config.json (a Hugging Face Llama directory) nor \
                 checkpoints (step_*/ directories written by llc-train)",
                dir.display()
            )
        })?;
        (latest, true)
    };
    let (config_json, weights) = if is_checkpoint {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let (cfg, found) = read_model_config_any(&text, &config_path)?;
        check_head(head, found, &dir)?;
        let ckpt = match load_checkpoint(&dir, &param_specs_for(&cfg, found)) {
            Ok((_, ckpt)) => ckpt,
            // A PPO policy's checkpoint: the causal LM plus its value head, which a
            // causal LM's user does not need.
            Err(CheckpointError::UnexpectedTensor { name, .. })
                if found == Head::CausalLm && name == Head::VALUE_WEIGHT =>
            {
                let specs = param_specs_for(&cfg, Head::PolicyValue);
                let (_, mut ckpt) =
                    load_checkpoint(&dir, &specs).map_err(|e| weights_context(e, &dir))?;
                ckpt.params.retain(|p| p.name != Head::VALUE_WEIGHT);
                ckpt
            }
            Err(e) => return Err(weights_context(e, &dir)),
        };
        (ckpt.config_json, ckpt.params)
    } else {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let (_, found) = read_model_config_any(&text, &config_path)?;
        check_head(head, found, &dir)?;
        let m = load_hf_model_dir(&dir).map_err(|e| weights_context(e, &dir))?;
        (m.config_json, m.params)
    };
    let config_path = dir.join("config.json");
    let (cfg, _) = read_model_config_any(&config_json, &config_path)?;
    Ok(LoadedModel { dir, cfg, weights })
}

/// The model in `dir` has `found` where `expected` is needed: say which is which.
fn check_head(expected: Head, found: Head, dir: &Path) -> Result<()> {
    if expected == found {
        return Ok(());
    }
    Err(
        anyhow::Error::new(ModelError::WrongHead { expected, found })
            .context(format!("{}/config.json", dir.display())),
    )
}

/// A weight-loading error with what it means for a model directory: tensors that do not
/// fit its `config.json` (a missing LM head: not a causal language model).
fn weights_context(e: CheckpointError, dir: &Path) -> anyhow::Error {
    let what = match &e {
        CheckpointError::MissingTensor { name, .. } if name == "output.weight" => Some(format!(
            "{} has no LM head (`lm_head.weight`) and its config.json does not tie it to the \
             embeddings: only a causal language model (LlamaForCausalLM) can generate",
            dir.display()
        )),
        CheckpointError::MissingTensor { .. }
        | CheckpointError::UnexpectedTensor { .. }
        | CheckpointError::ShapeMismatch { .. } => Some(format!(
            "the tensors of {} do not match its config.json",
            dir.display()
        )),
        _ => None,
    };
    match what {
        Some(w) => anyhow::Error::new(e).context(w),
        None => e.into(),
    }
}
