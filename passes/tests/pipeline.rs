//! The named pipeline: order, reports, dump hook, verification and errors.

use llc_ir::Module;
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{AutodiffOptions, OptimizerConfig, Pass, PassError, Pipeline, PipelineHooks};

fn tiny() -> Module {
    build_forward(
        &LlamaConfig::preset("tiny").unwrap(),
        &BuildOptions::new(1, 8),
    )
    .unwrap()
}

#[test]
fn training_pipeline_reports_each_pass() {
    let mut m = tiny();
    let before = m.functions[0].node_count();
    let p = Pipeline::training(AutodiffOptions::default(), OptimizerConfig::default());
    assert_eq!(p.pass_names(), ["autodiff", "optimizer"]);
    let mut seen = Vec::new();
    let mut hooks = PipelineHooks {
        dump_after: Some("autodiff".into()),
        on_dump: Some(Box::new(|name: &str, m: &Module| {
            seen.push((name.to_string(), m.functions[0].name.clone()))
        })),
        verify: true,
    };
    let reports = p.run(&mut m, &mut hooks).unwrap();
    drop(hooks);
    assert_eq!(
        seen,
        [("autodiff".to_string(), "forward_backward".to_string())]
    );
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].pass, "autodiff");
    assert_eq!(reports[0].nodes_before, before);
    assert_eq!(reports[1].nodes_before, reports[0].nodes_after);
    assert_eq!(reports[1].nodes_after, m.functions[0].node_count());
    assert!(reports[0].counters.contains(&("grads", 21)));
    assert!(reports[1].counters.contains(&("params", 21)));
    assert_eq!(m.functions.len(), 1);
    assert_eq!(m.functions[0].name, "step");
}

#[test]
fn dump_after_an_unknown_pass_is_an_error_before_anything_runs() {
    let mut m = tiny();
    let p = Pipeline::training(AutodiffOptions::default(), OptimizerConfig::default());
    let err = p.run_and_dump(&mut m, "autodif").unwrap_err();
    assert!(matches!(err, PassError::UnknownPass { .. }));
    assert!(err.to_string().contains("autodiff, optimizer"), "{err}");
    assert_eq!(m.functions[0].name, "forward", "nothing ran");
}

#[test]
fn keep_source_keeps_every_stage_and_dce_runs_on_all() {
    let mut m = tiny();
    let p = Pipeline {
        passes: vec![
            Pass::Autodiff(AutodiffOptions {
                keep_source: true,
                ..Default::default()
            }),
            Pass::Optimizer(OptimizerConfig {
                keep_source: true,
                ..Default::default()
            }),
            Pass::Dce,
        ],
    };
    let (reports, text) = p.run_and_dump(&mut m, "dce").unwrap();
    let names: Vec<&str> = m.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["forward", "forward_backward", "step"]);
    assert_eq!(reports[2].pass, "dce");
    assert!(text.contains("func @step(") && text.contains("func @forward("));
    // a second differentiation into an existing name is refused
    let again = Pipeline {
        passes: vec![Pass::Autodiff(AutodiffOptions {
            keep_source: true,
            ..Default::default()
        })],
    };
    let err = again
        .run(&mut m, &mut PipelineHooks::default())
        .unwrap_err();
    assert!(err.to_string().contains("@forward_backward"), "{err}");
}

#[test]
fn optimizer_without_autodiff_names_the_missing_function() {
    let mut m = tiny();
    let p = Pipeline {
        passes: vec![Pass::Optimizer(OptimizerConfig::default())],
    };
    let err = p.run(&mut m, &mut PipelineHooks::default()).unwrap_err();
    assert!(matches!(err, PassError::NoSuchFunction { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("@forward_backward") && msg.contains("@forward"),
        "{msg}"
    );
}

#[test]
fn llama2_7b_step_compiles_in_well_under_ten_seconds() {
    // The budget is for release builds; even this debug-profile test (verifier on) must
    // meet it, which guards against anything quadratic in the graph size.
    let cfg = LlamaConfig::preset("llama2-7b").unwrap();
    let start = std::time::Instant::now();
    let mut m = build_forward(&cfg, &BuildOptions::new(1, 4096)).unwrap();
    let p = Pipeline::training(AutodiffOptions::default(), OptimizerConfig::default());
    let mut hooks = PipelineHooks {
        verify: true,
        ..Default::default()
    };
    let reports = p.run(&mut m, &mut hooks).unwrap();
    let took = start.elapsed();
    eprintln!(
        "llama2-7b step: {took:.2?} ({} nodes)",
        m.functions[0].node_count()
    );
    assert!(took.as_secs_f64() < 10.0, "took {took:?}");
    assert!(reports[0].counters.contains(&("grads", 291)));
    assert!(reports[1].counters.contains(&("decayed", 226)));
}
