//! `llc-train train` on the CPU: the loss falls, a resumed run continues exactly, and a
//! run killed with SIGKILL (mid-checkpoint or anywhere else) resumes to the same curve.

use crate::common::{corpus, llc_train, llc_train_log, losses};
use std::path::Path;
use std::time::{Duration, Instant};

fn train_args<'a>(text: &'a str, out: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "tiny",
        "--text",
        text,
        "--doc-split",
        "delim:%",
        "--batch",
        "4",
        "--seq",
        "32",
        "--steps",
        steps,
        "--eval-every",
        "10",
        "--eval-batches",
        "2",
        "--lr",
        "3e-3",
        "--warmup-steps",
        "5",
        "--total-steps",
        "40",
        "--save-every",
        "5",
        "--backend",
        "cpu",
        "-o",
        out,
    ]
}

#[test]
fn training_lowers_the_loss_and_writes_metrics_and_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let out = tmp.path().join("run");
    let log = llc_train_log(&train_args(
        text.to_str().unwrap(),
        out.to_str().unwrap(),
        "40",
    ));
    assert!(log.contains("trained steps 0..40"), "{log}");
    let l = losses(&out.join("metrics.jsonl"));
    assert_eq!(l.len(), 40);
    let first = l[0].1;
    let last = l.iter().rev().take(5).map(|r| r.1).sum::<f64>() / 5.0;
    assert!(first > 5.0 && last < first - 1.0, "loss {first} -> {last}");
    // Checkpoints are kept to the last 3 and the latest is step 40.
    let latest = std::fs::read_to_string(out.join("checkpoints/latest")).unwrap();
    assert_eq!(latest.trim(), "step_000040");
    let dirs: Vec<_> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    for f in [
        "model.safetensors",
        "config.json",
        "optimizer.safetensors",
        "trainer_state.json",
    ] {
        assert!(out.join("checkpoints/step_000040").join(f).is_file(), "{f}");
    }
}

#[test]
fn a_resumed_run_continues_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let text = text.to_str().unwrap();
    let whole = tmp.path().join("whole");
    let split = tmp.path().join("split");
    llc_train_log(&train_args(text, whole.to_str().unwrap(), "30"));
    llc_train_log(&train_args(text, split.to_str().unwrap(), "15"));
    let mut args = train_args(text, split.to_str().unwrap(), "30");
    args.push("--resume");
    let log = llc_train_log(&args);
    assert!(log.contains("resumed at step 15"), "{log}");
    assert_eq!(
        losses(&whole.join("metrics.jsonl")),
        losses(&split.join("metrics.jsonl"))
    );
}

/// Wait until the run has logged `step` steps (or exited).
fn wait_for_step(child: &mut std::process::Child, metrics: &Path, step: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        let n = std::fs::read_to_string(metrics)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= step {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("the run did not reach step {step}");
}

#[test]
fn sigkill_at_any_point_then_resume_gives_the_uninterrupted_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let text = text.to_str().unwrap();
    let whole = tmp.path().join("whole");
    llc_train_log(&train_args(text, whole.to_str().unwrap(), "30"));
    let reference = losses(&whole.join("metrics.jsonl"));

    // Kill at several points: right after a checkpoint step is logged (the save is then in
    // progress) and between checkpoints.
    for (trial, kill_at) in [5usize, 12, 20].into_iter().enumerate() {
        let out = tmp.path().join(format!("killed{trial}"));
        let metrics = out.join("metrics.jsonl");
        let mut child = crate::common::llc_train_command()
            .args(train_args(text, out.to_str().unwrap(), "30"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for_step(&mut child, &metrics, kill_at);
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        // Whatever was on disk, every complete checkpoint directory loads, and resuming
        // (or starting over, when no checkpoint was complete yet) reaches the same curve.
        let has_ckpt = out.join("checkpoints/latest").is_file();
        let mut args = train_args(text, out.to_str().unwrap(), "30");
        if has_ckpt {
            args.push("--resume");
        }
        let res = llc_train(&args);
        assert!(
            res.status.success(),
            "trial {trial}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        assert_eq!(
            losses(&metrics),
            reference,
            "trial {trial} (killed at step {kill_at})"
        );
        for e in std::fs::read_dir(out.join("checkpoints")).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "leftover {name}");
        }
    }
}

