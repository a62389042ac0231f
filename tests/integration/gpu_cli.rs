//! The GPU commands from the command line: `train --backend cuda|auto [--artifact]`,
//! `gpu-check` and `bench gpu`. On a machine without a GPU (CI) each must fail with the
//! driver's or device's reason, or fall back to the CPU for `auto`, and write nothing;
//! an artifact compiled for other flags is refused before any device is touched. With a
//! GPU, the same tests check that the commands succeed.

use crate::common::{corpus, llc_train, llc_train_log, s};
use llc_runtime::cuda::cuda_available;
use std::path::Path;

fn has_gpu() -> bool {
    cuda_available().is_ok()
}

/// Stderr of a failed run, asserting it failed.
fn failure(args: &[&str]) -> String {
    let out = llc_train(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "llc-train {args:?} succeeded:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The optimizer flags both the artifact and the training run use.
const OPTIM: [&str; 6] = ["--lr", "3e-3", "--warmup-steps", "2", "--total-steps", "10"];

/// Compile the tiny model (byte vocabulary) at `batch x seq` into an artifact in `dir`.
fn tiny_artifact(dir: &Path, batch: &str, seq: &str) -> std::path::PathBuf {
    let ir = dir.join(format!("tiny-{batch}x{seq}.ir"));
    let art = dir.join(format!("art-{batch}x{seq}"));
    llc_train_log(&[
        "model",
        "tiny",
        "--vocab",
        "258",
        "--batch",
        batch,
        "--seq",
        seq,
        "-o",
        s(&ir),
    ]);
    let mut args = vec!["compile", s(&ir), "-o", s(&art)];
    args.extend(OPTIM);
    llc_train_log(&args);
    art
}

fn train_args<'a>(text: &'a str, out: &'a str, backend: &'a str) -> Vec<&'a str> {
    let mut v = vec![
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
        "3",
        "--eval-every",
        "0",
        "--backend",
        backend,
        "-o",
        out,
    ];
    v.extend(OPTIM);
    v
}

#[test]
fn an_artifact_for_other_flags_is_refused_naming_the_tensor_and_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let art = tiny_artifact(tmp.path(), "4", "16");
    let out = tmp.path().join("run");
    let mut args = train_args(s(&text), s(&out), "cuda");
    args.extend(["--artifact", s(&art)]);
    let err = failure(&args);
    assert!(
        err.contains("input `tokens` is i32[4,16] there but this run needs i32[2,16]"),
        "{err}"
    );
    assert!(!out.join("checkpoints/latest").exists());
    assert!(!out.join("metrics.jsonl").exists());
}

#[test]
fn artifact_on_the_interpreter_backend_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let out = tmp.path().join("run");
    let mut args = train_args(s(&text), s(&out), "interp");
    args.extend(["--artifact", s(tmp.path())]);
    let err = failure(&args);
    assert!(
        err.contains("--artifact runs a compiled step: use it with --backend cpu or cuda"),
        "{err}"
    );
}

#[test]
fn cuda_training_runs_on_a_gpu_or_says_there_is_none() {
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let art = tiny_artifact(tmp.path(), "2", "16");
    let out = tmp.path().join("run");
    let mut args = train_args(s(&text), s(&out), "cuda");
    args.extend(["--artifact", s(&art)]);
    if has_gpu() {
        let log = llc_train_log(&args);
        assert!(log.contains("trained steps 0..3"), "{log}");
        return;
    }
    let err = failure(&args);
    assert!(err.contains("no CUDA"), "{err}");
    assert!(!out.join("metrics.jsonl").exists(), "{err}");
    // Without --artifact the step would be compiled for the GPU found: none here.
    let err = failure(&train_args(s(&text), s(&out), "cuda"));
    assert!(err.contains("no CUDA"), "{err}");
}

#[test]
fn auto_backend_falls_back_to_the_cpu_without_a_gpu() {
    if has_gpu() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let text = corpus(tmp.path());
    let out = tmp.path().join("run");
    let log = llc_train_log(&train_args(s(&text), s(&out), "auto"));
    assert!(log.contains("no usable GPU"), "{log}");
    assert!(log.contains("backend cpu"), "{log}");
    assert!(log.contains("trained steps 0..3"), "{log}");
}

#[test]
fn gpu_check_and_bench_gpu_say_there_is_no_gpu() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tiny_artifact(tmp.path(), "2", "16");
    let json = tmp.path().join("r.json");
    let check = [
        "gpu-check",
        "--artifact",
        s(&art),
        "--steps",
        "2",
        "--json",
        s(&json),
    ];
    let bench = [
        "bench",
        "gpu",
        "--artifact",
        s(&art),
        "--steps",
        "2",
        "--json",
        s(&json),
    ];
    if has_gpu() {
        llc_train_log(&check);
        llc_train_log(&bench);
        assert!(json.is_file());
        return;
    }
    for args in [&check[..], &bench[..]] {
        let err = failure(args);
        assert!(err.contains("no CUDA"), "{err}");
        assert!(!json.exists(), "{err}");
    }
    // A directory that is not an artifact is named as such, GPU or not.
    let err = failure(&["gpu-check", "--artifact", s(&tmp.path().join("nope"))]);
    assert!(
        err.contains("nope") && err.contains("not a directory"),
        "{err}"
    );
}
