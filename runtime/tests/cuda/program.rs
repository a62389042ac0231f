//! The plan resolved for a GPU without one: every kernel found in the PTX with its
//! parameter count, launch geometry within the device's limits, every GEMM expressible,
//! memory needs summed, and each defect reported with its plan step and kernel.

use crate::fixture::{
    stand_in_ptx, step_function, tiny_artifact, tiny_artifact_with, write_artifact,
};
use llc_ir::plan::Step;
use llc_runtime::cuda::program::{DeviceLimits, DeviceProgram, MemoryNeeds, Op, target_runs_on};
use llc_runtime::cuda::ptx::PtxInfo;

/// The error of a preparation that must fail (without printing the whole program).
fn refused(r: Result<DeviceProgram, llc_runtime::cuda::CudaError>) -> String {
    match r {
        Ok(p) => panic!("prepared {} ops but should have failed", p.ops.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_tiny_step_resolves_for_an_h100() {
    for library_moves in [false, true] {
        tiny_step_resolves(library_moves);
    }
}

fn tiny_step_resolves(library_moves: bool) {
    let (_dir, plan, _) = tiny_artifact_with(library_moves);
    let ptx = PtxInfo::parse(&stand_in_ptx(&plan, "sm_90")).unwrap();
    let prog = DeviceProgram::prepare(&plan, &ptx, &DeviceLimits::sm90()).unwrap();
    let (launches, gemms, moves, other) = prog.counts();
    assert_eq!(launches, plan.stats.launches);
    assert_eq!(gemms, plan.stats.gemms);
    let move_steps = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                Step::StridedCopy { .. } | Step::Gather { .. } | Step::ScatterAdd { .. }
            )
        })
        .count();
    assert_eq!(moves, move_steps, "no empty strided copies in this plan");
    assert!(gemms > 0 && launches > 0);
    assert_eq!(moves > 0, library_moves, "{moves} data-movement ops");
    assert_eq!(launches + gemms + moves + other, prog.ops.len());
    // Distinct entries are loaded once each.
    let mut names = prog.kernels.clone();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), prog.kernels.len());
    for (index, step) in plan.steps.iter().enumerate() {
        let ops = &prog.ops[prog.ops_of_step(index)];
        assert!(ops.iter().all(|o| o.index == index));
        match step {
            Step::Kernel(k) => {
                assert_eq!(ops.len(), k.launches.len());
                for (o, l) in ops.iter().zip(&k.launches) {
                    let Op::Launch { kernel, args, dims } = &o.op else {
                        panic!("{o:?}")
                    };
                    assert_eq!(prog.kernels[*kernel], l.entry);
                    assert_eq!(*dims, l.dims);
                    let want: Vec<u64> = l.args.iter().map(|r| r.offset).collect();
                    assert_eq!(*args, want);
                }
            }
            Step::Gemm(g) => {
                let [o] = ops else { panic!("{ops:?}") };
                let Op::Gemm(c) = &o.op else { panic!("{o:?}") };
                // Column-major: m and n swap, the operands swap.
                assert_eq!((c.m, c.n, c.k), (g.n, g.m, g.k));
                assert_eq!((c.a, c.b, c.c), (g.b.offset, g.a.offset, g.c.offset));
            }
            Step::StridedCopy { src, dst, .. } => {
                let [o] = ops else { panic!("{ops:?}") };
                let Op::StridedCopy { src: s, dst: d, .. } = &o.op else {
                    panic!("{o:?}")
                };
                assert_eq!((*s, *d), (src.offset, dst.offset));
            }
            Step::Gather { out, .. } => {
                let [o] = ops else { panic!("{ops:?}") };
                assert!(matches!(o.op, Op::Gather { out: x, .. } if x == out.offset));
            }
            Step::ScatterAdd { out, .. } => {
                let [o] = ops else { panic!("{ops:?}") };
                assert!(matches!(o.op, Op::ScatterAdd { out: x, .. } if x == out.offset));
            }
            Step::Memset { dst, .. } => {
                let [o] = ops else { panic!("{ops:?}") };
                assert!(matches!(o.op, Op::Memset { offset, .. } if offset == dst.offset));
            }
            Step::Copy { src, .. } => {
                let [o] = ops else { panic!("{ops:?}") };
                assert!(matches!(o.op, Op::Copy { src: x, .. } if x == src.offset));
            }
            Step::AllReduce { .. } => panic!("a one-rank step has no all_reduce"),
        }
    }
    for w in &prog.warnings {
        eprintln!("tiny plan warning: {w}");
    }
    // Untied head: the embedding table is not in N (scripts/torch_reference.py agrees).
    let shape = llc_runtime::cuda::flops::ModelShape::from_plan(&plan).unwrap();
    assert_eq!(
        (shape.params_total, shape.params_matmul),
        (123_712, 107_328)
    );
}

