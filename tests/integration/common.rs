//! Helpers shared by the integration tests: the CLI binary, corpora and metrics logs, tiny
//! models with random weights, checkpoint and Hugging Face directories written from them,
//! token files, and Llama steps built as the compile pipeline builds them.

#![allow(dead_code)]

use llc_models::LlamaConfig;
use llc_runtime::Tensor;
use llc_trainer::checkpoint::{
    Checkpoint, CheckpointManager, NamedTensor, TrainerState, to_hf, write_safetensors,
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
    random_weights_for(cfg, llc_models::Head::CausalLm, seed)
}

/// [`random_weights`] for the trunk of `cfg` with `head` (a reward model's score head).
pub fn random_weights_for(
    cfg: &LlamaConfig,
    head: llc_models::Head,
    seed: u64,
) -> Vec<NamedTensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    llc_models::param_names_for(cfg, head)
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

/// Saves `weights` as checkpoint `step` under `root` with `CheckpointManager`; returns the
/// checkpoint directory.
pub fn save_checkpoint(
    root: &Path,
    cfg: &LlamaConfig,
    weights: &[NamedTensor],
    step: u64,
) -> PathBuf {
    save_checkpoint_for(root, cfg, llc_models::Head::CausalLm, weights, step)
}

/// [`save_checkpoint`] of a model with `head` (its `config.json` says which).
pub fn save_checkpoint_for(
    root: &Path,
    cfg: &LlamaConfig,
    head: llc_models::Head,
    weights: &[NamedTensor],
    step: u64,
) -> PathBuf {
    let ckpt = Checkpoint {
        params: weights.to_vec(),
        optimizer: None,
        config_json: cfg.to_hf_config_json_for(head),
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
    let hf = to_hf(weights, cfg).unwrap();
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

/// The `llc-train` binary cargo built for these tests, ready to configure and spawn.
pub fn llc_train_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llc-train"))
}

/// Runs the `llc-train` binary with `args`.
pub fn llc_train(args: &[&str]) -> Output {
    llc_train_command()
        .args(args)
        .output()
        .expect("the llc-train binary runs")
}

/// Stdout and stderr of a run that must succeed (training logs go to stderr).
pub fn llc_train_log(args: &[&str]) -> String {
    let out = llc_train(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "llc-train {args:?} failed:\n{text}");
    text
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

/// A small text corpus: Debian's fortunes when installed, otherwise generated text, so the
/// tests run anywhere (the README's demo needs the package; these tests don't).
pub fn corpus(dir: &Path) -> PathBuf {
    let fortunes = Path::new("/usr/share/games/fortunes/fortunes");
    if fortunes.is_file() {
        return fortunes.to_path_buf();
    }
    let path = dir.join("corpus.txt");
    let mut text = String::new();
    for i in 0..4000 {
        text.push_str(&format!(
            "the quick brown fox {} jumps over the lazy dog {}\n%\n",
            i % 17,
            i % 5
        ));
    }
    std::fs::write(&path, text).expect("write corpus");
    path
}

/// 400 generated documents of 24 words (blank-line separated) at `dir/text.txt`; word `w`
/// of document `d` is word `(d·a + w²·b + w) mod 16` of a fixed list, so two tests can
/// draw different text.
pub fn word_documents(dir: &Path, a: usize, b: usize) -> PathBuf {
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs", "away",
        "into", "woods", "at", "night",
    ];
    let mut text = String::new();
    for d in 0..400usize {
        for w in 0..24usize {
            text.push_str(words[(d * a + w * w * b + w) % words.len()]);
            text.push(' ');
        }
        text.push_str("\n\n");
    }
    let path = dir.join("text.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// Per-step `(step, loss, grad_norm, lr)` of a metrics log, in step order.
pub fn losses(metrics: &Path) -> Vec<(u64, f64, f64, f64)> {
    std::fs::read_to_string(metrics)
        .expect("metrics log")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                v["step"].as_u64().unwrap(),
                v["loss"].as_f64().unwrap(),
                v["grad_norm"].as_f64().unwrap(),
                v["lr"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The training step of `preset` at `batch x seq`, with the e-graph run on the forward
/// graph and on the step.
pub fn fused_step(preset: &str, batch: usize, seq: usize) -> llc_ir::Function {
    fused_step_in(preset, batch, seq, llc_passes::Precision::F32)
}

/// [`fused_step`] computing in `precision`.
pub fn fused_step_in(
    preset: &str,
    batch: usize,
    seq: usize,
    precision: llc_passes::Precision,
) -> llc_ir::Function {
    let cfg = LlamaConfig::preset(preset).unwrap();
    let opt = llc_passes::OptimizerConfig::default();
    fused_step_and_forward_in(&cfg, batch, seq, &opt, precision).0
}

/// The training step of `cfg` at `batch x seq` with optimizer `opt`, and the forward it
/// differentiates (the eval function of a training run), both through the e-graph as
/// `train` builds them.
pub fn fused_step_and_forward(
    cfg: &LlamaConfig,
    batch: usize,
    seq: usize,
    opt: &llc_passes::OptimizerConfig,
) -> (llc_ir::Function, llc_ir::Function) {
    fused_step_and_forward_in(cfg, batch, seq, opt, llc_passes::Precision::F32)
}

/// [`fused_step_and_forward`] computing in `precision` (the precision pass between the
/// forward e-graph and autodiff, as the compiler's pipeline runs it).
pub fn fused_step_and_forward_in(
    cfg: &LlamaConfig,
    batch: usize,
    seq: usize,
    opt: &llc_passes::OptimizerConfig,
    precision: llc_passes::Precision,
) -> (llc_ir::Function, llc_ir::Function) {
    use llc_passes::egraph::{EGraphOptions, optimize};
    use llc_passes::{apply_precision, build_step, differentiate};
    let m = llc_models::build_forward(cfg, &llc_models::BuildOptions::new(batch, seq)).unwrap();
    let (fwd, _) = optimize(m.function("forward").unwrap(), &EGraphOptions::forward()).unwrap();
    let mut fm = llc_ir::Module::new();
    fm.functions.push(fwd);
    apply_precision(&mut fm, "forward", precision).unwrap();
    let fwd = fm.functions.remove(0);
    let (fb, _) = differentiate(&fwd, "loss", "forward_backward").unwrap();
    let (step, _) = build_step(&fb, opt).unwrap();
    (optimize(&step, &EGraphOptions::step()).unwrap().0, fwd)
}

/// Whether this is a CI run (`CI=true`, as `.ci/run`'s machines and GitHub set it). There
/// an outside-oracle test that cannot run (no torch, no transformers) fails instead of
/// skipping: `scripts/setup.sh` installs them, so a missing one is a broken setup.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The Python for the outside-oracle tests: `$LLC_PYTHON`, else the project venv's
/// `.venv/bin/python` (made by `scripts/setup.sh`) when it exists, else `python3`.
pub fn python_path() -> String {
    if let Ok(p) = std::env::var("LLC_PYTHON") {
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".to_string()
}

/// The interpreter from [`python_path`] when it can `import <modules>` (e.g.
/// `"torch, transformers"`). Otherwise `None` after saying why (the test should return),
/// or, under [`under_ci`], a panic with the reason.
pub fn oracle_python(test: &str, modules: &str) -> Option<String> {
    let py = python_path();
    let why = match Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .output()
    {
        Ok(o) if o.status.success() => return Some(py),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            err.lines().last().unwrap_or("").to_string()
        }
        Err(e) => format!("cannot start it: {e}"),
    };
    let msg = format!(
        "{test}: `{py} -c \"import {modules}\"` failed ({why}); run scripts/setup.sh \
         (it makes .venv) or set LLC_PYTHON to an interpreter that has them"
    );
    if under_ci() {
        panic!("{msg} (CI=true: an outside-oracle test may not skip)");
    }
    eprintln!("skipping {msg}");
    None
}

/// Every tensor of a checkpoint file, by name, as raw bits.
pub fn tensor_bits(path: &Path) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    let mut t: Vec<_> = llc_trainer::checkpoint::read_safetensors(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .tensors
        .into_iter()
        .map(|t| {
            (
                t.name,
                t.shape,
                t.data.iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect();
    t.sort();
    t
}
