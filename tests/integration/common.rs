//! Helpers shared by the integration tests: tiny models with random weights, checkpoint
//! and Hugging Face directories written from them, token files, and the CLI binary.

#![allow(dead_code)]

use llc_models::{LlamaConfig, param_names};
use llc_runtime::Tensor;
use llc_runtime::checkpoint::{
    Checkpoint, CheckpointManager, HfLlamaShape, NamedTensor, TrainerState, to_hf,
    write_safetensors,
};
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tiny grouped-query model (4 query heads sharing 2 KV heads).
pub fn tiny_config(vocab: usize) -> LlamaConfig {
    LlamaConfig {
        dim: 32,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        ffn_dim: 48,
        vocab_size: vocab,
        max_seq_len: 64,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tie_embeddings: false,
    }
}

/// Random weights for `cfg`: matrices N(0, 0.08²), norm gains 1 + N(0, 0.2²) (so a wrong
/// gain cannot hide behind a value of 1).
pub fn random_weights(cfg: &LlamaConfig, seed: u64) -> Vec<NamedTensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    param_names(cfg)
        .into_iter()
        .map(|(name, shape)| {
            let noise = Tensor::random_normal(shape.clone(), 1.0, &mut rng).to_f32_vec();
            let data = if name.ends_with("norm.weight") {
                noise.iter().map(|v| 1.0 + 0.2 * v).collect()
            } else {
                noise.iter().map(|v| 0.08 * v).collect()
            };
            NamedTensor::new(name, shape, data).unwrap()
        })
        .collect()
}

/// The `config.json` facts of `cfg`.
pub fn hf_shape(cfg: &LlamaConfig) -> HfLlamaShape {
    HfLlamaShape::from_json(&cfg.to_hf_config_json(), Path::new("config.json")).unwrap()
}

/// Saves `weights` as checkpoint `step` under `root` with `CheckpointManager`; returns the
/// checkpoint directory.
pub fn save_checkpoint(
    root: &Path,
    cfg: &LlamaConfig,
    weights: &[NamedTensor],
    step: u64,
) -> PathBuf {
    let ckpt = Checkpoint {
        params: weights.to_vec(),
        optimizer: None,
        config_json: cfg.to_hf_config_json(),
        state: TrainerState::new(step),
    };
    CheckpointManager::new(root, 2)
        .unwrap()
        .save(&ckpt)
        .unwrap()
}

/// Writes a plain Hugging Face directory (`config.json` + `model.safetensors`).
pub fn write_hf_dir(dir: &Path, cfg: &LlamaConfig, weights: &[NamedTensor]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), cfg.to_hf_config_json()).unwrap();
    let hf = to_hf(weights, &hf_shape(cfg)).unwrap();
    write_safetensors(&dir.join("model.safetensors"), &hf, &[("format", "pt")]).unwrap();
}

/// Writes raw little-endian u32 ids.
pub fn write_tokens(path: &Path, ids: &[u32]) {
    let bytes: Vec<u8> = ids.iter().flat_map(|t| t.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// `n` seeded ids in `0..vocab`.
pub fn random_ids(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    use rand::Rng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..vocab as u32)).collect()
}

/// Runs the `llc-train` binary with `args`.
pub fn llc_train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llc-train"))
        .args(args)
        .output()
        .expect("the llc-train binary runs")
}

/// Stdout of a run that must succeed (panics with stderr otherwise).
pub fn llc_train_ok(args: &[&str]) -> String {
    let out = llc_train(args);
    assert!(
        out.status.success(),
        "llc-train {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Stderr of a run that must fail (panics otherwise).
pub fn llc_train_err(args: &[&str]) -> String {
    let out = llc_train(args);
    assert!(
        !out.status.success(),
        "llc-train {args:?} succeeded but should fail; stdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// `path` as `&str` (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Relative error `|a - b| / |b|` (L2 norms) of two equally long vectors.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    let norm: f64 = b.iter().map(|&y| (y as f64).powi(2)).sum();
    (diff / norm.max(1e-300)).sqrt()
}
