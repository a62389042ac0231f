//! `rm train`, `rm score` and `rejection-sample` end to end on a tiny byte-level policy:
//! the reward model trains through the compiled CPU step, checkpoints as a
//! LlamaForSequenceClassification, resumes exactly, scores, and is refused where a policy
//! is expected (and the reverse); malformed pairs name their file and line.

use crate::common::*;
use std::path::Path;

/// A tiny causal LM over the byte tokenizer (vocab 258), saved as a checkpoint.
fn policy(dir: &Path) -> std::path::PathBuf {
    let cfg = tiny_config(258);
    save_checkpoint(&dir.join("policy"), &cfg, &random_weights(&cfg, 5), 1)
}

/// 24 pairs: the chosen response says "you", the rejected one does not.
fn pairs(dir: &Path) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..24 {
        let line = serde_json::json!({
            "prompt": format!("Q{i}: "),
            "chosen": format!("you win {i}"),
            "rejected": format!("it is {i}"),
            "rating": if i % 2 == 0 { "better" } else { "significantly better" },
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let p = dir.join("pairs.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

fn rm_train(policy: &Path, pairs: &Path, out: &Path, steps: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "rm",
        "train",
        "--init-from",
        s(policy),
        "--pairs",
        s(pairs),
        "--batch",
        "4",
        "--seq",
        "24",
        "--steps",
        steps,
        "--eval-every",
        "3",
        "--val-fraction",
        "0.2",
        "--lr",
        "1e-3",
        "--warmup-steps",
        "2",
        "--total-steps",
        "8",
        "--backend",
        "cpu",
        "--save-every",
        "3",
        "-o",
        s(out),
    ];
    args.extend_from_slice(extra);
    llc_train_log(&args)
}

fn losses(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn reward_model_trains_checkpoints_resumes_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (policy, pairs) = (policy(dir.path()), pairs(dir.path()));
    let full = dir.path().join("full");
    let log = rm_train(&policy, &pairs, &full, "8", &[]);
    assert!(log.contains("val_accuracy"), "{log}");
    assert!(log.contains("19 training pairs, 5 held out"), "{log}");
    let metrics = std::fs::read_to_string(full.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"val_accuracy\""), "{metrics}");
    let last = full.join("checkpoints/step_000008");
    let config = std::fs::read_to_string(last.join("config.json")).unwrap();
    assert!(
        config.contains("LlamaForSequenceClassification"),
        "{config}"
    );

    // 6 steps, then a resume to 8: the same losses as 8 straight.
    let split = dir.path().join("split");
    rm_train(&policy, &pairs, &split, "6", &[]);
    let log = rm_train(&policy, &pairs, &split, "8", &["--resume"]);
    assert!(log.contains("resumed at step 6"), "{log}");
    assert_eq!(losses(&full), losses(&split));

    // Scoring: one reward per line, finite.
    let input = dir.path().join("score.jsonl");
    std::fs::write(
        &input,
        "{\"prompt\": \"Q1: \", \"response\": \"you win\"}\n\n{\"prompt\": \"Q2: \", \"response\": \"it is\"}\n",
    )
    .unwrap();
    let scored = dir.path().join("scored.jsonl");
    llc_train_log(&[
        "rm",
        "score",
        "--checkpoint",
        s(&full.join("checkpoints")),
        "--input",
        s(&input),
        "--jsonl",
        s(&scored),
    ]);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&scored)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["reward"].as_f64().unwrap().is_finite())
    );

    // Rejection sampling with the policy and this reward model: K draws, the best kept.
    let prompts = dir.path().join("prompts.txt");
    std::fs::write(&prompts, "Q1: \nQ2: \n").unwrap();
    let best = dir.path().join("best.jsonl");
    let log = llc_train_log(&[
        "rejection-sample",
        "--policy",
        s(&policy),
        "--rm",
        s(&full.join("checkpoints")),
        "--prompts",
        s(&prompts),
        "-k",
        "3",
        "--max-tokens",
        "6",
        "-o",
        s(&best),
        "--batch",
        "4",
    ]);
    assert!(log.contains("best-of-3 mean"), "{log}");
    let kept = std::fs::read_to_string(&best).unwrap();
    assert_eq!(kept.lines().count(), 2, "{kept}");
    assert!(kept.lines().all(|l| l.contains("\"answer\"")), "{kept}");

    // A reward model where a policy is expected, and the reverse.
    let rm_dir = full.join("checkpoints");
    let e = llc_train_err(&["sample", "--checkpoint", s(&rm_dir), "--max-tokens", "2"]);
    assert!(
        e.contains("describes a reward model") && e.contains("causal language model"),
        "{e}"
    );
    let e = llc_train_err(&[
        "rm",
        "score",
        "--checkpoint",
        s(&policy),
        "--input",
        s(&input),
        "--jsonl",
        s(&dir.path().join("x.jsonl")),
    ]);
    assert!(
        e.contains("describes a causal language model") && e.contains("reward model"),
        "{e}"
    );
    let e = llc_train_err(&[
        "rm",
        "train",
        "--init-from",
        s(&rm_dir),
        "--pairs",
        s(&pairs),
        "-o",
        s(&dir.path().join("bad")),
    ]);
    assert!(
        e.contains("--init-from") && e.contains("describes a reward model"),
        "{e}"
    );
    assert!(!dir.path().join("x.jsonl").exists(), "no partial output");
}

#[test]
fn malformed_pairs_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path());
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\", \"rating\": \"better\"}\n",
    )
    .unwrap();
    let e = llc_train_err(&[
        "rm",
        "train",
        "--init-from",
        s(&policy),
        "--pairs",
        s(&bad),
        "--seq",
        "24",
        "-o",
        s(&dir.path().join("out")),
    ]);
    assert!(
        e.contains("bad.jsonl:2:") && e.contains("missing field \"rejected\""),
        "{e}"
    );
}