#[test]
fn bad_training_inputs_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let r = llc_train(&[
        "train",
        "tiny",
        "--text",
        "/nonexistent/corpus.txt",
        "--steps",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("/nonexistent/corpus.txt"), "{err}");
    assert!(!out.join("data/dataset.json").exists());

    let r = llc_train(&[
        "train",
        "no-such-model",
        "--text",
        "x",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("no-such-model") && err.contains("llama2-7b"),
        "{err}"
    );
}

/// Writes `ids` as headerless little-endian u16.
fn write_u16(path: &Path, ids: &[u32]) {
    let bytes: Vec<u8> = ids
        .iter()
        .flat_map(|&t| u16::try_from(t).unwrap().to_le_bytes())
        .collect();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn training_reads_raw_token_files_with_a_validation_split() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read(corpus(tmp.path())).unwrap();
    let ids: Vec<u32> = text.iter().map(|&b| u32::from(b)).collect();
    let cut = ids.len() * 9 / 10;
    let (train, val) = (tmp.path().join("train.u16"), tmp.path().join("val.u16"));
    write_u16(&train, &ids[..cut]);
    write_u16(&val, &ids[cut..]);
    let out = tmp.path().join("run");
    let log = llc_train_log(&[
        "train",
        "tiny",
        "--tokens",
        train.to_str().unwrap(),
        "--val-tokens",
        val.to_str().unwrap(),
        "--token-format",
        "raw-u16",
        "--batch",
        "4",
        "--seq",
        "32",
        "--steps",
        "30",
        "--eval-every",
        "30",
        "--eval-batches",
        "2",
        "--lr",
        "3e-3",
        "--warmup-steps",
        "5",
        "--total-steps",
        "30",
        "--backend",
        "cpu",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(log.contains("trained steps 0..30"), "{log}");
    let l = losses(&out.join("metrics.jsonl"));
    let first = l[0].1;
    let last = l.last().unwrap().1;
    assert!(last < first - 1.0, "loss {first} -> {last}");
    assert!(log.contains("val loss"), "{log}");

    // An id the model's vocabulary does not cover is named with its file and index.
    let bad = tmp.path().join("bad.u32");
    let mut big = ids[..4096].to_vec();
    big[1000] = 70_000;
    crate::common::write_tokens(&bad, &big);
    let out = llc_train(&[
        "train",
        "tiny",
        "--tokens",
        bad.to_str().unwrap(),
        "--token-format",
        "raw-u32",
        "--batch",
        "4",
        "--seq",
        "32",
        "--steps",
        "300",
        "--backend",
        "cpu",
        "-o",
        tmp.path().join("bad-run").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("bad.u32: token 70000 at index 1000 is out of range"),
        "{err}"
    );
}

/// `llama2-15m` ties its LM head to the embedding: its checkpoints hold no separate head
/// and no optimizer moments for one, and they resume and sample like untied ones.
#[test]
fn a_tied_embedding_model_checkpoints_resumes_and_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let out = tmp.path().join("run");
    let args = |steps: &'static str| {
        vec![
            "train".to_string(),
            "llama2-15m".into(),
            "--text".into(),
            text.to_str().unwrap().into(),
            "--doc-split".into(),
            "delim:%".into(),
            "--batch".into(),
            "2".into(),
            "--seq".into(),
            "16".into(),
            "--steps".into(),
            steps.into(),
            "--eval-every".into(),
            "0".into(),
            "--save-every".into(),
            "2".into(),
            "--warmup-steps".into(),
            "1".into(),
            "--total-steps".into(),
            "4".into(),
            "--backend".into(),
            "cpu".into(),
            "-o".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let first: Vec<String> = args("2");
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    llc_train_log(&first);
    let mut resume: Vec<String> = args("4");
    resume.push("--resume".into());
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    let log = llc_train_log(&resume);
    assert!(log.contains("resumed at step 2"), "{log}");
    let ckpt = out.join("checkpoints/step_000004");
    let config = std::fs::read_to_string(ckpt.join("config.json")).unwrap();
    assert!(config.contains("\"tie_word_embeddings\": true"), "{config}");
    let log = llc_train_log(&[
        "sample",
        "--checkpoint",
        out.join("checkpoints").to_str().unwrap(),
        "--prompt",
        "A",
        "--max-tokens",
        "4",
        "--seed",
        "1",
    ]);
    assert!(!log.is_empty());
}
