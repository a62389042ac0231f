//! A checkpoint's Hugging Face `config.json` as the model crate reads it: the sizes come
//! from [`LlamaConfig::from_hf_config_json`] (which applies [`LlamaConfig::validate`] and
//! its `MAX_*` limits) and the parameter list from [`llc_models::param_names`], so model
//! shapes have one source. Errors name the file and, through [`ModelError`], the field.

use std::path::Path;

use llc_models::{Head, LlamaConfig, ModelError};

use super::error::{CheckpointError, CheckpointResult};
use super::tensor::ParamSpec;

/// Parses a `config.json` text; `path` is for messages only.
pub fn read_model_config(text: &str, path: &Path) -> CheckpointResult<LlamaConfig> {
    LlamaConfig::from_hf_config_json(text).map_err(|source: ModelError| {
        CheckpointError::ModelConfig {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Parses a `config.json` text of any Llama model: its sizes and its head (a causal LM
/// or a reward model, from `architectures`); `path` is for messages only.
pub fn read_model_config_any(text: &str, path: &Path) -> CheckpointResult<(LlamaConfig, Head)> {
    LlamaConfig::from_hf_config_json_any(text).map_err(|source| CheckpointError::ModelConfig {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses `config.json` from a file.
pub fn read_model_config_file(path: &Path) -> CheckpointResult<LlamaConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::io(path, e))?;
    read_model_config(&text, path)
}

/// Every parameter of the model in our naming, with its shape, in the forward
/// function's argument order ([`llc_models::param_names`]).
pub fn param_specs(cfg: &LlamaConfig) -> Vec<ParamSpec> {
    param_specs_for(cfg, Head::CausalLm)
}

/// The parameters of the trunk of `cfg` with `head` ([`llc_models::param_names_for`]).
pub fn param_specs_for(cfg: &LlamaConfig, head: Head) -> Vec<ParamSpec> {
    llc_models::param_names_for(cfg, head)
        .into_iter()
        .map(|(name, shape)| ParamSpec::new(name, shape))
        .collect()
}
