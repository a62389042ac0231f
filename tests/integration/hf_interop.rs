//! Checks against PyTorch + Hugging Face transformers (`scripts/hf_reference.py`):
//! - a checkpoint written by llc-train loads with `LlamaForCausalLM.from_pretrained` and
//!   gives the logits our interpreter gives;
//! - `llc-train grad` on a directory saved by transformers gives torch's loss and
//!   gradients.
//!
//! Python is `$LLC_PYTHON`, else the project's `.venv/bin/python` (made by
//! `scripts/setup.sh`), else `python3`. When it cannot `import torch, transformers` the
//! tests are skipped with a message, except under `CI=true`, where they fail.

use crate::common::*;
use llc_models::{BuildOptions, ForwardOutput, build_forward};
use llc_runtime::{Precision, Tensor, run_function};
use llc_trainer::checkpoint::read_safetensors;
use llc_trainer::generate::bind_params;
use std::path::Path;
use std::process::Command;

/// The interpreter for these tests (see [`oracle_python`]: a skip outside CI, a failure
/// under `CI=true`).
fn python(test: &str) -> Option<String> {
    oracle_python(test, "torch, transformers")
}

/// Runs `scripts/hf_reference.py` with `args`; panics with its stderr on failure.
fn reference(py: &str, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hf_reference.py");
    let out = Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .expect("python starts");
    assert!(
        out.status.success(),
        "hf_reference.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn llc_train_checkpoint_loads_in_transformers_with_the_same_logits() {
    let Some(py) = python("llc_train_checkpoint_loads_in_transformers_with_the_same_logits") else {
        return;
    };
    for tie_embeddings in [false, true] {
        let cfg = llc_models::LlamaConfig {
            tie_embeddings,
            ..tiny_config(64)
        };
        checkpoint_logits_match(&py, &cfg);
    }
}

/// Save `cfg` with random weights as an llc-train checkpoint; transformers' logits on it
/// equal the interpreter's.
fn checkpoint_logits_match(py: &str, cfg: &llc_models::LlamaConfig) {
    let cfg = cfg.clone();
    let dir = tempfile::tempdir().unwrap();
    let weights = random_weights(&cfg, 21);
    let step_dir = save_checkpoint(&dir.path().join("run"), &cfg, &weights, 3);
    let (b, t) = (2, 12);
    let ids = random_ids(b * t, 64, 22);
    let tokens = dir.path().join("tokens.bin");
    write_tokens(&tokens, &ids);

    // Ours: the logits graph on the interpreter, from the weights we saved.
    let opts = BuildOptions {
        output: ForwardOutput::Logits,
        ..BuildOptions::new(b, t)
    };
    let m = build_forward(&cfg, &opts).unwrap();
    let f = m.function("forward").unwrap();
    let mut args = bind_params(f, &weights, Precision::F32).unwrap();
    let ids_i32: Vec<i32> = ids.iter().map(|&x| x as i32).collect();
    *args.iter_mut().find(|a| a.is_none()).unwrap() =
        Some(Tensor::from_i32(vec![b, t], ids_i32).unwrap());
    let args: Vec<Tensor> = args.into_iter().map(Option::unwrap).collect();
    let ours = run_function(f, &args, Precision::F32).unwrap()[0].to_f32_vec();

    // Theirs: transformers loads the checkpoint directory as written.
    let out = dir.path().join("hf_logits.safetensors");
    let (bs, ts) = (b.to_string(), t.to_string());
    reference(
        py,
        &[
            "logits",
            "--model",
            s(&step_dir),
            "--tokens",
            s(&tokens),
            "--batch",
            &bs,
            "--seq",
            &ts,
            "--out",
            s(&out),
        ],
    );
    let theirs = read_safetensors(&out).unwrap().tensors.remove(0);
    assert_eq!(theirs.shape, vec![b, t, 64]);
    let max_diff = ours
        .iter()
        .zip(&theirs.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = theirs.data.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    eprintln!(
        "logits vs transformers (tied embeddings: {}): max abs diff {max_diff:.3e} (max |logit| {scale:.3})",
        cfg.tie_embeddings
    );
    assert!(
        scale > 0.1,
        "logits too small to compare meaningfully: {scale}"
    );
    assert!(max_diff < 1e-4, "max abs diff {max_diff}");
}

#[test]
fn grad_matches_torch_on_a_transformers_saved_model() {
    let Some(py) = python("grad_matches_torch_on_a_transformers_saved_model") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let (b, t, vocab) = (2, 10, 64);
    let tokens = dir.path().join("tokens.bin");
    write_tokens(&tokens, &random_ids(b * (t + 1), vocab, 31));
    let torch_out = dir.path().join("torch.safetensors");
    let (bs, ts) = (b.to_string(), t.to_string());
    // A GQA config (4 query heads, 2 KV heads), saved by transformers itself; torch's
    // loss.backward() on the reloaded directory.
    reference(
        &py,
        &[
            "make-model",
            "--out",
            s(&model),
            "--vocab",
            "64",
            "--hidden",
            "32",
            "--layers",
            "2",
            "--heads",
            "4",
            "--kv-heads",
            "2",
            "--ffn",
            "48",
            "--seed",
            "5",
            "--tokens",
            s(&tokens),
            "--batch",
            &bs,
            "--seq",
            &ts,
            "--grads-out",
            s(&torch_out),
        ],
    );
    let ours_out = dir.path().join("ours.safetensors");
    llc_train_ok(&[
        "grad",
        "--hf-dir",
        s(&model),
        "--tokens",
        s(&tokens),
        "--batch",
        &bs,
        "--seq",
        &ts,
        "--out",
        s(&ours_out),
    ]);
    let ours = read_safetensors(&ours_out).unwrap().tensors;
    let theirs = read_safetensors(&torch_out).unwrap().tensors;
    let mut their_names: Vec<&str> = theirs.iter().map(|t| t.name.as_str()).collect();
    let mut our_names: Vec<&str> = ours.iter().map(|t| t.name.as_str()).collect();
    their_names.sort();
    our_names.sort();
    assert_eq!(our_names, their_names);

    let mut worst = (0.0, String::new());
    for o in &ours {
        let th = theirs.iter().find(|t| t.name == o.name).unwrap();
        assert_eq!(o.shape, th.shape, "{}", o.name);
        let e = rel_err(&o.data, &th.data);
        if e > worst.0 {
            worst = (e, o.name.clone());
        }
    }
    let loss = |ts: &[llc_trainer::checkpoint::NamedTensor]| {
        ts.iter().find(|t| t.name == "loss").unwrap().data[0]
    };
    eprintln!(
        "grad vs torch: loss {} vs {}; worst relative error {:.3e} ({})",
        loss(&ours),
        loss(&theirs),
        worst.0,
        worst.1
    );
    assert!(
        worst.0 < 1e-4,
        "worst relative error {:.3e} in {}",
        worst.0,
        worst.1
    );
}

#[test]
fn reward_model_checkpoint_scores_as_transformers_sequence_classifier() {
    let Some(py) = python("reward_model_checkpoint_scores_as_transformers_sequence_classifier")
    else {
        return;
    };
    use llc_models::Head;
    use llc_trainer::checkpoint::{
        Checkpoint, CheckpointManager, TrainerState, load_checkpoint, param_specs_for,
    };
    use llc_trainer::reward::RewardScorer;
    let cfg = tiny_config(64);
    let dir = tempfile::tempdir().unwrap();
    let weights = random_weights_for(&cfg, Head::Score, 41);
    let ckpt = Checkpoint {
        params: weights,
        optimizer: None,
        config_json: cfg.to_hf_config_json_for(Head::Score),
        state: TrainerState::new(5),
    };
    let step_dir = CheckpointManager::new(&dir.path().join("rm"), 2)
        .unwrap()
        .save(&ckpt)
        .unwrap();
    // Ours: the rewards graph on the interpreter, on the weights as read back from the
    // checkpoint (HF layout both ways).
    let (_, back) = load_checkpoint(&step_dir, &param_specs_for(&cfg, Head::Score)).unwrap();
    let (b, t) = (3, 12);
    let lens = [12, 7, 9];
    // Ids 1..64 (0 is the padding id), each row right-padded with 0 after its last token.
    let ids = random_ids(b * t, 63, 42);
    let rows: Vec<Vec<u32>> = (0..b)
        .map(|r| ids[r * t..r * t + lens[r]].iter().map(|&x| x + 1).collect())
        .collect();
    let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let mut scorer = RewardScorer::new(&cfg, b, t, &back.params).unwrap();
    let ours = scorer.score(&refs).unwrap();

    // Theirs: LlamaForSequenceClassification.from_pretrained on the checkpoint directory.
    let mut padded = Vec::with_capacity(b * t);
    for r in &rows {
        padded.extend_from_slice(r);
        padded.resize(padded.len() + t - r.len(), llc_models::REWARD_PAD_ID);
    }
    let tokens = dir.path().join("tokens.bin");
    write_tokens(&tokens, &padded);
    let out = dir.path().join("hf_rewards.safetensors");
    let (bs, ts) = (b.to_string(), t.to_string());
    reference(
        &py,
        &[
            "rewards",
            "--model",
            s(&step_dir),
            "--tokens",
            s(&tokens),
            "--batch",
            &bs,
            "--seq",
            &ts,
            "--out",
            s(&out),
        ],
    );
    let theirs = read_safetensors(&out).unwrap().tensors.remove(0);
    assert_eq!(theirs.shape, vec![b]);
    let max_diff = ours
        .iter()
        .zip(&theirs.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!(
        "rewards ours {ours:?} vs transformers {:?}: max abs diff {max_diff:.3e}",
        theirs.data
    );
    let spread = ours.iter().fold(0.0f32, |m, r| m.max((r - ours[0]).abs()));
    assert!(
        spread > 1e-3,
        "rewards too alike to tell rows apart: {ours:?}"
    );
    assert!(max_diff < 1e-5, "max abs diff {max_diff}");
}
