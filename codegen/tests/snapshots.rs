//! The MLIR (before lowering) of representative kernels, reviewed and pinned.

use crate::common;

use llc_codegen::{KernelSpec, Target, compile_kernels};

fn mlir(f: &llc_ir::Function) -> String {
    let m = compile_kernels(
        &[KernelSpec {
            name: f.name.clone(),
            func: f,
        }],
        Target::Sm90,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    format!("// launches: {:?}\n{}", m.kernels[0].launches, m.mlir)
}

#[test]
fn rms_norm_forward() {
    insta::assert_snapshot!(mlir(&common::rms_norm(16, 256)));
}

#[test]
fn rms_norm_grad_x() {
    insta::assert_snapshot!(mlir(&common::rms_norm_grad_x(16, 256)));
}

#[test]
fn elementwise_chain() {
    insta::assert_snapshot!(mlir(&common::elementwise_chain(16, 64)));
}

#[test]
fn adamw() {
    insta::assert_snapshot!(mlir(&common::adamw(&[64, 64])));
}

#[test]
fn rms_norm_grad_w_row_statistics_then_column_sums() {
    insta::assert_snapshot!(mlir(&common::rms_norm_grad_w(2, 8, 64)));
}

/// The CPU flavor's module for a CPU target: block-range entries, 16-lane groups,
/// element-aligned vector accesses, the vectorizable math definitions.
fn cpu_mlir(f: &llc_ir::Function) -> String {
    let m = compile_kernels(
        &[KernelSpec {
            name: f.name.clone(),
            func: f,
        }],
        Target::X86_64V4,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let native = m.native.as_ref().expect("a CPU target makes native code");
    assert!(native.library.starts_with(b"\x7fELF"), "a shared object");
    format!("// launches: {:?}\n{}", m.kernels[0].launches, m.mlir)
}

#[test]
fn cpu_rms_norm_forward() {
    insta::assert_snapshot!(cpu_mlir(&common::rms_norm(16, 256)));
}

#[test]
fn cpu_elementwise_chain() {
    insta::assert_snapshot!(cpu_mlir(&common::elementwise_chain(16, 64)));
}
