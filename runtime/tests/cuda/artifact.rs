//! Reading an artifact directory: what is required, what each file must hold, and the
//! values (parameters, batches) built from it.

use crate::fixture::tiny_artifact;
use llc_ir::ArgRole;
use llc_runtime::cuda::{Artifact, CudaError};
use llc_runtime::init::initial_state;
use llc_runtime::tensor::Precision;

#[test]
fn a_compiled_step_loads_with_its_step_function() {
    let (dir, plan, step) = tiny_artifact();
    let art = Artifact::load(dir.path()).unwrap();
    assert_eq!(art.plan, plan);
    assert_eq!(art.ptx_info.target.as_deref(), Some("sm_90"));
    assert_eq!(art.ptx_info.entries.len(), plan.kernels.len());
    assert_eq!(art.step_function().unwrap().name, step.name);
    assert_eq!(art.vocab_size(), Some(256));
    assert_eq!(art.tokens_per_step(), 2 * 16);
    let inputs = art.arg_names(ArgRole::Input);
    assert!(inputs.contains(&"tokens".to_string()), "{inputs:?}");
}

#[test]
fn initial_state_is_the_cpu_backends_initial_state() {
    let (dir, _, step) = tiny_artifact();
    let art = Artifact::load(dir.path()).unwrap();
    let got = art.initial_state(7).unwrap();
    let want: Vec<_> = step
        .args()
        .iter()
        .zip(initial_state(&step, 7, Precision::F32))
        .filter_map(|(&a, t)| Some((step.node(a).name.clone(), t?)))
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(
        got, want,
        "same names, order and values as the CPU backend's"
    );
    assert_ne!(got, art.initial_state(8).unwrap(), "the seed matters");
}

#[test]
fn random_batches_fit_the_plan_and_the_vocabulary() {
    let (dir, _, _) = tiny_artifact();
    let art = Artifact::load(dir.path()).unwrap();
    let b = art.random_batch(3).unwrap();
    for name in art.arg_names(ArgRole::Input) {
        let t = b.get(&name).unwrap_or_else(|| panic!("batch lacks {name}"));
        assert_eq!(t.shape(), art.arg_type(&name).unwrap().shape.as_slice());
    }
    let tokens = b.get("tokens").unwrap().as_i32().unwrap().to_vec();
    assert!(tokens.iter().all(|&t| (0..256).contains(&t)));
    assert!(tokens.iter().any(|&t| t != tokens[0]), "not constant");
    assert_eq!(
        art.random_batch(3).unwrap().inputs,
        b.inputs,
        "reproducible"
    );
}

#[test]
fn missing_and_broken_files_are_named() {
    let (dir, _, _) = tiny_artifact();
    let e = Artifact::load(&dir.path().join("nope")).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");

    std::fs::remove_file(dir.path().join("kernels.ptx")).unwrap();
    let e = Artifact::load(dir.path()).unwrap_err();
    let CudaError::Artifact { path, .. } = &e else {
        panic!("{e}")
    };
    assert!(path.ends_with("kernels.ptx"), "{e}");

    std::fs::write(
        dir.path().join("kernels.ptx"),
        ".visible .entry k(\n.param .u64 p,\n",
    )
    .unwrap();
    let e = Artifact::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("entry k (line 1): the parameter list never closes"),
        "{e}"
    );

    std::fs::write(dir.path().join("kernels.cubin"), "not a cubin").unwrap();
    std::fs::write(
        dir.path().join("kernels.ptx"),
        ".version 8.5\n.target sm_90\n",
    )
    .unwrap();
    let e = Artifact::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("kernels.cubin: is not an ELF cubin"), "{e}");
    std::fs::write(dir.path().join("kernels.cubin"), b"\x7fELF....").unwrap();
    assert!(Artifact::load(dir.path()).unwrap().cubin.is_some());

    std::fs::write(dir.path().join("plan.json"), "{\"schema_version\": 99}").unwrap();
    let e = Artifact::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("plan.json") && e.contains("schema version 99"),
        "{e}"
    );
}

#[test]
fn a_step_ir_without_the_plans_function_is_refused() {
    let (dir, _, _) = tiny_artifact();
    let text = std::fs::read_to_string(dir.path().join("step.ir")).unwrap();
    std::fs::write(
        dir.path().join("step.ir"),
        text.replacen("@step", "@other", 1),
    )
    .unwrap();
    let e = Artifact::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("has no function @step"), "{e}");
    std::fs::remove_file(dir.path().join("step.ir")).unwrap();
    let art = Artifact::load(dir.path()).unwrap();
    let e = art.initial_state(0).unwrap_err().to_string();
    assert!(e.contains("step.ir: missing"), "{e}");
}

#[test]
fn the_plan_executor_runs_one_plan_step_at_a_time_as_the_checks_need() {
    use llc_runtime::{PlanExecutor, Precision, random_args};
    let (dir, plan, step) = tiny_artifact();
    let args = random_args(&step, 5, 256, Precision::F32);
    let mut whole = PlanExecutor::load(dir.path()).unwrap();
    whole.set_args(&args).unwrap();
    whole.run().unwrap();
    let mut stepped = PlanExecutor::load(dir.path()).unwrap();
    stepped.set_args(&args).unwrap();
    for i in 0..plan.steps.len() {
        stepped.run_step(i).unwrap();
    }
    assert_eq!(whole.outputs().unwrap(), stepped.outputs().unwrap());
    let loss = plan.output("loss").unwrap();
    let r = llc_ir::plan::BufRef {
        buffer: loss.buffer,
        offset: loss.offset,
        bytes: loss.bytes,
    };
    assert_eq!(whole.bytes(&r).unwrap(), stepped.bytes(&r).unwrap());
    assert_eq!(whole.bytes(&r).unwrap().len(), 4);
    let e = stepped.run_step(plan.steps.len()).unwrap_err().to_string();
    assert!(e.contains(&format!("no step {}", plan.steps.len())), "{e}");
}
