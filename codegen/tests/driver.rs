//! The compiler driver: one list of pass names for both halves, each dumped once under
//! its own name, an unknown name a typed error listing them, and the back half run only
//! when an artifact or one of its dumps is asked for.

use llc_codegen::driver::{CompileOptions, compile, dump_names};
use llc_codegen::{ArtifactOptions, BackendPass, CodegenError};
use llc_models::{BuildOptions, LlamaConfig, build_forward};
use llc_passes::{AutodiffOptions, OptimizerConfig, Pipeline};

fn options(dump_after: Option<&str>, output: Option<std::path::PathBuf>) -> CompileOptions {
    CompileOptions {
        pipeline: Pipeline::standard(AutodiffOptions::default(), OptimizerConfig::default(), None),
        artifact: ArtifactOptions::default(),
        output,
        dump_after: dump_after.map(str::to_string),
    }
}

fn tiny() -> llc_ir::Module {
    let cfg = LlamaConfig::preset("tiny").unwrap();
    build_forward(&cfg, &BuildOptions::new(1, 8)).unwrap()
}

#[test]
fn every_pass_of_both_halves_dumps_once_under_its_name() {
    let names = dump_names(&options(None, None).pipeline);
    assert_eq!(
        names,
        [
            "parse",
            "autodiff",
            "optimizer",
            "lower-attention",
            "pack",
            "partition",
            "codegen",
            "memory-plan",
            "assemble"
        ]
    );
    for name in names {
        let mut dumps = Vec::new();
        let out = compile(tiny(), &options(Some(name), None), &mut |p, text| {
            dumps.push((p.to_string(), text.len()))
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(dumps.len(), 1, "{name}: {dumps:?}");
        assert_eq!(dumps[0].0, name);
        assert!(dumps[0].1 > 0, "{name}: empty dump");
        assert!(out.artifact.is_none(), "no -o, no artifact");
    }
}

#[test]
fn an_unknown_pass_is_an_error_listing_every_name_before_anything_runs() {
    let err = compile(tiny(), &options(Some("codegne"), None), &mut |_, _| {
        panic!("nothing runs")
    })
    .unwrap_err();
    let CodegenError::UnknownPass { name, available } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(name, "codegne");
    assert!(
        available.ends_with(BackendPass::Assemble.name()),
        "{available}"
    );
    assert!(available.starts_with("parse, autodiff"), "{available}");
}

#[test]
fn an_artifact_is_written_when_asked_and_only_then() {
    let out = compile(tiny(), &options(None, None), &mut |_, _| {}).unwrap();
    assert!(out.artifact.is_none());
    assert!(out.module.function("step").is_some());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("art");
    let out = compile(tiny(), &options(None, Some(dir.clone())), &mut |_, _| {}).unwrap();
    let report = out.artifact.expect("an artifact");
    assert_eq!(report.dir, dir);
    assert!(dir.join("plan.json").is_file() && dir.join("kernels.ptx").is_file());
    let passes: Vec<&str> = report.timings.iter().map(|t| t.0).collect();
    assert_eq!(
        passes,
        [
            "lower-attention",
            "pack",
            "partition",
            "codegen",
            "memory-plan",
            "assemble",
            "write"
        ]
    );
}