#[test]
fn memory_needs_are_the_arena_plus_workspace() {
    let (_dir, plan, _) = tiny_artifact();
    let n = MemoryNeeds::of(&plan);
    assert_eq!(n.arena, plan.arena_bytes);
    assert_eq!(n.param, plan.stats.param_bytes);
    assert_eq!(n.activation, plan.stats.activation_bytes);
    assert_eq!(n.param + n.state + n.input + n.activation, plan.arena_bytes);
    assert!(n.total() > n.arena);
    let e = n
        .check_fits(n.total(), 80 << 30, "GPU")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("out of GPU memory") && e.contains("GEMM workspace"),
        "{e}"
    );
}

#[test]
fn a_kernel_missing_from_the_ptx_is_named_with_its_step() {
    let (_dir, plan, _) = tiny_artifact();
    let kernel = plan.kernels[1].name.clone();
    let victim = plan.kernels[1].entries[0].entry.clone();
    let text =
        stand_in_ptx(&plan, "sm_90").replace(&format!(".entry {victim}("), ".entry renamed(");
    let ptx = PtxInfo::parse(&text).unwrap();
    let e = refused(DeviceProgram::prepare(&plan, &ptx, &DeviceLimits::sm90()));
    let first = plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::Kernel(k) if k.kernel == kernel))
        .unwrap();
    assert_eq!(
        e,
        format!(
            "plan: step {first} (kernel {kernel} (entry {victim})): kernels.ptx has no entry of that name"
        )
    );
}

#[test]
fn a_cpu_only_plan_is_refused_for_the_gpu() {
    let (_dir, mut plan, _) = tiny_artifact();
    for k in &mut plan.kernels {
        k.entries.clear();
    }
    for s in &mut plan.steps {
        if let Step::Kernel(k) = s {
            k.launches.clear();
        }
    }
    let ptx = PtxInfo::parse(&stand_in_ptx(&plan, "sm_90")).unwrap();
    let e = refused(DeviceProgram::prepare(&plan, &ptx, &DeviceLimits::sm90()));
    assert!(
        e.contains("has no GPU launches: the plan was built for the CPU executor"),
        "{e}"
    );
}

#[test]
fn a_kernel_with_another_signature_is_refused() {
    let (_dir, plan, _) = tiny_artifact();
    let k = plan.kernels.iter().find(|k| k.params.len() >= 2).unwrap();
    let e0 = &k.entries[0];
    let n = e0.params.len();
    let text = stand_in_ptx(&plan, "sm_90").replacen(
        &format!(
            ",\n\t.param .u64 .ptr .align 1 {}_param_{}\n",
            e0.entry,
            n - 1
        ),
        "\n",
        1,
    );
    let ptx = PtxInfo::parse(&text).unwrap();
    let e = refused(DeviceProgram::prepare(&plan, &ptx, &DeviceLimits::sm90()));
    assert!(
        e.contains(&format!(
            "(kernel {} (entry {})): the plan passes {n} buffers but the PTX entry takes {} parameters",
            k.name,
            e0.entry,
            n - 1
        )),
        "{e}"
    );
}

#[test]
fn a_launch_beyond_the_kernels_thread_limit_is_refused() {
    let (_dir, plan, _) = tiny_artifact();
    let text = stand_in_ptx(&plan, "sm_90").replace(".maxntid 1024, 1, 1", ".maxntid 64, 1, 1");
    let ptx = PtxInfo::parse(&text).unwrap();
    let e = refused(DeviceProgram::prepare(&plan, &ptx, &DeviceLimits::sm90()));
    assert!(
        e.contains("has 256 threads but the kernel was compiled for at most [64, 1, 1]"),
        "{e}"
    );
}

#[test]
fn targets_are_matched_to_devices() {
    assert!(target_runs_on("sm_90", (9, 0)).is_ok());
    assert_eq!(target_runs_on("sm_90", (8, 0)).unwrap_err(), "sm_80");
    assert!(target_runs_on("cpu", (9, 0)).is_err());
}

