//! The plan resolved for a device, before any device call: each step as arena byte
//! offsets and launch geometry, each kernel checked against its PTX entry (present, same
//! parameter count, block within its thread limits) and the device's limits, each GEMM in
//! column-major form. Everything that can be wrong with an artifact is found here, with
//! the plan step and kernel named, on any machine.

use super::error::CudaError;
use super::gemm_call::GemmCall;
use super::moves::{StridedDesc, gather_entry, move_dims, scatter_add_entry, strided_copy_entry};
use super::ptx::PtxInfo;
use llc_ir::human_bytes;
use llc_ir::plan::{BufRef, LaunchDims, Plan, RegionKind, Step};
use std::collections::BTreeMap;

/// Bytes of cuBLASLt workspace (NVIDIA's recommendation for Hopper; 4 MiB would do for
/// older GPUs, 32 MiB is harmless there).
pub const GEMM_WORKSPACE_BYTES: u64 = 32 << 20;

/// Memory kept free beyond the plan's needs (graph executable, library handles).
pub const MEMORY_MARGIN_BYTES: u64 = 64 << 20;

/// Kernel parameters are dereferenced with 16-byte vector loads where codegen proved it
/// contiguous, so every kernel argument must be 16-byte aligned.
pub const KERNEL_ARG_ALIGNMENT: u64 = 16;

/// The launch limits of a device (from its attributes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    pub max_threads_per_block: u32,
    pub max_block: [u32; 3],
    pub max_grid: [u32; 3],
    /// Dynamic shared memory a kernel may opt in to.
    pub max_shared_per_block_optin: u32,
}

impl DeviceLimits {
    /// The limits of every GPU since Volta (compute capability 7.0 and later), with the
    /// shared-memory opt-in of an H100: used to check plans where no device is present.
    pub fn sm90() -> DeviceLimits {
        DeviceLimits {
            max_threads_per_block: 1024,
            max_block: [1024, 1024, 64],
            max_grid: [i32::MAX as u32, 65535, 65535],
            max_shared_per_block_optin: 227 * 1024,
        }
    }
}

/// One device operation; a plan step is one or more of these.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Launch `kernels[kernel]` (an entry of `kernels.ptx`) with these arguments (byte
    /// offsets into the arena).
    Launch {
        kernel: usize,
        dims: LaunchDims,
        args: Vec<u64>,
    },
    Gemm(GemmCall),
    /// `entry` of the runtime's move kernels over `desc`. When source and destination
    /// share bytes, the source is first copied to the temporary buffer (`via_temp`).
    StridedCopy {
        entry: &'static str,
        src: u64,
        src_bytes: u64,
        dst: u64,
        desc: StridedDesc,
        dims: LaunchDims,
        via_temp: bool,
    },
    Gather {
        entry: &'static str,
        table: u64,
        indices: u64,
        out: u64,
        rows: u64,
        count: u64,
        row_elems: u64,
        dims: LaunchDims,
    },
    /// `out` zeroed, then `entry` adds the rows in.
    ScatterAdd {
        entry: &'static str,
        indices: u64,
        updates: u64,
        out: u64,
        out_bytes: u64,
        rows: u64,
        count: u64,
        row_elems: u64,
        dims: LaunchDims,
    },
    Memset {
        offset: u64,
        bytes: u64,
        value: u8,
    },
    Copy {
        src: u64,
        dst: u64,
        bytes: u64,
    },
}

/// One step of the plan with its index and a name for error messages.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedOp {
    /// Index in the plan's `steps` (a kernel step's launches share it).
    pub index: usize,
    /// `kernel NAME (entry E)`, `gemm %c`, `gather %x`, `memset %x`, `copy %a -> %b`, ….
    pub what: String,
    pub op: Op,
}

/// A plan checked and resolved for a device.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceProgram {
    /// The distinct entries of `kernels.ptx` the plan launches, in first-use order.
    pub kernels: Vec<String>,
    pub ops: Vec<PlannedOp>,
    /// Bytes of the temporary buffer strided copies between overlapping buffers need.
    pub temp_bytes: u64,
    /// Things that will not stop the run but are worth saying (once each).
    pub warnings: Vec<String>,
}

/// Memory the backend allocates on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryNeeds {
    pub arena: u64,
    pub param: u64,
    pub state: u64,
    pub input: u64,
    pub activation: u64,
    pub workspace: u64,
    /// Staging for strided copies between overlapping buffers.
    pub staging: u64,
}

