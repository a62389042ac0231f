//! An artifact directory run by the CPU plan executor against the interpreter on the
//! unpartitioned step: loss, gradient norm, learning rate and every updated parameter,
//! moment and counter (which depend on every gradient). Updates are compared as deltas
//! (`p_after - p_before`) at a peak learning rate of 1e-2, where they are far above f32
//! rounding, in the schedule's warmup and in its cosine decay.

use crate::common::fused_step_and_forward;
use llc_codegen::{ArtifactOptions, build_artifact};
use llc_ir::{ArgRole, DType};
use llc_models::LlamaConfig;
use llc_passes::OptimizerConfig;
use llc_runtime::tensor::rel_l2_diff;
use llc_runtime::{PlanExecutor, Precision, Tensor, random_args, run_function};

/// 4 warmup steps, the cosine floor at step 12: counter 1 is step 2 (warmup), counter 7
/// is step 8 (cosine).
fn visible_optimizer() -> OptimizerConfig {
    OptimizerConfig {
        lr: 1e-2,
        warmup_steps: 4,
        total_steps: 12,
        ..OptimizerConfig::default()
    }
}

/// The L2 norm.
fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

#[test]
fn tiny_artifact_runs_like_the_interpreter() {
    let opt = visible_optimizer();
    let cfg = LlamaConfig::preset("tiny").unwrap();
    let step = fused_step_and_forward(&cfg, 2, 16, &opt).0;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny");
    build_artifact(&step, &ArtifactOptions::default(), &dir).unwrap();
    let counter = step
        .args()
        .iter()
        .position(|&a| step.node(a).name == "opt.step")
        .unwrap();
    let mut ex = PlanExecutor::load(&dir).unwrap();
    for counter_value in [1, 7] {
        let mut args = random_args(&step, 7, 256, Precision::F32);
        args[counter] = Tensor::scalar_i32(counter_value);
        let want = run_function(&step, &args, Precision::F32).unwrap();
        ex.set_args(&args).unwrap();
        ex.run().unwrap();
        for (o, w) in step.outputs().iter().zip(&want) {
            let name = &step.node(o.node).name;
            let got = ex.output(name).unwrap();
            let e = rel_l2_diff(&got, w);
            assert!(
                e < 1e-5,
                "counter {counter_value}: %{name}: relative error {e:e}"
            );
        }
        // The schedule's branch: lr is the formula's value at step t = counter + 1.
        let t = f64::from(counter_value) + 1.0;
        let lr = ex.output("lr").unwrap().to_f64_vec()[0];
        let want_lr = llc_passes::optimizer::lr_at(&opt, t);
        assert!(
            (lr - want_lr).abs() <= 1e-6 * want_lr && lr < opt.lr,
            "lr {lr} at step {t}, the schedule gives {want_lr}"
        );
        // Every update as a delta, and every parameter's update well above rounding.
        let mut params = 0;
        for (i, o) in step.outputs().iter().enumerate() {
            let Some(a) = o.updates else { continue };
            if step.ty(a).dtype == DType::I32 {
                continue;
            }
            let name = step.node(a).name.clone();
            let k = step.args().iter().position(|&x| x == a).unwrap();
            let before = args[k].to_f64_vec();
            let got = ex.output(&step.node(o.node).name).unwrap();
            let d = |t: &Tensor| -> Vec<f64> {
                t.to_f64_vec()
                    .iter()
                    .zip(&before)
                    .map(|(x, b)| x - b)
                    .collect()
            };
            let (dg, dw) = (d(&got), d(&want[i]));
            let e = rel_l2(&dg, &dw);
            assert!(
                e < 1e-4,
                "counter {counter_value}: update of %{name}: relative error {e:e}"
            );
            if step.arg_role(a) == Some(ArgRole::Param) {
                params += 1;
                let size = norm(&dw) / norm(&before);
                assert!(
                    size > 1e-4,
                    "update of %{name} is invisible: {size:e} of it"
                );
            }
        }
        assert!(params > 0);
    }
    // A token id outside the vocabulary is an error when it is written, before any
    // kernel runs (llc_runtime::token_ids, the one place for every backend).
    let mut bad = ex.arg("tokens").unwrap().to_f64_vec();
    bad[3] = 256.0;
    let bad = Tensor::from_i32(vec![2, 16], bad.iter().map(|&v| v as i32).collect()).unwrap();
    let err = ex.set_arg("tokens", &bad).unwrap_err().to_string();
    assert!(
        err.contains("%tokens")
            && err.contains("index 256 at position [3]")
            && err.contains("0..256"),
        "{err}"
    );
    // A further step reads the updated state from the same buffers.
    let loss1 = ex.output("loss").unwrap().to_f64_vec()[0];
    ex.run().unwrap();
    let loss2 = ex.output("loss").unwrap().to_f64_vec()[0];
    assert!(
        loss2.is_finite() && loss2 != loss1,
        "the second step sees new parameters"
    );
}
