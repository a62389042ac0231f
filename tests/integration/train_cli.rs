//! `llc-train train` on the CPU: the loss falls, a resumed run continues exactly, and a
//! run killed with SIGKILL (mid-checkpoint or anywhere else) resumes to the same curve.

use crate::common::{corpus, llc_train, llc_train_log, losses, tensor_bits};
use std::path::Path;

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

/// The kill test's run: 12 steps (warmup 3, cosine to step 12), a checkpoint every 3
/// steps keeping the last 2 (so saves replace, prune and point `latest`), evaluation at
/// steps 6 and 12, on the compiled CPU step (the test passes the reference run's
/// artifact with `--artifact` except where it kills the artifact write: a compile is
/// ~2.5 s of a ~3 s run).
fn kill_args<'a>(text: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "tiny",
        "--text",
        text,
        "--doc-split",
        "delim:%",
        "--batch",
        "2",
        "--seq",
        "16",
        "--steps",
        "12",
        "--eval-every",
        "6",
        "--eval-batches",
        "1",
        "--lr",
        "1e-2",
        "--warmup-steps",
        "3",
        "--total-steps",
        "12",
        "--save-every",
        "3",
        "--keep-last",
        "2",
        "--backend",
        "cpu",
        "-o",
        out,
    ]
}