impl MemoryNeeds {
    /// The arena (by region) plus the GEMM workspace.
    pub fn of(plan: &Plan) -> MemoryNeeds {
        let region = |k: RegionKind| {
            plan.regions
                .iter()
                .filter(|r| r.kind == k)
                .map(|r| r.bytes)
                .sum()
        };
        MemoryNeeds {
            arena: plan.arena_bytes,
            param: region(RegionKind::Param),
            state: region(RegionKind::State),
            input: region(RegionKind::Input),
            activation: region(RegionKind::Activation),
            workspace: GEMM_WORKSPACE_BYTES,
            staging: 0,
        }
    }

    /// The same with `bytes` of staging for overlapping strided copies.
    pub fn with_staging(self, bytes: u64) -> MemoryNeeds {
        MemoryNeeds {
            staging: bytes,
            ..self
        }
    }

    /// Bytes allocated in all.
    pub fn total(&self) -> u64 {
        self.arena + self.workspace + self.staging
    }

    /// `arena 1.2 GiB (params …, state …, inputs …, activations …) + GEMM workspace 32 MiB`.
    pub fn breakdown(&self) -> String {
        format!(
            "arena {} (params {}, optimizer state {}, inputs {}, activations {}) + GEMM workspace {}{}",
            human_bytes(self.arena),
            human_bytes(self.param),
            human_bytes(self.state),
            human_bytes(self.input),
            human_bytes(self.activation),
            human_bytes(self.workspace),
            if self.staging > 0 {
                format!(" + copy staging {}", human_bytes(self.staging))
            } else {
                String::new()
            }
        )
    }

    /// `Ok` when the needs plus a safety margin fit in `free` bytes, else the
    /// out-of-memory error that says how much is needed and how much is free.
    pub fn check_fits(&self, free: u64, total: u64, device: &str) -> Result<(), CudaError> {
        if self.total() + MEMORY_MARGIN_BYTES <= free {
            return Ok(());
        }
        Err(CudaError::OutOfMemory {
            device: device.to_string(),
            needed: human_bytes(self.total()),
            free: human_bytes(free),
            total: human_bytes(total),
            breakdown: self.breakdown(),
        })
    }
}

fn plan_err(index: usize, what: &str, msg: String) -> CudaError {
    CudaError::Plan(format!("step {index} ({what}): {msg}"))
}

/// Check a launch's geometry against the device and the entry's thread limits.
fn check_dims(
    d: &LaunchDims,
    limits: &DeviceLimits,
    max_threads: Option<[u32; 3]>,
    required: Option<[u32; 3]>,
) -> Result<(), String> {
    let threads = d.block.iter().map(|&b| b as u64).product::<u64>();
    if d.grid.contains(&0) || d.block.contains(&0) {
        return Err(format!(
            "empty launch: grid {:?}, block {:?}",
            d.grid, d.block
        ));
    }
    if threads > limits.max_threads_per_block as u64 {
        return Err(format!(
            "block {:?} has {threads} threads; the device allows {}",
            d.block, limits.max_threads_per_block
        ));
    }
    for axis in 0..3 {
        if d.block[axis] > limits.max_block[axis] || d.grid[axis] > limits.max_grid[axis] {
            return Err(format!(
                "grid {:?} x block {:?} exceeds the device's limits (grid {:?}, block {:?})",
                d.grid, d.block, limits.max_grid, limits.max_block
            ));
        }
    }
    if let Some(m) = max_threads {
        let max = m.iter().map(|&v| v as u64).product::<u64>();
        if threads > max {
            return Err(format!(
                "block {:?} has {threads} threads but the kernel was compiled for at most {m:?} (.maxntid)",
                d.block
            ));
        }
    }
    if let Some(r) = required
        && r != d.block
    {
        return Err(format!(
            "block {:?} but the kernel requires exactly {r:?} (.reqntid)",
            d.block
        ));
    }
    if d.shared_mem_bytes > limits.max_shared_per_block_optin {
        return Err(format!(
            "{} bytes of dynamic shared memory; the device allows {}",
            d.shared_mem_bytes, limits.max_shared_per_block_optin
        ));
    }
    Ok(())
}

/// Whether byte ranges `[a, a + an)` and `[b, b + bn)` share a byte.
fn overlap(a: u64, an: u64, b: u64, bn: u64) -> bool {
    a < b + bn && b < a + an
}

