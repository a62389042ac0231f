//! A program and its memory plan as the serializable [`Plan`] (`plan.json`).

use super::MemoryPlan;
use crate::partition::{Move, Program, Step, ValueKind};
use llc_ir::plan::{
    ArgBinding, BufRef, Buffer, EntryDecl, GemmDesc, KernelClass, KernelDecl, KernelStep, Launch,
    OutputBinding, PLAN_SCHEMA_VERSION, ParamRef, Plan, PlanStats, RegionKind, Step as PlanStep,
};
use llc_ir::{DType, TensorType};

/// How codegen compiled one kernel: its class, its launches and its scratch buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelCode {
    /// The class codegen compiled it as.
    pub class: KernelClass,
    /// Its launches, in order.
    pub entries: Vec<EntryDecl>,
    /// The scratch buffers its launches share.
    pub scratch: Vec<TensorType>,
}

/// What the plan is for: the GPU target's name and, per kernel of the program (same
/// order), how it was compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanTarget {
    /// `sm_80`, `sm_90`, or `cpu`.
    pub target: String,
    /// Per kernel of the program, in order.
    pub kernels: Vec<KernelCode>,
}

impl PlanTarget {
    /// A plan only the CPU executor runs: no PTX entries, no scratch.
    pub fn cpu(p: &Program) -> Self {
        PlanTarget {
            target: "cpu".into(),
            kernels: p
                .kernels
                .iter()
                .map(|k| KernelCode {
                    class: k.class,
                    entries: Vec::new(),
                    scratch: Vec::new(),
                })
                .collect(),
        }
    }
}

/// Build the [`Plan`] of `p` under memory plan `mp`. The program's kernel steps must
/// carry the scratch buffers `target` lists ([`Program::attach_scratch`]).
pub fn assemble_plan(p: &Program, mp: &MemoryPlan, target: &PlanTarget) -> Plan {
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
    let ty = |v: usize| &p.values[v].ty;
    let mut uses = vec![0usize; p.kernels.len()];
    let mut steps = Vec::with_capacity(mp.order.len());
    let mut stats = PlanStats::default();
    for &i in &mp.order {
        match &p.steps[i] {
            Step::Kernel {
                kernel,
                inputs,
                outputs,
                scratch,
            } => {
                let k = &p.kernels[*kernel];
                let code = &target.kernels[*kernel];
                uses[*kernel] += 1;
                let inputs: Vec<BufRef> = inputs.iter().map(|&v| r(v)).collect();
                let outputs: Vec<BufRef> = outputs.iter().map(|&v| r(v)).collect();
                let scratch: Vec<BufRef> = scratch.iter().map(|&v| r(v)).collect();
                let launches: Vec<Launch> = code
                    .entries
                    .iter()
                    .map(|e| Launch {
                        entry: e.entry.clone(),
                        dims: e.dims,
                        args: e
                            .params
                            .iter()
                            .map(|pr| match *pr {
                                ParamRef::Input(j) => inputs[j],
                                ParamRef::Output(j) => outputs[j],
                                ParamRef::Scratch(j) => scratch[j],
                            })
                            .collect(),
                    })
                    .collect();
                stats.kernel_steps += 1;
                stats.launches += launches.len().max(1);
                steps.push(PlanStep::Kernel(KernelStep {
                    kernel: k.name.clone(),
                    inputs,
                    outputs,
                    scratch,
                    launches,
                }));
            }
            Step::Gemm(gs) => {
                for (j, g) in gs.iter().enumerate() {
                    stats.gemms += 1;
                    steps.push(PlanStep::Gemm(GemmDesc {
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
                        beta: if j == 0 { 0.0 } else { 1.0 },
                        a: r(g.a),
                        b: r(g.b),
                        c: r(g.c),
                    }));
                }
            }
            Step::Move(ms) => {
                stats.moves += 1;
                let u = |x: &[usize]| x.iter().map(|&v| v as u64).collect::<Vec<u64>>();
                for m in ms {
                    steps.push(match m {
                        Move::StridedCopy {
                            src,
                            dst,
                            shape,
                            src_offset,
                            src_strides,
                            dst_offset,
                            dst_strides,
                        } => PlanStep::StridedCopy {
                            src: r(*src),
                            dst: r(*dst),
                            dtype: ty(*src).dtype,
                            shape: u(shape),
                            src_offset: *src_offset as u64,
                            src_strides: u(src_strides),
                            dst_offset: *dst_offset as u64,
                            dst_strides: u(dst_strides),
                        },
                        Move::Gather {
                            table,
                            indices,
                            out,
                        } => {
                            let rows = ty(*table).shape[0];
                            PlanStep::Gather {
                                table: r(*table),
                                indices: r(*indices),
                                out: r(*out),
                                dtype: ty(*table).dtype,
                                rows: rows as u64,
                                count: ty(*indices).numel() as u64,
                                row_elems: (ty(*table).numel() / rows.max(1)) as u64,
                            }
                        }
                        Move::ScatterAdd {
                            indices,
                            updates,
                            out,
                        } => {
                            let rows = ty(*out).shape[0];
                            PlanStep::ScatterAdd {
                                indices: r(*indices),
                                updates: r(*updates),
                                out: r(*out),
                                dtype: ty(*out).dtype,
                                rows: rows as u64,
                                count: ty(*indices).numel() as u64,
                                row_elems: (ty(*out).numel() / rows.max(1)) as u64,
                            }
                        }
                        Move::AllReduce { src, out, kind } => PlanStep::AllReduce {
                            src: r(*src),
                            dst: r(*out),
                            dtype: ty(*src).dtype,
                            op: *kind,
                        },
                    });
                }
            }
            Step::Copy { src, dst } => steps.push(PlanStep::Copy {
                src: r(*src),
                dst: r(*dst),
            }),
        }
    }
    let kernels: Vec<KernelDecl> = p
        .kernels
        .iter()
        .zip(&target.kernels)
        .zip(&uses)
        .map(|((k, code), &n)| KernelDecl {
            name: k.name.clone(),
            class: code.class,
            fingerprint: k.fingerprint,
            params: k
                .func
                .args()
                .iter()
                .chain(k.func.outputs().iter().map(|o| &o.node))
                .map(|&x| k.func.ty(x).clone())
                .collect(),
            num_inputs: k.func.args().len(),
            scratch: code.scratch.clone(),
            entries: code.entries.clone(),
            uses: n,
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
    let rep = &mp.report;
    stats.distinct_kernels = p.kernels.len();
    stats.flops = p.flops();
    stats.bytes_moved = p.bytes_moved();
    stats.param_bytes = rep.param_bytes;
    stats.state_bytes = rep.state_bytes;
    stats.input_bytes = rep.input_bytes;
    stats.activation_bytes = rep.activation_bytes;
    stats.intermediate_sum_bytes = rep.intermediate_sum_bytes;
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
        stats,
    }
}
