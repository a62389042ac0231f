//! Loading a Hugging Face Llama model directory: `config.json` plus either
//! `model.safetensors` or sharded `model-0000X-of-0000Y.safetensors` files listed in
//! `model.safetensors.index.json`. Tensors may be F32, BF16 or F16; they come back as f32
//! in our names and layout, checked against the parameter list the config implies.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::error::{CheckpointError, CheckpointResult};
use super::hf_config::{param_specs_for, read_model_config_any};
use super::hf_convert::from_hf;
use super::safetensors_io::read_safetensors;
use super::tensor::{NamedTensor, ParamSpec, match_spec};
use llc_models::{Head, LlamaConfig};

/// File name of an unsharded Hugging Face weight file.
pub const HF_MODEL_FILE: &str = "model.safetensors";
/// File name of the shard index of a sharded one.
pub const HF_INDEX_FILE: &str = "model.safetensors.index.json";
/// File name of the model config.
pub const HF_CONFIG_FILE: &str = "config.json";

/// A Hugging Face model loaded into our layout.
#[derive(Clone, Debug)]
pub struct HfModel {
    /// The model's configuration, from `config.json`.
    pub cfg: LlamaConfig,
    /// Its head (`architectures`): a causal LM or a reward model.
    pub head: Head,
    /// The `config.json` text as found.
    pub config_json: String,
    /// Parameters in our names and layout, in [`param_specs_for`] order.
    pub params: Vec<NamedTensor>,
}

/// Loads `dir` (see the module docs) and validates every tensor against the config.
pub fn load_hf_model_dir(dir: &Path) -> CheckpointResult<HfModel> {
    let config_path = dir.join(HF_CONFIG_FILE);
    let config_json =
        std::fs::read_to_string(&config_path).map_err(|e| CheckpointError::io(&config_path, e))?;
    let (cfg, head) = read_model_config_any(&config_json, &config_path)?;
    let params = load_hf_weights(dir, &cfg, &param_specs_for(&cfg, head))?;
    Ok(HfModel {
        cfg,
        head,
        config_json,
        params,
    })
}

/// Loads the weights of `dir` in our layout and matches them to `spec` (names, shapes).
pub fn load_hf_weights(
    dir: &Path,
    cfg: &LlamaConfig,
    spec: &[ParamSpec],
) -> CheckpointResult<Vec<NamedTensor>> {
    let single = dir.join(HF_MODEL_FILE);
    let index = dir.join(HF_INDEX_FILE);
    let (hf_tensors, source) = if single.is_file() {
        (read_safetensors(&single)?.tensors, single)
    } else if index.is_file() {
        (read_sharded(dir, &index)?, index)
    } else {
        return Err(CheckpointError::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("neither {HF_MODEL_FILE} nor {HF_INDEX_FILE} found"),
            ),
        ));
    };
    let ours = from_hf(hf_tensors, cfg).map_err(|e| e.in_file(&source))?;
    match_spec(ours, spec, &source)
}

/// Reads all shards named by an index file, checking each listed tensor is where the index
/// says and that no tensor appears twice.
fn read_sharded(dir: &Path, index_path: &Path) -> CheckpointResult<Vec<NamedTensor>> {
    let text =
        std::fs::read_to_string(index_path).map_err(|e| CheckpointError::io(index_path, e))?;
    let json_err = |message: String| CheckpointError::Json {
        path: index_path.to_path_buf(),
        message,
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| json_err(format!("invalid JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| json_err("missing object \"weight_map\"".into()))?;
    let mut by_file: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for (name, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| json_err(format!("weight_map entry {name} is not a file name")))?;
        if file.contains('/') || file.contains("..") {
            return Err(json_err(format!(
                "weight_map entry {name} names {file:?}, outside the model directory"
            )));
        }
        by_file
            .entry(file.to_string())
            .or_default()
            .insert(name.clone());
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (file, names) in by_file {
        let path: PathBuf = dir.join(&file);
        let contents = read_safetensors(&path)?;
        let present: HashSet<&str> = contents.tensors.iter().map(|t| t.name.as_str()).collect();
        if let Some(missing) = names.iter().filter(|n| !present.contains(n.as_str())).min() {
            return Err(CheckpointError::MissingTensor {
                path,
                name: missing.clone(),
            });
        }
        for t in contents.tensors {
            if !seen.insert(t.name.clone()) {
                return Err(CheckpointError::DuplicateTensor { path, name: t.name });
            }
            out.push(t);
        }
    }
    Ok(out)
}
