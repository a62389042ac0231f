//! Every representative kernel, at Llama-like sizes, assembles with ptxas for sm_80 and
//! sm_90 without register spills.
//!
//! Needs ptxas (`pip install nvidia-cuda-nvcc==13.0.88`, or `LLC_PTXAS=/path/to/ptxas`);
//! without it this test fails saying so, unless `LLC_SKIP_PTXAS=1`.

use crate::common;

use llc_codegen::{KernelSpec, Target, compile_kernels, ptxas};
use llc_ir::{Function, ReduceKind};

fn kernels() -> Vec<Function> {
    vec![
        common::elementwise_chain(512, 4096),
        common::elementwise_chain(3, 7),
        common::adamw(&[4096, 1024]),
        common::rms_norm(512, 4096),
        common::rms_norm_grad_x(512, 4096),
        common::rms_norm_grad_w(4, 512, 4096),
        common::softmax(&[4, 32, 256, 256]),
        common::softmax_grad(&[4, 32, 256, 256]),
        common::masked_softmax(4, 32, 256),
        common::cross_entropy(512, 32000),
        common::cross_entropy_grad(512, 32000),
        common::mean_loss(512, 32000),
        common::sum_squares(&[8192, 2048]),
        common::reduce(&[64, 128, 96], &[1], ReduceKind::Max, false),
        common::swiglu_fwd_bwd(&[512, 11008]),
        common::rope(&[4, 512, 32, 128], false),
        common::rope(&[4, 512, 8, 128], true),
        common::int_ops(1000),
        common::heads_transpose(&[4, 512, 32, 128]),
        common::concat_last(2048, 4096, 1000),
        common::embedding(32000, 4096, 2048),
        common::embedding_grad(32000, 4096, 2048),
    ]
}

#[test]
fn every_kernel_assembles_without_spills() {
    let Some(ptxas) = ptxas::find_ptxas() else {
        if std::env::var("LLC_SKIP_PTXAS").as_deref() == Ok("1") {
            eprintln!("skipping: ptxas not found and LLC_SKIP_PTXAS=1");
            return;
        }
        panic!("ptxas not found: {}", ptxas::INSTALL_HINT);
    };
    let funcs = kernels();
    let specs: Vec<KernelSpec> = funcs
        .iter()
        .map(|f| KernelSpec {
            name: f.name.clone(),
            func: f,
        })
        .collect();
    for target in Target::GPUS {
        let m = compile_kernels(&specs, target).unwrap_or_else(|e| panic!("{target}: {e}"));
        let report = ptxas::assemble(&ptxas, &m.ptx, target).unwrap_or_else(|e| panic!("{e}"));
        let mut entries: Vec<&str> = m
            .kernels
            .iter()
            .flat_map(|k| k.launches.iter().map(|l| l.entry.as_str()))
            .collect();
        entries.sort_unstable();
        entries.dedup();
        assert_eq!(entries.len(), m.entries);
        for e in &entries {
            let r = report
                .iter()
                .find(|r| r.name == *e)
                .unwrap_or_else(|| panic!("{target}: ptxas did not report entry {e}"));
            eprintln!(
                "{target} {:<28} {:>3} registers, {:>5} bytes smem, {} bytes stack",
                r.name, r.registers, r.shared_bytes, r.stack_frame_bytes
            );
            assert_eq!(r.spill_store_bytes, 0, "{target} {e}: spill stores");
            assert_eq!(r.spill_load_bytes, 0, "{target} {e}: spill loads");
        }
    }
}
