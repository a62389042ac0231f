//! An artifact directory run by the CPU plan executor against the interpreter on the
//! unpartitioned step: loss, gradient norm, learning rate and every updated parameter,
//! moment and counter (which depend on every gradient).

use crate::common::fused_step;
use llc_codegen::{ArtifactOptions, build_artifact};
use llc_runtime::tensor::rel_l2_diff;
use llc_runtime::{PlanExecutor, Precision, Tensor, random_args, run_function};

#[test]
fn tiny_artifact_runs_like_the_interpreter() {
    let step = fused_step("tiny", 2, 16);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny");
    build_artifact(&step, &ArtifactOptions::default(), &dir).unwrap();
    let mut args = random_args(&step, 7, 256, Precision::F32);
    let counter = step
        .args()
        .iter()
        .position(|&a| step.node(a).name == "opt.step")
        .unwrap();
    args[counter] = Tensor::scalar_i32(3);
    let want = run_function(&step, &args, Precision::F32).unwrap();
    let mut ex = PlanExecutor::load(&dir).unwrap();
    ex.set_args(&args).unwrap();
    ex.run().unwrap();
    for (o, w) in step.outputs().iter().zip(&want) {
        let name = &step.node(o.node).name;
        let got = ex.output(name).unwrap();
        let e = rel_l2_diff(&got, w);
        assert!(e < 1e-5, "%{name}: relative error {e:e}");
    }
    // A second step reads the updated state from the same buffers.
    ex.run().unwrap();
    let loss2 = ex.output("loss").unwrap().to_f64_vec()[0];
    let loss1 = want[0].to_f64_vec()[0];
    assert!(
        loss2.is_finite() && loss2 != loss1,
        "the second step sees new parameters"
    );
}
