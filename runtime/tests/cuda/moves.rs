//! The GPU's data-movement steps, pinned down without a GPU: for every strided copy,
//! gather and scatter-add of the tiny step (partitioned with data movement as library
//! steps, the partitioner's option), the resolved op (offsets and descriptor, as
//! the kernel receives them) applied by the kernels' host mirrors to the arena bytes
//! before the step gives what the CPU plan executor writes.

use crate::fixture::tiny_artifact_with;
use llc_ir::ArgRole;
use llc_ir::plan::{BufRef, Step};
use llc_runtime::PlanExecutor;
use llc_runtime::cuda::Artifact;
use llc_runtime::cuda::moves::{gather_on_host, scatter_add_on_host};
use llc_runtime::cuda::program::{DeviceLimits, DeviceProgram, Op};

/// Arena bytes `[offset, offset + len)` of the executor.
fn at(ex: &PlanExecutor, offset: u64, len: u64) -> Vec<u8> {
    ex.bytes(&BufRef {
        buffer: 0,
        offset,
        bytes: len,
    })
    .unwrap()
    .to_vec()
}

fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn move_ops_reproduce_the_cpu_plan_executor() {
    let (dir, plan, _) = tiny_artifact_with(true);
    let art = Artifact::load(dir.path()).unwrap();
    let prog = DeviceProgram::prepare(&plan, &art.ptx_info, &DeviceLimits::sm90()).unwrap();
    let init = art.initial_state(0).unwrap();
    let batch = art.random_batch(1).unwrap();
    let mut ex = PlanExecutor::load(dir.path()).unwrap();
    for a in &plan.args {
        let t = match a.role {
            ArgRole::Input => batch.get(&a.name).unwrap().clone(),
            _ => init.iter().find(|(n, _)| *n == a.name).unwrap().1.clone(),
        };
        ex.set_arg(&a.name, &t).unwrap();
    }
    let mut seen = [0usize; 3];
    for (i, step) in plan.steps.iter().enumerate() {
        let ops = prog.ops_of_step(i);
        match step {
            Step::StridedCopy { dst, dtype, .. } => {
                let [o] = &prog.ops[ops] else {
                    panic!("step {i}")
                };
                let Op::StridedCopy {
                    src,
                    src_bytes,
                    dst: d,
                    desc,
                    ..
                } = &o.op
                else {
                    panic!("{o:?}")
                };
                let from = at(&ex, *src, *src_bytes);
                let mut want = at(&ex, *d, dst.bytes);
                desc.apply(&from, &mut want, dtype.size_bytes());
                ex.run_step(i).unwrap();
                assert_eq!(at(&ex, dst.offset, dst.bytes), want, "step {i}: {}", o.what);
                seen[0] += 1;
            }
            Step::Gather { out, dtype, .. } => {
                let [o] = &prog.ops[ops] else {
                    panic!("step {i}")
                };
                let Op::Gather {
                    table,
                    indices,
                    out: d,
                    rows,
                    count,
                    row_elems,
                    ..
                } = &o.op
                else {
                    panic!("{o:?}")
                };
                let elem = dtype.size_bytes();
                let tab = at(&ex, *table, rows * row_elems * elem as u64);
                let idx = i32s(&at(&ex, *indices, count * 4));
                let mut want = vec![0u8; out.bytes as usize];
                gather_on_host(&tab, &idx, &mut want, *rows, *row_elems, elem);
                ex.run_step(i).unwrap();
                assert_eq!(at(&ex, *d, out.bytes), want, "step {i}: {}", o.what);
                seen[1] += 1;
            }
            Step::ScatterAdd { out, .. } => {
                let [o] = &prog.ops[ops] else {
                    panic!("step {i}")
                };
                let Op::ScatterAdd {
                    indices,
                    updates,
                    out: d,
                    out_bytes,
                    rows,
                    count,
                    row_elems,
                    ..
                } = &o.op
                else {
                    panic!("{o:?}")
                };
                let idx = i32s(&at(&ex, *indices, count * 4));
                let upd = f32s(&at(&ex, *updates, count * row_elems * 4));
                let mut want = vec![f32::NAN; (*out_bytes / 4) as usize];
                scatter_add_on_host(&idx, &upd, &mut want, *rows, *row_elems);
                ex.run_step(i).unwrap();
                let got = f32s(&at(&ex, *d, out.bytes));
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-6 * w.abs().max(1e-3),
                        "step {i} element {j}: {g} vs {w}"
                    );
                }
                seen[2] += 1;
            }
            _ => ex.run_step(i).unwrap(),
        }
    }
    // The partitioner keeps the embedding lookup in a kernel even with library moves;
    // gathers are covered by the unit tests of `moves` then.
    assert!(
        seen[0] > 0 && seen[2] > 0,
        "copies, gathers, scatter-adds: {seen:?}"
    );
}