fn buffer_name(plan: &Plan, r: &BufRef) -> String {
    plan.buffers.get(r.buffer as usize).map_or_else(
        || format!("buffer {}", r.buffer),
        |b| format!("%{}", b.name),
    )
}

impl DeviceProgram {
    /// Resolve `plan` against the PTX module's entries and the device's limits.
    pub fn prepare(
        plan: &Plan,
        ptx: &PtxInfo,
        limits: &DeviceLimits,
    ) -> Result<DeviceProgram, CudaError> {
        plan.validate()
            .map_err(|e| CudaError::Plan(e.to_string()))?;
        let mut kernels: Vec<String> = Vec::new();
        let mut kernel_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut ops = Vec::with_capacity(plan.steps.len());
        let mut temp_bytes = 0u64;
        for (index, step) in plan.steps.iter().enumerate() {
            match step {
                Step::Kernel(k) => {
                    if k.launches.is_empty() {
                        return Err(plan_err(
                            index,
                            &format!("kernel {}", k.kernel),
                            format!(
                                "has no GPU launches: the plan was built for the CPU executor (target {})",
                                plan.target
                            ),
                        ));
                    }
                    let n = k.launches.len();
                    for (j, l) in k.launches.iter().enumerate() {
                        let what = if n == 1 {
                            format!("kernel {} (entry {})", k.kernel, l.entry)
                        } else {
                            format!(
                                "kernel {} launch {}/{n} (entry {})",
                                k.kernel,
                                j + 1,
                                l.entry
                            )
                        };
                        let Some(entry) = ptx.entries.get(&l.entry) else {
                            return Err(plan_err(
                                index,
                                &what,
                                "kernels.ptx has no entry of that name".into(),
                            ));
                        };
                        if entry.params != l.args.len() {
                            return Err(plan_err(
                                index,
                                &what,
                                format!(
                                    "the plan passes {} buffers but the PTX entry takes {} parameters",
                                    l.args.len(),
                                    entry.params
                                ),
                            ));
                        }
                        check_dims(&l.dims, limits, entry.max_threads, entry.required_threads)
                            .map_err(|m| plan_err(index, &what, m))?;
                        // Checked here, before anything is launched: a misaligned vector
                        // load faults the whole context (codegen refuses such plans at
                        // compile time; this catches a hand-edited or foreign plan.json).
                        if let Some(r) =
                            l.args.iter().find(|r| r.offset % KERNEL_ARG_ALIGNMENT != 0)
                        {
                            return Err(plan_err(
                                index,
                                &what,
                                format!(
                                    "gets {} at arena offset {}, which is not {KERNEL_ARG_ALIGNMENT}-byte aligned (the kernels use 16-byte vector accesses)",
                                    buffer_name(plan, r),
                                    r.offset
                                ),
                            ));
                        }
                        let next = kernels.len();
                        let kernel = *kernel_index.entry(l.entry.clone()).or_insert(next);
                        if kernel == next {
                            kernels.push(l.entry.clone());
                        }
                        ops.push(PlannedOp {
                            index,
                            what,
                            op: Op::Launch {
                                kernel,
                                dims: l.dims,
                                args: l.args.iter().map(|r| r.offset).collect(),
                            },
                        });
                    }
                }
                Step::Gemm(g) => ops.push(PlannedOp {
                    index,
                    what: format!("gemm %{}", g.name),
                    op: Op::Gemm(GemmCall::from_desc(g)?),
                }),
                Step::StridedCopy {
                    src,
                    dst,
                    dtype,
                    shape,
                    src_offset,
                    src_strides,
                    dst_offset,
                    dst_strides,
                } => {
                    let what = format!(
                        "strided copy {} -> {}",
                        buffer_name(plan, src),
                        buffer_name(plan, dst)
                    );
                    let elem = dtype.size_bytes();
                    let entry = strided_copy_entry(elem)
                        .ok_or_else(|| plan_err(index, &what, format!("{elem}-byte elements")))?;
                    let desc =
                        StridedDesc::new(shape, *src_offset, src_strides, *dst_offset, dst_strides)
                            .map_err(|m| plan_err(index, &what, m))?;
                    let via_temp = overlap(src.offset, src.bytes, dst.offset, dst.bytes);
                    if via_temp {
                        temp_bytes = temp_bytes.max(src.bytes);
                    }
                    if desc.total > 0 {
                        ops.push(PlannedOp {
                            index,
                            what,
                            op: Op::StridedCopy {
                                entry,
                                src: src.offset,
                                src_bytes: src.bytes,
                                dst: dst.offset,
                                desc,
                                dims: move_dims(desc.total),
                                via_temp,
                            },
                        });
                    }
                }
                Step::Gather {
                    table,
                    indices,
                    out,
                    dtype,
                    rows,
                    count,
                    row_elems,
                } => {
                    let what = format!("gather {}", buffer_name(plan, out));
                    let elem = dtype.size_bytes();
                    let entry = gather_entry(elem)
                        .ok_or_else(|| plan_err(index, &what, format!("{elem}-byte elements")))?;
                    ops.push(PlannedOp {
                        index,
                        what,
                        op: Op::Gather {
                            entry,
                            table: table.offset,
                            indices: indices.offset,
                            out: out.offset,
                            rows: *rows,
                            count: *count,
                            row_elems: *row_elems,
                            dims: move_dims(count * row_elems),
                        },
                    });
                }
                Step::ScatterAdd {
                    indices,
                    updates,
                    out,
                    dtype,
                    rows,
                    count,
                    row_elems,
                } => {
                    let what = format!("scatter-add {}", buffer_name(plan, out));
                    let entry = scatter_add_entry(*dtype)
                        .map_err(|e| plan_err(index, &what, e.to_string()))?;
                    ops.push(PlannedOp {
                        index,
                        what,
                        op: Op::ScatterAdd {
                            entry,
                            indices: indices.offset,
                            updates: updates.offset,
                            out: out.offset,
                            out_bytes: out.bytes,
                            rows: *rows,
                            count: *count,
                            row_elems: *row_elems,
                            dims: move_dims(count * row_elems),
                        },
                    });
                }
                Step::AllReduce { dst, .. } => {
                    return Err(plan_err(
                        index,
                        &format!("all-reduce {}", buffer_name(plan, dst)),
                        "a data-parallel step runs on the CPU ranks for now (MPI); the GPU plan has no NCCL all-reduce yet".into(),
                    ));
                }
                Step::Memset { dst, value } => ops.push(PlannedOp {
                    index,
                    what: format!("memset {}", buffer_name(plan, dst)),
                    op: Op::Memset {
                        offset: dst.offset,
                        bytes: dst.bytes,
                        value: *value,
                    },
                }),
                Step::Copy { src, dst } => {
                    let what = format!(
                        "copy {} -> {}",
                        buffer_name(plan, src),
                        buffer_name(plan, dst)
                    );
                    if overlap(src.offset, src.bytes, dst.offset, dst.bytes)
                        && src.offset != dst.offset
                    {
                        return Err(plan_err(
                            index,
                            &what,
                            "source and destination overlap".into(),
                        ));
                    }
                    ops.push(PlannedOp {
                        index,
                        what,
                        op: Op::Copy {
                            src: src.offset,
                            dst: dst.offset,
                            bytes: src.bytes,
                        },
                    });
                }
            }
        }
        let mut warnings = Vec::new();
        if let Some(t) = &ptx.target
            && t != &plan.target
        {
            warnings.push(format!(
                "plan.json says target {} but kernels.ptx says {t}",
                plan.target
            ));
        }
        Ok(DeviceProgram {
            kernels,
            ops,
            temp_bytes,
            warnings,
        })
    }

