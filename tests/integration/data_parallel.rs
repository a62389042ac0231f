//! Data-parallel training under `mpirun -np 2` (Debian OpenMPI):
//!
//! - two ranks at batch B train exactly like one rank at batch 2B: the same losses and
//!   parameters (to 1e-6) over 20 steps, on `tiny` and `llama2-15m`, with a resume of the
//!   two-rank run halfway;
//! - rank 0 alone writes metrics and checkpoints;
//! - a resume with another number of ranks is refused;
//! - a rank that dies (SIGKILL) or hangs (SIGSTOP, the collective watchdog) ends the run
//!   with an error within a timeout.
//!
//! Without `mpirun` the tests skip saying so, except under `CI=true`, where they fail.

use crate::common::{llc_train_err, llc_train_log, losses, s};
use llc_models::{LlamaConfig, param_names};
use llc_trainer::checkpoint::{ParamSpec, load_checkpoint};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `mpirun` when present; `None` (after saying why) when the tests should skip.
fn mpirun() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("mpirun"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mpirun not found under CI=true: scripts/setup.sh installs openmpi-bin"
        );
        eprintln!("skipped: no mpirun on PATH (apt-get install openmpi-bin libopenmpi-dev)");
    }
    found
}

/// `mpirun -np n` running `llc-train args...`, allowed as root and on more ranks than
/// cores (CI has 2 cores).
fn mpi_command(mpirun: &Path, n: usize, args: &[&str]) -> Command {
    let mut c = Command::new(mpirun);
    c.args([
        "-np",
        &n.to_string(),
        "--oversubscribe",
        "--bind-to",
        "none",
    ])
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    .env("OMPI_MCA_btl", "self,tcp")
    .arg(env!("CARGO_BIN_EXE_llc-train"))
    .args(args);
    c
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mpi_ok(mpirun: &Path, n: usize, args: &[&str]) -> String {
    let out = mpi_command(mpirun, n, args).output().expect("mpirun runs");
    let text = text_of(&out);
    assert!(
        out.status.success(),
        "mpirun -np {n} llc-train {args:?} failed:\n{text}"
    );
    text
}

/// A small generated corpus (blank-line separated documents).
fn text_file(dir: &Path) -> PathBuf {
    crate::common::word_documents(dir, 11, 5)
}

/// `--threads 1 train MODEL --data DATA --batch B ... -o OUT` on the interpreter;
/// checkpoints every 10 steps (and after the last).
fn train_args(model: &str, data: &Path, batch: usize, steps: usize, out: &Path) -> Vec<String> {
    train_args_on("interp", model, data, batch, steps, out)
}

/// [`train_args`] on `backend`.
fn train_args_on(
    backend: &str,
    model: &str,
    data: &Path,
    batch: usize,
    steps: usize,
    out: &Path,
) -> Vec<String> {
    [
        "--threads",
        "1",
        "train",
        model,
        "--data",
        s(data),
        "--batch",
        &batch.to_string(),
        "--seq",
        "32",
        "--steps",
        &steps.to_string(),
        "--eval-every",
        "0",
        "--lr",
        "3e-3",
        "--warmup-steps",
        "3",
        "--total-steps",
        "20",
        "--save-every",
        "10",
        "--backend",
        backend,
        "-o",
        s(out),
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The parameters of the latest checkpoint under `out`.
fn final_params(out: &Path, cfg: &LlamaConfig) -> Vec<(String, Vec<f32>)> {
    let spec: Vec<ParamSpec> = param_names(cfg)
        .into_iter()
        .map(|(n, shape)| ParamSpec::new(n, shape))
        .collect();
    let (_, ckpt) = load_checkpoint(&out.join("checkpoints"), &spec).unwrap();
    ckpt.params.into_iter().map(|p| (p.name, p.data)).collect()
}

/// Two ranks at batch 2 (20 steps, resumed at 10) against one rank at batch 4, on the
/// interpreter.
fn two_ranks_equal_one_rank_at_twice_the_batch(model: &str, cfg: &LlamaConfig) {
    two_ranks_equal_one_rank_on("interp", model, cfg)
}

/// [`two_ranks_equal_one_rank_at_twice_the_batch`] with the step on `backend`.
fn two_ranks_equal_one_rank_on(backend: &str, model: &str, cfg: &LlamaConfig) {
    let train_args = |model: &str, data: &Path, batch: usize, steps: usize, out: &Path| {
        train_args_on(backend, model, data, batch, steps, out)
    };
    let Some(mpirun) = mpirun() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let text = text_file(tmp.path());
    let prep = tmp.path().join("data");
    llc_train_log(&["data", "prepare", "--input", s(&text), "--out", s(&prep)]);

    let one = tmp.path().join("one");
    let log1 = llc_train_log(&strs(&train_args(model, &prep, 4, 20, &one)));
    let two = tmp.path().join("two");
    let first = train_args(model, &prep, 2, 10, &two);
    let log2a = mpi_ok(&mpirun, 2, &strs(&first));
    assert!(log2a.contains("per rank x 2 ranks"), "{log2a}");
    assert!(log2a.contains("all-reduce (mpi (rank 0 of 2))"), "{log2a}");
    if backend == "cpu" {
        // The compiled plan holds the collectives as library steps.
        assert!(log2a.contains("backend cpu (compiled for"), "{log2a}");
        let plan = std::fs::read_to_string(two.join("artifact/plan.json")).unwrap();
        assert!(
            plan.contains("\"all_reduce\""),
            "no all_reduce step in the plan"
        );
    }
    let rest = train_args(model, &prep, 2, 20, &two);
    let mut rest = strs(&rest);
    rest.push("--resume");
    let log2b = mpi_ok(&mpirun, 2, &rest);
    assert!(log2b.contains("resumed at step 10"), "{log2b}");

    // Rank 0 alone logs: one record per step, not one per rank.
    let (l1, l2) = (
        losses(&one.join("metrics.jsonl")),
        losses(&two.join("metrics.jsonl")),
    );
    assert_eq!(l1.len(), 20, "{log1}");
    assert_eq!(l2.len(), 20, "{log2a}\n{log2b}");
    let mut worst_loss = 0.0f64;
    for (a, b) in l1.iter().zip(&l2) {
        assert_eq!(a.0, b.0);
        let e = (a.1 - b.1).abs();
        assert!(
            e <= 1e-6 * a.1.abs().max(1.0),
            "{model} step {}: loss {} (1 rank, batch 4) vs {} (2 ranks, batch 2)",
            a.0,
            a.1,
            b.1
        );
        worst_loss = worst_loss.max(e);
    }
    assert!(l1[0].1 > l1[19].1, "the loss falls: {:?}", (l1[0], l1[19]));
    let (p1, p2) = (final_params(&one, cfg), final_params(&two, cfg));
    assert_eq!(p1.len(), p2.len());
    let mut worst_param = 0.0f64;
    for ((n1, a), (n2, b)) in p1.iter().zip(&p2) {
        assert_eq!(n1, n2);
        for (x, y) in a.iter().zip(b) {
            let e = (*x as f64 - *y as f64).abs();
            assert!(e <= 1e-6, "{model} {n1}: {x} (1 rank) vs {y} (2 ranks)");
            worst_param = worst_param.max(e);
        }
    }
    eprintln!(
        "{model}: 2 ranks x batch 2 vs 1 rank x batch 4 over 20 steps: max |loss diff| {worst_loss:e}, max |param diff| {worst_param:e}"
    );

    // Another world size cannot resume this run.
    let more = train_args(model, &prep, 4, 21, &two);
    let mut more = strs(&more);
    more.push("--resume");
    let err = llc_train_err(&more);
    assert!(
        err.contains("was trained on 2 ranks, this run has 1") && err.contains("mpirun -np 2"),
        "{err}"
    );
}

#[test]
fn two_ranks_equal_one_rank_at_twice_the_batch_tiny() {
    let cfg = LlamaConfig::preset("tiny").unwrap().with_vocab(258);
    two_ranks_equal_one_rank_at_twice_the_batch("tiny", &cfg);
}

/// The compiled CPU step with its `all_reduce` steps run over MPI by the plan executor.
#[test]
fn two_ranks_equal_one_rank_at_twice_the_batch_tiny_compiled_cpu() {
    let cfg = LlamaConfig::preset("tiny").unwrap().with_vocab(258);
    two_ranks_equal_one_rank_on("cpu", "tiny", &cfg);
}

#[test]
fn two_ranks_equal_one_rank_at_twice_the_batch_llama2_15m() {
    let cfg = LlamaConfig::preset("llama2-15m").unwrap().with_vocab(258);
    two_ranks_equal_one_rank_at_twice_the_batch("llama2-15m", &cfg);
}

/// The pids of `mpirun`'s children (the ranks).
fn ranks_of(child: &Child) -> Vec<u32> {
    let path = format!("/proc/{0}/task/{0}/children", child.id());
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Start a long 2-rank run, wait until it has logged two steps, send `signal` to one rank,
/// and return mpirun's status and output (it must end within `limit`).
fn disturb_one_rank(signal: &str, timeout_env: &str, limit: Duration) -> Option<(bool, String)> {
    let mpirun = mpirun()?;
    let tmp = tempfile::tempdir().unwrap();
    let text = text_file(tmp.path());
    let prep = tmp.path().join("data");
    llc_train_log(&["data", "prepare", "--input", s(&text), "--out", s(&prep)]);
    let out = tmp.path().join("run");
    let args = train_args("tiny", &prep, 2, 100_000, &out);
    let mut child = mpi_command(&mpirun, 2, &strs(&args))
        .env("LLC_COLLECTIVE_TIMEOUT", timeout_env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun starts");
    let metrics = out.join("metrics.jsonl");
    let started = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never logged two steps"
        );
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!("the run ended early:\n{}", text_of(&out));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ranks = ranks_of(&child);
    assert_eq!(ranks.len(), 2, "mpirun's children: {ranks:?}");
    let victim = ranks[1].to_string();
    let killed = Command::new("kill")
        .args([signal, &victim])
        .status()
        .unwrap();
    assert!(killed.success());
    let hit = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if hit.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "mpirun still running {limit:?} after kill {signal} of a rank:\n{}",
                text_of(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = hit.elapsed();
    let out = child.wait_with_output().unwrap();
    eprintln!("kill {signal} of one rank: the run ended after {took:?}");
    Some((out.status.success(), text_of(&out)))
}

#[test]
fn a_killed_rank_ends_the_run_with_an_error() {
    let Some((ok, text)) = disturb_one_rank("-KILL", "300", Duration::from_secs(60)) else {
        return;
    };
    assert!(!ok, "{text}");
    assert!(
        text.contains("signal 9") || text.contains("Killed"),
        "mpirun names the dead rank:\n{text}"
    );
}

#[test]
fn a_stopped_rank_trips_the_collective_watchdog() {
    let Some((ok, text)) = disturb_one_rank("-STOP", "3", Duration::from_secs(60)) else {
        return;
    };
    assert!(!ok, "{text}");
    assert!(
        text.contains("did not complete within 3.0 s: another rank died or stopped responding"),
        "{text}"
    );
}
