//! A program and its memory plan as the serializable [`Plan`] (`plan.json`).

use super::MemoryPlan;
use crate::partition::{Kernel, Program, Step, ValueKind};
use llc_ir::DType;
use llc_ir::plan::{
    ArgBinding, BufRef, Buffer, GemmDesc, KernelDecl, Launch, LaunchDims, OutputBinding,
    PLAN_SCHEMA_VERSION, Plan, PlanStats, RegionKind, Step as PlanStep,
};

/// What the plan is for: the GPU target's name and the launch geometry of each kernel
/// (codegen decides it; CPU-only plans use [`PlanTarget::cpu`]).
pub struct PlanTarget<'a> {
    pub target: String,
    pub launch: &'a dyn Fn(&Kernel) -> LaunchDims,
}

/// One 256-thread block per 1024 output elements: geometry for plans that only the CPU
/// executor runs (it ignores launch geometry).
pub fn cpu_launch(k: &Kernel) -> LaunchDims {
    let elems: usize = k
        .func
        .outputs()
        .iter()
        .map(|o| k.func.ty(o.node).numel())
        .max()
        .unwrap_or(1);
    let blocks = elems.div_ceil(1024).clamp(1, u32::MAX as usize) as u32;
    LaunchDims {
        grid: [blocks, 1, 1],
        block: [256, 1, 1],
        shared_mem_bytes: 0,
    }
}

impl PlanTarget<'static> {
    /// A plan for the CPU executor only.
    pub fn cpu() -> Self {
        PlanTarget {
            target: "cpu".into(),
            launch: &cpu_launch,
        }
    }
}

/// Build the [`Plan`] of `p` under memory plan `mp`.
pub fn assemble_plan(p: &Program, mp: &MemoryPlan, target: &PlanTarget<'_>) -> Plan {
    let region_of = |v: usize| match p.values[p.root(v).0].kind {
        ValueKind::Arg(role) => RegionKind::of_role(role),
        _ => RegionKind::Activation,
    };
    let buffers: Vec<Buffer> = p
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| Buffer {
            name: v.name.clone(),
            offset: mp.value_offsets[i],
            bytes: v.ty.size_bytes() as u64,
            dtype: v.ty.dtype,
            shape: v.ty.shape.clone(),
            region: region_of(i),
            view_of: match v.kind {
                ValueKind::View { base, .. } => Some(base as u32),
                _ => None,
            },
        })
        .collect();
    let r = |v: usize| BufRef {
        buffer: v as u32,
        offset: buffers[v].offset,
        bytes: buffers[v].bytes,
    };
    let mut launches = vec![0usize; p.kernels.len()];
    let mut steps = Vec::with_capacity(mp.order.len());
    for &i in &mp.order {
        match &p.steps[i] {
            Step::Kernel {
                kernel,
                inputs,
                outputs,
                zero_outputs,
            } => {
                let k = &p.kernels[*kernel];
                launches[*kernel] += 1;
                if *zero_outputs {
                    for &o in outputs {
                        steps.push(PlanStep::Memset {
                            dst: r(o),
                            value: 0,
                        });
                    }
                }
                steps.push(PlanStep::Launch(Launch {
                    kernel: k.name.clone(),
                    dims: (target.launch)(k),
                    inputs: inputs.iter().map(|&v| r(v)).collect(),
                    outputs: outputs.iter().map(|&v| r(v)).collect(),
                }));
            }
            Step::Gemm(g) => steps.push(PlanStep::Gemm(GemmDesc {
                name: p.values[g.c].name.clone(),
                m: g.m as u64,
                n: g.n as u64,
                k: g.k as u64,
                batch: g.batch as u64,
                trans_a: g.trans_a,
                trans_b: g.trans_b,
                lda: g.lda as u64,
                ldb: g.ldb as u64,
                ldc: g.ldc as u64,
                stride_a: g.stride_a as u64,
                stride_b: g.stride_b as u64,
                stride_c: g.stride_c as u64,
                dtype: g.dtype,
                compute: if g.dtype == DType::F64 {
                    DType::F64
                } else {
                    DType::F32
                },
                alpha: 1.0,
                beta: 0.0,
                a: r(g.a),
                b: r(g.b),
                c: r(g.c),
            })),
            Step::Copy { src, dst } => steps.push(PlanStep::Copy {
                src: r(*src),
                dst: r(*dst),
            }),
        }
    }
    let kernels: Vec<KernelDecl> = p
        .kernels
        .iter()
        .zip(&launches)
        .map(|(k, &n)| KernelDecl {
            name: k.name.clone(),
            class: k.class,
            fingerprint: k.fingerprint,
            params: k
                .func
                .args()
                .iter()
                .chain(k.func.outputs().iter().map(|o| &o.node))
                .map(|&x| k.func.ty(x).clone())
                .collect(),
            num_inputs: k.func.args().len(),
            launches: n,
        })
        .collect();
    let args = p
        .args
        .iter()
        .map(|&a| ArgBinding {
            name: p.values[a].name.clone(),
            role: match p.values[a].kind {
                ValueKind::Arg(role) => role,
                _ => unreachable!("program arguments are argument values"),
            },
            buffer: a as u32,
            offset: buffers[a].offset,
            bytes: buffers[a].bytes,
        })
        .collect();
    let outputs = p
        .outputs
        .iter()
        .map(|o| {
            let at = o.updates.unwrap_or(o.value);
            OutputBinding {
                name: o.name.clone(),
                buffer: at as u32,
                offset: buffers[at].offset,
                bytes: buffers[at].bytes,
                updates: o.updates.map(|a| p.values[a].name.clone()),
            }
        })
        .collect();
    let counts = p.counts();
    let rep = &mp.report;
    Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        function: p.func.name.clone(),
        target: target.target.clone(),
        alignment: mp.alignment,
        arena_bytes: mp.arena_bytes,
        regions: mp.regions.clone(),
        buffers,
        args,
        outputs,
        kernels,
        steps,
        stats: PlanStats {
            launches: counts.launches,
            gemms: counts.gemms,
            distinct_kernels: counts.distinct_kernels,
            flops: p.flops(),
            bytes_moved: p.bytes_moved(),
            param_bytes: rep.param_bytes,
            state_bytes: rep.state_bytes,
            input_bytes: rep.input_bytes,
            activation_bytes: rep.activation_bytes,
            intermediate_sum_bytes: rep.intermediate_sum_bytes,
        },
    }
}