    /// Whether any op runs one of the runtime's move kernels.
    pub fn uses_moves(&self) -> bool {
        self.ops.iter().any(|o| {
            matches!(
                o.op,
                Op::StridedCopy { .. } | Op::Gather { .. } | Op::ScatterAdd { .. }
            )
        })
    }

    /// The ops of plan step `index`, as a range of `ops`.
    pub fn ops_of_step(&self, index: usize) -> std::ops::Range<usize> {
        let start = self.ops.partition_point(|o| o.index < index);
        let end = self.ops.partition_point(|o| o.index <= index);
        start..end
    }

    /// Counts for reports: (kernel launches, GEMMs, data movement, memsets + copies).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for o in &self.ops {
            match o.op {
                Op::Launch { .. } => c.0 += 1,
                Op::Gemm(_) => c.1 += 1,
                Op::StridedCopy { .. } | Op::Gather { .. } | Op::ScatterAdd { .. } => c.2 += 1,
                Op::Memset { .. } | Op::Copy { .. } => c.3 += 1,
            }
        }
        c
    }
}

/// Parse a target name (`sm_90`, `sm_80`, `sm_90a`) into a compute capability.
pub fn parse_target(target: &str) -> Option<(i32, i32)> {
    let digits: String = target
        .strip_prefix("sm_")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: i32 = digits.parse().ok()?;
    (digits.len() >= 2).then_some((n / 10, n % 10))
}

