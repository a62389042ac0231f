//! The CUDA backend against the CPU on a GPU: `llc_runtime::cuda::check::run_checks` on
//! the tiny and 15M artifacts (plan step by plan step against the CPU plan executor, then
//! 10 training steps against the interpreter: loss, gradient norm, learning rate, every
//! parameter and moment after steps 1 and 10, and eval). Tolerances are
//! `check::Tolerances::default()`: loss 1e-4, grad norm 1e-3, lr 1e-6 (relative);
//! parameters 1e-5, moments and updates 1e-3, each plan step 1e-3 (relative L2).
//!
//! Needs a GPU and prebuilt artifacts with real PTX: `LLC_CUDA_ARTIFACTS=DIR` holding
//! `tiny/` and `15m/` (`scripts/gpu-prepare.sh` writes them to `gpu-bundle/artifacts`).
//! Skipped, saying why, otherwise. On the GPU machine the same checks run from the
//! runtime-only binary (`llc-train gpu-check`), which needs no Rust toolchain.

use crate::no_gpu::no_gpu_reason;
use llc_runtime::cuda::check::{CheckOptions, run_checks};
use std::path::PathBuf;

fn artifact(name: &str) -> Option<PathBuf> {
    if let Some(reason) = no_gpu_reason() {
        eprintln!("skipped: {reason}");
        return None;
    }
    let Some(root) = std::env::var_os("LLC_CUDA_ARTIFACTS") else {
        eprintln!(
            "skipped: a GPU is present but LLC_CUDA_ARTIFACTS is not set (run scripts/gpu-prepare.sh and point it at gpu-bundle/artifacts)"
        );
        return None;
    };
    let dir = PathBuf::from(root).join(name);
    assert!(dir.is_dir(), "{} does not exist", dir.display());
    Some(dir)
}

fn check(name: &str) {
    let Some(dir) = artifact(name) else { return };
    let report = run_checks(&dir, &CheckOptions::default()).unwrap();
    eprintln!("{}", report.summary());
    assert!(report.passed, "{}", report.failures.join("\n"));
}

#[test]
fn tiny_on_the_gpu_matches_the_cpu() {
    check("tiny");
}

#[test]
fn llama2_15m_on_the_gpu_matches_the_cpu() {
    check("15m");
}
