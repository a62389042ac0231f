//! `llc-train model` and `compile` end to end: the 70B graph, the printed tiny model, and
//! errors that name the file and position.

use crate::common::{llc_train, llc_train_log};

#[test]
fn the_70b_model_compiles_and_reports_its_parameter_count() {
    let tmp = tempfile::tempdir().unwrap();
    let ir = tmp.path().join("70b.ir");
    llc_train_log(&[
        "model",
        "llama2-70b",
        "--seq",
        "128",
        "-o",
        ir.to_str().unwrap(),
    ]);
    let out = llc_train_log(&["compile", ir.to_str().unwrap(), "--no-egraph"]);
    // Published: 68,976,648,192 parameters.
    assert!(out.contains("parameters: 68.98B"), "{out}");
    assert!(out.contains("func @step"), "{out}");
    assert!(out.contains("compile time:"), "{out}");
}

#[test]
fn the_tiny_model_ir_is_stable() {
    let text = llc_train_log(&["model", "tiny", "--batch", "2", "--seq", "8"]);
    insta::with_settings!({snapshot_path => "../snapshots"}, {
        insta::assert_snapshot!("tiny_model_ir", text);
    });
}

#[test]
fn a_malformed_file_names_the_file_line_and_column_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ir = tmp.path().join("bad.ir");
    std::fs::write(
        &ir,
        "func @f(param %w: f32[4,4], input %x: f32[2,4]) {\n  %y = matmull %x, %w : f32[2,4]\n  return %y\n}\n",
    )
    .unwrap();
    let step = tmp.path().join("step.ir");
    let r = llc_train(&[
        "compile",
        ir.to_str().unwrap(),
        "--emit-step",
        step.to_str().unwrap(),
    ]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("bad.ir:2:8"), "{err}");
    assert!(err.contains("matmull") && err.contains("matmul"), "{err}");
    assert!(!step.exists());
}

#[test]
fn dump_after_prints_the_module_after_that_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let ir = tmp.path().join("tiny.ir");
    llc_train_log(&[
        "model",
        "tiny",
        "--batch",
        "1",
        "--seq",
        "8",
        "-o",
        ir.to_str().unwrap(),
    ]);
    let out = llc_train(&["compile", ir.to_str().unwrap(), "--dump-after", "autodiff"]);
    assert!(out.status.success());
    let dumped = String::from_utf8_lossy(&out.stdout);
    let module = llc_ir::parse_module(&dumped).expect("the dump parses");
    assert_eq!(module.functions[0].name, "forward_backward");
    assert!(dumped.contains("%grad.tok_embeddings.weight"));
}

#[test]
fn dump_after_names_every_back_half_pass_and_an_unknown_name_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let ir = tmp.path().join("tiny.ir");
    llc_train_log(&[
        "model",
        "tiny",
        "--batch",
        "1",
        "--seq",
        "8",
        "-o",
        ir.to_str().unwrap(),
    ]);
    let ir = ir.to_str().unwrap();
    let dump = |pass: &str| {
        let out = llc_train(&["compile", ir, "--dump-after", pass, "--no-egraph"]);
        assert!(
            out.status.success(),
            "{pass}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The IR-to-IR passes dump the step as IR.
    for pass in ["lower-attention", "pack"] {
        let m = llc_ir::parse_module(&dump(pass)).unwrap_or_else(|e| panic!("{pass}: {e}"));
        assert_eq!(m.functions[0].name, "step", "{pass}");
    }
    // `partition`: kernels.ir then step.ir, both IR (the comments are IR comments).
    let m = llc_ir::parse_module(&dump("partition")).expect("the partition dump parses");
    assert!(m.functions.iter().any(|f| f.name.starts_with("ew_")));
    assert_eq!(m.functions.last().unwrap().name, "step");
    assert!(dump("codegen").contains("gpu.module"));
    assert!(dump("memory-plan").contains("# step order"));
    let plan = llc_ir::plan::Plan::from_json(&dump("assemble")).expect("plan.json");
    assert_eq!(plan.target, "sm_90");

    let out = llc_train(&["compile", ir, "--dump-after", "partiton"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("partiton")
            && err.contains("parse, egraph-forward, autodiff, optimizer, egraph-step, lower-attention, pack, partition, codegen, memory-plan, assemble"),
        "{err}"
    );
}
