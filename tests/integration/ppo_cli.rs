//! `llc-train ppo` end to end on a tiny byte-level policy and reward model: rollouts,
//! the compiled PPO step, metrics, checkpoints of the policy with its value head (which
//! `sample` loads as a policy), exact resume after a SIGKILL, and the refusals (a reward
//! model as the policy and the reverse, malformed prompts).

use crate::common::*;
use llc_models::Head;
use std::path::{Path, PathBuf};

/// A tiny causal LM and a tiny reward model over bytes (vocab 258), as checkpoints.
fn models(dir: &Path) -> (PathBuf, PathBuf) {
    let cfg = tiny_config(258);
    let policy = save_checkpoint(&dir.join("policy"), &cfg, &random_weights(&cfg, 5), 1);
    let rm_weights = random_weights_for(&cfg, Head::Score, 9);
    let rm = save_checkpoint_for(&dir.join("rm"), &cfg, Head::Score, &rm_weights, 1);
    (policy, rm)
}

fn prompts(dir: &Path) -> PathBuf {
    let p = dir.join("prompts.jsonl");
    let text: String = (0..6)
        .map(|i| format!("{}\n", serde_json::json!({ "prompt": format!("Q{i}: ") })))
        .collect();
    std::fs::write(&p, text).unwrap();
    p
}

fn ppo_args<'a>(
    policy: &'a Path,
    rm: &'a Path,
    prompts: &'a Path,
    out: &'a Path,
    backend: &'a str,
) -> Vec<&'a str> {
    vec![
        "ppo",
        "--policy",
        s(policy),
        "--rm",
        s(rm),
        "--prompts",
        s(prompts),
        "-o",
        s(out),
        "--iterations",
        "3",
        "--batch",
        "4",
        "--minibatch",
        "2",
        "--max-tokens",
        "6",
        "--lr",
        "3e-3",
        "--decode-batch",
        "4",
        "--save-every",
        "1",
        "--backend",
        backend,
    ]
}