/// Whether PTX compiled for `target` runs on a device of compute capability `cc`. PTX is
/// JIT-compiled by the driver, so it runs on its own architecture and every later one;
/// arch-specific targets (`sm_90a`) run on exactly that architecture.
pub fn target_runs_on(target: &str, cc: (i32, i32)) -> Result<(), String> {
    let Some(t) = parse_target(target) else {
        return Err(format!(
            "target `{target}` is not a GPU architecture (the plan was built for the CPU executor only)"
        ));
    };
    let arch_specific = target.ends_with('a');
    let ok = if arch_specific { cc == t } else { cc >= t };
    if ok {
        Ok(())
    } else {
        Err(format!("sm_{}{}", cc.0, cc.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda::error::CudaError;

    #[test]
    fn targets_parse_and_run_forward() {
        assert_eq!(parse_target("sm_90"), Some((9, 0)));
        assert_eq!(parse_target("sm_80"), Some((8, 0)));
        assert_eq!(parse_target("sm_100a"), Some((10, 0)));
        assert_eq!(parse_target("cpu"), None);
        assert!(target_runs_on("sm_90", (9, 0)).is_ok());
        assert!(target_runs_on("sm_80", (9, 0)).is_ok(), "PTX JITs forward");
        assert_eq!(target_runs_on("sm_90", (8, 0)).unwrap_err(), "sm_80");
        assert!(target_runs_on("sm_90a", (10, 0)).is_err());
        assert!(
            target_runs_on("cpu", (9, 0))
                .unwrap_err()
                .contains("CPU executor")
        );
    }

    #[test]
    fn memory_needs_say_how_much_and_what_for() {
        let needs = MemoryNeeds {
            arena: 3 << 30,
            param: 1 << 30,
            state: 1 << 30,
            input: 1 << 20,
            activation: (1 << 30) - (1 << 20),
            workspace: GEMM_WORKSPACE_BYTES,
            staging: 0,
        };
        assert!(needs.check_fits(80 << 30, 80 << 30, "H100").is_ok());
        let e = needs
            .check_fits(2 << 30, 80 << 30, "NVIDIA H100")
            .unwrap_err();
        let CudaError::OutOfMemory { .. } = &e else {
            panic!("{e}")
        };
        let msg = e.to_string();
        assert!(
            msg.contains("the plan needs 3.03 GiB (arena 3.00 GiB (params 1.00 GiB"),
            "{msg}"
        );
        assert!(
            msg.contains("NVIDIA H100 has 2.00 GiB free of 80.00 GiB"),
            "{msg}"
        );
    }

    #[test]
    fn launch_geometry_is_checked_against_device_and_kernel() {
        let l = DeviceLimits::sm90();
        let d = |grid: [u32; 3], block: [u32; 3]| LaunchDims {
            grid,
            block,
            shared_mem_bytes: 0,
        };
        assert!(check_dims(&d([10, 1, 1], [256, 1, 1]), &l, Some([256, 1, 1]), None).is_ok());
        let e = check_dims(&d([10, 1, 1], [512, 1, 1]), &l, Some([256, 1, 1]), None).unwrap_err();
        assert!(e.contains("compiled for at most [256, 1, 1]"), "{e}");
        let e = check_dims(&d([10, 1, 1], [2048, 1, 1]), &l, None, None).unwrap_err();
        assert!(e.contains("2048 threads; the device allows 1024"), "{e}");
        let e = check_dims(&d([1, 70000, 1], [32, 1, 1]), &l, None, None).unwrap_err();
        assert!(e.contains("exceeds the device's limits"), "{e}");
        let e = check_dims(&d([0, 1, 1], [32, 1, 1]), &l, None, None).unwrap_err();
        assert!(e.contains("empty launch"), "{e}");
        let e = check_dims(&d([1, 1, 1], [64, 1, 1]), &l, None, Some([128, 1, 1])).unwrap_err();
        assert!(e.contains("requires exactly [128, 1, 1]"), "{e}");
    }
}
