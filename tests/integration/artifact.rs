//! Artifacts of real presets: files, codegen support of every kernel, ptxas without
//! spills, dedupe across layers, atomic replacement.

use crate::common::fused_step;
use llc_codegen::ptxas::{assemble, find_ptxas};
use llc_codegen::{ArtifactOptions, Target, build_artifact};
use llc_ir::parse_module;
use llc_ir::plan::{Plan, Step};
use llc_passes::partition::PartitionOptions;

fn read(dir: &std::path::Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

/// Build the artifact of `preset` and check everything that does not need a GPU.
fn check_artifact(preset: &str, batch: usize, seq: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(preset);
    let step = fused_step(preset, batch, seq);
    let opts = ArtifactOptions {
        emit_mlir: true,
        ..Default::default()
    };
    let report = build_artifact(&step, &opts, &dir).unwrap();
    for f in [
        "plan.json",
        "kernels.ptx",
        "kernels.ir",
        "step.ir",
        "kernels.mlir",
        "report.txt",
    ] {
        assert!(dir.join(f).is_file(), "{preset}: {f} missing");
    }
    let plan = Plan::from_json(&read(&dir, "plan.json")).unwrap();
    assert_eq!(plan.target, "sm_90");
    // Every kernel function is one codegen accepts, in the class the plan says.
    let kernels = parse_module(&read(&dir, "kernels.ir")).unwrap();
    assert_eq!(kernels.functions.len(), plan.kernels.len());
    for f in &kernels.functions {
        let class = Target::Sm90
            .kernel_class(f)
            .unwrap_or_else(|e| panic!("{preset}: {e}"));
        let decl = plan.kernel(&f.name).unwrap();
        assert_eq!(decl.class.name(), class.to_string(), "{}", f.name);
        assert!(!decl.entries.is_empty(), "{} has launches", f.name);
    }
    // Every launch names an entry of kernels.ptx.
    let ptx = read(&dir, "kernels.ptx");
    for s in &plan.steps {
        if let Step::Kernel(k) = s {
            for l in &k.launches {
                assert!(ptx.contains(&format!(".entry {}(", l.entry)), "{}", l.entry);
            }
        }
    }
    let text = read(&dir, "report.txt");
    assert!(text.contains("activation peak"), "{text}");
    assert_eq!(report.ptx_entries, ptx.matches(".entry ").count());
    eprintln!(
        "{preset}: {} distinct kernels, {} kernel steps, {} GEMMs",
        report.counts.distinct_kernels, report.counts.launches, report.counts.gemms
    );
    // Every kernel assembles for both targets without spills.
    let Some(ptxas) = find_ptxas() else {
        eprintln!(
            "skipping ptxas checks: {}",
            llc_codegen::ptxas::INSTALL_HINT
        );
        return;
    };
    for target in Target::GPUS {
        let opts = ArtifactOptions {
            target,
            ..Default::default()
        };
        let d = tmp.path().join(format!("{preset}-{target}"));
        build_artifact(&step, &opts, &d).unwrap();
        let res = assemble(&ptxas, &read(&d, "kernels.ptx"), target).unwrap();
        assert_eq!(
            res.len(),
            report.ptx_entries,
            "{target}: every entry assembled"
        );
        for r in res {
            assert_eq!(
                (r.spill_store_bytes, r.spill_load_bytes),
                (0, 0),
                "{target}: {} spills",
                r.name
            );
        }
    }
}

#[test]
fn tiny_artifact_is_complete() {
    check_artifact("tiny", 2, 16);
}

#[test]
fn llama2_110m_artifact_is_complete() {
    check_artifact("llama2-110m", 1, 32);
}

/// The 7B kernels (d 4096, FFN 11008, vocab 32000) at a short sequence: the row count
/// only changes grid sizes, the widths are what stress registers and tiling.
#[test]
fn llama2_7b_artifact_is_complete() {
    check_artifact("llama2-7b", 1, 64);
}

#[test]
fn distinct_kernels_do_not_depend_on_depth() {
    use llc_models::{BuildOptions, LlamaConfig, build_forward};
    use llc_passes::egraph::{EGraphOptions, optimize};
    use llc_passes::{OptimizerConfig, build_step, differentiate};
    let tmp = tempfile::tempdir().unwrap();
    let entries = |layers: usize| {
        let cfg = LlamaConfig {
            n_layers: layers,
            ..LlamaConfig::preset("tiny").unwrap()
        };
        let m = build_forward(&cfg, &BuildOptions::new(1, 8)).unwrap();
        let (fwd, _) = optimize(m.function("forward").unwrap(), &EGraphOptions::forward()).unwrap();
        let (fb, _) = differentiate(&fwd, "loss", "forward_backward").unwrap();
        let (step, _) = build_step(&fb, &OptimizerConfig::default()).unwrap();
        let step = optimize(&step, &EGraphOptions::step()).unwrap().0;
        let r = build_artifact(
            &step,
            &ArtifactOptions::default(),
            &tmp.path().join(format!("l{layers}")),
        )
        .unwrap();
        (r.counts.distinct_kernels, r.ptx_entries)
    };
    assert_eq!(entries(2), entries(6));
}

#[test]
fn a_failed_build_leaves_the_old_artifact_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("art");
    let step = fused_step("tiny", 1, 8);
    build_artifact(&step, &ArtifactOptions::default(), &dir).unwrap();
    let before = read(&dir, "plan.json");
    // Unlowered attention is not a kernel codegen can compile.
    let opts = ArtifactOptions {
        partition: PartitionOptions {
            lower_attention: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = build_artifact(&step, &opts, &dir).unwrap_err().to_string();
    assert!(err.contains("attention"), "{err}");
    assert_eq!(
        read(&dir, "plan.json"),
        before,
        "the old artifact is intact"
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("art")],
        "no temporary directory is left"
    );
    // A rebuild replaces it.
    build_artifact(&fused_step("tiny", 2, 8), &ArtifactOptions::default(), &dir).unwrap();
    assert_ne!(read(&dir, "plan.json"), before);
}