/// Each iteration's metrics record (the whole JSON object).
fn records(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The fields that say what the run did (timings left out).
fn trajectory(out: &Path) -> Vec<Vec<f64>> {
    records(out)
        .iter()
        .map(|r| {
            [
                "loss",
                "grad_norm",
                "reward",
                "kl",
                "entropy",
                "value_loss",
                "clip_frac",
            ]
            .iter()
            .map(|k| r[*k].as_f64().unwrap())
            .collect()
        })
        .collect()
}

#[test]
fn ppo_trains_checkpoints_and_resumes_exactly_after_a_kill() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let (policy, rm) = models(dir.path());
    let prompts = prompts(dir.path());
    let full = dir.path().join("full");
    let log = llc_train_log(&ppo_args(&policy, &rm, &prompts, &full, "cpu"));
    assert!(log.contains("ppo iterations 1..3"), "{log}");
    let recs = records(&full);
    assert_eq!(recs.len(), 3, "{recs:?}");
    for r in &recs {
        for k in [
            "reward",
            "kl",
            "entropy",
            "value_loss",
            "clip_frac",
            "approx_kl",
            "response_len",
            "tokens_per_sec",
        ] {
            assert!(r[k].as_f64().is_some_and(f64::is_finite), "{k} in {r}");
        }
        assert!(r["lr"].as_f64().unwrap() > 2.9e-3, "constant lr: {r}");
    }
    // The first rollout is drawn by the reference policy itself: no KL yet. The updates
    // (lr 3e-3, far above rounding) move the policy away from it.
    assert!(recs[0]["kl"].as_f64().unwrap().abs() < 1e-5, "{}", recs[0]);
    assert!(recs[0]["approx_kl"].as_f64().unwrap() > 1e-6, "{}", recs[0]);
    assert!(recs[2]["kl"].as_f64().unwrap().abs() > 1e-4, "{}", recs[2]);

    // The checkpoint: the policy in Hugging Face layout plus the value head; `sample`
    // loads it as a policy.
    let last = full.join("checkpoints/step_000006");
    let config = std::fs::read_to_string(last.join("config.json")).unwrap();
    assert!(config.contains("LlamaForCausalLM"), "{config}");
    let names = tensor_bits(&last.join("model.safetensors"));
    assert!(names.iter().any(|(n, _, _)| n == "value_head.weight"));
    let log = llc_train_log(&[
        "sample",
        "--checkpoint",
        s(&full.join("checkpoints")),
        "--prompt",
        "Q1: ",
        "--max-tokens",
        "3",
    ]);
    assert!(!log.is_empty());

    // Killed in the second iteration (after its draws, after its updates, after its
    // metrics record; its checkpoint not written), then resumed from the first
    // iteration's: the same trajectory and the same weights and moments.
    let points: Vec<&str> = llc_ir::fsutil::KILL_POINTS
        .iter()
        .copied()
        .filter(|p| p.starts_with("ppo."))
        .collect();
    assert_eq!(points.len(), 3);
    for point in points {
        let split = dir.path().join(point);
        let out = llc_train_command()
            .args(ppo_args(&policy, &rm, &prompts, &split, "cpu"))
            .env("LLC_KILL_AT", format!("{point}@2"))
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(9), "{point}: {out:?}");
        let mut args = ppo_args(&policy, &rm, &prompts, &split, "cpu");
        args.push("--resume");
        let log = llc_train_log(&args);
        assert!(log.contains("resumed after iteration 1"), "{point}: {log}");
        assert_eq!(trajectory(&full), trajectory(&split), "{point}");
        for file in ["model.safetensors", "optimizer.safetensors"] {
            assert!(
                tensor_bits(&last.join(file))
                    == tensor_bits(&split.join("checkpoints/step_000006").join(file)),
                "{point}: {file} differs"
            );
        }
    }

    // The interpreter runs the same loop (the oracle of the compiled graphs): the first
    // iteration's rollout statistics agree.
    let interp = dir.path().join("interp");
    let mut args = ppo_args(&policy, &rm, &prompts, &interp, "interp");
    args[10] = "1";
    llc_train_log(&args);
    let (a, b) = (&records(&full)[0], &records(&interp)[0]);
    for k in ["reward", "entropy", "value_loss", "loss"] {
        let (x, y) = (a[k].as_f64().unwrap(), b[k].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{k}: {x} vs {y}");
    }
}

#[test]
fn ppo_refuses_wrong_heads_and_malformed_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let (policy, rm) = models(dir.path());
    let prompts = prompts(dir.path());
    let out = dir.path().join("out");
    let e = llc_train_err(&ppo_args(&rm, &rm, &prompts, &out, "interp"));
    assert!(
        e.contains("--policy") && e.contains("describes a reward model"),
        "{e}"
    );
    let e = llc_train_err(&ppo_args(&policy, &policy, &prompts, &out, "interp"));
    assert!(
        e.contains("--rm") && e.contains("describes a causal language model"),
        "{e}"
    );
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt\": \"Q1: \"}\n{\"prompt\": 3}\n").unwrap();
    let e = llc_train_err(&ppo_args(&policy, &rm, &bad, &out, "interp"));
    assert!(e.contains("bad.jsonl:2"), "{e}");
    let mut args = ppo_args(&policy, &rm, &prompts, &out, "interp");
    args[14] = "3"; // --minibatch 3 does not divide --batch 4
    let e = llc_train_err(&args);
    assert!(
        e.contains("--minibatch") && e.contains("multiple of the mini-batch (3)"),
        "{e}"
    );
    assert!(!out.join("metrics.jsonl").exists(), "no partial output");

    // The value head may start from the reward model's score head.
    let mut args = ppo_args(&policy, &rm, &prompts, &out, "interp");
    args[10] = "1";
    args.extend(["--value-init", "rm"]);
    llc_train_log(&args);
    assert_eq!(records(&out).len(), 1);
}
