//! A Llama step has about a hundred distinct kernels after dedupe; they compile in one
//! module, in one pipeline run, in well under a few seconds.

use crate::common;

use llc_codegen::{KernelSpec, Target, compile_kernels};
use std::time::Instant;

/// 100 distinct kernels: the representative kinds at several Llama-like sizes.
fn hundred_kernels() -> Vec<llc_ir::Function> {
    let mut v = Vec::new();
    for (i, d) in [768usize, 1024, 2048, 4096, 5120, 8192]
        .into_iter()
        .enumerate()
    {
        let rows = 256 * (i + 1);
        let ffn = d * 8 / 3 / 64 * 64;
        v.push(common::rms_norm(rows, d));
        v.push(common::rms_norm_grad_x(rows, d));
        v.push(common::rms_norm_grad_w(2, rows / 2, d));
        v.push(common::elementwise_chain(rows, d));
        v.push(common::adamw(&[d, d]));
        v.push(common::adamw(&[d, ffn]));
        v.push(common::adamw(&[d]));
        v.push(common::swiglu_fwd_bwd(&[rows, ffn]));
        v.push(common::softmax(&[2, d / 128, 128 * (i + 1), 128 * (i + 1)]));
        v.push(common::softmax_grad(&[
            2,
            d / 128,
            128 * (i + 1),
            128 * (i + 1),
        ]));
        v.push(common::masked_softmax(2, d / 128, 128 * (i + 1)));
        v.push(common::rope(&[2, 128 * (i + 1), d / 128, 128], false));
        v.push(common::rope(&[2, 128 * (i + 1), d / 128, 128], true));
        v.push(common::sum_squares(&[d, d]));
        v.push(common::sum_squares(&[d, ffn]));
        v.push(common::cross_entropy_grad(rows, 32000 + i));
        v.push(common::mean_loss(rows, 32000 + i));
    }
    v.truncate(100);
    v
}

#[test]
fn a_hundred_distinct_kernels_compile_in_one_module_quickly() {
    let funcs = hundred_kernels();
    let specs: Vec<KernelSpec> = funcs
        .iter()
        .map(|f| KernelSpec {
            name: f.name.clone(),
            func: f,
        })
        .collect();
    // the first compile on a thread also creates its MLIR context
    let warm = Instant::now();
    compile_kernels(&specs[..1], Target::Sm90).unwrap();
    let warm = warm.elapsed();
    let t = Instant::now();
    let m = compile_kernels(&specs, Target::Sm90).unwrap();
    let t = t.elapsed();
    eprintln!(
        "{} specs, {} entries, {} KiB of PTX: {:.2?} (context + first kernel {:.2?})",
        specs.len(),
        m.entries,
        m.ptx.len() / 1024,
        t,
        warm
    );
    assert_eq!(m.kernels.len(), 100);
    assert!(m.entries >= 100, "{} entries", m.entries);
    // about 1.7 s of CPU time here; the bound leaves room for a loaded machine
    assert!(t.as_secs_f64() < 20.0, "compiling 100 kernels took {t:.2?}");
}