/// Every complete checkpoint directory under `root` loads (parameters and moments match
/// the config's parameter list), and so does the one `latest` resolves to.
fn every_checkpoint_loads(root: &Path, what: &str) -> usize {
    use llc_trainer::checkpoint::{
        CheckpointManager, load_checkpoint, param_specs, read_model_config_file,
    };
    let mgr = CheckpointManager::new(root, 2).unwrap();
    let list = mgr.list().unwrap();
    for (step, dir) in &list {
        let cfg = read_model_config_file(&dir.join("config.json"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let spec = param_specs(&cfg);
        let (_, c) = load_checkpoint(dir, &spec).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(c.state.step, *step, "{what}");
        assert!(
            c.optimizer.is_some(),
            "{what}: {} has no moments",
            dir.display()
        );
    }
    if let Some(dir) = mgr.latest().unwrap_or_else(|e| panic!("{what}: {e}")) {
        assert!(
            list.iter().any(|(_, d)| *d == dir),
            "{what}: latest is not complete"
        );
    }
    list.len()
}

/// SIGKILL at every named crash point of checkpoint writing (atomic files, directory
/// replacement, the checkpoint's files, pointer and pruning), of the artifact write and of
/// the training loop (`llc_ir::fsutil::KILL_POINTS`, through `LLC_KILL_AT`): the run dies
/// there (exit by signal 9, so the point was reached), every checkpoint left on disk
/// loads, and resuming (or starting over when none is complete) gives the uninterrupted
/// run's losses, learning rates and grad norms and bit-identical final parameters and
/// moments. Some trials kill twice in a row (the resumed run again, while it replaces a
/// checkpoint directory the first run left).
#[test]
fn sigkill_at_named_points_then_resume_is_bit_exact() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let text = text.to_str().unwrap();
    let whole = tmp.path().join("whole");
    llc_train_log(&kill_args(text, whole.to_str().unwrap()));
    let reference = losses(&whole.join("metrics.jsonl"));
    assert_eq!(reference.len(), 12);
    let last = whole.join("checkpoints/step_000012");
    let ref_params = tensor_bits(&last.join("model.safetensors"));
    let ref_moments = tensor_bits(&last.join("optimizer.safetensors"));

    let artifact = whole.join("artifact");
    let trials: &[&[&str]] = &[
        &["train.batch_read@2"],
        &["train.stepped@4"],
        &["train.evaluated@1"],
        &["train.metrics_written@5"],
        &["train.saved@1"],
        &["train.saved@3"],
        &["checkpoint.config_written@1"],
        &["checkpoint.model_written@2"],
        &["checkpoint.optimizer_written@3"],
        &["checkpoint.state_written@2"],
        &["checkpoint.dir_done@1"],
        &["checkpoint.latest_written@3"],
        &["checkpoint.prune_renamed@1"],
        &["checkpoint.prune_deleted@2"],
        &["checkpoint.saved@2"],
        &["atomic.written@7"],
        &["atomic.synced@12"],
        &["atomic.renamed@16"],
        // Compiling runs (no --artifact): killed while the artifact directory is written.
        &["synced.written@2"],
        &["replace_dir.tmp_created@1"],
        // The rest run the reference run's artifact: replace_dir is the checkpoints'.
        &["replace_dir.tmp_created@3"],
        &["replace_dir.filled@3"],
        &["replace_dir.renamed@4"],
        // The first run leaves step 6 complete but `latest` at step 3; the resumed run
        // saves step 6 again and dies while replacing it.
        &["checkpoint.dir_done@2", "replace_dir.old_moved@1"],
        &["checkpoint.dir_done@3", "replace_dir.old_removed@1"],
    ];
    let mut named: Vec<&str> = trials
        .iter()
        .flat_map(|t| t.iter().map(|s| s.split('@').next().unwrap()))
        .collect();
    named.sort();
    named.dedup();
    // The PPO loop's points are killed at by ppo_cli.
    for p in llc_ir::fsutil::KILL_POINTS
        .iter()
        .filter(|p| !p.starts_with("ppo."))
    {
        assert!(named.contains(p), "no trial kills at {p}");
    }
    assert!(named.len() >= 20);
    for (trial, kills) in trials.iter().enumerate() {
        let out = tmp.path().join(format!("killed{trial}"));
        let root = out.join("checkpoints");
        // Kills in the artifact write: these runs compile (and the killed one leaves no
        // artifact directory, only its temporary one, which the next run replaces).
        let compiles = ["synced.written@2", "replace_dir.tmp_created@1"].contains(&kills[0]);
        let kill_args = |text: &'_ str, out: &'_ str| -> Vec<String> {
            let mut a: Vec<String> = kill_args(text, out).iter().map(|s| s.to_string()).collect();
            if !compiles {
                a.extend([
                    "--artifact".to_string(),
                    artifact.to_str().unwrap().to_string(),
                ]);
            }
            a
        };
        for (k, point) in kills.iter().enumerate() {
            let what = format!("trial {trial}, kill {k} at {point}");
            let mut args = kill_args(text, out.to_str().unwrap());
            if root.join("latest").is_file() || every_checkpoint_loads(&root, &what) > 0 {
                args.push("--resume".into());
            }
            let status = crate::common::llc_train_command()
                .args(&args)
                .env(llc_ir::fsutil::KILL_AT_ENV, point)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert_eq!(
                status.signal(),
                Some(9),
                "{what}: the run was not killed ({status})"
            );
            if compiles {
                assert!(!out.join("artifact").exists(), "{what}: a partial artifact");
            }
            every_checkpoint_loads(&root, &what);
        }
        let what = format!("trial {trial} ({kills:?})");
        let mut args = kill_args(text, out.to_str().unwrap());
        let saved = every_checkpoint_loads(&root, &what);
        if saved > 0 {
            args.push("--resume".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let res = llc_train(&args);
        assert!(
            res.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        assert_eq!(losses(&out.join("metrics.jsonl")), reference, "{what}");
        let last = root.join("step_000012");
        assert!(
            tensor_bits(&last.join("model.safetensors")) == ref_params,
            "{what}: parameters"
        );
        assert!(
            tensor_bits(&last.join("optimizer.safetensors")) == ref_moments,
            "{what}: moments"
        );
        every_checkpoint_loads(&root, &what);
        for dir in [&root, &out] {
            for e in std::fs::read_dir(dir).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                assert!(!name.ends_with(".tmp"), "{what}: leftover {name}");
            }
        }
        eprintln!("{what}: {saved} checkpoint(s) survived the kill; resumed bit-exact");
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

    // Size flags that overflow are refused before anything is prepared or created.
    let sized = tmp.path().join("sized");
    let max = usize::MAX.to_string();
    for (b, t) in [("4", max.as_str()), (max.as_str(), "32")] {
        let r = llc_train(&[
            "train",
            "tiny",
            "--text",
            "x",
            "--batch",
            b,
            "--seq",
            t,
            "-o",
            sized.to_str().unwrap(),
        ]);
        assert_eq!(r.status.code(), Some(1));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("exceeds the limit"), "{err}");
        assert!(!sized.exists(), "a refused run created {}", sized.display());
    }

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