#[test]
fn the_15m_step_resolves_too() {
    let dir = tempfile::tempdir().unwrap();
    let step = step_function("llama2-15m", 1, 32);
    let plan = write_artifact(&step, "sm_90", dir.path(), false);
    let art = llc_runtime::cuda::Artifact::load(dir.path()).unwrap();
    let prog = DeviceProgram::prepare(&plan, &art.ptx_info, &DeviceLimits::sm90()).unwrap();
    assert_eq!(prog.ops.len(), plan.steps.len());
    let shape = llc_runtime::cuda::flops::ModelShape::from_plan(&plan).unwrap();
    assert_eq!(
        (shape.layers, shape.d_model, shape.batch, shape.seq),
        (6, 288, 1, 32)
    );
    // llama2.c's stories15M: tied embeddings, so every parameter counts in 6N.
    assert_eq!(shape.params_matmul, shape.params_total);
    assert!(
        (15_000_000..16_000_000).contains(&shape.params_total),
        "{shape:?}"
    );
}

/// The memory planner's guarantee the GPU kernels rely on: every kernel argument of the
/// tiny (both partitionings) and 15M steps lies at a 16-byte aligned arena offset
/// (codegen also refuses a plan that breaks it: `CodegenError::Misaligned`).
#[test]
fn the_memory_planner_aligns_every_kernel_argument_to_16_bytes() {
    use llc_runtime::cuda::program::KERNEL_ARG_ALIGNMENT;
    let dir = tempfile::tempdir().unwrap();
    let plans = [
        tiny_artifact_with(false).1,
        tiny_artifact_with(true).1,
        write_artifact(
            &step_function("llama2-15m", 1, 32),
            "sm_90",
            dir.path(),
            false,
        ),
    ];
    for plan in &plans {
        let mut args = 0;
        for s in &plan.steps {
            if let Step::Kernel(k) = s {
                for l in &k.launches {
                    for r in &l.args {
                        args += 1;
                        assert_eq!(
                            r.offset % KERNEL_ARG_ALIGNMENT,
                            0,
                            "kernel {} entry {}: buffer {} at offset {}",
                            k.kernel,
                            l.entry,
                            r.buffer,
                            r.offset
                        );
                    }
                }
            }
        }
        assert!(args > 50, "{args} kernel arguments");
    }
}

/// A plan whose kernel argument is not 16-byte aligned (a view moved by 4 bytes, with
/// every reference to it, so that the plan still validates: allocations must be aligned,
/// views need not) is refused when the program is prepared, before any launch, naming the
/// step, kernel, entry and buffer.
#[test]
fn a_misaligned_kernel_argument_is_refused_before_any_launch() {
    let (_dir, plan, _) = tiny_artifact();
    let ptx = PtxInfo::parse(&stand_in_ptx(&plan, "sm_90")).unwrap();
    fn shift(v: &mut serde_json::Value, buffer: u64, from: u64) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("buffer").and_then(|b| b.as_u64()) == Some(buffer)
                    && m.get("offset").and_then(|o| o.as_u64()) == Some(from)
                {
                    m.insert("offset".into(), (from + 4).into());
                }
                for x in m.values_mut() {
                    shift(x, buffer, from);
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| shift(x, buffer, from)),
            _ => {}
        }
    }
    let mut tried = 0;
    for s in &plan.steps {
        let Step::Kernel(k) = s else { continue };
        for r in &k.launches[0].args {
            if plan.buffers[r.buffer as usize].view_of.is_none() {
                continue;
            }
            tried += 1;
            let mut v: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
            shift(&mut v, u64::from(r.buffer), r.offset);
            v["buffers"][r.buffer as usize]["offset"] = (r.offset + 4).into();
            let Ok(bad) = llc_ir::plan::Plan::from_json(&v.to_string()) else {
                continue;
            };
            let e = refused(DeviceProgram::prepare(&bad, &ptx, &DeviceLimits::sm90()));
            let name = &plan.buffers[r.buffer as usize].name;
            assert!(
                e.contains(&k.launches[0].entry)
                    && e.contains(&format!("%{name} at arena offset {}", r.offset + 4))
                    && e.contains("not 16-byte aligned"),
                "{e}"
            );
            return;
        }
    }
    panic!("no view kernel argument of the tiny plan could be misaligned ({tried} tried)");
}
