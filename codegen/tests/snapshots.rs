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
