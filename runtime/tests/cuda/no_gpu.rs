//! Without a GPU (this is what CI sees): every entry point answers with an error that
//! says there is no GPU, never a panic, and does so only after checking what it can
//! check without one.

use crate::fixture::tiny_artifact;
use llc_runtime::cuda::{CudaError, cuda_available};

/// `Some(reason)` when this machine has no usable GPU.
pub fn no_gpu_reason() -> Option<String> {
    cuda_available().err().map(|e| e.to_string())
}

#[test]
fn the_probe_says_why_there_is_no_gpu() {
    match cuda_available() {
        Ok(info) => eprintln!("GPU present: {}", info.label()),
        Err(e) => {
            assert!(e.is_unavailable(), "{e}");
            let msg = e.to_string();
            match &e {
                CudaError::NoDriver { .. } => {
                    assert!(
                        msg.contains("no CUDA driver") && msg.contains("libcuda"),
                        "{msg}"
                    );
                    assert!(
                        msg.contains("--backend cpu"),
                        "says what to do instead: {msg}"
                    );
                }
                CudaError::NotBuilt => assert!(msg.contains("--features cuda"), "{msg}"),
                CudaError::NoDevice { .. } => assert!(msg.contains("no CUDA device 0"), "{msg}"),
                other => panic!("unexpected: {other}"),
            }
            eprintln!("no GPU: {msg}");
        }
    }
}

#[test]
fn the_checks_and_the_benchmark_report_the_missing_gpu() {
    let Some(_) = no_gpu_reason() else {
        eprintln!("skipped: a GPU is present (this test covers machines without one)");
        return;
    };
    let (dir, _, _) = tiny_artifact();
    let opts = llc_runtime::cuda::check::CheckOptions {
        steps: 1,
        ..Default::default()
    };
    let e = llc_runtime::cuda::check::run_checks(dir.path(), &opts).unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    let e = llc_runtime::cuda::bench::run(dir.path(), 1, 2).unwrap_err();
    assert!(e.is_unavailable(), "{e}");
}

#[cfg(feature = "cuda")]
mod backend {
    use super::*;
    use llc_runtime::cuda::Artifact;
    use llc_runtime::cuda::{CudaBackend, CudaOptions};

    #[test]
    fn a_backend_without_a_gpu_is_an_error_not_a_panic() {
        let Some(_) = no_gpu_reason() else {
            eprintln!("skipped: a GPU is present (this test covers machines without one)");
            return;
        };
        let (dir, _, _) = tiny_artifact();
        let art = Artifact::load(dir.path()).unwrap();
        let init = art.initial_state(0).unwrap();
        let e = CudaBackend::new(dir.path(), &init, 0)
            .err()
            .expect("no GPU here");
        assert!(e.is_unavailable(), "{e}");
        // The same through the training interface's error type.
        let r: llc_runtime::RuntimeError = e.into();
        assert!(r.to_string().starts_with("cuda: "), "{r}");
    }

    #[test]
    fn the_initial_state_is_checked_before_looking_for_a_gpu() {
        let (dir, _, _) = tiny_artifact();
        let art = Artifact::load(dir.path()).unwrap();
        let mut init = art.initial_state(0).unwrap();
        let (name, _) = init.remove(0);
        let e = CudaBackend::from_artifact(art.clone(), &init, 0, CudaOptions::default())
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!("%{name}: no initial value given for this param")
        );
        let mut init = art.initial_state(0).unwrap();
        init.push(("nonsense".into(), llc_runtime::Tensor::scalar_f32(1.0)));
        let e = CudaBackend::from_artifact(art.clone(), &init, 0, CudaOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "%nonsense: the plan has no such argument");
        let mut init = art.initial_state(0).unwrap();
        init.push(init[0].clone());
        let e = CudaBackend::from_artifact(art.clone(), &init, 0, CudaOptions::default())
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!("%{}: given more than once", init[0].0)
        );
        let mut init = art.initial_state(0).unwrap();
        init.push(("tokens".into(), llc_runtime::Tensor::scalar_i32(0)));
        let e = CudaBackend::from_artifact(art.clone(), &init, 0, CudaOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("%tokens: is a data input"), "{e}");
        let mut init = art.initial_state(0).unwrap();
        init[0].1 = llc_runtime::Tensor::scalar_f32(1.0);
        let e = CudaBackend::from_artifact(art, &init, 0, CudaOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expected shape f32["), "{e}");
    }
}
